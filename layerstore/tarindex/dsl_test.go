package tarindex

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// A small DSL that builds layer tars in memory, so no whiteout file ever sits
// in the tree and every test states its layer in a few lines.

// Tar formats a test can pick.
const (
	USTAR = tar.FormatUSTAR
	PAX   = tar.FormatPAX
	GNU   = tar.FormatGNU
)

var allFormats = []tar.Format{USTAR, PAX, GNU}

// defaultMtime has nanoseconds so that PAX tests see them; USTAR and GNU
// round to seconds in makeTar.
var defaultMtime = time.Unix(1600000000, 123456789).UTC()

// ent is one tar entry: a header and its data.
type ent struct {
	hdr  tar.Header
	body string
}

// Opt adjusts an entry's header.
type Opt func(*tar.Header)

func Mode(m int64) Opt           { return func(h *tar.Header) { h.Mode = m } }
func Owner(uid, gid int) Opt     { return func(h *tar.Header) { h.Uid, h.Gid = uid, gid } }
func MTime(t time.Time) Opt      { return func(h *tar.Header) { h.ModTime = t } }
func Typeflag(f byte) Opt        { return func(h *tar.Header) { h.Typeflag = f } }
func Devices(maj, min int64) Opt { return func(h *tar.Header) { h.Devmajor, h.Devminor = maj, min } }
func Xattr(k, v string) Opt {
	return func(h *tar.Header) {
		if h.PAXRecords == nil {
			h.PAXRecords = map[string]string{}
		}
		h.PAXRecords[xattrPAXPrefix+k] = v
	}
}

func mk(typ byte, name string, mode int64, body string, opts []Opt) ent {
	e := ent{hdr: tar.Header{Typeflag: typ, Name: name, Mode: mode, ModTime: defaultMtime}, body: body}
	if typ == tar.TypeReg {
		e.hdr.Size = int64(len(body))
	}
	for _, o := range opts {
		o(&e.hdr)
	}
	return e
}

func File(name, content string, opts ...Opt) ent {
	return mk(tar.TypeReg, name, 0o644, content, opts)
}
func Dir(name string, opts ...Opt) ent { return mk(tar.TypeDir, name, 0o755, "", opts) }
func Symlink(name, target string, opts ...Opt) ent {
	e := mk(tar.TypeSymlink, name, 0o777, "", opts)
	e.hdr.Linkname = target
	return e
}
func Hardlink(name, target string, opts ...Opt) ent {
	e := mk(tar.TypeLink, name, 0o644, "", opts)
	e.hdr.Linkname = target
	return e
}
func Char(name string, maj, min int64) ent {
	return mk(tar.TypeChar, name, 0o600, "", []Opt{Devices(maj, min)})
}
func FIFO(name string) ent { return mk(tar.TypeFifo, name, 0o600, "", nil) }

// Whiteout hides p ("a/b" is written as "a/.wh.b"), the way overlay-aware
// tools write a deletion, as an empty regular file.
func Whiteout(p string) ent {
	dir, base := splitDir(p)
	return File(joinTar(dir, whiteoutPrefix+base), "")
}

// Opaque marks dir ("" for the root) as hiding everything below it.
func Opaque(dir string) ent { return File(joinTar(dir, whiteoutOpaque), "") }

func joinTar(dir, base string) string {
	if dir == "" {
		return base
	}
	return dir + "/" + base
}

// makeTar writes ents in format f. USTAR and GNU cannot carry nanoseconds,
// so their times are rounded; anything else a format cannot carry fails.
func makeTar(t testing.TB, f tar.Format, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := e.hdr
		h.Format = f
		if f != PAX {
			h.ModTime = h.ModTime.Truncate(time.Second)
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("write header %q as %v: %v", h.Name, f, err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatalf("write %q: %v", h.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatalf("close tar: %v", err)
	}
	return buf.Bytes()
}

// buildAndLoad indexes tarBytes and round-trips the index through WriteTo
// and Load, so every test also checks the binary form. It indexes twice,
// from a source that can seek past file data and from one that cannot,
// and the two indexes must be identical.
func buildAndLoad(t testing.TB, tarBytes []byte) *Reader {
	t.Helper()
	x, err := Build(bytes.NewReader(tarBytes))
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	plain, err := Build(struct{ io.Reader }{bytes.NewReader(tarBytes)})
	if err != nil {
		t.Fatalf("Build without Seek: %v", err)
	}
	if !bytes.Equal(x.Bytes(), plain.Bytes()) {
		t.Fatal("index built by seeking past data differs from the one built by reading it")
	}
	var buf bytes.Buffer
	n, err := x.WriteTo(&buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("WriteTo = %d, %v; wrote %d", n, err, buf.Len())
	}
	r, err := Load(buf.Bytes())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return r
}

// dump lists the index one line per entry, in Walk order, in a form tests
// can compare against: "path type mode [details]".
func dump(t testing.TB, r *Reader) []string {
	t.Helper()
	var lines []string
	err := r.Walk(func(id ID, p string) error {
		e := r.Entry(id)
		if got := r.Path(id); got != p {
			t.Errorf("Path(%d) = %q, Walk said %q", id, got, p)
		}
		var sb strings.Builder
		fmt.Fprintf(&sb, "%s %s %04o", p, e.Type, e.Mode)
		if e.UID != 0 || e.GID != 0 {
			fmt.Fprintf(&sb, " owner=%d:%d", e.UID, e.GID)
		}
		switch e.Type {
		case TypeReg:
			fmt.Fprintf(&sb, " size=%d nlink=%d", e.Size, e.Nlink)
			if e.Inode != id {
				fmt.Fprintf(&sb, " ino=%s", r.Path(e.Inode))
			}
		case TypeSymlink:
			fmt.Fprintf(&sb, " -> %s", e.Linkname)
		case TypeChar, TypeBlock:
			fmt.Fprintf(&sb, " dev=%d,%d", e.Devmajor, e.Devminor)
		case TypeDir:
			fmt.Fprintf(&sb, " nlink=%d", e.Nlink)
			if e.Implicit {
				sb.WriteString(" implicit")
			}
			if e.Opaque {
				sb.WriteString(" opaque")
			}
		}
		lines = append(lines, sb.String())
		return nil
	})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return lines
}

// checkOffsets verifies, for every regular entry, that the index points at
// the content the DSL put there: the bytes at [Offset, Offset+Size) of the
// tar are the file's data.
func checkOffsets(t *testing.T, r *Reader, tarBytes []byte, want map[string]string) {
	t.Helper()
	for p, content := range want {
		id, err := r.Lookup(p)
		if err != nil {
			t.Errorf("Lookup(%q): %v", p, err)
			continue
		}
		e := r.Entry(id)
		if e.Type != TypeReg || e.Size != int64(len(content)) {
			t.Errorf("%s: type %v size %d, want reg size %d", p, e.Type, e.Size, len(content))
			continue
		}
		if e.Offset < 0 || e.Offset+e.Size > int64(len(tarBytes)) {
			t.Errorf("%s: [%d,+%d) outside the %d-byte tar", p, e.Offset, e.Size, len(tarBytes))
			continue
		}
		if got := string(tarBytes[e.Offset : e.Offset+e.Size]); got != content {
			t.Errorf("%s: data at %d = %.40q, want %.40q", p, e.Offset, got, content)
		}
	}
}
