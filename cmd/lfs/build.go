package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/lfs-dev/lfs/build"
	"github.com/lfs-dev/lfs/layerstore"
	"github.com/lfs-dev/lfs/registry"
	"github.com/lfs-dev/lfs/sandbox"
	digest "github.com/opencontainers/go-digest"
	"github.com/urfave/cli/v2"
)

type buildOptions struct {
	context   string
	file      string
	tags      []string
	buildArgs []string
	labels    []string
	target    string
	network   sandbox.Network
	iidfile   string
	noCache   bool
	pull      bool
	quiet     bool
}

func buildCommand() *cli.Command {
	return &cli.Command{
		Name:      "build",
		Usage:     "Build an image from a Dockerfile",
		ArgsUsage: "CONTEXT",
		Description: `Builds as docker's classic builder does: one step, and one image, per instruction;
RUN in the sandbox on the union filesystem, its writable layer the step's layer; COPY and
ADD written straight from the context. CONTEXT is a directory, or - for a tar (plain or
compressed) on stdin or a Dockerfile alone on stdin. Steps are cached by parent image,
instruction, the build args they use and the content of what they copy.`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "tag", Aliases: []string{"t"}, Usage: "name the image `NAME[:TAG]`"},
			&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "the Dockerfile (default CONTEXT/Dockerfile; - for stdin)"},
			&cli.BoolFlag{Name: "no-cache", Usage: "do not use the layer cache"},
			&cli.BoolFlag{Name: "pull", Usage: "always pull the FROM images"},
			&cli.StringSliceFlag{Name: "build-arg", Usage: "set a build-time variable `K=V` (K alone: from this environment)"},
			&cli.StringFlag{Name: "target", Usage: "build up to the `STAGE`"},
			&cli.StringSliceFlag{Name: "label", Usage: "set a label `K=V` on the image"},
			&cli.StringFlag{Name: "network", Value: "host", Usage: "RUN's network: host (the default) or none"},
			&cli.StringFlag{Name: "iidfile", Usage: "write the image ID to `FILE`"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the image ID"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, 1); err != nil {
				return err
			}
			// RUN steps mount and run containers: an unprivileged build
			// runs as root of a user namespace, as lfs run does.
			if done, err := rootless(c); done {
				return err
			}
			o := buildOptions{context: c.Args().First(), file: c.String("file"), tags: c.StringSlice("tag"),
				buildArgs: c.StringSlice("build-arg"), labels: c.StringSlice("label"), target: c.String("target"),
				iidfile: c.String("iidfile"), noCache: c.Bool("no-cache"), pull: c.Bool("pull"), quiet: c.Bool("quiet")}
			switch n := c.String("network"); n {
			case "host", "default":
				o.network = sandbox.NetworkHost
			case "none":
				o.network = sandbox.NetworkNone
			default:
				return fmt.Errorf("build: network %q: only host and none are supported", n)
			}
			return runBuild(c, o)
		},
	}
}

func runBuild(c *cli.Context, o buildOptions) error {
	s, err := store(c)
	if err != nil {
		return err
	}
	bo := build.Options{Tags: o.tags, BuildArgs: o.buildArgs, Labels: o.labels, Target: o.target,
		NoCache: o.noCache, ForcePull: o.pull, Network: o.network, Quiet: o.quiet,
		Stdout: c.App.Writer, Stderr: c.App.ErrWriter}
	if o.context == "-" {
		if o.file == "-" {
			return errors.New("invalid argument: can't use stdin for both build context and dockerfile")
		}
		in := bufio.NewReaderSize(c.App.Reader, 64<<10)
		head, _ := in.Peek(512)
		if isArchive(head) {
			w, err := build.ExtractContext(s, in)
			if err != nil {
				return err
			}
			defer w.Close()
			bo.ContextDir = build.ContextDir(w)
			if bo.Dockerfile, bo.DockerfileName, err = readDockerfile(bo.ContextDir, o.file, true); err != nil {
				return err
			}
		} else {
			if bo.Dockerfile, err = io.ReadAll(in); err != nil {
				return fmt.Errorf("read the Dockerfile from stdin: %w", err)
			}
			bo.DockerfileName = "Dockerfile"
		}
	} else {
		fi, err := os.Stat(o.context)
		if err != nil {
			return fmt.Errorf("unable to prepare context: path %q not found", o.context)
		}
		if !fi.IsDir() {
			return fmt.Errorf("unable to prepare context: context must be a directory: %s", o.context)
		}
		bo.ContextDir = o.context
		if o.file == "-" {
			if bo.Dockerfile, err = io.ReadAll(c.App.Reader); err != nil {
				return fmt.Errorf("read the Dockerfile from stdin: %w", err)
			}
			bo.DockerfileName = "Dockerfile"
		} else if bo.Dockerfile, bo.DockerfileName, err = readDockerfile(o.context, o.file, false); err != nil {
			return err
		}
	}
	bo.Pull = func(ctx context.Context, ref, platform string) (digest.Digest, error) {
		rc, done, err := registryClient(c.App.Writer, o.quiet, true)
		if err != nil {
			return "", err
		}
		pulled, err := rc.Pull(ctx, s, ref, registry.PullOptions{Platform: platform})
		done()
		if err != nil {
			return "", err
		}
		return pulled[len(pulled)-1].ID, nil
	}
	// Signals are caught before anything runs, so that none kills lfs
	// with a RUN's mount up: the build stops, its container goes.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	bo.Signals = sigs

	res, err := build.Build(c.Context, s, bo)
	var re *build.RunError
	var ie *build.InterruptedError
	switch {
	case errors.As(err, &re):
		return &exitError{code: re.Code, err: err}
	case errors.As(err, &ie):
		code := 130
		if sig, ok := ie.Signal.(syscall.Signal); ok {
			code = 128 + int(sig)
		}
		return &exitError{code: code, err: err}
	case err != nil:
		return err
	}
	if o.iidfile != "" {
		if err := os.WriteFile(o.iidfile, []byte(res.ID), 0o644); err != nil {
			return fmt.Errorf("write iidfile: %w", err)
		}
	}
	if o.quiet {
		fmt.Fprintln(c.App.Writer, res.ID)
	}
	return nil
}

// readDockerfile reads the Dockerfile: file as given (relative to the
// current directory, as docker's CLI takes -f; inContext: relative to the
// context, for a context tar), else CONTEXT/Dockerfile or
// CONTEXT/dockerfile. It returns the text and the name errors use.
func readDockerfile(ctxDir, file string, inContext bool) ([]byte, string, error) {
	if file != "" {
		p := file
		if inContext {
			p = filepath.Join(ctxDir, file)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, "", fmt.Errorf("unable to prepare context: the Dockerfile (%s) cannot be read: %w", file, err)
		}
		return data, file, nil
	}
	for _, name := range []string{"Dockerfile", "dockerfile"} {
		data, err := os.ReadFile(filepath.Join(ctxDir, name))
		if err == nil {
			return data, name, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, "", fmt.Errorf("unable to prepare context: %w", err)
		}
	}
	return nil, "", fmt.Errorf("unable to prepare context: cannot locate Dockerfile: no Dockerfile in %s", ctxDir)
}

// isArchive tells a context tar (plain, or compressed) from a Dockerfile
// on stdin, as docker's CLI does.
func isArchive(head []byte) bool {
	if layerstore.DetectCompression(head) != layerstore.Uncompressed {
		return true
	}
	return len(head) >= 262 && bytes.Equal(head[257:262], []byte("ustar"))
}
