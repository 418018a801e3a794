package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	units "github.com/docker/go-units"
	"github.com/lfs-dev/lfs/container"
	"github.com/urfave/cli/v2"
)

type cpOptions struct {
	src, dst       string
	archive, quiet bool
	follow         bool
}

func cpCommand() *cli.Command {
	return &cli.Command{
		Name:      "cp",
		Aliases:   []string{"container-cp"},
		Usage:     "Copy files between a container and the host",
		ArgsUsage: "CONTAINER:SRC_PATH DEST_PATH|-  |  SRC_PATH|- CONTAINER:DEST_PATH",
		Description: `Copies as docker cp does: a directory recursively, "DIR/." its contents; "-" is a tar
stream on stdin or stdout. Paths in the container are resolved in its root, so no
symlink in it leads to the host. Works on running and stopped containers; files copied
in are root's unless -a keeps the source's owners; files copied out are the caller's.`,
		UseShortOptionHandling: true,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "archive", Aliases: []string{"a"}, Usage: "keep the uid/gid of what is copied"},
			&cli.BoolFlag{Name: "follow-link", Aliases: []string{"L"}, Usage: "follow a symlink at SRC_PATH"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing on success"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 2, 2); err != nil {
				return err
			}
			if done, err := rootless(c); done {
				return err
			}
			return runCp(c, cpOptions{src: c.Args().Get(0), dst: c.Args().Get(1), archive: c.Bool("archive"),
				quiet: c.Bool("quiet"), follow: c.Bool("follow-link")})
		},
	}
}

// splitCpArg splits CONTAINER:PATH; a path that starts with / or . is
// local even with a colon in it (docker's rule).
func splitCpArg(arg string) (ctr, p string) {
	if strings.HasPrefix(arg, "/") || strings.HasPrefix(arg, ".") {
		return "", arg
	}
	if c, p, ok := strings.Cut(arg, ":"); ok {
		return c, p
	}
	return "", arg
}

func runCp(c *cli.Context, o cpOptions) error {
	srcCtr, srcPath := splitCpArg(o.src)
	dstCtr, dstPath := splitCpArg(o.dst)
	switch {
	case srcCtr != "" && dstCtr != "":
		return errors.New("copying between containers is not supported")
	case srcCtr == "" && dstCtr == "":
		return errors.New("must specify at least one container source")
	}
	s, err := store(c)
	if err != nil {
		return err
	}
	name := srcCtr + dstCtr
	ct, err := container.Get(s, name)
	if err != nil {
		return err
	}
	local := srcPath
	if srcCtr != "" {
		local = dstPath
	}
	if local != "-" {
		abs, err := filepath.Abs(local)
		if err != nil {
			return err
		}
		// Abs drops what docker's rules read: a final "/." or "/".
		switch {
		case strings.HasSuffix(local, "/."):
			abs += "/."
		case strings.HasSuffix(local, "/") && abs != "/":
			abs += "/"
		}
		local = abs
	}
	host, err := container.OpenRoot("/")
	if err != nil {
		return err
	}
	defer host.Close()
	var n int64
	err = container.Access(s, ct, func(root container.Tree) error {
		var err error
		switch {
		case srcCtr != "" && local == "-":
			if isTerminal(os.Stdout) {
				return errors.New("cowardly refusing to write a tar archive to a terminal")
			}
			err = container.ArchivePath(c.App.Writer, root, srcPath, o.follow)
		case srcCtr != "":
			n, err = container.CopyPath(root, srcPath, host, local, container.CopyOptions{FollowLink: o.follow})
		case local == "-":
			err = container.ExtractPath(os.Stdin, root, dstPath, intoContainer(o.archive))
		default:
			n, err = container.CopyPath(host, local, root, dstPath, container.CopyOptions{FollowLink: o.follow, Extract: intoContainer(o.archive)})
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("cp %s: %w", name, unwrapCopy(err))
	}
	if !o.quiet && local != "-" {
		fmt.Fprintf(c.App.ErrWriter, "Successfully copied %s to %s\n", units.HumanSizeWithPrecision(float64(n), 3), o.dst)
	}
	return nil
}

// intoContainer: what is copied in is root's, as docker makes it, unless
// -a keeps the tar's owners.
func intoContainer(archive bool) container.ExtractOptions {
	if archive {
		return container.ExtractOptions{KeepOwner: true}
	}
	return container.ExtractOptions{Owner: &[2]int{0, 0}}
}

func unwrapCopy(err error) error {
	if errors.Is(err, container.ErrCopy) {
		return errors.New(strings.TrimPrefix(err.Error(), container.ErrCopy.Error()+": "))
	}
	return err
}
