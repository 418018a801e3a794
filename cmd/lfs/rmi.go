package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/lfs-dev/lfs/layerstore"
	"github.com/urfave/cli/v2"
)

type rmiOptions struct {
	force bool
	names []string
}

func rmiCommand() *cli.Command {
	return &cli.Command{
		Name:      "rmi",
		Usage:     "Remove one or more images",
		ArgsUsage: "IMAGE [IMAGE...]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "force removal of the image"},
			&cli.BoolFlag{Name: "no-prune", Usage: "accepted for compatibility; unused layers are always removed"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, -1); err != nil {
				return err
			}
			return runRmi(c, rmiOptions{force: c.Bool("force"), names: c.Args().Slice()})
		},
	}
}

func runRmi(c *cli.Context, o rmiOptions) error {
	s, err := store(c)
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range o.names {
		events, err := s.Remove(n, o.force)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		printRemoved(c.App.Writer, events)
	}
	return errors.Join(errs...)
}

func printRemoved(w io.Writer, events []layerstore.RemoveEvent) {
	for _, e := range events {
		if e.Untagged != "" {
			fmt.Fprintf(w, "Untagged: %s\n", e.Untagged)
		} else {
			fmt.Fprintf(w, "Deleted: %s\n", e.Deleted)
		}
	}
}
