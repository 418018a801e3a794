package tarindex

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Golden tars written by GNU tar; testdata/make.sh is the recipe.

func readGolden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGoldenGNU(t *testing.T) {
	tb := readGolden(t, "gnu-longname-longlink-hardlink.tar")
	r := buildAndLoad(t, tb)
	long := "/directory-with-a-rather-long-name-1/directory-with-a-rather-long-name-2/" +
		"directory-with-a-rather-long-name-3/file-whose-path-passes-one-hundred-bytes.txt"
	checkOffsets(t, r, tb, map[string]string{
		long:                "long name content\n",
		"/hardlink-to-long": "long name content\n",
		"/plain":            strings.Repeat("g", 1500),
		"/plain-link":       strings.Repeat("g", 1500),
	})
	a, b := r.Entry(mustLookup(t, r, long)), r.Entry(mustLookup(t, r, "/hardlink-to-long"))
	if a.Nlink != 2 || b.Nlink != 2 || a.Inode != b.Inode {
		t.Errorf("hard link group: %+v and %+v", a, b)
	}
	sl := r.Entry(mustLookup(t, r, "/symlink-long-target"))
	if sl.Type != TypeSymlink || sl.Linkname != strings.TrimPrefix(long, "/") {
		t.Errorf("long symlink: %+v", sl)
	}
	root := r.Entry(r.Root())
	if root.Implicit || !root.ModTime.Equal(time.Unix(1600000000, 0)) {
		t.Errorf("root from \"./\": %+v", root)
	}
	if got, want := r.Stats(), (Stats{Entries: 9, Files: 4, Dirs: 4, Symlinks: 1, DataBytes: 1518}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

func TestGoldenPAX(t *testing.T) {
	tb := readGolden(t, "posix-xattr-nsec-longname.tar")
	r := buildAndLoad(t, tb)
	long := "/dir/" + strings.Repeat("x", 150)
	checkOffsets(t, r, tb, map[string]string{
		"/dir/xattr-file": "has an xattr\n",
		long:              "pax long name\n",
	})
	id := mustLookup(t, r, "/dir/xattr-file")
	if got := r.Xattrs(id); !reflect.DeepEqual(got, map[string][]byte{"user.lfs.test": []byte("golden value")}) {
		t.Errorf("Xattrs = %q", got)
	}
	if got := r.Entry(id).ModTime; !got.Equal(time.Unix(1600000000, 123456789)) {
		t.Errorf("ModTime = %v, want nanoseconds", got)
	}
	// The PAX extended headers (dir/PaxHeaders/...) are not entries.
	if _, err := r.Lookup("/dir/PaxHeaders"); !errors.Is(err, ErrNotExist) {
		t.Errorf("PaxHeaders indexed: %v", err)
	}
}

func TestGoldenWhiteouts(t *testing.T) {
	r := buildAndLoad(t, readGolden(t, "ustar-whiteouts.tar"))
	want := []string{
		"/ dir 0755 nlink=4",
		"/etc dir 0755 nlink=3",
		"/etc/deleted-file whiteout 0644",
		"/etc/opaque-dir dir 0755 nlink=2 opaque",
		"/etc/opaque-dir/kept reg 0644 size=5 nlink=1",
		"/usr dir 0755 nlink=2",
		"/usr/lib whiteout 0644",
	}
	if got := dump(t, r); !reflect.DeepEqual(got, want) {
		t.Errorf("index:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestGoldenSparse(t *testing.T) {
	_, err := Build(bytes.NewReader(readGolden(t, "posix-sparse.tar")))
	if !errors.Is(err, ErrSparse) || !strings.Contains(err.Error(), "sparse-file") {
		t.Fatalf("Build = %v, want ErrSparse naming sparse-file", err)
	}
}
