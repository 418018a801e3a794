package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSeccomp: docker's default profile on every container, lifted by
// --cap-add for what a capability governs, replaced by a profile file,
// gone with seccomp=unconfined and --privileged; a profile lfs start
// runs with is the one create read, even once the file is gone.
func TestSeccomp(t *testing.T) {
	s := runStore(t)
	p := probe(t)
	dir := t.TempDir()
	noMkdir := filepath.Join(dir, "nomkdir.json")
	os.WriteFile(noMkdir, []byte(`{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}`), 0o644)
	probeArgs := []string{"-v", p + ":/probe:ro", "busybox", "/probe", "keyctl", "mount", "unshare-user"}
	for _, tc := range []struct {
		flags []string
		args  []string
		want  string
	}{
		{nil, []string{"busybox", "grep", "^Seccomp:", "/proc/self/status"}, "Seccomp:\t2\n"},
		{[]string{"--security-opt", "seccomp=builtin"}, []string{"busybox", "grep", "^Seccomp:", "/proc/self/status"}, "Seccomp:\t2\n"},
		{[]string{"--security-opt", "seccomp=unconfined"}, []string{"busybox", "grep", "^Seccomp:", "/proc/self/status"}, "Seccomp:\t0\n"},
		{[]string{"--privileged"}, []string{"busybox", "grep", "^Seccomp:", "/proc/self/status"}, "Seccomp:\t0\n"},
		{[]string{"--security-opt", "no-new-privileges:true"}, []string{"busybox", "grep", "-E", "^(Seccomp|NoNewPrivs):", "/proc/self/status"}, "NoNewPrivs:\t1\nSeccomp:\t2\n"},
		{nil, probeArgs, "keyctl: EPERM\nmount: EPERM\nunshare-user: EPERM\n"},
		{[]string{"-u", "nobody", "--security-opt", "no-new-privileges"}, probeArgs, "keyctl: EPERM\nmount: EPERM\nunshare-user: EPERM\n"},
		// Unconfined, mount(2) is left to the capabilities (none of
		// CAP_SYS_ADMIN).
		{[]string{"--security-opt", "seccomp=unconfined"}, probeArgs, "keyctl: ok\nmount: EPERM\nunshare-user: ok\n"},
		// CAP_SYS_ADMIN lifts the profile's rules on unshare and mount,
		// as in docker; keyctl stays blocked.
		{[]string{"--cap-add", "SYS_ADMIN"}, probeArgs, "keyctl: EPERM\nmount: ok\nunshare-user: ok\n"},
		{[]string{"--cap-add", "SYS_ADMIN"}, []string{"busybox", "sh", "-c", "mount -t tmpfs t /tmp && unshare -U true && echo through"}, "through\n"},
		{[]string{"--security-opt", "seccomp=" + noMkdir}, []string{"busybox", "sh", "-c", "mkdir /x 2>&1; touch /y && echo touched"},
			"mkdir: can't create directory '/x': Operation not permitted\ntouched\n"},
	} {
		args := append(append([]string{"run", "--rm"}, tc.flags...), tc.args...)
		r := runWith(t, opts{}, s.args(args)...)
		if r.stdout != tc.want || r.code != 0 {
			t.Errorf("lfs %s: exit %d, %q, stderr %s; want %q", strings.Join(args, " "), r.code, r.stdout, r.stderr, tc.want)
		}
	}

	// The profile is read at create and kept with the container.
	id := strings.TrimSpace(s.mustRun(t, "create", "--security-opt", "seccomp="+noMkdir, "busybox", "sh", "-c", "mkdir /x 2>/dev/null || echo blocked"))
	os.Remove(noMkdir)
	if out := s.mustRun(t, "start", id); out != "blocked\n" {
		t.Errorf("lfs start of a container created with a profile since removed: %q", out)
	}
	s.mustRun(t, "rm", id)

	// Bad profiles and options: one line, 125, no container.
	bad := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	for _, tc := range []struct {
		opt, msg string
	}{
		{"seccomp=" + filepath.Join(dir, "missing.json"), "load seccomp profile: open " + filepath.Join(dir, "missing.json") + ": no such file or directory"},
		{"seccomp=" + bad("syntax.json", "{\n  \"defaultAction\": \n}"), "syntax.json"},
		{"seccomp=" + bad("action.json", `{"defaultAction": "SCMP_ACT_MAYBE"}`), "SCMP_ACT_MAYBE"},
		{"seccomp=" + bad("arch.json", `{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_PDP11"]}`), "SCMP_ARCH_PDP11"},
		{"no-new-privileges=maybe", `invalid --security-opt "no-new-privileges=maybe": no-new-privileges takes true or false`},
		{"apparmor=docker-default", "lfs applies no AppArmor or SELinux profiles"},
		{"bogus", `invalid --security-opt: "bogus"`},
	} {
		for _, verb := range []string{"run", "create"} {
			args := []string{verb, "--security-opt", tc.opt, "busybox", "true"}
			if msg := checkError(t, runWith(t, opts{}, s.args(args)...), args); !strings.Contains(msg, tc.msg) {
				t.Errorf("lfs %s: %q; want it to name %q", strings.Join(args, " "), msg, tc.msg)
			}
		}
	}
	for _, args := range [][]string{{"run", "--cap-add", "CAP_NOPE", "busybox", "true"}, {"create", "--cap-drop", "nope", "busybox", "true"}} {
		if msg := checkError(t, runWith(t, opts{}, s.args(args)...), args); !strings.Contains(msg, "unknown capability") {
			t.Errorf("lfs %s: %q", strings.Join(args, " "), msg)
		}
	}
	if c := s.containers(t); len(c) != 0 {
		t.Errorf("refused runs and creates left containers: %v", c)
	}
}
