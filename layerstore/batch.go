package layerstore

import (
	"bufio"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/lfs-dev/lfs/layerstore/tarindex"
	digest "github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// Descriptor names content by digest, as OCI descriptors do.
type Descriptor struct {
	MediaType string        `json:"mediaType,omitempty"`
	Digest    digest.Digest `json:"digest"`
	Size      int64         `json:"size"`
}

// LayerRef is one layer of an image: its uncompressed tar (DiffID, Size)
// and the blob it arrived as (Blob.Digest == DiffID when uncompressed).
type LayerRef struct {
	DiffID digest.Digest `json:"diffID"`
	Size   int64         `json:"size"`
	Blob   Descriptor    `json:"blob"`
}

// Batch stages blobs, layers, images and tags in a private work area and
// makes them visible all at once with Commit. Adding is done without any
// lock, so several processes can stage concurrently. Within one process,
// AddLayer, AddBlob, SetImage and Tag may be called from several goroutines
// at once (a pull streams its layers in parallel); Commit and Abort run
// after they have all returned.
type Batch struct {
	s       *Store
	area    *WorkArea
	dir     string
	mu      sync.Mutex // guards n and the maps below while adding
	n       int
	blobs   map[digest.Digest]stagedBlob
	layers  map[digest.Digest]stagedLayer
	images  map[digest.Digest]Image
	tags    []tagOp
	records []recordOp
}

type stagedBlob struct {
	path string // "" when already stored
	desc Descriptor
}

type stagedLayer struct {
	dir    string // "" when already stored
	ref    LayerRef
	idxSum digest.Digest
	also   []Descriptor // other compressed forms of the same content
}

type tagOp struct {
	ref string
	id  digest.Digest
}

type recordOp struct {
	bucket, key string
	value       []byte
}

// NewBatch opens a work area under tmp/. Abort or Commit it.
func (s *Store) NewBatch() (*Batch, error) {
	area, err := s.NewWorkArea("batch-")
	if err != nil {
		return nil, err
	}
	return &Batch{s: s, area: area, dir: area.Dir,
		blobs:  map[digest.Digest]stagedBlob{},
		layers: map[digest.Digest]stagedLayer{},
		images: map[digest.Digest]Image{},
	}, nil
}

// WorkArea is a private directory under tmp/ that lives as long as its
// process holds it: the next writer of the store removes the work areas
// of dead processes.
type WorkArea struct {
	// Dir is the directory; everything in it goes with Close.
	Dir  string
	lock *os.File
}

// NewWorkArea makes a work area, its name starting with prefix.
func (s *Store) NewWorkArea(prefix string) (*WorkArea, error) {
	if s.readOnly {
		return nil, ErrReadOnly
	}
	dir, err := os.MkdirTemp(filepath.Join(s.root, "tmp"), prefix)
	if err != nil {
		return nil, fmt.Errorf("create work area: %w", err)
	}
	// The lock file appears under its final name only once it is locked:
	// a cleaner that can lock a work area's "lock" knows its owner is gone.
	lock, err := os.Create(filepath.Join(dir, "lock.new"))
	if err == nil {
		err = unix.Flock(int(lock.Fd()), unix.LOCK_EX)
	}
	if err == nil {
		err = os.Rename(filepath.Join(dir, "lock.new"), filepath.Join(dir, "lock"))
	}
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		os.RemoveAll(dir)
		return nil, fmt.Errorf("create work area: %w", err)
	}
	return &WorkArea{Dir: dir, lock: lock}, nil
}

// Close removes the work area. It is safe to call twice.
func (w *WorkArea) Close() {
	if w.lock != nil {
		w.lock.Close()
		w.lock = nil
		os.RemoveAll(w.Dir)
	}
}

// Abort removes everything staged. It is safe after Commit.
func (b *Batch) Abort() { b.area.Close() }

func (b *Batch) tempName(kind string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n++
	return filepath.Join(b.dir, kind+"-"+strconv.Itoa(b.n))
}

// AddBlob stages a small blob (a config or manifest). If want is set the
// bytes must hash to it.
func (b *Batch) AddBlob(data []byte, mediaType string, want digest.Digest) (Descriptor, error) {
	d := digest.FromBytes(data)
	if want != "" && want != d {
		return Descriptor{}, fmt.Errorf("blob %s: %w (content is %s)", want, ErrDigestMismatch, d)
	}
	desc := Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.blobs[d]; ok {
		return desc, nil
	}
	if b.s.hasBlob(d) {
		b.blobs[d] = stagedBlob{desc: desc}
		return desc, nil
	}
	b.n++
	p := filepath.Join(b.dir, "blob-"+strconv.Itoa(b.n))
	if err := writeFileSync(p, data); err != nil {
		return Descriptor{}, fmt.Errorf("stage blob %s: %w", d, err)
	}
	b.blobs[d] = stagedBlob{path: p, desc: desc}
	return desc, nil
}

// StagedBlob returns the bytes of a blob staged in this batch or stored.
func (b *Batch) StagedBlob(d digest.Digest) ([]byte, error) {
	b.mu.Lock()
	sb, ok := b.blobs[d]
	b.mu.Unlock()
	if ok && sb.path != "" {
		return os.ReadFile(sb.path)
	}
	return b.s.ReadBlob(d)
}

// AddLayer stages a layer blob read from r: a tar, plain or compressed with
// gzip, zstd or bzip2. The blob is hashed, decompressed, written and
// indexed in one pass. If want is set the blob must hash to it. mediaType
// may be empty; it is then derived from the compression.
func (b *Batch) AddLayer(r io.Reader, want digest.Digest, mediaType string) (LayerRef, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	magic, _ := br.Peek(6)
	comp := DetectCompression(magic)
	if mediaType == "" {
		mediaType = comp.MediaType()
	}
	dir := b.tempName("layer")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return LayerRef{}, fmt.Errorf("stage layer: %w", err)
	}
	blobPath := ""
	fail := func(err error) (LayerRef, error) {
		os.RemoveAll(dir)
		if blobPath != "" {
			os.Remove(blobPath)
		}
		return LayerRef{}, err
	}

	// The compressed side: hashed, and kept unless told not to, by the
	// tee's writer goroutine while the decompressor reads the same chunks.
	blobHash := sha256.New()
	var blobSize counter
	var ctee *teeReader
	var src io.Reader = br
	if comp != Uncompressed {
		var blobF *os.File
		if b.s.keepCompressed {
			blobPath = b.tempName("blob")
			f, err := os.Create(blobPath)
			if err != nil {
				return fail(fmt.Errorf("stage layer: %w", err))
			}
			blobF = f
		}
		ctee = newTeeReader(br, blobF, io.MultiWriter(blobHash, &blobSize))
		src = ctee
	}
	dec, err := Decompress(comp, src)
	if err != nil {
		if ctee != nil {
			ctee.Close()
		}
		return fail(err)
	}

	// The uncompressed side: written and hashed in the background while
	// this goroutine indexes; the indexer seeks past file data.
	tarF, err := os.Create(filepath.Join(dir, "layer.tar"))
	if err != nil {
		dec.Close()
		if ctee != nil {
			ctee.Close()
		}
		return fail(fmt.Errorf("stage layer: %w", err))
	}
	diffHash := sha256.New()
	var tarSize counter
	utee := newTeeReader(dec, tarF, io.MultiWriter(diffHash, &tarSize))

	idx, ierr := tarindex.Build(utee)
	if ierr == nil {
		// The tar's trailing padding, and for compressed blobs the end of
		// the stream, where gzip keeps its checksum.
		ierr = utee.Drain()
	}
	dec.Close()
	if ierr == nil && ctee != nil {
		ierr = ctee.Drain()
	}
	werr := utee.Close()
	if ctee != nil {
		if err := ctee.Close(); werr == nil {
			werr = err
		}
	}
	if ierr != nil {
		return fail(layerError(comp, ierr))
	}
	if werr != nil {
		return fail(fmt.Errorf("stage layer: %w", werr))
	}
	if tarSize.n%512 != 0 {
		// archive/tar reads a tar cut inside its last padding as a clean end.
		return fail(fmt.Errorf("%s layer: %w: truncated tar (%d bytes is not a whole number of 512-byte blocks)", comp, ErrCorrupt, tarSize.n))
	}
	diffID := digest.NewDigest(digest.SHA256, diffHash)
	blobDigest := diffID
	size := blobSize.n
	if comp != Uncompressed {
		blobDigest = digest.NewDigest(digest.SHA256, blobHash)
	} else {
		size = tarSize.n
	}
	if want != "" && want != blobDigest {
		return fail(fmt.Errorf("layer %s: %w (content is %s)", want, ErrDigestMismatch, blobDigest))
	}
	ref := LayerRef{DiffID: diffID, Size: tarSize.n, Blob: Descriptor{MediaType: mediaType, Digest: blobDigest, Size: size}}

	b.mu.Lock()
	defer b.mu.Unlock()
	if prev, ok := b.layers[diffID]; ok || b.s.hasLayer(diffID) {
		// Stored or staged already: keep only a compressed form we lack.
		os.RemoveAll(dir)
		if blobPath != "" && !b.s.hasBlob(blobDigest) {
			if _, dup := b.blobs[blobDigest]; !dup {
				b.blobs[blobDigest] = stagedBlob{path: blobPath, desc: ref.Blob}
			}
		}
		if !ok {
			b.layers[diffID] = stagedLayer{ref: ref}
		} else {
			prev.also = append(prev.also, ref.Blob)
			b.layers[diffID] = prev
		}
		return ref, nil
	}

	idxSum, err := writeIndex(filepath.Join(dir, "index"), idx)
	if err != nil {
		return fail(fmt.Errorf("stage layer %s: %w", diffID, err))
	}
	if err := syncDir(dir); err != nil {
		return fail(err)
	}
	if blobPath != "" {
		b.blobs[blobDigest] = stagedBlob{path: blobPath, desc: ref.Blob}
	}
	b.layers[diffID] = stagedLayer{dir: dir, ref: ref, idxSum: idxSum}
	return ref, nil
}

func layerError(c Compression, err error) error {
	if errors.Is(err, tarindex.ErrUnsafePath) || errors.Is(err, tarindex.ErrBadLink) ||
		errors.Is(err, tarindex.ErrSparse) || errors.Is(err, tarindex.ErrUnsupported) {
		return fmt.Errorf("layer tar: %w", err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s layer: %w: truncated", c, ErrCorrupt)
	}
	return fmt.Errorf("%s layer: %w: %v", c, ErrCorrupt, err)
}

// writeIndex writes idx to p, fsynced, and returns its digest.
func writeIndex(p string, idx *tarindex.Index) (digest.Digest, error) {
	f, err := os.Create(p)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	if _, err := idx.WriteTo(bw); err != nil {
		f.Close()
		return "", err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", err
	}
	return digest.NewDigest(digest.SHA256, h), f.Close()
}

// SetImage stages an image record. Its config must be staged or stored, and
// each of its layers too.
func (b *Batch) SetImage(img Image) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.images[img.ID] = img
}

// Tag stages pointing the full reference ref (reference.Ref.String()) at id.
func (b *Batch) Tag(ref string, id digest.Digest) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tags = append(b.tags, tagOp{ref, id})
}

// Record stages putting key = value in another package's bucket of
// meta.db (see Store.UpdateBucket), written in the same transaction as
// the images, so a record never names an image that is not there yet.
// The store's own buckets are refused.
func (b *Batch) Record(bucket, key string, value []byte) error {
	if err := foreignBucket(bucket); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.records = append(b.records, recordOp{bucket, key, append([]byte(nil), value...)})
	return nil
}

// Commit makes the batch visible: under the store lock it journals the
// renames, moves staged files into place, then records layers, blobs,
// images, tags and records in one transaction. It returns ErrNotFound if an image
// names a layer or config that is neither staged nor stored (another
// process may have removed it meanwhile). The batch is done afterwards.
func (b *Batch) Commit() error {
	defer b.Abort()
	err := b.s.withLock(func(db *bolt.DB) error {
		return b.commit(db)
	})
	if err == nil {
		b.s.dropKept(b.layers)
	}
	return err
}

func (b *Batch) commit(db *bolt.DB) error {
	// What to move: staged files whose content is not stored yet.
	var journal []string
	err := db.View(func(tx *bolt.Tx) error {
		for d, l := range b.layers {
			if l.dir != "" && tx.Bucket(bucketLayers).Get([]byte(d)) == nil {
				journal = append(journal, "layer "+string(d))
			}
		}
		for d, sb := range b.blobs {
			if sb.path != "" && !blobRecorded(tx, d) {
				journal = append(journal, "blob "+string(d))
			}
		}
		for _, img := range b.images {
			if _, ok := b.blobs[img.ID]; !ok && !blobRecorded(tx, img.ID) {
				return fmt.Errorf("config %s: %w", img.ID, ErrNotFound)
			}
			for _, l := range img.Layers {
				if _, ok := b.layers[l.DiffID]; !ok && tx.Bucket(bucketLayers).Get([]byte(l.DiffID)) == nil {
					return fmt.Errorf("layer %s: %w", l.DiffID, ErrNotFound)
				}
			}
		}
		for _, t := range b.tags {
			if _, ok := b.images[t.id]; !ok && tx.Bucket(bucketImages).Get([]byte(t.id)) == nil {
				return fmt.Errorf("image %s: %w", t.id, ErrNotFound)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(journal) > 0 {
		err := db.Update(func(tx *bolt.Tx) error {
			for _, k := range journal {
				if err := tx.Bucket(bucketPending).Put([]byte(k), nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("journal: %w", err)
		}
	}
	slog.Debug("commit", "layers", len(b.layers), "blobs", len(b.blobs), "images", len(b.images), "tags", len(b.tags), "new-files", len(journal))
	moved := map[string]bool{}
	for _, k := range journal {
		moved[k] = true
	}
	for d, l := range b.layers {
		if !moved["layer "+string(d)] {
			continue
		}
		dst := b.s.layerDir(d)
		os.RemoveAll(dst) // an unrecorded leftover
		if err := os.Rename(l.dir, dst); err != nil {
			return fmt.Errorf("store layer %s: %w", d, err)
		}
	}
	for d, sb := range b.blobs {
		if !moved["blob "+string(d)] {
			continue
		}
		if err := os.Rename(sb.path, b.s.blobFile(d)); err != nil {
			return fmt.Errorf("store blob %s: %w", d, err)
		}
	}
	if len(journal) > 0 {
		syncDir(filepath.Join(b.s.root, "layers", "sha256"))
		syncDir(filepath.Join(b.s.root, "blobs", "sha256"))
	}
	return db.Update(func(tx *bolt.Tx) error {
		for d, l := range b.layers {
			rec, err := getLayerRecord(tx, d)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
			if err != nil {
				rec = layerRecord{Size: l.ref.Size, Index: l.idxSum}
			}
			for _, bd := range append([]Descriptor{l.ref.Blob}, l.also...) {
				if _, staged := b.blobs[bd.Digest]; bd.Digest != d && (staged || blobRecorded(tx, bd.Digest)) {
					rec.addBlob(bd)
				}
			}
			if err := putJSON(tx, bucketLayers, string(d), rec); err != nil {
				return err
			}
		}
		for d, sb := range b.blobs {
			if err := putJSON(tx, bucketBlobs, string(d), sb.desc); err != nil {
				return err
			}
		}
		now := time.Now().UTC()
		for _, img := range b.images {
			if old, err := getImage(tx, img.ID); err == nil {
				img.RepoDigests = mergeStrings(old.RepoDigests, img.RepoDigests)
				if img.Parent == "" {
					img.Parent = old.Parent
				}
				img.LastTagTime = old.LastTagTime
			}
			if err := putJSON(tx, bucketImages, string(img.ID), img); err != nil {
				return err
			}
		}
		for _, t := range b.tags {
			if err := tx.Bucket(bucketRefs).Put([]byte(t.ref), []byte(t.id)); err != nil {
				return err
			}
			if img, err := getImage(tx, t.id); err == nil {
				img.LastTagTime = now
				if err := putJSON(tx, bucketImages, string(img.ID), img); err != nil {
					return err
				}
			}
		}
		for _, r := range b.records {
			bk, err := tx.CreateBucketIfNotExists([]byte(r.bucket))
			if err != nil {
				return fmt.Errorf("bucket %s: %w", r.bucket, err)
			}
			if err := bk.Put([]byte(r.key), r.value); err != nil {
				return err
			}
		}
		for _, k := range journal {
			if err := tx.Bucket(bucketPending).Delete([]byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
}

func mergeStrings(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, s := range b {
		found := false
		for _, t := range out {
			found = found || t == s
		}
		if !found {
			out = append(out, s)
		}
	}
	return out
}

type layerRecord struct {
	Size  int64         `json:"size"`
	Index digest.Digest `json:"index"`
	Blobs []Descriptor  `json:"blobs,omitempty"` // stored compressed forms
}

func (r *layerRecord) addBlob(d Descriptor) {
	for _, b := range r.Blobs {
		if b.Digest == d.Digest {
			return
		}
	}
	r.Blobs = append(r.Blobs, d)
}

func getLayerRecord(tx *bolt.Tx, diffID digest.Digest) (layerRecord, error) {
	var rec layerRecord
	v := tx.Bucket(bucketLayers).Get([]byte(diffID))
	if v == nil {
		return rec, fmt.Errorf("layer %s: %w", diffID, ErrNotFound)
	}
	return rec, json.Unmarshal(v, &rec)
}

func blobRecorded(tx *bolt.Tx, d digest.Digest) bool {
	return tx.Bucket(bucketBlobs).Get([]byte(d)) != nil
}

func putJSON(tx *bolt.Tx, bucket []byte, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Bucket(bucket).Put([]byte(key), data)
}

func (s *Store) hasBlob(d digest.Digest) bool {
	_, err := os.Stat(s.blobFile(d))
	return err == nil
}

func (s *Store) hasLayer(diffID digest.Digest) bool {
	_, err := os.Stat(s.layerIndexPath(diffID))
	return err == nil
}

func writeFileSync(p string, data []byte) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }
