package unionfstest

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// ReadAfterWrite opens p for reading, then writes data at offset 0
// through a second descriptor (a copy-up for a lower file), and records
// what the first descriptor reads: overlayfs since Linux 4.19 shows the
// new data.
func (s *Steps) ReadAfterWrite(p, data string) {
	r, err := os.Open(s.Path(p))
	if err != nil {
		s.Do("open "+p, err)
		return
	}
	defer r.Close()
	s.Overwrite(p, data)
	b := make([]byte, 4096)
	n, err := r.ReadAt(b, 0)
	if n == 0 && err != nil {
		s.Do("read old fd "+p, err)
		return
	}
	s.Logf("read old fd %s: %q", p, b[:n])
}

// Fsync appends data to p with O_APPEND and records fsync and fdatasync.
func (s *Steps) Fsync(p, data string) {
	f, err := os.OpenFile(s.Path(p), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		s.Do("open "+p, err)
		return
	}
	defer f.Close()
	_, err = f.WriteString(data)
	s.Do("append "+p, err)
	s.Do("fsync "+p, unix.Fsync(int(f.Fd())))
	s.Do("fdatasync "+p, unix.Fdatasync(int(f.Fd())))
}

// Statfs records the fields of statfs(2) that do not change as the test
// runs: block size and maximum name length.
func (s *Steps) Statfs(p string) {
	var st unix.Statfs_t
	if err := unix.Statfs(s.Path(p), &st); err != nil {
		s.Do("statfs "+p, err)
		return
	}
	s.Logf("statfs %s: bsize %d namelen %d", p, st.Bsize, st.Namelen)
}

// MmapWrite writes data at offset 0 of p through a MAP_SHARED mapping,
// then msyncs and unmaps it. A child process does it: a page fault on a
// FUSE mount served by this process would block a thread the Go runtime
// may wait for (go-fuse's deadlock notes).
func (s *Steps) MmapWrite(p, data string) {
	cmd := exec.Command("/proc/self/exe", s.Path(p), data)
	cmd.Env = append(os.Environ(), childEnv+"=mmap")
	out, err := cmd.Output()
	if err != nil {
		s.Logf("mmap %s: child: %v", p, err)
		return
	}
	s.Logf("mmap %s: %s", p, strings.TrimSpace(string(out)))
}

// childEnv makes a test binary that imports this package run one step
// in a child process and exit (see init).
const childEnv = "UNIONFSTEST_CHILD"

func init() {
	if os.Getenv(childEnv) == "mmap" && len(os.Args) == 3 {
		fmt.Println(mmapWrite(os.Args[1], os.Args[2]))
		os.Exit(0)
	}
}

func mmapWrite(p, data string) string {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return "open: " + Errno(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() < int64(len(data)) {
		return "file too short"
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return "mmap: " + Errno(err)
	}
	copy(m, data)
	return "msync " + Errno(unix.Msync(m, unix.MS_SYNC)) + ", munmap " + Errno(unix.Munmap(m))
}

// dirent is one entry of getdents64: its name and its d_off cookie.
type dirent struct {
	name string
	off  int64
}

// getdents reads up to max entries from fd with a buffer that holds only
// a few, so that a listing takes many calls.
func getdents(fd, max int) ([]dirent, error) {
	var out []dirent
	buf := make([]byte, 128)
	for len(out) < max {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			return out, err
		}
		if n <= 0 {
			break
		}
		for b := buf[:n]; len(b) >= 19; {
			reclen := int(binary.NativeEndian.Uint16(b[16:]))
			name := string(b[19:reclen])
			if i := strings.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			out = append(out, dirent{name: name, off: int64(binary.NativeEndian.Uint64(b[8:]))})
			b = b[reclen:]
		}
	}
	return out, nil
}

// ReaddirChanging reads directory p in small pieces, creating add new
// files and removing the names in remove once the first piece is read,
// and records whether every name that lived throughout was listed once:
// POSIX leaves open only whether the added and removed ones show.
func (s *Steps) ReaddirChanging(p string, add int, remove ...string) {
	fd, err := unix.Open(s.Path(p), unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		s.Do("open "+p, err)
		return
	}
	defer unix.Close(fd)
	before, _ := os.ReadDir(s.Path(p))
	first, err := getdents(fd, 2)
	if err != nil {
		s.Do("getdents "+p, err)
		return
	}
	for i := range add {
		s.Write(fmt.Sprintf("%s/added%d", p, i), "")
	}
	for _, r := range remove {
		s.Unlink(p + "/" + r)
	}
	rest, err := getdents(fd, 1<<20)
	if err != nil {
		s.Do("getdents "+p, err)
		return
	}
	seen := map[string]int{}
	for _, e := range append(first, rest...) {
		seen[e.name]++
	}
	var dup, missing []string
	for n, c := range seen {
		if c > 1 {
			dup = append(dup, n)
		}
	}
	gone := map[string]bool{}
	for _, r := range remove {
		gone[r] = true
	}
	for _, e := range before {
		if !gone[e.Name()] && seen[e.Name()] == 0 {
			missing = append(missing, e.Name())
		}
	}
	sort.Strings(dup)
	sort.Strings(missing)
	s.Logf("readdir %s while changing: dot entries %d, duplicates [%s], missing [%s]", p,
		seen["."]+seen[".."], strings.Join(dup, " "), strings.Join(missing, " "))
}

// Seekdir lists p, then seeks back to the cookie (d_off) of its third
// entry, as seekdir(telldir()) would, and records whether reading on
// from there gives the same entries as the first pass did.
func (s *Steps) Seekdir(p string) {
	fd, err := unix.Open(s.Path(p), unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		s.Do("open "+p, err)
		return
	}
	defer unix.Close(fd)
	all, err := getdents(fd, 1<<20)
	if err != nil || len(all) < 4 {
		s.Logf("seekdir %s: %d entries, %v", p, len(all), err)
		return
	}
	if _, err := unix.Seek(fd, all[2].off, 0); err != nil {
		s.Do("seekdir "+p, err)
		return
	}
	again, err := getdents(fd, 1<<20)
	if err != nil {
		s.Do("getdents "+p, err)
		return
	}
	same := len(again) == len(all)-3
	for i := 0; same && i < len(again); i++ {
		same = again[i].name == all[i+3].name
	}
	s.Logf("seekdir %s: rest after the third entry the same: %v", p, same)
}
