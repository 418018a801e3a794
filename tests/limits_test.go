package tests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// needCgroups skips unless this test can make cgroups (root).
func needCgroups(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("limits need root here (the unprivileged case is TestLimitsUnprivileged)")
	}
}

// cgroupDirs are the directories of container id's cgroup on the host,
// by controller ("" on cgroup v2): lfs/ID under this process's own
// cgroup in each v1 hierarchy, or beside it on v2 (lfs runs in the
// test's cgroup). Inside, the container sees its cgroup as / (a cgroup
// namespace), so only the host can tell.
func cgroupDirs(t *testing.T, id string) map[string]string {
	t.Helper()
	own := map[string]string{}
	cg, _ := os.ReadFile("/proc/self/cgroup")
	for _, line := range strings.Split(string(cg), "\n") {
		if parts := strings.SplitN(line, ":", 3); len(parts) == 3 {
			for _, c := range strings.Split(parts[1], ",") {
				own[c] = parts[2]
			}
		}
	}
	dirs := map[string]string{}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mi), "\n") {
		f := strings.Fields(line)
		i := len(f) - 3
		if i < 5 || f[i-1] != "-" {
			continue
		}
		switch f[i] {
		case "cgroup2":
			if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil && f[4] == "/sys/fs/cgroup" {
				parent := filepath.Join(f[4], own[""])
				if own[""] != "/" {
					parent = filepath.Dir(parent)
				}
				dirs[""] = filepath.Join(parent, "lfs", id)
			}
		case "cgroup":
			for _, c := range strings.Split(f[i+2], ",") {
				if c == "memory" || c == "pids" || c == "cpu" {
					dirs[c] = filepath.Join(f[4], own[c], "lfs", id)
				}
			}
		}
	}
	if len(dirs) == 0 {
		t.Fatal("no cgroup hierarchy with memory, pids or cpu is mounted")
	}
	return dirs
}

// controllerDir is where controller c's files of a group are.
func controllerDir(dirs map[string]string, c string) string {
	if d, ok := dirs[""]; ok {
		return d
	}
	return dirs[c]
}

// runningID starts lfs run with args in the background, waits until its
// container runs and returns the command and the container's ID.
func (s *store) runningID(t *testing.T, args ...string) (cmd *exec.Cmd, stdout, stderr *bytes.Buffer, id string) {
	t.Helper()
	cmd = exec.Command(lfsBin, s.args(append([]string{"run"}, args...))...)
	cmd.Env = baseEnv()
	stdout, stderr = &bytes.Buffer{}, &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	waitFor(t, func() bool {
		id = strings.TrimSpace(s.mustRun(t, "ps", "-q", "--no-trunc"))
		return id != ""
	})
	return cmd, stdout, stderr, id
}

// TestLimitsForkBomb: a fork bomb under --pids-limit is stopped while
// the container's cgroup holds its processes; nothing of it is left
// after.
func TestLimitsForkBomb(t *testing.T) {
	needCgroups(t)
	s := runStore(t)
	const script = "bomb() { bomb | bomb & }; bomb; sleep 3; echo survived"
	cmd, stdout, stderr, id := s.runningID(t, "--rm", "--pids-limit", "20", "busybox", "sh", "-c", script)
	dirs := cgroupDirs(t, id)
	pids := controllerDir(dirs, "pids")
	// The record says running before the cgroup is made.
	waitFor(t, func() bool {
		b, _ := os.ReadFile(filepath.Join(pids, "pids.max"))
		return strings.TrimSpace(string(b)) == "20"
	})
	time.Sleep(time.Second)
	if b, _ := os.ReadFile(filepath.Join(pids, "pids.current")); len(b) == 0 || atoi(t, string(b)) > 20 {
		t.Errorf("pids.current under the bomb: %q", b)
	}
	// The host still forks.
	if err := exec.Command("true").Run(); err != nil {
		t.Errorf("the host cannot fork during the bomb: %v", err)
	}
	err := cmd.Wait()
	if err != nil || !strings.Contains(stderr.String(), "can't fork") || stdout.String() != "survived\n" {
		t.Errorf("fork bomb under --pids-limit 20: %v, %q, stderr %s; want fork failures, and the shell alive", err, stdout.String(), clip(stderr.String()))
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s left after the container ended", d)
		}
	}
	if p := procs("sh\x00-c\x00" + script); len(p) > 0 {
		t.Errorf("fork bomb processes left: %d", len(p))
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestLimitsMemory: an allocation past --memory is killed (137, as
// docker), and docker's flag errors are docker's.
func TestLimitsMemory(t *testing.T) {
	needCgroups(t)
	s := runStore(t)
	// tail holds its one long line in memory.
	_, stderr, code := s.run(t, "run", "--rm", "-m", "32m", "--memory-swap", "32m", "busybox", "sh", "-c",
		"head -c 256m /dev/zero | tail -n 1 > /dev/null")
	if code != 137 {
		t.Errorf("256 MiB under --memory 32m: exit %d, want 137 (SIGKILL); stderr %s", code, clip(stderr))
	}
	out, stderr, code := s.run(t, "run", "--rm", "-m", "64m", "busybox", "sh", "-c", "head -c 16m /dev/zero | tail -n 1 | wc -c")
	if code != 0 || strings.TrimSpace(out) != "16777216" {
		t.Errorf("16 MiB under --memory 64m: exit %d, %q; stderr %s", code, out, clip(stderr))
	}
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"-m", "1x"}, `invalid argument "1x" for "-m, --memory" flag: invalid suffix: 'x'`},
		{[]string{"-m", "1k"}, "Minimum memory limit allowed is 6MB"},
		{[]string{"--memory-swap", "1g"}, "You should always set the Memory limit when using Memoryswap limit, see usage"},
		{[]string{"-m", "1g", "--memory-swap", "512m"}, "Minimum memoryswap limit should be larger than memory limit, see usage"},
		{[]string{"--cpus", "x"}, `invalid argument "x" for "--cpus" flag: failed to parse x as a rational number`},
		{[]string{"--pids-limit", "x"}, `invalid argument "x" for "--pids-limit" flag: strconv.ParseInt: parsing "x": invalid syntax`},
		{[]string{"--ulimit", "files=1"}, "invalid ulimit type: files"},
	} {
		args := append(append([]string{"run", "--rm"}, tc.args...), "busybox", "true")
		if msg := checkError(t, runWith(t, opts{}, s.args(args)...), args); msg != tc.msg {
			t.Errorf("lfs %s: %q, want %q", strings.Join(args, " "), msg, tc.msg)
		}
	}
}

// TestLimitsCPU: --cpus is the cgroup's CFS quota while the container
// runs, and -m its memory limit.
func TestLimitsCPU(t *testing.T) {
	needCgroups(t)
	s := runStore(t)
	cmd, _, _, id := s.runningID(t, "--rm", "--cpus", "0.5", "-m", "64m", "busybox", "sleep", "2")
	defer cmd.Wait()
	dirs := cgroupDirs(t, id)
	read := func(c, file string) string {
		b, _ := os.ReadFile(filepath.Join(controllerDir(dirs, c), file))
		return strings.TrimSpace(string(b))
	}
	var quota, memory string
	// The record says running before the cgroup is made.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		quota, memory = read("cpu", "cpu.max"), read("memory", "memory.max")
		if _, v2 := dirs[""]; !v2 {
			quota = read("cpu", "cpu.cfs_quota_us") + " " + read("cpu", "cpu.cfs_period_us")
			memory = read("memory", "memory.limit_in_bytes")
		}
		if quota == "50000 100000" && memory == "67108864" {
			break
		}
	}
	if quota != "50000 100000" || memory != "67108864" {
		t.Errorf("--cpus 0.5 -m 64m: quota and period %q, memory %q; want 50000 100000, 67108864", quota, memory)
	}
}

// TestLimitsUlimit: --ulimit reaches the command, as docker's does.
func TestLimitsUlimit(t *testing.T) {
	s := runStore(t)
	out, stderr, code := s.run(t, "run", "--rm", "--ulimit", "nofile=100:200", "--ulimit", "core=0",
		"busybox", "sh", "-c", "ulimit -n; ulimit -Hn; ulimit -c")
	if code != 0 || out != "100\n200\n0\n" {
		t.Errorf("--ulimit nofile=100:200 core=0: exit %d, %q, stderr %s", code, out, stderr)
	}
	// docker inspect's fields for the limits.
	id := strings.TrimSpace(s.mustRun(t, "create", "-m", "64m", "--memory-swap", "-1", "--cpus", "1.5", "--pids-limit", "7",
		"--ulimit", "nofile=100:200", "busybox", "true"))
	out = s.mustRun(t, "inspect", "--format", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{json .HostConfig.Ulimits}}", id)
	if want := `67108864 -1 1500000000 7 [{"Name":"nofile","Soft":100,"Hard":200}]` + "\n"; out != want {
		t.Errorf("inspect: %q; want %q", out, want)
	}
}

// TestLimitsUnprivileged: where the host gives an unprivileged user no
// cgroup (cgroup v1 here), rootless lfs says why and runs nothing.
func TestLimitsUnprivileged(t *testing.T) {
	needFUSE(t)
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		t.Skip("a cgroup v2 host: an unprivileged user's limits depend on systemd's delegation")
	}
	u := rootlessUser(t, "lfs-limits", true)
	s := u.store(t)
	u.mustRun(t, s, "load", "-i", getFixtures(t).dockerArchive)
	for _, flag := range [][]string{{"--memory", "64m"}, {"--cpus", "1"}, {"--pids-limit", "10"}} {
		args := append(append([]string{"run", "--rm"}, flag...), "busybox", "true")
		msg := checkError(t, u.run(t, s, nil, args...), args)
		want := "cgroup: limits unavailable: " + flag[0] + ": cgroup v1 delegates no cgroup to unprivileged users, so limits need root here"
		if !strings.HasPrefix(msg, want) {
			t.Errorf("rootless lfs %s: %q; want %q...", strings.Join(args, " "), msg, want)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(s.root, "containers")); len(ents) != 0 {
		t.Errorf("the refused runs left %d containers", len(ents))
	}
}
