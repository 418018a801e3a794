package container

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/creack/pty"
	"github.com/lfs-dev/lfs/cgroup"
	"github.com/lfs-dev/lfs/layerstore"
	"github.com/lfs-dev/lfs/network"
	"github.com/lfs-dev/lfs/sandbox"
	"github.com/lfs-dev/lfs/unionfs"
	"golang.org/x/sys/unix"
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
	// Remove removes the container (record and directory) when its
	// command ends, instead of recording the exit: --rm.
	Remove bool
	// Sandbox, when not nil, is a sandbox child preforked for this
	// container (sandbox.Prefork, with Stdio): Run sends it the spec
	// instead of starting one, so that the child's own start overlapped
	// with the caller's work. Run aborts it when it fails first.
	Sandbox *sandbox.Pending
	// Terminal, with spec.Terminal, is the caller's terminal: the
	// container's pty starts at its size and follows it on each SIGWINCH
	// that Signals delivers (instead of passing the signal on).
	Terminal *os.File
	// Network is the container's network beyond spec.Network (which
	// must be its Mode): it shapes /etc/hosts and /etc/resolv.conf, and
	// with slirp4netns Run connects the container's network namespace
	// before the command runs and disconnects it after. The zero Config
	// is spec.Network's mode with no flags.
	Network network.Config
	// Limits are the container's cgroup limits: when they need a cgroup
	// (Limits.NeedsGroup), Run makes one before it mounts anything (a
	// host that gives none fails Run with nothing left behind), puts the
	// container's first process in it before the command runs, and
	// kills what is left in it and removes it after. The ulimits are
	// spec.Ulimits, which the sandbox sets.
	Limits cgroup.Limits
}

// readHost reads one of the host's /etc files; a missing or unreadable
// one is empty.
func readHost(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
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

// Run runs spec in the container in the foreground: it records the
// container running (served by this process; a record Create made
// running for this process already is taken as it is), mounts its root
// filesystem (served by this process), writes its /etc files, starts the
// sandbox, serves the running container's files to lfs cp, and when the
// command ends unmounts and records its exit, or with Remove removes the
// container. It returns the command's status (its exit code, or 128+N
// when signal N killed it), or a *sandbox.ExecError when the command
// could not be executed (the container is then left created with that
// code, 126 or 127), or lfs's own failure.
func Run(s *layerstore.Store, c Container, spec sandbox.Spec, o RunOptions) (int, error) {
	self := os.Getpid()
	if c.State != StateRunning || c.Pid != self {
		// Under the store lock, so two lfs start never run one container.
		var err error
		c, err = Update(s, c.ID, func(c *Container) error {
			if c.Live() {
				return fmt.Errorf("container %s is already running", c.Name)
			}
			c.State, c.Started, c.Pid, c.InitPid = StateRunning, time.Now().UTC(), self, 0
			return nil
		})
		if err != nil {
			if o.Sandbox != nil {
				o.Sandbox.Abort()
			}
			return 0, err
		}
	}
	code, err := run(s, c, spec, o)
	var ee *sandbox.ExecError
	switch {
	case o.Remove:
		remove(s, c.ID, true)
	case errors.As(err, &ee):
		// lfs rm -f may have removed the record meanwhile.
		Update(s, c.ID, func(c *Container) error {
			c.State, c.Pid, c.ExitCode = StateCreated, 0, ee.Code
			return nil
		})
	default:
		Update(s, c.ID, func(c *Container) error {
			c.State, c.Finished, c.Pid, c.InitPid, c.ExitCode = StateExited, time.Now().UTC(), 0, 0, code
			if err != nil {
				c.ExitCode = 125
			}
			return nil
		})
	}
	return code, err
}

// run is Run between its records; it returns once the mount is down.
func run(s *layerstore.Store, c Container, spec sandbox.Spec, o RunOptions) (int, error) {
	started := false
	if o.Sandbox != nil {
		defer func() {
			if !started {
				o.Sandbox.Abort()
			}
		}()
	}
	// The cgroup comes first: where the host gives none, nothing is
	// mounted or started.
	var group *cgroup.Group
	if o.Limits.NeedsGroup() {
		var err error
		if group, err = cgroup.New(c.ID, o.Limits); err != nil {
			return 0, err
		}
		defer func() {
			group.Kill() // what the command left behind
			group.Remove()
		}()
	}
	netCfg := o.Network
	if netCfg.Mode == "" {
		netCfg.Mode = network.Host
		if spec.Network != "" {
			netCfg.Mode = network.Mode(spec.Network)
		}
	}
	hosts, err := netCfg.Hosts(spec.Hostname, readHost("/etc/hosts"))
	if err != nil {
		return 0, err
	}
	if spec.Etc, err = sandbox.WriteEtc(c.Dir, spec.Hostname, hosts, netCfg.ResolvConf(readHost("/etc/resolv.conf"))); err != nil {
		return 0, err
	}
	opts := o.MountOptions
	if len(spec.Etc) > 0 {
		opts = append(opts, Prepare(etcTargets))
	}
	m, err := Mount(s, c, opts...)
	if err != nil {
		return 0, err
	}
	defer m.Unmount()
	spec.Rootfs = m.Dir
	if spec.Terminal && spec.ConsoleSize == nil {
		spec.ConsoleSize = TerminalSize(o.Terminal)
	}
	// The child waits for its spec: until it has it, nothing of the
	// container runs, and whatever it forks is in the group.
	var slirp *network.Net
	defer func() {
		if slirp != nil {
			slirp.Close()
		}
	}()
	var start []sandbox.StartOption
	if group != nil || netCfg.Mode == network.Slirp4netns {
		start = append(start, sandbox.BeforeSetup(func(pid int) error {
			if group != nil {
				if err := group.Add(pid); err != nil {
					return err
				}
			}
			if netCfg.Mode == network.Slirp4netns {
				var err error
				slirp, err = network.Start(pid, netCfg)
				return err
			}
			return nil
		}))
	}
	var p *sandbox.Process
	if o.Sandbox != nil {
		started = true
		p, err = o.Sandbox.Start(spec, start...)
	} else {
		p, err = sandbox.Start(spec, o.Stdio, start...)
	}
	if err != nil {
		return 0, err
	}
	// lfs cp reaches the running container through us.
	if ctl, err := serveControl(c.Dir, p.Pid()); err == nil {
		defer ctl.Close()
	}
	done := make(chan struct{})
	defer close(done)
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
	return p.Wait()
}

// etcTargets makes /etc/hosts, /etc/hostname and /etc/resolv.conf empty
// files where the image has none (or a symlink), before the union is
// served: the sandbox binds the host's files onto them, and would
// otherwise make them itself, through FUSE. A directory there is left to
// the sandbox.
func etcTargets(u *unionfs.FS) error {
	if n, err := u.Resolve("etc"); err != nil || n.Type != unionfs.TypeDir {
		if err != nil && !absent(err) {
			return err
		}
		if err == nil {
			return nil
		}
		if err := u.Mkdir("etc", 0o755, unionfs.Owner{}); err != nil {
			return err
		}
	}
	for _, name := range sandbox.EtcFiles {
		p := "etc/" + name
		n, err := u.Resolve(p)
		switch {
		case err == nil && n.Type == unionfs.TypeReg:
			continue
		case err == nil && n.Type == unionfs.TypeDir:
			continue
		case err == nil:
			if err := u.Unlink(p); err != nil {
				return err
			}
		case !absent(err):
			return err
		}
		f, err := u.Create(p, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o644, unionfs.Owner{})
		if err != nil {
			return err
		}
		f.Close()
	}
	return nil
}
