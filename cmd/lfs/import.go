package main

import (
	"fmt"
	"io"
	"os"

	"github.com/lfs-dev/lfs/imagearchive"
	"github.com/urfave/cli/v2"
)

type importOptions struct {
	source  string
	ref     string
	changes []string
	message string
}

func importCommand() *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "Import the contents from a tarball to create a filesystem image",
		ArgsUsage: "FILE|- [REPOSITORY[:TAG]]",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "change", Aliases: []string{"c"}, Usage: "apply Dockerfile `INSTRUCTION` to the created image (CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, USER, VOLUME, WORKDIR)"},
			&cli.StringFlag{Name: "message", Aliases: []string{"m"}, Usage: "set commit `MESSAGE` for the imported image"},
			&cli.StringFlag{Name: "platform", Usage: "set platform (only the host's is supported)"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, 2); err != nil {
				return err
			}
			return runImport(c, importOptions{source: c.Args().Get(0), ref: c.Args().Get(1), changes: c.StringSlice("change"), message: c.String("message")})
		},
	}
}

func runImport(c *cli.Context, o importOptions) error {
	s, err := store(c)
	if err != nil {
		return err
	}
	var in io.Reader = c.App.Reader
	if o.source != "-" {
		f, err := os.Open(o.source)
		if err != nil {
			return fmt.Errorf("open %s: %w", o.source, unwrapPath(err))
		}
		defer f.Close()
		in = f
	}
	id, err := imagearchive.Import(s, in, imagearchive.ImportOptions{Source: o.source, Ref: o.ref, Changes: o.changes, Message: o.message})
	if err != nil {
		return err
	}
	fmt.Fprintln(c.App.Writer, id)
	return nil
}
