package layerstore

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/lfs-dev/lfs/layerstore/tarindex"
	digest "github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"
)

// Layer is an open layer: its index, and its tar to read entries from.
// Readers go through ReaderAt so that a layer's bytes can later come from
// somewhere else than a local tar (lazy pull); File is the zero-copy fast
// path for bytes that are local.
type Layer struct {
	DiffID digest.Digest
	Index  *tarindex.Reader
	tar    *os.File
}

// OpenLayer opens a stored layer. It reads the index only (mmap), never
// the layer's data.
func (s *Store) OpenLayer(diffID digest.Digest) (*Layer, error) {
	if err := diffID.Validate(); err != nil {
		return nil, fmt.Errorf("open layer %q: %w", diffID, err)
	}
	idx, err := tarindex.Open(s.layerIndexPath(diffID))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, &NotFoundError{"layer", string(diffID)}
		}
		return nil, fmt.Errorf("open layer %s: %w", diffID, err)
	}
	f, err := os.Open(s.layerTarPath(diffID))
	if err != nil {
		idx.Close()
		return nil, fmt.Errorf("open layer %s: %w", diffID, err)
	}
	return &Layer{DiffID: diffID, Index: idx, tar: f}, nil
}

// ReaderAt reads the data of a regular-file entry.
func (l *Layer) ReaderAt(id tarindex.ID) *io.SectionReader {
	e := l.Index.Entry(id)
	return io.NewSectionReader(l.tar, e.Offset, e.Size)
}

// File returns the tar file and the entry's data offset, for
// copy_file_range and splice.
func (l *Layer) File(id tarindex.ID) (*os.File, int64, int64) {
	e := l.Index.Entry(id)
	return l.tar, e.Offset, e.Size
}

// TarPath is the layer's tar file, for exporters that stream it whole.
func (s *Store) TarPath(diffID digest.Digest) string { return s.layerTarPath(diffID) }

// Close releases the index mapping and the tar file.
func (l *Layer) Close() error {
	err := l.Index.Close()
	if cerr := l.tar.Close(); err == nil {
		err = cerr
	}
	return err
}

// rebuildIndex indexes a stored layer.tar again and replaces its index.
func (s *Store) rebuildIndex(diffID digest.Digest) (digest.Digest, error) {
	f, err := os.Open(s.layerTarPath(diffID))
	if err != nil {
		return "", err
	}
	defer f.Close()
	idx, err := tarindex.Build(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return "", err
	}
	tmp := filepath.Join(s.layerDir(diffID), "index.tmp")
	sum, err := writeIndex(tmp, idx)
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	return sum, os.Rename(tmp, s.layerIndexPath(diffID))
}

// Usage is what `system df` shows.
type Usage struct {
	Images, Active int
	ImagesSize     int64 // unique bytes on disk for images: tars, indexes, blobs
	Reclaimable    int64 // bytes only unused images hold
	Layers         int
}

// DiskUsage measures the store.
func (s *Store) DiskUsage() (Usage, error) {
	var u Usage
	imgs, err := s.Images()
	if err != nil {
		return u, err
	}
	u.Images = len(imgs)
	u.ImagesSize = s.diskBytes()
	// Bytes held only by images no container uses.
	active := map[digest.Digest]bool{}
	err = s.view(func(tx *bolt.Tx) error {
		for _, img := range imgs {
			active[img.ID] = len(s.usersOf(tx, img.ID)) > 0
		}
		return nil
	})
	if err != nil {
		return u, err
	}
	used := map[digest.Digest]bool{}
	for _, img := range imgs {
		if active[img.ID] {
			u.Active++
			for _, l := range img.Layers {
				used[l.DiffID] = true
			}
		}
	}
	seen := map[digest.Digest]bool{}
	for _, img := range imgs {
		for _, l := range img.Layers {
			if !used[l.DiffID] && !seen[l.DiffID] {
				seen[l.DiffID] = true
				u.Reclaimable += l.Size
				u.Layers++
			}
		}
	}
	return u, nil
}

// LayerInfo is what the store records about a layer.
type LayerInfo struct {
	DiffID digest.Digest
	Size   int64        // of the uncompressed tar
	Blobs  []Descriptor // compressed forms stored beside the tar
}

// LayerInfo returns the record of a stored layer, or ErrNotFound. A pull
// asks it to skip layers it already has.
func (s *Store) LayerInfo(diffID digest.Digest) (LayerInfo, error) {
	info := LayerInfo{DiffID: diffID}
	err := s.view(func(tx *bolt.Tx) error {
		rec, err := getLayerRecord(tx, diffID)
		if err != nil {
			return &NotFoundError{"layer", string(diffID)}
		}
		info.Size, info.Blobs = rec.Size, rec.Blobs
		return nil
	})
	return info, err
}
