package tests

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestRunRootless: an unprivileged user with subordinate ids runs,
// diffs, commits, exports, copies and removes containers; image uids map
// through the user namespace, so the upper on disk holds the subordinate
// ids and commit and export hold the container's, as with rootless podman.
func TestRunRootless(t *testing.T) {
	needFUSE(t)
	f := getFixtures(t)
	u := rootlessUser(t, "lfs-rootless", true)
	s := u.store(t)
	u.mustRun(t, s, "load", "-i", f.dockerArchive)
	for _, tc := range []struct {
		args []string
		want string
		code int
	}{
		{[]string{"busybox", "sh", "-c", "id; grep -c . /proc/self/uid_map; grep ^CapEff /proc/self/status"},
			"uid=0(root) gid=0(root) groups=0(root)\n2\nCapEff:\t00000000a80425fb\n", 0},
		{[]string{"-u", "nobody", "busybox", "id"}, "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n", 0},
		{[]string{"--network", "none", "-h", "rl", "busybox", "sh", "-c", "hostname; ls /sys/class/net"}, "rl\nlo\n", 0},
		{[]string{"-v", "/etc/hostname:/h:ro", "--tmpfs", "/t", "--read-only", "busybox", "sh", "-c", "cat /h >/dev/null && touch /t/x && echo ok"}, "ok\n", 0},
		{[]string{"-t", "busybox", "sh", "-c", "tty; stat -c %u /dev/console"}, "/dev/pts/0\r\n0\r\n", 0},
		{[]string{"--init", "busybox", "sh", "-c", "kill -9 $$"}, "", 137},
		{[]string{"busybox", "sh", "-c", "exit 3"}, "", 3},
		{[]string{"busybox", "nosuch"}, "", 127},
	} {
		args := append([]string{"run", "--rm"}, tc.args...)
		r := u.run(t, s, nil, args...)
		if r.stdout != tc.want || r.code != tc.code {
			t.Errorf("rootless lfs %s: %q, exit %d, stderr %q; want %q, exit %d", strings.Join(args, " "), r.stdout, r.code, r.stderr, tc.want, tc.code)
		}
	}
	u.mustRun(t, s, "run", "--name", "rl", "busybox", "sh", "-c",
		"echo hi > /etc/motd; rm /bin/vi; touch /tmp/n; chown 65534:65534 /tmp/n; su -s /bin/sh nobody -c 'touch /tmp/bynobody'")
	id := strings.TrimSpace(u.mustRun(t, s, "ps", "-aq", "--no-trunc"))
	upper := filepath.Join(s.root, "containers", id, "upper")
	for p, want := range map[string]int{"etc/motd": u.uid, "tmp/n": u.subUID + 65533, "tmp/bynobody": u.subUID + 65533} {
		var st syscall.Stat_t
		if err := syscall.Lstat(filepath.Join(upper, p), &st); err != nil || int(st.Uid) != want {
			t.Errorf("upper %s: uid %d, %v; want %d", p, st.Uid, err, want)
		}
	}
	if out := u.mustRun(t, s, "diff", "rl"); out != "C /bin\nD /bin/vi\nC /etc\nA /etc/motd\nC /tmp\nA /tmp/bynobody\nA /tmp/n\n" {
		t.Errorf("diff:\n%s", out)
	}
	u.mustRun(t, s, "commit", "rl", "rl:1")
	if out := u.mustRun(t, s, "run", "--rm", "rl:1", "sh", "-c", "stat -c '%u:%g' /tmp/n /tmp/bynobody /etc/motd; cat /etc/motd"); out != "65534:65534\n65534:65534\n0:0\nhi\n" {
		t.Errorf("run of the rootless commit: %q", out)
	}
	exp := u.mustRun(t, s, "export", "rl")
	owners := map[string]string{}
	tr := tarEntries(t, []byte(exp))
	for _, h := range tr {
		owners[h[0]] = h[1]
	}
	if owners["tmp/n"] != "65534:65534" || owners["etc/motd"] != "0:0" || owners["bin/busybox"] != "0:0" {
		t.Errorf("export owners: tmp/n %s, etc/motd %s, bin/busybox %s", owners["tmp/n"], owners["etc/motd"], owners["bin/busybox"])
	}
	// cp of the stopped container, both ways; a tar out.
	r := u.run(t, s, bytes.NewReader(tarOf(t, "in", "in\n")), "cp", "-", "rl:/tmp")
	if r.code != 0 {
		t.Errorf("cp - rl:/tmp: %s", r.stderr)
	}
	out := u.mustRun(t, s, "cp", "rl:/tmp", "-")
	if got := tarList(t, []byte(out)); got != "tmp/ tmp/bynobody tmp/in tmp/n" {
		t.Errorf("cp rl:/tmp -: %s", got)
	}
	// A running rootless container is reached through its lfs process.
	cmd := exec.Command(lfsBin, s.args([]string{"run", "--name", "live", "busybox", "sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.05; done; cat /tmp/go"})...)
	cmd.Dir, cmd.Env = "/", append(baseEnv(), "HOME=/nonexistent")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid)}}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor(t, func() bool { return strings.Contains(u.mustRun(t, s, "ps"), "live") })
	waitFor(t, func() bool {
		return u.run(t, s, bytes.NewReader(tarOf(t, "go", "go\n")), "cp", "-", "live:/tmp").code == 0
	})
	if err := cmd.Wait(); err != nil || stdout.String() != "go\n" {
		t.Errorf("running rootless container after cp: %v, %q", err, stdout.String())
	}
	// A killed rootless lfs takes its container along, and its mount
	// (which lived in its namespace only).
	killed := exec.Command(lfsBin, s.args([]string{"run", "--rm", "--name", "killed", "-u", "nobody", "busybox", "sleep", "4246"})...)
	killed.Dir, killed.Env, killed.SysProcAttr = cmd.Dir, cmd.Env, cmd.SysProcAttr
	if err := killed.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(procs("sleep\x004246")) > 0 })
	killed.Process.Kill()
	killed.Wait()
	waitFor(t, func() bool { return len(procs("sleep\x004246")) == 0 })
	// rm -f of a running container whose command is another uid.
	spin := exec.Command(lfsBin, s.args([]string{"run", "--name", "spin", "-u", "nobody", "busybox", "sleep", "4244"})...)
	spin.Dir, spin.Env, spin.SysProcAttr = cmd.Dir, cmd.Env, cmd.SysProcAttr
	if err := spin.Start(); err != nil {
		t.Fatal(err)
	}
	defer spin.Process.Kill()
	waitFor(t, func() bool { return len(procs("sleep\x004244")) > 0 })
	u.mustRun(t, s, "rm", "-f", "spin")
	spin.Wait()
	if p := procs("sleep\x004244"); len(p) > 0 {
		t.Errorf("rm -f left the container running: %v", p)
	}
	// The killed lfs could not remove its --rm container: rm can.
	u.mustRun(t, s, "rm", "rl", "live", "killed")
	if ents, _ := os.ReadDir(filepath.Join(s.root, "containers")); len(ents) != 0 {
		t.Errorf("rm left %v; ps -a:\n%s", ents, u.mustRun(t, s, "ps", "-a", "--no-trunc"))
	}
	for _, mp := range mountsUnder(s.root) {
		t.Errorf("rootless mount visible on the host: %s", mp)
	}
}

// TestRunRootlessSingleID: without subordinate ids lfs maps only the
// user, as root, and says so.
func TestRunRootlessSingleID(t *testing.T) {
	needFUSE(t)
	f := getFixtures(t)
	u := rootlessUser(t, "lfs-rootless-single", false)
	s := u.store(t)
	u.mustRun(t, s, "load", "-i", f.dockerArchive)
	r := u.run(t, s, nil, "run", "--rm", "busybox", "sh", "-c", "id -u; cat /proc/self/uid_map | wc -l; touch /x && echo w")
	if r.code != 0 || r.stdout != "0\n1\nw\n" || !strings.Contains(r.stderr, "WARNING: no subordinate ids for lfs-rootless-single") {
		t.Errorf("single-id run: exit %d, %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// tarEntries lists a tar's entries as name and "uid:gid".
func tarEntries(t *testing.T, b []byte) [][2]string {
	t.Helper()
	var out [][2]string
	for _, h := range tarHeaders(t, b) {
		out = append(out, [2]string{strings.TrimSuffix(h.Name, "/"), fmt.Sprintf("%d:%d", h.Uid, h.Gid)})
	}
	return out
}
