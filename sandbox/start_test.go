package sandbox

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// This test binary is the child too: the package's init guard catches
// InitArg in any binary that links sandbox, so Start re-executes the test
// binary itself (/proc/self/exe), as runc's integration tests do.

// busyboxRoot makes a plain-directory rootfs with the host's static
// busybox, or skips.
func busyboxRoot(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the child makes namespaces and mounts")
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skip("needs /bin/busybox (busybox-static)")
	}
	root := t.TempDir()
	os.Chmod(root, 0o755)
	for _, d := range []string{"bin", "etc"} {
		os.Mkdir(filepath.Join(root, d), 0o755)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"sh", "echo", "sleep", "hostname", "id", "cat"} {
		os.Symlink("busybox", filepath.Join(root, "bin", a))
	}
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
	return root
}

func run(t *testing.T, spec Spec) (string, int, error) {
	t.Helper()
	var out bytes.Buffer
	p, err := Start(spec, Stdio{Stdout: &out, Stderr: &out})
	if err != nil {
		return "", 0, err
	}
	code, err := p.Wait()
	return out.String(), code, err
}

func TestStartPlainDir(t *testing.T) {
	root := busyboxRoot(t)
	etc := t.TempDir()
	files, err := WriteEtc(etc, "box", NetworkNone)
	if err != nil {
		t.Fatal(err)
	}
	spec := Spec{Rootfs: root, Args: []string{"sh", "-c", "echo $$ $(hostname) $HOME $(cat /etc/hostname) $PWD; exit 3"},
		Env: []string{"PATH=/bin"}, Cwd: "/made/here", Hostname: "box", Network: NetworkNone, Etc: files}
	out, code, err := run(t, spec)
	if err != nil {
		t.Fatal(err)
	}
	if want := "1 box /root box /made/here\n"; out != want || code != 3 {
		t.Errorf("got %q, exit %d; want %q, exit 3", out, code, want)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/hostname")); err != nil {
		t.Errorf("the bind target /etc/hostname was not made in the rootfs: %v", err)
	}
	if data, _ := os.ReadFile(filepath.Join(root, "etc/hostname")); len(data) != 0 {
		t.Errorf("the container's /etc/hostname was written through to the rootfs: %q", data)
	}
}

func TestStartExecErrors(t *testing.T) {
	root := busyboxRoot(t)
	for _, tc := range []struct {
		init bool
		cmd  string
		code int
		msg  string
	}{
		{false, "nosuch", 127, `exec: "nosuch": executable file not found in $PATH`},
		{false, "/etc/passwd", 126, `exec: "/etc/passwd": permission denied`},
		{true, "nosuch", 127, `exec: "nosuch": executable file not found in $PATH`},
		{true, "/etc", 126, `exec: "/etc": is a directory`},
	} {
		_, _, err := run(t, Spec{Rootfs: root, Args: []string{tc.cmd}, Env: []string{"PATH=/bin"}, Cwd: "/", Init: tc.init})
		var ee *ExecError
		if !errors.As(err, &ee) || ee.Code != tc.code || ee.Msg != tc.msg {
			t.Errorf("init=%v %s: err = %v, want ExecError %d %q", tc.init, tc.cmd, err, tc.code, tc.msg)
		}
	}
	// A failure of lfs's own, not the command's.
	_, _, err := run(t, Spec{Rootfs: root, Args: []string{"sh"}, Env: []string{"PATH=/bin"}, Cwd: "/", User: "nosuch"})
	var ee *ExecError
	if err == nil || errors.As(err, &ee) || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("unknown user: err = %v, want a plain error naming the user", err)
	}
}

// TestInitForwards: with Init, a SIGTERM to the container reaches a
// command that has no handler (PID 1 would ignore it), and the status is
// 128+15.
func TestInitForwards(t *testing.T) {
	root := busyboxRoot(t)
	p, err := Start(Spec{Rootfs: root, Args: []string{"sleep", "100"}, Env: []string{"PATH=/bin"}, Cwd: "/", Init: true}, Stdio{Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	p.Signal(syscall.SIGTERM)
	code, err := p.Wait()
	if err != nil || code != 143 {
		t.Errorf("exit %d, %v; want 143", code, err)
	}
}
