package seccomp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// These tests install filters for real, in a child: this test binary
// re-executed under a reserved argv[0] that the init guard below
// catches (as package sandbox's child works). The child gets its
// orders in $SECCOMP_TEST_SPEC, installs the filter, runs probes (each
// a syscall) and prints what each returned.

const childArg = "lfs-seccomp-test-child"

func init() {
	if len(os.Args) > 0 && os.Args[0] == childArg {
		os.Exit(childMain())
	}
}

type childSpec struct {
	Filter *Filter
	// UID, when not 0, is taken (with its gid) before the install.
	UID        int
	NoNewPrivs bool
	// NoTSYNC installs on the calling thread only: the control that
	// shows the threads probe can fail.
	NoTSYNC bool
	Probes  []string
	// Dir is a scratch directory.
	Dir string
}

// probes are syscalls whose fate the tests check; each returns nil or
// the errno.
var probes = map[string]func(dir string) error{
	"keyctl": func(string) error {
		_, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false)
		return err
	},
	"add_key": func(string) error {
		_, err := unix.AddKey("user", "lfs-seccomp-test", []byte("x"), unix.KEY_SPEC_PROCESS_KEYRING)
		return err
	},
	// Refused anyway in a process with threads (EINVAL), but the filter
	// answers first.
	"unshare(CLONE_NEWUSER)": func(string) error { return unix.Unshare(unix.CLONE_NEWUSER) },
	// The child has a mount namespace of its own, with private mounts.
	"mount": func(dir string) error {
		if err := unix.Mount("tmpfs", dir, "tmpfs", 0, ""); err != nil {
			return err
		}
		return unix.Unmount(dir, 0)
	},
	"umount2": func(dir string) error { return unix.Unmount(dir, 0) },
	"kcmp": func(string) error {
		pid := uintptr(os.Getpid())
		return errnoOf(unix.Syscall6(unix.SYS_KCMP, pid, pid, 0 /* KCMP_FILE */, 0, 0, 0))
	},
	// A wrong magic: EINVAL where the filter lets it through.
	"reboot":  func(string) error { return errnoOf(unix.Syscall(unix.SYS_REBOOT, 0, 0, 0)) },
	"clone3":  func(string) error { return errnoOf(unix.Syscall(unix.SYS_CLONE3, 0, 0, 0)) },
	"bpf":     func(string) error { return errnoOf(unix.Syscall(unix.SYS_BPF, ^uintptr(0), 0, 0)) },
	"setns":   func(string) error { return unix.Setns(-1, 0) },
	"swapoff": func(dir string) error { return errnoOf(unix.Syscall(unix.SYS_SWAPOFF, 0, 0, 0)) },
	"open_by_handle_at": func(string) error {
		return errnoOf(unix.Syscall(unix.SYS_OPEN_BY_HANDLE_AT, ^uintptr(0), 0, 0))
	},
	// Docker allows ptrace (kernel >= 4.8): no such process, not EPERM.
	"ptrace": func(string) error {
		return errnoOf(unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_PEEKUSR, 1<<30, 0, 0, 0, 0))
	},
	"personality(PER_BSD)": func(string) error {
		err := errnoOf(unix.Syscall(unix.SYS_PERSONALITY, 6, 0, 0))
		unix.Syscall(unix.SYS_PERSONALITY, 0, 0, 0)
		return err
	},
	"personality(query)": func(string) error { return errnoOf(unix.Syscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)) },
	"socket(AF_VSOCK)": func(string) error {
		fd, err := unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM, 0)
		unix.Close(fd)
		return err
	},
	"socket(AF_INET)": func(string) error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
		unix.Close(fd)
		return err
	},
	"files": func(dir string) error {
		d, err := os.MkdirTemp(dir, "files")
		if err != nil {
			return err
		}
		p := filepath.Join(d, "a")
		if err := os.WriteFile(p, []byte("data"), 0o644); err != nil {
			return err
		}
		if err := os.Rename(p, p+"2"); err != nil {
			return err
		}
		if b, err := os.ReadFile(p + "2"); err != nil || string(b) != "data" {
			return fmt.Errorf("read back %q: %v", b, err)
		}
		return os.RemoveAll(d)
	},
	"mkdir": func(dir string) error {
		err := os.Mkdir(filepath.Join(dir, "made"), 0o755)
		os.Remove(filepath.Join(dir, "made"))
		return err
	},
	"exec /bin/true": func(string) error { return exec.Command("/bin/true").Run() },
	"threads": func(string) error {
		// Goroutines locked to threads of their own make the runtime
		// start new ones.
		errs := make(chan error)
		for range 8 {
			go func() {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				errs <- unix.Getrusage(unix.RUSAGE_THREAD, &unix.Rusage{})
			}()
		}
		var err error
		for range 8 {
			err = errors.Join(err, <-errs)
		}
		return err
	},
	"mmap": func(string) error {
		b, err := unix.Mmap(-1, 0, 1<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
		if err != nil {
			return err
		}
		b[0], b[len(b)-1] = 1, 2
		return unix.Munmap(b)
	},
	// Killed here under a KILL_PROCESS rule.
	"getppid": func(string) error { os.Getppid(); return nil },
}

func errnoOf(_, _ uintptr, e syscall.Errno) error {
	if e != 0 {
		return e
	}
	return nil
}

// childReport is what the child prints.
type childReport struct {
	Install string
	Probes  map[string]string
	// Threads: what keyctl gave on threads that existed before the
	// install, one per thread.
	Threads []string
	Status  string // NoNewPrivs and Seccomp of /proc/self/status
}

func result(err error) string {
	var e syscall.Errno
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &e):
		return unix.ErrnoName(e)
	}
	return err.Error()
}

func childMain() int {
	var spec childSpec
	if err := json.Unmarshal([]byte(os.Getenv("SECCOMP_TEST_SPEC")), &spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	runtime.LockOSThread()
	// Mounts made here stay here.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	// Threads started before the filter: TSYNC must reach them.
	start := make(chan struct{})
	threads := make(chan string)
	for range 4 {
		go func() {
			runtime.LockOSThread()
			<-start
			_, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false)
			threads <- result(err)
		}()
	}
	if spec.UID != 0 {
		// Go applies these to every thread.
		if err := errors.Join(syscall.Setgroups(nil), syscall.Setgid(spec.UID), syscall.Setuid(spec.UID)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
	}
	var rep childReport
	if spec.NoNewPrivs {
		if err := NoNewPrivs(); err != nil {
			rep.Install = err.Error()
		}
	}
	if rep.Install == "" {
		var err error
		if spec.NoTSYNC {
			err = installThisThread(spec.Filter)
		} else {
			err = spec.Filter.Install()
		}
		if err != nil {
			rep.Install = err.Error()
		}
	}
	rep.Probes = map[string]string{}
	for _, name := range spec.Probes {
		rep.Probes[name] = result(probes[name](spec.Dir))
	}
	close(start)
	for range 4 {
		rep.Threads = append(rep.Threads, <-threads)
	}
	slices.Sort(rep.Threads)
	status, _ := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/status", unix.Gettid()))
	for _, line := range strings.Split(string(status), "\n") {
		if k, v, _ := strings.Cut(line, ":"); k == "NoNewPrivs" || k == "Seccomp" {
			rep.Status += k + "=" + strings.TrimSpace(v) + " "
		}
	}
	rep.Status = strings.TrimSpace(rep.Status)
	json.NewEncoder(os.Stdout).Encode(rep)
	return 0
}

// installThisThread is Install without TSYNC, for the control test.
func installThisThread(f *Filter) error {
	_, errno := f.seccomp(0)
	return errnoOf(0, 0, errno)
}

// runChild runs the child and returns its report; a child killed by a
// signal gives a nil report and the signal.
func runChild(t *testing.T, spec childSpec) (*childReport, syscall.Signal) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the child makes a mount namespace and probes mount")
	}
	if spec.Dir == "" {
		// Open to the child's user, should it change.
		spec.Dir = t.TempDir()
		os.Chmod(filepath.Dir(spec.Dir), 0o755)
		os.Chmod(spec.Dir, 0o777)
	}
	js, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{childArg},
		Env:         []string{"SECCOMP_TEST_SPEC=" + string(js)},
		Stdout:      &stdout,
		Stderr:      &stderr,
		SysProcAttr: &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS},
	}
	err = cmd.Run()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return nil, ws.Signal()
	}
	if err != nil {
		t.Fatalf("child: %v\n%s", err, stderr.String())
	}
	var rep childReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("child's report %q: %v\n%s", stdout.String(), err, stderr.String())
	}
	t.Logf("child: %s", bytes.TrimSpace(stdout.Bytes()))
	return &rep, 0
}

func hostFilter(t *testing.T, p *Profile, caps ...string) *Filter {
	t.Helper()
	if _, ok := byGOARCH[runtime.GOARCH]; !ok {
		t.Skipf("no syscall table for %s", runtime.GOARCH)
	}
	f, err := p.Compile(runtime.GOARCH, caps)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// What Docker's default profile refuses, and what it lets through.
var defaultExpect = map[string]string{
	"keyctl":                 "EPERM",
	"add_key":                "EPERM",
	"unshare(CLONE_NEWUSER)": "EPERM",
	"mount":                  "EPERM",
	"umount2":                "EPERM",
	"kcmp":                   "EPERM",
	"reboot":                 "EPERM",
	"bpf":                    "EPERM",
	"setns":                  "EPERM",
	"swapoff":                "EPERM",
	"open_by_handle_at":      "EPERM",
	"personality(PER_BSD)":   "EPERM",
	"socket(AF_VSOCK)":       "EPERM",
	"clone3":                 "ENOSYS",
	"ptrace":                 "ESRCH",
	"personality(query)":     "ok",
	"socket(AF_INET)":        "ok",
	"files":                  "ok",
	"mkdir":                  "ok",
	"exec /bin/true":         "ok",
	"threads":                "ok",
	"mmap":                   "ok",
}

func expectedProbes() []string {
	var names []string
	for n := range defaultExpect {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func TestInstallDefaultProfile(t *testing.T) {
	rep, _ := runChild(t, childSpec{Filter: hostFilter(t, DefaultProfile(), dockerCaps...), Probes: expectedProbes()})
	if rep.Install != "" {
		t.Fatalf("install: %s", rep.Install)
	}
	for name, want := range defaultExpect {
		if got := rep.Probes[name]; got != want {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
	}
	if want := []string{"EPERM", "EPERM", "EPERM", "EPERM"}; !slices.Equal(rep.Threads, want) {
		t.Errorf("keyctl on threads older than the filter: %v, want %v (TSYNC)", rep.Threads, want)
	}
	if rep.Status != "NoNewPrivs=0 Seccomp=2" {
		t.Errorf("status: %s", rep.Status)
	}
}

// The control: without a filter no probe meets EPERM, so the EPERMs
// above are the filter's.
func TestProbesWithoutFilter(t *testing.T) {
	rep, _ := runChild(t, childSpec{Probes: expectedProbes()})
	for name, got := range rep.Probes {
		if got == "EPERM" || got == "ENOSYS" {
			t.Errorf("%s without a filter: %s", name, got)
		}
	}
	if rep.Status != "NoNewPrivs=0 Seccomp=0" {
		t.Errorf("status: %s", rep.Status)
	}
}

// Without TSYNC, threads that existed before the install stay free:
// the threads check above can fail.
func TestInstallWithoutTSYNCMissesThreads(t *testing.T) {
	rep, _ := runChild(t, childSpec{Filter: hostFilter(t, DefaultProfile(), dockerCaps...), NoTSYNC: true})
	if rep.Install != "" {
		t.Fatalf("install: %s", rep.Install)
	}
	if slices.Equal(rep.Threads, []string{"EPERM", "EPERM", "EPERM", "EPERM"}) {
		t.Errorf("keyctl refused on every older thread without TSYNC: %v", rep.Threads)
	}
}

// --cap-add SYS_ADMIN lifts the mount and namespace rules.
func TestInstallWithSysAdmin(t *testing.T) {
	caps := append(slices.Clone(dockerCaps), "CAP_SYS_ADMIN")
	rep, _ := runChild(t, childSpec{Filter: hostFilter(t, DefaultProfile(), caps...), Probes: []string{"mount", "setns", "clone3", "keyctl"}})
	for name, want := range map[string]string{"mount": "ok", "setns": "EBADF", "clone3": "EINVAL", "keyctl": "EPERM"} {
		if got := rep.Probes[name]; got != want {
			t.Errorf("with CAP_SYS_ADMIN, %s: %s, want %s", name, got, want)
		}
	}
}

// As a user without privileges, the kernel takes a filter only with
// no_new_privs.
func TestInstallAsUser(t *testing.T) {
	f := hostFilter(t, DefaultProfile(), dockerCaps...)
	rep, _ := runChild(t, childSpec{Filter: f, UID: 65534, NoNewPrivs: true, Probes: []string{"keyctl", "files", "exec /bin/true"}})
	if rep.Install != "" {
		t.Fatalf("install with no_new_privs: %s", rep.Install)
	}
	for name, want := range map[string]string{"keyctl": "EPERM", "files": "ok", "exec /bin/true": "ok"} {
		if got := rep.Probes[name]; got != want {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
	}
	if rep.Status != "NoNewPrivs=1 Seccomp=2" {
		t.Errorf("status: %s", rep.Status)
	}
	rep, _ = runChild(t, childSpec{Filter: f, UID: 65534})
	if !strings.Contains(rep.Install, "permission denied (the process has neither no_new_privs nor CAP_SYS_ADMIN)") {
		t.Errorf("install as a user without no_new_privs: %q", rep.Install)
	}
}

// A profile of one's own: mkdir refused with its errno, everything else
// allowed; and an action that kills.
func TestInstallCustomProfile(t *testing.T) {
	p := parse(t, `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
		{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":13},
		{"names":["getppid"],"action":"SCMP_ACT_KILL_PROCESS"}]}`)
	f := hostFilter(t, p)
	rep, _ := runChild(t, childSpec{Filter: f, Probes: []string{"mkdir", "keyctl", "files"}})
	for name, want := range map[string]string{"mkdir": "EACCES", "keyctl": "ok", "files": "EACCES"} {
		if got := rep.Probes[name]; got != want {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
	}
	if _, sig := runChild(t, childSpec{Filter: f, Probes: []string{"getppid"}}); sig != syscall.SIGSYS {
		t.Errorf("getppid under KILL_PROCESS: signal %v, want SIGSYS", sig)
	}
}
