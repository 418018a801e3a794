package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Rootless lfs runs as an unprivileged user by re-executing itself, the
// whole command line, as root of a new user namespace with a mount
// namespace of its own ("the rootless parent"). There it mounts the
// union (FUSE allows a mount in a user namespace that owns the mount
// namespace) and starts the sandbox as root would; the image's uids map
// through the namespace, so a file of uid 1000 in the image is served as
// 1000 inside and written to the upper as the subordinate id it maps to,
// as rootless podman's fuse-overlayfs does. Nothing but newuidmap and
// newgidmap (Debian's uidmap, setuid root) is privileged.
//
// The namespace's maps can only be written from outside, once it exists,
// and a process's capabilities are computed at exec: the child is
// started in the namespace, waits until the parent wrote its maps, then
// execs itself again, now as a mapped uid 0 with every capability in it.

// userNSEnv marks the re-executed lfs: "wait" before the maps are
// written, then the mapping it got ("subid" or "single").
const userNSEnv = "_LFS_USERNS"

// userNSParentEnv is the pid of the lfs that ran Reexec, for the
// second exec to check it is still there.
const userNSParentEnv = "_LFS_USERNS_PARENT"

// userNSMapped runs first in the second exec: gaining the namespace's
// capabilities at exec cleared the parent-death signal, so it is armed
// again, and if the parent died meanwhile this process goes too.
func userNSMapped() {
	unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
	if strconv.Itoa(os.Getppid()) != os.Getenv(userNSParentEnv) {
		os.Exit(1)
	}
}

// syncFd is the pipe the parent writes the mapping to (Reexec's
// ExtraFiles).
const syncFd = 3

// Mapping is how a rootless user namespace maps ids.
type Mapping string

const (
	// MapSubIDs maps 0 to the caller and 1..N to the caller's
	// /etc/subuid and /etc/subgid ranges.
	MapSubIDs Mapping = "subid"
	// MapSingle maps 0 to the caller and nothing else (no subordinate
	// ids): only uid 0 exists in containers, and setgroups is denied.
	MapSingle Mapping = "single"
)

// InUserNamespace returns the mapping of the user namespace this lfs was
// re-executed into by Reexec, or "" when it was not.
func InUserNamespace() Mapping {
	switch m := Mapping(os.Getenv(userNSEnv)); m {
	case MapSubIDs, MapSingle:
		return m
	}
	return ""
}

// userNSChild is the first exec in the namespace: wait for the maps,
// then exec again to have the capabilities of uid 0.
func userNSChild() {
	f := os.NewFile(syncFd, "sync")
	b, _ := io.ReadAll(f)
	f.Close()
	m := Mapping(b)
	if m != MapSubIDs && m != MapSingle {
		fmt.Fprintln(os.Stderr, "Error: rootless: the user namespace was not set up")
		os.Exit(125)
	}
	os.Setenv(userNSEnv, string(m))
	os.Setenv(userNSParentEnv, strconv.Itoa(os.Getppid()))
	err := syscall.Exec("/proc/self/exe", os.Args, os.Environ())
	fmt.Fprintf(os.Stderr, "Error: rootless: re-exec: %v\n", err)
	os.Exit(125)
}

// Reexec runs this binary again with args (args[0] included) and env,
// as root of a new user and mount namespace, and returns its exit
// status. The ids map through newuidmap and newgidmap to the caller's
// /etc/subuid and /etc/subgid ranges; without them (or when those tools
// fail) only uid and gid 0 map, to the caller, and a warning says so on
// warn. Signals sent to this process are passed on; the child dies with
// it.
func Reexec(args, env []string, warn io.Writer) (int, error) {
	syncR, syncW, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("rootless: %w", err)
	}
	defer syncR.Close()
	defer syncW.Close()
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       args,
		Env:        append(append([]string{}, env...), userNSEnv+"=wait"),
		Stdin:      os.Stdin,
		Stdout:     os.Stdout,
		Stderr:     os.Stderr,
		ExtraFiles: []*os.File{syncR},
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
			Pdeathsig:  syscall.SIGKILL,
			// A process group of its own, in the foreground of the
			// caller's terminal if there is one: a key that signals
			// (Ctrl-C) reaches it once, not once from the terminal and
			// once more from us.
			Setpgid: true,
		},
	}
	if fg, err := unix.IoctlGetInt(int(os.Stdin.Fd()), unix.TIOCGPGRP); err == nil && fg == syscall.Getpgrp() {
		cmd.SysProcAttr.Foreground, cmd.SysProcAttr.Ctty = true, int(os.Stdin.Fd())
	}
	// Caught before the child exists, so none is lost in between.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT,
		syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("rootless: start user namespace: %w", err)
	}
	syncR.Close()
	m, err := writeMaps(cmd.Process.Pid)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return 0, err
	}
	if m == MapSingle {
		fmt.Fprintf(warn, "WARNING: no subordinate ids for %s in /etc/subuid and /etc/subgid (or newuidmap failed): only uid 0 exists in containers\n", userName())
	}
	syncW.Write([]byte(m))
	syncW.Close()
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-sigs:
				cmd.Process.Signal(sig)
			case <-done:
				return
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return 0, fmt.Errorf("rootless: %w", err)
	}
	return status(cmd.ProcessState), nil
}

// writeMaps maps the namespace of pid: subordinate ids when the caller
// has them and newuidmap/newgidmap work, else the caller alone.
func writeMaps(pid int) (Mapping, error) {
	uid, gid := os.Getuid(), os.Getgid()
	name := userName()
	su, sok := subIDs("/etc/subuid", name, uid)
	sg, gok := subIDs("/etc/subgid", name, uid)
	if sok && gok {
		p := strconv.Itoa(pid)
		errU := exec.Command("newuidmap", p, "0", strconv.Itoa(uid), "1", "1", su[0], su[1]).Run()
		errG := exec.Command("newgidmap", p, "0", strconv.Itoa(gid), "1", "1", sg[0], sg[1]).Run()
		if errU == nil && errG == nil {
			return MapSubIDs, nil
		}
	}
	// An unprivileged process may map its own ids, once, and only
	// after giving up setgroups in the namespace.
	for _, w := range []struct{ file, data string }{
		{"uid_map", fmt.Sprintf("0 %d 1\n", uid)},
		{"setgroups", "deny"},
		{"gid_map", fmt.Sprintf("0 %d 1\n", gid)},
	} {
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/%s", pid, w.file), []byte(w.data), 0); err != nil {
			return "", fmt.Errorf("rootless: write %s: %w", w.file, err)
		}
	}
	return MapSingle, nil
}

func userName() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return strconv.Itoa(os.Getuid())
}

// subIDs finds the first range of name (or its uid) in an /etc/subuid
// style file: start and count, the count capped at 65536.
func subIDs(file, name string, uid int) ([2]string, bool) {
	f, err := os.Open(file)
	if err != nil {
		return [2]string{}, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(parts) != 3 || (parts[0] != name && parts[0] != strconv.Itoa(uid)) {
			continue
		}
		start, err1 := strconv.ParseUint(parts[1], 10, 32)
		count, err2 := strconv.ParseUint(parts[2], 10, 32)
		if err1 != nil || err2 != nil || count == 0 {
			continue
		}
		return [2]string{strconv.FormatUint(start, 10), strconv.FormatUint(min(count, 65536), 10)}, true
	}
	return [2]string{}, false
}
