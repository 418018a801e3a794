package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/lfs-dev/lfs/format"
	"github.com/urfave/cli/v2"
)

type historyOptions struct {
	noTrunc, quiet, human bool
	format                string
	name                  string
}

func historyCommand() *cli.Command {
	return &cli.Command{
		Name:      "history",
		Usage:     "Show the history of an image",
		ArgsUsage: "IMAGE",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "no-trunc", Usage: "don't truncate output"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only show image IDs"},
			&cli.BoolFlag{Name: "human", Aliases: []string{"H"}, Value: true, Usage: "print sizes and dates in human readable format"},
			&cli.StringFlag{Name: "format", Usage: "format output using a custom template: 'table', 'table TEMPLATE', 'json' or 'TEMPLATE'"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, 1); err != nil {
				return err
			}
			return runHistory(c, historyOptions{noTrunc: c.Bool("no-trunc"), quiet: c.Bool("quiet"), human: c.Bool("human"), format: c.String("format"), name: c.Args().First()})
		},
	}
}

// historyRow is one line of `lfs history`, with docker's field names.
type historyRow struct {
	ID           string
	CreatedSince string
	CreatedAt    string
	CreatedBy    string
	Size         string
	Comment      string
}

var historyHeaders = map[string]string{
	"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
	"CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT",
}

func runHistory(c *cli.Context, o historyOptions) error {
	s, err := store(c)
	if err != nil {
		return err
	}
	img, err := s.Resolve(o.name)
	if err != nil {
		return err
	}
	cfg, err := readConfig(s, img.ID)
	if err != nil {
		return err
	}
	// Non-empty history entries map onto layers in order.
	sizes := make([]int64, len(cfg.History))
	li := 0
	for i, h := range cfg.History {
		if !h.EmptyLayer && li < len(img.Layers) {
			sizes[i] = img.Layers[li].Size
			li++
		}
	}
	// As docker: the rows from the top take the IDs of the image, its
	// parent, its parent's parent... (a build's steps), as far as the
	// store has them.
	chain := map[int]string{}
	for i, cur := len(cfg.History)-1, img; i >= 0; i-- {
		chain[i] = string(cur.ID)
		if cur.Parent == "" {
			break
		}
		next, err := s.Image(cur.Parent)
		if err != nil {
			break
		}
		cur = next
	}
	var rows []any
	var ids []string
	for i := len(cfg.History) - 1; i >= 0; i-- {
		h := cfg.History[i]
		id := "<missing>"
		if c, ok := chain[i]; ok {
			id = c
			if !o.noTrunc {
				id = format.TruncateID(id)
			}
		}
		by := h.CreatedBy
		if !o.noTrunc {
			by = format.Ellipsis(strings.ReplaceAll(by, "\t", " "), 45)
		}
		row := historyRow{ID: id, CreatedBy: by, Comment: h.Comment}
		t := h.Created.Time
		if o.human {
			row.CreatedSince = format.Since(t)
			row.CreatedAt = t.Local().Format(time.RFC3339)
			row.Size = format.HumanSize(sizes[i])
		} else {
			row.CreatedSince = t.Format(time.RFC3339)
			row.CreatedAt = row.CreatedSince
			row.Size = fmt.Sprint(sizes[i])
		}
		rows = append(rows, row)
		ids = append(ids, id)
	}
	if o.quiet {
		for _, id := range ids {
			fmt.Fprintln(c.App.Writer, id)
		}
		return nil
	}
	def := "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
	return format.Table(c.App.Writer, o.format, def, historyHeaders, rows)
}
