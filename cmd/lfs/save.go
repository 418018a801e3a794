package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/lfs-dev/lfs/imagearchive"
	"github.com/lfs-dev/lfs/layerstore"
	"github.com/lfs-dev/lfs/reference"
	"github.com/urfave/cli/v2"
)

type saveOptions struct {
	output string
	format imagearchive.Format
	names  []string
}

func saveCommand() *cli.Command {
	return &cli.Command{
		Name:      "save",
		Usage:     "Save one or more images to a tar archive (streamed to stdout by default)",
		ArgsUsage: "IMAGE [IMAGE...]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to `FILE` instead of stdout"},
			&cli.StringFlag{Name: "format", Value: "docker", Usage: "archive layout: docker (uncompressed layers, what docker load reads) or oci (blobs as stored, digests kept)"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, -1); err != nil {
				return err
			}
			return runSave(c, saveOptions{output: c.String("output"), format: imagearchive.Format(c.String("format")), names: c.Args().Slice()})
		},
	}
}

func runSave(c *cli.Context, o saveOptions) error {
	if o.format != imagearchive.Docker && o.format != imagearchive.OCI {
		return fmt.Errorf("invalid --format %q: want docker or oci", o.format)
	}
	s, err := store(c)
	if err != nil {
		return err
	}
	var named []imagearchive.Named
	at := map[string]int{}
	for _, n := range o.names {
		img, err := s.Resolve(n)
		if err != nil {
			return err
		}
		i, ok := at[string(img.ID)]
		if !ok {
			i = len(named)
			at[string(img.ID)] = i
			named = append(named, imagearchive.Named{Image: img})
		}
		if r, ok := tagNamed(s, n, img); ok {
			named[i].Refs = append(named[i].Refs, r)
		}
	}
	if o.output == "" {
		if f, ok := c.App.Writer.(*os.File); ok && isTerminal(f) {
			return fmt.Errorf("cowardly refusing to save to a terminal. Use the -o flag or redirect")
		}
		return imagearchive.Save(c.App.Writer, s, named, o.format)
	}
	return writeFileAtomic(o.output, func(w io.Writer) error {
		return imagearchive.Save(w, s, named, o.format)
	})
}

// writeFileAtomic writes an archive beside its target, fsyncs it and
// renames it into place, so a failed or killed command leaves no
// half-written file under the name asked for.
func writeFileAtomic(name string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create %s: %w", name, unwrapPath(err))
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	os.Chmod(tmp.Name(), 0o644)
	return os.Rename(tmp.Name(), name)
}

// tagNamed is the reference an image is saved under when it was named by
// tag; an image named by ID or digest is saved untagged, as docker does.
func tagNamed(s *layerstore.Store, name string, img layerstore.Image) (reference.Ref, bool) {
	r, err := reference.Parse(name)
	if err != nil || r.Digest != "" {
		return r, false
	}
	tags, _ := s.Tags(img.ID)
	for _, t := range tags {
		if t == r.String() {
			return r, true
		}
	}
	return r, false
}
