package container

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// tree lists dir as "path type" lines (d, f:CONTENT, l:TARGET).
func tree(t *testing.T, dir string) string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out = append(out, rel+" l:"+target)
		case fi.IsDir():
			out = append(out, rel+" d")
		default:
			b, _ := os.ReadFile(p)
			out = append(out, rel+" f:"+strings.TrimSpace(string(b)))
		}
		return nil
	})
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// ctrTree is a container-like tree: /d with files, a symlink to the root
// and one to an absolute path, and a file.
func ctrTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "d/sub"), 0o755)
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "d/a"), []byte("a"), 0o644)
	os.WriteFile(filepath.Join(root, "d/sub/b"), []byte("b"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("ctr"), 0o644)
	os.WriteFile(filepath.Join(root, "file"), []byte("file"), 0o644)
	os.Symlink("/", filepath.Join(root, "up"))
	os.Symlink("../../../../../../etc", filepath.Join(root, "dots"))
	os.Symlink("/etc/passwd", filepath.Join(root, "d/pw"))
	return root
}

// TestCopyPathRules is docker cp's table, on plain directories.
func TestCopyPathRules(t *testing.T) {
	for _, tc := range []struct {
		src, dst string
		pre      []string // dirs made in dst first ("x/") or files ("x")
		want     string
		err      string
	}{
		{"/file", "/out", nil, "out f:file", ""},
		{"/file", "/out", []string{"out/"}, "out d\nout/file f:file", ""},
		{"/file", "/out", []string{"out"}, "out f:file", ""},
		{"/file", "/out/", nil, "", "destination directory /out/ does not exist"},
		{"/file", "/no/out", nil, "", "no such directory: /no"},
		{"/file/", "/out", nil, "", "not a directory"},
		{"/d", "/out", nil, "out d\nout/a f:a\nout/pw l:/etc/passwd\nout/sub d\nout/sub/b f:b", ""},
		{"/d", "/out", []string{"out/"}, "out d\nout/d d\nout/d/a f:a\nout/d/pw l:/etc/passwd\nout/d/sub d\nout/d/sub/b f:b", ""},
		{"/d/.", "/out", []string{"out/"}, "out d\nout/a f:a\nout/pw l:/etc/passwd\nout/sub d\nout/sub/b f:b", ""},
		{"/d", "/out", []string{"out"}, "", "cannot copy a directory to a file"},
		{"/nosuch", "/out", nil, "", "could not find the file /nosuch"},
		// Symlinks in the source tree resolve in its root, never on the host.
		{"/up/etc/passwd", "/out", nil, "out f:ctr", ""},
		{"/dots/passwd", "/out", nil, "out f:ctr", ""},
		{"/d/pw", "/out", nil, "out l:/etc/passwd", ""},
	} {
		src, dst := ctrTree(t), t.TempDir()
		for _, p := range tc.pre {
			if strings.HasSuffix(p, "/") {
				os.MkdirAll(filepath.Join(dst, p), 0o755)
			} else {
				os.WriteFile(filepath.Join(dst, p), []byte("old"), 0o644)
			}
		}
		sr, _ := OpenRoot(src)
		dr, _ := OpenRoot(dst)
		_, err := CopyPath(sr, tc.src, dr, tc.dst, CopyOptions{})
		sr.Close()
		dr.Close()
		if tc.err != "" {
			if !errors.Is(err, ErrCopy) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("cp %s %s: err %v, want %q", tc.src, tc.dst, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("cp %s %s: %v", tc.src, tc.dst, err)
			continue
		}
		if got := tree(t, dst); got != tc.want {
			t.Errorf("cp %s %s:\n%s\nwant:\n%s", tc.src, tc.dst, got, tc.want)
		}
	}
}

// TestCopyIntoNeverLeaves: extraction through symlinks in the
// destination tree (to "/", to "../..", a symlink in the tar replaced by
// a directory) lands inside the root, and "-L" follows a source symlink
// inside its root.
func TestCopyIntoNeverLeaves(t *testing.T) {
	outside := t.TempDir()
	ctr := ctrTree(t)
	os.Symlink(outside, filepath.Join(ctr, "host"))
	host, _ := OpenRoot("/")
	defer host.Close()
	cr, _ := OpenRoot(ctr)
	defer cr.Close()
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "x"), []byte("x"), 0o644)
	os.MkdirAll(filepath.Join(ctr, "tmp"), 0o755)
	// The host's path exists on the host only: inside the root it does not.
	for dst, fails := range map[string]bool{"/up/tmp": false, "/dots": false, "/host": false, "/up" + outside + "/": true} {
		if _, err := CopyPath(host, filepath.Join(src, "x"), cr, dst, CopyOptions{}); (err != nil) != fails {
			t.Errorf("cp into %s: %v", dst, err)
		}
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("a copy into the root left it: %v", ents)
	}
	for _, p := range []string{"tmp/x", "etc/x"} {
		if _, err := os.Stat(filepath.Join(ctr, p)); err != nil {
			t.Errorf("%s not copied inside the root: %v", p, err)
		}
	}
	// A tar that makes a symlink and then writes through it.
	var buf bytes.Buffer
	tr := tarOf(t, []tarEntry{{name: "esc", link: outside}, {name: "esc/f", data: "f"}})
	buf.Write(tr)
	ExtractPath(&buf, cr, "/", ExtractOptions{}) // esc/f lands in the root's /tmp/... or fails
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("an archive wrote outside the root: %v", ents)
	}
	out := t.TempDir()
	or, _ := OpenRoot(out)
	defer or.Close()
	if _, err := CopyPath(cr, "/d/pw", or, "/pw", CopyOptions{FollowLink: true}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "pw")); string(b) != "ctr" {
		t.Errorf("-L of /d/pw -> /etc/passwd: %q, want the container's", b)
	}
}

type tarEntry struct{ name, data, link string }

func tarOf(t *testing.T, ents []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(e.data))}
		if e.link != "" {
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, e.link, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.data))
	}
	tw.Close()
	return buf.Bytes()
}

// TestRemote: the control socket carries isdir, archive and extract,
// and their errors, as Root answers them (here the server's root is this
// process's own, "/").
func TestRemote(t *testing.T) {
	dir := t.TempDir()
	srv, err := serveControl(dir, os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	r := &Remote{dir: dir}
	data := ctrTree(t)
	if isDir, err := r.IsDir(data+"/d", false); err != nil || !isDir {
		t.Errorf("IsDir: %v, %v", isDir, err)
	}
	if _, err := r.IsDir(data+"/nosuch", false); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("IsDir of a missing path: %v, want ErrNotExist", err)
	}
	var buf bytes.Buffer
	if err := r.Archive(&buf, data+"/d", "d", false); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if err := r.Extract(&buf, out, ExtractOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := tree(t, out); got != "d d\nd/a f:a\nd/pw l:/etc/passwd\nd/sub d\nd/sub/b f:b" {
		t.Errorf("archive and extract through the socket:\n%s", got)
	}
	if err := r.Extract(bytes.NewReader(tarOf(t, []tarEntry{{name: "../x", data: "x"}})), out, ExtractOptions{}); err == nil ||
		!strings.Contains(err.Error(), "leads outside") {
		t.Errorf("a bad archive's error through the socket: %v", err)
	}
	host, _ := OpenRoot("/")
	defer host.Close()
	if _, err := CopyPath(r, data+"/file", host, out+"/copied", CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out + "/copied"); string(b) != "file" {
		t.Errorf("CopyPath from a Remote: %q", b)
	}
}
