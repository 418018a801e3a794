package main

import (
	"fmt"
	"io"
	"os"

	"github.com/lfs-dev/lfs/imagearchive"
	"github.com/urfave/cli/v2"
)

type loadOptions struct {
	input string
	quiet bool
}

func loadCommand() *cli.Command {
	return &cli.Command{
		Name:      "load",
		Usage:     "Load images from a docker save archive or an OCI layout (tar or directory)",
		ArgsUsage: " ",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Usage: "read from `FILE` (a tar, possibly gzip or zstd, or an OCI layout directory) instead of stdin"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "suppress progress output"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 0, 0); err != nil {
				return err
			}
			return runLoad(c, loadOptions{input: c.String("input"), quiet: c.Bool("quiet")})
		},
	}
}

func runLoad(c *cli.Context, o loadOptions) error {
	s, err := store(c)
	if err != nil {
		return err
	}
	var loaded []imagearchive.Loaded
	if o.input != "" {
		fi, err := os.Stat(o.input)
		if err != nil {
			return fmt.Errorf("open %s: %w", o.input, unwrapPath(err))
		}
		if fi.IsDir() {
			loaded, err = imagearchive.LoadDir(s, o.input)
		} else {
			var f *os.File
			if f, err = os.Open(o.input); err != nil {
				return err
			}
			defer f.Close()
			loaded, err = imagearchive.Load(s, f)
		}
		if err != nil {
			return fmt.Errorf("load %s: %w", o.input, err)
		}
	} else {
		in := c.App.Reader
		if f, ok := in.(*os.File); ok && isTerminal(f) {
			return fmt.Errorf("requested load from stdin, but stdin is empty")
		}
		if loaded, err = imagearchive.Load(s, in); err != nil {
			return fmt.Errorf("load: %w", err)
		}
	}
	printLoaded(c.App.Writer, loaded)
	return nil
}

func printLoaded(w io.Writer, loaded []imagearchive.Loaded) {
	for _, l := range loaded {
		if len(l.Tags) == 0 {
			fmt.Fprintf(w, "Loaded image ID: %s\n", l.ID)
		}
		for _, t := range l.Tags {
			fmt.Fprintf(w, "Loaded image: %s\n", t.Familiar())
		}
	}
}
