package unionfs

import (
	"io"
	"os"
	"strings"

	"github.com/lfs-dev/lfs/layerstore/tarindex"
)

// TarSource is what a tar-backed layer needs besides its index: the bytes of
// each regular file. layerstore.Layer provides it. ReaderAt is the only
// required path (so that bytes may later come from a partial download);
// File is the zero-copy path, and may return a nil file.
type TarSource interface {
	ReaderAt(id tarindex.ID) *io.SectionReader
	File(id tarindex.ID) (f *os.File, off, size int64)
}

type tarLayer struct {
	idx *tarindex.Reader
	src TarSource
}

// TarLayer returns a Layer served from a layer tar's index, reading file
// data through src. It reads nothing at construction.
func TarLayer(idx *tarindex.Reader, src TarSource) Layer {
	return &tarLayer{idx: idx, src: src}
}

func tarType(t tarindex.Type) Type {
	switch t {
	case tarindex.TypeDir:
		return TypeDir
	case tarindex.TypeReg:
		return TypeReg
	case tarindex.TypeSymlink:
		return TypeSymlink
	case tarindex.TypeChar:
		return TypeChar
	case tarindex.TypeBlock:
		return TypeBlock
	case tarindex.TypeFIFO:
		return TypeFIFO
	case tarindex.TypeWhiteout:
		return TypeWhiteout
	}
	return TypeNone
}

func (l *tarLayer) found(id tarindex.ID) Found {
	e := l.idx.Entry(id)
	return Found{Ref: Ref{ID: uint32(id)}, Type: tarType(e.Type), Opaque: e.Opaque}
}

func (l *tarLayer) Root() (Found, error) { return l.found(l.idx.Root()), nil }

func (l *tarLayer) Lookup(dir Ref, name string) (Found, error) {
	if strings.HasPrefix(name, whiteoutPrefix) {
		// The index turned these into whiteouts and flags; a name that
		// still starts so (an AUFS leftover) is not shown.
		return Found{}, nil
	}
	id, ok := l.idx.Child(tarindex.ID(dir.ID), name)
	if !ok {
		return Found{}, nil
	}
	return l.found(id), nil
}

func (l *tarLayer) ReadDir(dir Ref) ([]DirEntry, error) {
	ids := l.idx.Children(tarindex.ID(dir.ID))
	out := make([]DirEntry, 0, len(ids))
	for _, id := range ids {
		e := l.idx.Entry(id)
		out = append(out, DirEntry{Name: e.Name, Type: tarType(e.Type), Ino: uint64(e.Inode) + 1})
	}
	return out, nil
}

func (l *tarLayer) Stat(r Ref) (Attr, error) {
	e := l.idx.Entry(tarindex.ID(r.ID))
	if e.Inode != tarindex.ID(r.ID) {
		// One inode, one set of attributes: a hard link group's are
		// its first member's.
		e = l.idx.Entry(e.Inode)
	}
	t := tarType(e.Type)
	a := Attr{
		Ino:   uint64(e.Inode) + 1, // never 0: readdir skips d_ino 0
		Mode:  t.ModeBits() | e.Mode&0o7777,
		Nlink: e.Nlink,
		UID:   e.UID,
		GID:   e.GID,
		Size:  e.Size,
		Atime: e.ModTime, Mtime: e.ModTime, Ctime: e.ModTime,
	}
	switch t {
	case TypeSymlink:
		a.Size = int64(len(e.Linkname))
	case TypeChar, TypeBlock:
		a.Rdev = mkdev(e.Devmajor, e.Devminor)
	}
	if a.Nlink == 0 {
		a.Nlink = 1
	}
	a.Blocks = (a.Size + 511) / 512
	return a, nil
}

func (l *tarLayer) Readlink(r Ref) (string, error) {
	return l.idx.Entry(tarindex.ID(r.ID)).Linkname, nil
}

func (l *tarLayer) Open(r Ref) (Data, error) {
	id := tarindex.ID(r.ID)
	return &tarData{l: l, id: id, sr: l.src.ReaderAt(id)}, nil
}

func (l *tarLayer) Xattrs(r Ref) (map[string][]byte, error) {
	e := l.idx.Entry(tarindex.ID(r.ID))
	m := l.idx.Xattrs(e.Inode)
	for k := range m {
		if privateXattr(k) {
			delete(m, k)
		}
	}
	return m, nil
}

func (l *tarLayer) Links(r Ref) ([]string, error) {
	want := l.idx.Entry(tarindex.ID(r.ID)).Inode
	var out []string
	for id := range l.idx.Len() {
		if e := l.idx.Entry(tarindex.ID(id)); e.Inode == want && e.Type == tarindex.TypeReg {
			out = append(out, strings.TrimPrefix(l.idx.Path(tarindex.ID(id)), "/"))
		}
	}
	return out, nil
}

type tarData struct {
	l  *tarLayer
	id tarindex.ID
	sr *io.SectionReader
}

func (d *tarData) ReadAt(p []byte, off int64) (int, error) { return d.sr.ReadAt(p, off) }
func (d *tarData) Size() int64                             { return d.sr.Size() }
func (d *tarData) Close() error                            { return nil }
func (d *tarData) File() (*os.File, int64, bool) {
	f, off, _ := d.l.src.File(d.id)
	return f, off, f != nil
}

// mkdev encodes a device number as Linux's dev_t.
func mkdev(major, minor uint32) uint64 {
	return uint64(major&0xfff)<<8 | uint64(major&^0xfff)<<32 |
		uint64(minor&0xff) | uint64(minor&^0xff)<<12
}
