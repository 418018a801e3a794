package tests

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func needFUSE(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("needs /dev/fuse")
	}
}

// unmountLater makes sure nothing stays mounted, whatever the test did.
func unmountLater(t *testing.T, mp string) {
	t.Cleanup(func() {
		if mounted(mp) {
			exec.Command(lfsBin, "umount", mp).Run()
		}
		if mounted(mp) {
			exec.Command("umount", "-l", mp).Run()
		}
	})
}

func mounted(mp string) bool {
	data, _ := os.ReadFile("/proc/mounts")
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == mp {
			return true
		}
	}
	return false
}

// TestMountImage: mount -d an image, change it, unmount; the upper records
// the change in OCI form and a remount on the same upper shows the same tree.
func TestMountImage(t *testing.T) {
	needFUSE(t)
	f := getFixtures(t)
	s := setup(t)
	s.load(t, f.dockerArchive)
	mp := filepath.Join(t.TempDir(), "mnt")
	upper := filepath.Join(t.TempDir(), "upper")
	os.MkdirAll(mp, 0o755)
	unmountLater(t, mp)
	s.mustRun(t, "mount", "-d", "--upper", upper, "busybox", mp)
	if !mounted(mp) {
		t.Fatal("mount -d returned but nothing is mounted")
	}
	if fi, err := os.Stat(filepath.Join(mp, "bin", "busybox")); err != nil || fi.Size() == 0 {
		t.Fatalf("stat busybox in the mount: %v", err)
	}
	if err := os.WriteFile(filepath.Join(mp, "etc", "motd"), []byte("hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(mp, "bin", "ls")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mp, ".wh.sneaky"), nil, 0o644); err == nil {
		t.Error("creating a .wh. name was allowed")
	}
	s.mustRun(t, "umount", mp)
	if mounted(mp) {
		t.Fatal("still mounted after lfs umount")
	}
	if _, err := os.Lstat(filepath.Join(upper, "bin", ".wh.ls")); err != nil {
		t.Errorf("the upper does not record the deletion as an OCI whiteout: %v", err)
	}
	if data, err := os.ReadFile(filepath.Join(upper, "etc", "motd")); err != nil || string(data) != "hi\n" {
		t.Errorf("upper etc/motd = %q, %v", data, err)
	}
	s.mustRun(t, "mount", "-d", "--upper", upper, "busybox", mp)
	if _, err := os.Lstat(filepath.Join(mp, "bin", "ls")); !os.IsNotExist(err) {
		t.Errorf("bin/ls after remount: %v, want it gone", err)
	}
	if data, _ := os.ReadFile(filepath.Join(mp, "etc", "motd")); string(data) != "hi\n" {
		t.Errorf("etc/motd after remount = %q", data)
	}
	entries, _ := os.ReadDir(filepath.Join(mp, "bin"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".wh.") {
			t.Errorf("whiteout %s shows in the merged view", e.Name())
		}
	}
	s.mustRun(t, "umount", mp)
}

// TestUmountDeadServer: a mount whose server was killed ("transport
// endpoint is not connected") is still unmounted by lfs umount, and a
// foreground mount unmounts cleanly on SIGTERM.
func TestUmountDeadServer(t *testing.T) {
	needFUSE(t)
	f := getFixtures(t)
	s := setup(t)
	s.load(t, f.dockerArchive)
	mp := filepath.Join(t.TempDir(), "mnt")
	os.MkdirAll(mp, 0o755)
	unmountLater(t, mp)

	start := func() *exec.Cmd {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		t.Cleanup(cancel)
		cmd := exec.CommandContext(ctx, lfsBin, s.args([]string{"mount", "--upper", filepath.Join(t.TempDir(), "u"), "busybox", mp})...)
		cmd.Env = baseEnv()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 200 && !mounted(mp); i++ {
			time.Sleep(25 * time.Millisecond)
		}
		if !mounted(mp) {
			t.Fatal("foreground mount never appeared")
		}
		return cmd
	}

	cmd := start()
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("foreground mount after SIGTERM: %v", err)
	}
	if mounted(mp) {
		t.Fatal("SIGTERM left the mount behind")
	}

	cmd = start()
	cmd.Process.Kill()
	cmd.Wait()
	if _, err := os.Stat(filepath.Join(mp, "bin")); err == nil {
		t.Log("the kernel still answered after the server died")
	}
	s.mustRun(t, "umount", mp)
	if mounted(mp) {
		t.Fatal("lfs umount left a dead server's mount behind")
	}
}

// TestMountDetachedRelativePaths: with -d the server runs in the
// background, yet relative paths mean what they meant to the caller.
func TestMountDetachedRelativePaths(t *testing.T) {
	needFUSE(t)
	f := getFixtures(t)
	s := setup(t)
	s.load(t, f.dockerArchive)
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "mnt"), 0o755)
	unmountLater(t, filepath.Join(dir, "mnt"))
	cmd := exec.Command(lfsBin, s.args([]string{"mount", "-d", "--upper", "up", "busybox", "mnt"})...)
	cmd.Dir, cmd.Env = dir, baseEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("lfs mount -d with relative paths: %v: %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "mnt", "new"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.mustRun(t, "umount", filepath.Join(dir, "mnt"))
	if _, err := os.Stat(filepath.Join(dir, "up", "new")); err != nil {
		t.Errorf("the relative --upper was not used: %v", err)
	}
}
