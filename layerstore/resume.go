package layerstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
)

// The resume area, tmp/partial/, keeps layers a batch staged and verified
// but has not committed yet, so that a pull that is killed or fails does
// not download them again: each entry, tmp/partial/BLOBHEX/, holds hard
// links to the staged layer.tar, index and compressed blob, and meta.json
// (the LayerRef and the index digest). It is not part of the store: no
// record names it, nothing reads it but Resume, and a commit removes the
// entries of the layers it stored. An entry appears by a rename of a
// complete directory, so it is whole or absent; entries unused for
// resumeTTL go with the next writer's cleanup, and Prune removes them all.
const resumeTTL = 24 * time.Hour

type keptLayer struct {
	Ref     LayerRef      `json:"ref"`
	Index   digest.Digest `json:"index"`
	HasBlob bool          `json:"hasBlob"` // a compressed blob file is kept too
}

func (s *Store) resumeDir() string { return filepath.Join(s.root, "tmp", "partial") }

func (s *Store) keptDir(blob digest.Digest) string {
	return filepath.Join(s.resumeDir(), blob.Encoded())
}

// Keep puts the layer AddLayer staged as ref into the resume area, where a
// later batch finds it with Resume if this one never commits. A layer the
// store holds already, or one kept before, is left as it is.
func (b *Batch) Keep(ref LayerRef) error {
	b.mu.Lock()
	l, ok := b.layers[ref.DiffID]
	sb, hasBlob := b.blobs[ref.Blob.Digest]
	b.mu.Unlock()
	if !ok || l.dir == "" || ref.Blob.Digest.Validate() != nil {
		return nil
	}
	if _, err := os.Stat(b.s.keptDir(ref.Blob.Digest)); err == nil {
		return nil
	}
	if err := os.MkdirAll(b.s.resumeDir(), 0o700); err != nil {
		return fmt.Errorf("keep layer %s: %w", ref.DiffID, err)
	}
	tmp, err := os.MkdirTemp(b.s.resumeDir(), ".new-")
	if err != nil {
		return fmt.Errorf("keep layer %s: %w", ref.DiffID, err)
	}
	k := keptLayer{Ref: ref, Index: l.idxSum, HasBlob: hasBlob && sb.path != "" && ref.Blob.Digest != ref.DiffID}
	err = os.Link(filepath.Join(l.dir, "layer.tar"), filepath.Join(tmp, "layer.tar"))
	if err == nil {
		err = os.Link(filepath.Join(l.dir, "index"), filepath.Join(tmp, "index"))
	}
	if err == nil && k.HasBlob {
		err = os.Link(sb.path, filepath.Join(tmp, "blob"))
	}
	if err == nil {
		var meta []byte
		if meta, err = json.Marshal(k); err == nil {
			err = writeFileSync(filepath.Join(tmp, "meta.json"), meta)
		}
	}
	if err == nil {
		err = syncDir(tmp)
	}
	if err == nil {
		if err = os.Rename(tmp, b.s.keptDir(ref.Blob.Digest)); err != nil && errors.Is(err, os.ErrExist) {
			err = nil // another process kept it first
		}
	}
	if err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("keep layer %s: %w", ref.DiffID, err)
	}
	return nil
}

// Resume stages the layer whose blob is blob from the resume area, as
// AddLayer would have staged it, and reports whether there was one.
func (b *Batch) Resume(blob digest.Digest) (LayerRef, bool) {
	if blob.Validate() != nil {
		return LayerRef{}, false
	}
	src := b.s.keptDir(blob)
	data, err := os.ReadFile(filepath.Join(src, "meta.json"))
	if err != nil {
		return LayerRef{}, false
	}
	var k keptLayer
	if json.Unmarshal(data, &k) != nil || k.Ref.Blob.Digest != blob || k.Ref.DiffID.Validate() != nil {
		return LayerRef{}, false
	}
	if fi, err := os.Stat(filepath.Join(src, "layer.tar")); err != nil || fi.Size() != k.Ref.Size {
		return LayerRef{}, false
	}
	dir := b.tempName("layer")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return LayerRef{}, false
	}
	blobPath := ""
	err = os.Link(filepath.Join(src, "layer.tar"), filepath.Join(dir, "layer.tar"))
	if err == nil {
		err = os.Link(filepath.Join(src, "index"), filepath.Join(dir, "index"))
	}
	if err == nil && k.HasBlob && b.s.keepCompressed {
		blobPath = b.tempName("blob")
		err = os.Link(filepath.Join(src, "blob"), blobPath)
	}
	if err != nil {
		os.RemoveAll(dir)
		if blobPath != "" {
			os.Remove(blobPath)
		}
		return LayerRef{}, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.layers[k.Ref.DiffID]; ok || b.s.hasLayer(k.Ref.DiffID) {
		os.RemoveAll(dir)
		if blobPath != "" {
			os.Remove(blobPath)
		}
		return LayerRef{}, false
	}
	if blobPath != "" {
		b.blobs[blob] = stagedBlob{path: blobPath, desc: k.Ref.Blob}
	}
	b.layers[k.Ref.DiffID] = stagedLayer{dir: dir, ref: k.Ref, idxSum: k.Index}
	return k.Ref, true
}

// dropKept removes the resume entries of layers now stored.
func (s *Store) dropKept(layers map[digest.Digest]stagedLayer) {
	for _, l := range layers {
		if l.ref.Blob.Digest.Validate() == nil {
			os.RemoveAll(s.keptDir(l.ref.Blob.Digest))
		}
		for _, d := range l.also {
			if d.Digest.Validate() == nil {
				os.RemoveAll(s.keptDir(d.Digest))
			}
		}
	}
}

// cleanKept removes resume entries older than ttl (all of them for ttl 0),
// and entries half made by a process that died before renaming them.
func (s *Store) cleanKept(ttl time.Duration) {
	ents, err := os.ReadDir(s.resumeDir())
	if err != nil {
		return
	}
	for _, e := range ents {
		p := filepath.Join(s.resumeDir(), e.Name())
		fi, err := e.Info()
		if err != nil {
			continue
		}
		age := time.Since(fi.ModTime())
		if ttl == 0 || age > ttl || strings.HasPrefix(e.Name(), ".new-") && age > time.Hour {
			os.RemoveAll(p)
		}
	}
}
