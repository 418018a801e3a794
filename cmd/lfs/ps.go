package main

import (
	"fmt"
	"io/fs"
	"path/filepath"
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
	all, quiet, noTrunc, size bool
	format                    string
	last                      int
	filters                   []string
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
			&cli.StringSliceFlag{Name: "filter", Aliases: []string{"f"}, Usage: "filter output: id=, name=, status=created|running|exited, exited=CODE, ancestor=IMAGE"},
			&cli.IntFlag{Name: "last", Aliases: []string{"n"}, Value: -1, Usage: "show the n last created containers (all states)"},
			&cli.BoolFlag{Name: "latest", Aliases: []string{"l"}, Usage: "show the latest created container (all states)"},
			&cli.BoolFlag{Name: "size", Aliases: []string{"s"}, Usage: "display the size of each container's writable layer"},
		},
		UseShortOptionHandling: true,
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 0, 0); err != nil {
				return err
			}
			o := psOptions{all: c.Bool("all"), quiet: c.Bool("quiet"), noTrunc: c.Bool("no-trunc"), format: c.String("format"),
				last: c.Int("last"), size: c.Bool("size"), filters: c.StringSlice("filter")}
			if c.Bool("latest") {
				o.last = 1
			}
			return runPs(c, o)
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
	match, err := psFilter(s, o.filters)
	if err != nil {
		return err
	}
	if o.last >= 0 {
		// docker: -n and -l list every state, newest first.
		o.all = true
		list = list[:min(o.last, len(list))]
	}
	now := time.Now()
	var rows []any
	for _, ct := range list {
		st := ct.Status()
		if !o.all && st != container.StateRunning || !match(ct, st) {
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
		r := psRow(s, ct, st, now, !o.noTrunc)
		if o.size {
			r.Size = units.HumanSizeWithPrecision(float64(dirSize(ct.Upper())), 3)
		}
		rows = append(rows, r)
	}
	if o.quiet {
		return nil
	}
	def := "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
	if o.size {
		def += "\t{{.Size}}"
	}
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

// psFilter reads docker's ps filters; filters of one key are ORed, of
// different keys ANDed, as docker does.
func psFilter(s *layerstore.Store, filters []string) (func(container.Container, container.State) bool, error) {
	by := map[string][]string{}
	for _, f := range filters {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("bad format of filter (expected name=value): %s", f)
		}
		switch k {
		case "id", "name", "status", "exited", "ancestor":
		default:
			return nil, fmt.Errorf("invalid filter '%s'", k)
		}
		if k == "status" && v != "created" && v != "running" && v != "exited" && v != "paused" && v != "restarting" && v != "removing" && v != "dead" {
			return nil, fmt.Errorf("invalid filter 'status=%s'", v)
		}
		if k == "exited" {
			if _, err := strconv.Atoi(v); err != nil {
				return nil, fmt.Errorf("invalid filter 'exited=%s'", v)
			}
		}
		if k == "ancestor" {
			// An image as named now: its ID, and any container made from it.
			if img, err := s.Resolve(v); err == nil {
				v = string(img.ID)
			}
		}
		by[k] = append(by[k], v)
	}
	return func(c container.Container, st container.State) bool {
		for k, vs := range by {
			ok := false
			for _, v := range vs {
				switch k {
				case "id":
					ok = strings.HasPrefix(c.ID, v)
				case "name":
					ok = strings.Contains(c.Name, strings.TrimPrefix(v, "/"))
				case "status":
					ok = string(st) == v
				case "exited":
					ok = st == container.StateExited && strconv.Itoa(c.ExitCode) == v
				case "ancestor":
					ok = string(c.Image) == v || c.ImageRef == v || strings.HasPrefix(strings.TrimPrefix(string(c.Image), "sha256:"), v)
				}
				if ok {
					break
				}
			}
			if !ok {
				return false
			}
		}
		return true
	}, nil
}

// dirSize is the bytes the files under dir hold (a writable layer's size
// as docker's ps -s shows it).
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
