package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
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
// container up.
func Start(spec Spec, stdio Stdio) (*Process, error) {
	specR, specW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start container: %w", err)
	}
	defer specR.Close()
	defer specW.Close()
	repR, repW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start container: %w", err)
	}
	defer repR.Close()
	defer repW.Close()

	flags := uintptr(syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC)
	if spec.Network == NetworkNone {
		flags |= syscall.CLONE_NEWNET
	}
	cmd := &exec.Cmd{
		// The running binary, never a path on the mount this process
		// may serve: exec of a file there would wait on our own FUSE
		// server while we are in fork (go-fuse's deadlock notes).
		Path: "/proc/self/exe",
		Args: []string{InitArg},
		// Nothing of the caller's environment reaches the child; the
		// command's is in the Spec.
		Env: []string{},
		// Likewise the working directory: the child chdirs into the
		// root filesystem itself.
		Dir:        "/",
		Stdin:      stdio.Stdin,
		Stdout:     stdio.Stdout,
		Stderr:     stdio.Stderr,
		ExtraFiles: []*os.File{specR, repW}, // fd 3 and 4 in the child
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: flags,
			// The container dies with us: a killed lfs leaves no
			// container running on an unserved mount.
			Pdeathsig: syscall.SIGKILL,
		},
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start container: %w", err)
	}
	// Our copies of the child's ends go, so that EOF on repR means the
	// child exec'd (fd 4 is close-on-exec there) or died.
	specR.Close()
	repW.Close()
	p := &Process{cmd: cmd}
	fail := func(err error) (*Process, error) {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, err
	}
	if err := json.NewEncoder(specW).Encode(spec); err != nil {
		return fail(fmt.Errorf("start container: send spec: %w", err))
	}
	specW.Close()
	var r report
	switch err := json.NewDecoder(repR).Decode(&r); {
	case errors.Is(err, io.EOF):
		return p, nil
	case err != nil:
		return fail(fmt.Errorf("start container: read report: %w", err))
	}
	cmd.Wait()
	if r.Errno != 0 {
		code := 126
		if syscall.Errno(r.Errno) == syscall.ENOENT {
			code = 127
		}
		return nil, &ExecError{Code: code, Msg: r.Error}
	}
	return nil, errors.New(r.Error)
}
