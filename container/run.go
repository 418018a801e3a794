package container

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/creack/pty"
	"github.com/lfs-dev/lfs/layerstore"
	"github.com/lfs-dev/lfs/sandbox"
)

// RunOptions configure Run.
type RunOptions struct {
	// Stdio are the command's standard streams.
	Stdio sandbox.Stdio
	// Signals, when not nil, are forwarded to the container's init until
	// it exits. The caller subscribes to them (signal.Notify) before Run,
	// so that none sent while the container starts kills the caller
	// without the mount coming down.
	Signals <-chan os.Signal
	// MountOptions are added to the mount of the root filesystem.
	MountOptions []MountOption
	// Terminal, with spec.Terminal, is the caller's terminal: the
	// container's pty starts at its size and follows it on each SIGWINCH
	// that Signals delivers (instead of passing the signal on).
	Terminal *os.File
}

// TerminalSize is the size of the terminal f, or nil when f is none.
func TerminalSize(f *os.File) *sandbox.WinSize {
	if f == nil {
		return nil
	}
	ws, err := pty.GetsizeFull(f)
	if err != nil {
		return nil
	}
	return &sandbox.WinSize{Rows: ws.Rows, Cols: ws.Cols}
}

// Run runs spec in the container in the foreground: it mounts the
// container's root filesystem (served by this process), writes its /etc
// files, starts the sandbox, records the container running and then
// exited with its status, and unmounts. It returns the command's status
// (its exit code, or 128+N when signal N killed it), or a
// *sandbox.ExecError when the command could not be executed (the record
// then holds its code, 126 or 127), or lfs's own failure. Run removes
// nothing: --rm is the caller's.
func Run(s *layerstore.Store, c Container, spec sandbox.Spec, o RunOptions) (int, error) {
	if c.Status() == StateRunning {
		return 0, fmt.Errorf("container %s is already running", c.Name)
	}
	var err error
	if spec.Etc, err = sandbox.WriteEtc(c.Dir, spec.Hostname, spec.Network); err != nil {
		return 0, err
	}
	m, err := Mount(s, c, o.MountOptions...)
	if err != nil {
		return 0, err
	}
	defer m.Unmount()
	spec.Rootfs = m.Dir
	if spec.Terminal && spec.ConsoleSize == nil {
		spec.ConsoleSize = TerminalSize(o.Terminal)
	}

	p, err := sandbox.Start(spec, o.Stdio)
	if err != nil {
		var ee *sandbox.ExecError
		if errors.As(err, &ee) {
			Update(s, c.ID, func(c *Container) error {
				c.ExitCode = ee.Code
				return nil
			})
		}
		return 0, err
	}
	// lfs cp reaches the running container through us.
	if ctl, err := serveControl(c.Dir, p.Pid()); err == nil {
		defer ctl.Close()
	}
	Update(s, c.ID, func(c *Container) error {
		c.State, c.Started, c.Pid, c.InitPid = StateRunning, time.Now().UTC(), os.Getpid(), p.Pid()
		return nil
	})
	done := make(chan struct{})
	if o.Signals != nil {
		go func() {
			for {
				select {
				case sig := <-o.Signals:
					if sig == syscall.SIGWINCH && spec.Terminal {
						if size := TerminalSize(o.Terminal); size != nil {
							p.Resize(*size)
						}
						continue
					}
					p.Signal(sig)
				case <-done:
					return
				}
			}
		}()
	}
	code, err := p.Wait()
	close(done)
	// lfs rm -f may have removed the record meanwhile.
	Update(s, c.ID, func(c *Container) error {
		c.State, c.Finished, c.Pid, c.InitPid, c.ExitCode = StateExited, time.Now().UTC(), 0, 0, code
		if err != nil {
			c.ExitCode = 125
		}
		return nil
	})
	return code, err
}
