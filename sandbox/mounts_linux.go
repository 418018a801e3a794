package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// hostFiles are detached mounts (open_tree) of what the container gets
// from the host, made before the pivot.
type hostFiles struct {
	dev   map[string]int // null, zero, ... -> fd
	etc   map[string]int // hosts, hostname, resolv.conf -> fd
	binds map[int]int    // index in Spec.Mounts -> fd
	proc  int            // a new procfs of our pid namespace
	sys   int            // a new sysfs of our network namespace, else the host's /sys
	// hostDev are, with Spec.Privileged, the host's other device nodes
	// (path under /dev -> fd).
	hostDev map[string]int
}

var devices = []string{"null", "zero", "full", "random", "urandom", "tty"}

// cloneTree is a detached copy of the mount at p (with what is mounted
// below it when recursive). A bind's source must be in our mount
// namespace, which the host's tree no longer is after the pivot; a
// detached tree can be attached anywhere. For a device its own open
// (ENXIO for a tty without a controlling terminal) never runs.
func cloneTree(p string, recursive bool) (int, error) {
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, p, flags)
	if err != nil {
		return -1, fmt.Errorf("sandbox: open_tree %s: %w", p, err)
	}
	return fd, nil
}

// newFS makes a detached mount of a new filesystem (fsopen, fsmount).
// In a user namespace the kernel makes a procfs or sysfs only while one
// is fully visible in the mount namespace, so they are made before the
// pivot drops the host's.
func newFS(fstype string, attr int) (int, error) {
	fd, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, err
	}
	defer unix.Close(fd)
	if err := unix.FsconfigCreate(fd); err != nil {
		return -1, err
	}
	return unix.Fsmount(fd, unix.FSMOUNT_CLOEXEC, attr)
}

func openHost(spec Spec) (*hostFiles, error) {
	h := &hostFiles{dev: map[string]int{}, etc: map[string]int{}, binds: map[int]int{}, proc: -1, sys: -1, hostDev: map[string]int{}}
	fail := func(err error) (*hostFiles, error) {
		h.close()
		return nil, err
	}
	for _, d := range devices {
		fd, err := cloneTree("/dev/"+d, false)
		if err != nil {
			return fail(err)
		}
		h.dev[d] = fd
	}
	for name, p := range spec.Etc {
		fd, err := cloneTree(p, false)
		if err != nil {
			return fail(err)
		}
		h.etc[name] = fd
	}
	for i, m := range spec.Mounts {
		if m.Type != "bind" {
			continue
		}
		// Recursive, as docker's binds are (rbind).
		fd, err := cloneTree(m.Source, true)
		if err != nil {
			return fail(fmt.Errorf("sandbox: bind source %s: %w", m.Source, errors.Unwrap(err)))
		}
		h.binds[i] = fd
		if m.ReadOnly {
			// On the detached tree, recursively: nothing below the
			// bind stays writable.
			attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
			if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
				return fail(fmt.Errorf("sandbox: make %s read-only: %w", m.Source, err))
			}
		}
	}
	const nsx = unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC
	// A procfs of our own pid namespace: the host's processes stay
	// invisible.
	fd, err := newFS("proc", nsx)
	if err != nil {
		return fail(fmt.Errorf("sandbox: mount /proc: %w", err))
	}
	h.proc = fd
	// A sysfs shows the network namespace of its mounter; a user
	// namespace that does not own that namespace (the host's network)
	// may not make one, and gets the host's /sys, read-only. Privileged,
	// it is writable (as far as the kernel lets this process write it).
	sysAttr := uint64(unix.MOUNT_ATTR_RDONLY)
	if spec.Privileged {
		sysAttr = 0
	}
	if h.sys, err = newFS("sysfs", nsx|int(sysAttr)); err != nil {
		if h.sys, err = cloneTree("/sys", true); err != nil {
			return fail(err)
		}
		attr := &unix.MountAttr{Attr_set: sysAttr}
		if err := unix.MountSetattr(h.sys, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
			return fail(fmt.Errorf("sandbox: make /sys read-only: %w", err))
		}
	}
	if spec.Privileged {
		if err := h.openHostDevices("/dev"); err != nil {
			return fail(err)
		}
	}
	return h, nil
}

// openHostDevices clones every character and block device under dir of
// the host's /dev, as docker gives a privileged container the host's
// devices; the container's own pts, shm and mqueue stay its own, and
// the standard nodes are there already.
func (h *hostFiles) openHostDevices(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("sandbox: host devices: %w", err)
	}
	for _, e := range ents {
		p := dir + "/" + e.Name()
		rel := strings.TrimPrefix(p, "/dev/")
		switch t := e.Type(); {
		case t.IsDir():
			if rel == "pts" || rel == "shm" || rel == "mqueue" {
				continue
			}
			if err := h.openHostDevices(p); err != nil {
				return err
			}
		case t&(os.ModeDevice|os.ModeCharDevice) != 0:
			if _, std := h.dev[rel]; std || rel == "ptmx" || rel == "console" {
				continue
			}
			fd, err := cloneTree(p, false)
			if err != nil {
				return err
			}
			h.hostDev[rel] = fd
		}
	}
	return nil
}

func (h *hostFiles) close() {
	for _, fds := range []map[string]int{h.dev, h.etc} {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	for _, fd := range h.binds {
		unix.Close(fd)
	}
	for _, fd := range h.hostDev {
		unix.Close(fd)
	}
	for _, fd := range []int{h.proc, h.sys} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// attach mounts the detached tree fd onto target, resolved in the
// container's root (after the pivot, a symlink cannot lead out of it).
func attach(fd int, target string) error {
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("sandbox: mount %s: %w", target, err)
	}
	return nil
}

type mnt struct {
	source, target, fstype string
	flags                  uintptr
	data                   string
}

// mountSpecial mounts /proc, /dev (with its nodes, pts, shm, mqueue) and
// /sys inside the new root.
func mountSpecial(h *hostFiles) error {
	const nsd = unix.MS_NOSUID | unix.MS_NODEV
	for _, d := range []string{"/proc", "/sys"} {
		// Attached without following a symlink (move_mount): one there
		// is refused, as runc refuses it, rather than followed.
		if fi, err := os.Lstat(d); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("sandbox: mount %s: the image has a symlink there, not a directory", d)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("sandbox: mount %s: %w", d, err)
		}
	}
	if err := attach(h.proc, "/proc"); err != nil {
		return err
	}
	mounts := []mnt{
		// A fresh tmpfs, so the image's /dev (device nodes from a layer)
		// never reaches the container.
		{"tmpfs", "/dev", "tmpfs", unix.MS_NOSUID | unix.MS_STRICTATIME, "mode=755,size=65536k"},
		// newinstance: the container's ptys are its own, not the host's.
		{"devpts", "/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"},
		{"shm", "/dev/shm", "tmpfs", nsd | unix.MS_NOEXEC, "mode=1777,size=65536k"},
		// The ipc namespace's own message queues.
		{"mqueue", "/dev/mqueue", "mqueue", nsd | unix.MS_NOEXEC, ""},
	}
	for _, m := range mounts {
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			return fmt.Errorf("sandbox: mount %s: %w", m.target, err)
		}
		err := unix.Mount(m.source, m.target, m.fstype, m.flags, m.data)
		if errors.Is(err, unix.EINVAL) && m.fstype == "devpts" {
			// In a user namespace that maps no gid 5 (a single-id
			// mapping), ptys keep the opener's group.
			err = unix.Mount(m.source, m.target, m.fstype, m.flags, strings.TrimSuffix(m.data, ",gid=5"))
		}
		if err != nil {
			return fmt.Errorf("sandbox: mount %s: %w", m.target, err)
		}
	}
	// Device nodes are bound from the host's, not made with mknod, so
	// that the same code serves a user namespace (where mknod fails).
	for _, d := range devices {
		p := "/dev/" + d
		if err := os.WriteFile(p, nil, 0o666); err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
		if err := attach(h.dev[d], p); err != nil {
			return err
		}
	}
	for rel, fd := range h.hostDev {
		p := "/dev/" + rel
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
		if err := attach(fd, p); err != nil {
			return err
		}
	}
	for name, target := range map[string]string{
		"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
		"stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2", "core": "/proc/kcore",
	} {
		if err := os.Symlink(target, "/dev/"+name); err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
	}
	return attach(h.sys, "/sys")
}

// mountUser mounts the user's binds and tmpfs mounts, parents before
// what they hold. Targets are made inside the container's root: a
// directory, or an empty file for a bind of a non-directory.
func mountUser(h *hostFiles, mounts []Mount) error {
	order := make([]int, len(mounts))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		return depth(mounts[order[a]].Target) < depth(mounts[order[b]].Target)
	})
	for _, i := range order {
		m := mounts[i]
		target := path.Clean(m.Target)
		switch m.Type {
		case "bind":
			var st unix.Stat_t
			if err := unix.Fstatat(h.binds[i], "", &st, unix.AT_EMPTY_PATH); err != nil {
				return fmt.Errorf("sandbox: bind source %s: %w", m.Source, err)
			}
			if err := makeTarget(target, st.Mode&unix.S_IFMT == unix.S_IFDIR); err != nil {
				return err
			}
			if err := attach(h.binds[i], target); err != nil {
				return err
			}
		case "tmpfs":
			flags, data, err := tmpfsOptions(m)
			if err != nil {
				return fmt.Errorf("sandbox: %w", err)
			}
			if err := makeTarget(target, true); err != nil {
				return err
			}
			if err := unix.Mount("tmpfs", target, "tmpfs", flags, data); err != nil {
				return fmt.Errorf("sandbox: mount tmpfs %s: %w", target, err)
			}
		default:
			return fmt.Errorf("sandbox: mount %s: unknown type %q", target, m.Type)
		}
	}
	return nil
}

func depth(p string) int { return strings.Count(path.Clean(p), "/") }

// makeTarget makes a mount's target when it is missing: a directory, or
// an empty file. An existing target of the other kind is an error, as
// the kernel would refuse the mount.
func makeTarget(target string, dir bool) error {
	fi, err := os.Stat(target)
	switch {
	case err == nil && fi.IsDir() != dir:
		if dir {
			return fmt.Errorf("sandbox: mount %s: not a directory", target)
		}
		return fmt.Errorf("sandbox: mount %s: is a directory", target)
	case err == nil:
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("sandbox: mount %s: %w", target, err)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return fmt.Errorf("sandbox: mount %s: %w", target, err)
	}
	if dir {
		err = os.Mkdir(target, 0o755)
	} else {
		err = os.WriteFile(target, nil, 0o644)
	}
	if err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("sandbox: mount %s: %w", target, err)
	}
	return nil
}

// tmpfsOptions splits a tmpfs mount's options into mount flags and data;
// docker's default is noexec, nosuid, nodev.
func tmpfsOptions(m Mount) (uintptr, string, error) {
	flags := uintptr(unix.MS_NOEXEC | unix.MS_NOSUID | unix.MS_NODEV)
	if m.ReadOnly {
		flags |= unix.MS_RDONLY
	}
	var data []string
	for _, o := range m.Options {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "exec":
			flags &^= unix.MS_NOEXEC
		case "noexec":
			flags |= unix.MS_NOEXEC
		case "suid":
			flags &^= unix.MS_NOSUID
		case "nosuid":
			flags |= unix.MS_NOSUID
		case "dev":
			flags &^= unix.MS_NODEV
		case "nodev":
			flags |= unix.MS_NODEV
		case "ro":
			flags |= unix.MS_RDONLY
		case "rw":
			flags &^= unix.MS_RDONLY
		case "size", "mode", "uid", "gid", "nr_inodes", "nr_blocks":
			if v == "" {
				return 0, "", fmt.Errorf("tmpfs %s: option %s needs a value", m.Target, k)
			}
			if k == "mode" {
				if _, err := strconv.ParseUint(v, 8, 32); err != nil {
					return 0, "", fmt.Errorf("tmpfs %s: mode %q is not octal", m.Target, v)
				}
			}
			data = append(data, o)
		default:
			return 0, "", fmt.Errorf("tmpfs %s: unknown option %q", m.Target, o)
		}
	}
	return flags, strings.Join(data, ","), nil
}

// mountEtc binds the caller's hosts, hostname and resolv.conf onto /etc,
// unless a mount of the user's is there (docker lets -v replace them). A
// symlink or other non-file there is replaced by an empty file first, so
// the bind lands on the container's own path, whatever the image holds.
func mountEtc(h *hostFiles, user []Mount) error {
	if len(h.etc) == 0 {
		return nil
	}
	if err := os.MkdirAll("/etc", 0o755); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
next:
	for _, name := range EtcFiles {
		fd, ok := h.etc[name]
		if !ok {
			continue
		}
		p := filepath.Join("/etc", name)
		for _, m := range user {
			if path.Clean(m.Target) == p {
				continue next
			}
		}
		fi, err := os.Lstat(p)
		if err == nil && !fi.Mode().IsRegular() {
			if err := os.RemoveAll(p); err != nil {
				return fmt.Errorf("sandbox: %w", err)
			}
			err = os.ErrNotExist
		}
		if errors.Is(err, os.ErrNotExist) {
			err = os.WriteFile(p, nil, 0o644)
		}
		if err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
		if err := attach(fd, p); err != nil {
			return err
		}
	}
	return nil
}

// MaskedPaths are hidden from the container, as docker hides them (runc's
// list plus /proc/interrupts and /sys/devices/virtual/powercap): a file
// gets /dev/null bound over it, a directory an empty read-only tmpfs.
var MaskedPaths = []string{
	"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
	"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
}

// ReadonlyPaths are bound read-only onto themselves (docker's and runc's
// list).
var ReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}

func maskPaths() error {
	for _, p := range MaskedPaths {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("sandbox: mask %s: %w", p, err)
		}
		if fi.IsDir() {
			err = unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY, "")
		} else {
			err = unix.Mount("/dev/null", p, "", unix.MS_BIND, "")
		}
		if err != nil {
			return fmt.Errorf("sandbox: mask %s: %w", p, err)
		}
	}
	for _, p := range ReadonlyPaths {
		if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return fmt.Errorf("sandbox: read-only %s: %w", p, err)
		}
		attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
		if err := unix.MountSetattr(unix.AT_FDCWD, p, unix.AT_RECURSIVE, attr); err != nil {
			return fmt.Errorf("sandbox: read-only %s: %w", p, err)
		}
	}
	return nil
}
