package main

import (
	"errors"
	"fmt"

	"github.com/lfs-dev/lfs/container"
	"github.com/urfave/cli/v2"
)

type rmOptions struct {
	force bool
	names []string
}

func rmCommand() *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Aliases:   []string{"container-rm"},
		Usage:     "Remove one or more containers",
		ArgsUsage: "CONTAINER [CONTAINER...]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "force the removal of a running container (kills it; a mounted one is unmounted)"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, -1); err != nil {
				return err
			}
			if done, err := rootless(c); done {
				return err
			}
			return runRm(c, rmOptions{force: c.Bool("force"), names: c.Args().Slice()})
		},
	}
}

func runRm(c *cli.Context, o rmOptions) error {
	s, err := store(c)
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range o.names {
		if _, err := container.Remove(s, n, o.force); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintln(c.App.Writer, n)
	}
	return errors.Join(errs...)
}
