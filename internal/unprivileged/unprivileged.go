// Package unprivileged runs the test binary as an unprivileged user, for
// package tests of what lfs does rootless. The binary is copied where
// that user can execute it (the go tool builds test binaries in
// directories only root may enter); the copy is removed at cleanup.
package unprivileged

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// UID and GID are nobody's on Debian.
const UID, GID = 65534, 65534

// Command returns the test binary as a command run as UID:GID with
// argv[0] set to argv0, a name the test binary's init() catches. Its
// environment holds PATH and a TMPDIR the user may write. It skips the
// test when not run as root.
func Command(t testing.TB, argv0 string, args ...string) *exec.Cmd {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("switching to an unprivileged user needs root")
	}
	dir, err := os.MkdirTemp("", "lfs-unprivileged-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, filepath.Base(exe))
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	// The user's TMPDIR, which it removes its own files from.
	if err := os.Chmod(dir, 0o1777); err != nil {
		t.Fatal(err)
	}
	return &exec.Cmd{Path: bin, Args: append([]string{argv0}, args...), Dir: "/",
		Env: []string{"PATH=" + os.Getenv("PATH"), "TMPDIR=" + dir},
		SysProcAttr: &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: UID, Gid: GID},
			Pdeathsig: syscall.SIGKILL}}
}
