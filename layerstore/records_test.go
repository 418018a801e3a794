package layerstore

import (
	"errors"
	"strconv"
	"sync"
	"testing"

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
