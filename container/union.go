package container

import (
	"errors"
	"fmt"

	"github.com/lfs-dev/lfs/layerstore"
	"github.com/lfs-dev/lfs/unionfs"
)

// openUnion opens the image's layers as a read-only union, under upper
// when it is not "". close releases the layers.
func openUnion(s *layerstore.Store, c Container, upper string) (*unionfs.FS, func(), error) {
	img, err := s.Image(c.Image)
	if err != nil {
		return nil, nil, fmt.Errorf("container %s: image: %w", short(c.ID), err)
	}
	var lowers []unionfs.Layer
	var opened []*layerstore.Layer
	closeLayers := func() {
		for _, l := range opened {
			l.Close()
		}
	}
	for i := len(img.Layers) - 1; i >= 0; i-- {
		l, err := s.OpenLayer(img.Layers[i].DiffID)
		if err != nil {
			closeLayers()
			return nil, nil, err
		}
		opened = append(opened, l)
		lowers = append(lowers, unionfs.TarLayer(l.Index, l))
	}
	u, err := unionfs.New(upper, lowers, unionfs.ReadOnly())
	if err != nil {
		closeLayers()
		return nil, nil, err
	}
	return u, func() { u.Close(); closeLayers() }, nil
}

// absent reports whether err says a path does not resolve.
func absent(err error) bool {
	return errors.Is(err, unionfs.ErrNotExist) || errors.Is(err, unionfs.ErrNotDir)
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
