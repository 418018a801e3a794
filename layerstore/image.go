package layerstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/lfs-dev/lfs/reference"
	digest "github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"
)

// Image is the store's record of an image. Its ID is its config's digest.
// Tags live apart from it (Store.Tags), so retagging never rewrites it.
type Image struct {
	ID          digest.Digest `json:"id"`
	Manifest    Descriptor    `json:"manifest"` // as it arrived, or as lfs made it; may be zero
	Layers      []LayerRef    `json:"layers"`
	RepoDigests []string      `json:"repoDigests,omitempty"` // "docker.io/library/busybox@sha256:..."
	Created     time.Time     `json:"created"`               // from the config
	Parent      digest.Digest `json:"parent,omitempty"`      // the image a build or commit started from
	Added       time.Time     `json:"added"`
	LastTagTime time.Time     `json:"lastTagTime"`
}

// Size is the sum of the image's uncompressed layer sizes, as docker shows it.
func (img Image) Size() int64 {
	var n int64
	for _, l := range img.Layers {
		n += l.Size
	}
	return n
}

// DiffIDs lists the image's layers bottom first.
func (img Image) DiffIDs() []digest.Digest {
	out := make([]digest.Digest, len(img.Layers))
	for i, l := range img.Layers {
		out[i] = l.DiffID
	}
	return out
}

// NotFoundError says what was looked for; it is ErrNotFound.
type NotFoundError struct{ What, Name string }

func (e *NotFoundError) Error() string        { return "No such " + e.What + ": " + e.Name }
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

func getImage(tx *bolt.Tx, id digest.Digest) (Image, error) {
	var img Image
	v := tx.Bucket(bucketImages).Get([]byte(id))
	if v == nil {
		return img, &NotFoundError{"image", string(id)}
	}
	if err := json.Unmarshal(v, &img); err != nil {
		return img, fmt.Errorf("image %s: %w: %v", id, ErrCorrupt, err)
	}
	return img, nil
}

// ImageWithTags is an image and the full references that point at it.
type ImageWithTags struct {
	Image
	Tags []string // full references, "docker.io/library/busybox:latest"
}

// Images lists every image with its tags, in no particular order.
func (s *Store) Images() ([]ImageWithTags, error) {
	var out []ImageWithTags
	err := s.view(func(tx *bolt.Tx) error {
		tags := tagsByImage(tx)
		return tx.Bucket(bucketImages).ForEach(func(k, v []byte) error {
			var img Image
			if err := json.Unmarshal(v, &img); err != nil {
				return fmt.Errorf("image %s: %w: %v", k, ErrCorrupt, err)
			}
			out = append(out, ImageWithTags{img, tags[img.ID]})
			return nil
		})
	})
	return out, err
}

func tagsByImage(tx *bolt.Tx) map[digest.Digest][]string {
	tags := map[digest.Digest][]string{}
	tx.Bucket(bucketRefs).ForEach(func(k, v []byte) error {
		id := digest.Digest(v)
		tags[id] = append(tags[id], string(k))
		return nil
	})
	return tags
}

// Tags lists the full references that point at id, sorted.
func (s *Store) Tags(id digest.Digest) ([]string, error) {
	var out []string
	err := s.view(func(tx *bolt.Tx) error {
		out = tagsByImage(tx)[id]
		return nil
	})
	sort.Strings(out)
	return out, err
}

// Resolve finds an image by Docker's rules: a reference (name, name:tag,
// name@digest), a full image ID ("sha256:HEX"), or a unique prefix of one,
// with or without "sha256:".
func (s *Store) Resolve(name string) (Image, error) {
	var img Image
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		img, err = resolve(tx, name)
		return err
	})
	return img, err
}

func resolve(tx *bolt.Tx, name string) (Image, error) {
	img, _, err := resolveRef(tx, name)
	return img, err
}

// resolveRef also returns the reference name matched by, if it matched a
// tag or digest rather than an ID.
func resolveRef(tx *bolt.Tx, name string) (Image, *reference.Ref, error) {
	if hex, ok := strings.CutPrefix(name, "sha256:"); ok {
		img, err := byIDPrefix(tx, name, hex)
		return img, nil, err
	}
	ref, perr := reference.Parse(name)
	if perr == nil {
		if ref.Digest != "" {
			want := ref.Name() + "@" + ref.Digest
			var found *Image
			tx.Bucket(bucketImages).ForEach(func(k, v []byte) error {
				if found == nil && bytes.Contains(v, []byte(want)) {
					if img, err := getImage(tx, digest.Digest(k)); err == nil {
						for _, rd := range img.RepoDigests {
							if rd == want {
								found = &img
							}
						}
					}
				}
				return nil
			})
			if found != nil {
				return *found, &ref, nil
			}
		} else if id := tx.Bucket(bucketRefs).Get([]byte(ref.String())); id != nil {
			img, err := getImage(tx, digest.Digest(id))
			return img, &ref, err
		}
	}
	if isHex(name) {
		if img, err := byIDPrefix(tx, name, name); err == nil || errors.Is(err, ErrAmbiguous) {
			return img, nil, err
		}
	}
	if perr != nil {
		return Image{}, nil, perr
	}
	return Image{}, nil, &NotFoundError{"image", ref.Familiar()}
}

func byIDPrefix(tx *bolt.Tx, name, hex string) (Image, error) {
	if hex == "" || !isHex(hex) {
		return Image{}, &NotFoundError{"image", name}
	}
	prefix := []byte("sha256:" + hex)
	c := tx.Bucket(bucketImages).Cursor()
	k, _ := c.Seek(prefix)
	if k == nil || !bytes.HasPrefix(k, prefix) {
		return Image{}, &NotFoundError{"image", name}
	}
	if k2, _ := c.Next(); k2 != nil && bytes.HasPrefix(k2, prefix) {
		return Image{}, fmt.Errorf("%w: %s", ErrAmbiguous, name)
	}
	return getImage(tx, digest.Digest(k))
}

func isHex(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// Image returns the image with exactly this ID.
func (s *Store) Image(id digest.Digest) (Image, error) {
	var img Image
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		img, err = getImage(tx, id)
		return err
	})
	return img, err
}

// ReadBlob returns a stored blob's bytes (configs, manifests).
func (s *Store) ReadBlob(d digest.Digest) ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("blob %q: %w", d, err)
	}
	data, err := os.ReadFile(s.BlobPath(d))
	if errors.Is(err, os.ErrNotExist) {
		return nil, &NotFoundError{"blob", string(d)}
	}
	return data, err
}

// Config returns an image's config bytes, exactly as stored.
func (s *Store) Config(id digest.Digest) ([]byte, error) { return s.ReadBlob(id) }

// Tag points ref (any reference form) at the image that name resolves to.
func (s *Store) Tag(name, ref string) error {
	r, err := reference.Parse(ref)
	if err != nil {
		return err
	}
	if r.Digest != "" {
		return fmt.Errorf("refusing to create a tag with a digest reference: %w", reference.ErrInvalid)
	}
	return s.update(func(tx *bolt.Tx) error {
		img, err := resolve(tx, name)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketRefs).Put([]byte(r.String()), []byte(img.ID)); err != nil {
			return err
		}
		img.LastTagTime = time.Now().UTC()
		return putJSON(tx, bucketImages, string(img.ID), img)
	})
}
