// Command lfs is a daemonless Docker-image tool over tar-backed layers.
//
// Each command lives in its own file: it reads its flags into an options
// struct and makes one library call. Main is callable from tests.
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"

	"github.com/lfs-dev/lfs/config"
	"github.com/lfs-dev/lfs/layerstore"
	"github.com/urfave/cli/v2"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "0.1.0-dev"

// exitError carries an exit status other than 125 out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// errSilent ends a command with a status after it has printed its output.
type errSilent int

func (e errSilent) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func main() {
	if p := os.Getenv("LFS_CPUPROFILE"); p != "" {
		// For developers measuring lfs: a CPU profile of one command.
		if f, err := os.Create(p); err == nil {
			pprof.StartCPUProfile(f)
			code := Main(os.Args, os.Stdin, os.Stdout, os.Stderr)
			pprof.StopCPUProfile()
			f.Close()
			os.Exit(code)
		}
	}
	os.Exit(Main(os.Args, os.Stdin, os.Stdout, os.Stderr))
}

// Main runs lfs with args and returns the exit status: 0, the command's own
// status, or 125 when lfs itself fails (docker's convention), after one
// line "Error: ..." on stderr.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(stdin, stdout, stderr)
	err := app.Run(reorderArgs(app, args))
	if err == nil {
		return 0
	}
	var silent errSilent
	if errors.As(err, &silent) {
		return int(silent)
	}
	msg := strings.ReplaceAll(err.Error(), "\n", "; ")
	fmt.Fprintf(stderr, "Error: %s\n", msg)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 125
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:                 "lfs",
		Usage:                "Docker images, layers and containers without a daemon",
		Version:              Version,
		Reader:               stdin,
		Writer:               stdout,
		ErrWriter:            stderr,
		EnableBashCompletion: true,
		// Values such as `--change 'CMD ["a", "b"]'` contain commas.
		DisableSliceFlagSeparator: true,
		UseShortOptionHandling:    true,
		HideVersion:               true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "root", EnvVars: []string{"LFS_ROOT"}, Usage: "store directory (default /var/lib/lfs as root, $XDG_DATA_HOME/lfs or ~/.local/share/lfs otherwise)"},
			&cli.BoolFlag{Name: "debug", Aliases: []string{"D"}, Usage: "print debug information"},
		},
		Before: func(c *cli.Context) error {
			if c.Bool("debug") {
				slog.SetDefault(slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: slog.LevelDebug})))
			}
			return nil
		},
		Commands: []*cli.Command{
			loadCommand(), saveCommand(), importCommand(),
			imagesCommand(), inspectCommand(), historyCommand(), tagCommand(), rmiCommand(),
			systemCommand(), versionCommand(), infoCommand(), completionCommand(),
			mountCommand(), umountCommand(),
			pullCommand(), pushCommand(), loginCommand(), logoutCommand(), searchCommand(),
			runCommand(), createCommand(), startCommand(), psCommand(), rmCommand(), diffCommand(), commitCommand(), exportCommand(),
			buildCommand(),
			cpCommand(),
			benchCommand(),
		},
		OnUsageError: usageError,
		ExitErrHandler: func(*cli.Context, error) {
			// Main prints errors and picks the status.
		},
		CommandNotFound: func(c *cli.Context, name string) {
			fmt.Fprintf(c.App.ErrWriter, "Error: unknown command %q for \"lfs\"\n", name)
			os.Exit(125)
		},
	}
	for _, cmd := range app.Commands {
		setUsageError(cmd)
	}
	return app
}

func setUsageError(cmd *cli.Command) {
	cmd.OnUsageError = usageError
	for _, sub := range cmd.Subcommands {
		setUsageError(sub)
	}
}

func usageError(_ *cli.Context, err error, _ bool) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		name = strings.TrimLeft(name, "-")
		if len(name) > 1 {
			name = "-" + name
		}
		msg = "unknown flag: -" + name
	}
	return errors.New(msg)
}

// store opens the store the global flags name.
func store(c *cli.Context) (*layerstore.Store, error) {
	root := c.String("root")
	if root == "" {
		root = defaultRoot()
	}
	cfg, err := config.Load()
	if err != nil {
		return nil, err
	}
	slog.Debug("open store", "root", root, "config", cfg.Path, "keep-compressed", cfg.KeepCompressed)
	return layerstore.Open(root, layerstore.KeepCompressed(cfg.KeepCompressed))
}

func defaultRoot() string {
	if os.Geteuid() == 0 {
		return "/var/lib/lfs"
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "lfs")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), fmt.Sprintf("lfs-%d", os.Geteuid()))
	}
	return filepath.Join(home, ".local", "share", "lfs")
}

// needArgs checks the number of positional arguments as docker does.
func needArgs(c *cli.Context, min, max int) error {
	n := c.NArg()
	if n < min || (max >= 0 && n > max) {
		want := fmt.Sprintf("%d", min)
		switch {
		case max < 0:
			want = fmt.Sprintf("at least %d", min)
		case max != min:
			want = fmt.Sprintf("%d to %d", min, max)
		}
		return fmt.Errorf("\"lfs %s\" requires %s argument(s), got %d; see 'lfs %s --help'", c.Command.FullName(), want, n, c.Command.FullName())
	}
	return nil
}

// reorderArgs lets flags follow positional arguments, as docker's CLI
// does: for the command being run, every flag (and its value) moves ahead
// of the positional arguments. "--" ends flags.
func reorderArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	out := []string{args[0]}
	i := 1
	// Global flags.
	for i < len(args) && strings.HasPrefix(args[i], "-") && args[i] != "--" {
		a := args[i]
		out = append(out, a)
		i++
		if (a == "--root" || a == "-root") && i < len(args) {
			out = append(out, args[i])
			i++
		}
	}
	if i >= len(args) {
		return out
	}
	cmds := app.Commands
	var cmd *cli.Command
	for i < len(args) {
		found := findCommand(cmds, args[i])
		if found == nil {
			break
		}
		cmd = found
		out = append(out, args[i])
		i++
		if len(cmd.Subcommands) == 0 {
			break
		}
		cmds = cmd.Subcommands
	}
	if cmd == nil {
		return append(out, args[i:]...)
	}
	takesValue := map[string]bool{}
	primary := map[string]string{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
			primary[n] = f.Names()[0]
		}
	}
	var flags, pos []string
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if a == "-" || !strings.HasPrefix(a, "-") {
			if flagsEndAtFirstArg[cmd.Name] {
				pos = append(pos, args[i:]...)
				break
			}
			pos = append(pos, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		// urfave/cli refuses -c and --change in one command line; docker
		// takes both, so every alias is spelled as its flag's first name.
		if p, ok := primary[name]; ok && p != name {
			a = "--" + p
			if hasValue {
				a += "=" + value
			}
		}
		flags = append(flags, a)
		if hasValue {
			continue
		}
		if takesValue[name] && i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	out = append(out, flags...)
	if len(pos) > 0 {
		out = append(out, "--")
		out = append(out, pos...)
	}
	return out
}

// flagsEndAtFirstArg lists the commands whose arguments end with another
// program's command line (docker run IMAGE COMMAND ARG...): for them flags
// end at the first positional argument, so `lfs run img sh -c x` passes -c
// to sh.
var flagsEndAtFirstArg = map[string]bool{"run": true, "create": true}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}
