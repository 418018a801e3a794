package unionfstest

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Mount is a union mounted for a test.
type Mount interface {
	// Dir is the mount point.
	Dir() string
	// Remount unmounts the union and mounts it again over the same
	// layers and upper directory.
	Remount(t *testing.T)
}

// Factory mounts the union of layers (bottom first) with an empty upper
// directory, and unmounts it in t.Cleanup, even when the test fails. It
// skips t when the implementation cannot run here.
type Factory func(t *testing.T, layers []Layer) Mount

// Case is one behaviour: layers, then steps that change and observe the
// union through a Steps recorder.
type Case struct {
	Name   string
	Layers []Layer
	Steps  func(s *Steps)
	// Index compares with overlayfs mounted with index=on, for what lfs
	// does as that mode does (hard links kept across copy-up).
	Index bool
}

// Suite runs every case of Cases through mount and through kernel
// overlayfs, and fails where the two differ: in what each step returned
// (errno, contents, stat fields) or in the tree the union shows after the
// steps and after a remount. It skips without root or overlayfs.
func Suite(t *testing.T, mount Factory) {
	Compare(t, mount, KernelOverlay, Cases)
}

// Compare runs cases through two factories and compares what they record.
func Compare(t *testing.T, mount, reference Factory, cases []Case) {
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			ref := reference
			if c.Index {
				ref = kernelOverlayIndex
			}
			want := record(t, ref, c)
			got := record(t, mount, c)
			if got != want {
				t.Errorf("union differs from the reference\n%s", diff(want, got))
			}
		})
	}
}

func record(t *testing.T, f Factory, c Case) string {
	t.Helper()
	m := f(t, c.Layers)
	s := &Steps{t: t, root: m.Dir(), inos: map[string]uint64{}}
	if c.Steps != nil {
		c.Steps(s)
	}
	live := Dump(m.Dir())
	m.Remount(t)
	again := Dump(m.Dir())
	if again != live {
		t.Errorf("remount changed the tree\n%s", diff(live, again))
	}
	return strings.Join(s.log, "\n") + "\n--- tree\n" + live
}

func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			fmt.Fprintf(&b, "line %d:\n  want %q\n   got %q\n", i+1, a, c)
			if shown++; shown == 5 {
				b.WriteString("(more lines differ)\n")
				break
			}
		}
	}
	return b.String()
}

// Steps applies operations below a mount point and records what they
// returned, in a form that does not depend on the implementation (errno
// names, contents, stat fields, inode equalities but not inode numbers).
type Steps struct {
	t    *testing.T
	root string
	log  []string
	inos map[string]uint64
}

// Path is p below the mount point.
func (s *Steps) Path(p string) string { return filepath.Join(s.root, p) }

// Logf records a line.
func (s *Steps) Logf(format string, args ...any) { s.log = append(s.log, fmt.Sprintf(format, args...)) }

// Do records err, as an errno name, for the step named by desc.
func (s *Steps) Do(desc string, err error) { s.Logf("%s: %s", desc, Errno(err)) }

// Errno names the errno inside err ("ok" for nil).
func Errno(err error) string {
	if err == nil {
		return "ok"
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return unix.ErrnoName(e)
	}
	return "error " + err.Error()
}

func (s *Steps) Read(p string) {
	b, err := os.ReadFile(s.Path(p))
	if err != nil {
		s.Do("read "+p, err)
		return
	}
	s.Logf("read %s: %q", p, b)
}

func (s *Steps) write(p string, flags int, data string) {
	f, err := os.OpenFile(s.Path(p), flags, 0o644)
	if err == nil {
		_, err = f.WriteString(data)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	s.Do(fmt.Sprintf("write %s flags %#x", p, flags), err)
}

// Write replaces p's contents (O_TRUNC), creating it if needed.
func (s *Steps) Write(p, data string) { s.write(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, data) }

// Append appends with O_APPEND.
func (s *Steps) Append(p, data string) { s.write(p, os.O_WRONLY|os.O_APPEND, data) }

// Overwrite writes at offset 0 without truncating.
func (s *Steps) Overwrite(p, data string) { s.write(p, os.O_RDWR, data) }

// CreateExcl creates p with O_EXCL.
func (s *Steps) CreateExcl(p string) { s.write(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, "") }

func (s *Steps) Truncate(p string, n int64) {
	s.Do(fmt.Sprintf("truncate %s %d", p, n), os.Truncate(s.Path(p), n))
}
func (s *Steps) Unlink(p string) { s.Do("unlink "+p, unix.Unlink(s.Path(p))) }
func (s *Steps) Rmdir(p string)  { s.Do("rmdir "+p, unix.Rmdir(s.Path(p))) }
func (s *Steps) Mkdir(p string, mode uint32) {
	s.Do(fmt.Sprintf("mkdir %s %o", p, mode), unix.Mkdir(s.Path(p), mode))
}
func (s *Steps) Mkfifo(p string) { s.Do("mkfifo "+p, unix.Mkfifo(s.Path(p), 0o640)) }
func (s *Steps) Rename(a, b string) {
	s.Do("rename "+a+" "+b, unix.Rename(s.Path(a), s.Path(b)))
}
func (s *Steps) Rename2(a, b string, flags uint) {
	s.Do(fmt.Sprintf("renameat2 %s %s %d", a, b, flags),
		unix.Renameat2(unix.AT_FDCWD, s.Path(a), unix.AT_FDCWD, s.Path(b), flags))
}
func (s *Steps) Symlink(target, p string) { s.Do("symlink "+p, unix.Symlink(target, s.Path(p))) }
func (s *Steps) Link(a, b string)         { s.Do("link "+a+" "+b, unix.Link(s.Path(a), s.Path(b))) }
func (s *Steps) Chmod(p string, m uint32) {
	s.Do(fmt.Sprintf("chmod %s %o", p, m), unix.Chmod(s.Path(p), m))
}
func (s *Steps) Chown(p string, uid, gid int) {
	s.Do(fmt.Sprintf("lchown %s %d %d", p, uid, gid), unix.Lchown(s.Path(p), uid, gid))
}
func (s *Steps) Utime(p string, sec int64) {
	ts := []unix.Timespec{{Sec: sec}, {Sec: sec}}
	s.Do(fmt.Sprintf("utimens %s %d", p, sec), unix.UtimesNanoAt(unix.AT_FDCWD, s.Path(p), ts, unix.AT_SYMLINK_NOFOLLOW))
}
func (s *Steps) Setxattr(p, k, v string) {
	s.Do("setxattr "+p+" "+k, unix.Lsetxattr(s.Path(p), k, []byte(v), 0))
}
func (s *Steps) Removexattr(p, k string) {
	s.Do("removexattr "+p+" "+k, unix.Lremovexattr(s.Path(p), k))
}
func (s *Steps) Getxattr(p, k string) {
	buf := make([]byte, 4096)
	n, err := unix.Lgetxattr(s.Path(p), k, buf)
	if err != nil {
		s.Do("getxattr "+p+" "+k, err)
		return
	}
	s.Logf("getxattr %s %s: %q", p, k, buf[:n])
}
func (s *Steps) Readlink(p string) {
	v, err := os.Readlink(s.Path(p))
	if err != nil {
		s.Do("readlink "+p, err)
		return
	}
	s.Logf("readlink %s: %q", p, v)
}

// Stat records p's stat fields.
func (s *Steps) Stat(p string) {
	var st unix.Stat_t
	if err := unix.Lstat(s.Path(p), &st); err != nil {
		s.Do("stat "+p, err)
		return
	}
	s.Logf("stat %s: %s", p, statLine(&st))
}

// Ls records the sorted names of a directory, flagging duplicates.
func (s *Steps) Ls(p string) {
	ents, err := os.ReadDir(s.Path(p))
	if err != nil {
		s.Do("ls "+p, err)
		return
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	s.Logf("ls %s: %s", p, strings.Join(names, " "))
}

// Remember notes p's inode number under key; SameIno later records
// whether another path (or the same after changes) has that number.
func (s *Steps) Remember(key, p string) {
	var st unix.Stat_t
	if err := unix.Lstat(s.Path(p), &st); err != nil {
		s.Do("stat "+p, err)
		return
	}
	s.inos[key] = st.Ino
}

func (s *Steps) SameIno(key, p string) {
	var st unix.Stat_t
	if err := unix.Lstat(s.Path(p), &st); err != nil {
		s.Do("stat "+p, err)
		return
	}
	s.Logf("ino of %s is %s's: %v", p, key, st.Ino == s.inos[key])
}

func statLine(st *unix.Stat_t) string {
	t := st.Mode & unix.S_IFMT
	line := fmt.Sprintf("type %o mode %04o uid %d gid %d", t>>12, st.Mode&0o7777, st.Uid, st.Gid)
	if t != unix.S_IFDIR {
		line += fmt.Sprintf(" size %d nlink %d", st.Size, st.Nlink)
	}
	if t == unix.S_IFCHR || t == unix.S_IFBLK {
		line += fmt.Sprintf(" rdev %d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}
	return line
}

// Dump describes the tree at root, one line per entry in path order:
// stat fields, content digests, symlink targets, user and trusted xattrs,
// and which entries share an inode. Directory sizes, times and inode
// numbers are left out: they differ between filesystems by design.
func Dump(root string) string {
	var b strings.Builder
	first := map[uint64]string{}
	var walk func(rel string)
	walk = func(rel string) {
		p := filepath.Join(root, rel)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			fmt.Fprintf(&b, "%s: %s\n", rel, Errno(err))
			return
		}
		fmt.Fprintf(&b, "%s: %s", rel, statLine(&st))
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			data, err := os.ReadFile(p)
			if err != nil {
				fmt.Fprintf(&b, " read %s", Errno(err))
			} else if len(data) <= 32 {
				fmt.Fprintf(&b, " data %q", data)
			} else {
				fmt.Fprintf(&b, " sha256 %x", sha256.Sum256(data))
			}
			if st.Nlink > 1 {
				if f, ok := first[st.Ino]; ok {
					fmt.Fprintf(&b, " same inode as %s", f)
				} else {
					first[st.Ino] = rel
				}
			}
		case unix.S_IFLNK:
			t, _ := os.Readlink(p)
			fmt.Fprintf(&b, " -> %q", t)
		}
		if xs := dumpXattrs(p); xs != "" {
			fmt.Fprintf(&b, " xattrs %s", xs)
		}
		b.WriteByte('\n')
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return
		}
		ents, err := os.ReadDir(p)
		if err != nil {
			fmt.Fprintf(&b, "%s/: readdir %s\n", rel, Errno(err))
			return
		}
		seen := map[string]bool{}
		for _, e := range ents {
			if seen[e.Name()] {
				fmt.Fprintf(&b, "%s/%s: listed twice\n", rel, e.Name())
			}
			seen[e.Name()] = true
		}
		for _, e := range ents {
			walk(filepath.Join(rel, e.Name()))
		}
	}
	walk(".")
	return b.String()
}

func dumpXattrs(p string) string {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(p, buf)
	if err != nil || n == 0 {
		return ""
	}
	var out []string
	for _, k := range strings.Split(string(buf[:n]), "\x00") {
		if k == "" || !(strings.HasPrefix(k, "user.") || strings.HasPrefix(k, "trusted.")) {
			continue
		}
		v := make([]byte, 64<<10)
		m, err := unix.Lgetxattr(p, k, v)
		if err != nil {
			out = append(out, k+"="+Errno(err))
			continue
		}
		out = append(out, fmt.Sprintf("%s=%q", k, v[:m]))
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// CanMount skips t unless it runs as root with /dev/fuse.
func CanMount(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mount tests need root (kernel overlayfs and allow_other)")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("mount tests need /dev/fuse:", err)
	}
}

type overlayMount struct {
	dir, opts string
}

func (m *overlayMount) Dir() string { return m.dir }

func (m *overlayMount) mount() error {
	return unix.Mount("overlay", m.dir, "overlay", 0, m.opts)
}

func (m *overlayMount) Remount(t *testing.T) {
	t.Helper()
	if err := unix.Unmount(m.dir, 0); err != nil {
		t.Fatalf("unmount overlay: %v", err)
	}
	if err := m.mount(); err != nil {
		t.Fatalf("mount overlay: %v", err)
	}
}

// KernelOverlay is the reference Factory: kernel overlayfs over the layers
// extracted into directories, with redirect_dir, index and metacopy off
// (what lfs implements).
func KernelOverlay(t *testing.T, layers []Layer) Mount {
	t.Helper()
	return kernelOverlay(t, layers, "off")
}

// kernelOverlayIndex is kernel overlayfs with index=on, which keeps lower
// hard links together when one name is copied up.
func kernelOverlayIndex(t *testing.T, layers []Layer) Mount {
	t.Helper()
	return kernelOverlay(t, layers, "on")
}

func kernelOverlay(t *testing.T, layers []Layer, index string) Mount {
	t.Helper()
	CanMount(t)
	base := t.TempDir()
	dirs := ExtractAll(t, base, layers, Overlay)
	upper, work, mnt := filepath.Join(base, "upper"), filepath.Join(base, "work"), filepath.Join(base, "mnt")
	for _, d := range []string{upper, work, mnt} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	m := &overlayMount{dir: mnt, opts: fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s,redirect_dir=off,index=%s,metacopy=off",
		strings.Join(dirs, ":"), upper, work, index)}
	if err := m.mount(); err != nil {
		t.Skipf("kernel overlayfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, 0); err != nil {
			exec.Command("umount", "-l", mnt).Run()
		}
	})
	return m
}

// ExtractAll writes layers (bottom first) into base/l0, base/l1, ... and
// returns the directories topmost first, as overlayfs's lowerdir lists them.
func ExtractAll(t *testing.T, base string, layers []Layer, d Dialect) []string {
	t.Helper()
	var dirs []string
	for i, l := range layers {
		dir := filepath.Join(base, fmt.Sprintf("l%d", i))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := l.Extract(dir, d); err != nil {
			t.Fatal(err)
		}
		dirs = append([]string{dir}, dirs...)
	}
	return dirs
}

// NewSteps records steps below root, for debugging a case by hand.
func NewSteps(t *testing.T, root string) *Steps {
	return &Steps{t: t, root: root, inos: map[string]uint64{}}
}

// Log is what the steps recorded.
func (s *Steps) Log() string { return strings.Join(s.log, "\n") }
