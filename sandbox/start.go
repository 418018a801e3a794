package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// InitArg is the argv[0] that makes this binary the sandbox's child. It
// is reserved: a binary that links sandbox and is started under this name
// never reaches its main.
const InitArg = "lfs-sandbox-init"

// ExecError is the command's failure to start: Code is 127 when it was
// not found, 126 when it could not be executed (docker's statuses).
type ExecError struct {
	Code int
	Msg  string
}

func (e *ExecError) Error() string { return e.Msg }

// Stdio are the container's standard streams; nil is /dev/null.
type Stdio struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Process is a started container.
type Process struct {
	cmd *exec.Cmd
	// console is the pty's master with Spec.Terminal; output is done
	// when everything the container wrote to it was copied out.
	console *os.File
	output  chan struct{}
}

// Resize sets the size of the container's terminal (the kernel sends
// SIGWINCH to its foreground process group); without one it does nothing.
func (p *Process) Resize(size WinSize) error {
	if p.console == nil {
		return nil
	}
	if err := pty.Setsize(p.console, &pty.Winsize{Rows: size.Rows, Cols: size.Cols}); err != nil {
		return fmt.Errorf("resize terminal: %w", err)
	}
	return nil
}

// StartOption configures Start.
type StartOption func(*startOptions)

type startOptions struct {
	beforeSetup func(pid int) error
}

// BeforeSetup runs fn with the child's pid once it exists and before it
// reads its Spec, so nothing of the container is set up yet: the place
// to move it into a cgroup or configure its network namespace
// (/proc/PID/ns/net) from outside. An error stops the container.
func BeforeSetup(fn func(pid int) error) StartOption {
	return func(o *startOptions) { o.beforeSetup = fn }
}

// Pid is the container's init as the caller sees it.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the container's init. Without Spec.Init that is the
// command, which ignores what it has no handler for, being PID 1.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Wait waits for the container to end and returns its status: the exit
// code, or 128+N when signal N killed it.
func (p *Process) Wait() (int, error) {
	err := p.cmd.Wait()
	if p.output != nil {
		<-p.output
		p.console.Close()
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return 0, fmt.Errorf("wait for container: %w", err)
	}
	return status(p.cmd.ProcessState), nil
}

func status(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// Start starts the container spec describes and returns once its command
// has been executed, or with the reason it was not: an *ExecError when
// the exec itself failed, another error when lfs could not set the
// container up. It is Prefork and Pending.Start in one.
//
// With Spec.Terminal the container's stdin, stdout and stderr are its pty:
// Start copies stdio.Stdin to it and its output to stdio.Stdout (docker's
// -t merges stderr into stdout too), and Wait returns once the output is
// all copied.
func Start(spec Spec, stdio Stdio, opts ...StartOption) (*Process, error) {
	c, err := Prefork(spec.Network, spec.Terminal, stdio, opts...)
	if err != nil {
		return nil, err
	}
	return c.Start(spec)
}

// Pending is a sandbox child started before its Spec is known, waiting
// for it. Its start (an exec of this binary and the Go runtime's start)
// overlaps with what the caller does meanwhile: record the container,
// mount its root filesystem. Start or Abort it.
type Pending struct {
	cmd         *exec.Cmd
	network     Network
	terminal    bool
	stdio       Stdio
	o           startOptions
	specW, repR *os.File
	ctl         *os.File
}

// Prefork starts a sandbox child for a container of that network and
// terminal (what its namespaces and streams are made of), with stdio as
// in Start; Pending.Start then sends it the rest of the Spec.
func Prefork(network Network, terminal bool, stdio Stdio, opts ...StartOption) (*Pending, error) {
	c := &Pending{network: network, terminal: terminal, stdio: stdio}
	for _, opt := range opts {
		opt(&c.o)
	}
	var specR, repW, ctlChild *os.File
	fail := func(err error) (*Pending, error) {
		for _, f := range []*os.File{specR, c.specW, c.repR, repW, c.ctl, ctlChild} {
			if f != nil {
				f.Close()
			}
		}
		return nil, fmt.Errorf("start container: %w", err)
	}
	exe, err := sealedExe()
	if err != nil {
		return fail(err)
	}
	if specR, c.specW, err = os.Pipe(); err != nil {
		return fail(err)
	}
	if c.repR, repW, err = os.Pipe(); err != nil {
		return fail(err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fail(err)
	}
	c.ctl, ctlChild = os.NewFile(uintptr(fds[0]), "ctl"), os.NewFile(uintptr(fds[1]), "ctl")
	extra := []*os.File{specR, repW, ctlChild} // fd 3, 4 and 5 in the child
	// With a terminal the command's streams are the pty's; the child's
	// own (a panic's trace before the exec) go to stderr, and stdout is
	// written by the pty's copy alone.
	child := stdio
	var stdinR *os.File
	if terminal {
		child = Stdio{Stdout: stdio.Stderr, Stderr: stdio.Stderr}
	} else if f, ok := stdio.Stdin.(*os.File); ok && isTerminal(f) {
		// The container is in a process group of its own (below): it
		// reads a terminal through a pipe, as docker's -i without -t
		// does, never the terminal itself (SIGTTIN in the background).
		r, w, err := os.Pipe()
		if err != nil {
			return fail(err)
		}
		go func() {
			io.Copy(w, f)
			w.Close()
		}()
		child.Stdin, stdinR = r, r
	}
	flags := uintptr(syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC)
	if network.ownNamespace() {
		flags |= syscall.CLONE_NEWNET
	}
	c.cmd = &exec.Cmd{
		// The running binary, never a path on the mount this process
		// may serve: exec of a file there would wait on our own FUSE
		// server while we are in fork (go-fuse's deadlock notes). It is
		// reached through a read-only clone of its mount (sealedExe),
		// so that /proc/PID/exe of the child leads nowhere writable.
		Path: exe,
		Args: []string{InitArg},
		// Nothing of the caller's environment reaches the child; the
		// command's is in the Spec.
		Env: []string{},
		// Likewise the working directory: the child chdirs into the
		// root filesystem itself.
		Dir:        "/",
		Stdin:      child.Stdin,
		Stdout:     child.Stdout,
		Stderr:     child.Stderr,
		ExtraFiles: extra,
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: flags,
			// The container dies with us: a killed lfs leaves no
			// container running on an unserved mount.
			Pdeathsig: syscall.SIGKILL,
			// A session of its own, so out of the caller's process
			// group too: a key of the caller's terminal (Ctrl-C) signals
			// lfs alone, which passes it on once; and that terminal,
			// which may be the container's stdout, is not its
			// controlling terminal, so TIOCSTI cannot push input into
			// it and TIOCSCTTY cannot take it. With a terminal the child
			// makes its session itself, once its pty is open.
			Setsid: !terminal,
		},
	}
	if err := c.cmd.Start(); err != nil {
		return fail(err)
	}
	// Our copies of the child's ends go, so that EOF on repR means the
	// child exec'd (fd 4 is close-on-exec there) or died.
	for _, f := range []*os.File{specR, repW, ctlChild, stdinR} {
		if f != nil {
			f.Close()
		}
	}
	return c, nil
}

// Abort ends a child that will not be sent its Spec.
func (c *Pending) Abort() {
	c.cmd.Process.Kill()
	c.cmd.Wait()
	c.release()
}

func (c *Pending) release() {
	for _, f := range []*os.File{c.specW, c.repR, c.ctl} {
		if f != nil {
			f.Close()
		}
	}
}

// Start sends the child spec (whose Network and Terminal must be those
// Prefork was given) and returns as Start does. Options given here are
// added to Prefork's (a BeforeSetup here replaces Prefork's).
func (c *Pending) Start(spec Spec, opts ...StartOption) (*Process, error) {
	defer c.release()
	for _, opt := range opts {
		opt(&c.o)
	}
	if spec.Network != c.network && !(spec.Network == "" && c.network == NetworkHost) || spec.Terminal != c.terminal {
		c.Abort()
		return nil, errors.New("start container: the spec's network or terminal is not the preforked child's")
	}
	cmd, stdio := c.cmd, c.stdio
	p := &Process{cmd: cmd}
	fail := func(err error) (*Process, error) {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, err
	}
	if c.o.beforeSetup != nil {
		if err := c.o.beforeSetup(cmd.Process.Pid); err != nil {
			return fail(fmt.Errorf("start container: %w", err))
		}
	}
	if err := json.NewEncoder(c.specW).Encode(spec); err != nil {
		return fail(fmt.Errorf("start container: send spec: %w", err))
	}
	c.specW.Close()
	// The root filesystem goes as a detached clone of its mount (or a
	// bind of a plain directory): the child's mount namespace may predate
	// it. Cloning does not enter the mount, so no FUSE request is made.
	rootfs, err := unix.OpenTree(unix.AT_FDCWD, spec.Rootfs, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return fail(fmt.Errorf("start container: clone rootfs %s: %w", spec.Rootfs, err))
	}
	err = sendFd(c.ctl, rootfs)
	unix.Close(rootfs)
	if err != nil {
		return fail(fmt.Errorf("start container: pass rootfs: %w", err))
	}
	if c.terminal {
		master, ok, err := recvFd(c.ctl)
		if err != nil {
			return fail(fmt.Errorf("start container: pty: %w", err))
		}
		if ok {
			p.console = master
			p.output = make(chan struct{})
			go func() {
				// EIO once the container's side is all closed.
				io.Copy(stdio.Stdout, master)
				close(p.output)
			}()
			if stdio.Stdin != nil {
				go io.Copy(master, stdio.Stdin)
			}
		}
	}
	var r report
	switch err := json.NewDecoder(c.repR).Decode(&r); {
	case errors.Is(err, io.EOF):
		return p, nil
	case err != nil:
		return fail(fmt.Errorf("start container: read report: %w", err))
	}
	cmd.Wait()
	if p.console != nil {
		p.console.Close()
	}
	if r.Errno != 0 {
		code := 126
		if syscall.Errno(r.Errno) == syscall.ENOENT {
			code = 127
		}
		return nil, &ExecError{Code: code, Msg: r.Error}
	}
	return nil, errors.New(r.Error)
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
