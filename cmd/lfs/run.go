package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/lfs-dev/lfs/cgroup"
	"github.com/lfs-dev/lfs/config"
	"github.com/lfs-dev/lfs/container"
	"github.com/lfs-dev/lfs/layerstore"
	"github.com/lfs-dev/lfs/network"
	"github.com/lfs-dev/lfs/sandbox"
	"github.com/lfs-dev/lfs/seccomp"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
)

type runOptions struct {
	image      string
	args       []string
	rm         bool
	name       string
	env        []string
	envFiles   []string
	workdir    string
	user       string
	entrypoint *string
	hostname   string
	network    network.Config
	limits     cgroup.Limits
	security   security
	// filter, when set, is the seccomp filter being compiled meanwhile
	// (security.compile); createContainer compiles it itself otherwise.
	filter   func() (*seccomp.Filter, error)
	stdin    bool
	tty      bool
	init     bool
	mounts   []sandbox.Mount
	readOnly bool
}

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "Run a command in a new container",
		ArgsUsage: "IMAGE [COMMAND [ARG...]]",
		Description: `Mounts the image (its layers under a fresh writable layer in ROOT/containers/ID),
starts its ENTRYPOINT/CMD in new mount, pid, uts, ipc and cgroup namespaces as docker
combines them, with docker's 14 capabilities, and exits with the command's status: 125
when lfs fails, 126 when the command cannot be executed, 127 when it is not found,
128+N when signal N killed it.
The network is the host's by default (as in HPC runtimes); --network none gives the
container only lo; --network slirp4netns a network of its own with outbound access
through the host (slirp4netns, rootless too) and -p ports published on 127.0.0.1 unless
an address is given (docker publishes on 0.0.0.0). As an unprivileged user lfs runs in a
user namespace of its own, mapping the user's /etc/subuid and /etc/subgid ranges
(newuidmap, newgidmap).
Every container gets docker's default seccomp profile (EPERM for keyctl, mount, unshare,
bpf, ...; --cap-add lifts the rules a capability governs). --privileged gives every
capability, no seccomp filter, nothing of /proc or /sys masked or read-only, /sys
writable and the host's device nodes in /dev; it keeps the namespaces, and rootless it
is still the user's own user namespace, so no more than the user outside.
-m, --cpus and --pids-limit go through a cgroup of the container's own: where the host
gives none (an unprivileged user on cgroup v1), lfs says why and runs nothing.`,
		// -h is the host name, as in docker; --help stays.
		HideHelp: true,
		// -it, -ti
		UseShortOptionHandling: true,
		Flags: slices.Concat([]cli.Flag{
			&cli.BoolFlag{Name: "rm", Usage: "remove the container's writable layer when it exits"},
			&cli.StringFlag{Name: "name", Usage: "name of the container"},
			&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set `K=V`, or K from this environment"},
			&cli.StringSliceFlag{Name: "env-file", Usage: "read environment variables from a `FILE`"},
			&cli.StringFlag{Name: "workdir", Aliases: []string{"w"}, Usage: "working `DIR` inside the container (made if missing)"},
			&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "`USER` name or uid, optionally :group or :gid"},
			&cli.StringFlag{Name: "entrypoint", Usage: "replace the image's ENTRYPOINT (and drop its CMD); \"\" clears it"},
			&cli.StringFlag{Name: "hostname", Aliases: []string{"h"}, Usage: "container host `NAME` (default: the first 12 hex digits of its ID)"},
			&cli.StringFlag{Name: "network", Value: "host", Usage: "host (the host's network, the default), none (only lo) or slirp4netns[:allow_host_loopback=true,mtu=N]"},
			&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "keep stdin open to the container"},
			&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "give the container a pty (with -i on a terminal: raw mode, window size followed)"},
			&cli.StringSliceFlag{Name: "volume", Aliases: []string{"v"}, Usage: "bind `HOST:CTR[:ro]` (HOST absolute or ./relative, made if missing)"},
			&cli.StringSliceFlag{Name: "mount", Usage: "`type=bind,source=HOST,target=CTR[,readonly]` or type=tmpfs,target=CTR[,tmpfs-size=N][,tmpfs-mode=M]"},
			&cli.StringSliceFlag{Name: "tmpfs", Usage: "mount a tmpfs at `PATH[:OPTS]` (size=64m,mode=1777,exec,...)"},
			&cli.BoolFlag{Name: "read-only", Usage: "mount the container's root filesystem read-only"},
			&cli.BoolFlag{Name: "init", Usage: "run a small init as PID 1 that forwards signals and reaps processes"},
			&cli.BoolFlag{Name: "help", Usage: "show help"},
		}, securityFlags(), networkFlags(), limitFlags()),
		Action: func(c *cli.Context) error {
			if c.Bool("help") {
				return cli.ShowCommandHelp(c, "run")
			}
			if err := needArgs(c, 1, -1); err != nil {
				return err
			}
			if done, err := rootless(c); done {
				return err
			}
			o, err := parseRunOptions(c)
			if err != nil {
				return err
			}
			return runRun(c, o)
		},
	}
}

// parseRunOptions reads the flags run and create share.
func parseRunOptions(c *cli.Context) (runOptions, error) {
	o := runOptions{image: c.Args().First(), args: c.Args().Tail(), rm: c.Bool("rm"), name: c.String("name"),
		env: c.StringSlice("env"), envFiles: c.StringSlice("env-file"), workdir: c.String("workdir"),
		user: c.String("user"), hostname: c.String("hostname"), stdin: c.Bool("interactive"), init: c.Bool("init"),
		tty: c.Bool("tty"), readOnly: c.Bool("read-only")}
	if c.IsSet("entrypoint") {
		e := c.String("entrypoint")
		o.entrypoint = &e
	}
	cwd, err := os.Getwd()
	if err != nil {
		return o, err
	}
	for _, kind := range []string{"volume", "mount", "tmpfs"} {
		for _, v := range c.StringSlice(kind) {
			var m sandbox.Mount
			switch kind {
			case "volume":
				m, err = sandbox.ParseVolume(v, cwd)
			case "mount":
				m, err = sandbox.ParseMount(v, cwd)
			default:
				m, err = sandbox.ParseTmpfs(v)
			}
			if err != nil {
				return o, err
			}
			if m.Type == "bind" {
				if err := bindSource(m.Source, kind == "volume"); err != nil {
					return o, err
				}
			}
			o.mounts = append(o.mounts, m)
		}
	}
	if o.network, err = parseNetwork(c); err != nil {
		return o, err
	}
	if o.limits, err = parseLimits(c); err != nil {
		return o, err
	}
	o.security, err = parseSecurity(c)
	return o, err
}

func runRun(c *cli.Context, o runOptions) error {
	if o.tty && o.stdin && !isTerminal(os.Stdin) {
		return errors.New("the input device is not a TTY")
	}
	// Signals are caught before the container starts, so none sent in
	// between kills lfs (and, through Pdeathsig, the container) without
	// the mount coming down.
	sigs := notifySignals()
	defer signal.Stop(sigs)
	// The sandbox child starts now, and starts up while the container
	// is recorded and mounted; it gets its spec once they are done.
	o.filter = o.security.compile()
	stdio := containerStdio(o.stdin)
	child, err := sandbox.Prefork(sandbox.Network(o.network.Mode), o.tty, stdio)
	if err != nil {
		return err
	}
	s, err := store(c)
	if err != nil {
		child.Abort()
		return err
	}
	rec, spec, err := createContainer(s, o, true)
	if err != nil {
		child.Abort()
		return err
	}
	return startContainer(c, s, rec, spec, startOptions{stdin: o.stdin, rm: o.rm, removeOnError: true,
		sigs: sigs, child: child, network: o.network, limits: o.limits})
}

func notifySignals() chan os.Signal {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT,
		syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH)
	return sigs
}

// containerStdio are the container's streams: lfs's own, stdin with -i.
func containerStdio(stdin bool) sandbox.Stdio {
	stdio := sandbox.Stdio{Stdout: os.Stdout, Stderr: os.Stderr}
	if stdin {
		stdio.Stdin = os.Stdin
	}
	return stdio
}

// createContainer composes the container's command and environment as
// docker does and records the container with its directory; running
// records it as run by this process already (lfs run), which saves
// container.Run a transaction.
func createContainer(s *layerstore.Store, o runOptions, running bool) (container.Container, sandbox.Spec, error) {
	var rec container.Container
	var spec sandbox.Spec
	img, err := s.Resolve(o.image)
	if err != nil {
		return rec, spec, err
	}
	raw, err := s.Config(img.ID)
	if err != nil {
		return rec, spec, err
	}
	var cfg struct {
		Config sandbox.ImageConfig `json:"config"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return rec, spec, fmt.Errorf("run %s: config: %w", o.image, err)
	}
	var env []string
	for _, f := range o.envFiles {
		vars, err := sandbox.ReadEnvFile(f, os.LookupEnv)
		if err != nil {
			return rec, spec, err
		}
		env = append(env, vars...)
	}
	env = append(env, sandbox.ExpandEnv(o.env, os.LookupEnv)...)

	id := container.NewID()
	if o.hostname == "" {
		o.hostname = id[:12]
	}
	spec, err = sandbox.Compose(cfg.Config, sandbox.Options{Args: o.args, Entrypoint: o.entrypoint,
		Env: env, Workdir: o.workdir, User: o.user, Hostname: o.hostname, Terminal: o.tty})
	if err != nil {
		return rec, spec, err
	}
	spec.Network, spec.Init, spec.Mounts, spec.ReadOnly = sandbox.Network(o.network.Mode), o.init, o.mounts, o.readOnly
	spec.Capabilities, spec.Privileged, spec.NoNewPrivileges = o.security.caps, o.security.privileged, o.security.noNewPrivs
	// The ulimits are the sandbox's to set; the record keeps them once.
	limits := o.limits
	spec.Ulimits, limits.Ulimits = limits.Ulimits, nil
	// The compiled filter is kept with the container, as docker keeps
	// the profile: lfs start runs it under the same one, and it need
	// not be compiled again.
	if o.filter == nil {
		o.filter = o.security.compile()
	}
	if spec.Seccomp, err = o.filter(); err != nil {
		return rec, spec, err
	}
	rawSpec, err := json.Marshal(runSpec{Spec: spec, Net: &o.network, Limits: &limits})
	if err != nil {
		return rec, spec, err
	}

	// The record comes first (a taken --name fails here) and goes last.
	rec = container.Container{ID: id, Name: o.name, Image: img.ID,
		ImageRef: o.image, Command: spec.Args, EtcBinds: true, Spec: rawSpec, AutoRemove: o.rm}
	if running {
		rec.State, rec.Pid, rec.Started = container.StateRunning, os.Getpid(), time.Now().UTC()
	}
	rec, err = container.Create(s, rec)
	return rec, spec, err
}

type startOptions struct {
	stdin bool
	rm    bool
	// removeOnError removes the container when lfs fails before the
	// command runs (lfs run's; lfs start keeps what it did not make).
	removeOnError bool
	// sigs, when set, are already caught; child is a sandbox child
	// preforked with containerStdio(stdin).
	sigs  chan os.Signal
	child *sandbox.Pending
	// network and limits are what the sandbox's spec does not hold of
	// the container's network and cgroup (runSpec's Net and Limits).
	network network.Config
	limits  cgroup.Limits
}

// startContainer runs spec in the container in the foreground, forwarding
// signals, and removes it afterwards with --rm or, for lfs run, when lfs
// failed before the command ran.
func startContainer(c *cli.Context, s *layerstore.Store, rec container.Container, spec sandbox.Spec, o startOptions) error {
	sigs := o.sigs
	if sigs == nil {
		sigs = notifySignals()
		defer signal.Stop(sigs)
	}
	ro := container.RunOptions{Stdio: containerStdio(o.stdin), Signals: sigs, Remove: o.rm, Sandbox: o.child,
		Network: o.network, Limits: o.limits}
	code, err := func() (int, error) {
		if spec.Terminal {
			switch {
			case isTerminal(os.Stdout):
				ro.Terminal = os.Stdout
			case isTerminal(os.Stdin):
				ro.Terminal = os.Stdin
			}
			if o.stdin {
				if !isTerminal(os.Stdin) {
					if o.child != nil {
						o.child.Abort()
					}
					return 0, errors.New("the input device is not a TTY")
				}
				// Every key goes to the container's pty, Ctrl-C too:
				// its line discipline makes the signal.
				restore, err := rawTerminal(os.Stdin)
				if err != nil {
					if o.child != nil {
						o.child.Abort()
					}
					return 0, err
				}
				defer restore()
			}
		}
		return container.Run(s, rec, spec, ro)
	}()
	var ee *sandbox.ExecError
	// A command that cannot be executed leaves the container created, as
	// docker does; lfs's own failure before it ran removes what lfs run made.
	if !o.rm && err != nil && o.removeOnError && !errors.As(err, &ee) {
		container.Remove(s, rec.ID, false)
	}
	switch {
	case errors.As(err, &ee):
		return &exitError{code: ee.Code, err: err}
	case err != nil:
		return err
	case code != 0:
		return errSilent(code)
	}
	return nil
}

// bindSource checks a bind's host path: docker's -v makes a missing one
// (a directory), --mount refuses it.
func bindSource(p string, make bool) error {
	_, err := os.Stat(p)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, os.ErrNotExist) && make:
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("create bind source: %w", err)
		}
		return nil
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: invalid mount config for type \"bind\": bind source path does not exist: %s", sandbox.ErrVolume, p)
	}
	return fmt.Errorf("bind source: %w", err)
}

// rawTerminal puts the terminal f in raw mode (cfmakeraw's flags) and
// returns what restores it.
func rawTerminal(f *os.File) (func(), error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, fmt.Errorf("raw terminal: %w", err)
	}
	t := *old
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &t); err != nil {
		return nil, fmt.Errorf("raw terminal: %w", err)
	}
	return func() { unix.IoctlSetTermios(fd, unix.TCSETS, old) }, nil
}

// rootless re-executes an unprivileged lfs as root of a user namespace of
// its own (sandbox.Reexec) for the commands that mount or read a
// container's files, with the store and configuration the caller would
// use; done says the command ran there, with err its status.
func rootless(c *cli.Context) (done bool, err error) {
	if os.Geteuid() == 0 || sandbox.InUserNamespace() != "" {
		return false, nil
	}
	root := c.String("root")
	if root == "" {
		root = defaultRoot()
	}
	if root, err = filepath.Abs(root); err != nil {
		return true, err
	}
	cfg := config.Find()
	if cfg == "" {
		cfg = os.DevNull // not root's /etc/lfs/config.toml
	}
	env := append(os.Environ(), "LFS_ROOT="+root, "LFS_CONFIG="+cfg)
	code, err := sandbox.Reexec(os.Args, env, c.App.ErrWriter)
	if err != nil {
		return true, err
	}
	if code != 0 {
		return true, errSilent(code)
	}
	return true, nil
}
