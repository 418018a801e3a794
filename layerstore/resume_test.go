package layerstore

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
)

// A layer kept by a batch that never commits (a pull that failed or was
// killed) is staged by the next batch without its bytes being read again;
// committing that batch stores it whole and empties the resume area.
func TestKeepAndResume(t *testing.T) {
	for _, keep := range []bool{true, false} {
		t.Run(fmt.Sprintf("keep-compressed=%v", keep), func(t *testing.T) {
			s := openStore(t, KeepCompressed(keep))
			tarBytes := mkTar(t, "a", "resumed layer")
			blob := gz(tarBytes)
			want := digest.FromBytes(blob)

			b1, err := s.NewBatch()
			if err != nil {
				t.Fatal(err)
			}
			ref, err := b1.AddLayer(bytes.NewReader(blob), want, "")
			if err != nil {
				t.Fatal(err)
			}
			if err := b1.Keep(ref); err != nil {
				t.Fatal(err)
			}
			b1.Abort() // as a failed pull does; a killed one leaves its work area to cleanTmp

			b2, err := s.NewBatch()
			if err != nil {
				t.Fatal(err)
			}
			defer b2.Abort()
			got, ok := b2.Resume(want)
			if !ok || got != ref {
				t.Fatalf("Resume = %+v, %v; want %+v", got, ok, ref)
			}
			if _, ok := b2.Resume(digest.FromString("never kept")); ok {
				t.Error("Resume of a blob never kept succeeded")
			}
			cfg := fmt.Sprintf(`{"rootfs":{"type":"layers","diff_ids":[%q]}}`, ref.DiffID)
			desc, err := b2.AddBlob([]byte(cfg), MediaTypeConfig, "")
			if err != nil {
				t.Fatal(err)
			}
			b2.SetImage(Image{ID: desc.Digest, Layers: []LayerRef{ref}})
			if err := b2.Commit(); err != nil {
				t.Fatal(err)
			}
			if probs, err := s.Check(false); err != nil || len(probs) != 0 {
				t.Fatalf("check after a resumed commit: %v %v", probs, err)
			}
			if data, err := os.ReadFile(s.TarPath(ref.DiffID)); err != nil || !bytes.Equal(data, tarBytes) {
				t.Errorf("stored tar: %v", err)
			}
			if _, err := os.Stat(s.BlobPath(want)); (err == nil) != keep {
				t.Errorf("compressed blob stored: %v, keep-compressed %v", err == nil, keep)
			}
			if ents, _ := os.ReadDir(s.resumeDir()); len(ents) != 0 {
				t.Errorf("resume area after commit: %v", ents)
			}
		})
	}
}

// Entries past their time go with the next writer's cleanup; half-made
// ones are never resumed.
func TestResumeAreaCleanup(t *testing.T) {
	s := openStore(t)
	blob := gz(mkTar(t, "b", "old"))
	b, err := s.NewBatch()
	if err != nil {
		t.Fatal(err)
	}
	ref, err := b.AddLayer(bytes.NewReader(blob), "", "")
	if err == nil {
		err = b.Keep(ref)
	}
	if err != nil {
		t.Fatal(err)
	}
	b.Abort()
	half := filepath.Join(s.resumeDir(), ".new-123")
	if err := os.Mkdir(half, 0o700); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-resumeTTL - time.Hour)
	for _, p := range []string{half, s.keptDir(ref.Blob.Digest)} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	s.cleanTmp()
	if ents, _ := os.ReadDir(s.resumeDir()); len(ents) != 0 {
		t.Errorf("resume area after cleanup: %v", ents)
	}
}

// system prune empties the resume area: what it keeps is a cache.
func TestPruneEmptiesResumeArea(t *testing.T) {
	s := openStore(t)
	b, err := s.NewBatch()
	if err != nil {
		t.Fatal(err)
	}
	ref, err := b.AddLayer(bytes.NewReader(gz(mkTar(t, "c", "pruned"))), "", "")
	if err == nil {
		err = b.Keep(ref)
	}
	if err != nil {
		t.Fatal(err)
	}
	b.Abort()
	if ents, _ := os.ReadDir(s.resumeDir()); len(ents) != 1 {
		t.Fatalf("resume area before prune: %v", ents)
	}
	if _, err := s.Prune(false); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(s.resumeDir()); len(ents) != 0 {
		t.Errorf("resume area after prune: %v", ents)
	}
}
