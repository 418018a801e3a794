// Package layerstore is lfs's content-addressed store of tar-backed layers
// and images.
//
// Layout under the root directory:
//
//	blobs/sha256/HEX              compressed layer blobs as they arrived, configs, manifests
//	layers/sha256/DIFFID/layer.tar the uncompressed layer tar, byte for byte as it came
//	layers/sha256/DIFFID/index    its tarindex, built once at import
//	meta.db                       bbolt: images, refs, layers, pending renames
//	tmp/                          work areas of running writers
//	tmp/partial/BLOBHEX/          layers a pull completed but did not commit (resume.go)
//
// Invariants: a file under blobs/ or layers/ is complete and verified (it is
// written under tmp/, hashed while written, fsynced and renamed into
// place); it is reachable only once meta.db names it. Writers stage
// everything in a Batch and commit it under the database lock, journalling
// the renames first, so a writer killed at any point leaves either its whole
// change or nothing: the next writer removes journalled files no record
// names and work areas of dead processes. Readers never write, so a read-only
// root (roadmap: a shared store on a cluster filesystem) needs nothing but
// read access.
//
// An uncompressed layer's blob is its layer.tar; it is not stored twice.
package layerstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// Store is an open layer store. It holds no file open between calls: every
// call opens the metadata database for as long as it needs it, so any
// number of processes can share one root.
type Store struct {
	root           string
	readOnly       bool
	keepCompressed bool
	lockTimeout    time.Duration
}

// Option configures Open.
type Option func(*Store)

// ReadOnly opens the store for reading only: nothing is created or cleaned.
func ReadOnly() Option { return func(s *Store) { s.readOnly = true } }

// KeepCompressed says whether compressed layer blobs are kept beside the
// uncompressed tar (the default) so saves and pushes reproduce their digests.
func KeepCompressed(keep bool) Option { return func(s *Store) { s.keepCompressed = keep } }

// LockTimeout bounds how long a call waits for another process's lock.
func LockTimeout(d time.Duration) Option { return func(s *Store) { s.lockTimeout = d } }

var (
	bucketImages  = []byte("images")
	bucketRefs    = []byte("refs")
	bucketLayers  = []byte("layers")
	bucketBlobs   = []byte("blobs")
	bucketPending = []byte("pending")
)

// Open opens (creating if needed) the store at root.
func Open(root string, opts ...Option) (*Store, error) {
	s := &Store{root: root, keepCompressed: true, lockTimeout: 60 * time.Second}
	for _, o := range opts {
		o(s)
	}
	if s.readOnly {
		if _, err := os.Stat(root); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		return s, nil
	}
	for _, d := range []string{"blobs/sha256", "layers/sha256", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	return s, nil
}

// Root is the store's directory.
func (s *Store) Root() string { return s.root }

// KeepsCompressed reports the keep-compressed setting.
func (s *Store) KeepsCompressed() bool { return s.keepCompressed }

func (s *Store) dbPath() string { return filepath.Join(s.root, "meta.db") }

// BlobPath is where a stored blob's bytes are. An uncompressed layer's blob
// is its layer.tar.
func (s *Store) BlobPath(d digest.Digest) string {
	p := filepath.Join(s.root, "blobs", d.Algorithm().String(), d.Encoded())
	if _, err := os.Stat(p); err != nil {
		lp := s.layerTarPath(d)
		if _, err := os.Stat(lp); err == nil {
			return lp
		}
	}
	return p
}

func (s *Store) blobFile(d digest.Digest) string {
	return filepath.Join(s.root, "blobs", d.Algorithm().String(), d.Encoded())
}

func (s *Store) layerDir(diffID digest.Digest) string {
	return filepath.Join(s.root, "layers", diffID.Algorithm().String(), diffID.Encoded())
}

func (s *Store) layerTarPath(diffID digest.Digest) string {
	return filepath.Join(s.layerDir(diffID), "layer.tar")
}

func (s *Store) layerIndexPath(diffID digest.Digest) string {
	return filepath.Join(s.layerDir(diffID), "index")
}

// view runs fn in a read transaction (a shared lock on meta.db).
func (s *Store) view(fn func(tx *bolt.Tx) error) error {
	if _, err := os.Stat(s.dbPath()); errors.Is(err, os.ErrNotExist) && !s.readOnly {
		if err := s.update(func(*bolt.Tx) error { return nil }); err != nil {
			return err
		}
	}
	db, err := bolt.Open(s.dbPath(), 0o600, &bolt.Options{ReadOnly: true, Timeout: s.lockTimeout})
	if err != nil {
		return fmt.Errorf("open metadata: %w", err)
	}
	defer db.Close()
	return db.View(fn)
}

var errMissingBucket = errors.New("missing bucket")

func createBuckets(tx *bolt.Tx) error {
	for _, b := range [][]byte{bucketImages, bucketRefs, bucketLayers, bucketBlobs, bucketPending} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}

// withLock opens the database for writing, which takes the store lock (an
// exclusive flock on meta.db) until fn returns. It first finishes what a
// killed writer left: journalled renames no record names, and work areas of
// dead processes.
func (s *Store) withLock(fn func(db *bolt.DB) error) error {
	if s.readOnly {
		return ErrReadOnly
	}
	db, err := bolt.Open(s.dbPath(), 0o600, &bolt.Options{Timeout: s.lockTimeout})
	if err != nil {
		return fmt.Errorf("open metadata: %w", err)
	}
	defer db.Close()
	// A write transaction costs two fdatasyncs even when it changes
	// nothing: the buckets are made only when one is missing.
	if err := db.View(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketImages, bucketRefs, bucketLayers, bucketBlobs, bucketPending} {
			if tx.Bucket(b) == nil {
				return errMissingBucket
			}
		}
		return nil
	}); err != nil {
		if err := db.Update(createBuckets); err != nil {
			return fmt.Errorf("open metadata: %w", err)
		}
	}
	if err := s.recover(db); err != nil {
		return err
	}
	return fn(db)
}

func (s *Store) update(fn func(tx *bolt.Tx) error) error {
	return s.withLock(func(db *bolt.DB) error { return db.Update(fn) })
}

// recover removes files a killed writer renamed into place but never
// recorded. Called with the lock held, so no writer is between its journal
// and its commit.
func (s *Store) recover(db *bolt.DB) error {
	var stale []string
	err := db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPending).ForEach(func(k, _ []byte) error {
			stale = append(stale, string(k))
			return nil
		})
	})
	if err != nil || len(stale) == 0 {
		s.cleanTmp()
		return err
	}
	return db.Update(func(tx *bolt.Tx) error {
		for _, k := range stale {
			kind, dg, _ := strings.Cut(k, " ")
			d := digest.Digest(dg)
			switch kind {
			case "layer":
				if tx.Bucket(bucketLayers).Get([]byte(d)) == nil {
					os.RemoveAll(s.layerDir(d))
				}
			case "blob":
				if !blobRecorded(tx, d) {
					os.Remove(s.blobFile(d))
				}
			}
			if err := tx.Bucket(bucketPending).Delete([]byte(k)); err != nil {
				return err
			}
		}
		s.cleanTmp()
		return nil
	})
}

// cleanTmp removes work areas whose owner is gone: each holds a flock on
// its "lock" file for as long as its process lives. The resume area
// (resume.go) keeps its entries for a while.
func (s *Store) cleanTmp() {
	dir := filepath.Join(s.root, "tmp")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if e.Name() == "partial" {
			s.cleanKept(resumeTTL)
			continue
		}
		f, err := os.Open(filepath.Join(p, "lock"))
		if err != nil {
			// A work area without its lock file is one being created right
			// now or one half-removed; only remove those old enough.
			if fi, err := os.Stat(p); err == nil && time.Since(fi.ModTime()) > time.Hour {
				os.RemoveAll(p)
			}
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			os.RemoveAll(p)
		}
		f.Close()
	}
}
