// Package registry moves images between the layer store and OCI registries:
// Pull, Push, Login and Logout, Search. The protocol is go-containerregistry's
// (remote, transport, authn, name); this package owns what lfs adds to it:
//
//   - A command talks to a repository over one session (session.go): one
//     ping and one token (basic or bearer auth) for all its requests, each
//     sent again with backoff on 429, 5xx and dropped connections.
//   - Layers go straight from the response body into layerstore's
//     Batch.AddLayer, several at once, which hashes, decompresses, writes
//     and indexes each in one pass and checks the manifest's digest. A body
//     that breaks part way is asked for again from where it broke (a Range
//     request), so a layer is still read once. Nothing is visible in the
//     store until the whole image has verified; then the manifest and
//     config bytes (as the registry sent them), the image, its repo digest
//     and its tag are committed at once. A failed or killed pull leaves the
//     store as it was, but each layer it completed waits in the store's
//     resume area (layerstore's Batch.Keep), where the next pull takes it
//     instead of downloading it again.
//   - A pull of an image the store has reads the manifest and nothing else,
//     and writes nothing when its tag and repo digest are recorded already.
//   - A push sends the stored manifest byte for byte, so an image that was
//     pulled or loaded keeps its manifest digest on any registry. Blobs the
//     repository has (HEAD) are not sent; blobs another repository of the
//     registry is known to hold are mounted. Only a layer whose compressed
//     blob the store did not keep is compressed again, and then the
//     manifest is a new one. A killed push changes nothing in the store; the
//     next one sends only what the registry lacks.
//   - Progress comes as Events: docker's status lines, and byte counts a
//     terminal shows as bars.
//   - Credentials live in docker's config.json (AuthFile), which every
//     other tool reads too, or in the credential helpers it names.
//   - Plain HTTP is allowed for localhost and 127.0.0.1 (as docker does),
//     for the hosts given to Insecure, and everywhere with TLSVerify(false);
//     such a host is still reached over TLS when it speaks TLS (one
//     handshake finds out). CA certificates come from
//     /etc/docker/certs.d/HOST[:PORT]/ and /etc/containers/certs.d/HOST/
//     (or the directories $LFS_CERTS_D lists) besides the system roots; a
//     certificate that does not verify is a *CertificateError.
//   - Names on docker.io are pulled from the Mirrors first, in order.
//
// Errors wrap the sentinels below; ggcr's own error text follows them.
package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/lfs-dev/lfs/reference"
)

// Sentinels, checked with errors.Is.
var (
	// ErrNotFound: the registry has no such repository, tag or digest.
	ErrNotFound = errors.New("not found")
	// ErrUnauthorized: the registry refused the credentials, or asked for some.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrUnsupported: a manifest or layer of a kind lfs cannot store.
	ErrUnsupported = errors.New("unsupported")
	// ErrUnreachable: no connection to the registry.
	ErrUnreachable = errors.New("registry unreachable")
	// ErrNoCatalog: the registry does not list its repositories.
	ErrNoCatalog = errors.New("registry does not list its catalog")
	// ErrCertificate: the registry's TLS certificate does not verify
	// (a *CertificateError says which host and why).
	ErrCertificate = errors.New("untrusted certificate")
)

// Event is one line of progress, as docker prints it: "ID: Status", or
// Status alone when ID is empty.
type Event struct {
	ID     string // a layer's short digest, a tag, or ""
	Status string // "Pulling from library/busybox", "Pull complete", "Pushed"
	// Layer says ID is a layer's (or blob's): it gets a progress bar.
	// Done says the layer's line ends with this status.
	Layer, Done bool
	// Progress events ("Downloading", "Pushing") say how far a blob is,
	// Current of Total bytes; docker prints them only on a terminal.
	Progress       bool
	Current, Total int64
}

// progress reports how far a blob of total bytes has moved: every
// 256 KiB and at the end, which is cheap and smooth enough for a bar.
func (c *Client) progress(id, status string, total int64) func(done int64) {
	var last int64
	return func(done int64) {
		if done-last >= 256<<10 || done == total {
			last = done
			c.report(Event{ID: id, Layer: true, Progress: true, Status: status, Current: done, Total: total})
		}
	}
}

// Client talks to registries on behalf of one command.
type Client struct {
	insecure  []string
	tlsVerify bool
	keychain  authn.Keychain
	report    func(Event)
	jobs      int
	backoff   remote.Backoff
	certDirs  []string
	mirrors   []string

	mu         sync.Mutex
	transports map[string]http.RoundTripper
}

// Option configures New.
type Option func(*Client)

// Insecure lists registries (host or host:port) that may be reached over
// plain HTTP or with an unverified certificate.
func Insecure(hosts ...string) Option {
	return func(c *Client) { c.insecure = append(c.insecure, hosts...) }
}

// TLSVerify(false) allows plain HTTP and unverified certificates everywhere.
func TLSVerify(verify bool) Option { return func(c *Client) { c.tlsVerify = verify } }

// Report receives progress events; they may come from several goroutines,
// one at a time.
func Report(fn func(Event)) Option { return func(c *Client) { c.report = fn } }

// Keychain replaces where credentials come from (by default AuthFile, then
// wherever go-containerregistry's default keychain looks).
func Keychain(k authn.Keychain) Option { return func(c *Client) { c.keychain = k } }

// Jobs is how many blobs move at once (default 4).
func Jobs(n int) Option { return func(c *Client) { c.jobs = max(n, 1) } }

// Retry sets the backoff for 429s, 5xx and dropped connections.
func Retry(b remote.Backoff) Option { return func(c *Client) { c.backoff = b } }

// CertDirs replaces the directories searched for HOST/ca.crt (default
// $LFS_CERTS_D, a colon-separated list, else /etc/docker/certs.d and
// /etc/containers/certs.d).
func CertDirs(dirs ...string) Option { return func(c *Client) { c.certDirs = dirs } }

// DefaultCertDirs are the directories searched for HOST[:PORT]/ca.crt,
// HOST/*.cert and HOST/*.key: $LFS_CERTS_D (colon-separated), else docker's
// and podman's.
func DefaultCertDirs() []string {
	if v := os.Getenv("LFS_CERTS_D"); v != "" {
		return filepath.SplitList(v)
	}
	return []string{"/etc/docker/certs.d", "/etc/containers/certs.d"}
}

// Mirrors are registries (host[:port], or a URL; http:// ones are reached
// over plain HTTP) that pulls of docker.io names try first, in order,
// before docker.io itself, as docker's registry-mirrors.
func Mirrors(urls ...string) Option {
	return func(c *Client) {
		for _, u := range urls {
			host := strings.TrimSuffix(u, "/")
			if h, ok := strings.CutPrefix(host, "http://"); ok {
				host = h
				c.insecure = append(c.insecure, h)
			}
			host = strings.TrimPrefix(host, "https://")
			host, _, _ = strings.Cut(host, "/")
			if host != "" {
				c.mirrors = append(c.mirrors, host)
			}
		}
	}
}

// New returns a client.
func New(opts ...Option) *Client {
	c := &Client{
		tlsVerify: true,
		jobs:      4,
		report:    func(Event) {},
		backoff:   remote.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 4},
		certDirs:  DefaultCertDirs(),
	}
	for _, o := range opts {
		o(c)
	}
	if c.keychain == nil {
		c.keychain = authn.NewMultiKeychain(fileKeychain{}, authn.DefaultKeychain)
	}
	return c
}

// isInsecure says whether host may use plain HTTP or an unverified certificate.
func (c *Client) isInsecure(host string) bool {
	return !c.tlsVerify || slices.Contains(c.insecure, host)
}

func (c *Client) nameOpts(host string) []name.Option {
	opts := []name.Option{name.WeakValidation}
	if c.isInsecure(host) {
		opts = append(opts, name.Insecure)
	}
	return opts
}

// repository is ref's repository as ggcr names it.
func (c *Client) repository(ref reference.Ref) (name.Repository, error) {
	repo, err := name.NewRepository(ref.Name(), c.nameOpts(ref.Registry)...)
	if err != nil {
		return repo, fmt.Errorf("%w: %q", reference.ErrInvalid, ref.String())
	}
	return repo, nil
}

// transport is the HTTP transport for one registry host: the system roots
// plus the host's certs.d CA files and client certificates. It is made
// once per host and client.
func (c *Client) transport(host string) http.RoundTripper {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.transports[host]; ok {
		return t
	}
	t := remote.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.isInsecure(host) {
		cfg.InsecureSkipVerify = true
	} else if pool, certs := c.hostCerts(host); pool != nil || len(certs) > 0 {
		cfg.RootCAs = pool
		cfg.Certificates = certs
	}
	t.TLSClientConfig = cfg
	st := &schemeTransport{base: t, host: host, cfg: cfg, certDirs: c.certDirs}
	if c.transports == nil {
		c.transports = map[string]http.RoundTripper{}
	}
	c.transports[host] = st
	return st
}

// schemeTransport sends plain HTTP requests over TLS when the host speaks
// TLS. go-containerregistry addresses localhost, 127.0.0.1, private
// networks and insecure registries over http; docker tries https first
// there and falls back to http only for a server that does not speak TLS.
// The first plain request finds out, with one TLS handshake; a certificate
// that does not verify is then the answer to every request.
type schemeTransport struct {
	base     http.RoundTripper
	host     string
	cfg      *tls.Config
	certDirs []string

	once   sync.Once
	useTLS bool
	err    error
}

func (t *schemeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" || req.URL.Host != t.host {
		return t.base.RoundTrip(req)
	}
	t.once.Do(func() { t.useTLS, t.err = t.probe(req.Context()) })
	if t.err != nil {
		return nil, t.err
	}
	if t.useTLS {
		r := req.Clone(req.Context())
		r.URL.Scheme = "https"
		return t.base.RoundTrip(r)
	}
	return t.base.RoundTrip(req)
}

// probe says whether the host answers a TLS handshake, and fails when it
// does with a certificate this client does not trust.
func (t *schemeTransport) probe(ctx context.Context) (bool, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: t.cfg.Clone()}
	conn, err := d.DialContext(ctx, "tcp", t.host)
	if err == nil {
		conn.Close()
		return true, nil
	}
	if ce := certificateError(t.host, t.certDirs, err); ce != nil {
		return false, ce
	}
	// Not TLS, or not there at all: the plain request says which.
	return false, nil
}

// CertificateError is a registry's certificate that does not verify.
type CertificateError struct {
	Host     string
	CertDirs []string
	Err      error // the x509 error
}

func (e *CertificateError) Error() string {
	where := "a certs.d directory"
	if len(e.CertDirs) > 0 {
		where = filepath.Join(e.CertDirs[0], e.Host, "ca.crt")
	}
	return fmt.Sprintf("certificate of %s is not trusted: %v (put its CA in %s, or use --tls-verify=false)", e.Host, e.Err, where)
}

func (e *CertificateError) Is(target error) bool { return target == ErrCertificate }
func (e *CertificateError) Unwrap() error        { return e.Err }

// certificateError is err as a CertificateError if a certificate failed
// to verify, else nil.
func certificateError(host string, dirs []string, err error) *CertificateError {
	var ce *CertificateError
	if errors.As(err, &ce) {
		return ce
	}
	var ve *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	switch {
	case errors.As(err, &ua):
		return &CertificateError{Host: host, CertDirs: dirs, Err: ua}
	case errors.As(err, &hn):
		return &CertificateError{Host: host, CertDirs: dirs, Err: hn}
	case errors.As(err, &ci):
		return &CertificateError{Host: host, CertDirs: dirs, Err: ci}
	case errors.As(err, &ve):
		return &CertificateError{Host: host, CertDirs: dirs, Err: ve.Err}
	}
	return nil
}

// hostCerts reads HOST/*.crt (CAs) and HOST/*.cert with *.key (client
// certificates) from the cert directories, as docker and podman do.
func (c *Client) hostCerts(host string) (*x509.CertPool, []tls.Certificate) {
	var pool *x509.CertPool
	var certs []tls.Certificate
	for _, dir := range c.certDirs {
		d := filepath.Join(dir, host)
		ents, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range ents {
			p := filepath.Join(d, e.Name())
			switch {
			case strings.HasSuffix(e.Name(), ".crt"):
				pem, err := os.ReadFile(p)
				if err != nil {
					continue
				}
				if pool == nil {
					if pool, err = x509.SystemCertPool(); err != nil {
						pool = x509.NewCertPool()
					}
				}
				pool.AppendCertsFromPEM(pem)
			case strings.HasSuffix(e.Name(), ".cert"):
				key := strings.TrimSuffix(p, ".cert") + ".key"
				if cert, err := tls.LoadX509KeyPair(p, key); err == nil {
					certs = append(certs, cert)
				}
			}
		}
	}
	return pool, certs
}

// remoteOpts are the options of every ggcr call against host.
func (c *Client) remoteOpts(ctx context.Context, host string, extra ...remote.Option) []remote.Option {
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(c.transport(host)),
		remote.WithAuthFromKeychain(c.keychain),
		remote.WithRetryBackoff(c.backoff),
		remote.WithJobs(c.jobs),
		remote.WithUserAgent("lfs"),
		remote.WithPlatform(hostPlatform()),
	}
	return append(opts, extra...)
}

// classify wraps a ggcr error in this package's sentinels, keeping its text.
func classify(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			if ce := certificateError(u.Host, DefaultCertDirs(), err); ce != nil {
				return ce
			}
		}
	}
	var te *transport.Error
	if errors.As(err, &te) {
		msg := te.Error()
		if len(te.Errors) > 0 && te.Errors[0].Message != "" {
			msg = te.Errors[0].Message
		}
		switch {
		case te.StatusCode == http.StatusNotFound:
			return fmt.Errorf("%w: %s", ErrNotFound, msg)
		case te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden:
			return fmt.Errorf("%w: %s", ErrUnauthorized, msg)
		}
		for _, d := range te.Errors {
			switch d.Code {
			case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode:
				return fmt.Errorf("%w: %s", ErrNotFound, msg)
			case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
				return fmt.Errorf("%w: %s", ErrUnauthorized, msg)
			}
		}
		return errors.New(msg)
	}
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &oe) || errors.As(err, &ne) {
		return fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	return err
}

// hostPlatform is the platform an index resolves to by default.
func hostPlatform() v1.Platform {
	p := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	if runtime.GOARCH == "arm" {
		p.Variant = "v7"
	}
	return p
}
