package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/lfs-dev/lfs/cgroup"
	"github.com/lfs-dev/lfs/seccomp"
	"golang.org/x/sys/unix"
)

// The guard: started as InitArg, this binary is the sandbox's child and
// nothing else of it runs.
func init() {
	if len(os.Args) > 0 && os.Args[0] == InitArg {
		childMain()
	}
	switch os.Getenv(userNSEnv) {
	case "wait":
		userNSChild()
	case string(MapSubIDs), string(MapSingle):
		userNSMapped()
	}
}

// Descriptors the parent passes (Start's ExtraFiles).
const (
	specFd   = 3
	reportFd = 4
	// ctlFd is a unix socket: the parent passes the root filesystem (a
	// detached clone of its mount), and with Spec.Terminal the child
	// passes back the pty's master.
	ctlFd = 5
)

// childMain reads the Spec, sets the container up and execs its command;
// it returns only by exiting.
func childMain() {
	// Every step below that the kernel keeps per thread (the cgroup
	// namespace, the terminal's session, no_new_privs) must be this
	// thread's, the one that execs; the main goroutine is on the main
	// thread while init functions run, and stays there.
	runtime.LockOSThread()
	// Until the exec this process is lfs inside the container: not
	// dumpable, nothing in the container may open its /proc/1/exe, mem
	// or fds, or ptrace it, without CAP_SYS_PTRACE (an exec makes the
	// command dumpable again; with --init the init stays as it is).
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		os.Exit(1)
	}
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
	ctl := os.NewFile(ctlFd, "ctl")
	defer ctl.Close()
	rootfs, ok, err := recvFd(ctl)
	if err != nil || !ok {
		fail(fmt.Errorf("sandbox: receive the root filesystem: %v", err))
	}
	path, cons, err := setup(&spec, rootfs)
	if err != nil {
		fail(err)
	}
	if cons != nil {
		if err := cons.send(ctl); err != nil {
			fail(err)
		}
	}
	if spec.Init {
		os.Exit(initMain(path, spec, cons, rep, fail))
	}
	if cons != nil {
		if err := cons.attach(); err != nil {
			fail(err)
		}
	}
	if err := finish(&spec); err != nil {
		fail(err)
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
// working directory, as the user, with the container's capabilities.
//
// The order is a contract: the parent may join the child to a cgroup
// or configure its network namespace before it sends the Spec
// (StartOption BeforeSetup), so the cgroup namespace is made here, after
// that; the ulimits and, without no_new_privs, the seccomp filter come
// while the child is still root with CAP_SYS_ADMIN, right before the
// uid and capabilities change (runc's order); with no_new_privs the
// filter goes last, in finish, just before exec.
func setup(spec *Spec, rootfs *os.File) (string, *console, error) {
	// The namespace's root is the cgroup we are in now, which the
	// parent chose; it is this thread's (the one that execs).
	if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
		return "", nil, fmt.Errorf("sandbox: cgroup namespace: %w", err)
	}
	// Our mount namespace is a copy of the host's, and its mounts still
	// share propagation with the host's peers (systemd makes / shared):
	// without this every mount below would show on the host, and the
	// detach of the old root would unmount the host's tree.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return "", nil, fmt.Errorf("sandbox: make mounts private: %w", err)
	}
	// The root filesystem is the parent's clone of its mount, attached
	// at its path here: this child may have been started before the
	// parent mounted it (Prefork), and our mount namespace, a copy made
	// then, would not hold that mount. A mount point is what pivot_root
	// wants too.
	err := unix.MoveMount(int(rootfs.Fd()), "", unix.AT_FDCWD, spec.Rootfs, unix.MOVE_MOUNT_F_EMPTY_PATH)
	rootfs.Close()
	if err != nil {
		return "", nil, fmt.Errorf("sandbox: attach rootfs %s: %w", spec.Rootfs, err)
	}
	// Host files are cloned now, while the host's tree is reachable, and
	// attached after the pivot, so that no path of the image (a symlink
	// /etc/hosts -> /host/file, say) is ever resolved against the host's
	// root.
	host, err := openHost(*spec)
	if err != nil {
		return "", nil, err
	}
	defer host.close()
	if err := pivot(spec.Rootfs); err != nil {
		return "", nil, err
	}
	if err := mountSpecial(host); err != nil {
		return "", nil, err
	}
	var cons *console
	if spec.Terminal {
		if cons, err = openConsole(spec.ConsoleSize); err != nil {
			return "", nil, err
		}
	}
	if err := mountUser(host, spec.Mounts); err != nil {
		return "", nil, err
	}
	if err := mountEtc(host, spec.Mounts); err != nil {
		return "", nil, err
	}
	if !spec.Privileged {
		if err := maskPaths(); err != nil {
			return "", nil, err
		}
	}
	if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
		return "", nil, fmt.Errorf("sandbox: set hostname: %w", err)
	}
	if spec.Network.ownNamespace() {
		if err := loUp(); err != nil {
			return "", nil, err
		}
	}
	cred, err := containerUser(spec.User)
	if err != nil {
		return "", nil, fmt.Errorf("sandbox: %w", err)
	}
	if index(spec.Env, "HOME") < 0 {
		spec.Env = append(spec.Env, "HOME="+cred.Home)
	}
	// Docker makes a missing working directory, as root, before the
	// root filesystem goes read-only. Neither this nor the chdir below
	// follows a magic link (/proc/self/fd/N): a descriptor of the host's
	// that this process still holds must never become the command's
	// working directory (CVE-2024-21626).
	cwd, err := workdir(spec.Cwd)
	if err != nil {
		return "", nil, err
	}
	defer unix.Close(cwd)
	if spec.ReadOnly {
		// Only the read-only bit changes: mount_setattr leaves the
		// rootfs mount's other flags as they are (a remount would
		// clear nosuid or nodev, which a user namespace forbids).
		if err := unix.MountSetattr(unix.AT_FDCWD, "/", 0, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
			return "", nil, fmt.Errorf("sandbox: make the root filesystem read-only: %w", err)
		}
	}
	if err := unix.Fchdir(cwd); err != nil {
		return "", nil, fmt.Errorf("sandbox: working directory: %w", err)
	}
	if cons != nil {
		if err := cons.own(cred.UID); err != nil {
			return "", nil, err
		}
	}
	if err := cgroup.SetRlimits(spec.Ulimits); err != nil {
		return "", nil, fmt.Errorf("sandbox: %w", err)
	}
	if !spec.NoNewPrivileges {
		// Still root, with CAP_SYS_ADMIN, which the kernel asks of a
		// filter's installer without no_new_privs: from here on the
		// profile must allow what remains (prctl, setgroups, setgid,
		// setuid, capset, execve), as Docker's does.
		if err := spec.Seccomp.Install(); err != nil {
			return "", nil, fmt.Errorf("sandbox: %w", err)
		}
	}
	if err := becomeUser(cred, spec.Capabilities); err != nil {
		return "", nil, err
	}
	if err := keepParent(); err != nil {
		return "", nil, err
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
		return "", nil, newExecFailure(name, err)
	}
	if !strings.Contains(name, "/") {
		return path, cons, nil
	}
	return name, cons, nil
}

// keepParent arms the parent-death signal again: the kernel clears it
// when the effective uid or gid changes (-u), and the container must
// still die with lfs. The parent may have died just before; then the
// report pipe has no reader left.
func keepParent() error {
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("sandbox: parent-death signal: %w", err)
	}
	fds := []unix.PollFd{{Fd: reportFd, Events: unix.POLLOUT}}
	if n, _ := unix.Poll(fds, 0); n > 0 && fds[0].Revents&unix.POLLERR != 0 {
		os.Exit(1)
	}
	return nil
}

// finish is the last step before exec (with Spec.Init, before the init
// starts the command, so that both are under the same filter): no
// descriptor but 0-2 (and the close-on-exec report pipe) may reach the
// command, whatever lfs itself inherited; with NoNewPrivileges,
// no_new_privs is set and the seccomp filter installed, last (this
// thread's no_new_privs reaches the others through the filter's TSYNC).
func finish(spec *Spec) error {
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("sandbox: close descriptors: %w", err)
	}
	if !spec.NoNewPrivileges {
		return nil
	}
	if err := seccomp.NoNewPrivs(); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	if err := spec.Seccomp.Install(); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	return nil
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
// returns the command's status, 128+N when signal N killed it. With a
// terminal the command gets it as its controlling terminal, in a process
// group of its own in the foreground, so that the keys that signal
// (Ctrl-C) reach it and not us.
func initMain(path string, spec Spec, cons *console, rep *os.File, fail func(error)) int {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, append(forwarded, syscall.SIGCHLD)...)
	attr := &os.ProcAttr{Env: spec.Env, Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}}
	if cons != nil {
		if err := cons.session(); err != nil {
			fail(err)
		}
		attr.Files = []*os.File{cons.slave, cons.slave, cons.slave}
		// Ctty is our descriptor: the child sets its group in the
		// foreground before its descriptors are rearranged.
		attr.Sys = &syscall.SysProcAttr{Setpgid: true, Foreground: true, Ctty: int(cons.slave.Fd())}
	}
	if err := finish(&spec); err != nil {
		fail(err)
	}
	p, err := os.StartProcess(path, spec.Args, attr)
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

// workdir makes the working directory p where it is missing (0755, as
// root) and opens it, one component at a time from the container's
// root, following symlinks (which resolve inside it, the host's tree
// being gone) but never a magic link: /proc/self/fd/N, /proc/PID/cwd
// and /proc/PID/root lead wherever a descriptor points, and this process
// still holds descriptors of the host's (bind sources, /sys).
func workdir(p string) (int, error) {
	how := &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_MAGICLINKS}
	fail := func(err error) (int, error) {
		if errors.Is(err, unix.ELOOP) {
			return -1, fmt.Errorf("sandbox: working directory %s: a magic link (/proc/PID/fd, cwd, root) or a symlink loop is in the way", p)
		}
		return -1, fmt.Errorf("sandbox: working directory %s: %w", p, err)
	}
	fd, err := unix.Openat2(unix.AT_FDCWD, "/", how)
	if err != nil {
		return fail(err)
	}
	for _, name := range strings.Split(p, "/") {
		if name == "" || name == "." {
			continue
		}
		next, err := unix.Openat2(fd, name, how)
		if errors.Is(err, unix.ENOENT) {
			if err := unix.Mkdirat(fd, name, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
				unix.Close(fd)
				return fail(err)
			}
			next, err = unix.Openat2(fd, name, how)
		}
		unix.Close(fd)
		if err != nil {
			return fail(err)
		}
		fd = next
	}
	return fd, nil
}
