package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"
	"github.com/lfs-dev/lfs/container"
	"github.com/lfs-dev/lfs/format"
	"github.com/lfs-dev/lfs/layerstore"
	"github.com/urfave/cli/v2"
)

type psOptions struct {
	all, quiet, noTrunc bool
	format              string
}

func psCommand() *cli.Command {
	return &cli.Command{
		Name:    "ps",
		Aliases: []string{"container-ls"},
		Usage:   "List containers",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "show all containers (default shows just running)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only display container IDs"},
			&cli.BoolFlag{Name: "no-trunc", Usage: "don't truncate output"},
			&cli.StringFlag{Name: "format", Usage: "format output using a custom template: 'table', 'table TEMPLATE', 'json' or 'TEMPLATE'"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 0, 0); err != nil {
				return err
			}
			return runPs(c, psOptions{all: c.Bool("all"), quiet: c.Bool("quiet"), noTrunc: c.Bool("no-trunc"), format: c.String("format")})
		},
	}
}

// containerRow is one line of `lfs ps`, with docker's --format field names.
type containerRow struct {
	ID, Image, Command, CreatedAt, RunningFor, Ports, State, Status, Names, Size, Labels, Mounts, Networks string
}

var containerHeaders = map[string]string{
	"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
	"RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS", "Names": "NAMES",
	"Size": "SIZE", "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS",
}

func runPs(c *cli.Context, o psOptions) error {
	s, err := store(c)
	if err != nil {
		return err
	}
	list, err := container.List(s)
	if err != nil {
		return err
	}
	now := time.Now()
	var rows []any
	for _, ct := range list {
		st := ct.Status()
		if !o.all && st != container.StateRunning {
			continue
		}
		if o.quiet {
			id := ct.ID
			if !o.noTrunc {
				id = id[:12]
			}
			fmt.Fprintln(c.App.Writer, id)
			continue
		}
		rows = append(rows, psRow(s, ct, st, now, !o.noTrunc))
	}
	if o.quiet {
		return nil
	}
	def := "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
	return format.Table(c.App.Writer, o.format, def, containerHeaders, rows)
}

func psRow(s *layerstore.Store, ct container.Container, st container.State, now time.Time, trunc bool) containerRow {
	r := containerRow{ID: ct.ID, Image: ct.ImageRef, State: string(st), Names: ct.Name,
		CreatedAt:  ct.Created.Local().Format("2006-01-02 15:04:05 -0700 MST"),
		RunningFor: units.HumanDuration(now.Sub(ct.Created)) + " ago"}
	// As docker: the image as named, unless the name now means another image.
	if img, err := s.Resolve(ct.ImageRef); err != nil || img.ID != ct.Image {
		r.Image = format.TruncateID(string(ct.Image))
		if !trunc {
			r.Image = string(ct.Image)
		}
	}
	cmd := strings.Join(ct.Command, " ")
	if trunc {
		r.ID = ct.ID[:12]
		cmd = format.Ellipsis(cmd, 20)
	}
	r.Command = strconv.Quote(cmd)
	switch st {
	case container.StateRunning:
		if ct.Mountpoint != "" {
			r.Status = "Mounted " + units.HumanDuration(now.Sub(ct.Created))
			break
		}
		r.Status = "Up " + units.HumanDuration(now.Sub(ct.Started))
	case container.StateExited:
		end := ct.Finished
		if end.IsZero() {
			end = ct.Started // a killed lfs never recorded the end
		}
		r.Status = fmt.Sprintf("Exited (%d) %s ago", ct.ExitCode, units.HumanDuration(now.Sub(end)))
	default:
		r.Status = "Created"
	}
	return r
}
