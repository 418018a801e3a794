package unionfs

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// dirLayer is a layer kept as a directory tree. It reads three dialects of
// deletion, so that it can be the lower of a union whatever wrote it:
//
//   - OCI (and lfs's upper directory): an empty file ".wh.NAME" deletes NAME,
//     ".wh..wh..opq" in a directory makes it opaque. A NAME present beside
//     its ".wh.NAME" is shown: the whiteout hides only layers below.
//   - kernel overlayfs: a character device 0/0 named NAME deletes it, and
//     the xattr trusted.overlay.opaque (or user.overlay.opaque) = "y" makes
//     a directory opaque.
//
// Every access is relative to a descriptor of the root, never through a
// rebuilt absolute path, except extended attributes (Linux has no
// getxattrat before 6.13).
type dirLayer struct {
	root string
	fd   int
}

// DirLayer opens the directory root as a read-only layer. Close it with
// CloseLayer when the union is done.
func DirLayer(root string) (Layer, error) {
	return openDirLayer(root)
}

func openDirLayer(root string) (*dirLayer, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("open layer %s: %w", root, err)
	}
	fd, err := unix.Open(abs, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open layer %s: %w", root, err)
	}
	return &dirLayer{root: abs, fd: fd}, nil
}

// CloseLayer releases what a layer from DirLayer holds; other layers have
// nothing to release.
func CloseLayer(l Layer) error {
	if d, ok := l.(*dirLayer); ok {
		return d.close()
	}
	return nil
}

func (l *dirLayer) close() error {
	if err := unix.Close(l.fd); err != nil {
		return fmt.Errorf("close layer %s: %w", l.root, err)
	}
	return nil
}

func join(dir, name string) string {
	if dir == "." || dir == "" {
		return name
	}
	return dir + "/" + name
}

func (l *dirLayer) abs(p string) string {
	if p == "." || p == "" {
		return l.root
	}
	return l.root + "/" + p
}

// openBeneath opens p below the directory dirfd without following any
// symlink on the way, so that a component swapped for a symlink meanwhile
// (a rename racing with a lookup) cannot lead outside the layer: ELOOP.
func openBeneath(dirfd int, p string, flags int, mode uint32) (int, error) {
	for {
		fd, err := unix.Openat2(dirfd, p, &unix.OpenHow{
			Flags:   uint64(flags),
			Mode:    uint64(mode),
			Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_BENEATH,
		})
		if err != unix.EAGAIN { // a concurrent rename elsewhere: retry
			return fd, err
		}
	}
}

func (l *dirLayer) lstat(p string, st *unix.Stat_t) error {
	if p == "" {
		p = "."
	}
	return unix.Fstatat(l.fd, p, st, unix.AT_SYMLINK_NOFOLLOW)
}

func isWhiteoutDev(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

func (l *dirLayer) opaque(p string) bool {
	var st unix.Stat_t
	if l.lstat(join(p, opaqueMarker), &st) == nil {
		return true
	}
	var b [1]byte
	for _, x := range [...]string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		if n, err := unix.Lgetxattr(l.abs(p), x, b[:]); err == nil && n == 1 && b[0] == 'y' {
			return true
		}
	}
	return false
}

func (l *dirLayer) Root() (Found, error) {
	return Found{Ref: Ref{Path: "."}, Type: TypeDir, Opaque: l.opaque(".")}, nil
}

func (l *dirLayer) Lookup(dir Ref, name string) (Found, error) {
	if strings.HasPrefix(name, whiteoutPrefix) {
		return Found{}, nil
	}
	p := join(dir.Path, name)
	var st unix.Stat_t
	err := l.lstat(p, &st)
	switch {
	case err == nil:
		if isWhiteoutDev(&st) {
			return Found{Type: TypeWhiteout}, nil
		}
		t := typeFromMode(st.Mode)
		return Found{Ref: Ref{Path: p}, Type: t, Opaque: t == TypeDir && l.opaque(p)}, nil
	case err == unix.ENOENT:
	case err == unix.ENOTDIR:
		return Found{}, nil
	default:
		return Found{}, fmt.Errorf("lookup %s: %w", l.abs(p), err)
	}
	if l.lstat(join(dir.Path, whiteoutPrefix+name), &st) == nil {
		return Found{Type: TypeWhiteout}, nil
	}
	return Found{}, nil
}

func (l *dirLayer) ReadDir(dir Ref) ([]DirEntry, error) {
	ents, err := l.readDir(dir.Path)
	if err != nil {
		return nil, err
	}
	out := ents[:0]
	for _, e := range ents {
		switch {
		case e.Name == "." || e.Name == "..":
			continue
		case strings.HasPrefix(e.Name, whiteoutPrefix+whiteoutPrefix):
			// The opaque marker and other metadata (lfs's work
			// area): never shown, and not a whiteout.
			continue
		case strings.HasPrefix(e.Name, whiteoutPrefix):
			e.Name = e.Name[len(whiteoutPrefix):]
			e.Type = TypeWhiteout
		case e.Type == TypeChar:
			var st unix.Stat_t
			if l.lstat(join(dir.Path, e.Name), &st) == nil && isWhiteoutDev(&st) {
				e.Type = TypeWhiteout
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// readDir lists a directory with getdents64, which gives d_ino and d_type
// without a stat per entry.
func (l *dirLayer) readDir(p string) ([]DirEntry, error) {
	if p == "" {
		p = "."
	}
	fd, err := openBeneath(l.fd, p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("read dir %s: %w", l.abs(p), err)
	}
	defer unix.Close(fd)
	var out []DirEntry
	buf := make([]byte, 32<<10)
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			return nil, fmt.Errorf("read dir %s: %w", l.abs(p), err)
		}
		if n <= 0 {
			return out, nil
		}
		b := buf[:n]
		// struct linux_dirent64 { u64 ino; s64 off; u16 reclen; u8 type; char name[]; }
		for len(b) >= 19 {
			ino := binary.NativeEndian.Uint64(b[0:])
			reclen := int(binary.NativeEndian.Uint16(b[16:]))
			if reclen < 19 || reclen > len(b) {
				break
			}
			typ := b[18]
			name := b[19:reclen]
			if i := indexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			out = append(out, DirEntry{Name: string(name), Type: direntType(typ), Ino: ino})
			b = b[reclen:]
		}
	}
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func direntType(t uint8) Type {
	switch t {
	case unix.DT_DIR:
		return TypeDir
	case unix.DT_REG:
		return TypeReg
	case unix.DT_LNK:
		return TypeSymlink
	case unix.DT_CHR:
		return TypeChar
	case unix.DT_BLK:
		return TypeBlock
	case unix.DT_FIFO:
		return TypeFIFO
	case unix.DT_SOCK:
		return TypeSocket
	}
	return TypeNone
}

func attrFromStat(st *unix.Stat_t) Attr {
	return Attr{
		Ino:    st.Ino,
		Mode:   st.Mode,
		Nlink:  uint32(st.Nlink),
		UID:    st.Uid,
		GID:    st.Gid,
		Size:   st.Size,
		Blocks: st.Blocks,
		Rdev:   st.Rdev,
		Atime:  time.Unix(st.Atim.Unix()),
		Mtime:  time.Unix(st.Mtim.Unix()),
		Ctime:  time.Unix(st.Ctim.Unix()),
	}
}

func (l *dirLayer) Stat(r Ref) (Attr, error) {
	var st unix.Stat_t
	if err := l.lstat(r.Path, &st); err != nil {
		return Attr{}, fmt.Errorf("stat %s: %w", l.abs(r.Path), err)
	}
	return attrFromStat(&st), nil
}

func (l *dirLayer) Readlink(r Ref) (string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Readlinkat(l.fd, r.Path, buf)
		if err != nil {
			return "", fmt.Errorf("readlink %s: %w", l.abs(r.Path), err)
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		buf = make([]byte, 2*len(buf))
	}
}

// Open opens the file on its first read: a warm read is served from the
// kernel's page cache and never reaches the layer, so most opens need no
// descriptor at all.
func (l *dirLayer) Open(r Ref) (Data, error) {
	return &fileData{l: l, path: r.Path}, nil
}

func (l *dirLayer) Xattrs(r Ref) (map[string][]byte, error) {
	names, err := listXattrs(l.abs(r.Path))
	if err != nil {
		return nil, err
	}
	var m map[string][]byte
	for _, n := range names {
		if privateXattr(n) {
			continue
		}
		v, err := getXattr(l.abs(r.Path), n)
		if err != nil {
			continue // removed meanwhile
		}
		if m == nil {
			m = map[string][]byte{}
		}
		m[n] = v
	}
	return m, nil
}

// Links walks the whole layer: hard links are rare, and a copy-up of one
// happens once.
func (l *dirLayer) Links(r Ref) ([]string, error) {
	var st unix.Stat_t
	if err := l.lstat(r.Path, &st); err != nil {
		return nil, fmt.Errorf("stat %s: %w", l.abs(r.Path), err)
	}
	var out []string
	err := filepath.WalkDir(l.root, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(l.root, p)
		var x unix.Stat_t
		if l.lstat(rel, &x) == nil && x.Ino == st.Ino && x.Dev == st.Dev {
			out = append(out, rel)
		}
		return nil
	})
	return out, err
}

// getXattr reads one attribute of path, not following a final symlink.
func getXattr(path, name string) ([]byte, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Lgetxattr(path, name, buf)
		if err == unix.ERANGE {
			sz, err2 := unix.Lgetxattr(path, name, nil)
			if err2 != nil {
				return nil, fmt.Errorf("getxattr %s %s: %w", path, name, err2)
			}
			buf = make([]byte, sz+1)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("getxattr %s %s: %w", path, name, err)
		}
		return buf[:n], nil
	}
}

// listXattrs lists the attribute names of path, not following a symlink.
func listXattrs(path string) ([]string, error) {
	sz, err := unix.Llistxattr(path, nil)
	if err != nil {
		if err == unix.ENOTSUP {
			return nil, nil
		}
		return nil, fmt.Errorf("listxattr %s: %w", path, err)
	}
	if sz == 0 {
		return nil, nil
	}
	buf := make([]byte, sz+64)
	sz, err = unix.Llistxattr(path, buf)
	if err != nil {
		return nil, fmt.Errorf("listxattr %s: %w", path, err)
	}
	var names []string
	for _, n := range strings.Split(string(buf[:sz]), "\x00") {
		if n != "" {
			names = append(names, n)
		}
	}
	return names, nil
}

// fileData is an open regular file of a directory layer, opened lazily.
type fileData struct {
	l    *dirLayer
	path string

	once sync.Once
	f    *os.File
	size int64
	err  error
}

func (d *fileData) open() error {
	d.once.Do(func() {
		fd, err := openBeneath(d.l.fd, d.path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
		if err != nil {
			d.err = fmt.Errorf("open %s: %w", d.l.abs(d.path), err)
			return
		}
		d.f = os.NewFile(uintptr(fd), d.l.abs(d.path))
		fi, err := d.f.Stat()
		if err != nil {
			d.err = err
			return
		}
		d.size = fi.Size()
	})
	return d.err
}

func (d *fileData) ReadAt(p []byte, off int64) (int, error) {
	if err := d.open(); err != nil {
		return 0, err
	}
	return d.f.ReadAt(p, off)
}

func (d *fileData) Size() int64 {
	if d.open() != nil {
		return 0
	}
	return d.size
}

func (d *fileData) File() (*os.File, int64, bool) {
	if d.open() != nil {
		return nil, 0, false
	}
	return d.f, 0, true
}

func (d *fileData) Close() error {
	d.once.Do(func() {}) // never opened: stays so; else see d.f
	if d.f == nil {
		return nil
	}
	return d.f.Close()
}
