package seccomp

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Install loads the filter into the calling process, every thread of it
// (SECCOMP_FILTER_FLAG_TSYNC: a Go process has many threads, and a
// filter on one would leave the others free; the program exec'd later
// inherits the exec'ing thread's). A nil Filter installs nothing.
//
// The kernel takes a filter only from a thread with no_new_privs set
// (NoNewPrivs) or with CAP_SYS_ADMIN in its user namespace; otherwise
// Install fails with EACCES. So a container that runs as a non-root
// user without no-new-privileges installs it while still root, before
// dropping to the user (as runc does), and the profile must then allow
// what remains (setgroups, setuid, capset, execve: Docker's does); with
// no_new_privs it goes last, right before the exec. Either way the
// filter binds only the calls after it: what came before is not
// checked, and once installed it cannot be removed.
func (f *Filter) Install() error {
	if f == nil {
		return nil
	}
	if f.Len() == 0 || len(f.Program)%8 != 0 {
		return errors.New("install seccomp filter: empty or truncated program")
	}
	r, errno := f.seccomp(unix.SECCOMP_FILTER_FLAG_TSYNC | f.Flags)
	switch {
	case errno == unix.EACCES:
		return fmt.Errorf("install seccomp filter: %w (the process has neither no_new_privs nor CAP_SYS_ADMIN)", errno)
	case errno != 0:
		return fmt.Errorf("install seccomp filter: %w", errno)
	case r != 0:
		// TSYNC names a thread it could not synchronize (one with a
		// filter of its own); the filter is then on none.
		return fmt.Errorf("install seccomp filter: thread %d has another filter", r)
	}
	return nil
}

// seccomp calls seccomp(SECCOMP_SET_MODE_FILTER, flags, program).
func (f *Filter) seccomp(flags uint) (uintptr, unix.Errno) {
	// The kernel's struct sock_filter, built field by field rather than
	// by casting the bytes (which need not be aligned).
	raw := f.Instructions()
	prog := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		prog[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(flags), uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	return r, errno
}

// NoNewPrivs sets no_new_privs (--security-opt no-new-privileges): no
// exec from now on gains privileges (set-user-ID, file capabilities).
// The bit is per thread: call it with the goroutine locked to its OS
// thread (runtime.LockOSThread) and exec from that thread; Install's
// TSYNC then also gives it to every other thread.
func NoNewPrivs() error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set no_new_privs: %w", err)
	}
	return nil
}
