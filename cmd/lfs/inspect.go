package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/lfs-dev/lfs/container"
	"github.com/lfs-dev/lfs/format"
	"github.com/lfs-dev/lfs/layerstore"
	"github.com/lfs-dev/lfs/reference"
	digest "github.com/opencontainers/go-digest"
	"github.com/urfave/cli/v2"
)

type inspectOptions struct {
	format string
	kind   string
	names  []string
}

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "Return low-level information on containers and images",
		ArgsUsage: "NAME|ID [NAME|ID...]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "format output using a custom template: 'json' or a Go template"},
			&cli.StringFlag{Name: "type", Usage: "only inspect objects of the given `TYPE` (container or image)"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, -1); err != nil {
				return err
			}
			return runInspect(c, inspectOptions{format: c.String("format"), kind: c.String("type"), names: c.Args().Slice()})
		},
	}
}

// imageConfig is the part of an image config lfs shows.
type imageConfig struct {
	Architecture  string       `json:"architecture"`
	Variant       string       `json:"variant,omitempty"`
	OS            string       `json:"os"`
	Author        string       `json:"author,omitempty"`
	Comment       string       `json:"comment,omitempty"`
	Created       *time.Time   `json:"created,omitempty"`
	DockerVersion string       `json:"docker_version,omitempty"`
	Config        v1.Config    `json:"config"`
	History       []v1.History `json:"history,omitempty"`
}

func readConfig(s *layerstore.Store, id digest.Digest) (imageConfig, error) {
	var cfg imageConfig
	data, err := s.Config(id)
	if err != nil {
		return cfg, err
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return cfg, fmt.Errorf("config %s: %w: %v", id, layerstore.ErrCorrupt, err)
	}
	return cfg, nil
}

// imageInspect is docker's image inspect shape.
type imageInspect struct {
	Id            string
	RepoTags      []string
	RepoDigests   []string
	Parent        string
	Comment       string
	Created       string
	DockerVersion string
	Author        string
	Config        *v1.Config
	Architecture  string
	Variant       string `json:",omitempty"`
	Os            string
	Size          int64
	GraphDriver   graphDriver
	RootFS        rootFS
	Metadata      struct{ LastTagTime string }
}

type graphDriver struct {
	Data map[string]string
	Name string
}

type rootFS struct {
	Type   string
	Layers []string
}

func runInspect(c *cli.Context, o inspectOptions) error {
	if o.kind != "" && o.kind != "image" && o.kind != "container" {
		return fmt.Errorf("%q is not a valid value for --type", o.kind)
	}
	s, err := store(c)
	if err != nil {
		return err
	}
	var objs []any
	var errs []error
	for _, n := range o.names {
		// As docker: a container by that name first, then an image.
		if o.kind != "image" {
			ct, err := container.Get(s, n)
			if err == nil {
				objs = append(objs, inspectContainer(ct))
				continue
			}
			if o.kind == "container" || !errors.Is(err, container.ErrNotFound) {
				errs = append(errs, err)
				continue
			}
		}
		img, err := s.Resolve(n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		obj, err := inspectImage(s, img)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		objs = append(objs, obj)
	}
	if len(objs) > 0 || len(errs) == 0 {
		if err := format.Object(c.App.Writer, o.format, objs); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

func inspectImage(s *layerstore.Store, img layerstore.Image) (imageInspect, error) {
	cfg, err := readConfig(s, img.ID)
	if err != nil {
		return imageInspect{}, err
	}
	tags, err := s.Tags(img.ID)
	if err != nil {
		return imageInspect{}, err
	}
	out := imageInspect{
		Id: string(img.ID), RepoTags: []string{}, RepoDigests: []string{},
		Parent: string(img.Parent), Comment: cfg.Comment, DockerVersion: cfg.DockerVersion, Author: cfg.Author,
		Config: &cfg.Config, Architecture: cfg.Architecture, Variant: cfg.Variant, Os: cfg.OS, Size: img.Size(),
		GraphDriver: graphDriver{Name: "lfs", Data: map[string]string{
			"Store":  s.Root(),
			"Layers": fmt.Sprint(len(img.Layers)),
		}},
		RootFS: rootFS{Type: "layers", Layers: []string{}},
	}
	if cfg.Created != nil {
		out.Created = cfg.Created.UTC().Format(time.RFC3339Nano)
	}
	for _, t := range tags {
		if r, err := reference.Parse(t); err == nil {
			out.RepoTags = append(out.RepoTags, r.Familiar())
		}
	}
	for _, rd := range img.RepoDigests {
		if r, err := reference.Parse(rd); err == nil {
			out.RepoDigests = append(out.RepoDigests, r.Familiar())
		}
	}
	sort.Strings(out.RepoDigests)
	for _, l := range img.Layers {
		out.RootFS.Layers = append(out.RootFS.Layers, string(l.DiffID))
	}
	if !img.LastTagTime.IsZero() {
		out.Metadata.LastTagTime = img.LastTagTime.Format(time.RFC3339Nano)
	} else {
		out.Metadata.LastTagTime = "0001-01-01T00:00:00Z"
	}
	return out, nil
}
