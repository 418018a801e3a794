package unionfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Owner is who creates an entry: the caller's uid and gid. The union
// applies it only when it runs as root; otherwise new entries belong to
// the user serving the union.
type Owner struct{ UID, GID uint32 }

// Rename flags, as renameat2(2) takes them.
const (
	RenameNoReplace = unix.RENAME_NOREPLACE
	RenameExchange  = unix.RENAME_EXCHANGE
)

func (f *FS) writable() error {
	if f.readOnly {
		return ErrReadOnly
	}
	return nil
}

// parentFor resolves the directory that would hold path, and path's base
// name.
func (f *FS) parentFor(p string) (*Node, string, error) {
	p = clean(p)
	if p == "." {
		return nil, "", ErrInvalid
	}
	dir, name := path.Split(p)
	d, err := f.Resolve(dir)
	if err != nil {
		return nil, "", err
	}
	if d.Type != TypeDir {
		return nil, "", ErrNotDir
	}
	return d, name, nil
}

// newName checks that name can be created in dir, which must exist and not
// hold it, and copies dir up.
func (f *FS) newName(p string) (*Node, string, error) {
	if err := f.writable(); err != nil {
		return nil, "", err
	}
	dir, name, err := f.parentFor(p)
	if err != nil {
		return nil, "", err
	}
	if Reserved(name) {
		return nil, "", ErrReserved
	}
	if _, err := f.Lookup(dir, name); err == nil {
		return nil, "", ErrExist
	} else if !errors.Is(err, ErrNotExist) {
		return nil, "", err
	}
	if err := f.copyUp(dir, -1); err != nil {
		return nil, "", err
	}
	return dir, name, nil
}

// lowerHas reports whether a lower layer would show name in dir if the
// upper recorded nothing about it: then deleting it needs a whiteout, and a
// directory made in its place must be opaque.
func (f *FS) lowerHas(dir *Node, name string) (bool, error) {
	for _, h := range dir.hits {
		if h.layer == 0 {
			continue
		}
		fd, err := f.layers[h.layer].Lookup(h.Ref, name)
		if err != nil {
			return false, err
		}
		switch fd.Type {
		case TypeNone:
			continue
		case TypeWhiteout:
			return false, nil
		}
		return true, nil
	}
	return false, nil
}

// clearWhiteout removes the upper's record that name in dir is deleted, if
// any, so that an entry made there shows: a ".wh.NAME" file (after the
// entry exists, by calling the returned func) or an overlayfs character
// device 0/0 (at once, since it takes the name).
func (f *FS) clearWhiteout(dir, name string) (done func(), err error) {
	p := join(dir, name)
	var st unix.Stat_t
	if f.upper.lstat(p, &st) == nil && isWhiteoutDev(&st) {
		if err := unix.Unlinkat(f.upper.fd, p, 0); err != nil {
			return nil, fmt.Errorf("remove whiteout %s: %w", p, err)
		}
	}
	wh := join(dir, whiteoutPrefix+name)
	if f.upper.lstat(wh, &st) != nil {
		return func() {}, nil
	}
	return func() { _ = unix.Unlinkat(f.upper.fd, wh, 0) }, nil
}

// whiteout records in the upper that name in dir is deleted.
func (f *FS) whiteout(dir, name string) error {
	p := join(dir, whiteoutPrefix+name)
	fd, err := openBeneath(f.upper.fd, p, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
	if err == unix.EEXIST {
		return nil
	}
	if err != nil {
		return fmt.Errorf("whiteout %s: %w", p, err)
	}
	return unix.Close(fd)
}

func (f *FS) tmpPath() string {
	n := atomic.AddUint64(&f.tmpSeq, 1)
	return f.work + "/tmp-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatUint(n, 10)
}

// removeTree moves an upper directory into the work area, where removing
// it is nobody's business, and removes it there.
func (f *FS) removeTree(p string) error {
	tmp := f.tmpPath()
	if err := os.Rename(f.upper.abs(p), tmp); err != nil {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	return os.RemoveAll(tmp)
}

// copyUp makes n an upper entry, with its ancestors. keep is how much of
// a regular file's data to copy: -1 for all, 0 for none (O_TRUNC).
func (f *FS) copyUp(n *Node, keep int64) error {
	if n.InUpper() {
		return nil
	}
	if err := f.writable(); err != nil {
		return err
	}
	f.copyMu.Lock()
	defer f.copyMu.Unlock()
	defer f.changed()
	return f.copyUpLocked(n, keep)
}

func (f *FS) copyUpLocked(n *Node, keep int64) error {
	var st unix.Stat_t
	if err := f.upper.lstat(n.Path, &st); err == nil && !isWhiteoutDev(&st) {
		return nil // another caller copied it first
	}
	if n.Path == "." {
		return nil
	}
	if dir := path.Dir(n.Path); dir != "." {
		if err := f.upper.lstat(dir, &st); err != nil {
			d, err := f.Resolve(dir)
			if err != nil {
				return err
			}
			if err := f.copyUpLocked(d, -1); err != nil {
				return err
			}
		}
	}
	top := n.hits[0]
	l := f.layers[top.layer]
	a, err := l.Stat(top.Ref)
	if err != nil {
		return err
	}
	tmp := f.tmpPath()
	if err := f.copyUpTo(tmp, n, l, top.Ref, a, keep); err != nil {
		if n.Type == TypeDir {
			os.Remove(tmp)
		} else {
			unix.Unlink(tmp)
		}
		return fmt.Errorf("copy up %s: %w", n.Path, err)
	}
	// The rename is what makes the copy visible: a copy-up killed before
	// it leaves only a file in the work area.
	if err := unix.Renameat(unix.AT_FDCWD, tmp, f.upper.fd, n.Path); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("copy up %s: %w", n.Path, err)
	}
	if n.Type == TypeReg && a.Nlink > 1 {
		return f.linkUp(n, l, a)
	}
	return nil
}

// linker is a Layer that can name every member of a hard link group.
type linker interface {
	// Links returns the paths (relative to the layer's root) of the
	// entries that share r's inode, r's own included.
	Links(r Ref) ([]string, error)
}

// linkUp links the other names of n's hard link group, where the union
// still shows them from n's layer, to n's fresh copy: the kernel knows
// them as one inode, and they stay one (as overlayfs with index=on keeps
// them). Names shadowed by a higher layer or deleted are left alone.
func (f *FS) linkUp(n *Node, l Layer, a Attr) error {
	lk, ok := l.(linker)
	if !ok {
		return nil
	}
	names, err := lk.Links(n.hits[0].Ref)
	if err != nil {
		return fmt.Errorf("copy up %s: %w", n.Path, err)
	}
	for _, q := range names {
		if q == n.Path {
			continue
		}
		m, err := f.Resolve(q)
		if err != nil || m.InUpper() || m.hits[0].layer != n.hits[0].layer {
			continue
		}
		if b, err := l.Stat(m.hits[0].Ref); err != nil || b.Ino != a.Ino {
			continue
		}
		if dir := path.Dir(q); dir != "." {
			d, err := f.Resolve(dir)
			if err != nil {
				return err
			}
			if err := f.copyUpLocked(d, -1); err != nil {
				return err
			}
		}
		if err := unix.Linkat(f.upper.fd, n.Path, f.upper.fd, q, 0); err != nil {
			return fmt.Errorf("copy up %s: link %s: %w", n.Path, q, err)
		}
	}
	return nil
}

func (f *FS) copyUpTo(tmp string, n *Node, l Layer, ref Ref, a Attr, keep int64) error {
	switch n.Type {
	case TypeReg:
		out, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		if keep != 0 {
			size := a.Size
			if keep > 0 && keep < size {
				size = keep
			}
			if err := copyData(out, l, ref, size); err != nil {
				out.Close()
				return err
			}
		}
		if err := out.Close(); err != nil {
			return err
		}
	case TypeDir:
		if err := unix.Mkdir(tmp, 0o700); err != nil {
			return err
		}
	case TypeSymlink:
		target, err := l.Readlink(ref)
		if err != nil {
			return err
		}
		if err := unix.Symlink(target, tmp); err != nil {
			return err
		}
	default:
		if err := unix.Mknod(tmp, a.Mode&unix.S_IFMT|0o600, int(a.Rdev)); err != nil {
			return err
		}
	}
	xs, err := l.Xattrs(ref)
	if err != nil {
		return err
	}
	for k, v := range xs {
		// trusted.* needs root; security.* may be refused by the
		// upper's filesystem. Neither should stop a write.
		_ = unix.Lsetxattr(tmp, k, v, 0)
	}
	if n.Type == TypeReg || n.Type == TypeDir {
		f.setOriginAt(tmp, ino(n.hits[0].layer, a.Ino))
	}
	if f.root {
		if err := unix.Lchown(tmp, int(a.UID), int(a.GID)); err != nil {
			return err
		}
	}
	if n.Type != TypeSymlink {
		// After chown, which clears setuid and setgid.
		if err := unix.Chmod(tmp, a.Mode&0o7777); err != nil {
			return err
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(a.Atime.UnixNano()), unix.NsecToTimespec(a.Mtime.UnixNano())}
	return unix.UtimesNanoAt(unix.AT_FDCWD, tmp, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// copyData copies the first size bytes of a lower file into out, with
// copy_file_range from the file the layer keeps them in when it can (the
// kernel may share extents), else through ReadAt.
func copyData(out *os.File, l Layer, ref Ref, size int64) error {
	d, err := l.Open(ref)
	if err != nil {
		return err
	}
	defer d.Close()
	if src, off, ok := d.File(); ok {
		var done int64
		for done < size {
			roff := off + done
			n, err := unix.CopyFileRange(int(src.Fd()), &roff, int(out.Fd()), nil, int(size-done), 0)
			if err != nil || n == 0 {
				break // EXDEV, ENOSYS, a short file: finish below
			}
			done += int64(n)
		}
		if done == size {
			return nil
		}
		if _, err := out.Seek(done, io.SeekStart); err != nil {
			return err
		}
		_, err := io.Copy(out, io.NewSectionReader(d, done, size-done))
		return err
	}
	_, err = io.Copy(out, io.NewSectionReader(d, 0, size))
	return err
}

func (f *FS) setOriginAt(p string, ino uint64) {
	var b [8]byte
	for i := range b {
		b[i] = byte(ino >> (8 * i))
	}
	// Best effort: without user xattrs (symlinks, some filesystems) a
	// copied-up entry takes the upper's inode number.
	_ = unix.Lsetxattr(p, originXattr, b[:], 0)
}

// own gives a new upper entry its owner and mode. In a setgid directory
// it takes the directory's group, and a directory inherits setgid.
func (f *FS) own(dir, p string, t Type, mode uint32, o Owner) error {
	var dst unix.Stat_t
	if err := f.upper.lstat(dir, &dst); err != nil {
		return fmt.Errorf("stat %s: %w", dir, err)
	}
	gid := o.GID
	if dst.Mode&unix.S_ISGID != 0 {
		gid = dst.Gid
		if t == TypeDir {
			mode |= unix.S_ISGID
		}
	}
	if f.root {
		if err := unix.Fchownat(f.upper.fd, p, int(o.UID), int(gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown %s: %w", p, err)
		}
	}
	if t != TypeSymlink {
		// Explicitly, since the server's umask applied at creation.
		if err := unix.Fchmodat(f.upper.fd, p, mode&0o7777, 0); err != nil {
			return fmt.Errorf("chmod %s: %w", p, err)
		}
	}
	return nil
}

// Open opens the regular file at path. Opening for writing (or with
// O_TRUNC) copies it up first; O_TRUNC copies no data.
func (f *FS) Open(p string, flags int) (*File, error) {
	n, err := f.Resolve(p)
	if err != nil {
		return nil, err
	}
	return f.open(n, flags)
}

func (f *FS) open(n *Node, flags int) (*File, error) {
	write := flags&unix.O_ACCMODE != unix.O_RDONLY || flags&unix.O_TRUNC != 0
	if n.Type == TypeDir && write {
		return nil, ErrIsDir
	}
	if write {
		if err := f.writable(); err != nil {
			return nil, err
		}
		if !n.InUpper() {
			keep := int64(-1)
			if flags&unix.O_TRUNC != 0 {
				keep = 0
			}
			if err := f.copyUp(n, keep); err != nil {
				return nil, err
			}
		}
	}
	if n.InUpper() || write {
		// O_DIRECT would demand aligned buffers of the server; the
		// kernel already bypasses its cache for the caller.
		fl := flags&^(unix.O_CREAT|unix.O_EXCL|unix.O_DIRECT|unix.O_NOCTTY) | unix.O_CLOEXEC | unix.O_NOFOLLOW
		fd, err := openBeneath(f.upper.fd, n.Path, fl, 0)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", n.Path, err)
		}
		return upperFile(os.NewFile(uintptr(fd), n.Path)), nil
	}
	top := n.hits[0]
	d, err := f.layers[top.layer].Open(top.Ref)
	if err != nil {
		return nil, err
	}
	return &File{lower: d}, nil
}

// Create makes a regular file at path and opens it with flags. If the name
// exists, it opens it instead, or fails with ErrExist under O_EXCL.
func (f *FS) Create(p string, flags int, mode uint32, o Owner) (*File, error) {
	defer f.changed()
	if n, err := f.Resolve(p); err == nil {
		if flags&unix.O_EXCL != 0 {
			return nil, ErrExist
		}
		return f.open(n, flags)
	}
	dir, name, err := f.newName(p)
	if err != nil {
		return nil, err
	}
	done, err := f.clearWhiteout(dir.Path, name)
	if err != nil {
		return nil, err
	}
	rel := join(dir.Path, name)
	fl := flags&^(unix.O_DIRECT|unix.O_NOCTTY) | unix.O_CREAT | unix.O_EXCL | unix.O_CLOEXEC | unix.O_NOFOLLOW
	fd, err := openBeneath(f.upper.fd, rel, fl, mode&0o777)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", rel, err)
	}
	h := upperFile(os.NewFile(uintptr(fd), rel))
	if err := f.own(dir.Path, rel, TypeReg, mode, o); err != nil {
		h.Close()
		return nil, err
	}
	done()
	return h, nil
}

// Mkdir makes a directory at path. Where a lower layer's entry of that
// name was deleted, the new directory is opaque.
func (f *FS) Mkdir(p string, mode uint32, o Owner) error {
	defer f.changed()
	dir, name, err := f.newName(p)
	if err != nil {
		return err
	}
	opaque, err := f.lowerHas(dir, name)
	if err != nil {
		return err
	}
	done, err := f.clearWhiteout(dir.Path, name)
	if err != nil {
		return err
	}
	rel := join(dir.Path, name)
	if !opaque {
		if err := unix.Mkdirat(f.upper.fd, rel, 0o700); err != nil {
			return fmt.Errorf("mkdir %s: %w", rel, err)
		}
	} else {
		// Made opaque in the work area, so that no one sees the lower
		// directory's entries through it for an instant.
		tmp := f.tmpPath()
		if err := unix.Mkdir(tmp, 0o700); err != nil {
			return fmt.Errorf("mkdir %s: %w", rel, err)
		}
		if err := os.WriteFile(tmp+"/"+opaqueMarker, nil, 0o600); err != nil {
			os.RemoveAll(tmp)
			return fmt.Errorf("mkdir %s: %w", rel, err)
		}
		if err := unix.Renameat(unix.AT_FDCWD, tmp, f.upper.fd, rel); err != nil {
			os.RemoveAll(tmp)
			return fmt.Errorf("mkdir %s: %w", rel, err)
		}
	}
	if err := f.own(dir.Path, rel, TypeDir, mode, o); err != nil {
		return err
	}
	done()
	return nil
}

// Mknod makes a device node, FIFO or socket at path; mode carries the type.
func (f *FS) Mknod(p string, mode uint32, dev uint64, o Owner) error {
	defer f.changed()
	dir, name, err := f.newName(p)
	if err != nil {
		return err
	}
	done, err := f.clearWhiteout(dir.Path, name)
	if err != nil {
		return err
	}
	rel := join(dir.Path, name)
	if err := unix.Mknodat(f.upper.fd, rel, mode&unix.S_IFMT|0o600, int(dev)); err != nil {
		return fmt.Errorf("mknod %s: %w", rel, err)
	}
	if err := f.own(dir.Path, rel, typeFromMode(mode), mode, o); err != nil {
		return err
	}
	done()
	return nil
}

// Symlink makes a symbolic link at path pointing to target.
func (f *FS) Symlink(target, p string, o Owner) error {
	defer f.changed()
	dir, name, err := f.newName(p)
	if err != nil {
		return err
	}
	done, err := f.clearWhiteout(dir.Path, name)
	if err != nil {
		return err
	}
	rel := join(dir.Path, name)
	if err := unix.Symlinkat(target, f.upper.fd, rel); err != nil {
		return fmt.Errorf("symlink %s: %w", rel, err)
	}
	if err := f.own(dir.Path, rel, TypeSymlink, 0o777, o); err != nil {
		return err
	}
	done()
	return nil
}

// Link makes newpath a hard link to oldpath, copying oldpath up first.
func (f *FS) Link(oldpath, newpath string) error {
	defer f.changed()
	src, err := f.Resolve(oldpath)
	if err != nil {
		return err
	}
	if src.Type == TypeDir {
		return ErrPermission
	}
	dir, name, err := f.newName(newpath)
	if err != nil {
		return err
	}
	if err := f.copyUp(src, -1); err != nil {
		return err
	}
	done, err := f.clearWhiteout(dir.Path, name)
	if err != nil {
		return err
	}
	rel := join(dir.Path, name)
	if err := unix.Linkat(f.upper.fd, src.Path, f.upper.fd, rel, 0); err != nil {
		return fmt.Errorf("link %s: %w", rel, err)
	}
	done()
	return nil
}

// Unlink removes the non-directory at path, leaving a whiteout where a
// lower layer holds the name.
func (f *FS) Unlink(p string) error {
	defer f.changed()
	if err := f.writable(); err != nil {
		return err
	}
	dir, name, err := f.parentFor(p)
	if err != nil {
		return err
	}
	n, err := f.Lookup(dir, name)
	if err != nil {
		return err
	}
	if n.Type == TypeDir {
		return ErrIsDir
	}
	return f.remove(dir, name, n)
}

// remove deletes n, named name in dir: the whiteout first, so that at no
// instant the lower entry shows through.
func (f *FS) remove(dir *Node, name string, n *Node) error {
	lower, err := f.lowerHas(dir, name)
	if err != nil {
		return err
	}
	if lower {
		if err := f.copyUp(dir, -1); err != nil {
			return err
		}
		if err := f.whiteout(dir.Path, name); err != nil {
			return err
		}
	}
	if !n.InUpper() {
		return nil
	}
	if n.Type == TypeDir {
		return f.removeTree(n.Path)
	}
	if err := unix.Unlinkat(f.upper.fd, n.Path, 0); err != nil {
		return fmt.Errorf("unlink %s: %w", n.Path, err)
	}
	return nil
}

// Rmdir removes the directory at path if it is empty in the merged view.
func (f *FS) Rmdir(p string) error {
	defer f.changed()
	if err := f.writable(); err != nil {
		return err
	}
	dir, name, err := f.parentFor(p)
	if err != nil {
		return err
	}
	n, err := f.Lookup(dir, name)
	if err != nil {
		return err
	}
	if n.Type != TypeDir {
		return ErrNotDir
	}
	ents, err := f.readDir(n)
	if err != nil {
		return err
	}
	if len(ents) > 0 {
		return ErrNotEmpty
	}
	return f.remove(dir, name, n)
}

// Rename moves oldpath to newpath, replacing a file or an empty directory
// there. Directories that a lower layer holds cannot move (ErrCrossDevice:
// mv then copies). flags may hold RenameNoReplace or RenameExchange (of
// two non-directories).
func (f *FS) Rename(oldpath, newpath string, flags uint32) error {
	defer f.changed()
	if err := f.writable(); err != nil {
		return err
	}
	if flags&^(RenameNoReplace|RenameExchange) != 0 || flags == RenameNoReplace|RenameExchange {
		return ErrInvalid
	}
	odir, oname, err := f.parentFor(oldpath)
	if err != nil {
		return err
	}
	ndir, nname, err := f.parentFor(newpath)
	if err != nil {
		return err
	}
	if Reserved(nname) {
		return ErrReserved
	}
	src, err := f.Lookup(odir, oname)
	if err != nil {
		return err
	}
	dst, err := f.Lookup(ndir, nname)
	exists := err == nil
	if err != nil && !errors.Is(err, ErrNotExist) {
		return err
	}
	if src.Path == join(ndir.Path, nname) {
		return nil
	}
	switch {
	case flags&RenameNoReplace != 0 && exists:
		return ErrExist
	case flags&RenameExchange != 0:
		if !exists {
			return ErrNotExist
		}
		if src.Type == TypeDir || dst.Type == TypeDir {
			return ErrCrossDevice
		}
		if err := f.copyUp(src, -1); err != nil {
			return err
		}
		if err := f.copyUp(dst, -1); err != nil {
			return err
		}
		if err := unix.Renameat2(f.upper.fd, src.Path, f.upper.fd, dst.Path, unix.RENAME_EXCHANGE); err != nil {
			return fmt.Errorf("rename %s: %w", src.Path, err)
		}
		return nil
	case src.Type == TypeDir:
		if len(src.hits) > 1 || !src.InUpper() {
			return ErrCrossDevice
		}
		if exists {
			if dst.Type != TypeDir {
				return ErrNotDir
			}
			ents, err := f.readDir(dst)
			if err != nil {
				return err
			}
			if len(ents) > 0 {
				return ErrNotEmpty
			}
		}
	case exists && dst.Type == TypeDir:
		return ErrIsDir
	}
	if err := f.copyUp(src, -1); err != nil {
		return err
	}
	if err := f.copyUp(ndir, -1); err != nil {
		return err
	}
	if src.Type == TypeDir && !src.hits[0].Opaque {
		// In its new place the directory must hide what lower layers
		// hold under the new name.
		if opaque, err := f.lowerHas(ndir, nname); err != nil {
			return err
		} else if opaque {
			if err := os.WriteFile(f.upper.abs(join(src.Path, opaqueMarker)), nil, 0o600); err != nil {
				return fmt.Errorf("rename %s: %w", src.Path, err)
			}
		}
	}
	done, err := f.clearWhiteout(ndir.Path, nname)
	if err != nil {
		return err
	}
	newRel := join(ndir.Path, nname)
	if exists && dst.Type == TypeDir && dst.InUpper() {
		// The upper directory may still hold whiteouts; rename(2)
		// would refuse it as not empty.
		if err := f.removeTree(newRel); err != nil {
			return err
		}
	}
	if lower, err := f.lowerHas(odir, oname); err != nil {
		return err
	} else if lower {
		if err := f.whiteout(odir.Path, oname); err != nil {
			return err
		}
	}
	if err := unix.Renameat(f.upper.fd, src.Path, f.upper.fd, newRel); err != nil {
		return fmt.Errorf("rename %s: %w", src.Path, err)
	}
	done()
	return nil
}

// SetAttr says which attributes to change; a nil field is left alone.
type SetAttr struct {
	Mode         *uint32 // permission bits
	UID, GID     *uint32
	Size         *int64
	Atime, Mtime *time.Time // a zero Time means "now"
}

// Setattr changes attributes of path, copying it up first (without the
// data a truncation discards).
func (f *FS) Setattr(p string, in SetAttr) error {
	defer f.changed()
	if err := f.writable(); err != nil {
		return err
	}
	n, err := f.Resolve(p)
	if err != nil {
		return err
	}
	keep := int64(-1)
	if in.Size != nil {
		if n.Type == TypeDir {
			return ErrIsDir
		}
		keep = *in.Size
	}
	if err := f.copyUp(n, keep); err != nil {
		return err
	}
	rel := n.Path
	if in.Size != nil {
		if err := unix.Truncate(f.upper.abs(rel), *in.Size); err != nil {
			return fmt.Errorf("truncate %s: %w", rel, err)
		}
	}
	if in.UID != nil || in.GID != nil {
		uid, gid := -1, -1
		if in.UID != nil {
			uid = int(*in.UID)
		}
		if in.GID != nil {
			gid = int(*in.GID)
		}
		if err := unix.Fchownat(f.upper.fd, rel, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown %s: %w", rel, err)
		}
	}
	if in.Mode != nil && n.Type != TypeSymlink {
		if err := unix.Fchmodat(f.upper.fd, rel, *in.Mode&0o7777, 0); err != nil {
			return fmt.Errorf("chmod %s: %w", rel, err)
		}
	}
	if in.Atime != nil || in.Mtime != nil {
		ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
		for i, t := range []*time.Time{in.Atime, in.Mtime} {
			switch {
			case t == nil:
			case t.IsZero():
				ts[i] = unix.Timespec{Nsec: unix.UTIME_NOW}
			default:
				ts[i] = unix.NsecToTimespec(t.UnixNano())
			}
		}
		if err := unix.UtimesNanoAt(f.upper.fd, rel, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("utimens %s: %w", rel, err)
		}
	}
	return nil
}

// Setxattr sets an extended attribute of path (flags as setxattr(2)),
// copying it up first. Bookkeeping attributes are refused (ErrPermission).
func (f *FS) Setxattr(p, name string, value []byte, flags int) error {
	defer f.changed()
	if privateXattr(name) {
		return ErrPermission
	}
	if err := f.writable(); err != nil {
		return err
	}
	n, err := f.Resolve(p)
	if err != nil {
		return err
	}
	if err := f.copyUp(n, -1); err != nil {
		return err
	}
	if err := unix.Lsetxattr(f.upper.abs(n.Path), name, value, flags); err != nil {
		return fmt.Errorf("setxattr %s %s: %w", n.Path, name, err)
	}
	return nil
}

// Removexattr removes an extended attribute of path, copying it up first.
func (f *FS) Removexattr(p, name string) error {
	defer f.changed()
	if privateXattr(name) {
		return ErrNoAttr
	}
	if err := f.writable(); err != nil {
		return err
	}
	n, err := f.Resolve(p)
	if err != nil {
		return err
	}
	if n.Lower() {
		xs, err := f.layers[n.hits[0].layer].Xattrs(n.hits[0].Ref)
		if err != nil {
			return err
		}
		if _, ok := xs[name]; !ok {
			return ErrNoAttr // nothing to copy up for
		}
	}
	if err := f.copyUp(n, -1); err != nil {
		return err
	}
	if err := unix.Lremovexattr(f.upper.abs(n.Path), name); err != nil {
		if err == unix.ENODATA {
			return ErrNoAttr
		}
		return fmt.Errorf("removexattr %s %s: %w", n.Path, name, err)
	}
	return nil
}
