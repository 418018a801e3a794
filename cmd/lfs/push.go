package main

import (
	"fmt"

	"github.com/lfs-dev/lfs/registry"

	"github.com/urfave/cli/v2"
)

type pushOptions struct {
	image, dest string
	quiet       bool
	tlsVerify   bool
	compression string
}

func pushCommand() *cli.Command {
	return &cli.Command{
		Name:      "push",
		Usage:     "Upload an image to a registry",
		ArgsUsage: "IMAGE [DESTINATION]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing but errors"},
			&cli.StringFlag{Name: "compression-format", Usage: "send every layer compressed with `gzip|zstd` (default: as stored)"},
			tlsVerifyFlag(),
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, 2); err != nil {
				return err
			}
			return runPush(c, pushOptions{image: c.Args().Get(0), dest: c.Args().Get(1), quiet: c.Bool("quiet"), tlsVerify: c.Bool("tls-verify"),
				compression: c.String("compression-format")})
		},
	}
}

func runPush(c *cli.Context, o pushOptions) error {
	s, err := store(c)
	if err != nil {
		return err
	}
	rc, done, err := registryClient(c.App.Writer, o.quiet, o.tlsVerify)
	if err != nil {
		return err
	}
	p, err := rc.Push(c.Context, s, o.image, o.dest, registry.PushOptions{Compression: o.compression})
	done()
	if err != nil {
		return err
	}
	if o.quiet {
		fmt.Fprintln(c.App.Writer, p.Ref.String())
	}
	return nil
}
