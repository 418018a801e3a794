package unionfs_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/lfs-dev/lfs/layerstore/tarindex"
	"github.com/lfs-dev/lfs/unionfs"
	"github.com/lfs-dev/lfs/unionfs/unionfstest"
	"golang.org/x/sys/unix"
)

// newUnion builds a union of tar layers (bottom first) over an empty
// upper directory, and returns it with the upper's path.
func newUnion(t *testing.T, layers ...unionfstest.Layer) (*unionfs.FS, string) {
	t.Helper()
	dir := t.TempDir()
	lowers := unionfstest.TarLayers(t, dir, layers)
	upper := filepath.Join(dir, "upper")
	if err := os.Mkdir(upper, 0o755); err != nil {
		t.Fatal(err)
	}
	u, err := unionfs.New(upper, lowers)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u, upper
}

// tree lists the merged view: "path type [content]", sorted.
func tree(t *testing.T, u *unionfs.FS) string {
	t.Helper()
	var lines []string
	var walk func(p string)
	walk = func(p string) {
		ents, err := u.ReadDir(p)
		if err != nil {
			t.Fatalf("readdir %s: %v", p, err)
		}
		for _, e := range ents {
			cp := strings.TrimPrefix(p+"/"+e.Name, "./")
			line := cp + " " + e.Type.String()
			if e.Type == unionfs.TypeReg {
				h, err := u.Open(cp, os.O_RDONLY)
				if err != nil {
					t.Fatalf("open %s: %v", cp, err)
				}
				buf := make([]byte, 100)
				n, err := h.ReadAt(buf, 0)
				h.Close()
				if err != nil {
					t.Fatalf("read %s: %v", cp, err)
				}
				line += " " + string(buf[:n])
			}
			lines = append(lines, line)
			if e.Type == unionfs.TypeDir {
				walk(cp)
			}
		}
	}
	walk(".")
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

type L = unionfstest.Layer

var (
	File     = unionfstest.File
	Dir      = unionfstest.Dir
	Whiteout = unionfstest.Whiteout
	Opaque   = unionfstest.Opaque
	Symlink  = unionfstest.Symlink
	Hardlink = unionfstest.Hardlink
)

func TestMerge(t *testing.T) {
	tests := []struct {
		name   string
		layers []L
		want   string
	}{
		{"upper layer wins", []L{{File("a", "1"), File("b", "1")}, {File("a", "2")}},
			"a reg 2\nb reg 1"},
		{"whiteout hides file and dir", []L{{File("a", "1"), File("d/x", "1")}, {Whiteout("a"), Whiteout("d")}},
			""},
		{"whiteout in lower layer only hides below", []L{{File("a", "1")}, {Whiteout("a")}, {File("a", "3")}},
			"a reg 3"},
		{"opaque dir hides lower entries", []L{{File("d/x", "1"), File("d/y", "1")}, {Opaque("d"), File("d/z", "2")}},
			"d dir\nd/z reg 2"},
		{"dirs merge", []L{{File("d/x", "1")}, {File("d/y", "2")}, {File("d/z", "3")}},
			"d dir\nd/x reg 1\nd/y reg 2\nd/z reg 3"},
		{"file replaces dir", []L{{File("d/x", "1")}, {File("d", "f")}},
			"d reg f"},
		{"dir replaces file, no merge below", []L{{File("d", "f")}, {Dir("d"), File("d/y", "2")}},
			"d dir\nd/y reg 2"},
		{"dir over file over dir does not merge the bottom", []L{{File("d/x", "1")}, {Whiteout("d"), File("d", "f")}, {File("d/y", "3")}},
			"d dir\nd/y reg 3"},
		{"whiteout below a merged dir", []L{{File("d/x", "1"), File("d/y", "1")}, {Whiteout("d/x")}},
			"d dir\nd/y reg 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, _ := newUnion(t, tt.layers...)
			if got := tree(t, u); got != tt.want {
				t.Errorf("tree:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	base := L{File("f", "data"), File("d/x", "1"), Dir("empty"), Symlink("s", "f")}
	tests := []struct {
		name string
		op   func(u *unionfs.FS) error
		want error
	}{
		{"lookup whiteout name", func(u *unionfs.FS) error { _, err := u.Resolve(".wh.f"); return err }, unionfs.ErrNotExist},
		{"create .wh. name", func(u *unionfs.FS) error {
			_, err := u.Create(".wh.x", os.O_WRONLY, 0o644, unionfs.Owner{})
			return err
		}, unionfs.ErrReserved},
		{"mkdir .wh. name", func(u *unionfs.FS) error { return u.Mkdir("d/.wh..wh..opq", 0o755, unionfs.Owner{}) }, unionfs.ErrReserved},
		{"symlink .wh. name", func(u *unionfs.FS) error { return u.Symlink("f", ".wh.s", unionfs.Owner{}) }, unionfs.ErrReserved},
		{"rename onto .wh. name", func(u *unionfs.FS) error { return u.Rename("f", ".wh.g", 0) }, unionfs.ErrReserved},
		{"mkdir existing", func(u *unionfs.FS) error { return u.Mkdir("d", 0o755, unionfs.Owner{}) }, unionfs.ErrExist},
		{"create excl existing", func(u *unionfs.FS) error {
			_, err := u.Create("f", os.O_WRONLY|os.O_EXCL, 0o644, unionfs.Owner{})
			return err
		}, unionfs.ErrExist},
		{"rmdir non-empty", func(u *unionfs.FS) error { return u.Rmdir("d") }, unionfs.ErrNotEmpty},
		{"rmdir file", func(u *unionfs.FS) error { return u.Rmdir("f") }, unionfs.ErrNotDir},
		{"unlink dir", func(u *unionfs.FS) error { return u.Unlink("d") }, unionfs.ErrIsDir},
		{"unlink missing", func(u *unionfs.FS) error { return u.Unlink("nope") }, unionfs.ErrNotExist},
		{"rename lower dir", func(u *unionfs.FS) error { return u.Rename("d", "d2", 0) }, unionfs.ErrCrossDevice},
		{"rename noreplace", func(u *unionfs.FS) error { return u.Rename("f", "s", unionfs.RenameNoReplace) }, unionfs.ErrExist},
		{"rename file onto dir", func(u *unionfs.FS) error { return u.Rename("f", "empty", 0) }, unionfs.ErrIsDir},
		{"through a file", func(u *unionfs.FS) error { _, err := u.Resolve("f/x"); return err }, unionfs.ErrNotDir},
		{"private xattr set", func(u *unionfs.FS) error { return u.Setxattr("f", "user.lfs.origin", []byte("x"), 0) }, unionfs.ErrPermission},
		{"private xattr get", func(u *unionfs.FS) error { _, err := u.Getxattr("f", "trusted.overlay.opaque"); return err }, unionfs.ErrNoAttr},
		{"link dir", func(u *unionfs.FS) error { return u.Link("d", "d2") }, unionfs.ErrPermission},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, _ := newUnion(t, base)
			if err := tt.op(u); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestReadOnly(t *testing.T) {
	u, upper := newUnion(t, L{File("f", "data")})
	ro, err := unionfs.New(upper, nil, unionfs.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := ro.Create("g", os.O_WRONLY, 0o644, unionfs.Owner{}); !errors.Is(err, unionfs.ErrReadOnly) {
		t.Errorf("create: %v, want ErrReadOnly", err)
	}
	if _, err := u.Open("f", os.O_RDONLY); err != nil {
		t.Errorf("open read-only: %v", err)
	}
}

func readAll(t *testing.T, u *unionfs.FS, p string) string {
	t.Helper()
	h, err := u.Open(p, os.O_RDONLY)
	if err != nil {
		t.Fatalf("open %s: %v", p, err)
	}
	defer h.Close()
	buf := make([]byte, 1<<20)
	n, err := h.ReadAt(buf, 0)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return string(buf[:n])
}

func TestCopyUp(t *testing.T) {
	big := strings.Repeat("0123456789", 10000)
	u, upper := newUnion(t, L{File("d/big", big, unionfstest.Mode(0o640), unionfstest.Xattr("user.k", "v")), File("d/small", "abc")})
	before, _ := u.Resolve("d/big")
	a0, _ := u.Attr(before)

	h, err := u.Open("d/big", os.O_WRONLY)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.WriteAt([]byte("XY"), 3); err != nil {
		t.Fatal(err)
	}
	h.Close()
	want := big[:3] + "XY" + big[5:]
	if got := readAll(t, u, "d/big"); got != want {
		t.Errorf("content after copy-up differs (len %d, want %d)", len(got), len(want))
	}
	after, _ := u.Resolve("d/big")
	a1, _ := u.Attr(after)
	if !after.InUpper() || a1.Ino != a0.Ino || a1.Mode != a0.Mode || a1.Size != a0.Size {
		t.Errorf("after copy-up: upper %v ino %d→%d mode %o→%o size %d→%d", after.InUpper(), a0.Ino, a1.Ino, a0.Mode, a1.Mode, a0.Size, a1.Size)
	}
	if v, err := u.Getxattr("d/big", "user.k"); err != nil || string(v) != "v" {
		t.Errorf("xattr after copy-up: %q %v", v, err)
	}
	if names, _ := u.Listxattr("d/big"); len(names) != 1 {
		t.Errorf("listxattr shows bookkeeping: %v", names)
	}
	// O_TRUNC copies nothing; the parent was copied up already.
	h, err = u.Open("d/small", os.O_WRONLY|os.O_TRUNC)
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	if fi, err := os.Stat(filepath.Join(upper, "d/small")); err != nil || fi.Size() != 0 {
		t.Errorf("O_TRUNC copy-up: %v size %d", err, fi.Size())
	}
	// Nothing but the two files, the directory and the work area.
	var got []string
	filepath.Walk(upper, func(p string, fi os.FileInfo, err error) error {
		rel, _ := filepath.Rel(upper, p)
		if rel != "." && !strings.HasPrefix(rel, ".wh..wh.work") {
			got = append(got, rel)
		}
		return nil
	})
	if strings.Join(got, " ") != "d d/big d/small" {
		t.Errorf("upper holds %v", got)
	}
}

// The upper records deletions as OCI does, and reads back as a layer of
// another union: layers stack.
func TestUpperFormatStacks(t *testing.T) {
	u, upper := newUnion(t, L{File("a", "1"), File("d/x", "1"), File("d/y", "1"), File("e/z", "1")})
	mustDo(t, u.Unlink("a"))
	mustDo(t, u.Unlink("d/x"))
	mustDo(t, u.Unlink("e/z"))
	mustDo(t, u.Rmdir("e"))
	mustDo(t, u.Mkdir("e", 0o755, unionfs.Owner{}))
	h, err := u.Create("e/new", os.O_WRONLY, 0o644, unionfs.Owner{})
	mustDo(t, err)
	h.Close()
	for _, p := range []string{".wh.a", "d/.wh.x", "e/.wh..wh..opq", "e/new"} {
		if _, err := os.Lstat(filepath.Join(upper, p)); err != nil {
			t.Errorf("upper lacks %s: %v", p, err)
		}
	}
	for _, p := range []string{".wh.e", "d/x"} {
		if _, err := os.Lstat(filepath.Join(upper, p)); err == nil {
			t.Errorf("upper still holds %s", p)
		}
	}
	want := tree(t, u)
	if want != "d dir\nd/y reg 1\ne dir\ne/new reg " {
		t.Errorf("tree:\n%s", want)
	}
	// The same tree with the upper as a read-only lower of a new union.
	lower, err := unionfs.DirLayer(upper)
	mustDo(t, err)
	defer unionfs.CloseLayer(lower)
	stacked, err := unionfs.New("", []unionfs.Layer{lower, layerOfTar(t, L{File("a", "1"), File("d/x", "1"), File("d/y", "1"), File("e/z", "1")})})
	mustDo(t, err)
	if got := tree(t, stacked); got != want {
		t.Errorf("stacked tree:\n%s\nwant:\n%s", got, want)
	}
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestInodes(t *testing.T) {
	u, _ := newUnion(t,
		L{File("a", "1"), Hardlink("b", "a"), File("d/x", "1")},
		L{File("c", "2"), File("d/y", "2")})
	seen := map[uint64]string{}
	var walk func(p string)
	walk = func(p string) {
		ents, err := u.ReadDir(p)
		mustDo(t, err)
		for _, e := range ents {
			cp := strings.TrimPrefix(p+"/"+e.Name, "./")
			n, err := u.Resolve(cp)
			mustDo(t, err)
			a, err := u.Attr(n)
			mustDo(t, err)
			if a.Ino != e.Ino {
				t.Errorf("%s: d_ino %d, st_ino %d", cp, e.Ino, a.Ino)
			}
			if prev, ok := seen[a.Ino]; ok && !(prev == "a" && cp == "b") {
				t.Errorf("%s and %s share inode %d", prev, cp, a.Ino)
			}
			seen[a.Ino] = cp
			if e.Type == unionfs.TypeDir {
				walk(cp)
			}
		}
	}
	walk(".")
	ia, ib := ino(t, u, "a"), ino(t, u, "b")
	if ia != ib {
		t.Errorf("hard links a, b: inodes %d, %d", ia, ib)
	}
	mode := uint32(0o600)
	mustDo(t, u.Setattr("c", unionfs.SetAttr{Mode: &mode}))
	before := seen[ino(t, u, "c")]
	if before != "c" {
		t.Errorf("chmod (copy-up) changed c's inode")
	}
	mustDo(t, u.Rename("c", "c2", 0))
	if seen[ino(t, u, "c2")] != "c" {
		t.Errorf("rename changed the inode of a copied-up file")
	}
}

func ino(t *testing.T, u *unionfs.FS, p string) uint64 {
	t.Helper()
	n, err := u.Resolve(p)
	mustDo(t, err)
	a, err := u.Attr(n)
	mustDo(t, err)
	return a.Ino
}

func TestConcurrentCopyUp(t *testing.T) {
	u, _ := newUnion(t, L{File("f", strings.Repeat("x", 100))})
	const n = 8
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			h, err := u.Open("f", os.O_RDWR)
			if err != nil {
				errs <- err
				return
			}
			_, err = h.WriteAt([]byte{byte('a' + i)}, int64(i))
			h.Close()
			errs <- err
		}(i)
	}
	for i := 0; i < n; i++ {
		mustDo(t, <-errs)
	}
	if got := readAll(t, u, "f"); got != "abcdefgh"+strings.Repeat("x", 92) {
		t.Errorf("lost writes: %q", got)
	}
}

func TestOverlayWhiteoutsInDirLayer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("overlayfs whiteouts (char 0/0, trusted.* xattrs) need root")
	}
	dir := t.TempDir()
	mustDo(t, os.WriteFile(filepath.Join(dir, "keep"), []byte("k"), 0o644))
	mustDo(t, unix.Mknod(filepath.Join(dir, "gone"), unix.S_IFCHR, 0))
	mustDo(t, os.Mkdir(filepath.Join(dir, "o"), 0o755))
	mustDo(t, unix.Setxattr(filepath.Join(dir, "o"), "trusted.overlay.opaque", []byte("y"), 0))
	l, err := unionfs.DirLayer(dir)
	mustDo(t, err)
	defer unionfs.CloseLayer(l)
	bottom := layerOfTar(t, L{File("gone", "g"), File("o/hidden", "h"), File("other", "x")})
	u, err := unionfs.New("", []unionfs.Layer{l, bottom})
	mustDo(t, err)
	if got := tree(t, u); got != "keep reg k\no dir\nother reg x" {
		t.Errorf("tree:\n%s", got)
	}
}

func layerOfTar(t *testing.T, l L) unionfs.Layer {
	t.Helper()
	b, err := l.Tar()
	mustDo(t, err)
	p := filepath.Join(t.TempDir(), "l.tar")
	mustDo(t, os.WriteFile(p, b, 0o444))
	x, err := tarindex.Build(bytes.NewReader(b))
	mustDo(t, err)
	f, err := os.Open(p)
	mustDo(t, err)
	t.Cleanup(func() { f.Close() })
	return unionfs.TarLayer(x.Reader(), &unionfstest.TarSource{F: f, Idx: x.Reader()})
}
