package tarindex

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// deepPath is the path BenchmarkOpenLookup resolves: 12 levels down, in a
// tree of 100,000 entries.
const deepPath = "/usr/share/a/b/c/d/e/f/g/h/i/file"

var bigIndex = sync.OnceValues(func() ([]byte, error) {
	// 100 top directories × 10 subdirectories × 99 files, plus their
	// directories and the deep path: about 100,000 entries of empty files,
	// so the tar stays around 50 MB.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, typ byte) error {
		return tw.WriteHeader(&tar.Header{Name: name, Typeflag: typ, Mode: 0o644, Format: tar.FormatUSTAR})
	}
	for i := 0; i < 100; i++ {
		for j := 0; j < 10; j++ {
			dir := fmt.Sprintf("top%03d/sub%02d", i, j)
			if err := add(dir, tar.TypeDir); err != nil {
				return nil, err
			}
			for k := 0; k < 99; k++ {
				if err := add(fmt.Sprintf("%s/file-%04d.txt", dir, k), tar.TypeReg); err != nil {
					return nil, err
				}
			}
		}
	}
	if err := add(strings.TrimPrefix(deepPath, "/"), tar.TypeReg); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	x, err := Build(&buf)
	if err != nil {
		return nil, err
	}
	return x.Bytes(), nil
})

func BenchmarkOpenLookup(b *testing.B) {
	idx, err := bigIndex()
	if err != nil {
		b.Fatal(err)
	}
	p := filepath.Join(b.TempDir(), "index")
	if err := os.WriteFile(p, idx, 0o644); err != nil {
		b.Fatal(err)
	}
	r, err := Open(p)
	if err != nil {
		b.Fatal(err)
	}
	if r.Len() < 100_000 {
		b.Fatalf("index has %d entries, want ≥ 100000", r.Len())
	}
	r.Close()
	for b.Loop() {
		r, err := Open(p)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.Lookup(deepPath); err != nil {
			b.Fatal(err)
		}
		if err := r.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(idx)), "index-bytes")
}

func BenchmarkLookup(b *testing.B) {
	idx, err := bigIndex()
	if err != nil {
		b.Fatal(err)
	}
	r, err := Load(idx)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.Lookup(deepPath); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuild(b *testing.B) {
	// 20,000 files of 0 to 4 KiB in 200 directories, some with long names.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	data := bytes.Repeat([]byte("0123456789abcdef"), 256)
	for i := 0; i < 20_000; i++ {
		name := fmt.Sprintf("dir%03d/file-%05d", i%200, i)
		if i%10 == 0 {
			name = fmt.Sprintf("dir%03d/%s-%05d", i%200, strings.Repeat("long", 30), i)
		}
		size := (i * 37) % len(data)
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(size)}); err != nil {
			b.Fatal(err)
		}
		if _, err := tw.Write(data[:size]); err != nil {
			b.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		b.Fatal(err)
	}
	tb := buf.Bytes()
	b.SetBytes(int64(len(tb)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := Build(bytes.NewReader(tb)); err != nil {
			b.Fatal(err)
		}
	}
}
