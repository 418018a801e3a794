package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/lfs-dev/lfs/container"
	"github.com/urfave/cli/v2"
)

func exportCommand() *cli.Command {
	return &cli.Command{
		Name:      "export",
		Aliases:   []string{"container-export"},
		Usage:     "Export a container's filesystem as a tar archive",
		ArgsUsage: "CONTAINER",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to a `FILE`, instead of STDOUT"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, 1); err != nil {
				return err
			}
			return runExport(c, c.Args().First(), c.String("output"))
		},
	}
}

func runExport(c *cli.Context, name, output string) error {
	s, err := store(c)
	if err != nil {
		return err
	}
	ct, err := container.Get(s, name)
	if err != nil {
		return err
	}
	if output == "" {
		if f, ok := c.App.Writer.(*os.File); ok && isTerminal(f) {
			return fmt.Errorf("cowardly refusing to save to a terminal. Use the -o flag or redirect")
		}
		return container.Export(c.App.Writer, s, ct)
	}
	// Beside the target, renamed at the end, as lfs save does.
	tmp, err := os.CreateTemp(filepath.Dir(output), "."+filepath.Base(output)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create %s: %w", output, unwrapPath(err))
	}
	defer os.Remove(tmp.Name())
	if err := container.Export(tmp, s, ct); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	os.Chmod(tmp.Name(), 0o644)
	return os.Rename(tmp.Name(), output)
}
