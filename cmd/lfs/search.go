package main

import (
	"strings"

	"github.com/lfs-dev/lfs/format"
	"github.com/urfave/cli/v2"
)

type searchOptions struct {
	query     string
	limit     int
	format    string
	tlsVerify bool
}

// searchRow is one line of `lfs search`.
type searchRow struct {
	Name string
	Tags string
}

var searchColumns = format.Columns{{Field: "Name", Header: "NAME"}, {Field: "Tags", Header: "TAGS"}}

func searchCommand() *cli.Command {
	return &cli.Command{
		Name:      "search",
		Usage:     "List a registry's repositories (from its catalog) and their tags",
		ArgsUsage: "REGISTRY/TERM",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "limit", Usage: "show at most `N` repositories (0: all)"},
			&cli.StringFlag{Name: "format", Usage: "Go template, or table, or json"},
			tlsVerifyFlag(),
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, 1); err != nil {
				return err
			}
			return runSearch(c, searchOptions{query: c.Args().First(), limit: c.Int("limit"), format: c.String("format"), tlsVerify: c.Bool("tls-verify")})
		},
	}
}

func runSearch(c *cli.Context, o searchOptions) error {
	rc, _, err := registryClient(c.App.Writer, true, o.tlsVerify)
	if err != nil {
		return err
	}
	found, err := rc.Search(c.Context, o.query, o.limit)
	if err != nil {
		return err
	}
	rows := make([]any, len(found))
	for i, f := range found {
		rows[i] = searchRow{Name: f.Name, Tags: strings.Join(f.Tags, ", ")}
	}
	return format.Table(c.App.Writer, o.format, "table {{.Name}}\t{{.Tags}}", searchColumns.Headers(), rows)
}
