package main

import (
	"fmt"
	"runtime"

	"github.com/urfave/cli/v2"
)

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "Show the lfs version",
		Action: func(c *cli.Context) error {
			fmt.Fprintf(c.App.Writer, "lfs version %s\nGo version: %s\nOS/Arch:    %s/%s\n", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
