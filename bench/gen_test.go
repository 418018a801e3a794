package bench

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// tinySpec is small enough for unit tests and has every feature: replaced
// files, whiteouts of files and directories, an opaque directory, hard
// links, symlinks, xattrs, needles.
var tinySpec = Spec{Name: "tiny", Seed: 7, Files: 400, Dirs: 60, MaxFileSize: 64 * kiB, BigFile: 4 * miB,
	BigDir: 500, UntarBytes: 2 * miB, Creates: 100, OpenWrites: 20, RandReads: 256}

// layerDigests writes spec's layers without busybox (layer 0 then depends
// on nothing of the host) and returns each tar's sha256.
func layerDigests(t *testing.T, spec Spec) []string {
	t.Helper()
	base, _, err := baseLayer("")
	if err != nil {
		t.Fatal(err)
	}
	m := generate(spec, base)
	var out []string
	for _, es := range m.layers {
		h := sha256.New()
		if err := writeLayer(h, spec.Seed, es); err != nil {
			t.Fatal(err)
		}
		out = append(out, hex.EncodeToString(h.Sum(nil)))
	}
	return out
}

func TestGeneratorDeterministic(t *testing.T) {
	a, b := layerDigests(t, tinySpec), layerDigests(t, tinySpec)
	for i := range a {
		if a[i] != b[i] {
			t.Errorf("layer %d: two generations differ: %s, %s", i, a[i], b[i])
		}
	}
	other := tinySpec
	other.Seed++
	c := layerDigests(t, other)
	if c[0] != a[0] {
		t.Errorf("the base layer depends on the seed")
	}
	for i := 1; i < len(a); i++ {
		if c[i] == a[i] {
			t.Errorf("layer %d: seeds %d and %d give the same tar", i, tinySpec.Seed, other.Seed)
		}
	}
}

// TestGeneratorGolden holds the generator to its version: a change to what
// it writes must bump GeneratorVersion (and these digests), so that no
// cached dataset or published result mixes two generators.
func TestGeneratorGolden(t *testing.T) {
	want := map[int][]string{1: {
		"72e9a06cdf4a96f3da7463234e060f083da6871ca93a71e4b470f99f5c926a0e",
		"2adcc9e3560b4203434c21fb37b90c312e5289acd3d515fc596165297345dd78",
		"f34dd7f13f86397227e1df9455c30a70d6fda082219cfe1519bd722a05b6729d",
		"8e11d707cd1aa17fffcb3648d5eb13bbd169812da40db4ed21318631ebf54de6",
	}}[GeneratorVersion]
	got := layerDigests(t, tinySpec)
	for i := range got {
		if i >= len(want) || got[i] != want[i] {
			t.Errorf("generator %d, layer %d: sha256 %s, want %s; bump GeneratorVersion if the change is meant", GeneratorVersion, i, got[i], want[i])
		}
	}
}

// TestGeneratorCounts: the presets make what they promise, and the tars
// hold what the statistics say.
func TestGeneratorCounts(t *testing.T) {
	near := func(name string, got, want int) {
		t.Helper()
		if got < want*9/10 || got > want*11/10 {
			t.Errorf("%s: %d, want %d ± 10%%", name, got, want)
		}
	}
	for _, size := range []string{"small", "medium"} {
		spec, err := SpecFor(size, 1)
		if err != nil {
			t.Fatal(err)
		}
		m := generate(spec, nil)
		s := m.stats()
		near(size+" files", s.Files, spec.Files)
		near(size+" dirs", s.Dirs, spec.Dirs)
		near(size+" symlinks", s.Symlinks, spec.Files*3/100)
		near(size+" hard links", s.Hardlinks, spec.Files/100)
		if s.Xattrs < spec.Files/100 || s.Overrides < spec.Files/50 || s.Whiteouts < spec.Files/100 || s.Opaque < 1 || s.Needles < 3 {
			t.Errorf("%s: %+v: too few xattrs, replaced files, whiteouts, opaque directories or needles", size, s)
		}
		if n := s.Bytes / int64(s.Files); n < 16*kiB || n > 48*kiB {
			t.Errorf("%s: files of %d bytes on average; log-uniform sizes up to %d should give about 27 KiB", size, n, spec.MaxFileSize)
		}
		tree := m.merge()
		big, many := tree[bigFilePath], 0
		for p := range tree {
			if strings.HasPrefix(p, bigDirPath+"/") {
				many++
			}
		}
		if big.size != spec.BigFile || many != spec.BigDir {
			t.Errorf("%s: big file %d bytes, big directory %d entries; want %d and %d", size, big.size, many, spec.BigFile, spec.BigDir)
		}
		if len(m.open) != spec.OpenWrites {
			t.Errorf("%s: %d files to open for writing, want %d", size, len(m.open), spec.OpenWrites)
		}
	}

	// What the tiny spec's tars hold, counted in the tars.
	base, _, _ := baseLayer("")
	m := generate(tinySpec, base)
	s := m.stats()
	whiteouts, opaque := 0, 0
	for i, es := range m.layers {
		var buf bytes.Buffer
		if err := writeLayer(&buf, tinySpec.Seed, es); err != nil {
			t.Fatal(err)
		}
		n := 0
		tr := tar.NewReader(&buf)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			n++
			switch b := path.Base(h.Name); {
			case b == ".wh..wh..opq":
				opaque++
			case strings.HasPrefix(b, ".wh."):
				whiteouts++
			}
		}
		if n != s.TarEntries[i] {
			t.Errorf("layer %d: %d tar entries, the statistics say %d", i, n, s.TarEntries[i])
		}
	}
	if whiteouts != s.Whiteouts || opaque != s.Opaque || whiteouts == 0 || opaque == 0 {
		t.Errorf("tars hold %d whiteouts and %d opaque markers, the statistics say %d and %d", whiteouts, opaque, s.Whiteouts, s.Opaque)
	}
}

// writeTiny writes the tiny spec's layer tars into dir and returns the
// model.
func writeTiny(t *testing.T, dir string) *model {
	t.Helper()
	base, _, _ := baseLayer("")
	m := generate(tinySpec, base)
	for i, es := range m.layers {
		if _, _, err := writeFile(context.Background(), filepath.Join(dir, "layer"+string(rune('0'+i))+".tar"), func(w io.Writer) error {
			return writeLayer(w, tinySpec.Seed, es)
		}); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// TestExtractMerged: applying the tars in order gives the tree the model's
// merge describes (names, types, sizes, targets, modes, xattrs, owners as
// root), and the content carries the needles.
func TestExtractMerged(t *testing.T) {
	dir := t.TempDir()
	m := writeTiny(t, dir)
	native := filepath.Join(dir, "native")
	os.Mkdir(native, 0o755)
	asRoot := os.Geteuid() == 0
	for i := range m.layers {
		if err := extractFile(context.Background(), filepath.Join(dir, "layer"+string(rune('0'+i))+".tar"), extractor{dest: native, dialect: dialectMerged, asRoot: asRoot}); err != nil {
			t.Fatal(err)
		}
	}
	structural, meta := compareTree(context.Background(), native, m.merge(), asRoot)
	if len(structural)+len(meta) > 0 {
		t.Fatalf("the merged tree is not the model's: %s", summarize(append(structural, meta...)))
	}
	found := 0
	for p, n := range m.merge() {
		if n.kind == kFile && n.entry.needle {
			b, err := os.ReadFile(filepath.Join(native, p))
			if err != nil || !bytes.Contains(b, []byte(needle)) {
				t.Errorf("%s should hold the needle", p)
			}
			found++
		}
	}
	if found != m.stats().Needles || found == 0 {
		t.Errorf("%d files hold the needle, the statistics say %d", found, m.stats().Needles)
	}
}

// TestExtractDialects: each whiteout and opaque marker of the top layer is
// written as overlayfs and unionfs-fuse want it.
func TestExtractDialects(t *testing.T) {
	dir := t.TempDir()
	m := writeTiny(t, dir)
	asRoot := os.Geteuid() == 0
	ovl, ufs := filepath.Join(dir, "ovl"), filepath.Join(dir, "ufs")
	for _, x := range []extractor{{dest: ovl, dialect: dialectOverlay, asRoot: asRoot}, {dest: ufs, dialect: dialectUnionfs, asRoot: asRoot, metaDir: ".unionfs-fuse"}} {
		os.Mkdir(x.dest, 0o755)
		if err := extractFile(context.Background(), filepath.Join(dir, "layer3.tar"), x); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for _, e := range m.layers[3] {
		switch e.kind {
		case kWhiteout:
			n++
			var st unix.Stat_t
			if err := unix.Lstat(filepath.Join(ovl, e.path), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
				t.Errorf("overlay: %s is not a 0/0 character device (%v)", e.path, err)
			}
			if _, err := os.Stat(filepath.Join(ufs, ".unionfs-fuse", e.path+"_HIDDEN~")); err != nil {
				t.Errorf("unionfs-fuse: %s has no _HIDDEN~ mark: %v", e.path, err)
			}
		case kOpaque:
			n++
			attrs := []string{"user.overlay.opaque"}
			if asRoot {
				attrs = append(attrs, "trusted.overlay.opaque")
			}
			for _, a := range attrs {
				buf := make([]byte, 8)
				if k, err := unix.Getxattr(filepath.Join(ovl, e.path), a, buf); err != nil || string(buf[:k]) != "y" {
					t.Errorf("overlay: %s lacks %s=y (%v)", e.path, a, err)
				}
			}
			if _, err := os.Stat(filepath.Join(ufs, ".unionfs-fuse", e.path+"_HIDDEN~")); err != nil {
				t.Errorf("unionfs-fuse: opaque %s has no _HIDDEN~ mark: %v", e.path, err)
			}
		}
		if e.kind == kWhiteout || e.kind == kOpaque {
			if _, err := os.Lstat(filepath.Join(ovl, e.tarName())); err == nil {
				t.Errorf("overlay: %s is there as it is in the tar", e.tarName())
			}
		}
	}
	if n == 0 {
		t.Fatal("the top layer has no whiteout or opaque marker")
	}
}
