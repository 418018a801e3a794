package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The guard: started as InitArg, this binary is the sandbox's child and
// nothing else of it runs.
func init() {
	if len(os.Args) > 0 && os.Args[0] == InitArg {
		childMain()
	}
}

// Descriptors the parent passes (Start's ExtraFiles).
const (
	specFd   = 3
	reportFd = 4
)

// childMain reads the Spec, sets the container up and execs its command;
// it returns only by exiting.
func childMain() {
	// The report pipe closes on exec: EOF tells the parent the exec
	// happened, a message tells it why not.
	syscall.CloseOnExec(reportFd)
	rep := os.NewFile(reportFd, "report")
	fail := func(err error) {
		r := report{Error: err.Error()}
		if ee := (*execFailure)(nil); errors.As(err, &ee) {
			r.Errno = int(ee.errno)
		}
		json.NewEncoder(rep).Encode(r)
		os.Exit(1)
	}
	defer func() {
		if p := recover(); p != nil {
			fail(fmt.Errorf("sandbox: child panicked: %v", p))
		}
	}()
	f := os.NewFile(specFd, "spec")
	var spec Spec
	if err := json.NewDecoder(f).Decode(&spec); err != nil {
		fail(fmt.Errorf("sandbox: read spec: %w", err))
	}
	f.Close()
	path, err := setup(&spec)
	if err != nil {
		fail(err)
	}
	if spec.Init {
		os.Exit(initMain(path, spec, rep, fail))
	}
	err = syscall.Exec(path, spec.Args, spec.Env)
	fail(newExecFailure(spec.Args[0], err))
}

// execFailure is the command's own failure to start, in docker's words;
// its errno picks the exit status (127 for ENOENT, else 126).
type execFailure struct {
	name  string
	msg   string
	errno syscall.Errno
}

func (e *execFailure) Error() string { return fmt.Sprintf("exec: %q: %s", e.name, e.msg) }

// newExecFailure makes one of an exec's or a lookup's error.
func newExecFailure(name string, err error) *execFailure {
	if errors.Is(err, exec.ErrNotFound) {
		return &execFailure{name, "executable file not found in $PATH", syscall.ENOENT}
	}
	errno := syscall.ENOEXEC
	if !errors.As(err, &errno) {
		return &execFailure{name, err.Error(), errno}
	}
	return &execFailure{name, errno.Error(), errno}
}

// setup builds the container around this process and returns the
// command's path; the process is then in the root filesystem, in the
// working directory, as the user.
func setup(spec *Spec) (string, error) {
	// Our mount namespace is a copy of the host's, and its mounts still
	// share propagation with the host's peers (systemd makes / shared):
	// without this every mount below would show on the host, and the
	// detach of the old root would unmount the host's tree.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return "", fmt.Errorf("sandbox: make mounts private: %w", err)
	}
	// pivot_root wants the new root to be a mount point; a bind of the
	// rootfs onto itself makes any directory one (a FUSE mount already is).
	if err := unix.Mount(spec.Rootfs, spec.Rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return "", fmt.Errorf("sandbox: bind rootfs %s: %w", spec.Rootfs, err)
	}
	// Host files are cloned now, while the host's tree is reachable, and
	// attached after the pivot, so that no path of
	// the image (a symlink /etc/hosts -> /host/file, say) is ever
	// resolved against the host's root.
	host, err := openHost(*spec)
	if err != nil {
		return "", err
	}
	defer host.close()
	if err := pivot(spec.Rootfs); err != nil {
		return "", err
	}
	if err := mountSpecial(host, spec.Network); err != nil {
		return "", err
	}
	if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
		return "", fmt.Errorf("sandbox: set hostname: %w", err)
	}
	if spec.Network == NetworkNone {
		if err := loUp(); err != nil {
			return "", err
		}
	}
	cred, err := containerUser(spec.User)
	if err != nil {
		return "", fmt.Errorf("sandbox: %w", err)
	}
	if index(spec.Env, "HOME") < 0 {
		spec.Env = append(spec.Env, "HOME="+cred.Home)
	}
	// Docker makes a missing working directory, as root.
	if err := os.MkdirAll(spec.Cwd, 0o755); err != nil {
		return "", fmt.Errorf("sandbox: make working directory: %w", err)
	}
	if err := os.Chdir(spec.Cwd); err != nil {
		return "", fmt.Errorf("sandbox: working directory: %w", err)
	}
	// Groups before the gid, the gid before the uid: each needs the
	// privilege the next one gives up. Go applies these to every
	// thread of the process.
	if err := syscall.Setgroups(cred.Groups); err != nil {
		return "", fmt.Errorf("sandbox: setgroups: %w", err)
	}
	if err := syscall.Setgid(cred.GID); err != nil {
		return "", fmt.Errorf("sandbox: setgid: %w", err)
	}
	if err := syscall.Setuid(cred.UID); err != nil {
		return "", fmt.Errorf("sandbox: setuid: %w", err)
	}
	// The command is looked up as the user, in the container's PATH,
	// as runc does; the message is docker's.
	os.Setenv("PATH", envValue(spec.Env, "PATH"))
	name := spec.Args[0]
	path, err := exec.LookPath(name)
	if errors.Is(err, exec.ErrDot) {
		err = nil
	}
	if err != nil {
		return "", newExecFailure(name, err)
	}
	if !strings.Contains(name, "/") {
		return path, nil
	}
	return name, nil
}

func envValue(env []string, key string) string {
	if i := index(env, key); i >= 0 {
		_, v, _ := strings.Cut(env[i], "=")
		return v
	}
	return ""
}

// pivot makes rootfs the root of our mount namespace and detaches the
// host's tree.
func pivot(rootfs string) error {
	if err := unix.Chdir(rootfs); err != nil {
		return fmt.Errorf("sandbox: chdir rootfs: %w", err)
	}
	// pivot_root(".", ".") stacks the old root on top of the new one, at
	// the same place: no put_old directory is needed inside the image
	// (it would be written to the container's upper, and a read-only
	// rootfs could not hold one).
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("sandbox: pivot_root: %w", err)
	}
	// "." is now the old root, on top; detaching it lazily drops the
	// whole host tree from our namespace even while something (our own
	// cwd) still refers to it. The mounts are private (setup), so this
	// does not reach the host.
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("sandbox: detach old root: %w", err)
	}
	// Our cwd was the old root's; "/" is now the rootfs.
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("sandbox: chdir /: %w", err)
	}
	return nil
}

// hostFiles are detached mounts (open_tree) of the host files the
// container gets, made before the pivot.
type hostFiles struct {
	dev map[string]int // null, zero, ... -> fd
	etc map[string]int // hosts, hostname, resolv.conf -> fd
	sys int
}

var devices = []string{"null", "zero", "full", "random", "urandom", "tty"}

func openHost(spec Spec) (*hostFiles, error) {
	h := &hostFiles{dev: map[string]int{}, etc: map[string]int{}, sys: -1}
	open := func(p string) (int, error) {
		// A detached copy of the mount of one file: a bind's source
		// must be in our mount namespace, which the host's tree no
		// longer is after the pivot; a detached tree can be attached
		// anywhere. (For a device, its own open, ENXIO for a tty
		// without a controlling terminal, never runs.)
		fd, err := unix.OpenTree(unix.AT_FDCWD, p, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
		if err != nil {
			return -1, fmt.Errorf("sandbox: open_tree %s: %w", p, err)
		}
		return fd, nil
	}
	for _, d := range devices {
		fd, err := open("/dev/" + d)
		if err != nil {
			h.close()
			return nil, err
		}
		h.dev[d] = fd
	}
	for name, p := range spec.Etc {
		fd, err := open(p)
		if err != nil {
			h.close()
			return nil, err
		}
		h.etc[name] = fd
	}
	// /sys with what is mounted below it, for mountSys's fallback.
	if fd, err := unix.OpenTree(unix.AT_FDCWD, "/sys", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE); err == nil {
		h.sys = fd
	}
	return h, nil
}

func (h *hostFiles) close() {
	for _, fd := range h.dev {
		unix.Close(fd)
	}
	for _, fd := range h.etc {
		unix.Close(fd)
	}
	if h.sys >= 0 {
		unix.Close(h.sys)
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

// mountSpecial mounts /proc, /dev, /sys and the /etc files inside the new
// root.
func mountSpecial(h *hostFiles, network Network) error {
	const nsd = unix.MS_NOSUID | unix.MS_NODEV
	mounts := []mnt{
		// A procfs of our own pid namespace: the host's processes stay
		// invisible.
		{"proc", "/proc", "proc", nsd | unix.MS_NOEXEC, ""},
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
		if err := unix.Mount(m.source, m.target, m.fstype, m.flags, m.data); err != nil {
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
	for name, target := range map[string]string{
		"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
		"stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2", "core": "/proc/kcore",
	} {
		if err := os.Symlink(target, "/dev/"+name); err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
	}
	if err := mountSys(h); err != nil {
		return err
	}
	return mountEtc(h)
}

// mountSys mounts a read-only sysfs, which shows the network namespace
// of the process that mounts it; where the kernel refuses one (a user
// namespace that does not own the network namespace) it binds the host's
// read-only.
func mountSys(h *hostFiles) error {
	const flags = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if err := os.MkdirAll("/sys", 0o755); err != nil {
		return fmt.Errorf("sandbox: mount /sys: %w", err)
	}
	err := unix.Mount("sysfs", "/sys", "sysfs", flags, "")
	if err == nil || h.sys < 0 {
		if err != nil {
			return fmt.Errorf("sandbox: mount /sys: %w", err)
		}
		return nil
	}
	if err := attach(h.sys, "/sys"); err != nil {
		return err
	}
	// A bind ignores MS_RDONLY; only a remount makes it read-only.
	if err := unix.Mount("", "/sys", "", unix.MS_REMOUNT|unix.MS_BIND|flags, ""); err != nil {
		return fmt.Errorf("sandbox: make /sys read-only: %w", err)
	}
	return nil
}

// mountEtc binds the caller's hosts, hostname and resolv.conf onto /etc.
// A symlink or other non-file there is replaced by an empty file first, so
// the bind lands on the container's own path, whatever the image holds.
func mountEtc(h *hostFiles) error {
	if len(h.etc) == 0 {
		return nil
	}
	if err := os.MkdirAll("/etc", 0o755); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	for name, fd := range h.etc {
		p := filepath.Join("/etc", name)
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

// loUp brings up the loopback interface of a fresh network namespace
// (it starts down, so not even 127.0.0.1 would answer).
func loUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("sandbox: lo up: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("sandbox: lo up: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("sandbox: lo up: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("sandbox: lo up: %w", err)
	}
	return nil
}

// containerUser resolves spec through the container's own /etc/passwd and
// /etc/group (read after the pivot: a symlink in the image cannot point
// them at the host's).
func containerUser(spec string) (Credentials, error) {
	var passwd, group *os.File
	if f, err := os.Open("/etc/passwd"); err == nil {
		defer f.Close()
		passwd = f
	}
	if f, err := os.Open("/etc/group"); err == nil {
		defer f.Close()
		group = f
	}
	// A nil *os.File in an io.Reader is not a nil io.Reader.
	switch {
	case passwd != nil && group != nil:
		return ResolveUser(spec, passwd, group)
	case passwd != nil:
		return ResolveUser(spec, passwd, nil)
	case group != nil:
		return ResolveUser(spec, nil, group)
	}
	return ResolveUser(spec, nil, nil)
}

// forwarded are the signals the init passes on to the command.
var forwarded = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH}

// initMain is PID 1 with Spec.Init: it starts the command, forwards
// signals to it, reaps every child (orphans are re-parented to us) and
// returns the command's status, 128+N when signal N killed it.
func initMain(path string, spec Spec, rep *os.File, fail func(error)) int {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, append(forwarded, syscall.SIGCHLD)...)
	p, err := os.StartProcess(path, spec.Args, &os.ProcAttr{
		Env:   spec.Env,
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
	})
	if err != nil {
		fail(newExecFailure(spec.Args[0], err))
	}
	rep.Close()
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			syscall.Kill(p.Pid, sig.(syscall.Signal))
			continue
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if err != nil || pid <= 0 {
				break
			}
			if pid != p.Pid {
				continue
			}
			if ws.Signaled() {
				return 128 + int(ws.Signal())
			}
			return ws.ExitStatus()
		}
	}
	return 0
}
