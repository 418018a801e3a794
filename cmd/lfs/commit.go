package main

import (
	"fmt"

	"github.com/lfs-dev/lfs/container"
	"github.com/urfave/cli/v2"
)

func commitCommand() *cli.Command {
	return &cli.Command{
		Name:      "commit",
		Aliases:   []string{"container-commit"},
		Usage:     "Create a new image from a container's changes",
		ArgsUsage: "CONTAINER [REPOSITORY[:TAG]]",
		Description: `Appends the container's writable layer to its image as a new OCI layer, with a
history entry, and prints the new image's ID. The image's config is kept (not the
container's command), changed by --change.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "author", Aliases: []string{"a"}, Usage: "author (e.g., \"John Hannibal Smith <hannibal@a-team.com>\")"},
			&cli.StringFlag{Name: "message", Aliases: []string{"m"}, Usage: "commit message"},
			&cli.StringSliceFlag{Name: "change", Aliases: []string{"c"}, Usage: "apply Dockerfile instruction to the created image"},
			&cli.BoolFlag{Name: "pause", Aliases: []string{"p"}, Value: true, Usage: "accepted for compatibility; lfs does not pause a running container"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, 2); err != nil {
				return err
			}
			if done, err := rootless(c); done {
				return err
			}
			s, err := store(c)
			if err != nil {
				return err
			}
			ct, err := container.Get(s, c.Args().First())
			if err != nil {
				return err
			}
			id, err := container.Commit(s, ct, container.CommitOptions{Author: c.String("author"),
				Message: c.String("message"), Changes: c.StringSlice("change"), Ref: c.Args().Get(1)})
			if err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer, id)
			return nil
		},
	}
}
