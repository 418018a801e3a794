package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/lfs-dev/lfs/bench"
	"github.com/urfave/cli/v2"
)

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "Compare lfs's union filesystem with kernel overlayfs, fuse-overlayfs, unionfs-fuse and a plain tree",
		Description: `Generates layers from a seed (once; they are cached under --dir), mounts them with every
filesystem present, checks that each shows the tree the layers describe, then runs each
workload on each: a warm-up and --runs measured runs (with --cold, again after dropping the
page cache). Prints medians, ranges and ratios over kernel overlayfs and over native;
--json prints the report for machines, --from renders a saved one. Exits 1 when a workload
failed on a filesystem; a filesystem that cannot run here is listed as skipped.

Filesystems: ` + strings.Join(bench.Filesystems, ", ") + `
Workloads:   ` + strings.Join(bench.Workloads, ", "),
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "fs", Usage: "comma-separated `FILESYSTEMS` (default: all)"},
			&cli.StringFlag{Name: "workload", Usage: "comma-separated `WORKLOADS` (default: all)"},
			&cli.IntFlag{Name: "runs", Value: 5, Usage: "measured runs of each workload on each filesystem"},
			&cli.StringFlag{Name: "size", Value: "medium", Usage: "dataset: small (CI), medium (a rootfs, 1 GiB file, 100,000-entry directory) or large"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "the generator's seed"},
			&cli.BoolFlag{Name: "cold", Usage: "also run each workload after dropping the page cache (root)"},
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON (schema " + bench.Schema + ")"},
			&cli.StringFlag{Name: "plot", Usage: "write a bar chart of the ratios to `FILE` (.svg or .png)"},
			&cli.StringFlag{Name: "dir", Usage: "where the dataset is cached and mounts are made (default /var/tmp/lfs-bench as root, else $XDG_CACHE_HOME/lfs/bench)"},
			&cli.BoolFlag{Name: "keep", Usage: "keep this run's upper directories under DIR/run"},
			&cli.BoolFlag{Name: "force", Usage: "use --dir even on a FUSE or overlay filesystem"},
			&cli.StringFlag{Name: "from", Usage: "render a report saved with --json from `FILE` instead of running"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 0, 0); err != nil {
				return err
			}
			return runBench(c)
		},
	}
}

func runBench(c *cli.Context) error {
	if p := c.String("plot"); p != "" {
		if err := bench.CheckPlotFile(p); err != nil {
			return err
		}
	}
	var rep *bench.Report
	if from := c.String("from"); from != "" {
		f, err := os.Open(from)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer f.Close()
		if rep, err = bench.ReadReport(f); err != nil {
			return err
		}
	} else {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		o := bench.Options{Filesystems: splitList(c.String("fs")), Workloads: splitList(c.String("workload")),
			Runs: c.Int("runs"), Size: c.String("size"), Seed: c.Uint64("seed"), Cold: c.Bool("cold"),
			Dir: c.String("dir"), Keep: c.Bool("keep"), Force: c.Bool("force"),
			Lfs: exe, LfsVersion: Version, Command: "lfs " + strings.Join(os.Args[1:], " "), Progress: c.App.ErrWriter}
		if o.Dir == "" {
			o.Dir = defaultBenchDir()
		}
		// Ctrl-C and SIGTERM end the run; Run unmounts everything first.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
		defer signal.Stop(sigs)
		var got atomic.Value
		go func() {
			if s, ok := <-sigs; ok {
				got.Store(s)
				cancel()
			}
		}()
		rep, err = bench.Run(ctx, o)
		if err != nil {
			if s, ok := got.Load().(syscall.Signal); ok && errors.Is(err, context.Canceled) {
				return &exitError{code: 128 + int(s), err: fmt.Errorf("bench: interrupted by %v; everything is unmounted", s)}
			}
			return err
		}
	}
	if p := c.String("plot"); p != "" {
		if err := rep.WritePlot(p); err != nil {
			return err
		}
	}
	var err error
	if c.Bool("json") {
		err = rep.WriteJSON(c.App.Writer)
	} else {
		err = rep.WriteTable(c.App.Writer)
	}
	if err != nil {
		return err
	}
	if rep.Failed() && c.String("from") == "" {
		return errSilent(1)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func defaultBenchDir() string {
	if os.Geteuid() == 0 {
		return "/var/tmp/lfs-bench"
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "lfs", "bench")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".cache", "lfs", "bench")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("lfs-bench-%d", os.Geteuid()))
}
