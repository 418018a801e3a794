package container

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ErrCopy is a copy docker cp would refuse (a directory onto a file, a
// destination directory that does not exist, ...).
var ErrCopy = errors.New("copy")

func copyErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCopy, fmt.Sprintf(format, args...))
}

// Root is a directory every path is resolved in, as if it were "/":
// openat2 with RESOLVE_IN_ROOT, so ".." and absolute symlinks stop at it
// and no symlink leads out, whatever the tree holds or changes to
// meanwhile. A container's root (its mount, or /proc/PID/root of its
// init) is one; the host's "/" is one too.
type Root struct {
	f *os.File
}

// OpenRoot opens dir as a Root.
func OpenRoot(dir string) (*Root, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	return &Root{f: os.NewFile(uintptr(fd), dir)}, nil
}

// Close releases the root.
func (r *Root) Close() error { return r.f.Close() }

// Tree is what docker cp's rules need of either side: a Root here, or a
// running container's root served by the lfs process that runs it
// (Remote).
type Tree interface {
	// IsDir stats p (following a final symlink with follow); an absent p
	// is an error satisfying errors.Is(err, fs.ErrNotExist).
	IsDir(p string, follow bool) (bool, error)
	// Archive writes p as a tar with top entry name (see Root.Archive).
	Archive(w io.Writer, p, name string, follow bool) error
	// Extract writes a tar into the directory dir (see Root.Extract).
	Extract(r io.Reader, dir string, o ExtractOptions) error
}

var _ Tree = (*Root)(nil)

// IsDir reports whether p is a directory.
func (r *Root) IsDir(p string, follow bool) (bool, error) {
	st, err := r.Stat(p, follow)
	return st.Mode&unix.S_IFMT == unix.S_IFDIR, err
}

const resolveIn = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// open resolves p (absolute or relative, both from the root) inside the
// root; a final symlink is followed only with follow.
func (r *Root) open(p string, flags int, follow bool) (int, error) {
	rel := strings.TrimLeft(path.Clean("/"+p), "/")
	if rel == "" {
		rel = "."
	}
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := unix.Openat2(int(r.f.Fd()), rel, &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: resolveIn})
	if err != nil {
		return -1, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	return fd, nil
}

// Stat is lstat of p in the root, or stat with follow.
func (r *Root) Stat(p string, follow bool) (unix.Stat_t, error) {
	var st unix.Stat_t
	fd, err := r.open(p, unix.O_PATH, follow)
	if err != nil {
		return st, err
	}
	defer unix.Close(fd)
	if err := unix.Fstat(fd, &st); err != nil {
		return st, &fs.PathError{Op: "stat", Path: p, Err: err}
	}
	return st, nil
}

// resolve follows symlinks of p itself, each resolved in the root, and
// returns the path it ends at.
func (r *Root) resolve(p string) (string, error) {
	p = path.Clean("/" + p)
	for i := 0; i < 40; i++ {
		st, err := r.Stat(p, false)
		if err != nil {
			return "", err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			return p, nil
		}
		dir, name := path.Split(p)
		fd, err := r.open(dir, unix.O_PATH|unix.O_DIRECTORY, true)
		if err != nil {
			return "", err
		}
		target, err := readlinkat(fd, name)
		unix.Close(fd)
		if err != nil {
			return "", &fs.PathError{Op: "readlink", Path: p, Err: err}
		}
		if !path.IsAbs(target) {
			target = path.Join(dir, target)
		}
		p = path.Clean(target)
	}
	return "", &fs.PathError{Op: "resolve", Path: p, Err: unix.ELOOP}
}

func readlinkat(dirfd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		b := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, b)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(b[:n]), nil
		}
	}
}

// Archive writes p (a tree, recursively, not following the symlinks in
// it) to w as a tar whose top entry is named name; name "." writes p's
// contents only (docker cp's "SRC/."). With follow a symlink at p itself
// is followed first (cp -L).
func (r *Root) Archive(w io.Writer, p, name string, follow bool) error {
	if follow {
		var err error
		if p, err = r.resolve(p); err != nil {
			return err
		}
	}
	p = path.Clean("/" + p)
	dir, base := path.Split(p)
	if p == "/" {
		dir, base = "/", "."
	}
	dfd, err := r.open(dir, unix.O_RDONLY|unix.O_DIRECTORY, true)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	a := archiver{tw: tar.NewWriter(w), links: map[[2]uint64]string{}}
	if err := a.entry(dfd, base, name); err != nil {
		return err
	}
	return a.tw.Close()
}

type archiver struct {
	tw    *tar.Writer
	links map[[2]uint64]string
}

// entry writes dirfd's child name as tar entry tname, and what it holds;
// tname "." is written as its contents alone.
func (a *archiver) entry(dirfd int, name, tname string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &fs.PathError{Op: "stat", Path: tname, Err: err}
	}
	hdr := &tar.Header{Name: tname, Mode: int64(st.Mode & 0o7777), Uid: int(st.Uid), Gid: int(st.Gid),
		ModTime: time.Unix(st.Mtim.Unix()), Format: tar.FormatPAX}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
	case unix.S_IFREG:
		hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size
		if st.Nlink > 1 {
			key := [2]uint64{st.Dev, st.Ino}
			if first, ok := a.links[key]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				a.links[key] = tname
			}
		}
	case unix.S_IFLNK:
		hdr.Typeflag = tar.TypeSymlink
		target, err := readlinkat(dirfd, name)
		if err != nil {
			return &fs.PathError{Op: "readlink", Path: tname, Err: err}
		}
		hdr.Linkname = target
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil // sockets have no tar type
	}
	if tname != "." {
		if err := a.tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("%s: %w", tname, err)
		}
	}
	switch hdr.Typeflag {
	case tar.TypeReg:
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return &fs.PathError{Op: "open", Path: tname, Err: err}
		}
		f := os.NewFile(uintptr(fd), name)
		_, err = io.CopyN(a.tw, f, hdr.Size)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", tname, err)
		}
	case tar.TypeDir:
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return &fs.PathError{Op: "open", Path: tname, Err: err}
		}
		d := os.NewFile(uintptr(fd), name)
		defer d.Close()
		names, err := d.Readdirnames(-1)
		if err != nil {
			return fmt.Errorf("%s: %w", tname, err)
		}
		sort.Strings(names)
		for _, n := range names {
			child := n
			if tname != "." {
				child = path.Join(tname, n)
			}
			if err := a.entry(fd, n, child); err != nil {
				return err
			}
		}
	}
	return nil
}

// ExtractOptions say whose the extracted files are.
type ExtractOptions struct {
	// KeepOwner gives entries the tar's uid and gid (cp -a); else Owner,
	// when set, gives them that one; else they are the caller's.
	KeepOwner bool
	Owner     *[2]int
}

// Extract writes the tar r into the directory dir of the root. Every
// entry's parent is resolved in the root (a symlink in the tree leads
// nowhere outside it) and the entry itself is made without following a
// symlink at its name: an existing non-directory there is replaced.
func (r *Root) Extract(rd io.Reader, dir string, o ExtractOptions) error {
	tr := tar.NewReader(rd)
	type dirTime struct {
		p string
		t time.Time
	}
	var dirs []dirTime
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		name := path.Clean(hdr.Name)
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return copyErr("archive entry %q leads outside the destination", hdr.Name)
		}
		if name == "." {
			continue
		}
		dest := path.Join("/", dir)
		p := path.Join(dest, name)
		if err := r.extractOne(dest, p, hdr, tr, o); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeDir {
			dirs = append(dirs, dirTime{p, hdr.ModTime})
		}
	}
	// Directory times last: what was made in them changed them.
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		pfd, base, err := r.parent(d.p)
		if err != nil {
			return err
		}
		ts := []unix.Timespec{unix.NsecToTimespec(d.t.UnixNano()), unix.NsecToTimespec(d.t.UnixNano())}
		unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW)
		unix.Close(pfd)
	}
	return nil
}

// parent opens p's directory, resolved in the root, and returns it with
// p's last name.
func (r *Root) parent(p string) (int, string, error) {
	dir, base := path.Split(path.Clean(p))
	fd, err := r.open(dir, unix.O_PATH|unix.O_DIRECTORY, true)
	if err != nil {
		return -1, "", err
	}
	return fd, base, nil
}

func (r *Root) extractOne(dest, p string, hdr *tar.Header, tr io.Reader, o ExtractOptions) error {
	pfd, base, err := r.parent(p)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	mode := uint32(hdr.Mode & 0o7777)
	var st unix.Stat_t
	exists := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil
	isDir := exists && st.Mode&unix.S_IFMT == unix.S_IFDIR
	if exists && !(isDir && hdr.Typeflag == tar.TypeDir) {
		flag := 0
		if isDir {
			flag = unix.AT_REMOVEDIR
		}
		if err := unix.Unlinkat(pfd, base, flag); err != nil {
			return &fs.PathError{Op: "replace", Path: p, Err: err}
		}
	}
	pe := func(op string, err error) error { return &fs.PathError{Op: op, Path: p, Err: err} }
	switch hdr.Typeflag {
	case tar.TypeDir:
		if !isDir {
			if err := unix.Mkdirat(pfd, base, 0o700); err != nil {
				return pe("mkdir", err)
			}
		}
	case tar.TypeReg:
		fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return pe("create", err)
		}
		f := os.NewFile(uintptr(fd), base)
		_, err = io.Copy(f, tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return pe("write", err)
		}
	case tar.TypeSymlink:
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return pe("symlink", err)
		}
	case tar.TypeLink:
		tfd, tbase, err := r.parent(path.Join(dest, path.Clean(hdr.Linkname)))
		if err != nil {
			return err
		}
		err = unix.Linkat(tfd, tbase, pfd, base, 0)
		unix.Close(tfd)
		if err != nil {
			return pe("link", err)
		}
		return nil
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		m := uint32(unix.S_IFIFO)
		switch hdr.Typeflag {
		case tar.TypeChar:
			m = unix.S_IFCHR
		case tar.TypeBlock:
			m = unix.S_IFBLK
		}
		if err := unix.Mknodat(pfd, base, m|mode, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))); err != nil {
			return pe("mknod", err)
		}
	default:
		return nil // pax/gnu metadata entries are read by tar.Reader itself
	}
	switch {
	case o.KeepOwner:
		err = unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW)
	case o.Owner != nil:
		err = unix.Fchownat(pfd, base, o.Owner[0], o.Owner[1], unix.AT_SYMLINK_NOFOLLOW)
	}
	if err != nil {
		return pe("chown", err)
	}
	if hdr.Typeflag == tar.TypeSymlink {
		return nil
	}
	if err := chmodNoFollow(pfd, base, mode); err != nil {
		return pe("chmod", err)
	}
	ts := []unix.Timespec{unix.NsecToTimespec(hdr.ModTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	if err := unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return pe("utimes", err)
	}
	return nil
}

// chmodNoFollow changes the mode of dirfd's child name unless it is (or
// was swapped for) a symlink meanwhile: through a descriptor of the entry
// itself, never by a path the kernel would resolve again.
func chmodNoFollow(dirfd int, name string, mode uint32) error {
	fd, err := unix.Openat(dirfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return nil
	}
	return unix.Chmod(fmt.Sprintf("/proc/self/fd/%d", fd), mode)
}

// CopyOptions are docker cp's.
type CopyOptions struct {
	// FollowLink follows a symlink at the source path (-L).
	FollowLink bool
	// Extract says whose the copies are.
	Extract ExtractOptions
}

// CopyPath copies srcPath of src to dstPath of dst by docker cp's rules:
// a source "DIR/." copies DIR's contents; a destination directory
// receives the source under its own name (its contents, for "DIR/.");
// an existing file is replaced by a file; a missing destination is
// created under that name, in a directory that must exist. A directory
// onto a file, a missing directory named with a trailing "/", and a
// trailing "/" on a non-directory are ErrCopy.
// It returns the size of the tar stream that carried the copy.
func CopyPath(src Tree, srcPath string, dst Tree, dstPath string, o CopyOptions) (int64, error) {
	contents := strings.HasSuffix(srcPath, "/.") || srcPath == "."
	srcDir, err := src.IsDir(srcPath, o.FollowLink || strings.HasSuffix(srcPath, "/"))
	if err != nil {
		return 0, copyErr("could not find the file %s", srcPath)
	}
	if !srcDir && (contents || strings.HasSuffix(srcPath, "/")) {
		return 0, copyErr("%s: not a directory", srcPath)
	}
	top := path.Base(path.Clean("/" + srcPath))
	if contents {
		top = "."
	}
	dir := dstPath
	switch dstDir, err := dst.IsDir(dstPath, true); {
	case err == nil && dstDir:
	case err == nil && srcDir:
		return 0, copyErr("cannot copy a directory to a file: %s", dstPath)
	case err == nil:
		dir, top = path.Dir(path.Clean("/"+dstPath)), path.Base(path.Clean("/"+dstPath))
	case !errors.Is(err, fs.ErrNotExist):
		return 0, err
	case strings.HasSuffix(dstPath, "/") && !srcDir:
		return 0, copyErr("destination directory %s does not exist", dstPath)
	default:
		dir, top = path.Dir(path.Clean("/"+dstPath)), path.Base(path.Clean("/"+dstPath))
		if isDir, err := dst.IsDir(dir, true); err != nil || !isDir {
			return 0, copyErr("no such directory: %s", dir)
		}
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(src.Archive(pw, srcPath, top, o.FollowLink)) }()
	cr := &counter{r: pr}
	err = dst.Extract(cr, dir, o.Extract)
	pr.CloseWithError(io.ErrClosedPipe)
	return cr.n, err
}

type counter struct {
	r io.Reader
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// ArchivePath writes srcPath as docker cp SRC - does: a tar whose top
// entry is the source's name (its contents for "DIR/.").
func ArchivePath(w io.Writer, src Tree, srcPath string, follow bool) error {
	if _, err := src.IsDir(srcPath, follow); err != nil {
		return copyErr("could not find the file %s", srcPath)
	}
	top := path.Base(path.Clean("/" + srcPath))
	if strings.HasSuffix(srcPath, "/.") || srcPath == "." {
		top = "."
	}
	return src.Archive(w, srcPath, top, follow)
}

// ExtractPath extracts a tar into dstPath, which must be a directory
// (docker cp - DEST).
func ExtractPath(r io.Reader, dst Tree, dstPath string, o ExtractOptions) error {
	isDir, err := dst.IsDir(dstPath, true)
	if err != nil || !isDir {
		return copyErr("destination %s must be a directory", dstPath)
	}
	return dst.Extract(r, dstPath, o)
}
