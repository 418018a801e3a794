package sandbox

import (
	"bytes"
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// becomeUser drops to the container's user and capabilities: the
// bounding set is cut to caps first (it needs CAP_SETPCAP, which the
// uid change may take), then groups, gid and uid change (Go applies
// these to every thread), then the effective and permitted sets are cut
// to caps (a non-root uid has none left already) and the inheritable and
// ambient sets emptied. Capabilities are per thread in the kernel; the
// effective, permitted, inheritable and ambient sets change on every
// thread of the process, so an --init that never execs holds no more
// than its command.
func becomeUser(cred Credentials, caps []string) error {
	if caps == nil {
		caps = DefaultCapabilities
	}
	keep, err := capMask(caps)
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	last := lastCap()
	for c := 0; c <= last; c++ {
		if keep&(1<<uint(c)) != 0 {
			continue
		}
		// This thread's: the bounding set matters only at exec, and the
		// command is exec'd (or, with --init, forked) from this thread.
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("sandbox: drop capability %s: %w", capNames[c], err)
		}
	}
	// A user namespace with a single-id mapping denies setgroups
	// (/proc/self/setgroups says so); the process keeps no groups then.
	if allowed, _ := os.ReadFile("/proc/self/setgroups"); !bytes.HasPrefix(allowed, []byte("deny")) {
		if err := syscall.Setgroups(cred.Groups); err != nil {
			return fmt.Errorf("sandbox: setgroups: %w", err)
		}
	}
	if err := syscall.Setgid(cred.GID); err != nil {
		return fmt.Errorf("sandbox: setgid: %w", err)
	}
	if err := syscall.Setuid(cred.UID); err != nil {
		return fmt.Errorf("sandbox: setuid: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("sandbox: capget: %w", err)
	}
	for i := range data {
		m := uint32(keep >> (32 * i))
		data[i].Permitted &= m
		data[i].Effective &= m
		data[i].Inheritable = 0
	}
	if _, _, e := allThreads(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("sandbox: capset: %w", e)
	}
	if _, _, e := allThreads(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0); e != 0 {
		return fmt.Errorf("sandbox: clear ambient capabilities: %w", e)
	}
	return nil
}

// lastCap is the kernel's highest capability number.
func lastCap() int {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return len(capNames) - 1
	}
	n := 0
	for _, c := range bytes.TrimSpace(b) {
		n = n*10 + int(c-'0')
	}
	return n
}

// allThreads makes a per-thread syscall on every thread. A binary linked
// with cgo (a -race test binary) cannot; there it changes only this
// thread, the one that execs the command.
func allThreads(trap, a1, a2, a3 uintptr) (uintptr, uintptr, syscall.Errno) {
	r1, r2, e := syscall.AllThreadsSyscall(trap, a1, a2, a3)
	if e == syscall.ENOTSUP {
		return syscall.RawSyscall(trap, a1, a2, a3)
	}
	return r1, r2, e
}
