package tests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// runStore is a store with busybox (CMD ["sh"]) loaded; its cleanup
// fails the test if anything of the store is still mounted, and unmounts
// it.
func runStore(t *testing.T) *store {
	t.Helper()
	needFUSE(t)
	f := getFixtures(t)
	s := setup(t)
	s.load(t, f.dockerArchive)
	t.Cleanup(func() {
		for _, mp := range mountsUnder(s.root) {
			t.Errorf("still mounted after lfs run: %s", mp)
			exec.Command("umount", "-l", mp).Run()
		}
	})
	return s
}

func mountsUnder(dir string) []string {
	var out []string
	data, _ := os.ReadFile("/proc/mounts")
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			out = append(out, f[1])
		}
	}
	return out
}

// containers lists ROOT/containers.
func (s *store) containers(t *testing.T) []string {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(s.root, "containers"))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestRunEcho(t *testing.T) {
	s := runStore(t)
	out, stderr, code := s.run(t, "run", "--rm", "busybox", "echo", "hi")
	if out != "hi\n" || code != 0 {
		t.Errorf("run echo hi: %q, exit %d, stderr %q", out, code, stderr)
	}
	if c := s.containers(t); len(c) != 0 {
		t.Errorf("--rm left containers: %v", c)
	}
	// Without --rm the writable layer stays.
	s.mustRun(t, "run", "busybox", "true")
	if c := s.containers(t); len(c) != 1 {
		t.Errorf("run without --rm: containers %v, want one", c)
	}
}

func TestRunExitCodes(t *testing.T) {
	s := runStore(t)
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"sh", "-c", "exit 3"}, 3, ""},
		{[]string{"sh", "-c", "kill -9 $$"}, 0, ""}, // PID 1 cannot be killed from inside, as with docker
		{[]string{"--init", "busybox", "sh", "-c", "kill -9 $$"}, 137, ""},
		{[]string{"nosuch"}, 127, "Error: exec: \"nosuch\": executable file not found in $PATH\n"},
		{[]string{"/etc/passwd"}, 126, "Error: exec: \"/etc/passwd\": permission denied\n"},
		{[]string{"--init"}, 127, ""}, // after the image, a flag is the command
	} {
		args := append([]string{"run", "--rm"}, tc.args...)
		if len(tc.args) < 2 || tc.args[1] != "busybox" {
			args = append([]string{"run", "--rm", "busybox"}, tc.args...)
		}
		_, stderr, code := s.run(t, args...)
		if code != tc.code || (tc.stderr != "" && stderr != tc.stderr) {
			t.Errorf("lfs %s: exit %d, stderr %q; want %d %q", strings.Join(args, " "), code, stderr, tc.code, tc.stderr)
		}
	}
	// lfs's own failures are 125.
	msg := checkError(t, runWith(t, opts{}, s.args([]string{"run", "--rm", "-u", "nosuch", "busybox", "id"})...), []string{"run -u nosuch"})
	if !strings.Contains(msg, "nosuch") {
		t.Errorf("unknown user: %q", msg)
	}
	checkError(t, runWith(t, opts{}, s.args([]string{"run", "--rm", "nosuch-image"})...), []string{"run nosuch-image"})
}

// TestRunSignals: a SIGTERM to lfs run reaches the container; the status
// is the container's; nothing of it outlives lfs, not even after SIGKILL.
func TestRunSignals(t *testing.T) {
	s := runStore(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		// PID 1 ignores what it has no handler for; --init forwards.
		{"init", []string{"--init", "busybox", "sleep", "4242"}, 143},
		{"trap", []string{"busybox", "sh", "-c", "trap 'exit 7' TERM; sleep 4242 & wait"}, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(lfsBin, s.args(append([]string{"run", "--rm"}, tc.args...))...)
			cmd.Env = baseEnv()
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() bool { return len(procs("sleep\x004242")) > 0 })
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
			if code := cmd.ProcessState.ExitCode(); code != tc.code {
				t.Errorf("exit %d, want %d; stderr %q", code, tc.code, stderr.String())
			}
			if p := procs("sleep\x004242"); len(p) > 0 {
				t.Errorf("container processes left: %v", p)
			}
		})
	}
	// As another uid too: the kernel clears the parent-death signal
	// when the uid changes, and the sandbox arms it again.
	t.Run("kill", func(t *testing.T) {
		cmd := exec.Command(lfsBin, s.args([]string{"run", "--rm", "busybox", "sleep", "4243"})...)
		other := exec.Command(lfsBin, s.args([]string{"run", "--rm", "-u", "nobody", "busybox", "sleep", "4243"})...)
		for _, c := range []*exec.Cmd{cmd, other} {
			c.Env = baseEnv()
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, func() bool { return len(procs("sleep\x004243")) == 2 })
		for _, c := range []*exec.Cmd{cmd, other} {
			c.Process.Kill()
			c.Wait()
		}
		waitFor(t, func() bool { return len(procs("sleep\x004243")) == 0 })
		// A killed lfs cannot unmount; lfs umount can.
		for _, mp := range mountsUnder(s.root) {
			s.mustRun(t, "umount", mp)
		}
	})
}

// procs lists the pids whose command line is cmdline (NUL-separated).
func procs(cmdline string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.TrimSuffix(string(b), "\x00") == cmdline {
			out = append(out, e.Name())
		}
	}
	return out
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("timed out waiting")
}

// TestRunEntrypointCmd is docker's ENTRYPOINT/CMD table on a real image.
func TestRunEntrypointCmd(t *testing.T) {
	s := runStore(t)
	f := getFixtures(t)
	s.mustRun(t, "import", f.rootfs, "ep:latest", "--change", `ENTRYPOINT ["echo", "a"]`, "--change", `CMD ["b"]`)
	s.mustRun(t, "import", f.rootfs, "shell:latest", "--change", `CMD echo shell $0`)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ep"}, "a b\n"},
		{[]string{"ep", "x"}, "a x\n"},
		{[]string{"--entrypoint", "echo", "ep"}, "\n"},
		{[]string{"--entrypoint", "echo", "ep", "y"}, "y\n"},
		{[]string{"--entrypoint", "", "ep", "echo", "z"}, "z\n"},
		{[]string{"shell"}, "shell /bin/sh\n"},
		{[]string{"busybox", "echo", "-n", "-c"}, "-c"},
	} {
		args := append([]string{"run", "--rm"}, tc.args...)
		r := runWith(t, opts{}, s.args(args)...)
		if r.stdout != tc.want || r.code != 0 {
			t.Errorf("lfs %s: %q, exit %d, stderr %q; want %q", strings.Join(args, " "), r.stdout, r.code, r.stderr, tc.want)
		}
	}
	r := runWith(t, opts{}, s.args([]string{"run", "--rm", "--entrypoint", "", "ep"})...)
	if msg := checkError(t, r, []string{"run --entrypoint '' ep"}); !strings.Contains(msg, "no command") {
		t.Errorf("no command: %q", msg)
	}
}

func TestRunEnv(t *testing.T) {
	s := runStore(t)
	f := getFixtures(t)
	s.mustRun(t, "import", f.rootfs, "env:latest", "--change", "ENV IMG=1 KEEP=k", "--change", `CMD ["env"]`)
	envFile := filepath.Join(t.TempDir(), "env")
	os.WriteFile(envFile, []byte("# a comment\nFILE=f v\nFROMENV\nIMG=file\n"), 0o644)
	r := runWith(t, opts{env: []string{"FROMENV=e1", "CALLER=c"}}, s.args([]string{"run", "--rm", "-h", "myhost",
		"--env-file", envFile, "-e", "IMG=2", "-e", "CALLER", "-e", "UNSET_HERE", "-e", "EMPTY=", "env"})...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	want := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=myhost", "IMG=2", "KEEP=k",
		"FILE=f v", "FROMENV=e1", "CALLER=c", "EMPTY=", "HOME=/root"}
	if got := lines(r.stdout); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("env:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The default host name is the container ID's first 12 hex digits;
	// HOME comes from passwd, "/" without an entry.
	out := s.mustRun(t, "run", "busybox", "sh", "-c", "echo $HOSTNAME $(hostname) $HOME")
	id := s.containers(t)[0]
	if want := id[:12] + " " + id[:12] + " /root\n"; out != want {
		t.Errorf("got %q, want %q", out, want)
	}
	if out := s.mustRun(t, "run", "--rm", "-u", "4242", "busybox", "sh", "-c", "echo $HOME"); out != "/\n" {
		t.Errorf("HOME of a uid without passwd entry: %q", out)
	}
}

func TestRunUserWorkdirHostNetwork(t *testing.T) {
	s := runStore(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-u", "nobody", "busybox", "id"}, "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n"},
		{[]string{"-u", "nobody:root", "busybox", "id"}, "uid=65534(nobody) gid=0(root) groups=0(root)\n"},
		{[]string{"-u", "1000:1000", "busybox", "id"}, "uid=1000 gid=1000 groups=1000\n"},
		{[]string{"-w", "/new/dir", "busybox", "pwd"}, "/new/dir\n"},
		{[]string{"-h", "myhost", "busybox", "sh", "-c", "hostname; cat /etc/hostname"}, "myhost\nmyhost\n"},
		{[]string{"--network", "none", "busybox", "ls", "/sys/class/net"}, "lo\n"},
		{[]string{"--network", "none", "busybox", "sh", "-c", "ip link show lo | grep -c UP"}, "1\n"},
		{[]string{"busybox", "sh", "-c", "echo $$"}, "1\n"},
		// Only the container's processes: sh, ls, grep.
		{[]string{"busybox", "sh", "-c", "ls /proc | grep -c '^[0-9]'"}, "3\n"},
		{[]string{"busybox", "sh", "-c", "ls /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty /dev/pts /dev/shm >/dev/null && echo ok"}, "ok\n"},
		{[]string{"busybox", "sh", "-c", "touch /sys/x 2>/dev/null || echo ro"}, "ro\n"},
	} {
		args := append([]string{"run", "--rm"}, tc.args...)
		r := runWith(t, opts{}, s.args(args)...)
		if r.stdout != tc.want || r.code != 0 {
			t.Errorf("lfs %s: %q, exit %d, stderr %q; want %q", strings.Join(args, " "), r.stdout, r.code, r.stderr, tc.want)
		}
	}
	host, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	if out := s.mustRun(t, "run", "--rm", "busybox", "uname", "-r"); out != string(host) {
		t.Errorf("uname -r inside: %q, host %q", out, host)
	}
}

// TestRunIsolatesImage: a container's changes stay in its writable layer.
func TestRunIsolatesImage(t *testing.T) {
	s := runStore(t)
	s.mustRun(t, "run", "--rm", "busybox", "sh", "-c", "rm /bin/ls; echo x > /etc/motd; mkdir /newdir")
	out := s.mustRun(t, "run", "--rm", "busybox", "sh", "-c", "ls /bin/ls; ls /etc/motd /newdir 2>&1 | wc -l")
	if out != "/bin/ls\n2\n" {
		t.Errorf("second run sees the first one's changes: %q", out)
	}
	if out := s.mustRun(t, "run", "--rm", "-i", "busybox", "cat"); out != "" {
		t.Errorf("-i with empty stdin: %q", out)
	}
	r := s.runIn(t, strings.NewReader("piped\n"), "run", "--rm", "-i", "busybox", "cat")
	if r.stdout != "piped\n" {
		t.Errorf("-i: %q, %s", r.stdout, r.stderr)
	}
}

// TestRunForwardsSignals: INT, HUP, USR1, USR2, WINCH and TERM sent to
// lfs run reach the container's command (a shell with traps, as PID 1).
func TestRunForwardsSignals(t *testing.T) {
	s := runStore(t)
	script := `for sig in INT HUP USR1 USR2 WINCH; do trap "echo $sig" $sig; done; trap 'echo TERM; exit 0' TERM;
echo ready; while :; do sleep 0.05; done`
	cmd := exec.Command(lfsBin, s.args([]string{"run", "--rm", "busybox", "sh", "-c", script})...)
	cmd.Env = baseEnv()
	var out ptyReader // any synchronised buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	out.waitFor(t, "ready\n")
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGTERM} {
		cmd.Process.Signal(sig)
		name := strings.TrimPrefix(unix.SignalName(sig), "SIG")
		out.waitFor(t, name+"\n")
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("lfs run after the TERM trap's exit 0: %v", err)
	}
}
