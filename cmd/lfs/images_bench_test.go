package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/lfs-dev/lfs/layerstore"
)

// populate makes n tagged images sharing one layer, committed in one batch.
func populate(tb testing.TB, root string, n int) {
	tb.Helper()
	s, err := layerstore.Open(root)
	if err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "f", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
	tw.Write([]byte("x"))
	tw.Close()
	b, err := s.NewBatch()
	if err != nil {
		tb.Fatal(err)
	}
	defer b.Abort()
	l, err := b.AddLayer(&buf, "", "")
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < n; i++ {
		cfg := fmt.Sprintf(`{"created":"2024-01-01T00:00:%02dZ","rootfs":{"type":"layers","diff_ids":[%q]},"n":%d}`, i%60, l.DiffID, i)
		d, err := b.AddBlob([]byte(cfg), layerstore.MediaTypeConfig, "")
		if err != nil {
			tb.Fatal(err)
		}
		b.SetImage(layerstore.Image{ID: d.Digest, Layers: []layerstore.LayerRef{l}})
		b.Tag(fmt.Sprintf("docker.io/library/img%d:latest", i), d.Digest)
	}
	if err := b.Commit(); err != nil {
		tb.Fatal(err)
	}
}

func TestImagesListsThousand(t *testing.T) {
	root := t.TempDir()
	populate(t, root, 1000)
	var out bytes.Buffer
	if code := Main([]string{"lfs", "--root", root, "images"}, nil, &out, io.Discard); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if lines := strings.Count(out.String(), "\n"); lines != 1001 {
		t.Fatalf("%d lines, want 1001", lines)
	}
}

// BenchmarkImages1000 is `lfs images` over a store of 1,000 images, the
// whole command as a user runs it (target: under 50 ms).
func BenchmarkImages1000(b *testing.B) {
	root := b.TempDir()
	populate(b, root, 1000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if code := Main([]string{"lfs", "--root", root, "images"}, nil, io.Discard, io.Discard); code != 0 {
			b.Fatalf("exit %d", code)
		}
	}
}
