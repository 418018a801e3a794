package tests

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// unprivileged is a user without privilege the tests run lfs as, with
// (or without) subordinate uid and gid ranges.
type unprivileged struct {
	name     string
	uid, gid int
	// subUID and subGID are the first id of its 65536-id ranges, 0 when
	// it has none.
	subUID, subGID int
}

// rootlessUser returns the user name, created on first use with a range
// of 65536 subordinate uids and gids (subIDs) or none, or skips. Tests
// and packages running at the same time may ask for the same user: a
// concurrent useradd is tolerated, and the ranges are chosen and written
// under an exclusive flock on /etc/subuid.
func rootlessUser(t *testing.T, name string, subIDs bool) unprivileged {
	t.Helper()
	if skipAll != "" {
		t.Skip(skipAll)
	}
	needTools(t, "useradd", "usermod", "newuidmap", "newgidmap")
	if _, err := user.Lookup(name); err != nil {
		// No home and no automatic ranges (Debian's useradd adds them
		// when SUB_UID_COUNT is not 0); ours are chosen below.
		out, err := exec.Command("useradd", "-M", "-d", "/nonexistent", "-s", "/usr/sbin/nologin", "-U",
			"-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", name).CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 9) { // 9: name taken meanwhile
			t.Fatalf("useradd %s: %v\n%s", name, err, out)
		}
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	p := unprivileged{name: name, uid: uid, gid: gid}
	if !subIDs {
		return p
	}
	lock, err := os.OpenFile("/etc/subuid", os.O_RDONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		file, flag string
		start      *int
	}{{"/etc/subuid", "--add-subuids", &p.subUID}, {"/etc/subgid", "--add-subgids", &p.subGID}} {
		start, next := subRange(t, f.file, name)
		if start == 0 {
			start = next
			spec := fmt.Sprintf("%d-%d", start, start+65535)
			if out, err := exec.Command("usermod", f.flag, spec, name).CombinedOutput(); err != nil {
				t.Fatalf("usermod %s %s %s: %v\n%s", f.flag, spec, name, err, out)
			}
		}
		*f.start = start
	}
	return p
}

// subRange reads an /etc/subuid-style file: the start of name's first
// range of at least 65536 ids (0 if none), and the first id above every
// range (at least 100000), where a new one can go.
func subRange(t *testing.T, file, name string) (start, next int) {
	t.Helper()
	next = 100000
	f, err := os.Open(file)
	if err != nil {
		return 0, next
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(parts) != 3 {
			continue
		}
		s, err1 := strconv.Atoi(parts[1])
		n, err2 := strconv.Atoi(parts[2])
		if err1 != nil || err2 != nil {
			continue
		}
		if parts[0] == name && n >= 65536 && start == 0 {
			start = s
		}
		next = max(next, s+n)
	}
	return start, next
}

// rootlessStore is a store directory the user owns, under a directory
// everyone may enter (t.TempDir is root's, 0700). The test's cleanup
// removes it as root, subordinate-id files included.
func (u unprivileged) store(t *testing.T) *store {
	t.Helper()
	dir, err := os.MkdirTemp("", "lfs-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	root := filepath.Join(dir, "store")
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(root, u.uid, u.gid); err != nil {
		t.Fatal(err)
	}
	return &store{root: root}
}

// run runs lfs as the user on s; stdin may be nil.
func (u unprivileged) run(t *testing.T, s *store, stdin *bytes.Reader, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, lfsBin, s.args(args)...)
	cmd.Dir = "/"
	cmd.Env = append(baseEnv(), "HOME=/nonexistent", "USER="+u.name)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid)}}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("lfs %s as %s: %v", strings.Join(args, " "), u.name, err)
		}
		code = ee.ExitCode()
	}
	return result{stdout.String(), stderr.String(), code}
}

func (u unprivileged) mustRun(t *testing.T, s *store, args ...string) string {
	t.Helper()
	r := u.run(t, s, nil, args...)
	if r.code != 0 {
		t.Fatalf("lfs %s as %s: exit %d\n%s", strings.Join(args, " "), u.name, r.code, r.stderr)
	}
	return r.stdout
}
