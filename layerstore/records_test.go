package layerstore

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	digest "github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"
)

func TestBucketRecords(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	err = s.ViewBucket("things", func(b *bolt.Bucket) error {
		if b != nil {
			t.Errorf("bucket before any write: %v", b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateBucket("images", func(*bolt.Bucket) error { return nil }); !errors.Is(err, ErrConflict) {
		t.Errorf("UpdateBucket(images): %v, want ErrConflict", err)
	}
	// Read-modify-write under the lock: concurrent increments all count.
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.UpdateBucket("things", func(b *bolt.Bucket) error {
				n, _ := strconv.Atoi(string(b.Get([]byte("n"))))
				return b.Put([]byte("n"), []byte(strconv.Itoa(n+1)))
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	boom := errors.New("boom")
	if err := s.UpdateBucket("things", func(b *bolt.Bucket) error {
		b.Put([]byte("n"), []byte("0"))
		return boom
	}); err != boom {
		t.Errorf("UpdateBucket error: %v, want boom", err)
	}
	s.ViewBucket("things", func(b *bolt.Bucket) error {
		if got := string(b.Get([]byte("n"))); got != "8" {
			t.Errorf("n = %q, want 8 (and the failed update rolled back)", got)
		}
		return nil
	})
}

func TestBatchRecord(t *testing.T) {
	s := openStore(t)
	b, err := s.NewBatch()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Record("layers", "k", nil); !errors.Is(err, ErrConflict) {
		t.Errorf("Record(layers): %v, want ErrConflict", err)
	}
	if err := b.Record("cache", "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	// Nothing is visible before the commit, an aborted batch writes nothing.
	seen := func() string {
		var v string
		s.ViewBucket("cache", func(bk *bolt.Bucket) error {
			if bk != nil {
				v = string(bk.Get([]byte("k")))
			}
			return nil
		})
		return v
	}
	if v := seen(); v != "" {
		t.Errorf("before commit: %q", v)
	}
	aborted, _ := s.NewBatch()
	aborted.Record("cache", "k", []byte("aborted"))
	aborted.Abort()
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if v := seen(); v != "v" {
		t.Errorf("after commit: %q, want v", v)
	}
	// A batch whose commit fails (an image without its config) writes no record.
	bad, _ := s.NewBatch()
	bad.Record("cache", "k", []byte("bad"))
	bad.SetImage(Image{ID: digest.Digest("sha256:" + strings.Repeat("0", 64))})
	if err := bad.Commit(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("commit of an image without config: %v, want ErrNotFound", err)
	}
	if v := seen(); v != "v" {
		t.Errorf("after a failed commit: %q, want v", v)
	}
}

func TestWorkAreaCleanedAfterOwner(t *testing.T) {
	s := openStore(t)
	w, err := s.NewWorkArea("build-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.Dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A writer while the owner lives leaves the area alone.
	addImage(t, s, mkTar(t, "a"), "")
	if _, err := os.Stat(filepath.Join(w.Dir, "f")); err != nil {
		t.Fatalf("work area removed while held: %v", err)
	}
	// Released without removal (as a killed process leaves it): the next
	// writer removes it.
	w.lock.Close()
	addImage(t, s, mkTar(t, "b"), "")
	if _, err := os.Stat(w.Dir); !os.IsNotExist(err) {
		t.Errorf("work area of a dead owner still there: %v", err)
	}
	w.lock = nil
	w.Close()
}
