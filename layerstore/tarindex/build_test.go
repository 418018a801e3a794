package tarindex

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestBuildRules(t *testing.T) {
	tests := []struct {
		name string
		ents []ent
		want []string
	}{
		{
			name: "kinds",
			ents: []ent{
				Dir("a", Mode(0o1777), Owner(1000, 100)),
				File("a/f", "hello", Mode(0o4755)),
				Symlink("a/l", "../../../etc/passwd"),
				Char("a/null", 1, 3),
				FIFO("a/p"),
			},
			want: []string{
				"/ dir 0755 nlink=3 implicit",
				"/a dir 1777 owner=1000:100 nlink=2",
				"/a/f reg 4755 size=5 nlink=1",
				"/a/l symlink 0777 -> ../../../etc/passwd",
				"/a/null char 0600 dev=1,3",
				"/a/p fifo 0600",
			},
		},
		{
			name: "type bits in the mode field are dropped",
			ents: []ent{File("f", "", Mode(0o100755)), Dir("d", Mode(0o40700))},
			want: []string{"/ dir 0755 nlink=3 implicit", "/d dir 0700 nlink=2", "/f reg 0755 size=0 nlink=1"},
		},
		{
			name: "names are taken relative to the root and cleaned",
			ents: []ent{File("./x", "1"), File("/y", "2"), File("./a/./b/../c", "3"), File("//z", "4")},
			want: []string{
				"/ dir 0755 nlink=3 implicit",
				"/a dir 0755 nlink=2 implicit",
				"/a/c reg 0644 size=1 nlink=1",
				"/x reg 0644 size=1 nlink=1",
				"/y reg 0644 size=1 nlink=1",
				"/z reg 0644 size=1 nlink=1",
			},
		},
		{
			name: "root entry sets root metadata",
			ents: []ent{Dir("./", Mode(0o700), Owner(5, 6)), File("f", "")},
			want: []string{"/ dir 0700 owner=5:6 nlink=2", "/f reg 0644 size=0 nlink=1"},
		},
		{
			name: "missing parents are synthesised",
			ents: []ent{File("a/b/c", "x")},
			want: []string{
				"/ dir 0755 nlink=3 implicit",
				"/a dir 0755 nlink=3 implicit",
				"/a/b dir 0755 nlink=2 implicit",
				"/a/b/c reg 0644 size=1 nlink=1",
			},
		},
		{
			name: "explicit dir after its children stops being implicit",
			ents: []ent{File("a/f", "x"), Dir("a", Mode(0o711))},
			want: []string{"/ dir 0755 nlink=3 implicit", "/a dir 0711 nlink=2", "/a/f reg 0644 size=1 nlink=1"},
		},
		{
			name: "later file replaces earlier",
			ents: []ent{File("x", "1"), File("x", "22", Mode(0o600))},
			want: []string{"/ dir 0755 nlink=2 implicit", "/x reg 0600 size=2 nlink=1"},
		},
		{
			name: "file replacing a dir drops its subtree",
			ents: []ent{Dir("d"), Dir("d/e"), File("d/e/f", "x"), File("d", "yy")},
			want: []string{"/ dir 0755 nlink=2 implicit", "/d reg 0644 size=2 nlink=1"},
		},
		{
			name: "dir replacing a dir keeps children and takes metadata",
			ents: []ent{Dir("d", Mode(0o700)), File("d/f", "x"), Opaque("d"), Dir("d", Mode(0o750), Owner(1, 1))},
			want: []string{
				"/ dir 0755 nlink=3 implicit",
				"/d dir 0750 owner=1:1 nlink=2 opaque",
				"/d/f reg 0644 size=1 nlink=1",
			},
		},
		{
			name: "dir replacing a file",
			ents: []ent{File("d", "x"), Dir("d"), File("d/f", "y")},
			want: []string{"/ dir 0755 nlink=3 implicit", "/d dir 0755 nlink=2", "/d/f reg 0644 size=1 nlink=1"},
		},
		{
			name: "whiteouts and opaque markers",
			ents: []ent{
				Whiteout("a/gone"), Opaque("o"), Opaque(""),
				File("x", "data"), Whiteout("x"),
				Dir("d"), File("d/f", "1"), Whiteout("d"),
			},
			want: []string{
				"/ dir 0755 nlink=4 implicit opaque",
				"/a dir 0755 nlink=2 implicit",
				"/a/gone whiteout 0644",
				"/d whiteout 0644",
				"/o dir 0755 nlink=2 implicit opaque",
				"/x whiteout 0644",
			},
		},
		{
			name: "hard link group",
			ents: []ent{File("f", "data"), Hardlink("g", "f"), Hardlink("d/h", "./g"), Hardlink("/e", "/f")},
			want: []string{
				"/ dir 0755 nlink=3 implicit",
				"/d dir 0755 nlink=2 implicit",
				"/d/h reg 0644 size=4 nlink=4 ino=/e",
				"/e reg 0644 size=4 nlink=4",
				"/f reg 0644 size=4 nlink=4 ino=/e",
				"/g reg 0644 size=4 nlink=4 ino=/e",
			},
		},
		{
			name: "replacing a link target leaves the link its data",
			ents: []ent{File("f", "old"), Hardlink("g", "f"), File("f", "newer")},
			want: []string{"/ dir 0755 nlink=2 implicit", "/f reg 0644 size=5 nlink=1", "/g reg 0644 size=3 nlink=1"},
		},
		{
			name: "dropping a subtree shrinks link groups",
			ents: []ent{File("d/f", "abc"), Hardlink("g", "d/f"), Hardlink("d/h", "d/f"), Whiteout("d")},
			want: []string{"/ dir 0755 nlink=2 implicit", "/d whiteout 0644", "/g reg 0644 size=3 nlink=1"},
		},
		{
			name: "link onto itself",
			ents: []ent{File("f", "abc"), Hardlink("f", "f")},
			want: []string{"/ dir 0755 nlink=2 implicit", "/f reg 0644 size=3 nlink=1"},
		},
		{
			name: "aufs metadata is skipped",
			ents: []ent{Dir(whiteoutMeta + "plnk"), File(whiteoutMeta+"plnk/1.2", "x"), File(whiteoutMeta+"aufs", ""), File("k", "")},
			want: []string{"/ dir 0755 nlink=2 implicit", "/k reg 0644 size=0 nlink=1"},
		},
		{
			name: "global pax header is not an entry",
			ents: []ent{{hdr: tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "pax_global_header", PAXRecords: map[string]string{"comment": "x"}}}, File("f", "")},
			want: []string{"/ dir 0755 nlink=2 implicit", "/f reg 0644 size=0 nlink=1"},
		},
	}
	for _, tt := range tests {
		for _, f := range allFormats {
			if f != PAX && tt.name == "global pax header is not an entry" {
				continue
			}
			t.Run(tt.name+"/"+f.String(), func(t *testing.T) {
				r := buildAndLoad(t, makeTar(t, f, tt.ents...))
				got := dump(t, r)
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("index:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
				}
				if err := r.Walk(func(id ID, p string) error {
					if r.Entry(id).Type == TypeReg && strings.Contains(p, whiteoutPrefix) {
						t.Errorf("%s: whiteout stored as a regular file", p)
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name    string
		ents    []ent
		want    error
		mention []string // strings the error must name
	}{
		{"dotdot", []ent{File("../../x", "")}, ErrUnsafePath, []string{"../../x"}},
		{"dotdot inside", []ent{File("a/../../x", "")}, ErrUnsafePath, []string{"a/../../x"}},
		{"absolute dotdot", []ent{File("/../x", "")}, ErrUnsafePath, []string{"/../x"}},
		{"empty whiteout", []ent{File("a/"+whiteoutPrefix, "")}, ErrUnsafePath, nil},
		{"dotdot whiteout", []ent{File("a/"+whiteoutPrefix+"..", "")}, ErrUnsafePath, nil},
		{"link to missing", []ent{Hardlink("l", "nothere")}, ErrBadLink, []string{"l", "nothere"}},
		{"link to later", []ent{Hardlink("l", "f"), File("f", "")}, ErrBadLink, []string{"l", "f"}},
		{"link to dir", []ent{Dir("d"), Hardlink("l", "d")}, ErrBadLink, []string{"l", "d"}},
		{"link to symlink", []ent{Symlink("s", "f"), File("f", ""), Hardlink("l", "s")}, ErrBadLink, nil},
		{"link to whiteout", []ent{Whiteout("w"), Hardlink("l", "w")}, ErrBadLink, nil},
		{"link escapes", []ent{Hardlink("l", "../f")}, ErrBadLink, nil},
		{"link to root", []ent{Hardlink("l", "/")}, ErrBadLink, nil},
		{"volume header", []ent{File("v", "", Typeflag('V'))}, ErrUnsupported, []string{"v"}},
		{"multivolume", []ent{File("m", "", Typeflag('M'))}, ErrUnsupported, []string{"m"}},
		{"file as parent", []ent{File("a", "x"), File("a/b", "y")}, ErrUnsupported, []string{"a/b"}},
		{"symlink as parent", []ent{Symlink("a", "/etc"), File("a/passwd", "y")}, ErrUnsupported, []string{"a/passwd"}},
		{"whiteout as parent", []ent{File("a/"+whiteoutPrefix+"b/c", "")}, ErrUnsupported, nil},
		{"unknown aufs marker", []ent{File("a/"+whiteoutMeta+"x", "")}, ErrUnsupported, nil},
		{"root as file", []ent{File(".", "")}, ErrUnsupported, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb, ok := tryTar(USTAR, tt.ents...)
			if !ok {
				tb = makeTar(t, GNU, tt.ents...)
			}
			_, err := Build(bytes.NewReader(tb))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Build: %v, want %v", err, tt.want)
			}
			for _, m := range tt.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not name %q", err, m)
				}
			}
		})
	}
}

// tryTar is makeTar for headers a format may refuse.
func tryTar(f tar.Format, ents ...ent) ([]byte, bool) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := e.hdr
		h.Format = f
		h.ModTime = h.ModTime.Truncate(time.Second)
		if tw.WriteHeader(&h) != nil {
			return nil, false
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			return nil, false
		}
	}
	return buf.Bytes(), tw.Close() == nil
}

// setHeaderByte patches one byte of the header block at off and fixes its
// checksum, to make headers archive/tar's writer will not.
func setHeaderByte(t *testing.T, tb []byte, off int, b byte) {
	t.Helper()
	tb[off] = b
	blk := tb[off/512*512 : off/512*512+512]
	copy(blk[148:156], "        ")
	sum := 0
	for _, c := range blk {
		sum += int(c)
	}
	copy(blk[148:156], []byte(strings.Repeat("0", 6-len(itoa8(sum)))+itoa8(sum)+"\x00 "))
}

func itoa8(v int) string {
	s := ""
	for ; v > 0; v /= 8 {
		s = string(rune('0'+v%8)) + s
	}
	return s
}

func TestBuildGNUSparseRefused(t *testing.T) {
	tb := makeTar(t, GNU, File("holes", ""))
	setHeaderByte(t, tb, 156, tar.TypeGNUSparse)
	// Check the patch made what we meant, so the test cannot pass by a
	// checksum error.
	hdr, err := tar.NewReader(bytes.NewReader(tb)).Next()
	if err != nil || hdr.Typeflag != tar.TypeGNUSparse {
		t.Fatalf("patched tar: %v, %+v", err, hdr)
	}
	if _, err := Build(bytes.NewReader(tb)); !errors.Is(err, ErrSparse) {
		t.Fatalf("Build: %v, want ErrSparse", err)
	}
}

// TestBuildPAXSparseRefused: archive/tar will not write GNU.sparse records,
// so write a same-length stand-in key and patch it (PAX record data has no
// checksum). A real PAX sparse tar is in testdata (see TestGolden).
func TestBuildPAXSparseRefused(t *testing.T) {
	tb := makeTar(t, PAX, File("s", "abc", func(h *tar.Header) {
		h.PAXRecords = map[string]string{"XYZ.sparse.name": "s"}
	}))
	if !bytes.Contains(tb, []byte("XYZ.sparse.name")) {
		t.Fatal("stand-in key not written")
	}
	tb = bytes.Replace(tb, []byte("XYZ.sparse.name"), []byte(sparsePAXKey+"name"), 1)
	if _, err := Build(bytes.NewReader(tb)); !errors.Is(err, ErrSparse) {
		t.Fatalf("Build: %v, want ErrSparse", err)
	}
}

func TestBuildCorruptTar(t *testing.T) {
	good := makeTar(t, PAX, File("a/first", strings.Repeat("x", 1000)), File("a/second", "yy"))
	t.Run("truncated data", func(t *testing.T) {
		r := buildAndLoad(t, good)
		off := r.Entry(mustLookup(t, r, "a/first")).Offset
		_, err := Build(bytes.NewReader(good[:off+100]))
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("Build: %v, want io.ErrUnexpectedEOF", err)
		}
		if !strings.Contains(err.Error(), "a/first") {
			t.Errorf("error %q does not name the entry", err)
		}
	})
	t.Run("truncated header", func(t *testing.T) {
		_, err := Build(bytes.NewReader(good[:300]))
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("Build: %v, want io.ErrUnexpectedEOF", err)
		}
	})
	t.Run("bad checksum", func(t *testing.T) {
		bad := bytes.Clone(good)
		bad[0] ^= 0xff
		if _, err := Build(bytes.NewReader(bad)); !errors.Is(err, tar.ErrHeader) {
			t.Fatalf("Build: %v, want tar.ErrHeader", err)
		}
	})
}

// TestBuildOffsetsEveryDialect is the contract the filesystem depends on:
// ReadAt(Offset) of Size bytes on the original tar is the file, whatever
// headers (GNU long names, PAX records, ustar prefixes) came before the data.
func TestBuildOffsetsEveryDialect(t *testing.T) {
	long := strings.Repeat("long-directory-name/", 12) + "file-with-a-long-name.txt" // 265 bytes
	prefixed := strings.Repeat("p", 90) + "/" + strings.Repeat("q", 90)              // ustar prefix split
	sizes := []int{0, 1, 511, 512, 513, 4096, 10000}
	for _, f := range allFormats {
		t.Run(f.String(), func(t *testing.T) {
			want := map[string]string{}
			var ents []ent
			for i, n := range sizes {
				name := "d/f" + strings.Repeat("0", i)
				content := strings.Repeat(string(rune('a'+i)), n)
				ents = append(ents, File(name, content))
				want["/"+name] = content
			}
			ents = append(ents, File(prefixed, "prefixed"), Hardlink("link-to-f0", "d/f0"))
			want["/"+prefixed] = "prefixed"
			want["/link-to-f0"] = want["/d/f0"]
			if f != USTAR {
				ents = append(ents,
					File(long, "long name"),
					Hardlink("hl", long),
					Symlink("sl", long),
					File("after-long", "still right"))
				want["/"+long] = "long name"
				want["/hl"] = "long name"
				want["/after-long"] = "still right"
			}
			if f == PAX {
				ents = append(ents,
					File("x", "with xattrs", Xattr("user.a", "1"), Xattr("security.capability", "\x00\x01\x02")),
					File("ñamé-ü", "utf8", MTime(time.Unix(1, 999999999))))
				want["/x"] = "with xattrs"
				want["/ñamé-ü"] = "utf8"
			}
			tb := makeTar(t, f, ents...)
			r := buildAndLoad(t, tb)
			checkOffsets(t, r, tb, want)
			if f != USTAR {
				id, err := r.Lookup("sl")
				if err != nil || r.Entry(id).Linkname != long {
					t.Errorf("long symlink target = %q, %v", r.Entry(id).Linkname, err)
				}
			}
			if f == PAX {
				id, _ := r.Lookup("x")
				xa := r.Xattrs(id)
				wantX := map[string][]byte{"user.a": []byte("1"), "security.capability": {0, 1, 2}}
				if !reflect.DeepEqual(xa, wantX) {
					t.Errorf("Xattrs = %q, want %q", xa, wantX)
				}
				id, _ = r.Lookup("ñamé-ü")
				if got := r.Entry(id).ModTime; !got.Equal(time.Unix(1, 999999999)) {
					t.Errorf("ModTime = %v, want nanoseconds kept", got)
				}
			}
			id, _ := r.Lookup("d/f")
			if got, want := r.Entry(id).ModTime, defaultMtime.Truncate(map[bool]time.Duration{true: 1, false: time.Second}[f == PAX]); !got.Equal(want) {
				t.Errorf("ModTime = %v, want %v", got, want)
			}
		})
	}
}

// readLog records how far Build reads.
type readLog struct {
	r    io.Reader
	read int
}

func (l *readLog) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.read += n
	return n, err
}

func TestBuildStopsAtEndMarker(t *testing.T) {
	tb := makeTar(t, PAX, File("a", "xyz"), File("b", strings.Repeat("b", 700)))
	src := &readLog{r: io.MultiReader(bytes.NewReader(tb), strings.NewReader(strings.Repeat("trailing junk", 1000)))}
	if _, err := Build(src); err != nil {
		t.Fatal(err)
	}
	// tar.Writer.Close writes exactly the two zero blocks.
	if src.read != len(tb) {
		t.Errorf("Build read %d bytes, tar ends at %d", src.read, len(tb))
	}
}

func TestStats(t *testing.T) {
	tb := makeTar(t, PAX,
		Dir("d"), File("d/a", "12345"), Hardlink("d/b", "d/a"), File("c", "xy"),
		Symlink("s", "c"), Whiteout("w"), Opaque("d"), FIFO("p"))
	x, err := Build(bytes.NewReader(tb))
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{Entries: 8, Files: 3, Dirs: 2, Symlinks: 1, Whiteouts: 1, DataBytes: 7}
	if got := x.Stats(); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
	if got := x.Reader().Stats(); got != want {
		t.Errorf("Reader().Stats = %+v, want %+v", got, want)
	}
}

func TestEntryFields(t *testing.T) {
	mt := time.Date(2021, 3, 4, 5, 6, 7, 8, time.UTC)
	tb := makeTar(t, PAX,
		File("f", "content", Mode(0o2750), Owner(70000, 80000), MTime(mt)),
		Hardlink("g", "f", Mode(0o600)),
		Char("c", 4, 64))
	r := buildAndLoad(t, tb)
	f, _ := r.Lookup("f")
	g, _ := r.Lookup("g")
	got := r.Entry(f)
	want := Entry{Name: "f", Type: TypeReg, Mode: 0o2750, UID: 70000, GID: 80000, Size: 7, ModTime: mt,
		Offset: got.Offset, Inode: f, Nlink: 2, Parent: r.Root()}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Entry(f) = %+v\nwant %+v", got, want)
	}
	if string(tb[got.Offset:got.Offset+7]) != "content" {
		t.Errorf("offset %d wrong", got.Offset)
	}
	ge := r.Entry(g)
	if ge.Offset != got.Offset || ge.Inode != f || ge.Nlink != 2 || ge.Mode != 0o600 || g == f {
		t.Errorf("Entry(g) = %+v: want own id and mode, f's data and inode", ge)
	}
	c, _ := r.Lookup("c")
	if e := r.Entry(c); e.Devmajor != 4 || e.Devminor != 64 || e.Type != TypeChar {
		t.Errorf("Entry(c) = %+v", e)
	}
	if e := r.Entry(ID(r.Len())); e != (Entry{}) {
		t.Errorf("Entry(out of range) = %+v, want zero", e)
	}
	if e := r.Entry(r.Root()); e.Name != "" || e.Type != TypeDir || !e.Implicit || e.Parent != r.Root() {
		t.Errorf("root = %+v", e)
	}
}

func TestLookup(t *testing.T) {
	r := buildAndLoad(t, makeTar(t, PAX,
		File("a/b/c", "x"), Symlink("a/link", "b"), File("a/file", ""), Whiteout("a/gone")))
	c := mustLookup(t, r, "/a/b/c")
	for _, p := range []string{"a/b/c", "/a/b/c/", "a//b/./c", "./a/b/c", "a/x/../b/c", "/../a/b/c", "../../a/b/c"} {
		if got, err := r.Lookup(p); err != nil || got != c {
			t.Errorf("Lookup(%q) = %d, %v; want %d", p, got, err, c)
		}
	}
	for _, p := range []string{"", ".", "/", "/..", "a/.."} {
		if got, err := r.Lookup(p); err != nil || got != r.Root() {
			t.Errorf("Lookup(%q) = %d, %v; want root", p, got, err)
		}
	}
	for _, p := range []string{"nope", "a/b/c/d", "a/link/c", "a/file/x", "a/gone/x", "A"} {
		_, err := r.Lookup(p)
		if !errors.Is(err, ErrNotExist) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Lookup(%q) = %v, want ErrNotExist", p, err)
		}
	}
	if id := mustLookup(t, r, "a/gone"); r.Entry(id).Type != TypeWhiteout {
		t.Errorf("a/gone: %v, want a whiteout", r.Entry(id).Type)
	}
	a := mustLookup(t, r, "a")
	var names []string
	for _, id := range r.Children(a) {
		names = append(names, r.Entry(id).Name)
	}
	if want := []string{"b", "file", "gone", "link"}; !reflect.DeepEqual(names, want) {
		t.Errorf("Children(a) = %q, want %q", names, want)
	}
	if id, ok := r.Child(a, "gone"); !ok || r.Entry(id).Type != TypeWhiteout {
		t.Errorf("Child(a, gone) = %d, %v", id, ok)
	}
	if _, ok := r.Child(c, "x"); ok {
		t.Errorf("Child of a file found something")
	}
	if r.Children(c) != nil {
		t.Errorf("Children of a file = %v", r.Children(c))
	}
}

func mustLookup(t *testing.T, r *Reader, p string) ID {
	t.Helper()
	id, err := r.Lookup(p)
	if err != nil {
		t.Fatalf("Lookup(%q): %v", p, err)
	}
	return id
}

// TestLookupDoesNotAllocate: Lookup runs on every FUSE LOOKUP, hits and
// misses alike.
func TestLookupDoesNotAllocate(t *testing.T) {
	r := buildAndLoad(t, makeTar(t, PAX, File("usr/lib/x86_64-linux-gnu/libc.so.6", "x"), File("usr/bin/env", "")))
	for _, p := range []string{"/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/missing", "usr/bin/env"} {
		if n := testing.AllocsPerRun(100, func() { _, _ = r.Lookup(p) }); n != 0 {
			t.Errorf("Lookup(%q) allocates %v times", p, n)
		}
	}
}

func TestWalk(t *testing.T) {
	r := buildAndLoad(t, makeTar(t, USTAR, File("b/z", ""), File("b/a/x", ""), File("a", ""), File("c/y", "")))
	var got []string
	err := r.Walk(func(id ID, p string) error {
		got = append(got, p)
		if p == "/b/a" {
			return fs.SkipDir
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/", "/a", "/b", "/b/a", "/b/z", "/c", "/c/y"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Walk = %q, want %q", got, want)
	}
	stop := errors.New("stop")
	n := 0
	if err := r.Walk(func(ID, string) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("Walk = %v after %d calls, want stop after 1", err, n)
	}
}

func TestOpenFile(t *testing.T) {
	tb := makeTar(t, PAX, File("etc/passwd", "root:x:0:0"), Symlink("bin", "usr/bin"), File("x", "y", Xattr("user.k", "v")))
	x, err := Build(bytes.NewReader(tb))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "index")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := dump(t, r), dump(t, x.Reader()); !reflect.DeepEqual(got, want) {
		t.Errorf("mapped index:\n%q\nin memory:\n%q", got, want)
	}
	checkOffsets(t, r, tb, map[string]string{"/etc/passwd": "root:x:0:0"})
	if xa := r.Xattrs(mustLookup(t, r, "x")); string(xa["user.k"]) != "v" {
		t.Errorf("Xattrs = %q", xa)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if r.Len() != 0 || r.Entry(0) != (Entry{}) {
		t.Errorf("closed reader still answers")
	}
	if _, err := r.Lookup("bin"); !errors.Is(err, ErrNotExist) {
		t.Errorf("Lookup after Close = %v", err)
	}

	if _, err := Open(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(missing) = %v, want fs.ErrNotExist", err)
	}
	short := filepath.Join(t.TempDir(), "short")
	if err := os.WriteFile(short, x.Bytes()[:len(x.Bytes())-1], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(short); !errors.Is(err, ErrCorruptIndex) {
		t.Errorf("Open(truncated) = %v, want ErrCorruptIndex", err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(empty); !errors.Is(err, ErrCorruptIndex) {
		t.Errorf("Open(empty) = %v, want ErrCorruptIndex", err)
	}
}
