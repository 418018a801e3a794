package tarindex

import (
	"bytes"
	"errors"
	"testing"
)

func smallIndex(t testing.TB) []byte {
	t.Helper()
	x, err := Build(bytes.NewReader(makeTar(t, PAX,
		Dir("d"), File("d/a", "12345", Xattr("user.x", "y")), Hardlink("d/b", "d/a"),
		Symlink("s", "d/a"), Whiteout("w"), Opaque("d"), File("e/f/g", "z"))))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(x.Bytes())
}

func TestLoadRejectsCorruption(t *testing.T) {
	good := smallIndex(t)
	rec := func(id, field int) int { return headerSize + id*recSize + field }
	put32 := func(off int, v uint32) func([]byte) []byte {
		return func(b []byte) []byte { le.PutUint32(b[off:], v); return b }
	}
	tests := []struct {
		name   string
		mutate func([]byte) []byte
	}{
		{"empty", func([]byte) []byte { return nil }},
		{"short header", func(b []byte) []byte { return b[:headerSize-1] }},
		{"magic", func(b []byte) []byte { b[0] = 'X'; return b }},
		{"version", put32(hVersion, 2)},
		{"record size", put32(hRecSize, 64)},
		{"no entries", put32(hCount, 0)},
		{"count too big", put32(hCount, 1000)},
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }},
		{"appended", func(b []byte) []byte { return append(b, 0) }},
		{"string length", func(b []byte) []byte { le.PutUint64(b[hStrLen:], 1<<62); return b }},
		{"type", func(b []byte) []byte { b[rec(1, rType)] = 0; return b }},
		{"type high", func(b []byte) []byte { b[rec(1, rType)] = 99; return b }},
		{"flags", func(b []byte) []byte { b[rec(1, rFlags)] = 0x80; return b }},
		{"name out of bounds", put32(rec(1, rNameLen), 1<<31)},
		{"link out of bounds", put32(rec(1, rLinkOff), 0xffffffff)},
		{"xattrs out of bounds", put32(rec(2, rXattrLen), 1000)},
		{"nanoseconds", put32(rec(1, rMtimeNs), 1e9)},
		{"inode", put32(rec(1, rInode), 1000)},
		{"root parent", put32(rec(0, rParent), 1)},
		{"parent after child", put32(rec(1, rParent), 5)},
		{"parent not listing child", put32(rec(2, rParent), 1)},
		{"self as child", put32(rec(0, rFirst), 0)},
		{"children past end", put32(rec(0, rNchild), 1000)},
		{"overlapping children", func(b []byte) []byte {
			le.PutUint32(b[rec(0, rNchild):], le.Uint32(b[rec(0, rNchild):])+1)
			return b
		}},
		{"children of a file", func(b []byte) []byte {
			r, _ := Load(good)
			s, _ := r.Lookup("s")
			le.PutUint32(b[rec(int(s), rNchild):], 1)
			le.PutUint32(b[rec(int(s), rFirst):], uint32(r.Len()-1))
			return b
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.mutate(bytes.Clone(good))
			r, err := Load(b)
			if err == nil {
				// Record-level damage is Verify's to find; the
				// accessors must survive it regardless.
				exercise(t, r)
				err = r.Verify()
			}
			if !errors.Is(err, ErrCorruptIndex) {
				t.Fatalf("Load+Verify = %v, want ErrCorruptIndex", err)
			}
		})
	}
	r, err := Load(good)
	if err != nil {
		t.Fatalf("Load(good) = %v: the mutations above prove nothing", err)
	}
	if err := r.Verify(); err != nil {
		t.Fatalf("Verify(good) = %v: the mutations above prove nothing", err)
	}
}

// TestWalkCorrupt: Walk must notice bad ranges and never revisit entries,
// even when every directory claims every later entry as its child.
func TestWalkCorrupt(t *testing.T) {
	good := smallIndex(t)
	r0, _ := Load(good)
	n := r0.Len()
	b := bytes.Clone(good)
	for id := 0; id < n; id++ {
		off := headerSize + id*recSize
		b[off+rType] = byte(TypeDir)
		le.PutUint32(b[off+rFirst:], uint32(id+1))
		le.PutUint32(b[off+rNchild:], uint32(n-id-1))
	}
	r, err := Load(b)
	if err != nil {
		t.Fatal(err)
	}
	visits := 0
	err = r.Walk(func(ID, string) error { visits++; return nil })
	if !errors.Is(err, ErrCorruptIndex) || visits > n {
		t.Errorf("Walk = %v after %d visits of %d entries, want ErrCorruptIndex", err, visits, n)
	}
	if err := r.Verify(); !errors.Is(err, ErrCorruptIndex) {
		t.Errorf("Verify = %v, want ErrCorruptIndex", err)
	}
}

// TestLoadByteFlips damages every byte of a small index in turn: Load must
// reject it or give a Reader whose every accessor works.
func TestLoadByteFlips(t *testing.T) {
	good := smallIndex(t)
	for i := range good {
		for _, v := range []byte{0x00, 0xff, good[i] ^ 0x01} {
			b := bytes.Clone(good)
			b[i] = v
			r, err := Load(b)
			if err != nil {
				if !errors.Is(err, ErrCorruptIndex) {
					t.Fatalf("byte %d = %#x: Load = %v, want ErrCorruptIndex", i, v, err)
				}
				continue
			}
			exercise(t, r)
			if err := r.Verify(); err != nil && !errors.Is(err, ErrCorruptIndex) {
				t.Fatalf("byte %d = %#x: Verify = %v, want ErrCorruptIndex", i, v, err)
			}
		}
	}
}

// exercise calls every accessor on every entry Walk reaches. A Reader that
// passes Verify must walk cleanly through all its entries; one that does not
// may stop Walk with ErrCorruptIndex, but nothing may panic or hang.
func exercise(t testing.TB, r *Reader) {
	t.Helper()
	verified := r.Verify() == nil
	n := 0
	err := r.Walk(func(id ID, p string) error {
		n++
		_ = r.Entry(id)
		_ = r.Xattrs(id)
		_ = r.Path(id)
		for _, c := range r.Children(id) {
			_, _ = r.Child(id, r.Entry(c).Name)
		}
		_, _ = r.Lookup(p)
		return nil
	})
	switch {
	case err != nil && (verified || !errors.Is(err, ErrCorruptIndex)):
		t.Fatalf("Walk: %v (verified %v)", err, verified)
	case verified && n != r.Len():
		t.Fatalf("Walk visited %d of %d entries of a verified index", n, r.Len())
	case n > r.Len():
		t.Fatalf("Walk visited %d entries, index has %d", n, r.Len())
	}
	for id := ID(0); int(id) < r.Len(); id++ {
		_ = r.Entry(id)
		_ = r.Path(id)
		_ = r.Children(id)
	}
	_ = r.Entry(ID(r.Len()))
	_ = r.Children(ID(r.Len()))
	_ = r.Path(ID(r.Len()))
	_ = r.Xattrs(ID(r.Len()))
}

// TestConcurrentReads: FUSE serves lookups from many goroutines on one
// Reader with no lock; run with -race.
func TestConcurrentReads(t *testing.T) {
	r := buildAndLoad(t, makeTar(t, PAX, File("a/b", "x", Xattr("user.k", "v")), Dir("c"), Hardlink("c/d", "a/b")))
	done := make(chan error)
	for g := 0; g < 8; g++ {
		go func() {
			var err error
			for i := 0; i < 200 && err == nil; i++ {
				var id ID
				if id, err = r.Lookup("/c/d"); err == nil {
					_ = r.Entry(id)
					_ = r.Xattrs(r.Entry(id).Inode)
					err = r.Walk(func(ID, string) error { return nil })
				}
			}
			done <- err
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
