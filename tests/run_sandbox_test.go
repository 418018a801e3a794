package tests

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// TestRunHelloWorld: a FROM-scratch image of one static binary, built
// from demo/hello.c, prints its greeting.
func TestRunHelloWorld(t *testing.T) {
	s := runStore(t)
	hello := filepath.Join(t.TempDir(), "hello.tar")
	if err := mkrootfs("hello", hello); err != nil {
		t.Skipf("cannot build the hello rootfs (make deps installs gcc and libc6-dev): %v", err)
	}
	s.mustRun(t, "import", hello, "hello-world:latest", "--change", `CMD ["/hello"]`)
	if out := s.mustRun(t, "run", "--rm", "hello-world"); out != "Hello from lfs!\n" {
		t.Errorf("lfs run hello-world: %q", out)
	}
}

// TestRunHardening: what a container holds of the host's privileges, as
// docker's defaults say.
func TestRunHardening(t *testing.T) {
	s := runStore(t)
	const caps = "00000000a80425fb" // docker's 14
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"busybox", "grep", "^Cap", "/proc/self/status"},
			"CapInh:\t0000000000000000\nCapPrm:\t" + caps + "\nCapEff:\t" + caps + "\nCapBnd:\t" + caps + "\nCapAmb:\t0000000000000000\n"},
		{[]string{"-u", "nobody", "busybox", "grep", "^CapEff", "/proc/self/status"}, "CapEff:\t0000000000000000\n"},
		// A cgroup namespace: every hierarchy's path is its root.
		{[]string{"busybox", "sh", "-c", "grep -vc ':/$' /proc/self/cgroup; true"}, "0\n"},
		{[]string{"busybox", "sh", "-c", "test $(readlink /proc/self/ns/cgroup) != " + hostNS(t, "cgroup") + " && echo own"}, "own\n"},
		{[]string{"busybox", "sh", "-c", "cat /proc/keys /proc/timer_list 2>/dev/null | wc -c; ls /sys/firmware | wc -l"}, "0\n0\n"},
		{[]string{"busybox", "sh", "-c", "echo 1 > /proc/sys/kernel/domainname 2>/dev/null || echo ro; echo b > /proc/sysrq-trigger 2>/dev/null || echo ro"}, "ro\nro\n"},
		{[]string{"busybox", "sh", "-c", "grep -c shared: /proc/self/mountinfo; true"}, "0\n"},
		{[]string{"busybox", "sh", "-c", "mount -t tmpfs t /mnt 2>/dev/null || echo denied"}, "denied\n"},
		{[]string{"busybox", "ls", "/dev"}, "core\nfd\nfull\nmqueue\nnull\nptmx\npts\nrandom\nshm\nstderr\nstdin\nstdout\ntty\nurandom\nzero\n"},
	} {
		args := append([]string{"run", "--rm"}, tc.args...)
		r := runWith(t, opts{}, s.args(args)...)
		if r.stdout != tc.want || r.code != 0 {
			t.Errorf("lfs %s: %q, exit %d, stderr %q; want %q", strings.Join(args, " "), r.stdout, r.code, r.stderr, tc.want)
		}
	}
	// A descriptor lfs inherits without close-on-exec stays out.
	f, err := os.Open("/etc/hostname")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(lfsBin, s.args([]string{"run", "--rm", "busybox", "sh", "-c", "ls /proc/$$/fd; true"})...)
	cmd.Env = baseEnv()
	cmd.ExtraFiles = []*os.File{f, f, f}
	out, err := cmd.Output()
	if err != nil || string(out) != "0\n1\n2\n" {
		t.Errorf("descriptors in the container: %q, %v; want 0 1 2", out, err)
	}
}

// TestRunMounts: -v (read-write, :ro, a relative source, a missing source
// made), --mount bind and tmpfs, --tmpfs with options, --read-only, a
// target behind a symlink of the image, and bad values.
func TestRunMounts(t *testing.T) {
	s := runStore(t)
	host := t.TempDir()
	rw, ro := filepath.Join(host, "rw"), filepath.Join(host, "ro")
	os.Mkdir(rw, 0o755)
	os.Mkdir(ro, 0o755)
	os.WriteFile(filepath.Join(ro, "f"), []byte("ro\n"), 0o644)
	made := filepath.Join(host, "made", "here")
	script := `echo w > /rw/w; cat /ro/f; touch /ro/x 2>/dev/null || echo ro-bind; cat /m/f; touch /m/x 2>/dev/null || echo ro-mount;
stat -c %a /t1 /t2; grep -E ' /t[12] ' /proc/mounts | cut -d' ' -f4 | cut -d, -f1-4; touch /x 2>/dev/null || echo ro-root;
echo t > /t1/t && cat /t1/t; ls -d /made; cat /etc/rel`
	os.WriteFile(filepath.Join(host, "rel"), []byte("rel\n"), 0o644)
	cmd := exec.Command(lfsBin, s.args([]string{"run", "--rm", "-v", rw + ":/rw", "-v", ro + ":/ro:ro", "-v", made + ":/made",
		"--mount", "type=bind,source=" + ro + ",target=/m,readonly", "--mount", "type=tmpfs,target=/t1,tmpfs-mode=1770",
		"--tmpfs", "/t2:size=1m,mode=700,exec", "--read-only", "-v", "./rel:/lnk/rel", "busybox", "sh", "-c", script})...)
	cmd.Env, cmd.Dir = baseEnv(), host
	// /lnk is a symlink to /etc in the image made below.
	s.mustRun(t, "run", "--name", "mk", "busybox", "ln", "-s", "/etc", "/lnk")
	s.mustRun(t, "commit", "mk", "busybox:lnk")
	cmd.Args[len(cmd.Args)-4] = "busybox:lnk"
	out, err := cmd.CombinedOutput()
	want := "ro\nro-bind\nro\nro-mount\n1770\n700\nrw,nosuid,nodev,noexec\nrw,nosuid,nodev,relatime\nro-root\nt\n/made\nrel\n"
	if err != nil || string(out) != want {
		t.Errorf("mounts: %v\n%s\nwant:\n%s", err, out, want)
	}
	if b, _ := os.ReadFile(filepath.Join(rw, "w")); string(b) != "w\n" {
		t.Errorf("write through -v: %q", b)
	}
	if fi, err := os.Stat(made); err != nil || !fi.IsDir() {
		t.Errorf("-v did not make its missing source: %v", err)
	}
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"-v", "vol:/x"}, "named volumes are not supported"},
		{[]string{"-v", "/x"}, "anonymous volumes are not supported"},
		{[]string{"-v", host + ":/x:rshared"}, "propagation rshared"},
		{[]string{"--mount", "type=bind,source=" + filepath.Join(host, "nosuch") + ",target=/x"}, "bind source path does not exist"},
		{[]string{"--mount", "type=volume,target=/x"}, "volume mounts are not supported"},
		{[]string{"--tmpfs", "/x:bogus"}, "unknown option"},
		{[]string{"-v", host + ":/proc/x"}, "inside /proc"},
	} {
		args := append(append([]string{"run", "--rm"}, tc.args...), "busybox", "true")
		msg := checkError(t, runWith(t, opts{}, s.args(args)...), args)
		if !strings.Contains(msg, tc.msg) {
			t.Errorf("lfs %s: %q, want %q", strings.Join(args, " "), msg, tc.msg)
		}
	}
	// create keeps the mounts for start.
	s.mustRun(t, "create", "--name", "withvol", "-v", rw+":/rw", "busybox", "cat", "/rw/w")
	if out := s.mustRun(t, "start", "withvol"); out != "w\n" {
		t.Errorf("start of a created container with -v: %q", out)
	}
	want = "bind " + rw + " /rw true [" + rw + ":/rw]\n"
	if out := s.mustRun(t, "inspect", "-f", "{{range .Mounts}}{{.Type}} {{.Source}} {{.Destination}} {{.RW}}{{end}} {{.HostConfig.Binds}}", "withvol"); out != want {
		t.Errorf("inspect of the mounts: %q, want %q", out, want)
	}
}

// TestRunShellAndEntrypointTable: docker's ENTRYPOINT/CMD table, the
// shell forms built with the image's SHELL.
func TestRunShellAndEntrypointTable(t *testing.T) {
	s := runStore(t)
	f := getFixtures(t)
	for _, img := range []struct {
		name    string
		changes []string
	}{
		{"ep-shell", []string{`ENTRYPOINT echo ep`, `CMD ["ignored"]`}},
		{"ep-exec-cmd-shell", []string{`ENTRYPOINT ["echo", "a"]`, `CMD echo b`}},
		{"cmd-exec", []string{`CMD ["echo", "c"]`}},
		{"shell-ash", []string{`SHELL ["/bin/ash", "-c"]`, `CMD echo $0`}},
		{"ep-only", []string{`ENTRYPOINT ["echo", "only"]`}},
	} {
		args := []string{"import", f.rootfs, img.name + ":latest"}
		for _, c := range img.changes {
			args = append(args, "--change", c)
		}
		s.mustRun(t, args...)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ep-shell"}, "ep\n"},
		{[]string{"ep-shell", "arg"}, "ep\n"}, // sh -c 'echo ep' arg: arg is $0
		{[]string{"ep-exec-cmd-shell"}, "a /bin/sh -c echo b\n"},
		{[]string{"cmd-exec"}, "c\n"},
		{[]string{"cmd-exec", "echo", "d"}, "d\n"},
		{[]string{"shell-ash"}, "/bin/ash\n"},
		{[]string{"ep-only"}, "only\n"},
		{[]string{"ep-only", "x", "y"}, "only x y\n"},
		{[]string{"--entrypoint", "/bin/echo", "ep-only", "z"}, "z\n"},
	} {
		args := append([]string{"run", "--rm"}, tc.args...)
		r := runWith(t, opts{}, s.args(args)...)
		if r.stdout != tc.want || r.code != 0 {
			t.Errorf("lfs %s: %q, exit %d, stderr %q; want %q", strings.Join(args, " "), r.stdout, r.code, r.stderr, tc.want)
		}
	}
}

// hostNS is the host's namespace of a kind, as readlink shows it.
func hostNS(t *testing.T, kind string) string {
	t.Helper()
	ns, err := os.Readlink("/proc/self/ns/" + kind)
	if err != nil {
		t.Fatal(err)
	}
	return "'" + ns + "'"
}

// ptyReader collects what lfs writes to the test's pty.
type ptyReader struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (p *ptyReader) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.Write(b)
}

// waitFor waits until the output matches re and returns the match.
func (p *ptyReader) waitFor(t *testing.T, re string) []string {
	t.Helper()
	r := regexp.MustCompile(re)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		m := r.FindStringSubmatch(p.buf.String())
		if m != nil {
			p.buf.Reset()
		}
		p.mu.Unlock()
		if m != nil {
			return m
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	t.Fatalf("no %q in the terminal's output:\n%q", re, p.buf.String())
	return nil
}

// TestRunTTY drives lfs run -it through a pty, as a user at a terminal:
// the container's pty has the terminal's size and follows its changes;
// Ctrl-C (raw mode passes the byte on) interrupts the container's
// foreground job, not lfs; the status is the shell's.
func TestRunTTY(t *testing.T) {
	s := runStore(t)
	cmd := exec.Command(lfsBin, s.args([]string{"run", "--rm", "-it", "busybox", "sh"})...)
	cmd.Env = baseEnv()
	term, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: 90})
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	var out ptyReader
	go io.Copy(&out, term)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		// On failure: the shell ends on SIGHUP and lfs unmounts.
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGHUP)
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
			}
		}
	}()
	type step struct{ send, want string }
	for _, st := range []step{
		{"stty size; tty; echo $TERM; test -c /dev/console && echo console\r", `30 90\r\n/dev/pts/0\r\nxterm\r\nconsole\r\n`},
	} {
		io.WriteString(term, st.send)
		out.waitFor(t, st.want)
	}
	if err := pty.Setsize(term, &pty.Winsize{Rows: 40, Cols: 120}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // SIGWINCH reaches lfs, which resizes the container's pty
	io.WriteString(term, "stty size\r")
	out.waitFor(t, `40 120\r\n`)
	io.WriteString(term, "sleep 4242\r")
	waitFor(t, func() bool { return len(procs("sleep\x004242")) > 0 })
	io.WriteString(term, "\x03")
	waitFor(t, func() bool { return len(procs("sleep\x004242")) == 0 })
	io.WriteString(term, "echo rc=$?\r")
	out.waitFor(t, `rc=130\r\n`)
	io.WriteString(term, "exit 7\r")
	select {
	case <-done:
		if code := cmd.ProcessState.ExitCode(); code != 7 {
			t.Errorf("exit %d, want 7", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("lfs run -it did not end after exit 7")
	}
	// Without a terminal, -it refuses as docker does; -t alone works.
	r := runWith(t, opts{stdin: strings.NewReader("")}, s.args([]string{"run", "--rm", "-it", "busybox", "true"})...)
	if msg := checkError(t, r, []string{"run -it"}); msg != "the input device is not a TTY" {
		t.Errorf("-it without a terminal: %q", msg)
	}
	if out := s.mustRun(t, "run", "--rm", "-t", "busybox", "tty"); out != "/dev/pts/0\r\n" {
		t.Errorf("-t: %q", out)
	}
}

// TestRunCtrlCOnce: without -t, Ctrl-C at the caller's terminal signals
// lfs, which passes SIGINT on once: the container is not in the
// terminal's process group; its stdin (-i) comes through a pipe.
func TestRunCtrlCOnce(t *testing.T) {
	s := runStore(t)
	script := `n=0; trap 'n=$((n+1)); echo "INT $n"' INT; trap 'exit 0' TERM; read line; echo "read $line"; while :; do sleep 0.05; done`
	cmd := exec.Command(lfsBin, s.args([]string{"run", "--rm", "-i", "busybox", "sh", "-c", script})...)
	cmd.Env = baseEnv()
	term, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	var out ptyReader
	go io.Copy(&out, term)
	defer cmd.Process.Kill()
	io.WriteString(term, "typed\r")
	out.waitFor(t, `read typed\r\n`)
	// Signals that arrive together merge, so count groups instead: the
	// container's shell is not in lfs's, the terminal's foreground one.
	sh := procs("sh\x00-c\x00" + script)
	if len(sh) != 1 {
		t.Fatalf("container shell: %v", sh)
	}
	pid, _ := strconv.Atoi(sh[0])
	if pgid, err := syscall.Getpgid(pid); err != nil || pgid == cmd.Process.Pid {
		t.Errorf("the container's process group is lfs's (%d, %v): the terminal signals it directly", pgid, err)
	}
	io.WriteString(term, "\x03")
	out.waitFor(t, `INT 1\r\n`)
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("lfs run: %v", err)
	}
}
