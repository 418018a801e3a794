package registry

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	digest "github.com/opencontainers/go-digest"
)

// A blob whose connection breaks part way is read to its end in one
// stream: from where it broke when the server honours Range, else from
// the start with the bytes already read skipped.
func TestBlobReaderResumes(t *testing.T) {
	blob := make([]byte, 1<<20)
	rand.Read(blob)
	d := digest.FromBytes(blob)
	for _, ranges := range []bool{true, false} {
		t.Run(fmt.Sprintf("ranges=%v", ranges), func(t *testing.T) {
			var gets atomic.Int32
			var sawRange atomic.Value
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := gets.Add(1)
				if rg := r.Header.Get("Range"); rg != "" {
					sawRange.Store(rg)
				}
				if !ranges {
					r.Header.Del("Range")
				}
				if n <= 2 {
					// Send 200,000 bytes from where asked, then hang up.
					var start int
					fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-", &start)
					w.Header().Set("Content-Length", fmt.Sprint(len(blob)-start))
					if start > 0 {
						w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(blob)-1, len(blob)))
						w.WriteHeader(http.StatusPartialContent)
					}
					w.Write(blob[start : start+200_000])
					w.(http.Flusher).Flush()
					conn, _, _ := http.NewResponseController(w).Hijack()
					conn.Close()
					return
				}
				http.ServeContent(w, r, "blob", time.Time{}, bytes.NewReader(blob))
			}))
			defer srv.Close()
			c := New(Retry(remote.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 4}))
			repo, _ := name.NewRepository(strings.TrimPrefix(srv.URL, "http://")+"/a/b", name.Insecure)
			var last int64
			r := c.newBlobReader(context.Background(), http.DefaultTransport, repo, d, int64(len(blob)), func(n int64) { last = n })
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, blob) {
				t.Fatalf("read %d bytes, not the blob", len(got))
			}
			if last != int64(len(blob)) || gets.Load() != 3 {
				t.Errorf("progress %d, %d requests; want %d, 3", last, gets.Load(), len(blob))
			}
			// Without ranges the second answer starts again at 0 and
			// brings nothing new before it breaks.
			want := map[bool]string{true: "bytes=400000-", false: "bytes=200000-"}[ranges]
			if rg, _ := sawRange.Load().(string); rg != want {
				t.Errorf("last Range %q, want %s", rg, want)
			}
		})
	}
}

// Past the backoff's steps, and on errors that are not the network's,
// the reader gives up with the error.
func TestBlobReaderGivesUp(t *testing.T) {
	var gets atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gets.Add(1)
		w.Header().Set("Content-Length", "100")
		w.Write([]byte("short"))
		conn, _, _ := http.NewResponseController(w).Hijack()
		conn.Close()
	}))
	defer srv.Close()
	c := New(Retry(remote.Backoff{Duration: time.Millisecond, Factor: 2, Steps: 3}))
	repo, _ := name.NewRepository(strings.TrimPrefix(srv.URL, "http://")+"/a/b", name.Insecure)
	r := c.newBlobReader(context.Background(), http.DefaultTransport, repo, digest.FromString("x"), 100, nil)
	if _, err := io.ReadAll(r); err == nil || r.err == nil {
		t.Fatalf("read of a blob that never completes: %v", err)
	}
	// The server ignores Range and breaks after the same 5 bytes: after
	// the first, no request brings anything new, and the steps run out.
	if n := gets.Load(); n != 3 {
		t.Errorf("%d requests, want retries", n)
	}

	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	repo, _ = name.NewRepository(strings.TrimPrefix(notFound.URL, "http://")+"/a/b", name.Insecure)
	r = c.newBlobReader(context.Background(), http.DefaultTransport, repo, digest.FromString("x"), 100, nil)
	if _, err := io.ReadAll(r); err == nil {
		t.Fatal("read of a missing blob succeeded")
	}
}
