package imagearchive

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/lfs-dev/lfs/build/change"
	"github.com/lfs-dev/lfs/layerstore"
	"github.com/lfs-dev/lfs/reference"
	digest "github.com/opencontainers/go-digest"
)

// ImportOptions are `docker import`'s.
type ImportOptions struct {
	Source  string   // what the history says it came from: a path or "-"
	Ref     string   // optional REPOSITORY[:TAG]
	Changes []string // Dockerfile instructions applied to the config
	Message string   // history comment; "Imported from SOURCE" when empty
	Now     time.Time
}

// Import makes a one-layer image from a rootfs tarball (plain, gzip, zstd
// or bzip2), as `docker import` does, and returns its ID.
func Import(s *layerstore.Store, r io.Reader, o ImportOptions) (digest.Digest, error) {
	var ref reference.Ref
	if o.Ref != "" {
		var err error
		if ref, err = reference.Parse(o.Ref); err != nil {
			return "", err
		}
		if ref.Digest != "" {
			return "", fmt.Errorf("import: a digest cannot be a tag: %w", reference.ErrInvalid)
		}
	}
	var cfg v1.Config
	if err := change.Apply(&cfg, o.Changes); err != nil {
		return "", err
	}
	b, err := s.NewBatch()
	if err != nil {
		return "", err
	}
	defer b.Abort()
	layer, err := b.AddLayer(r, "", "")
	if err != nil {
		return "", fmt.Errorf("import %s: %w", o.Source, err)
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	created := v1.Time{Time: now.UTC()}
	msg := o.Message
	if msg == "" {
		// docker streams a local file to the daemon, so its history says "-".
		msg = "Imported from -"
	}
	cf := struct {
		v1.ConfigFile
		Comment string `json:"comment,omitempty"`
	}{ConfigFile: v1.ConfigFile{
		Architecture: runtime.GOARCH,
		OS:           "linux",
		Created:      created,
		Config:       cfg,
		RootFS:       v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{{Algorithm: "sha256", Hex: layer.DiffID.Encoded()}}},
		History:      []v1.History{{Created: created, Comment: msg}},
	}, Comment: o.Message}
	data, err := json.Marshal(cf)
	if err != nil {
		return "", err
	}
	img, err := AddImage(b, data, "", []layerstore.LayerRef{layer}, nil)
	if err != nil {
		return "", err
	}
	if o.Ref != "" {
		b.Tag(ref.String(), img.ID)
	}
	if err := b.Commit(); err != nil {
		return "", err
	}
	return img.ID, nil
}
