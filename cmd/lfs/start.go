package main

import (
	"encoding/json"
	"fmt"

	"github.com/lfs-dev/lfs/container"
	"github.com/lfs-dev/lfs/layerstore"
	"github.com/urfave/cli/v2"
)

func startCommand() *cli.Command {
	return &cli.Command{
		Name:      "start",
		Aliases:   []string{"container-start"},
		Usage:     "Start a created or stopped container",
		ArgsUsage: "CONTAINER",
		Description: `Runs the container's command again on its kept writable layer, in the foreground
(lfs has no daemon to leave it with: -a is implied until detached containers come), and
exits with the command's status.`,
		UseShortOptionHandling: true,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "attach", Aliases: []string{"a"}, Usage: "attach STDOUT/STDERR and forward signals (always, for now)"},
			&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "attach the container's STDIN"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, 1); err != nil {
				return err
			}
			if done, err := rootless(c); done {
				return err
			}
			s, err := store(c)
			if err != nil {
				return err
			}
			rec, err := container.Get(s, c.Args().First())
			if err != nil {
				return err
			}
			return runStart(c, s, rec, c.Bool("interactive"))
		},
	}
}

func runStart(c *cli.Context, s *layerstore.Store, rec container.Container, stdin bool) error {
	if rec.Status() == container.StateRunning {
		return fmt.Errorf("container %s is already running", rec.Name)
	}
	if len(rec.Spec) == 0 {
		return fmt.Errorf("container %s was made by lfs mount and has no command to start", rec.Name)
	}
	var spec runSpec
	if err := json.Unmarshal(rec.Spec, &spec); err != nil {
		return fmt.Errorf("container %s: %w: %v", rec.ID, layerstore.ErrCorrupt, err)
	}
	o := startOptions{stdin: stdin, rm: rec.AutoRemove}
	if spec.Net != nil {
		o.network = *spec.Net
	}
	if spec.Limits != nil {
		o.limits = *spec.Limits
	}
	return startContainer(c, s, rec, spec.Spec, o)
}
