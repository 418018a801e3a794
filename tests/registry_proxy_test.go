package tests

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// faultProxy stands between lfs and a test registry on 127.0.0.1 and
// does to some requests what networks and registries do: it fails them,
// drops the connection, sends other bytes, stalls, or goes away. Every
// request is logged.
type faultProxy struct {
	host string // "127.0.0.1:PORT", the address lfs is given
	next http.Handler

	mu     sync.Mutex
	faults []fault
	log    []string // "GET /v2/..." and "Range: ..." when asked
	srv    *http.Server
}

// fault handles the requests match accepts (until it returns false); it
// may call next to reach the registry.
type fault struct {
	match  func(r *http.Request) bool
	handle func(w http.ResponseWriter, r *http.Request, next http.Handler)
}

func startProxy(t *testing.T, reg *testRegistry) *faultProxy {
	t.Helper()
	p := newProxy(t)
	p.forward(reg.host)
	return p
}

// newProxy listens on 127.0.0.1; until forward, it answers 502.
func newProxy(t *testing.T) *faultProxy {
	t.Helper()
	p := &faultProxy{next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) })}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.host = l.Addr().String()
	p.serve(l)
	t.Cleanup(p.stop)
	return p
}

// forward sends what no fault takes to the registry at host.
func (p *faultProxy) forward(host string) {
	target, _ := url.Parse("http://" + host)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1
	p.mu.Lock()
	p.next = rp
	p.mu.Unlock()
}

func (p *faultProxy) serve(l net.Listener) {
	srv := &http.Server{Handler: p, ErrorLog: nil}
	p.mu.Lock()
	p.srv = srv
	p.mu.Unlock()
	go srv.Serve(l)
}

// stop closes the listener and every connection: the registry has gone.
func (p *faultProxy) stop() {
	p.mu.Lock()
	srv := p.srv
	p.srv = nil
	p.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// restart serves again on the same address.
func (p *faultProxy) restart(t *testing.T) {
	t.Helper()
	var l net.Listener
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if l, err = net.Listen("tcp", p.host); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("listen again on %s: %v", p.host, err)
	}
	p.serve(l)
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.log = append(p.log, r.Method+" "+r.URL.Path)
	if rg := r.Header.Get("Range"); rg != "" {
		p.log = append(p.log, "Range: "+rg)
	}
	var f *fault
	for i := range p.faults {
		if p.faults[i].match(r) {
			f = &p.faults[i]
			break
		}
	}
	next := p.next
	p.mu.Unlock()
	if f == nil {
		next.ServeHTTP(w, r)
		return
	}
	f.handle(w, r, next)
}

// add installs a fault; the first whose match accepts a request has it.
func (p *faultProxy) add(match func(*http.Request) bool, handle func(http.ResponseWriter, *http.Request, http.Handler)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = append(p.faults, fault{match, handle})
}

// clear removes every fault and empties the log.
func (p *faultProxy) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults, p.log = nil, nil
}

// requests is the log so far.
func (p *faultProxy) requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.log)
}

// count is how many logged requests are "METHOD PATH" with PATH ending in suffix.
func (p *faultProxy) count(method, suffix string) int {
	n := 0
	for _, l := range p.requests() {
		if strings.HasPrefix(l, method+" ") && strings.HasSuffix(l, suffix) {
			n++
		}
	}
	return n
}

// blobGET matches GETs of one blob.
func blobGET(digest string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+digest)
	}
}

// failTimes answers the first n matching requests with status (0: drops
// the connection without an answer) and passes the others on.
func failTimes(n, status int) func(http.ResponseWriter, *http.Request, http.Handler) {
	var mu sync.Mutex
	return func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		mu.Lock()
		fail := n > 0
		n--
		mu.Unlock()
		switch {
		case !fail:
			next.ServeHTTP(w, r)
		case status == 0:
			hangUp(w)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"errors":[{"code":"UNAVAILABLE","message":"injected %d"}]}`, status)
		}
	}
}

// hangUp closes the connection under w.
func hangUp(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		conn.Close()
	}
}

// cutWriter passes the first limit bytes of a response body on, then
// calls cut (which hangs up, or stops the proxy) and fails.
type cutWriter struct {
	http.ResponseWriter
	limit int64
	cut   func()
	done  bool
}

var errCut = errors.New("cut by the test")

func (c *cutWriter) Write(b []byte) (int, error) {
	if c.limit <= 0 {
		return 0, errCut
	}
	if int64(len(b)) > c.limit {
		b = b[:c.limit]
	}
	n, err := c.ResponseWriter.Write(b)
	c.limit -= int64(n)
	if c.limit <= 0 {
		http.NewResponseController(c.ResponseWriter).Flush()
		c.done = true
		c.cut()
		return n, errCut
	}
	return n, err
}

func (c *cutWriter) Flush() {
	if !c.done {
		http.NewResponseController(c.ResponseWriter).Flush()
	}
}

// slowWriter passes a body on in pieces, with a pause after each.
type slowWriter struct {
	http.ResponseWriter
	piece int
	pause time.Duration
}

func (s *slowWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		k := min(len(b), s.piece)
		m, err := s.ResponseWriter.Write(b[:k])
		n += m
		if err != nil {
			return n, err
		}
		http.NewResponseController(s.ResponseWriter).Flush()
		time.Sleep(s.pause)
		b = b[k:]
	}
	return n, nil
}

func (s *slowWriter) Flush() { http.NewResponseController(s.ResponseWriter).Flush() }

// slowReader passes a request body on in pieces, with a pause after each.
type slowReader struct {
	io.ReadCloser
	piece int
	pause time.Duration
}

func (s *slowReader) Read(b []byte) (int, error) {
	time.Sleep(s.pause)
	return s.ReadCloser.Read(b[:min(len(b), s.piece)])
}

// storeContent is the store's state without its tmp/ directory, where a
// failed or killed pull keeps completed layers for the next one
// (tmp/partial/) and commands keep their work areas.
func (s *store) storeContent(t *testing.T) state {
	t.Helper()
	st := state{images: s.mustRun(t, "images", "-a", "--no-trunc", "-q")}
	st.files = s.listing(t, func(rel string) bool { return rel != "tmp" && !strings.HasPrefix(rel, "tmp/") })
	return st
}

// assertSameContent fails the test if the store's content (images,
// blobs, layers) differs from before.
func (s *store) assertSameContent(t *testing.T, before state) {
	t.Helper()
	after := s.storeContent(t)
	if after.images != before.images {
		t.Errorf("images changed:\nbefore:\n%s\nafter:\n%s", before.images, after.images)
	}
	if !slices.Equal(before.files, after.files) {
		t.Errorf("store files changed:\n%s", diffLines(before.files, after.files))
	}
}

// kept lists the layers (by blob digest hex) the store keeps for resuming.
func (s *store) kept() []string {
	ents, _ := os.ReadDir(filepath.Join(s.root, "tmp", "partial"))
	var out []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out
}

// startLFS starts lfs on this store in the background; the test kills it.
func (s *store) startLFS(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, lfsBin, s.args(args)...)
	cmd.Env = baseEnv()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

// await polls cond for up to 30 s, on the test's goroutine.
func await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !poll(cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// poll says whether cond came true within 30 s; fault handlers use it,
// as they cannot end the test.
func poll(cond func() bool) bool {
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}
