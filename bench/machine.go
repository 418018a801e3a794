package bench

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Machine describes where a report was measured.
type Machine struct {
	Kernel        string `json:"kernel"`         // uname -r
	KernelVersion string `json:"kernel_version"` // uname -v
	Arch          string `json:"arch"`
	OS            string `json:"os"` // PRETTY_NAME of /etc/os-release
	CPU           string `json:"cpu"`
	CPUs          int    `json:"cpus"`
	MemoryBytes   int64  `json:"memory_bytes"`
	Dir           string `json:"dir"`
	DirFS         string `json:"dir_fs"` // the filesystem type under Dir
	DirSource     string `json:"dir_source"`
	DirOptions    string `json:"dir_options"`
	Root          bool   `json:"root"`
}

func describeMachine(dir string) Machine {
	m := Machine{Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), Dir: dir, Root: os.Geteuid() == 0}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel, m.KernelVersion = unix.ByteSliceToString(u.Release[:]), unix.ByteSliceToString(u.Version[:])
		m.Arch = unix.ByteSliceToString(u.Machine[:])
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				m.OS = strings.Trim(v, `"`)
			}
		}
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.Join(strings.Fields(v), " ")
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				m.MemoryBytes = kb * 1024
			}
		}
	}
	m.DirFS, m.DirSource, m.DirOptions = mountOf(dir)
	return m
}

// mountOf returns the type, source and options of the mount holding dir:
// the longest mount point that is a prefix of it.
func mountOf(dir string) (fstype, source, options string) {
	if d, err := filepath.EvalSymlinks(dir); err == nil {
		dir = d
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", "", ""
	}
	defer f.Close()
	best := -1
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64*kiB), miB)
	for s.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPEROPTIONS
		pre, post, ok := strings.Cut(s.Text(), " - ")
		if !ok {
			continue
		}
		a, b := strings.Fields(pre), strings.Fields(post)
		if len(a) < 6 || len(b) < 2 {
			continue
		}
		mp := unescapeMount(a[4])
		if (dir == mp || strings.HasPrefix(dir, strings.TrimSuffix(mp, "/")+"/")) && len(mp) >= best {
			best = len(mp)
			fstype, source, options = b[0], unescapeMount(b[1]), a[5]
		}
	}
	return fstype, source, options
}
