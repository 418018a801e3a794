package layerstore

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/lfs-dev/lfs/reference"
	digest "github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"
)

// RemoveEvent is one line of what rmi did, as docker prints it:
// Untagged (a familiar reference) or Deleted (an image ID or a layer diff ID).
type RemoveEvent struct {
	Untagged string
	Deleted  digest.Digest
}

// UsedBy reports the containers using an image; the runtime sets it. The
// store calls it with the lock held.
type UsedBy func(tx *bolt.Tx, id digest.Digest) []string

// Remove does what `docker rmi` does with name: a tag is untagged, and the
// image deleted once no tag or digest names it; an ID deletes the image if
// it has at most one repository, or with force. It refuses, with
// ErrConflict or ErrInUse, what docker refuses. A deleted image's parents
// go with it while nothing else holds them (no tag, digest, other child
// or container), as docker prunes a build's intermediate images. Layers
// and blobs no image uses any more are deleted from disk.
func (s *Store) Remove(name string, force bool) ([]RemoveEvent, error) {
	var events []RemoveEvent
	var doomed []string
	err := s.update(func(tx *bolt.Tx) error {
		img, matched, err := resolveRef(tx, name)
		if err != nil {
			return err
		}
		tags := tagsByImage(tx)[img.ID]
		sort.Strings(tags)
		byRef := matched != nil
		var r reference.Ref
		if byRef {
			r = *matched
		}
		if users := s.usersOf(tx, img.ID); len(users) > 0 && !force {
			if byRef && len(tags)+len(img.RepoDigests) > 1 {
				// Untagging is always fine while another name remains.
			} else {
				return fmt.Errorf("unable to delete %s (must be forced) - image is being used by container %s: %w", short(img.ID), users[0], ErrInUse)
			}
		}
		if byRef {
			if r.Digest != "" {
				img.RepoDigests = without(img.RepoDigests, r.Name()+"@"+r.Digest)
				events = append(events, RemoveEvent{Untagged: r.Familiar()})
				if err := putJSON(tx, bucketImages, string(img.ID), img); err != nil {
					return err
				}
			} else {
				if err := tx.Bucket(bucketRefs).Delete([]byte(r.String())); err != nil {
					return err
				}
				events = append(events, RemoveEvent{Untagged: r.Familiar()})
				tags = without(tags, r.String())
			}
			// The image goes when its last tag goes, its digests with it.
			if len(tags) > 0 {
				return nil
			}
			if r.Digest != "" && len(img.RepoDigests) > 0 {
				return nil
			}
			for _, rd := range img.RepoDigests {
				if dr, err := reference.Parse(rd); err == nil {
					events = append(events, RemoveEvent{Untagged: dr.Familiar()})
				}
			}
		} else {
			if len(tags) > 1 && !force {
				return fmt.Errorf("unable to delete %s (must be forced) - image is referenced in multiple repositories: %w", short(img.ID), ErrConflict)
			}
			for _, t := range tags {
				if err := tx.Bucket(bucketRefs).Delete([]byte(t)); err != nil {
					return err
				}
				if tr, err := reference.Parse(t); err == nil {
					events = append(events, RemoveEvent{Untagged: tr.Familiar()})
				}
			}
			for _, rd := range img.RepoDigests {
				if dr, err := reference.Parse(rd); err == nil {
					events = append(events, RemoveEvent{Untagged: dr.Familiar()})
				}
			}
		}
		if children := childrenOf(tx, img.ID); len(children) > 0 {
			if len(events) > 0 {
				return nil // untagged; the image stays as the parent of others
			}
			return fmt.Errorf("unable to delete %s (cannot be forced) - image has dependent child images: %w", short(img.ID), ErrConflict)
		}
		if err := tx.Bucket(bucketImages).Delete([]byte(img.ID)); err != nil {
			return err
		}
		events = append(events, RemoveEvent{Deleted: img.ID})
		// As docker: the parents go too while nothing else holds them (no
		// tag or digest, no other child, no container), so removing a
		// built image removes its build's intermediate images.
		for p := img.Parent; p != ""; {
			parent, err := getImage(tx, p)
			if err != nil || len(tagsByImage(tx)[p]) > 0 || len(parent.RepoDigests) > 0 ||
				len(childrenOf(tx, p)) > 0 || len(s.usersOf(tx, p)) > 0 {
				break
			}
			if err := tx.Bucket(bucketImages).Delete([]byte(p)); err != nil {
				return err
			}
			events = append(events, RemoveEvent{Deleted: p})
			p = parent.Parent
		}
		var gone []digest.Digest
		gone, doomed, err = s.collect(tx)
		for _, d := range gone {
			events = append(events, RemoveEvent{Deleted: d})
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	removeAll(doomed)
	return events, nil
}

func short(d digest.Digest) string {
	e := d.Encoded()
	if len(e) > 12 {
		e = e[:12]
	}
	return e
}

func without(list []string, s string) []string {
	var out []string
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

func childrenOf(tx *bolt.Tx, id digest.Digest) []digest.Digest {
	var out []digest.Digest
	tx.Bucket(bucketImages).ForEach(func(k, v []byte) error {
		var img struct {
			Parent digest.Digest `json:"parent"`
		}
		if json.Unmarshal(v, &img) == nil && img.Parent == id {
			out = append(out, digest.Digest(k))
		}
		return nil
	})
	return out
}

// usersOf lists containers using an image. Containers are recorded by the
// runtime in the "containers" bucket as JSON objects with an "image" field.
func (s *Store) usersOf(tx *bolt.Tx, id digest.Digest) []string {
	b := tx.Bucket([]byte("containers"))
	if b == nil {
		return nil
	}
	var out []string
	b.ForEach(func(k, v []byte) error {
		var c struct {
			Image digest.Digest `json:"image"`
		}
		if json.Unmarshal(v, &c) == nil && c.Image == id {
			out = append(out, string(k))
		}
		return nil
	})
	return out
}

// collect deletes the records of layers and blobs no image uses and
// returns the layer diff IDs it dropped and the paths to remove once the
// transaction has committed. (Removing first would lose data if the
// transaction then failed; a crash in between leaves files no record names,
// which Check reports and Prune removes.)
func (s *Store) collect(tx *bolt.Tx) ([]digest.Digest, []string, error) {
	live := map[digest.Digest]bool{}
	err := tx.Bucket(bucketImages).ForEach(func(k, v []byte) error {
		var img Image
		if err := json.Unmarshal(v, &img); err != nil {
			return nil
		}
		live[img.ID] = true
		live[img.Manifest.Digest] = true
		for _, l := range img.Layers {
			live[l.DiffID] = true
			live[l.Blob.Digest] = true
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	var gone []digest.Digest
	var paths []string
	var dead [][]byte
	tx.Bucket(bucketLayers).ForEach(func(k, v []byte) error {
		d := digest.Digest(k)
		if !live[d] {
			gone = append(gone, d)
			dead = append(dead, append([]byte(nil), k...))
			paths = append(paths, s.layerDir(d))
		} else {
			// Compressed forms stay with their layer while it lives.
			var rec layerRecord
			if json.Unmarshal(v, &rec) == nil {
				for _, b := range rec.Blobs {
					live[b.Digest] = true
				}
			}
		}
		return nil
	})
	for _, k := range dead {
		if err := tx.Bucket(bucketLayers).Delete(k); err != nil {
			return nil, nil, err
		}
	}
	dead = dead[:0]
	tx.Bucket(bucketBlobs).ForEach(func(k, _ []byte) error {
		d := digest.Digest(k)
		if !live[d] {
			dead = append(dead, append([]byte(nil), k...))
			paths = append(paths, s.blobFile(d))
		}
		return nil
	})
	for _, k := range dead {
		if err := tx.Bucket(bucketBlobs).Delete(k); err != nil {
			return nil, nil, err
		}
	}
	return gone, paths, nil
}

func removeAll(paths []string) {
	for _, p := range paths {
		os.RemoveAll(p)
	}
}

// PruneReport is what Prune removed.
type PruneReport struct {
	Events    []RemoveEvent
	Reclaimed int64
}

// Prune removes dangling images (no tag, no digest, no child), or with all
// every image no container uses, then every layer, blob and file under the
// store's directories that no record names, and the layers kept for
// resuming interrupted pulls.
func (s *Store) Prune(all bool) (PruneReport, error) {
	var rep PruneReport
	var doomed []string
	before := s.diskBytes()
	err := s.update(func(tx *bolt.Tx) error {
		tags := tagsByImage(tx)
		var imgs []Image
		tx.Bucket(bucketImages).ForEach(func(k, v []byte) error {
			var img Image
			if json.Unmarshal(v, &img) == nil {
				imgs = append(imgs, img)
			}
			return nil
		})
		// Children first, so that a chain of dangling parents goes at once.
		for changed := true; changed; {
			changed = false
			for i, img := range imgs {
				if img.ID == "" || len(s.usersOf(tx, img.ID)) > 0 || len(childrenOf(tx, img.ID)) > 0 {
					continue
				}
				if !all && (len(tags[img.ID]) > 0 || len(img.RepoDigests) > 0) {
					continue
				}
				for _, t := range tags[img.ID] {
					tx.Bucket(bucketRefs).Delete([]byte(t))
					if tr, err := reference.Parse(t); err == nil {
						rep.Events = append(rep.Events, RemoveEvent{Untagged: tr.Familiar()})
					}
				}
				for _, rd := range img.RepoDigests {
					if dr, err := reference.Parse(rd); err == nil {
						rep.Events = append(rep.Events, RemoveEvent{Untagged: dr.Familiar()})
					}
				}
				if err := tx.Bucket(bucketImages).Delete([]byte(img.ID)); err != nil {
					return err
				}
				rep.Events = append(rep.Events, RemoveEvent{Deleted: img.ID})
				imgs[i].ID = ""
				changed = true
			}
		}
		gone, paths, err := s.collect(tx)
		if err != nil {
			return err
		}
		for _, d := range gone {
			rep.Events = append(rep.Events, RemoveEvent{Deleted: d})
		}
		doomed = append(paths, s.unrecorded(tx)...)
		return nil
	})
	if err != nil {
		return rep, err
	}
	removeAll(doomed)
	s.cleanKept(0)
	rep.Reclaimed = before - s.diskBytes()
	if rep.Reclaimed < 0 {
		rep.Reclaimed = 0
	}
	return rep, nil
}

// unrecorded lists files under blobs/ and layers/ that no record names:
// what a crash between a commit and its file removal leaves.
func (s *Store) unrecorded(tx *bolt.Tx) []string {
	var out []string
	for _, dir := range []struct {
		path   string
		bucket []byte
	}{{"blobs/sha256", bucketBlobs}, {"layers/sha256", bucketLayers}} {
		ents, _ := os.ReadDir(filepath.Join(s.root, dir.path))
		for _, e := range ents {
			if tx.Bucket(dir.bucket).Get([]byte("sha256:"+e.Name())) == nil {
				out = append(out, filepath.Join(s.root, dir.path, e.Name()))
			}
		}
	}
	return out
}

// diskBytes is the space the store's content takes.
func (s *Store) diskBytes() int64 {
	var n int64
	for _, d := range []string{"blobs", "layers"} {
		filepath.WalkDir(filepath.Join(s.root, d), func(p string, e os.DirEntry, err error) error {
			if err == nil && e.Type().IsRegular() {
				if fi, err := e.Info(); err == nil {
					n += fi.Size()
				}
			}
			return nil
		})
	}
	return n
}

// Problem is one thing Check found wrong.
type Problem struct {
	Path   string // file or record concerned
	Reason string
	Fixed  string // what repair did, if it ran
}

// Check re-hashes every stored blob, layer tar and index against its
// digest and checks that every image's config, manifest and layers are
// there. With repair it removes what is damaged (rebuilding an index from
// an intact tar), drops images whose content is lost, and removes files no
// record names.
func (s *Store) Check(repair bool) ([]Problem, error) {
	var probs []Problem
	run := s.view
	if repair {
		run = s.update
	}
	var doomed []string
	err := run(func(tx *bolt.Tx) error {
		bad := map[digest.Digest]bool{}
		// Layers: the tar against its diff ID, the index against its record.
		var layers []digest.Digest
		recs := map[digest.Digest]layerRecord{}
		tx.Bucket(bucketLayers).ForEach(func(k, v []byte) error {
			var rec layerRecord
			json.Unmarshal(v, &rec)
			layers = append(layers, digest.Digest(k))
			recs[digest.Digest(k)] = rec
			return nil
		})
		for _, d := range layers {
			if err := verifyFile(s.layerTarPath(d), d); err != nil {
				probs = append(probs, Problem{Path: s.layerTarPath(d), Reason: err.Error()})
				bad[d] = true
				continue
			}
			if err := verifyFile(s.layerIndexPath(d), recs[d].Index); err != nil {
				p := Problem{Path: s.layerIndexPath(d), Reason: err.Error()}
				if repair {
					if sum, err := s.rebuildIndex(d); err == nil {
						rec := recs[d]
						rec.Index = sum
						putJSON(tx, bucketLayers, string(d), rec)
						p.Fixed = "index rebuilt from layer.tar"
					} else {
						bad[d] = true
					}
				}
				probs = append(probs, p)
			}
		}
		var blobs []digest.Digest
		tx.Bucket(bucketBlobs).ForEach(func(k, _ []byte) error {
			blobs = append(blobs, digest.Digest(k))
			return nil
		})
		for _, d := range blobs {
			if err := verifyFile(s.blobFile(d), d); err != nil {
				probs = append(probs, Problem{Path: s.blobFile(d), Reason: err.Error()})
				bad[d] = true
			}
		}
		// Images whose content is damaged or missing.
		var imgs []Image
		tx.Bucket(bucketImages).ForEach(func(k, v []byte) error {
			var img Image
			if err := json.Unmarshal(v, &img); err != nil {
				probs = append(probs, Problem{Path: "image " + string(k), Reason: "corrupt record"})
				return nil
			}
			imgs = append(imgs, img)
			return nil
		})
		for _, img := range imgs {
			var missing []string
			if bad[img.ID] || !blobRecorded(tx, img.ID) {
				missing = append(missing, "config "+string(img.ID))
			}
			if img.Manifest.Digest != "" && (bad[img.Manifest.Digest] || !blobRecorded(tx, img.Manifest.Digest)) {
				missing = append(missing, "manifest "+string(img.Manifest.Digest))
			}
			for _, l := range img.Layers {
				if bad[l.DiffID] || tx.Bucket(bucketLayers).Get([]byte(l.DiffID)) == nil {
					missing = append(missing, "layer "+string(l.DiffID))
				}
			}
			if len(missing) == 0 {
				continue
			}
			p := Problem{Path: "image " + string(img.ID), Reason: fmt.Sprintf("missing or damaged: %v", missing)}
			if repair {
				for _, t := range tagsByImage(tx)[img.ID] {
					tx.Bucket(bucketRefs).Delete([]byte(t))
				}
				tx.Bucket(bucketImages).Delete([]byte(img.ID))
				p.Fixed = "image removed; load or pull it again"
			}
			probs = append(probs, p)
		}
		if repair {
			for d := range bad {
				tx.Bucket(bucketLayers).Delete([]byte(d))
				tx.Bucket(bucketBlobs).Delete([]byte(d))
			}
			for i := range probs {
				if probs[i].Fixed == "" && !isImageProblem(probs[i]) {
					probs[i].Fixed = "removed"
				}
			}
			_, paths, err := s.collect(tx)
			if err != nil {
				return err
			}
			doomed = append(paths, s.unrecorded(tx)...)
			for d := range bad {
				doomed = append(doomed, s.layerDir(d), s.blobFile(d))
			}
		} else {
			for _, p := range s.unrecorded(tx) {
				probs = append(probs, Problem{Path: p, Reason: "no record names it (left by an interrupted command)"})
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	removeAll(doomed)
	return probs, nil
}

func isImageProblem(p Problem) bool { return len(p.Path) > 6 && p.Path[:6] == "image " }

func verifyFile(p string, want digest.Digest) error {
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("missing")
		}
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := digest.NewDigest(digest.SHA256, h); got != want {
		return fmt.Errorf("%w: content is %s, want %s", ErrDigestMismatch, got, want)
	}
	return nil
}
