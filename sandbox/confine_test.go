package sandbox

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/lfs-dev/lfs/cgroup"
	"github.com/lfs-dev/lfs/seccomp"
)

// filter compiles a profile for docker's capabilities.
func filter(t *testing.T, p *seccomp.Profile) *seccomp.Filter {
	t.Helper()
	f, err := p.Compile(runtime.GOARCH, DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestStartSeccomp: the filter binds the command, as root and as
// another uid, with and without no_new_privs (which are installed at
// different steps), with --init too; the ulimits reach the command.
func TestStartSeccomp(t *testing.T) {
	root := busyboxRoot(t)
	noMkdir, err := seccomp.ParseProfile([]byte(`{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	f := filter(t, noMkdir)
	script := "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; mkdir /tmp/x 2>/dev/null || echo blocked; ulimit -n; ulimit -Hn"
	for _, tc := range []struct {
		user string
		nnp  bool
		init bool
	}{{"", false, false}, {"1000", false, false}, {"", true, false}, {"1000", true, true}, {"1000", false, true}} {
		spec := Spec{Rootfs: root, Args: []string{"sh", "-c", script}, Env: []string{"PATH=/bin"}, Cwd: "/",
			User: tc.user, NoNewPrivileges: tc.nnp, Init: tc.init, Seccomp: f,
			Ulimits: []cgroup.Ulimit{{Name: "nofile", Resource: syscall.RLIMIT_NOFILE, Soft: 64, Hard: 128}}}
		out, code, err := run(t, spec)
		nnp := "0"
		if tc.nnp {
			nnp = "1"
		}
		if want := "NoNewPrivs:\t" + nnp + "\nSeccomp:\t2\nblocked\n64\n128\n"; err != nil || code != 0 || out != want {
			t.Errorf("user %q nnp %v init %v: exit %d, %v\n%s\nwant\n%s", tc.user, tc.nnp, tc.init, code, err, out, want)
		}
	}
}

// TestPendingStartBeforeSetup: an option given to Pending.Start runs
// with the child's pid, in the child's own network namespace, before
// the child has its spec; its error is Start's, and nothing runs.
func TestPendingStartBeforeSetup(t *testing.T) {
	root := busyboxRoot(t)
	spec := Spec{Rootfs: root, Args: []string{"sh", "-c", "echo ran"}, Env: []string{"PATH=/bin"}, Cwd: "/", Network: NetworkSlirp4netns}
	var out bytes.Buffer
	c, err := Prefork(NetworkSlirp4netns, false, Stdio{Stdout: &out, Stderr: &out})
	if err != nil {
		t.Fatal(err)
	}
	var netns string
	p, err := c.Start(spec, BeforeSetup(func(pid int) error {
		netns, _ = os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "ns/net"))
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if code, err := p.Wait(); err != nil || code != 0 || out.String() != "ran\n" {
		t.Errorf("exit %d, %v, %q", code, err, out.String())
	}
	if own, _ := os.Readlink("/proc/self/ns/net"); netns == "" || netns == own {
		t.Errorf("BeforeSetup saw the child in netns %q, ours is %q", netns, own)
	}
	out.Reset()
	if c, err = Prefork(NetworkNone, false, Stdio{Stdout: &out, Stderr: &out}); err != nil {
		t.Fatal(err)
	}
	spec.Network = NetworkNone
	_, err = c.Start(spec, BeforeSetup(func(int) error { return errors.New("no network") }))
	if err == nil || !strings.Contains(err.Error(), "no network") || out.Len() != 0 {
		t.Errorf("failing BeforeSetup: %v, output %q", err, out.String())
	}
}

// TestStartWorkdirMagicLinks: a working directory through a descriptor
// the child holds (CVE-2024-21626) is refused; a symlink in the image
// resolves inside it.
func TestStartWorkdirMagicLinks(t *testing.T) {
	root := busyboxRoot(t)
	os.Symlink("/etc", filepath.Join(root, "link"))
	for _, cwd := range []string{"/proc/self/fd/5", "/proc/self/fd/3/x", "/proc/1/cwd", "/proc/self/root"} {
		_, _, err := run(t, Spec{Rootfs: root, Args: []string{"pwd"}, Env: []string{"PATH=/bin"}, Cwd: cwd})
		if err == nil || !strings.Contains(err.Error(), "working directory "+cwd) {
			t.Errorf("Cwd %s: %v; want it refused", cwd, err)
		}
	}
	out, code, err := run(t, Spec{Rootfs: root, Args: []string{"sh", "-c", "pwd"}, Env: []string{"PATH=/bin"}, Cwd: "/link/made"})
	if err != nil || code != 0 || out != "/etc/made\n" {
		t.Errorf("Cwd through a symlink of the image: exit %d, %v, %q", code, err, out)
	}
	if _, err := os.Stat(filepath.Join(root, "etc", "made")); err != nil {
		t.Errorf("the working directory behind /link was not made in the rootfs: %v", err)
	}
}

// TestStartPrivileged: nothing masked or read-only, /sys writable, the
// host's devices in /dev.
func TestStartPrivileged(t *testing.T) {
	root := busyboxRoot(t)
	var st syscall.Stat_t
	dev := ""
	for _, d := range []string{"loop0", "loop-control", "kmsg", "fuse"} {
		if syscall.Stat("/dev/"+d, &st) == nil {
			dev = d
			break
		}
	}
	script := "head -c1 /proc/timer_list | wc -c; grep -c ' /sys rw,' /proc/self/mountinfo; grep -c ' /proc/sys ro,' /proc/self/mountinfo; test -e /dev/" + dev + " && echo dev"
	out, code, err := run(t, Spec{Rootfs: root, Args: []string{"sh", "-c", script + "; true"}, Env: []string{"PATH=/bin"}, Cwd: "/", Privileged: true})
	if want := "1\n1\n0\ndev\n"; err != nil || code != 0 || out != want {
		t.Errorf("privileged: exit %d, %v, %q; want %q", code, err, out, want)
	}
	out, _, _ = run(t, Spec{Rootfs: root, Args: []string{"sh", "-c", script + "; true"}, Env: []string{"PATH=/bin"}, Cwd: "/"})
	if want := "0\n0\n1\n"; out != want {
		t.Errorf("unprivileged: %q; want %q", out, want)
	}
}
