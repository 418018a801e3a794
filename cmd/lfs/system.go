package main

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/lfs-dev/lfs/format"
	"github.com/urfave/cli/v2"
)

func systemCommand() *cli.Command {
	return &cli.Command{
		Name:  "system",
		Usage: "Manage the store",
		Subcommands: []*cli.Command{
			{
				Name:  "df",
				Usage: "Show store disk usage",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "format", Usage: "format output using a custom template"},
				},
				Action: runDF,
			},
			{
				Name:  "prune",
				Usage: "Remove dangling images (with -a, every image no container uses) and any unused data",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "remove all unused images, not just dangling ones"},
					&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not prompt for confirmation"},
				},
				Action: runPrune,
			},
			{
				Name:  "check",
				Usage: "Verify every blob, layer and index against its digest",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "repair", Usage: "remove what is damaged, rebuild damaged indexes, drop images whose content is lost"},
				},
				Action: runCheck,
			},
		},
	}
}

type dfRow struct {
	Type, TotalCount, Active, Size, Reclaimable string
}

func runDF(c *cli.Context) error {
	if err := needArgs(c, 0, 0); err != nil {
		return err
	}
	s, err := store(c)
	if err != nil {
		return err
	}
	u, err := s.DiskUsage()
	if err != nil {
		return err
	}
	pct := 0
	if u.ImagesSize > 0 {
		pct = int(u.Reclaimable * 100 / u.ImagesSize)
		if pct > 100 {
			pct = 100
		}
	}
	rows := []any{
		dfRow{"Images", fmt.Sprint(u.Images), fmt.Sprint(u.Active), format.HumanSize(u.ImagesSize), fmt.Sprintf("%s (%d%%)", format.HumanSize(u.Reclaimable), pct)},
		dfRow{"Containers", "0", "0", "0B", "0B"},
	}
	headers := map[string]string{"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"}
	return format.Table(c.App.Writer, c.String("format"), "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}", headers, rows)
}

func runPrune(c *cli.Context) error {
	if err := needArgs(c, 0, 0); err != nil {
		return err
	}
	all := c.Bool("all")
	if !c.Bool("force") {
		what := "  - all dangling images\n"
		if all {
			what = "  - all images without at least one container associated to them\n"
		}
		fmt.Fprintf(c.App.Writer, "WARNING! This will remove:\n%s  - all unused layers and blobs\n\nAre you sure you want to continue? [y/N] ", what)
		line, _ := bufio.NewReader(c.App.Reader).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			fmt.Fprintln(c.App.Writer)
			return fmt.Errorf("prune cancelled")
		}
	}
	s, err := store(c)
	if err != nil {
		return err
	}
	rep, err := s.Prune(all)
	if err != nil {
		return err
	}
	if len(rep.Events) > 0 {
		fmt.Fprintln(c.App.Writer, "Deleted Images:")
		for _, e := range rep.Events {
			if e.Untagged != "" {
				fmt.Fprintf(c.App.Writer, "untagged: %s\n", e.Untagged)
			} else {
				fmt.Fprintf(c.App.Writer, "deleted: %s\n", e.Deleted)
			}
		}
		fmt.Fprintln(c.App.Writer)
	}
	fmt.Fprintf(c.App.Writer, "Total reclaimed space: %s\n", format.HumanSize(rep.Reclaimed))
	return nil
}

func runCheck(c *cli.Context) error {
	if err := needArgs(c, 0, 0); err != nil {
		return err
	}
	s, err := store(c)
	if err != nil {
		return err
	}
	repair := c.Bool("repair")
	probs, err := s.Check(repair)
	if err != nil {
		return err
	}
	unfixed := 0
	for _, p := range probs {
		if p.Fixed != "" {
			fmt.Fprintf(c.App.Writer, "%s: %s (repaired: %s)\n", p.Path, p.Reason, p.Fixed)
		} else {
			unfixed++
			fmt.Fprintf(c.App.Writer, "%s: %s\n", p.Path, p.Reason)
		}
	}
	if unfixed > 0 {
		if !repair {
			fmt.Fprintf(c.App.Writer, "%d problem(s) found; run 'lfs system check --repair' to fix them\n", unfixed)
		}
		return errSilent(1)
	}
	if len(probs) == 0 {
		fmt.Fprintf(c.App.Writer, "OK: store %s verified, no problems found\n", s.Root())
	} else {
		fmt.Fprintf(c.App.Writer, "OK: %d problem(s) repaired\n", len(probs))
	}
	return nil
}
