package sandbox

import (
	"fmt"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// sealedExe is the path the sandbox child is executed from: the running
// binary through a read-only, detached clone of its mount, made once per
// process and kept open.
//
// Until it executes the command, and for good with Spec.Init, the
// child is this binary running inside the container, and /proc/PID/exe
// there is a way back to the host's file: CVE-2019-5736 overwrote runc
// through it. runc executes a sealed copy (a memfd, or a file on a
// private overlayfs); a clone of the mount costs less (no copy of the
// binary, two system calls) and does the same: every open of the child's
// exe resolves to that mount, and a write through a read-only mount
// fails with EROFS, whatever the file's own permissions. The clone is
// attached nowhere, so it adds no mount that propagation or `mount`
// could show. The child is also made non-dumpable until it executes
// the command (childMain), so that without CAP_SYS_PTRACE the container
// cannot even open it.
var sealedExe = sync.OnceValues(func() (string, error) {
	fd, err := cloneExe()
	if err != nil {
		return "", fmt.Errorf("seal the lfs binary: %w", err)
	}
	defer unix.Close(fd)
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, attr); err != nil {
		return "", fmt.Errorf("seal the lfs binary: make it read-only: %w", err)
	}
	// High enough that exec.Cmd's ExtraFiles (fds 3, 4, 5 in the child,
	// put there before the exec resolves the path) never land on it.
	high, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 100)
	if err != nil {
		return "", fmt.Errorf("seal the lfs binary: %w", err)
	}
	return "/proc/self/fd/" + strconv.Itoa(high), nil
})

// cloneExe clones the mount of the running binary, detached. A rootless
// lfs was executed in its mount namespace through /proc/self/exe, which
// still names the host namespace's mount, and only a mount of our own
// namespace can be cloned: there the binary is found again by its path,
// and must be the same file.
func cloneExe() (int, error) {
	const flags = unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC
	fd, err := unix.OpenTree(unix.AT_FDCWD, "/proc/self/exe", flags)
	if err == nil || err != unix.EINVAL {
		return fd, err
	}
	p, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return -1, err
	}
	if fd, err = unix.OpenTree(unix.AT_FDCWD, p, flags); err != nil {
		return -1, fmt.Errorf("open_tree %s: %w", p, err)
	}
	var running, found unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &running); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if err := unix.Fstat(fd, &found); err != nil || found.Dev != running.Dev || found.Ino != running.Ino {
		unix.Close(fd)
		return -1, fmt.Errorf("%s is no longer the running binary", p)
	}
	return fd, nil
}
