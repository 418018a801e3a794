package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	digest "github.com/opencontainers/go-digest"
)

// retryCodes are the statuses a request is sent again for, after a backoff.
var retryCodes = []int{
	http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
	http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout,
}

// transient says whether a request that failed with err may succeed if
// sent again: a connection that dropped or timed out.
func transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return te.Temporary()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed)
}

// session is an authenticated transport to one repository, made once per
// command: one ping and one token for every request, each sent again
// with backoff on 429, 5xx and dropped connections. ggcr's calls take it
// as it is (a *transport.Wrapper is not wrapped again).
func (c *Client) session(ctx context.Context, repo name.Repository, scopes ...string) (http.RoundTripper, error) {
	host := repo.RegistryStr()
	rt := transport.NewRetry(c.transport(host), transport.WithRetryBackoff(c.backoff),
		transport.WithRetryPredicate(transient), transport.WithRetryStatusCodes(retryCodes...))
	rt = transport.NewUserAgent(rt, "lfs")
	auth, err := authn.Resolve(ctx, c.keychain, repo)
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", host, err)
	}
	if len(scopes) == 0 {
		scopes = []string{repo.Scope(transport.PullScope)}
	}
	st, err := transport.NewWithContext(ctx, repo.Registry, auth, rt, scopes)
	if err != nil {
		return nil, classify(err)
	}
	return st, nil
}

// sessionOpts are the options of ggcr calls made over a session.
func (c *Client) sessionOpts(ctx context.Context, rt http.RoundTripper, extra ...remote.Option) []remote.Option {
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(rt),
		remote.WithJobs(c.jobs),
		remote.WithPlatform(hostPlatform()),
	}
	return append(opts, extra...)
}

// blobReader reads one blob of a repository. When the connection breaks
// in the middle of the body, it asks again, after a backoff, for the rest
// (a Range request; a registry that ignores it sends the whole blob and
// the bytes already read are skipped), so the reader above sees one
// unbroken stream and a layer is still read and written once. It stops
// at the size the descriptor gives; the digest is checked by whoever
// reads it.
type blobReader struct {
	ctx      context.Context
	rt       http.RoundTripper
	url      string
	size     int64
	backoff  remote.Backoff
	progress func(done int64) // after each read that got bytes

	off   int64
	body  io.ReadCloser
	fails int   // failures in a row, without a byte read in between
	err   error // the network error that ended the stream, if one did
}

func (c *Client) newBlobReader(ctx context.Context, rt http.RoundTripper, repo name.Repository, d digest.Digest, size int64, progress func(int64)) *blobReader {
	u := repo.Registry.Scheme() + "://" + repo.RegistryStr() + "/v2/" + repo.RepositoryStr() + "/blobs/" + string(d)
	if progress == nil {
		progress = func(int64) {}
	}
	return &blobReader{ctx: ctx, rt: rt, url: u, size: size, backoff: c.backoff, progress: progress}
}

func (r *blobReader) Read(p []byte) (int, error) {
	if r.off >= r.size && r.size > 0 {
		return 0, io.EOF
	}
	for {
		if r.body == nil {
			if err := r.open(); err != nil {
				if r.again(err) {
					continue
				}
				r.err = err
				return 0, err
			}
		}
		if rest := r.size - r.off; r.size > 0 && int64(len(p)) > rest {
			p = p[:rest]
		}
		n, err := r.body.Read(p)
		r.off += int64(n)
		if n > 0 {
			r.fails = 0
			r.progress(r.off)
		}
		if err == io.EOF && r.off < r.size {
			err = io.ErrUnexpectedEOF
		}
		if err == nil || err == io.EOF {
			return n, err
		}
		r.body.Close()
		r.body = nil
		if n > 0 {
			return n, nil // the error comes back on the next read, which asks again
		}
		if !r.again(err) {
			r.err = fmt.Errorf("read blob: %w", err)
			return 0, r.err
		}
	}
}

// again waits before the next attempt, and says whether to make one.
// A registry that went away (connection refused) counts as transient
// here: it was there a moment ago.
func (r *blobReader) again(err error) bool {
	if !transient(err) && !errors.Is(err, syscall.ECONNREFUSED) || r.fails+1 >= max(r.backoff.Steps, 1) {
		return false
	}
	d := r.backoff.Duration
	for range r.fails {
		d = time.Duration(float64(d) * r.backoff.Factor)
	}
	if r.backoff.Jitter > 0 {
		d += time.Duration(rand.Float64() * r.backoff.Jitter * float64(d))
	}
	r.fails++
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.ctx.Done():
		return false
	}
}

// open sends the GET for the blob from r.off on.
func (r *blobReader) open() error {
	req, err := http.NewRequestWithContext(r.ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return err
	}
	if r.off > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(r.off, 10)+"-")
	}
	resp, err := (&http.Client{Transport: r.rt}).Do(req)
	if err != nil {
		return err
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		if r.off > 0 {
			if _, err := io.CopyN(io.Discard, resp.Body, r.off); err != nil {
				resp.Body.Close()
				return err
			}
		}
	case resp.StatusCode == http.StatusPartialContent && r.off > 0:
		if !strings.HasPrefix(resp.Header.Get("Content-Range"), "bytes "+strconv.FormatInt(r.off, 10)+"-") {
			resp.Body.Close()
			return fmt.Errorf("%w: the registry sent %q for a range from %d", ErrUnsupported, resp.Header.Get("Content-Range"), r.off)
		}
	default:
		defer resp.Body.Close()
		return classify(transport.CheckError(resp, http.StatusOK))
	}
	r.body = resp.Body
	return nil
}

// Close ends the current request.
func (r *blobReader) Close() error {
	if r.body != nil {
		r.body.Close()
		r.body = nil
	}
	return nil
}
