package main

import (
	"fmt"

	"github.com/lfs-dev/lfs/container"
	"github.com/urfave/cli/v2"
)

func diffCommand() *cli.Command {
	return &cli.Command{
		Name:      "diff",
		Aliases:   []string{"container-diff"},
		Usage:     "Inspect changes to files or directories on a container's filesystem",
		ArgsUsage: "CONTAINER",
		Description: `Prints one line per change, sorted: A (added), C (changed) or D (deleted), read off
the container's writable layer.`,
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, 1); err != nil {
				return err
			}
			if done, err := rootless(c); done {
				return err
			}
			return runDiff(c, c.Args().First())
		},
	}
}

func runDiff(c *cli.Context, name string) error {
	s, err := store(c)
	if err != nil {
		return err
	}
	ct, err := container.Get(s, name)
	if err != nil {
		return err
	}
	changes, err := container.Diff(s, ct)
	if err != nil {
		return err
	}
	for _, ch := range changes {
		fmt.Fprintln(c.App.Writer, ch)
	}
	return nil
}
