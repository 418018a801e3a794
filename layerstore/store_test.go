package layerstore

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
	digest "github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"
)

// mkTar builds a layer tar from name → content pairs.
func mkTar(t testing.TB, files ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; i+1 < len(files); i += 2 {
		if err := tw.WriteHeader(&tar.Header{Name: files[i], Mode: 0o644, Size: int64(len(files[i+1])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(files[i+1]))
	}
	tw.Close()
	return buf.Bytes()
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func zst(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := zstd.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func openStore(t testing.TB, opts ...Option) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// storeFiles lists every file under the store except meta.db, so tests can
// check that a failed operation left nothing behind.
func storeFiles(t testing.TB, s *Store) []string {
	var out []string
	filepath.WalkDir(s.root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() != "meta.db" {
			rel, _ := filepath.Rel(s.root, p)
			out = append(out, rel)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// addImage stages a one-layer image from layer bytes and commits it.
func addImage(t testing.TB, s *Store, layer []byte, tag string) Image {
	t.Helper()
	b, err := s.NewBatch()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Abort()
	ref, err := b.AddLayer(bytes.NewReader(layer), "", "")
	if err != nil {
		t.Fatal(err)
	}
	cfg := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[%q]}}`, ref.DiffID))
	desc, err := b.AddBlob(cfg, MediaTypeConfig, "")
	if err != nil {
		t.Fatal(err)
	}
	img := Image{ID: desc.Digest, Layers: []LayerRef{ref}}
	b.SetImage(img)
	if tag != "" {
		b.Tag(tag, img.ID)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	return img
}

func TestLayerCompressions(t *testing.T) {
	// A file larger than the ingest pipeline's chunks, so the indexer seeks
	// across chunk boundaries.
	big := strings.Repeat("0123456789abcdef", 3<<16+77)
	plain := mkTar(t, "etc/hostname", "lfs\n", "big", big, "bin/x", "binary")
	diffID := digest.FromBytes(plain)
	for _, tc := range []struct {
		name string
		blob []byte
		keep bool
	}{
		{"plain", plain, true},
		{"gzip", gz(plain), true},
		{"zstd", zst(plain), true},
		{"gzip-dropped", gz(plain), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t, KeepCompressed(tc.keep))
			img := addImage(t, s, tc.blob, "docker.io/library/x:latest")
			l := img.Layers[0]
			if l.DiffID != diffID || l.Blob.Digest != digest.FromBytes(tc.blob) || l.Blob.Size != int64(len(tc.blob)) || l.Size != int64(len(plain)) {
				t.Fatalf("layer ref %+v", l)
			}
			got, err := os.ReadFile(s.TarPath(diffID))
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("stored tar differs from the original (err %v)", err)
			}
			blob, err := os.ReadFile(s.BlobPath(l.Blob.Digest))
			if tc.keep && (err != nil || !bytes.Equal(blob, tc.blob)) {
				t.Fatalf("compressed blob not kept byte for byte (err %v)", err)
			}
			if !tc.keep && err == nil {
				t.Fatal("compressed blob kept although keep-compressed is off")
			}
			layer, err := s.OpenLayer(diffID)
			if err != nil {
				t.Fatal(err)
			}
			defer layer.Close()
			id, err := layer.Index.Lookup("/etc/hostname")
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(layer.ReaderAt(id))
			if string(data) != "lfs\n" {
				t.Fatalf("read %q", data)
			}
			for name, want := range map[string]string{"big": big, "bin/x": "binary"} {
				id, err := layer.Index.Lookup(name)
				if err != nil {
					t.Fatal(err)
				}
				if data, _ := io.ReadAll(layer.ReaderAt(id)); string(data) != want {
					t.Fatalf("%s: read %d bytes that differ from the %d written", name, len(data), len(want))
				}
			}
			if probs, err := s.Check(false); err != nil || len(probs) != 0 {
				t.Fatalf("check: %v %v", probs, err)
			}
		})
	}
}

func TestBadLayersLeaveNothing(t *testing.T) {
	plain := mkTar(t, "a", "hello world, this is a file", "b", "more")
	zs := zst(plain)
	for _, tc := range []struct {
		name string
		blob []byte
		want digest.Digest
		is   error
	}{
		{"truncated tar", plain[:700], "", ErrCorrupt},
		{"truncated gzip", gz(plain)[:40], "", ErrCorrupt},
		{"corrupt gzip", append(gz(plain)[:20], bytes.Repeat([]byte{0xff}, 40)...), "", ErrCorrupt},
		{"corrupt zstd", append(zs[:len(zs)/2], bytes.Repeat([]byte{0x17}, 30)...), "", ErrCorrupt},
		{"digest mismatch", gz(plain), digest.FromString("other"), ErrDigestMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t)
			addImage(t, s, mkTar(t, "keep", "me"), "docker.io/library/keep:latest")
			before := storeFiles(t, s)
			b, err := s.NewBatch()
			if err != nil {
				t.Fatal(err)
			}
			_, err = b.AddLayer(bytes.NewReader(tc.blob), tc.want, "")
			b.Abort()
			if !errors.Is(err, tc.is) {
				t.Fatalf("err = %v, want %v", err, tc.is)
			}
			if after := storeFiles(t, s); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Fatalf("store changed:\n%v\n%v", before, after)
			}
		})
	}
}

func TestCommitRefusesMissingContent(t *testing.T) {
	s := openStore(t)
	b, _ := s.NewBatch()
	defer b.Abort()
	cfg, _ := b.AddBlob([]byte(`{}`), MediaTypeConfig, "")
	b.SetImage(Image{ID: cfg.Digest, Layers: []LayerRef{{DiffID: digest.FromString("nope")}}})
	if err := b.Commit(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if imgs, _ := s.Images(); len(imgs) != 0 {
		t.Fatalf("images after failed commit: %v", imgs)
	}
}

// A writer killed between journalling its renames and recording them
// leaves files that the next writer removes.
func TestRecoverAfterCrash(t *testing.T) {
	s := openStore(t)
	keep := addImage(t, s, mkTar(t, "keep", "me"), "docker.io/library/keep:latest")
	orphan := digest.FromString("orphan layer")
	os.MkdirAll(s.layerDir(orphan), 0o700)
	os.WriteFile(s.layerTarPath(orphan), []byte("x"), 0o600)
	blob := digest.FromString("orphan blob")
	os.WriteFile(s.blobFile(blob), []byte("y"), 0o600)
	stale := filepath.Join(s.root, "tmp", "batch-dead")
	os.MkdirAll(stale, 0o700)
	os.WriteFile(filepath.Join(stale, "lock"), nil, 0o600) // nobody holds its flock
	err := s.update(func(tx *bolt.Tx) error {
		tx.Bucket(bucketPending).Put([]byte("layer "+orphan), nil)
		return tx.Bucket(bucketPending).Put([]byte("blob "+blob), nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	// The next writer cleans up.
	if err := s.Tag("keep", "docker.io/library/again:latest"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{s.layerDir(orphan), s.blobFile(blob), stale} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s survived recovery", p)
		}
	}
	if _, err := s.OpenLayer(keep.Layers[0].DiffID); err != nil {
		t.Fatalf("recovery removed a recorded layer: %v", err)
	}
}

func TestConcurrentWriters(t *testing.T) {
	root := t.TempDir()
	shared := mkTar(t, "shared", "layer")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s, err := Open(root) // as another process would
			if err != nil {
				errs <- err
				return
			}
			b, err := s.NewBatch()
			if err != nil {
				errs <- err
				return
			}
			defer b.Abort()
			var layers []LayerRef
			for _, l := range [][]byte{shared, mkTar(t, "own", fmt.Sprint(i))} {
				ref, err := b.AddLayer(bytes.NewReader(l), "", "")
				if err != nil {
					errs <- err
					return
				}
				layers = append(layers, ref)
			}
			cfg := fmt.Sprintf(`{"n":%d,"rootfs":{"type":"layers","diff_ids":[%q,%q]}}`, i, layers[0].DiffID, layers[1].DiffID)
			desc, _ := b.AddBlob([]byte(cfg), MediaTypeConfig, "")
			b.SetImage(Image{ID: desc.Digest, Layers: layers})
			b.Tag(fmt.Sprintf("docker.io/library/img%d:latest", i), desc.Digest)
			errs <- b.Commit()
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	s, _ := Open(root)
	imgs, err := s.Images()
	if err != nil || len(imgs) != 8 {
		t.Fatalf("%d images, err %v", len(imgs), err)
	}
	if probs, err := s.Check(false); err != nil || len(probs) != 0 {
		t.Fatalf("check after concurrent writes: %v %v", probs, err)
	}
}

func TestRemoveKeepsSharedLayers(t *testing.T) {
	s := openStore(t)
	base := mkTar(t, "base", "shared")
	a := addImage(t, s, base, "docker.io/library/a:latest")
	if err := s.Tag("a", "docker.io/library/a:two"); err != nil {
		t.Fatal(err)
	}
	// Untagging one of two tags keeps the image.
	ev, err := s.Remove("a:two", false)
	if err != nil || len(ev) != 1 || ev[0].Untagged != "a:two" {
		t.Fatalf("rmi a:two = %+v, %v", ev, err)
	}
	// An image with two tags is not deleted by ID without force.
	s.Tag("a", "docker.io/library/b:latest")
	if _, err := s.Remove(string(a.ID), false); !errors.Is(err, ErrConflict) {
		t.Fatalf("rmi by ID with two tags: %v, want ErrConflict", err)
	}
	ev, err = s.Remove("a", false)
	if err != nil || len(ev) != 1 {
		t.Fatalf("rmi a = %+v, %v", ev, err)
	}
	if _, err := s.OpenLayer(a.Layers[0].DiffID); err != nil {
		t.Fatalf("layer gone while b uses it: %v", err)
	}
	ev, err = s.Remove("b", false)
	if err != nil {
		t.Fatal(err)
	}
	var deleted []digest.Digest
	for _, e := range ev {
		if e.Deleted != "" {
			deleted = append(deleted, e.Deleted)
		}
	}
	if len(deleted) != 2 || deleted[0] != a.ID || deleted[1] != a.Layers[0].DiffID {
		t.Fatalf("deleted %v", deleted)
	}
	if files := storeFiles(t, s); len(files) != 0 {
		t.Fatalf("files left after last image removed: %v", files)
	}
}

func TestResolve(t *testing.T) {
	s := openStore(t)
	img := addImage(t, s, mkTar(t, "f", "1"), "docker.io/library/busybox:latest")
	hex := img.ID.Encoded()
	for _, name := range []string{"busybox", "busybox:latest", "docker.io/library/busybox", string(img.ID), hex, hex[:12], hex[:3], "sha256:" + hex[:5]} {
		got, err := s.Resolve(name)
		if err != nil || got.ID != img.ID {
			t.Errorf("Resolve(%q) = %s, %v", name, got.ID, err)
		}
	}
	for _, name := range []string{"busybox:other", "nope", "sha256:ffff", "0000"} {
		if _, err := s.Resolve(name); !errors.Is(err, ErrNotFound) {
			t.Errorf("Resolve(%q) err = %v, want ErrNotFound", name, err)
		}
	}
}

func TestCheckFindsAndRepairsDamage(t *testing.T) {
	s := openStore(t)
	img := addImage(t, s, gz(mkTar(t, "f", "content")), "docker.io/library/x:latest")
	diffID := img.Layers[0].DiffID
	// A damaged index is rebuilt from the intact tar.
	os.WriteFile(s.layerIndexPath(diffID), []byte("garbage"), 0o600)
	probs, err := s.Check(false)
	if err != nil || len(probs) != 1 {
		t.Fatalf("check: %+v %v", probs, err)
	}
	probs, err = s.Check(true)
	if err != nil || len(probs) != 1 || probs[0].Fixed == "" {
		t.Fatalf("repair: %+v %v", probs, err)
	}
	if probs, _ := s.Check(false); len(probs) != 0 {
		t.Fatalf("after repair: %+v", probs)
	}
	// A damaged compressed blob is reported and, with repair, the image
	// that needs it is dropped.
	bp := s.BlobPath(img.Layers[0].Blob.Digest)
	data, _ := os.ReadFile(bp)
	data[len(data)/2] ^= 0xff
	os.WriteFile(bp, data, 0o600)
	if probs, _ := s.Check(false); len(probs) == 0 {
		t.Fatal("corrupt blob not found")
	}
	s.Check(true)
	if probs, _ := s.Check(false); len(probs) != 0 {
		t.Fatalf("after second repair: %+v", probs)
	}
}

// A cleaner running while another writer opens its work area must never
// take that work area for a dead one.
func TestCleanerSparesNewWorkAreas(t *testing.T) {
	s := openStore(t)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				s.cleanTmp()
			}
		}
	}()
	defer func() { close(stop); <-done }()
	for i := 0; i < 300; i++ {
		b, err := s.NewBatch()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.AddBlob([]byte(fmt.Sprint(i)), MediaTypeConfig, ""); err != nil {
			t.Fatalf("round %d: the cleaner removed a live work area: %v", i, err)
		}
		b.Abort()
	}
}

// TestRemovePrunesParents: removing an image removes its parents that
// nothing else holds, as docker removes a build's intermediate images; a
// tagged parent, or one with another child, stops the walk.
func TestRemovePrunesParents(t *testing.T) {
	s := openStore(t)
	child := func(parent Image, file, tag string) Image {
		t.Helper()
		img := addImage(t, s, mkTar(t, file, file), tag)
		img.Parent = parent.ID
		b, _ := s.NewBatch()
		b.SetImage(img)
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		return img
	}
	base := addImage(t, s, mkTar(t, "base", "base"), "docker.io/library/base:latest")
	mid := child(base, "mid", "")
	other := child(mid, "other", "") // a second child of mid
	top := child(mid, "top", "")
	leaf := child(top, "leaf", "docker.io/library/leaf:latest")
	deletedBy := func(name string) []digest.Digest {
		t.Helper()
		ev, err := s.Remove(name, false)
		if err != nil {
			t.Fatal(err)
		}
		var out []digest.Digest
		for _, e := range ev {
			if e.Deleted != "" {
				out = append(out, e.Deleted)
			}
		}
		return out
	}
	// leaf and top go; mid has another child.
	if got := deletedBy("leaf"); len(got) < 2 || got[0] != leaf.ID || got[1] != top.ID {
		t.Fatalf("rmi leaf deleted %v", got)
	}
	if _, err := s.Image(mid.ID); err != nil {
		t.Fatalf("mid, parent of another image, is gone: %v", err)
	}
	// other and mid go; base is tagged.
	if got := deletedBy(string(other.ID)); len(got) < 2 || got[0] != other.ID || got[1] != mid.ID {
		t.Fatalf("rmi other deleted %v", got)
	}
	if _, err := s.Image(base.ID); err != nil {
		t.Fatalf("tagged base is gone: %v", err)
	}
}
