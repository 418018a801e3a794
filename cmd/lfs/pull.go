package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	units "github.com/docker/go-units"
	"github.com/lfs-dev/lfs/config"
	"github.com/lfs-dev/lfs/registry"
	"github.com/urfave/cli/v2"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/sys/unix"
)

type pullOptions struct {
	name      string
	quiet     bool
	platform  string
	allTags   bool
	tlsVerify bool
}

func pullCommand() *cli.Command {
	return &cli.Command{
		Name:      "pull",
		Usage:     "Download an image from a registry",
		ArgsUsage: "NAME[:TAG|@DIGEST]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the image's reference"},
			&cli.StringFlag{Name: "platform", Usage: "choose `OS/ARCH[/VARIANT]` from an index (default: this host's)"},
			&cli.BoolFlag{Name: "all-tags", Aliases: []string{"a"}, Usage: "download every tag of the repository"},
			tlsVerifyFlag(),
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, 1); err != nil {
				return err
			}
			return runPull(c, pullOptions{name: c.Args().First(), quiet: c.Bool("quiet"), platform: c.String("platform"),
				allTags: c.Bool("all-tags"), tlsVerify: c.Bool("tls-verify")})
		},
	}
}

func runPull(c *cli.Context, o pullOptions) error {
	s, err := store(c)
	if err != nil {
		return err
	}
	rc, done, err := registryClient(c.App.Writer, o.quiet, o.tlsVerify)
	if err != nil {
		return err
	}
	pulled, err := rc.Pull(c.Context, s, o.name, registry.PullOptions{Platform: o.platform, AllTags: o.allTags})
	done()
	if err != nil {
		return err
	}
	w := c.App.Writer
	if len(pulled) == 0 {
		return nil
	}
	last := pulled[len(pulled)-1]
	if !o.quiet {
		upToDate := true
		for _, p := range pulled {
			upToDate = upToDate && p.UpToDate
		}
		what := last.Ref.Familiar()
		if o.allTags {
			what = last.Ref.FamiliarName()
		}
		if upToDate {
			fmt.Fprintf(w, "Status: Image is up to date for %s\n", what)
		} else {
			fmt.Fprintf(w, "Status: Downloaded newer image for %s\n", what)
		}
	}
	if o.allTags {
		fmt.Fprintln(w, last.Ref.Name())
	} else {
		fmt.Fprintln(w, last.Ref.String())
	}
	return nil
}

func tlsVerifyFlag() cli.Flag {
	return &cli.BoolFlag{Name: "tls-verify", Value: true, Usage: "require HTTPS and verify certificates (false also allows plain HTTP)"}
}

// registryClient makes a registry client with the configuration file's
// insecure registries and docker.io mirrors. Unless quiet, its progress
// goes to w as docker prints it; call the returned done when the command's
// last event has come.
func registryClient(w io.Writer, quiet, tlsVerify bool) (*registry.Client, func(), error) {
	cfg, err := config.Load()
	if err != nil {
		return nil, nil, err
	}
	pr := &progress{w: w, quiet: quiet}
	if f, ok := w.(*os.File); ok && !quiet && isTerminal(f) {
		// A terminal of no size (a pty nobody sized) cannot show bars.
		ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
		pr.tty = err == nil && ws.Row > 0 && ws.Col > 0
	}
	return registry.New(registry.Insecure(cfg.InsecureRegistries...), registry.Mirrors(cfg.RegistryMirrors...),
		registry.TLSVerify(tlsVerify), registry.Report(pr.event)), pr.done, nil
}

// progress prints a pull's or a push's events as docker does: one line
// per status change, or on a terminal a line per layer that its status
// and a progress bar (vbauerster/mpb) redraw, with other lines above.
type progress struct {
	w     io.Writer
	quiet bool
	tty   bool

	mu   sync.Mutex
	p    *mpb.Progress // while layer lines are on screen
	bars map[string]*layerBar
}

type layerBar struct {
	bar    *mpb.Bar
	status atomic.Pointer[string]
}

func (pr *progress) event(e registry.Event) {
	if pr.quiet {
		return
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	switch {
	case !pr.tty && e.Progress:
		return
	case !pr.tty || !e.Layer:
		// Lines between groups of bars ("Digest: ..."): the bars above
		// are done, and stay on screen as they ended.
		pr.finish()
		if e.ID != "" {
			fmt.Fprintf(pr.w, "%s: %s\n", e.ID, e.Status)
		} else {
			fmt.Fprintln(pr.w, e.Status)
		}
		return
	}
	lb := pr.bar(e.ID)
	status := e.Status
	lb.status.Store(&status)
	switch {
	case e.Progress:
		lb.bar.SetTotal(e.Total, false)
		lb.bar.SetCurrent(e.Current)
	case e.Done:
		lb.bar.SetTotal(-1, true)
	}
}

// bar is the line of layer id, made on its first event.
func (pr *progress) bar(id string) *layerBar {
	if lb, ok := pr.bars[id]; ok {
		return lb
	}
	if pr.p == nil {
		pr.p = mpb.New(mpb.WithOutput(pr.w), mpb.WithRefreshRate(100*time.Millisecond))
		pr.bars = map[string]*layerBar{}
	}
	lb := &layerBar{}
	empty := ""
	lb.status.Store(&empty)
	// The bar and the byte counts show only while bytes move.
	moving := func(st decor.Statistics) bool { return st.Total > 0 && !st.Completed }
	filler := mpb.BarStyle().Lbound("[").Filler("=").Tip(">").Padding(" ").Rbound("]").Build()
	lb.bar, _ = pr.p.Add(0, mpb.BarFillerFunc(func(w io.Writer, st decor.Statistics) error {
		if !moving(st) {
			return nil
		}
		io.WriteString(w, " ")
		return filler.Fill(w, st)
	}),
		mpb.BarWidth(50),
		mpb.PrependDecorators(decor.Any(func(decor.Statistics) string { return id + ": " + *lb.status.Load() })),
		mpb.AppendDecorators(decor.Any(func(st decor.Statistics) string {
			if !moving(st) {
				return ""
			}
			return " " + units.HumanSize(float64(st.Current)) + "/" + units.HumanSize(float64(st.Total))
		})),
	)
	pr.bars[id] = lb
	return lb
}

// finish ends the bars on screen: those not complete (the command failed)
// keep their last state.
func (pr *progress) finish() {
	if pr.p == nil {
		return
	}
	for _, lb := range pr.bars {
		lb.bar.Abort(false)
	}
	pr.p.Wait()
	pr.p, pr.bars = nil, nil
}

func (pr *progress) done() {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.finish()
}
