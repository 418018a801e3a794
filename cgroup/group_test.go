package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lfs-dev/lfs/internal/unprivileged"
)

// Reserved argv[0]s that make the test binary one of its own helpers.
const (
	// allocArg waits for a line on stdin, then allocates and touches
	// 256 MiB.
	allocArg = "lfs-cgroup-test-alloc"
	// ulimitArg applies the ulimits in its arguments and executes
	// sh -c 'ulimit -Sn; ulimit -Hn'.
	ulimitArg = "lfs-cgroup-test-ulimit"
	// newArg calls New with --memory 64m and prints the error.
	newArg = "lfs-cgroup-test-new"
)

func init() {
	if len(os.Args) == 0 {
		return
	}
	switch os.Args[0] {
	case allocArg:
		bufio.NewReader(os.Stdin).ReadString('\n')
		b := make([]byte, 256<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		fmt.Println("allocated")
		os.Exit(0)
	case ulimitArg:
		var us []Ulimit
		for _, a := range os.Args[1:] {
			u, err := ParseUlimit(a)
			if err != nil {
				fmt.Println(err)
				os.Exit(1)
			}
			us = append(us, u)
		}
		if err := SetRlimits(us); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		err := syscall.Exec("/bin/sh", []string{"sh", "-c", "ulimit -Sn; ulimit -Hn"}, os.Environ())
		fmt.Println(err)
		os.Exit(1)
	case newArg:
		g, err := New("rootless-test", Limits{Memory: 64 << 20})
		if err == nil {
			g.Remove()
			fmt.Println("no error")
			os.Exit(1)
		}
		fmt.Println(err, errors.Is(err, ErrUnavailable))
		os.Exit(0)
	}
}

func needRoot(t testing.TB) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("making cgroups needs root here")
	}
}

var groups int

// newGroup makes a group for the test; at cleanup it kills what is in
// it, removes it and fails the test if a directory is left.
func newGroup(t testing.TB, l Limits) *Group {
	t.Helper()
	groups++
	g, err := New(fmt.Sprintf("test-%d-%d", os.Getpid(), groups), l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Kill(); err != nil {
			t.Error(err)
		}
		if err := g.Remove(); err != nil {
			t.Error(err)
		}
		for _, d := range g.Dirs() {
			if _, err := os.Stat(d); !os.IsNotExist(err) {
				t.Errorf("%s left after Remove", d)
			}
		}
	})
	return g
}

// started is a process that waits for a line on stdin before it runs.
type started struct {
	cmd     *exec.Cmd
	in      io.WriteCloser
	outPath string
}

// output is what it wrote so far.
func (s *started) output() string {
	b, _ := os.ReadFile(s.outPath)
	return string(b)
}

// startIn starts argv, adds it to g while it waits, then lets it go.
func startIn(t testing.TB, g *Group, path string, argv ...string) *started {
	t.Helper()
	// A file, not a pipe: Wait would wait for orphans holding a pipe.
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	s := &started{cmd: &exec.Cmd{Path: path, Args: argv, Stdout: out, Stderr: out}, outPath: out.Name()}
	if s.in, err = s.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	})
	if err := g.Add(s.cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	io.WriteString(s.in, "go\n")
	return s
}

// shIn runs script with sh in g.
func shIn(t testing.TB, g *Group, script string) *started {
	return startIn(t, g, "/bin/sh", "sh", "-c", "read x; "+script)
}

func TestPidsLimit(t *testing.T) {
	needRoot(t)
	g := newGroup(t, Limits{PidsLimit: 20})
	// A fork bomb, bounded: 40 sleepers wanted.
	s := shIn(t, g, `n=0; while [ $n -lt 40 ]; do sleep 60 & n=$((n+1)); done; echo forked $n`)
	err := s.cmd.Wait()
	if err == nil || strings.Contains(s.output(), "forked 40") || !strings.Contains(s.output(), "fork") {
		t.Errorf("40 forks under --pids-limit 20: %v, %q; want a fork failure", err, s.output())
	}
	st, err := g.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.PidsLimit != 20 || st.Pids < 1 || st.Pids > 20 {
		t.Errorf("stats: pids %d of %d, want at most 20", st.Pids, st.PidsLimit)
	}
	// Kill takes the orphaned sleepers too.
	if err := g.Kill(); err != nil {
		t.Fatal(err)
	}
	if pids, _ := g.Procs(); len(pids) != 0 {
		t.Errorf("after Kill: %v", pids)
	}
}

func TestMemoryLimit(t *testing.T) {
	needRoot(t)
	g := newGroup(t, Limits{Memory: 32 << 20, MemorySwap: 32 << 20})
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s := startIn(t, g, exe, allocArg)
	err = s.cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("256 MiB under --memory 32m: %v, %q; want killed by SIGKILL", err, s.output())
	}
	st, err := g.Stats()
	if err != nil {
		t.Fatal(err)
	}
	// The peak may pass the limit by a page or so of the kernel's own.
	if st.MemoryLimit != 32<<20 || st.OOMKills < 1 || st.MemoryPeak < 16<<20 || st.MemoryPeak > 33<<20 {
		t.Errorf("stats: limit %d, peak %d, OOM kills %d; want 32 MiB, about that, a kill", st.MemoryLimit, st.MemoryPeak, st.OOMKills)
	}
}

func TestCPULimit(t *testing.T) {
	needRoot(t)
	g := newGroup(t, Limits{NanoCPUs: 1.5e9})
	if q, p := g.cpuFiles(t); q != "150000" || p != "100000" {
		t.Errorf("--cpus 1.5: quota %s per period %s, want 150000 per 100000", q, p)
	}
	// By effect: a busy loop at a tenth of a CPU is throttled.
	g = newGroup(t, Limits{NanoCPUs: 1e8})
	if q, _ := g.cpuFiles(t); q != "10000" {
		t.Errorf("--cpus 0.1: quota %s, want 10000", q)
	}
	shIn(t, g, "while :; do :; done")
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := g.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.Throttled > 0 && st.CPU > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a busy loop under --cpus 0.1 never throttled: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cpuFiles reads the group's CPU quota and period as the kernel has them.
func (g *Group) cpuFiles(t testing.TB) (quota, period string) {
	t.Helper()
	read := func(d, f string) string {
		b, err := os.ReadFile(filepath.Join(d, f))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	if g.v2 {
		quota, period, _ = strings.Cut(read(g.dirs[""], "cpu.max"), " ")
		return quota, period
	}
	return read(g.dirs["cpu"], "cpu.cfs_quota_us"), read(g.dirs["cpu"], "cpu.cfs_period_us")
}

func TestKillRemove(t *testing.T) {
	needRoot(t)
	g := newGroup(t, Limits{PidsLimit: 100})
	s := shIn(t, g, "sleep 60 & sleep 60 & sleep 60 & wait")
	deadline := time.Now().Add(5 * time.Second)
	for pids, _ := g.Procs(); len(pids) < 4; pids, _ = g.Procs() {
		if time.Now().After(deadline) {
			t.Fatalf("processes in the group: %v, want sh and three sleepers", pids)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Remove refuses while processes are in the group.
	if err := g.Remove(); err == nil {
		t.Error("Remove with processes in the group: no error")
	}
	if err := g.Kill(); err != nil {
		t.Fatal(err)
	}
	s.cmd.Wait()
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	for _, d := range g.Dirs() {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s left after Remove", d)
		}
	}
	if _, err := g.Stats(); err == nil {
		t.Error("Stats of a removed group: no error")
	}
}

// TestV2 runs a group's lifecycle on a cgroup v2 hierarchy: the host's,
// or on a hybrid host its unified one (which holds no controller lfs
// limits with, so only the lifecycle and cgroup.kill are checked).
func TestV2(t *testing.T) {
	needRoot(t)
	h, err := readHierarchies()
	if err != nil {
		t.Fatal(err)
	}
	m := h.v2
	if m == nil {
		data, _ := os.ReadFile("/proc/self/mountinfo")
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) > 8 && strings.Contains(line, " - cgroup2 ") {
				own, _ := os.ReadFile("/proc/self/cgroup")
				for _, l := range strings.Split(string(own), "\n") {
					if p, ok := strings.CutPrefix(l, "0::"); ok {
						m = &mount{dir: f[4], root: f[3], own: p}
					}
				}
			}
		}
	}
	if m == nil {
		t.Skip("no cgroup v2 hierarchy is mounted")
	}
	g, err := newV2(fmt.Sprintf("test-%d-v2", os.Getpid()), Limits{}, m)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Remove()
	s := shIn(t, g, "sleep 60 & sleep 60 & wait")
	for pids, _ := g.Procs(); len(pids) < 3; pids, _ = g.Procs() {
		time.Sleep(10 * time.Millisecond)
	}
	if err := g.Kill(); err != nil {
		t.Fatal(err)
	}
	s.cmd.Wait()
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(g.dirs[""]); !os.IsNotExist(err) {
		t.Errorf("%s left after Remove", g.dirs[""])
	}
}

// An unprivileged user gets the reason, not a group that limits nothing.
func TestUnprivileged(t *testing.T) {
	out, err := unprivileged.Command(t, newArg).CombinedOutput()
	got := strings.TrimSpace(string(out))
	if err != nil || !strings.HasPrefix(got, "cgroup: limits unavailable: --memory: ") || !strings.HasSuffix(got, " true") {
		t.Fatalf("New as nobody: %v, %q; want ErrUnavailable", err, got)
	}
	h, _ := readHierarchies()
	if h.v2 == nil && !strings.Contains(got, "cgroup v1 delegates no cgroup to unprivileged users, so limits need root here (mkdir /sys/fs/cgroup/") {
		t.Errorf("New as nobody on cgroup v1: %q", got)
	}
}

func TestSetRlimits(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := &exec.Cmd{Path: exe, Args: []string{ulimitArg, "nofile=100:200", "core=0"}}
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != "100\n200\n" {
		t.Errorf("--ulimit nofile=100:200: %v, %q; want soft 100, hard 200 in the executed command", err, out)
	}
	// Raising a hard limit needs privilege.
	var cur syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &cur)
	if os.Getuid() != 0 {
		return
	}
	out, _ = unprivileged.Command(t, ulimitArg, "nofile=10:"+strconv.FormatUint(cur.Max+1, 10)).CombinedOutput()
	if want := fmt.Sprintf("set ulimit nofile=10:%d: operation not permitted\n", cur.Max+1); string(out) != want {
		t.Errorf("raise the hard nofile limit as nobody: %q, want %q", out, want)
	}
}
