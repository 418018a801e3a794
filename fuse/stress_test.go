package fuse

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/lfs-dev/lfs/unionfs/unionfstest"
)

// TestFsx applies one seeded random sequence of writes, reads and
// truncates to a lower file through an lfs mount and to a plain copy of
// it, and fails at the first read that differs.
func TestFsx(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	orig := make([]byte, 100<<10)
	for i := range orig {
		orig[i] = byte(rng.Uint32())
	}
	m := TarMount(t, []unionfstest.Layer{{unionfstest.File("f", string(orig))}})
	plainPath := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(plainPath, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	open := func(p string) *os.File {
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	got, want := open(filepath.Join(m.Dir(), "f")), open(plainPath)
	defer func() { got.Close(); want.Close() }()
	const maxLen = 256 << 10
	for i := range 3000 {
		off := rng.Int64N(maxLen)
		n := rng.IntN(64 << 10)
		var op string
		switch k := rng.IntN(10); {
		case k < 4:
			op = fmt.Sprintf("write %d+%d", off, n)
			b := make([]byte, n)
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
			_, e1 := got.WriteAt(b, off)
			_, e2 := want.WriteAt(b, off)
			if (e1 == nil) != (e2 == nil) {
				t.Fatalf("op %d %s: lfs %v, plain %v", i, op, e1, e2)
			}
		case k < 6:
			op = fmt.Sprintf("truncate %d", off)
			e1, e2 := got.Truncate(off), want.Truncate(off)
			if (e1 == nil) != (e2 == nil) {
				t.Fatalf("op %d %s: lfs %v, plain %v", i, op, e1, e2)
			}
		case k < 7:
			op = "reopen"
			got.Close()
			want.Close()
			got, want = open(filepath.Join(m.Dir(), "f")), open(plainPath)
		default:
			op = fmt.Sprintf("read %d+%d", off, n)
			b1, b2 := make([]byte, n), make([]byte, n)
			n1, _ := got.ReadAt(b1, off)
			n2, _ := want.ReadAt(b2, off)
			if n1 != n2 || !bytes.Equal(b1[:n1], b2[:n2]) {
				t.Fatalf("op %d %s: lfs read %d bytes, plain %d, or the bytes differ", i, op, n1, n2)
			}
		}
	}
	a, err := os.ReadFile(filepath.Join(m.Dir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(plainPath)
	if !bytes.Equal(a, b) {
		t.Fatalf("final contents differ: %d bytes through lfs, %d plain", len(a), len(b))
	}
}

// TestParallel runs writers that each create, write, copy up, check and
// remove their own files, next to readers of shared lower files, all at
// once (run it under -race).
func TestParallel(t *testing.T) {
	var layer unionfstest.Layer
	for i := range 50 {
		layer = append(layer, unionfstest.File(fmt.Sprintf("d%d/f%d", i%5, i), fmt.Sprint("lower ", i)))
	}
	m := TarMount(t, []unionfstest.Layer{layer})
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := range 6 {
		wg.Go(func() {
			for r := range 40 {
				p := filepath.Join(m.Dir(), fmt.Sprintf("d%d", w%5), fmt.Sprintf("w%d-%d", w, r))
				data := []byte(fmt.Sprintf("writer %d round %d", w, r))
				if err := os.WriteFile(p, data, 0o644); err != nil {
					errs <- err
					return
				}
				if b, err := os.ReadFile(p); err != nil || !bytes.Equal(b, data) {
					errs <- fmt.Errorf("%s: read %q, %v", p, b, err)
					return
				}
				// Copy up a shared lower file: every writer appends.
				f, err := os.OpenFile(filepath.Join(m.Dir(), fmt.Sprintf("d%d/f%d", r%5, r)), os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					errs <- err
					return
				}
				_, err = f.WriteString("+")
				f.Close()
				if err != nil {
					errs <- err
					return
				}
				if err := os.Remove(p); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			for r := range 200 {
				i := r % 50
				b, err := os.ReadFile(filepath.Join(m.Dir(), fmt.Sprintf("d%d/f%d", i%5, i)))
				if err != nil || !bytes.HasPrefix(b, []byte(fmt.Sprint("lower ", i))) {
					errs <- fmt.Errorf("f%d: read %q, %v", i, b, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Each writer appended once to f0..f39: 6 pluses each, none lost.
	for i := range 40 {
		b, err := os.ReadFile(filepath.Join(m.Dir(), fmt.Sprintf("d%d/f%d", i%5, i)))
		if want := fmt.Sprint("lower ", i) + "++++++"; err != nil || string(b) != want {
			t.Errorf("f%d: %q, %v; want %q", i, b, err, want)
		}
	}
}
