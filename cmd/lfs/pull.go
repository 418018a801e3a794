package main

import (
	"fmt"
	"io"
	"sync"

	"github.com/lfs-dev/lfs/config"
	"github.com/lfs-dev/lfs/registry"
	"github.com/urfave/cli/v2"
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
	rc, err := registryClient(c.App.Writer, o.quiet, o.tlsVerify)
	if err != nil {
		return err
	}
	pulled, err := rc.Pull(c.Context, s, o.name, registry.PullOptions{Platform: o.platform, AllTags: o.allTags})
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
// insecure registries and docker.io mirrors, printing docker's progress lines to w unless quiet.
func registryClient(w io.Writer, quiet, tlsVerify bool) (*registry.Client, error) {
	cfg, err := config.Load()
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	report := func(e registry.Event) {
		if quiet {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if e.ID != "" {
			fmt.Fprintf(w, "%s: %s\n", e.ID, e.Status)
		} else {
			fmt.Fprintln(w, e.Status)
		}
	}
	return registry.New(registry.Insecure(cfg.InsecureRegistries...), registry.Mirrors(cfg.RegistryMirrors...),
		registry.TLSVerify(tlsVerify), registry.Report(report)), nil
}
