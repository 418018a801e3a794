// Package unionfstest builds layers for union filesystem tests and holds
// the differential conformance suite: the same steps run on a union under
// test and on kernel overlayfs over the same layers must leave the same
// trees and answer the same errors.
//
// Layers are written in a small DSL (File, Dir, Symlink, Hardlink,
// Whiteout, Opaque, ...), from which a test makes an OCI layer tar
// (Layer.Tar) or a directory in overlayfs's or OCI's dialect
// (Layer.Extract), so that no whiteout file ever sits in the source tree.
package unionfstest

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lfs-dev/lfs/layerstore/tarindex"
	"github.com/lfs-dev/lfs/unionfs"
	"golang.org/x/sys/unix"
)

// Mtime is every DSL entry's modification time.
var Mtime = time.Unix(1600000000, 0).UTC()

type kind int

const (
	kFile kind = iota
	kDir
	kSymlink
	kHardlink
	kWhiteout
	kOpaque
	kFIFO
	kChar
)

// Entry is one entry of a layer.
type Entry struct {
	kind         kind
	Path         string
	Content      string
	Target       string // symlink or hard link target
	Mode         int64
	UID, GID     int
	Major, Minor int64
	Xattrs       map[string]string
}

// Layer is a layer's entries, applied in order.
type Layer []Entry

// Opt adjusts an entry.
type Opt func(*Entry)

// Mode sets the permission bits.
func Mode(m int64) Opt { return func(e *Entry) { e.Mode = m } }

// Owner sets the owner.
func Owner(uid, gid int) Opt { return func(e *Entry) { e.UID, e.GID = uid, gid } }

// Xattr adds an extended attribute.
func Xattr(k, v string) Opt {
	return func(e *Entry) {
		if e.Xattrs == nil {
			e.Xattrs = map[string]string{}
		}
		e.Xattrs[k] = v
	}
}

func mk(k kind, p string, mode int64, opts []Opt) Entry {
	e := Entry{kind: k, Path: p, Mode: mode}
	for _, o := range opts {
		o(&e)
	}
	return e
}

// File is a regular file.
func File(p, content string, opts ...Opt) Entry {
	e := mk(kFile, p, 0o644, opts)
	e.Content = content
	return e
}

// Dir is a directory.
func Dir(p string, opts ...Opt) Entry { return mk(kDir, p, 0o755, opts) }

// Symlink is a symbolic link to target.
func Symlink(p, target string, opts ...Opt) Entry {
	e := mk(kSymlink, p, 0o777, opts)
	e.Target = target
	return e
}

// Hardlink is a hard link to the earlier regular file target.
func Hardlink(p, target string) Entry {
	e := mk(kHardlink, p, 0, nil)
	e.Target = target
	return e
}

// Whiteout deletes p from the layers below.
func Whiteout(p string) Entry { return mk(kWhiteout, p, 0, nil) }

// Opaque hides what the layers below hold in the directory dir.
func Opaque(dir string) Entry { return mk(kOpaque, dir, 0, nil) }

// FIFO is a named pipe.
func FIFO(p string, opts ...Opt) Entry { return mk(kFIFO, p, 0o644, opts) }

// Char is a character device.
func Char(p string, major, minor int64, opts ...Opt) Entry {
	e := mk(kChar, p, 0o600, opts)
	e.Major, e.Minor = major, minor
	return e
}

const (
	whPrefix = ".wh."
	whOpaque = ".wh..wh..opq"
)

// Tar returns the layer as an OCI layer tar (PAX, whiteouts as ".wh."
// files), parents synthesised by readers.
func (l Layer) Tar() ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range l {
		h := &tar.Header{Name: e.Path, Mode: e.Mode, Uid: e.UID, Gid: e.GID, ModTime: Mtime, Format: tar.FormatPAX}
		dir, base := path.Split(e.Path)
		switch e.kind {
		case kFile:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.Content))
		case kDir:
			h.Typeflag = tar.TypeDir
		case kSymlink:
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.Target
		case kHardlink:
			h.Typeflag, h.Linkname = tar.TypeLink, e.Target
		case kWhiteout:
			h.Typeflag, h.Name, h.Mode = tar.TypeReg, dir+whPrefix+base, 0o644
		case kOpaque:
			h.Typeflag, h.Name, h.Mode = tar.TypeReg, strings.TrimSuffix(e.Path, "/")+"/"+whOpaque, 0o644
			if e.Path == "" || e.Path == "." {
				h.Name = whOpaque
			}
		case kFIFO:
			h.Typeflag = tar.TypeFifo
		case kChar:
			h.Typeflag, h.Devmajor, h.Devminor = tar.TypeChar, e.Major, e.Minor
		}
		for k, v := range e.Xattrs {
			if h.PAXRecords == nil {
				h.PAXRecords = map[string]string{}
			}
			h.PAXRecords["SCHILY.xattr."+k] = v
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("tar %s: %w", e.Path, err)
		}
		if e.kind == kFile {
			if _, err := tw.Write([]byte(e.Content)); err != nil {
				return nil, fmt.Errorf("tar %s: %w", e.Path, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("tar: %w", err)
	}
	return buf.Bytes(), nil
}

// Dialect is how a directory layer records deletions.
type Dialect int

const (
	// Overlay: character devices 0/0 and trusted.overlay.opaque (root
	// only), as kernel overlayfs reads them.
	Overlay Dialect = iota
	// OCI: ".wh.NAME" and ".wh..wh..opq" files, as lfs's upper holds them.
	OCI
)

// Extract writes the layer into dir (which must exist) in dialect d.
// Ownership needs root; so do Overlay whiteouts.
func (l Layer) Extract(dir string, d Dialect) error {
	var dirs []string
	mkparents := func(p string) error {
		return os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
	}
	for _, e := range l {
		p := filepath.Join(dir, e.Path)
		if err := mkparents(e.Path); err != nil {
			return err
		}
		var err error
		switch e.kind {
		case kFile:
			os.Remove(p)
			err = os.WriteFile(p, []byte(e.Content), 0o600)
		case kDir:
			err = os.Mkdir(p, 0o700)
			if os.IsExist(err) {
				err = nil
			}
			dirs = append(dirs, p)
		case kSymlink:
			err = os.Symlink(e.Target, p)
		case kHardlink:
			err = os.Link(filepath.Join(dir, e.Target), p)
		case kFIFO:
			err = unix.Mkfifo(p, 0o600)
		case kChar:
			err = unix.Mknod(p, unix.S_IFCHR|0o600, int(unix.Mkdev(uint32(e.Major), uint32(e.Minor))))
		case kWhiteout:
			if d == Overlay {
				err = unix.Mknod(p, unix.S_IFCHR, 0)
			} else {
				b, n := filepath.Split(p)
				err = os.WriteFile(filepath.Join(b, whPrefix+n), nil, 0o644)
			}
		case kOpaque:
			if err = os.MkdirAll(p, 0o755); err != nil {
				break
			}
			if d == Overlay {
				err = unix.Setxattr(p, "trusted.overlay.opaque", []byte("y"), 0)
			} else {
				err = os.WriteFile(filepath.Join(p, whOpaque), nil, 0o644)
			}
		}
		if err != nil {
			return fmt.Errorf("extract %s: %w", e.Path, err)
		}
		if e.kind == kWhiteout || e.kind == kOpaque || e.kind == kHardlink {
			continue
		}
		for k, v := range e.Xattrs {
			if err := unix.Lsetxattr(p, k, []byte(v), 0); err != nil {
				return fmt.Errorf("extract %s: xattr %s: %w", e.Path, k, err)
			}
		}
		if err := os.Lchown(p, e.UID, e.GID); err != nil && os.Geteuid() == 0 {
			return fmt.Errorf("extract %s: %w", e.Path, err)
		}
		if e.kind != kSymlink {
			if err := os.Chmod(p, os.FileMode(e.Mode&0o777)|modeBits(e.Mode)); err != nil {
				return fmt.Errorf("extract %s: %w", e.Path, err)
			}
		}
	}
	// Times last, deepest first, since creating entries changes them.
	var all []string
	filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err == nil && p != dir {
			all = append(all, p)
		}
		return nil
	})
	all = append(all, dirs...)
	sort.Sort(sort.Reverse(sort.StringSlice(all)))
	ts := []unix.Timespec{unix.NsecToTimespec(Mtime.UnixNano()), unix.NsecToTimespec(Mtime.UnixNano())}
	for _, p := range append(all, dir) {
		unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
	}
	return nil
}

func modeBits(m int64) os.FileMode {
	var fm os.FileMode
	if m&0o4000 != 0 {
		fm |= os.ModeSetuid
	}
	if m&0o2000 != 0 {
		fm |= os.ModeSetgid
	}
	if m&0o1000 != 0 {
		fm |= os.ModeSticky
	}
	return fm
}

// TarSource serves a test layer's bytes from its tar file, as
// layerstore.Layer does from the store; pass it to unionfs.TarLayer.
type TarSource struct {
	F   *os.File
	Idx *tarindex.Reader
}

// ReaderAt reads a regular entry's data from the tar.
func (s *TarSource) ReaderAt(id tarindex.ID) *io.SectionReader {
	e := s.Idx.Entry(id)
	return io.NewSectionReader(s.F, e.Offset, e.Size)
}

// File is the zero-copy path: the tar and the entry's data range.
func (s *TarSource) File(id tarindex.ID) (*os.File, int64, int64) {
	e := s.Idx.Entry(id)
	return s.F, e.Offset, e.Size
}

// TarLayers writes layers (bottom first) as tars under dir, indexes them,
// and returns them as unionfs layers, topmost first, as a mount stacks them.
func TarLayers(t testing.TB, dir string, layers []Layer) []unionfs.Layer {
	t.Helper()
	var out []unionfs.Layer
	for i, l := range layers {
		b, err := l.Tar()
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, fmt.Sprintf("layer%d.tar", i))
		if err := os.WriteFile(p, b, 0o444); err != nil {
			t.Fatal(err)
		}
		x, err := tarindex.Build(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		out = append([]unionfs.Layer{unionfs.TarLayer(x.Reader(), &TarSource{F: f, Idx: x.Reader()})}, out...)
	}
	return out
}
