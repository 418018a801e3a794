package tarindex

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Seed corpora are also committed under testdata/fuzz (the golden tars among
// them); these f.Add seeds cover every DSL dialect.
func dslSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, f := range allFormats {
		ents := []ent{Dir("d"), File("d/a", "12345"), Hardlink("d/b", "d/a"), Symlink("s", "d/a"),
			Whiteout("w"), Opaque("d"), File("e/f/g", "z"), FIFO("p")}
		if f == PAX {
			ents = append(ents, File("x", "v", Xattr("user.k", "v")))
		}
		seeds = append(seeds, makeTar(t, f, ents...))
	}
	return seeds
}

func FuzzBuild(f *testing.F) {
	for _, s := range dslSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		x, err := Build(bytes.NewReader(data))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if _, err := x.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		r, err := Load(buf.Bytes())
		if err == nil {
			err = r.Verify()
		}
		if err != nil {
			t.Fatalf("Load of a built index: %v", err)
		}
		exercise(t, r)
		for id := ID(0); int(id) < r.Len(); id++ {
			e := r.Entry(id)
			if e.Type == TypeReg && (e.Offset < 0 || e.Size < 0 || e.Offset+e.Size > int64(len(data))) {
				t.Fatalf("%s: data [%d,+%d) outside the %d-byte input", r.Path(id), e.Offset, e.Size, len(data))
			}
		}
	})
}

func FuzzLoad(f *testing.F) {
	for _, s := range dslSeeds(f) {
		x, err := Build(bytes.NewReader(s))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(bytes.Clone(x.Bytes()))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Load(data)
		if err != nil {
			if !errors.Is(err, ErrCorruptIndex) {
				t.Fatalf("Load = %v, want ErrCorruptIndex", err)
			}
			return
		}
		exercise(t, r)
	})
}

// TestWriteFuzzCorpus regenerates the committed seed corpora:
//
//	LFS_WRITE_CORPUS=1 go test -run TestWriteFuzzCorpus ./layerstore/tarindex/
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("LFS_WRITE_CORPUS") == "" {
		t.Skip("set LFS_WRITE_CORPUS=1 to rewrite testdata/fuzz")
	}
	write := func(fuzzer, name string, b []byte) {
		dir := filepath.Join("testdata", "fuzz", fuzzer)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		// Go's corpus format: a version line, then one Go literal per argument.
		data := "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := filepath.Glob(filepath.Join("testdata", "*.tar"))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range golden {
		b, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(g)
		write("FuzzBuild", "golden-"+name, b)
		if x, err := Build(bytes.NewReader(b)); err == nil {
			write("FuzzLoad", "index-of-"+strings.TrimSuffix(name, ".tar"), x.Bytes())
		}
	}
	for i, s := range dslSeeds(t) {
		write("FuzzBuild", "dsl-"+allFormats[i].String(), s)
	}
	write("FuzzBuild", "empty", nil)
	write("FuzzLoad", "small", smallIndex(t))
	write("FuzzLoad", "header-only", smallIndex(t)[:headerSize])
}
