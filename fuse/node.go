package fuse

import (
	"context"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/lfs-dev/lfs/unionfs"
	"golang.org/x/sys/unix"
)

// Timeouts: lower entries cannot change behind the kernel's back.
const (
	lowerTimeout = time.Hour
	upperTimeout = time.Second
)

type root struct {
	u *unionfs.FS
}

// node is one inode of the mount. snap is what unionfs last resolved for
// it: lookups below a directory start from it instead of from the root.
type node struct {
	fs.Inode
	r    *root
	snap atomic.Pointer[unionfs.Node]
}

func (n *node) path() string {
	p := n.Path(nil)
	if p == "" {
		return "."
	}
	return p
}

// orphan reports whether n has no name left (unlinked while open): its
// path would be a prefix of some other entry's, so it must not be used.
func (n *node) orphan() bool {
	for p := &n.Inode; !p.IsRoot(); {
		_, parent := p.Parent()
		if parent == nil {
			return true
		}
		p = parent
	}
	return false
}

// dir returns n's snapshot for looking up children, at n's current path
// (a pure-upper directory may have been renamed since).
func (n *node) dir() (*unionfs.Node, error) {
	p := n.path()
	if s := n.snap.Load(); s != nil && s.Path == p {
		return s, nil
	}
	s, err := n.r.u.Resolve(p)
	if err != nil {
		return nil, err
	}
	n.snap.Store(s)
	return s, nil
}

func fillAttr(a *unionfs.Attr, out *fuse.Attr) {
	out.Ino = a.Ino
	out.Mode = a.Mode
	out.Nlink = a.Nlink
	out.Owner = fuse.Owner{Uid: a.UID, Gid: a.GID}
	out.Size = uint64(a.Size)
	out.Blocks = uint64(a.Blocks)
	out.Rdev = uint32(a.Rdev)
	out.Blksize = 4096
	out.SetTimes(&a.Atime, &a.Mtime, &a.Ctime)
}

// newChild makes (or finds) the inode for c and fills out.
func (n *node) newChild(ctx context.Context, c *unionfs.Node, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	a, err := n.r.u.Attr(c)
	if err != nil {
		return nil, toErrno("stat "+c.Path, err)
	}
	fillAttr(&a, &out.Attr)
	t := upperTimeout
	if c.Lower() {
		t = lowerTimeout
	}
	out.SetEntryTimeout(t)
	out.SetAttrTimeout(t)
	child := &node{r: n.r}
	child.snap.Store(c)
	sa := fs.StableAttr{Mode: a.Mode & unix.S_IFMT, Ino: a.Ino}
	in := n.NewInode(ctx, child, sa)
	for in.StableAttr().Mode != sa.Mode {
		// The upper's filesystem reused the number of an entry the
		// kernel still knows (a file replaced by a symlink): another
		// generation makes it another inode.
		sa.Gen = in.StableAttr().Gen + 1
		in = n.NewInode(ctx, child, sa)
	}
	if existing, ok := in.Operations().(*node); ok && existing != child {
		existing.snap.Store(c)
	}
	return in, 0
}

var _ = (fs.NodeLookuper)((*node)(nil))

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	d, err := n.dir()
	if err != nil {
		return nil, toErrno("lookup", err)
	}
	c, err := n.r.u.Lookup(d, name)
	if err != nil {
		return nil, toErrno("lookup "+d.Path, err)
	}
	return n.newChild(ctx, c, out)
}

// lookupNew finds what a create-like call just made.
func (n *node) lookupNew(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	d, err := n.r.u.Resolve(n.path())
	if err != nil {
		return nil, toErrno("lookup", err)
	}
	n.snap.Store(d)
	c, err := n.r.u.Lookup(d, name)
	if err != nil {
		return nil, toErrno("lookup "+d.Path, err)
	}
	return n.newChild(ctx, c, out)
}

func (n *node) childPath(name string) string {
	p := n.path()
	if p == "." {
		return name
	}
	return p + "/" + name
}

var _ = (fs.NodeGetattrer)((*node)(nil))

func (n *node) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if h, ok := f.(*handle); ok && h.f.Upper() != nil && h.f.Lower() == nil {
		// fstat: the open upper file knows itself, even once unlinked
		// or renamed over, when its path names something else.
		var st syscall.Stat_t
		if err := syscall.Fstat(int(h.f.Upper().Fd()), &st); err != nil {
			return toErrno("fstat", err)
		}
		out.FromStat(&st)
		out.Ino = n.StableAttr().Ino
		out.SetTimeout(upperTimeout)
		return 0
	}
	var c *unionfs.Node
	err := error(unionfs.ErrNotExist)
	if !n.orphan() {
		if c, err = n.r.u.Refresh(n.snap.Load(), n.path()); err == nil {
			n.snap.Store(c)
		}
	}
	if err == nil && c.Type.ModeBits() != n.StableAttr().Mode&unix.S_IFMT && !n.IsRoot() {
		// The path names another entry now (renamed over meanwhile).
		err = unionfs.ErrNotExist
	}
	if err != nil {
		return toErrno("getattr", err)
	}
	a, err := n.r.u.Attr(c)
	if err != nil {
		return toErrno("getattr "+c.Path, err)
	}
	fillAttr(&a, &out.Attr)
	if c.Lower() {
		out.SetTimeout(lowerTimeout)
	} else {
		out.SetTimeout(upperTimeout)
	}
	return 0
}

var _ = (fs.NodeSetattrer)((*node)(nil))

func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	var sa unionfs.SetAttr
	if m, ok := in.GetMode(); ok {
		sa.Mode = &m
	}
	if u, ok := in.GetUID(); ok {
		sa.UID = &u
	}
	if g, ok := in.GetGID(); ok {
		sa.GID = &g
	}
	if s, ok := in.GetSize(); ok {
		sz := int64(s)
		if h, ok := f.(*handle); ok && h.f.Upper() != nil {
			// Through the descriptor: the file may be unlinked.
			if err := h.f.Upper().Truncate(sz); err != nil {
				return toErrno("ftruncate", err)
			}
		} else {
			sa.Size = &sz
		}
	}
	if t, ok := in.GetATime(); ok {
		sa.Atime = &t
	}
	if t, ok := in.GetMTime(); ok {
		sa.Mtime = &t
	}
	if sa != (unionfs.SetAttr{}) {
		if err := n.r.u.Setattr(n.path(), sa); err != nil {
			return toErrno("setattr", err)
		}
	}
	return n.Getattr(ctx, f, out)
}

var _ = (fs.NodeOpendirHandler)((*node)(nil))

// OpendirHandle lets the kernel cache every listing (FOPEN_CACHE_DIR): it
// drops the cache itself when a change through the mount touches the
// directory (fuse_dir_changed), and nothing else changes it.
func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	return &dirHandle{n: n}, fuse.FOPEN_CACHE_DIR | fuse.FOPEN_KEEP_CACHE, 0
}

// listing returns n's merged entries, from the snapshot when it is fresh.
func (n *node) listing() ([]unionfs.DirEntry, error) {
	c, err := n.r.u.Refresh(n.snap.Load(), n.path())
	if err != nil {
		return nil, err
	}
	n.snap.Store(c)
	return n.r.u.ReadDirNode(c)
}

// dirHandle is an open directory. It lists the directory when read from
// offset 0 and serves later offsets (seekdir) from that listing, so that
// telldir cookies stay good while the handle is open. An entry's offset
// is its index plus one, "." and ".." counted.
type dirHandle struct {
	n    *node
	ents []unionfs.DirEntry
	pos  int
	err  syscall.Errno
}

var _ = (fs.FileReaddirenter)((*dirHandle)(nil))

func (d *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if d.ents == nil {
		ents, err := d.n.listing()
		if err != nil {
			return nil, toErrno("readdir", err)
		}
		d.ents = ents
	}
	// "." and ".." first, as every local filesystem lists them.
	if d.pos < 2 {
		d.pos++
		ino := d.n.StableAttr().Ino
		name := "."
		if d.pos == 2 {
			name = ".."
			if _, p := d.n.Parent(); p != nil {
				ino = p.StableAttr().Ino
			}
		}
		return &fuse.DirEntry{Name: name, Ino: ino, Mode: unix.S_IFDIR, Off: uint64(d.pos)}, 0
	}
	if d.pos-2 >= len(d.ents) {
		return nil, 0
	}
	e := &d.ents[d.pos-2]
	d.pos++
	return &fuse.DirEntry{Name: e.Name, Ino: e.Ino, Mode: e.Type.ModeBits(), Off: uint64(d.pos)}, 0
}

var _ = (fs.FileSeekdirer)((*dirHandle)(nil))

func (d *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	if off == 0 {
		d.ents = nil // rewinddir: list again
	}
	d.pos = int(off)
	return 0
}

var _ = (fs.FileReleasedirer)((*dirHandle)(nil))

func (d *dirHandle) Releasedir(ctx context.Context, flags uint32) {}

var _ = (fs.NodeReadlinker)((*node)(nil))

func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	t, err := n.r.u.Readlink(n.path())
	if err != nil {
		return nil, toErrno("readlink", err)
	}
	return []byte(t), 0
}

func owner(ctx context.Context) unionfs.Owner {
	if c, ok := fuse.FromContext(ctx); ok {
		return unionfs.Owner{UID: c.Uid, GID: c.Gid}
	}
	return unionfs.Owner{}
}

var _ = (fs.NodeCreater)((*node)(nil))

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	h, err := n.r.u.Create(n.childPath(name), int(flags), mode, owner(ctx))
	if err != nil {
		return nil, nil, 0, toErrno("create", err)
	}
	in, errno := n.lookupNew(ctx, name, out)
	if errno != 0 {
		h.Close()
		return nil, nil, 0, errno
	}
	return in, &handle{f: h}, 0, 0
}

var _ = (fs.NodeMkdirer)((*node)(nil))

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if err := n.r.u.Mkdir(n.childPath(name), mode, owner(ctx)); err != nil {
		return nil, toErrno("mkdir", err)
	}
	return n.lookupNew(ctx, name, out)
}

var _ = (fs.NodeMknoder)((*node)(nil))

func (n *node) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if err := n.r.u.Mknod(n.childPath(name), mode, uint64(dev), owner(ctx)); err != nil {
		return nil, toErrno("mknod", err)
	}
	return n.lookupNew(ctx, name, out)
}

var _ = (fs.NodeSymlinker)((*node)(nil))

func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if err := n.r.u.Symlink(target, n.childPath(name), owner(ctx)); err != nil {
		return nil, toErrno("symlink", err)
	}
	return n.lookupNew(ctx, name, out)
}

var _ = (fs.NodeLinker)((*node)(nil))

func (n *node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	src := target.EmbeddedInode().Path(nil)
	if err := n.r.u.Link(src, n.childPath(name)); err != nil {
		return nil, toErrno("link", err)
	}
	return n.lookupNew(ctx, name, out)
}

var _ = (fs.NodeUnlinker)((*node)(nil))

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	return toErrno("unlink", n.r.u.Unlink(n.childPath(name)))
}

var _ = (fs.NodeRmdirer)((*node)(nil))

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	return toErrno("rmdir", n.r.u.Rmdir(n.childPath(name)))
}

var _ = (fs.NodeRenamer)((*node)(nil))

func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	np := newParent.EmbeddedInode().Path(nil)
	dst := newName
	if np != "" {
		dst = np + "/" + newName
	}
	return toErrno("rename", n.r.u.Rename(n.childPath(name), dst, flags))
}

var _ = (fs.NodeOpener)((*node)(nil))

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	c, err := n.r.u.Refresh(n.snap.Load(), n.path())
	if err != nil {
		return nil, 0, toErrno("open", err)
	}
	n.snap.Store(c)
	h, err := n.r.u.OpenNode(c, int(flags))
	if err != nil {
		return nil, 0, toErrno("open", err)
	}
	var fl uint32
	if h.Lower() != nil {
		// The bytes of a lower file never change: keep the page cache
		// across opens.
		fl = fuse.FOPEN_KEEP_CACHE
	}
	return &handle{f: h}, fl, 0
}

// handle is an open file.
type handle struct {
	f *unionfs.File
}

var _ = (fs.NodeReader)((*node)(nil))

func (n *node) Read(ctx context.Context, f fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h := f.(*handle)
	if h.f.Lower() != nil {
		// Copied up since it was opened (a write through another
		// descriptor): read the new data, as overlayfs does. Free
		// while nothing changed (Refresh compares an epoch).
		if c, err := n.r.u.Refresh(n.snap.Load(), n.path()); err == nil {
			n.snap.Store(c)
			if err := n.r.u.Follow(h.f, c); err != nil {
				return nil, toErrno("read", err)
			}
		}
	}
	if d := h.f.Lower(); d != nil {
		if file, base, ok := d.File(); ok {
			// Zero copy: go-fuse splices from the layer's file.
			sz := int64(len(dest))
			if rest := d.Size() - off; rest < sz {
				sz = max(rest, 0)
			}
			return fuse.ReadResultFd(file.Fd(), base+off, int(sz)), 0
		}
	}
	k, err := h.f.ReadAt(dest, off)
	if err != nil {
		return nil, toErrno("read", err)
	}
	return fuse.ReadResultData(dest[:k]), 0
}

var _ = (fs.NodeWriter)((*node)(nil))

func (n *node) Write(ctx context.Context, f fs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	k, err := f.(*handle).f.WriteAt(data, off)
	if err != nil {
		return uint32(k), toErrno("write", err)
	}
	return uint32(k), 0
}

var _ = (fs.NodeAllocater)((*node)(nil))

func (n *node) Allocate(ctx context.Context, f fs.FileHandle, off uint64, size uint64, mode uint32) syscall.Errno {
	h, ok := f.(*handle)
	if !ok || h.f.Upper() == nil || h.f.Lower() != nil {
		return syscall.EBADF
	}
	return toErrno("fallocate", unix.Fallocate(int(h.f.Upper().Fd()), mode, int64(off), int64(size)))
}

var _ = (fs.NodeFsyncer)((*node)(nil))

func (n *node) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	if h, ok := f.(*handle); ok {
		return toErrno("fsync", h.f.Sync())
	}
	return 0
}

var _ = (fs.NodeFlusher)((*node)(nil))

// Flush has nothing to do (writes are never buffered here). ENOSYS tells
// the kernel so once, and it stops sending FLUSH on every close.
func (n *node) Flush(ctx context.Context, f fs.FileHandle) syscall.Errno { return syscall.ENOSYS }

var _ = (fs.NodeReleaser)((*node)(nil))

func (n *node) Release(ctx context.Context, f fs.FileHandle) syscall.Errno {
	if h, ok := f.(*handle); ok {
		return toErrno("close", h.f.Close())
	}
	return 0
}

var _ = (fs.NodeGetxattrer)((*node)(nil))

func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	v, err := n.r.u.Getxattr(n.path(), attr)
	if err != nil {
		return 0, toErrno("getxattr", err)
	}
	if len(dest) < len(v) {
		return uint32(len(v)), syscall.ERANGE
	}
	return uint32(copy(dest, v)), 0
}

var _ = (fs.NodeListxattrer)((*node)(nil))

func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	names, err := n.r.u.Listxattr(n.path())
	if err != nil {
		return 0, toErrno("listxattr", err)
	}
	size := 0
	for _, x := range names {
		size += len(x) + 1
	}
	if len(dest) < size {
		return uint32(size), syscall.ERANGE
	}
	i := 0
	for _, x := range names {
		i += copy(dest[i:], x)
		dest[i] = 0
		i++
	}
	return uint32(size), 0
}

var _ = (fs.NodeSetxattrer)((*node)(nil))

func (n *node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return toErrno("setxattr", n.r.u.Setxattr(n.path(), attr, data, int(flags)))
}

var _ = (fs.NodeRemovexattrer)((*node)(nil))

func (n *node) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return toErrno("removexattr", n.r.u.Removexattr(n.path(), attr))
}

var _ = (fs.NodeStatfser)((*node)(nil))

func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	var st unix.Statfs_t
	if err := n.r.u.Statfs(&st); err != nil {
		return toErrno("statfs", err)
	}
	out.Blocks, out.Bfree, out.Bavail = st.Blocks, st.Bfree, st.Bavail
	out.Files, out.Ffree = st.Files, st.Ffree
	out.Bsize, out.Frsize, out.NameLen = uint32(st.Bsize), uint32(st.Frsize), uint32(st.Namelen)
	return 0
}
