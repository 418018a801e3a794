package main

import (
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/lfs-dev/lfs/format"
	"github.com/lfs-dev/lfs/layerstore"
	"github.com/lfs-dev/lfs/reference"
	"github.com/urfave/cli/v2"
)

type imagesOptions struct {
	all, quiet, noTrunc, digests bool
	filters                      []string
	format                       string
	repo                         string
}

func imagesCommand() *cli.Command {
	return &cli.Command{
		Name:      "images",
		Aliases:   []string{"image-ls"},
		Usage:     "List images",
		ArgsUsage: "[REPOSITORY[:TAG]]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "show all images (default hides intermediate images)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only show image IDs"},
			&cli.BoolFlag{Name: "no-trunc", Usage: "don't truncate output"},
			&cli.BoolFlag{Name: "digests", Usage: "show digests"},
			&cli.StringSliceFlag{Name: "filter", Aliases: []string{"f"}, Usage: "filter output based on conditions provided (dangling=true|false, reference=PATTERN, before=IMAGE, since=IMAGE, label=KEY[=VALUE])"},
			&cli.StringFlag{Name: "format", Usage: "format output using a custom template: 'table', 'table TEMPLATE', 'json' or 'TEMPLATE'"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 0, 1); err != nil {
				return err
			}
			return runImages(c, imagesOptions{all: c.Bool("all"), quiet: c.Bool("quiet"), noTrunc: c.Bool("no-trunc"),
				digests: c.Bool("digests"), filters: c.StringSlice("filter"), format: c.String("format"), repo: c.Args().First()})
		},
	}
}

// imageRow is one line of `lfs images`, with docker's --format field names.
type imageRow struct {
	ID           string
	Repository   string
	Tag          string
	Digest       string
	CreatedSince string
	CreatedAt    string
	Size         string
	SharedSize   string
	UniqueSize   string
	VirtualSize  string
	Containers   string
	created      time.Time
}

var imageHeaders = map[string]string{
	"ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
	"CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
	"SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE", "VirtualSize": "VIRTUAL SIZE", "Containers": "CONTAINERS",
}

type imageFilter struct {
	dangling      *bool
	references    []string
	before, since *time.Time
	labels        []string
	repo, repoTag string
}

func parseImageFilters(s *layerstore.Store, o imagesOptions) (imageFilter, error) {
	var f imageFilter
	for _, kv := range o.filters {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return f, fmt.Errorf("bad format of filter (expected name=value): %s", kv)
		}
		switch k {
		case "dangling":
			b := v == "true" || v == "1"
			if !b && v != "false" && v != "0" {
				return f, fmt.Errorf("invalid filter 'dangling=%s'", v)
			}
			f.dangling = &b
		case "reference":
			if _, err := path.Match(v, ""); err != nil {
				return f, fmt.Errorf("invalid filter 'reference=%s': %v", v, err)
			}
			f.references = append(f.references, v)
		case "before", "since":
			img, err := s.Resolve(v)
			if err != nil {
				return f, err
			}
			t := img.Created
			if k == "before" {
				f.before = &t
			} else {
				f.since = &t
			}
		case "label":
			f.labels = append(f.labels, v)
		default:
			return f, fmt.Errorf("invalid filter '%s'", k)
		}
	}
	if o.repo != "" {
		r, err := reference.Parse(o.repo)
		if err != nil {
			return f, err
		}
		f.repo = r.Name()
		if strings.Contains(o.repo[strings.LastIndex(o.repo, "/")+1:], ":") {
			f.repoTag = r.Tag
		}
	}
	return f, nil
}

// matchRef is docker's reference filter: a glob against the familiar name
// or name:tag.
func matchRef(patterns []string, r reference.Ref) bool {
	for _, p := range patterns {
		for _, cand := range []string{r.FamiliarName(), r.Familiar(), r.Name(), r.String()} {
			if ok, _ := path.Match(p, cand); ok {
				return true
			}
		}
	}
	return false
}

func runImages(c *cli.Context, o imagesOptions) error {
	s, err := store(c)
	if err != nil {
		return err
	}
	f, err := parseImageFilters(s, o)
	if err != nil {
		return err
	}
	imgs, err := s.Images()
	if err != nil {
		return err
	}
	children := map[string]bool{}
	for _, img := range imgs {
		if img.Parent != "" {
			children[string(img.Parent)] = true
		}
	}
	sort.SliceStable(imgs, func(i, j int) bool {
		if !imgs[i].Created.Equal(imgs[j].Created) {
			return imgs[i].Created.After(imgs[j].Created)
		}
		return imgs[i].ID < imgs[j].ID
	})
	var labels map[string]map[string]string
	if len(f.labels) > 0 {
		labels = map[string]map[string]string{}
		for _, img := range imgs {
			if cfg, err := readConfig(s, img.ID); err == nil {
				labels[string(img.ID)] = cfg.Config.Labels
			}
		}
	}
	var rows []any
	var ids []string
	now := time.Now()
	for _, img := range imgs {
		dangling := len(img.Tags) == 0 && len(img.RepoDigests) == 0
		if f.dangling != nil && *f.dangling != dangling {
			continue
		}
		if !o.all && dangling && children[string(img.ID)] && f.dangling == nil {
			continue // an intermediate image
		}
		if f.before != nil && !img.Created.Before(*f.before) || f.since != nil && !img.Created.After(*f.since) {
			continue
		}
		if !matchLabels(f.labels, labels[string(img.ID)]) {
			continue
		}
		base := imageRow{
			ID:           string(img.ID),
			CreatedSince: format.Since(img.Created),
			CreatedAt:    img.Created.Local().Format("2006-01-02 15:04:05 -0700 MST"),
			Size:         format.HumanSize(img.Size()),
			SharedSize:   "N/A",
			UniqueSize:   "N/A",
			VirtualSize:  format.HumanSize(img.Size()),
			Containers:   "N/A",
			Repository:   "<none>",
			Tag:          "<none>",
			Digest:       "<none>",
			created:      img.Created,
		}
		if img.Created.IsZero() {
			base.CreatedSince, base.CreatedAt = "N/A", "N/A"
		}
		if !o.noTrunc {
			base.ID = format.TruncateID(base.ID)
		}
		_ = now
		// One row per tag; repositories known only by digest get a <none> tag.
		digests := map[string]string{}
		for _, rd := range img.RepoDigests {
			if r, err := reference.Parse(rd); err == nil {
				digests[r.Name()] = r.Digest
			}
		}
		var out []imageRow
		tagged := map[string]bool{}
		tags := append([]string(nil), img.Tags...)
		sort.Strings(tags)
		for _, t := range tags {
			r, err := reference.Parse(t)
			if err != nil {
				continue
			}
			row := base
			row.Repository, row.Tag = r.FamiliarName(), r.Tag
			if d, ok := digests[r.Name()]; ok {
				row.Digest = d
			}
			tagged[r.Name()] = true
			if f.repo != "" && (r.Name() != f.repo || f.repoTag != "" && r.Tag != f.repoTag) {
				continue
			}
			if len(f.references) > 0 && !matchRef(f.references, r) {
				continue
			}
			out = append(out, row)
		}
		for _, rd := range img.RepoDigests {
			r, err := reference.Parse(rd)
			if err != nil || tagged[r.Name()] {
				continue
			}
			tagged[r.Name()] = true
			row := base
			row.Repository, row.Digest = r.FamiliarName(), r.Digest
			if f.repo != "" && r.Name() != f.repo || f.repoTag != "" {
				continue
			}
			if len(f.references) > 0 && !matchRef(f.references, r) {
				continue
			}
			out = append(out, row)
		}
		if len(tags) == 0 && len(img.RepoDigests) == 0 && f.repo == "" && len(f.references) == 0 {
			out = append(out, base)
		}
		for _, r := range out {
			rows = append(rows, r)
			ids = append(ids, r.ID)
		}
	}
	w := c.App.Writer
	if o.quiet {
		seen := map[string]bool{}
		for _, id := range ids {
			if !seen[id] {
				seen[id] = true
				fmt.Fprintln(w, id)
			}
		}
		return nil
	}
	def := "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
	if o.digests {
		def = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
	}
	return format.Table(w, o.format, def, imageHeaders, rows)
}

func matchLabels(want []string, have map[string]string) bool {
	for _, l := range want {
		k, v, hasV := strings.Cut(l, "=")
		got, ok := have[k]
		if !ok || hasV && got != v {
			return false
		}
	}
	return true
}
