package container

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/lfs-dev/lfs/build/change"
	"github.com/lfs-dev/lfs/imagearchive"
	"github.com/lfs-dev/lfs/layerstore"
	"github.com/lfs-dev/lfs/reference"
	digest "github.com/opencontainers/go-digest"
)

// CommitOptions are docker commit's.
type CommitOptions struct {
	Author  string   // -a: the config's author and the history entry's
	Message string   // -m: the history entry's comment
	Changes []string // -c: Dockerfile instructions applied to the config
	Ref     string   // optional REPOSITORY[:TAG]
	Now     time.Time
}

// Commit makes a new image of the container's image plus one layer, its
// writable layer (WriteLayer), and returns the new image's ID. The config
// is the image's, with the new diff ID, a history entry created by the
// container's command, and the changes applied; the image records the
// container's image as its parent.
func Commit(s *layerstore.Store, c Container, o CommitOptions) (digest.Digest, error) {
	var ref reference.Ref
	if o.Ref != "" {
		var err error
		if ref, err = reference.Parse(o.Ref); err != nil {
			return "", err
		}
		if ref.Digest != "" {
			return "", fmt.Errorf("commit: a digest cannot be a tag: %w", reference.ErrInvalid)
		}
	}
	img, err := s.Image(c.Image)
	if err != nil {
		return "", fmt.Errorf("commit %s: %w", short(c.ID), err)
	}
	raw, err := s.Config(img.ID)
	if err != nil {
		return "", fmt.Errorf("commit %s: %w", short(c.ID), err)
	}
	var cfg v1.ConfigFile
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return "", fmt.Errorf("commit %s: config %s: %w: %v", short(c.ID), img.ID, layerstore.ErrCorrupt, err)
	}
	if err := change.Apply(&cfg.Config, o.Changes); err != nil {
		return "", err
	}

	b, err := s.NewBatch()
	if err != nil {
		return "", err
	}
	defer b.Abort()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(WriteLayer(pw, c.Upper(), c.hidden()...)) }()
	layer, err := b.AddLayer(pr, "", "")
	pr.CloseWithError(io.ErrClosedPipe) // stops the writer if AddLayer gave up early
	if err != nil {
		return "", fmt.Errorf("commit %s: %w", short(c.ID), err)
	}

	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	created := v1.Time{Time: now.UTC()}
	cfg.Created = created
	cfg.Container = c.ID
	if o.Author != "" {
		cfg.Author = o.Author
	}
	cfg.RootFS.Type = "layers"
	cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, v1.Hash{Algorithm: "sha256", Hex: layer.DiffID.Encoded()})
	cfg.History = append(cfg.History, v1.History{Created: created, CreatedBy: strings.Join(c.Command, " "),
		Author: o.Author, Comment: o.Message})
	// docker keeps the message in the config too, where inspect shows it.
	data, err := json.Marshal(struct {
		v1.ConfigFile
		Comment string `json:"comment,omitempty"`
	}{cfg, o.Message})
	if err != nil {
		return "", err
	}
	layers := append(append([]layerstore.LayerRef(nil), img.Layers...), layer)
	nimg, err := imagearchive.AddImage(b, data, "", layers, nil)
	if err != nil {
		return "", err
	}
	nimg.Parent = img.ID
	b.SetImage(nimg)
	if o.Ref != "" {
		b.Tag(ref.String(), nimg.ID)
	}
	if err := b.Commit(); err != nil {
		return "", fmt.Errorf("commit %s: %w", short(c.ID), err)
	}
	return nimg.ID, nil
}
