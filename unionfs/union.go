package unionfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// FS is a union of read-only layers under an optional writable upper
// directory. Its methods take paths relative to the union's root ("" or
// "." for the root, no leading slash) and are safe for concurrent use.
type FS struct {
	// layers[0] reads the upper directory (nil without one); lower
	// layers follow, topmost first. An entry's layer index is also the
	// tag that makes its inode number unique in the union.
	layers   []Layer
	upper    *dirLayer
	work     string
	readOnly bool
	root     bool // we may chown (euid 0)

	// copyMu serialises copy-ups, so that concurrent first writes to one
	// lower file copy it once. Reads never take it.
	copyMu sync.Mutex
	tmpSeq uint64

	// epoch counts completed changes to the upper directory. A Node
	// resolved at epoch e still describes the tree while the epoch is e:
	// lower layers never change, and the upper changes only through
	// this FS. Read paths compare it instead of asking the upper again.
	epoch atomic.Uint64
}

// changed ends a change of the upper directory: every snapshot taken
// before it is suspect from now on. Mutating methods defer it, so that a
// walk that overlapped the change is not trusted after it.
func (f *FS) changed() { f.epoch.Add(1) }

// Option configures New.
type Option func(*options)

type options struct {
	work     string
	readOnly bool
}

// WorkDir sets the directory where copy-ups are prepared before they are
// renamed into the upper directory; it must be on the upper's filesystem.
// The default is ".wh..wh..work" inside the upper directory, a name the
// union never shows and that OCI tools skip as AUFS metadata.
func WorkDir(dir string) Option { return func(o *options) { o.work = dir } }

// ReadOnly refuses every change with ErrReadOnly, even with an upper.
func ReadOnly() Option { return func(o *options) { o.readOnly = true } }

// Directory name of the default work area inside the upper directory.
const defaultWork = whiteoutPrefix + whiteoutPrefix + "work"

// New returns the union of lowers (topmost first) under upper. An empty
// upper makes a read-only union. The layers stay the caller's to close.
func New(upper string, lowers []Layer, opts ...Option) (*FS, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	f := &FS{readOnly: o.readOnly || upper == "", root: os.Geteuid() == 0}
	f.layers = append([]Layer{nil}, lowers...)
	if upper != "" {
		u, err := openDirLayer(upper)
		if err != nil {
			return nil, err
		}
		f.upper = u
		f.layers[0] = u
		f.work = o.work
		if f.work == "" {
			f.work = filepath.Join(u.root, defaultWork)
		}
		if !f.readOnly {
			if err := os.MkdirAll(f.work, 0o700); err != nil {
				u.close()
				return nil, fmt.Errorf("create work dir: %w", err)
			}
		}
	}
	return f, nil
}

// Close releases the upper directory. Open Files stay usable.
func (f *FS) Close() error {
	if f.upper != nil {
		return f.upper.close()
	}
	return nil
}

// ReadOnly reports whether the union refuses changes.
func (f *FS) ReadOnly() bool { return f.readOnly }

// UpperDir is the upper directory ("" when there is none).
func (f *FS) UpperDir() string {
	if f.upper == nil {
		return ""
	}
	return f.upper.root
}

type hit struct {
	layer int
	Found
}

// Node is a merged entry as the union resolved it: the layers that hold
// it, topmost first. A directory's hits are every layer whose directory
// merges into it, down to the first opaque one; a non-directory has one.
// A Node is a snapshot; mutating methods resolve their paths again.
type Node struct {
	Path string // relative to the root, "." for the root
	Type Type
	hits []hit

	// epoch is the FS epoch the snapshot is known good at (see Refresh).
	epoch atomic.Uint64
	// What a lower-only entry shows never changes; it is computed once.
	attr atomic.Pointer[Attr]
	ents atomic.Pointer[[]DirEntry]
}

// InUpper reports whether the upper directory holds the entry (it was
// created there or copied up).
func (n *Node) InUpper() bool { return n.hits[0].layer == 0 }

// Lower reports whether only lower layers hold the entry, so that it
// cannot change while the union is mounted (kernel caches may keep it).
func (n *Node) Lower() bool { return n.hits[0].layer > 0 }

func clean(p string) string {
	p = strings.Trim(p, "/")
	if p == "" {
		return "."
	}
	return p
}

// rootNode resolves the root directory.
func (f *FS) rootNode() (*Node, error) {
	n := &Node{Path: ".", Type: TypeDir}
	for i, l := range f.layers {
		if l == nil {
			continue
		}
		r, err := l.Root()
		if err != nil {
			return nil, err
		}
		n.hits = append(n.hits, hit{i, r})
		if r.Opaque {
			break
		}
	}
	if len(n.hits) == 0 {
		return nil, fmt.Errorf("union has no layers: %w", ErrInvalid)
	}
	return n, nil
}

// Resolve walks path from the root.
func (f *FS) Resolve(path string) (*Node, error) {
	e := f.epoch.Load()
	n, err := f.rootNode()
	if err != nil {
		return nil, err
	}
	n.epoch.Store(e)
	p := clean(path)
	if p == "." {
		return n, nil
	}
	for _, c := range strings.Split(p, "/") {
		if n, err = f.Lookup(n, c); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// Lookup finds name in the merged directory dir. The upper directory is
// always asked, even if dir's snapshot predates its copy-up.
func (f *FS) Lookup(dir *Node, name string) (*Node, error) {
	if dir.Type != TypeDir {
		return nil, ErrNotDir
	}
	if Reserved(name) || name == "." || name == ".." || name == "" {
		return nil, ErrNotExist
	}
	// The child is no fresher than the snapshot of dir it came from.
	n := &Node{Path: join(dir.Path, name)}
	n.epoch.Store(min(f.epoch.Load(), dir.epoch.Load()))
	try := func(layer int, in Ref) (stop bool, err error) {
		fd, err := f.layers[layer].Lookup(in, name)
		if err != nil {
			return true, err
		}
		switch {
		case fd.Type == TypeNone:
			return false, nil
		case fd.Type == TypeWhiteout:
			return true, nil
		case len(n.hits) == 0:
			n.Type = fd.Type
			n.hits = append(n.hits, hit{layer, fd})
			return fd.Type != TypeDir || fd.Opaque, nil
		case fd.Type != TypeDir:
			// A non-directory under a directory ends the merge.
			return true, nil
		}
		n.hits = append(n.hits, hit{layer, fd})
		return fd.Opaque, nil
	}
	stop := false
	var err error
	if f.upper != nil {
		if stop, err = try(0, Ref{Path: dir.Path}); err != nil {
			return nil, err
		}
	}
	if !stop && !(dir.hits[0].layer == 0 && dir.hits[0].Opaque) {
		for _, h := range dir.hits {
			if h.layer == 0 {
				continue
			}
			if stop, err = try(h.layer, h.Ref); err != nil {
				return nil, err
			}
			if stop {
				break
			}
		}
	}
	if len(n.hits) == 0 {
		return nil, ErrNotExist
	}
	return n, nil
}

// Inode numbers: a layer's own number in the low 48 bits, the layer's
// index above them, so that numbers from different layers never collide.
// The upper's index is 0: its own st_ino values (below 2^48 on every
// common filesystem) pass unchanged.
const inoShift = 48

func ino(layer int, local uint64) uint64 {
	return uint64(layer)<<inoShift | local&(1<<inoShift-1)
}

// Attr returns n's attributes as the merged view shows them.
func (f *FS) Attr(n *Node) (Attr, error) {
	if a := n.attr.Load(); a != nil {
		return *a, nil
	}
	top := n.hits[0]
	a, err := f.layers[top.layer].Stat(top.Ref)
	if err != nil {
		return Attr{}, err
	}
	a.Ino = f.inode(n, a.Ino)
	if n.Type == TypeDir && len(n.hits) > 1 {
		// As overlayfs: counting subdirectories across layers is not
		// worth it, and find(1) takes 1 as "unknown".
		a.Nlink = 1
	}
	if n.Lower() {
		n.attr.Store(&a)
	}
	return a, nil
}

// inode picks n's inode number: its lower origin's once copied up (kept
// in an xattr, so that hard links and renames keep it), else the
// topmost lower directory's for a merged directory, else the top layer's.
func (f *FS) inode(n *Node, local uint64) uint64 {
	top := n.hits[0]
	if top.layer != 0 {
		return ino(top.layer, local)
	}
	if n.Type == TypeReg || n.Type == TypeDir {
		if o, ok := f.origin(top.Ref.Path); ok {
			return o
		}
	}
	if n.Type == TypeDir && len(n.hits) > 1 {
		if a, err := f.layers[n.hits[1].layer].Stat(n.hits[1].Ref); err == nil {
			return ino(n.hits[1].layer, a.Ino)
		}
	}
	return ino(0, local)
}

func (f *FS) origin(p string) (uint64, bool) {
	var b [8]byte
	sz, err := unix.Lgetxattr(f.upper.abs(p), originXattr, b[:])
	if err != nil || sz != 8 {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b[:]), true
}

// ReadDir lists the merged directory at path: each visible name once,
// upper entries first, then each lower's in its order; whiteouts, reserved
// names, "." and ".." are left out. Ino is the entry's st_ino.
func (f *FS) ReadDir(path string) ([]DirEntry, error) {
	n, err := f.Resolve(path)
	if err != nil {
		return nil, err
	}
	return f.readDir(n)
}

// ReadDirNode is ReadDir for a node just refreshed (see Refresh). The
// slice is shared: callers must not change it.
func (f *FS) ReadDirNode(n *Node) ([]DirEntry, error) {
	if e := n.ents.Load(); e != nil {
		return *e, nil
	}
	ents, err := f.readDir(n)
	if err == nil && n.Lower() {
		n.ents.Store(&ents)
	}
	return ents, err
}

func (f *FS) readDir(n *Node) ([]DirEntry, error) {
	if n.Type != TypeDir {
		return nil, ErrNotDir
	}
	var out []DirEntry
	seen := map[string]struct{}{}
	for _, h := range n.hits {
		ents, err := f.layers[h.layer].ReadDir(h.Ref)
		if err != nil {
			return nil, err
		}
		// Within a layer an entry beats a whiteout of the same name
		// (OCI: a whiteout hides only the layers below it).
		for _, e := range ents {
			if e.Type == TypeWhiteout {
				continue
			}
			if _, ok := seen[e.Name]; ok {
				continue
			}
			seen[e.Name] = struct{}{}
			if h.layer == 0 {
				e.Ino = f.upperDirentIno(n, e)
			} else {
				e.Ino = ino(h.layer, e.Ino)
			}
			out = append(out, e)
		}
		for _, e := range ents {
			if e.Type == TypeWhiteout {
				seen[e.Name] = struct{}{}
			}
		}
	}
	return out, nil
}

// upperDirentIno gives an upper entry the inode number stat will report.
func (f *FS) upperDirentIno(dir *Node, e DirEntry) uint64 {
	if e.Type != TypeReg && e.Type != TypeDir {
		return ino(0, e.Ino)
	}
	if o, ok := f.origin(join(dir.Path, e.Name)); ok {
		return o
	}
	if e.Type == TypeDir {
		if c, err := f.Lookup(dir, e.Name); err == nil {
			if a, err := f.Attr(c); err == nil {
				return a.Ino
			}
		}
	}
	return ino(0, e.Ino)
}

// Refresh returns n if it still describes path p, else p resolved again.
// A snapshot taken since the last change of the upper is good as it is.
// Else a lower-only file's goes stale only when the entry is copied up or
// deleted, which one lstat of the upper tells; other snapshots are
// resolved again. It lets the hot paths (open, getattr, readdir) skip
// walking from the root.
func (f *FS) Refresh(n *Node, p string) (*Node, error) {
	p = clean(p)
	if n == nil || n.Path != p {
		return f.Resolve(p)
	}
	e := f.epoch.Load()
	if n.epoch.Load() == e {
		return n, nil
	}
	if n.Lower() && n.Type != TypeDir {
		if f.upper == nil {
			return n, nil
		}
		var st unix.Stat_t
		// Absent from the upper, no whiteout beside it: unchanged.
		if f.upper.lstat(p, &st) == unix.ENOENT {
			dir, name := splitPath(p)
			if f.upper.lstat(join(dir, whiteoutPrefix+name), &st) != nil {
				n.epoch.Store(e)
				return n, nil
			}
		}
	}
	return f.Resolve(p)
}

func splitPath(p string) (dir, name string) {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i], p[i+1:]
	}
	return ".", p
}

// OpenNode is Open for a node just refreshed (see Refresh).
func (f *FS) OpenNode(n *Node, flags int) (*File, error) { return f.open(n, flags) }

// Readlink returns the target of the symlink at path.
func (f *FS) Readlink(path string) (string, error) {
	n, err := f.Resolve(path)
	if err != nil {
		return "", err
	}
	if n.Type != TypeSymlink {
		return "", ErrInvalid
	}
	return f.layers[n.hits[0].layer].Readlink(n.hits[0].Ref)
}

// Getxattr returns the extended attribute name of path; ErrNoAttr if it
// has none by that name (bookkeeping attributes are never found).
func (f *FS) Getxattr(path, name string) ([]byte, error) {
	n, err := f.Resolve(path)
	if err != nil {
		return nil, err
	}
	if privateXattr(name) {
		return nil, ErrNoAttr
	}
	top := n.hits[0]
	if top.layer == 0 {
		v, err := getXattr(f.upper.abs(top.Ref.Path), name)
		if errors.Is(err, unix.ENODATA) {
			return nil, ErrNoAttr
		}
		return v, err
	}
	m, err := f.layers[top.layer].Xattrs(top.Ref)
	if err != nil {
		return nil, err
	}
	v, ok := m[name]
	if !ok {
		return nil, ErrNoAttr
	}
	return v, nil
}

// Listxattr lists the extended attribute names of path, bookkeeping ones
// left out.
func (f *FS) Listxattr(path string) ([]string, error) {
	n, err := f.Resolve(path)
	if err != nil {
		return nil, err
	}
	top := n.hits[0]
	if top.layer == 0 {
		names, err := listXattrs(f.upper.abs(top.Ref.Path))
		if err != nil {
			return nil, err
		}
		out := names[:0]
		for _, x := range names {
			if !privateXattr(x) {
				out = append(out, x)
			}
		}
		return out, nil
	}
	m, err := f.layers[top.layer].Xattrs(top.Ref)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out, nil
}

// Statfs reports the upper directory's filesystem (the first lower's
// when there is no upper).
func (f *FS) Statfs(st *unix.Statfs_t) error {
	if f.upper != nil {
		return unix.Fstatfs(f.upper.fd, st)
	}
	if d, ok := f.layers[1].(*dirLayer); ok {
		return unix.Fstatfs(d.fd, st)
	}
	*st = unix.Statfs_t{Bsize: 4096, Namelen: 255}
	return nil
}
