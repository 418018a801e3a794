package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func createCommand() *cli.Command {
	run := runCommand()
	return &cli.Command{
		Name:      "create",
		Aliases:   []string{"container-create"},
		Usage:     "Create a new container",
		ArgsUsage: "IMAGE [COMMAND [ARG...]]",
		Description: `Records a container as lfs run would start it, with its empty writable layer, and
prints its ID; lfs start runs it.`,
		HideHelp:               true, // -h is the host name
		UseShortOptionHandling: true,
		Flags:                  run.Flags,
		Action: func(c *cli.Context) error {
			if c.Bool("help") {
				return cli.ShowCommandHelp(c, "create")
			}
			if err := needArgs(c, 1, -1); err != nil {
				return err
			}
			o, err := parseRunOptions(c)
			if err != nil {
				return err
			}
			s, err := store(c)
			if err != nil {
				return err
			}
			rec, _, err := createContainer(s, o, false)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer, rec.ID)
			return nil
		},
	}
}
