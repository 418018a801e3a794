package main

import (
	"fmt"

	"github.com/lfs-dev/lfs/registry"
	"github.com/urfave/cli/v2"
)

func logoutCommand() *cli.Command {
	return &cli.Command{
		Name:      "logout",
		Usage:     "Remove a registry's credentials from docker's config.json",
		ArgsUsage: "[REGISTRY]",
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 0, 1); err != nil {
				return err
			}
			reg := c.Args().First()
			removed, err := registry.Logout(reg)
			if err != nil {
				return err
			}
			if reg == "" {
				reg = "docker.io"
			}
			if removed {
				fmt.Fprintf(c.App.Writer, "Removing login credentials for %s\n", reg)
			} else {
				fmt.Fprintf(c.App.Writer, "Not logged in to %s\n", reg)
			}
			return nil
		},
	}
}
