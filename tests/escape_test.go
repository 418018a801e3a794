package tests

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The escape and bad-input suite: what a container must not reach of
// the host, run as root and as an unprivileged user (rootless).

// escapeEnv is one way of running lfs: as root, or as an unprivileged
// user with subordinate ids.
type escapeEnv struct {
	root string // the store
	// uid is the host uid the container's root is: 0, or the user's.
	uid int
	// user is the unprivileged user (rootless), nil as root.
	user *unprivileged
}

func newEscapeEnv(t *testing.T, rootless bool) *escapeEnv {
	t.Helper()
	if !rootless {
		return &escapeEnv{root: runStore(t).root}
	}
	needFUSE(t)
	f := getFixtures(t)
	u := rootlessUser(t, "lfs-escape", true)
	s := u.store(t)
	u.mustRun(t, s, "load", "-i", f.dockerArchive)
	return &escapeEnv{root: s.root, uid: u.uid, user: &u}
}

// command is lfs on the store as the env's user, not started.
func (e *escapeEnv) command(args ...string) *exec.Cmd {
	cmd := exec.Command(lfsBin, append([]string{"--root", e.root}, args...)...)
	cmd.Dir, cmd.Env = "/", baseEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	if e.user != nil {
		cmd.Env = append(cmd.Env, "HOME=/nonexistent", "USER="+e.user.name)
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(e.user.uid), Gid: uint32(e.user.gid)}
	}
	return cmd
}

// run runs lfs and returns what it did.
func (e *escapeEnv) run(t *testing.T, args ...string) result {
	t.Helper()
	if e.user != nil {
		return e.user.run(t, &store{root: e.root}, nil, args...)
	}
	return runWith(t, opts{}, append([]string{"--root", e.root}, args...)...)
}

func (e *escapeEnv) mustRun(t *testing.T, args ...string) string {
	t.Helper()
	r := e.run(t, args...)
	if r.code != 0 {
		t.Fatalf("lfs %s: exit %d\n%s", strings.Join(args, " "), r.code, clip(r.stderr))
	}
	return r.stdout
}

// upper is the writable layer of container id, as the host sees it.
func (e *escapeEnv) upper(id string) string {
	return filepath.Join(e.root, "containers", id, "upper")
}

var probeBuild struct {
	once sync.Once
	path string
	err  error
}

// probe is testdata/probe.c built with gcc -static, in a directory
// anyone may read; it skips without gcc.
func probe(t *testing.T) string {
	t.Helper()
	needTools(t, "gcc")
	probeBuild.once.Do(func() {
		p := filepath.Join(filepath.Dir(fixtureDir), "probe")
		out, err := exec.Command("gcc", "-static", "-Os", "-s", "-o", p, filepath.Join(repoRoot, "testdata", "probe.c")).CombinedOutput()
		if err != nil {
			probeBuild.err = fmt.Errorf("gcc -static testdata/probe.c (make deps installs gcc and libc6-dev): %v\n%s", err, out)
			return
		}
		probeBuild.path = p
	})
	if probeBuild.err != nil {
		t.Skip(probeBuild.err)
	}
	return probeBuild.path
}

// hostDir is an empty directory of the host's that no container may
// write to or mount on; its cleanup checks that none did.
func hostDir(t *testing.T) string {
	t.Helper()
	d := readableDir(t)
	// Before readableDir's cleanup removes it.
	t.Cleanup(func() {
		for _, mp := range mountsUnder(d) {
			t.Errorf("a container mounted on the host: %s", mp)
			exec.Command("umount", "-l", mp).Run()
		}
		if ents, _ := os.ReadDir(d); len(ents) > 0 {
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			t.Errorf("a container wrote into the host's %s: %v", d, names)
		}
	})
	return d
}

// readableDir is a temporary directory an unprivileged user can reach
// (t.TempDir's parent is root's, 0700).
func readableDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "lfs-test-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(d, 0o755)
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func TestEscape(t *testing.T) {
	for _, mode := range []string{"root", "rootless"} {
		t.Run(mode, func(t *testing.T) {
			e := newEscapeEnv(t, mode == "rootless")
			t.Run("HostFiles", func(t *testing.T) { escapeHostFiles(t, e) })
			t.Run("Syscalls", func(t *testing.T) { escapeSyscalls(t, e) })
			t.Run("Exe", func(t *testing.T) { escapeExe(t, e) })
			t.Run("Cwd", func(t *testing.T) { escapeCwd(t, e) })
			t.Run("Processes", func(t *testing.T) { escapeProcesses(t, e) })
			t.Run("TIOCSTI", func(t *testing.T) { escapeTIOCSTI(t, e) })
			t.Run("Capabilities", func(t *testing.T) { escapeCapabilities(t, e) })
			t.Run("Symlinks", func(t *testing.T) { escapeSymlinks(t, e) })
			if e.user != nil {
				t.Run("Uid", func(t *testing.T) { escapeUid(t, e) })
				t.Run("ForkBomb", func(t *testing.T) { escapeForkBombRootless(t, e) })
			}
		})
	}
}

// escapeHostFiles: a file of the host's is found through none of the
// ways out of a root: /proc/1/root, /proc/self/root/.., cwd/.., and the
// container's root is what /proc/1/root shows.
func escapeHostFiles(t *testing.T, e *escapeEnv) {
	h := hostDir(t)
	marker := filepath.Join(h, "marker")
	if err := os.WriteFile(marker, []byte("host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(marker)
	m := strings.TrimPrefix(marker, "/")
	script := fmt.Sprintf(`for p in /%[1]s /proc/1/root/%[1]s /proc/self/root/../../%[1]s /proc/self/cwd/../../../%[1]s \
/proc/1/root/proc/1/root/../%[1]s /proc/self/root/proc/self/root/../../%[1]s; do test -e "$p" && echo "found $p"; done
cd /../../..; pwd; test "$(ls /proc/1/root/)" = "$(ls /)" && echo same root`, m)
	for _, args := range [][]string{{"busybox"}, {"--init", "busybox"}} {
		args = append(append([]string{"run", "--rm"}, args...), "sh", "-c", script)
		if r := e.run(t, args...); r.stdout != "/\nsame root\n" && !(args[2] == "--init" && r.stdout == "/\n") {
			t.Errorf("lfs %s: %q (exit %d, %s); want no host file found", strings.Join(args, " "), r.stdout, r.code, r.stderr)
		}
	}
}

// escapeSyscalls: what docker's default profile blocks fails with EPERM:
// the keyring, a user namespace, mount(2), a second pivot_root and
// open_by_handle_at (shocker's way to the host's files through the
// filesystem of /etc/hosts).
func escapeSyscalls(t *testing.T, e *escapeEnv) {
	p := probe(t)
	want := "keyctl: EPERM\nadd_key: EPERM\nunshare-user: EPERM\nunshare-mount: EPERM\nmount: EPERM\npivot_root: EPERM\nshocker: EPERM\n"
	for _, user := range []string{"root", "nobody"} {
		args := []string{"run", "--rm", "-u", user, "-v", p + ":/probe:ro", "busybox",
			"/probe", "keyctl", "add_key", "unshare-user", "unshare-mount", "mount", "pivot_root", "shocker"}
		if r := e.run(t, args...); r.stdout != want || r.code != 0 {
			t.Errorf("lfs %s:\n%s(exit %d, %s)\nwant\n%s", strings.Join(args, " "), r.stdout, r.code, r.stderr, want)
		}
	}
	// The shell's own ways.
	r := e.run(t, "run", "--rm", "busybox", "sh", "-c",
		"unshare -U true 2>&1; mount -t tmpfs t /mnt 2>&1; mount --bind / /mnt 2>&1; true")
	if strings.Count(r.stdout, "not permitted")+strings.Count(r.stdout, "permission denied") != 3 {
		t.Errorf("unshare, mount in a container: %q; want three refusals", r.stdout)
	}
}

func sha256File(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

// escapeExe (CVE-2019-5736): the lfs binary that runs inside the
// container until the exec (and as --init for good) cannot be opened
// from it without CAP_SYS_PTRACE, and with it not written: it is
// executed through a read-only mount.
func escapeExe(t *testing.T, e *escapeEnv) {
	before := sha256File(t, lfsBin)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--init", "busybox", "sh", "-c", "cat /proc/1/exe >/dev/null 2>&1 || echo denied; readlink /proc/1/exe || echo denied"},
			"denied\ndenied\n"},
		{[]string{"--init", "--cap-add", "SYS_PTRACE", "busybox", "sh", "-c",
			"echo x > /proc/1/exe; exec 3</proc/1/exe; echo x > /proc/self/fd/3; echo x >> /proc/self/fd/3; true"},
			"sh: can't create /proc/1/exe: Read-only file system\nsh: can't create /proc/self/fd/3: Read-only file system\n"},
	} {
		args := append([]string{"run", "--rm"}, tc.args...)
		r := e.run(t, args...)
		if got := r.stdout + r.stderr; !strings.HasPrefix(got, tc.want) {
			t.Errorf("lfs %s: %q; want %q...", strings.Join(args, " "), got, tc.want)
		}
	}
	// An image whose command is a script for /proc/self/exe gets lfs
	// itself as PID 1, in the container; it cannot write itself either.
	id := strings.TrimSpace(e.mustRun(t, "create", "busybox", "/x"))
	up := e.upper(id)
	if err := os.WriteFile(filepath.Join(up, "x"), []byte("#!/proc/self/exe\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	e.run(t, "start", id)
	e.run(t, "rm", id)
	if after := sha256File(t, lfsBin); after != before {
		t.Errorf("the container changed the host's lfs binary")
	}
}

// escapeCwd (CVE-2024-21626): a working directory through a magic link
// (a descriptor the sandbox holds, /proc/PID/cwd or root) is refused;
// the command starts with no descriptor but 0, 1 and 2.
func escapeCwd(t *testing.T, e *escapeEnv) {
	for _, w := range []string{"/proc/self/fd/3", "/proc/self/fd/4", "/proc/self/fd/5", "/proc/self/fd/6",
		"/proc/self/fd/7", "/proc/self/fd/8", "/proc/1/cwd", "/proc/1/root", "/proc/self/root/proc/self/fd/5/x"} {
		args := []string{"run", "--rm", "-w", w, "busybox", "sh", "-c", "pwd; ls"}
		r := e.run(t, args...)
		if r.code != 125 || r.stdout != "" {
			t.Errorf("lfs %s: exit %d, %q, %s; want 125 and nothing run", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
	if r := e.run(t, "run", "--rm", "busybox", "sh", "-c", "ls /proc/$$/fd; true"); r.stdout != "0\n1\n2\n" {
		t.Errorf("the command's descriptors: %q; want 0 1 2", r.stdout)
	}
}

// escapeProcesses: no process of the host is visible or can be
// signalled or traced from inside (the lfs process serving the
// container's files among them); with --init, the init (lfs) cannot be
// traced or killed by the container.
func escapeProcesses(t *testing.T, e *escapeEnv) {
	p := probe(t)
	maxPid := 0
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		if n, err := strconv.Atoi(ent.Name()); err == nil {
			maxPid = max(maxPid, n)
		}
	}
	self := strconv.Itoa(os.Getpid())
	args := []string{"run", "--rm", "-v", p + ":/probe:ro", "busybox", "/probe",
		"scan=" + strconv.Itoa(maxPid+10000), "kill=" + self, "ptrace=" + self}
	if r := e.run(t, args...); r.stdout != "scan: 1\nkill: ESRCH\nptrace: ESRCH\n" {
		t.Errorf("lfs %s: %q (%s); want only itself visible", strings.Join(args, " "), r.stdout, r.stderr)
	}
	args = []string{"run", "--rm", "--init", "-v", p + ":/probe:ro", "busybox", "sh", "-c",
		"/probe ptrace=1 scan=" + strconv.Itoa(maxPid+10000) + "; kill -9 1; kill -STOP 1; sleep 0.2; echo alive"}
	if r := e.run(t, args...); r.stdout != "ptrace: EPERM\nscan: 3\nalive\n" {
		t.Errorf("lfs %s: %q (%s)", strings.Join(args, " "), r.stdout, r.stderr)
	}
}

// escapeTIOCSTI: the container cannot push input into the terminal lfs
// runs on: without -t that terminal is its stdout and stderr but not its
// controlling terminal; with -i its stdin is a pipe; with -t it has a
// pty of its own.
func escapeTIOCSTI(t *testing.T, e *escapeEnv) {
	p := probe(t)
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{nil, "tiocsti: ENOTTY\r\ntiocsti: EPERM\r\ntiocsti: EPERM\r\n"},
		{[]string{"-i"}, "tiocsti: ENOTTY\r\ntiocsti: EPERM\r\ntiocsti: EPERM\r\n"},
		{[]string{"-t"}, ""},
		{[]string{"-i", "-t"}, ""},
	} {
		master, slave := openPTY(t)
		// Raw, so that FIONREAD counts every byte pushed into the input.
		tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		tio.Lflag &^= unix.ICANON | unix.ECHO
		unix.IoctlSetTermios(int(slave.Fd()), unix.TCSETS, tio)
		args := append(append([]string{"run", "--rm"}, tc.flags...), "-v", p+":/probe:ro", "busybox", "/probe", "tiocsti=0", "tiocsti=1", "tiocsti=2")
		cmd := e.command(args...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		// The terminal is lfs's controlling terminal, as a shell's is.
		cmd.SysProcAttr.Setsid, cmd.SysProcAttr.Setctty, cmd.SysProcAttr.Ctty = true, true, 0
		var out bytes.Buffer
		done := make(chan struct{})
		go func() {
			buf := make([]byte, 4096)
			for {
				master.SetReadDeadline(time.Now().Add(30 * time.Second))
				n, err := master.Read(buf)
				out.Write(buf[:n])
				if err != nil {
					close(done)
					return
				}
			}
		}()
		if err := cmd.Run(); err != nil {
			t.Errorf("lfs %s: %v", strings.Join(args, " "), err)
		}
		time.Sleep(100 * time.Millisecond)
		pending, err := unix.IoctlGetInt(int(slave.Fd()), unix.TIOCINQ)
		slave.Close()
		master.SetReadDeadline(time.Now().Add(time.Second))
		<-done
		master.Close()
		if err != nil || pending != 0 {
			t.Errorf("lfs %s: %d bytes pushed into the caller's terminal (%v); output %q", strings.Join(args, " "), pending, err, out.String())
		}
		if tc.want != "" && out.String() != tc.want {
			t.Errorf("lfs %s: %q; want %q", strings.Join(args, " "), out.String(), tc.want)
		}
	}
}

// statusLines are the lines of /proc/self/status with these prefixes.
func statusLines(b string, prefixes ...string) string {
	var out []string
	for _, l := range strings.Split(b, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				out = append(out, l)
			}
		}
	}
	return strings.Join(out, "\n")
}

// escapeCapabilities: the capability sets, no_new_privs and the seccomp
// mode are the documented ones (README, run --help).
func escapeCapabilities(t *testing.T, e *escapeEnv) {
	// A privileged container has every capability lfs has: as root the
	// host's bounding set, rootless every one (the user namespace's).
	own, _ := os.ReadFile("/proc/self/status")
	all := strings.TrimPrefix(statusLines(string(own), "CapBnd:"), "CapBnd:\t")
	if e.user != nil {
		b, _ := os.ReadFile("/proc/sys/kernel/cap_last_cap")
		last, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		all = fmt.Sprintf("%016x", uint64(1)<<(last+1)-1)
	}
	const docker = "00000000a80425fb"
	const zero = "0000000000000000"
	sets := func(prm, eff, bnd, nnp, seccomp string) string {
		return "CapInh:\t" + zero + "\nCapPrm:\t" + prm + "\nCapEff:\t" + eff + "\nCapBnd:\t" + bnd + "\nCapAmb:\t" + zero +
			"\nNoNewPrivs:\t" + nnp + "\nSeccomp:\t" + seccomp
	}
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{nil, sets(docker, docker, docker, "0", "2")},
		{[]string{"-u", "nobody"}, sets(zero, zero, docker, "0", "2")},
		{[]string{"--cap-drop", "ALL"}, sets(zero, zero, zero, "0", "2")},
		{[]string{"--cap-drop", "chown", "--cap-add", "SYS_ADMIN"}, sets("00000000a82425fa", "00000000a82425fa", "00000000a82425fa", "0", "2")},
		{[]string{"--security-opt", "no-new-privileges"}, sets(docker, docker, docker, "1", "2")},
		{[]string{"--security-opt", "no-new-privileges=false", "--security-opt", "seccomp=unconfined"}, sets(docker, docker, docker, "0", "0")},
		{[]string{"--init", "-u", "nobody", "--security-opt", "no-new-privileges"}, sets(zero, zero, docker, "1", "2")},
		{[]string{"--privileged"}, sets(all, all, all, "0", "0")},
	} {
		args := append(append([]string{"run", "--rm"}, tc.flags...), "busybox", "cat", "/proc/self/status")
		r := e.run(t, args...)
		if got := statusLines(r.stdout, "Cap", "NoNewPrivs:", "Seccomp:"); got != tc.want || r.code != 0 {
			t.Errorf("lfs %s: exit %d, %s\n%s\nwant\n%s", strings.Join(args, " "), r.code, r.stderr, got, tc.want)
		}
	}
}

// escapeSymlinks: an image whose /proc, /dev, /dev/null, /dev/pts,
// /etc/resolv.conf or working directory is a symlink to a host path, and
// a -v target through such a symlink (also one swapped between a
// directory and the symlink while containers start), never make lfs
// write to or mount on that host path: every mount happens after the
// pivot, where the symlink resolves inside the container.
func escapeSymlinks(t *testing.T, e *escapeEnv) {
	h := hostDir(t)
	src := readableDir(t)
	for _, tc := range []struct {
		name  string
		flags []string
		links map[string]string // upper path -> target
		fail  string            // lfs's error, or "" when it runs
	}{
		{"proc", nil, map[string]string{"proc": h + "/proc"}, "sandbox: mount /proc: the image has a symlink there, not a directory"},
		{"sys", nil, map[string]string{"sys": "../../../../../" + h + "/sys"}, "sandbox: mount /sys: the image has a symlink there, not a directory"},
		{"dev", nil, map[string]string{"dev": h + "/dev"}, ""},
		{"dev nodes", nil, map[string]string{"dev/null": h + "/null", "dev/pts": h + "/pts", "dev/shm": h + "/shm"}, ""},
		{"etc", nil, map[string]string{"etc/resolv.conf": h + "/resolv.conf", "etc/hosts": h + "/hosts", "etc/hostname": "../../../../../" + h + "/hostname"}, ""},
		{"etc dir", []string{"--dns", "9.9.9.9", "--add-host", "a:1.2.3.4"}, map[string]string{"etc": h}, ""},
		{"workdir", []string{"-w", "/w/sub"}, map[string]string{"w": h}, ""},
		{"volume", []string{"-v", src + ":/v/x"}, map[string]string{"v": h}, ""},
		{"volume relative", []string{"-v", src + ":/v/x"}, map[string]string{"v": "../../../../../../../../" + h}, ""},
	} {
		args := append(append([]string{"create"}, tc.flags...), "busybox", "sh", "-c", "touch /proc/x /dev/x /dev/null /etc/resolv.conf x 2>/dev/null; echo ran")
		id := strings.TrimSpace(e.mustRun(t, args...))
		up := e.upper(id)
		for p, target := range tc.links {
			e.makeIn(t, up, filepath.Dir(p), true)
			if err := os.Symlink(target, filepath.Join(up, p)); err != nil {
				t.Fatal(err)
			}
			e.chown(filepath.Join(up, p))
			// The host path exists inside the container too, so that
			// the container works and its mounts land there, in it.
			name := filepath.Base(target)
			e.makeIn(t, up, filepath.Join("/", h, name), !fileTargets[name])
		}
		r := e.run(t, "start", id)
		if tc.fail != "" {
			if msg := checkError(t, r, []string{"start", tc.name}); msg != tc.fail {
				t.Errorf("%s: lfs start: %q; want %q", tc.name, msg, tc.fail)
			}
		} else if r.code != 0 || r.stdout != "ran\n" {
			t.Errorf("%s: lfs start: exit %d, %q, %s", tc.name, r.code, r.stdout, r.stderr)
		}
		e.run(t, "rm", "-f", id)
	}
	// A -v target's parent swapped between a directory and a symlink to
	// the host path, from the host, while the container starts.
	id := strings.TrimSpace(e.mustRun(t, "create", "-v", src+":/s/x", "busybox", "true"))
	e.makeIn(t, e.upper(id), h, true)
	s := filepath.Join(e.upper(id), "s")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			os.RemoveAll(s)
			if i%2 == 0 {
				os.Symlink(h, s)
			} else {
				os.Mkdir(s, 0o755)
			}
			e.chown(s)
			time.Sleep(time.Millisecond)
		}
	}()
	for range 10 {
		if r := e.run(t, "start", id); r.code != 0 && r.code != 125 {
			t.Errorf("lfs start with its -v target swapped: exit %d, %s", r.code, r.stderr)
		}
	}
	close(stop)
	wg.Wait()
	e.run(t, "rm", "-f", id)
}

// fileTargets are the symlink targets of escapeSymlinks that stand for
// files.
var fileTargets = map[string]bool{"null": true, "resolv.conf": true, "hosts": true, "hostname": true}

// makeIn makes p (a directory, or else an empty file) and its parents in
// a container's upper, owned by the container's root.
func (e *escapeEnv) makeIn(t *testing.T, upper, p string, dir bool) {
	t.Helper()
	full := filepath.Join(upper, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	for d := filepath.Dir(full); len(d) > len(upper); d = filepath.Dir(d) {
		e.chown(d)
	}
	var err error
	if dir {
		err = os.Mkdir(full, 0o755)
	} else {
		err = os.WriteFile(full, nil, 0o644)
	}
	if err != nil && !os.IsExist(err) {
		t.Fatal(err)
	}
	e.chown(full)
}

// chown gives p to the container's root: rootless, the user (as root
// it is root's already).
func (e *escapeEnv) chown(p string) {
	if e.user != nil {
		os.Lchown(p, e.user.uid, e.user.gid)
	}
}

// escapeUid: a rootless container's root is the user outside, in the
// host's process table and on the files it writes.
func escapeUid(t *testing.T, e *escapeEnv) {
	vol := readableDir(t)
	os.Chown(vol, e.uid, -1)
	cmd := e.command("run", "--rm", "-v", vol+":/v", "busybox", "sh", "-c", "touch /v/f; exec sleep 4713")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	var pids []string
	waitFor(t, func() bool { pids = procs("sleep\x004713"); return len(pids) > 0 })
	st, _ := os.ReadFile("/proc/" + pids[0] + "/status")
	want := fmt.Sprintf("Uid:\t%[1]d\t%[1]d\t%[1]d\t%[1]d", e.uid)
	if got := statusLines(string(st), "Uid:"); got != want {
		t.Errorf("the container's root on the host: %q; want %q", got, want)
	}
	var fst syscall.Stat_t
	if err := syscall.Stat(filepath.Join(vol, "f"), &fst); err != nil || int(fst.Uid) != e.uid {
		t.Errorf("a file the container's root made: uid %d, %v; want %d", fst.Uid, err, e.uid)
	}
}

// escapeForkBombRootless: cgroup v1 gives an unprivileged user no
// cgroup, so --pids-limit is refused with the reason and nothing left
// behind; --ulimit nproc holds a fork bomb instead.
func escapeForkBombRootless(t *testing.T, e *escapeEnv) {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
		before, _ := os.ReadDir(filepath.Join(e.root, "containers"))
		args := []string{"run", "--rm", "--pids-limit", "50", "busybox", "true"}
		msg := checkError(t, e.run(t, args...), args)
		if !strings.Contains(msg, "--pids-limit: cgroup v1 delegates no cgroup to unprivileged users") {
			t.Errorf("rootless --pids-limit: %q", msg)
		}
		if after, _ := os.ReadDir(filepath.Join(e.root, "containers")); len(after) != len(before) {
			t.Errorf("the refused run left a container")
		}
	}
	r := e.run(t, "run", "--rm", "--ulimit", "nproc=200", "busybox", "sh", "-c",
		"bomb() { bomb | bomb & }; bomb; sleep 2; echo survived")
	if !strings.Contains(r.stdout, "survived") || !strings.Contains(r.stderr, "can't fork") {
		t.Errorf("fork bomb under --ulimit nproc=200: exit %d, %q, stderr %s", r.code, r.stdout, clip(r.stderr))
	}
}
