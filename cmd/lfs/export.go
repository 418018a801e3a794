package main

import (
	"fmt"
	"io"
	"os"

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
			if done, err := rootless(c); done {
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
	return writeFileAtomic(output, func(w io.Writer) error {
		return container.Export(w, s, ct)
	})
}
