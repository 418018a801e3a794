package unionfs

import (
	"io"
	"os"
	"strings"
	"time"
)

// Type is the kind of an entry.
type Type uint8

// Entry types. TypeNone means absent; TypeWhiteout means "deleted here,
// and hidden in every layer below".
const (
	TypeNone Type = iota
	TypeDir
	TypeReg
	TypeSymlink
	TypeChar
	TypeBlock
	TypeFIFO
	TypeSocket
	TypeWhiteout
)

var typeNames = [...]string{"none", "dir", "reg", "symlink", "char", "block", "fifo", "socket", "whiteout"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "invalid"
}

// Mode bits of each type, as in st_mode.
var typeModes = [...]uint32{0, 0o040000, 0o100000, 0o120000, 0o020000, 0o060000, 0o010000, 0o140000, 0}

// ModeBits returns t's S_IFMT bits.
func (t Type) ModeBits() uint32 {
	if int(t) < len(typeModes) {
		return typeModes[t]
	}
	return 0
}

func typeFromMode(m uint32) Type {
	switch m & 0o170000 {
	case 0o040000:
		return TypeDir
	case 0o100000:
		return TypeReg
	case 0o120000:
		return TypeSymlink
	case 0o020000:
		return TypeChar
	case 0o060000:
		return TypeBlock
	case 0o010000:
		return TypeFIFO
	case 0o140000:
		return TypeSocket
	}
	return TypeNone
}

// Attr is what stat reports of an entry. Within a Layer, Ino is the layer's
// own inode number; the union turns it into one unique in the mount.
type Attr struct {
	Ino                 uint64
	Mode                uint32 // type and permission bits, as st_mode
	Nlink               uint32
	UID, GID            uint32
	Size                int64
	Blocks              int64 // 512-byte blocks
	Rdev                uint64
	Atime, Mtime, Ctime time.Time
}

// Type returns the entry type that Mode encodes.
func (a *Attr) Type() Type { return typeFromMode(a.Mode) }

// Ref names an entry inside one layer: an index ID for a tar layer, a path
// relative to the layer's root ("." for the root) for a directory layer.
type Ref struct {
	ID   uint32
	Path string
}

// Found is what one layer holds under a name.
type Found struct {
	Ref  Ref
	Type Type // TypeNone: nothing here; TypeWhiteout: deleted here and below
	// Opaque is set on a directory whose lower layers' entries are hidden.
	Opaque bool
}

// DirEntry is one name in a layer's directory, or in a merged directory.
type DirEntry struct {
	Name string
	Type Type
	Ino  uint64
}

// Layer is one read-only layer of a union: a tar served from its index
// ([TarLayer]) or a directory ([DirLayer]). A Layer never shows the names
// it uses for bookkeeping (".wh.*"): it reports them as whiteouts or opaque
// flags instead.
//
// Lifecycle: the union calls Root once, then walks with Lookup from the Refs
// it got; Refs stay valid as long as the layer is open. Stat, Readlink, Open
// and Xattrs take a Ref of a present (not whiteout) entry. Errors are those
// of the layer's storage (a corrupt index, an unreadable directory), never
// "not found": absence is TypeNone.
//
// Layers are safe for concurrent use.
type Layer interface {
	// Root returns the layer's root directory.
	Root() (Found, error)
	// Lookup finds name in the directory dir.
	Lookup(dir Ref, name string) (Found, error)
	// ReadDir lists dir, whiteouts included (as TypeWhiteout entries
	// named by the name they hide), "." and ".." excluded.
	ReadDir(dir Ref) ([]DirEntry, error)
	// Stat returns the entry's attributes; Ino is the layer's.
	Stat(r Ref) (Attr, error)
	// Readlink returns a symlink's target.
	Readlink(r Ref) (string, error)
	// Open opens a regular file's data.
	Open(r Ref) (Data, error)
	// Xattrs returns the entry's extended attributes, bookkeeping
	// attributes (overlayfs's, lfs's) left out.
	Xattrs(r Ref) (map[string][]byte, error)
}

// Data is an open regular file of a lower layer.
type Data interface {
	io.ReaderAt
	// Size is the file's length.
	Size() int64
	// File returns a file and the offset at which the data begins in it,
	// for zero-copy reads (splice, copy_file_range); ok is false when the
	// bytes are not in a local file.
	File() (f *os.File, off int64, ok bool)
	Close() error
}

// Names the upper directory and OCI layers use for bookkeeping.
const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
	// originXattr holds the inode number an upper entry had before it
	// was copied up, so that st_ino survives copy-up and rename.
	originXattr = "user.lfs.origin"
)

// Reserved reports whether name is one the upper directory keeps for
// itself; such names are never shown and cannot be created.
func Reserved(name string) bool { return strings.HasPrefix(name, whiteoutPrefix) }

// privateXattr reports whether an attribute is bookkeeping of lfs or of
// overlayfs, which the merged view hides.
func privateXattr(name string) bool {
	return strings.HasPrefix(name, "user.lfs.") ||
		strings.HasPrefix(name, "trusted.overlay.") ||
		strings.HasPrefix(name, "user.overlay.")
}
