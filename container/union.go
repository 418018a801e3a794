package container

import (
	"errors"
	"fmt"

	"github.com/lfs-dev/lfs/layerstore"
	"github.com/lfs-dev/lfs/unionfs"
	digest "github.com/opencontainers/go-digest"
)

// OpenImage opens the image's layers as a union under upper (read-only
// when upper is ""). The returned close releases the union and the layers;
// opts are passed to unionfs.New.
func OpenImage(s *layerstore.Store, image digest.Digest, upper string, opts ...unionfs.Option) (*unionfs.FS, func(), error) {
	img, err := s.Image(image)
	if err != nil {
		return nil, nil, fmt.Errorf("open image %s: %w", image, err)
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
	u, err := unionfs.New(upper, lowers, opts...)
	if err != nil {
		closeLayers()
		return nil, nil, err
	}
	return u, func() { u.Close(); closeLayers() }, nil
}

// openUnion opens the container's image read-only, under upper when it is
// not "" (diff, commit and export read through it).
func openUnion(s *layerstore.Store, c Container, upper string) (*unionfs.FS, func(), error) {
	u, closeFn, err := OpenImage(s, c.Image, upper, unionfs.ReadOnly())
	if err != nil {
		return nil, nil, fmt.Errorf("container %s: %w", short(c.ID), err)
	}
	return u, closeFn, nil
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
