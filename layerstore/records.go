package layerstore

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Other packages keep their own records in meta.db, beside the images, so
// that one lock orders both: the runtime's "containers" bucket (see
// usersOf) is read by Remove in the same transaction that deletes an image.

// ViewBucket runs fn on the named bucket of meta.db in a read transaction
// (a shared lock). fn gets nil when the bucket has never been written.
// The store's own buckets are refused.
func (s *Store) ViewBucket(name string, fn func(b *bolt.Bucket) error) error {
	if err := foreignBucket(name); err != nil {
		return err
	}
	return s.view(func(tx *bolt.Tx) error { return fn(tx.Bucket([]byte(name))) })
}

// UpdateBucket runs fn on the named bucket of meta.db, created if missing,
// in one write transaction under the store lock: what fn reads it may
// change without another process changing it meanwhile. An error from fn
// rolls the transaction back and is returned as is.
func (s *Store) UpdateBucket(name string, fn func(b *bolt.Bucket) error) error {
	if err := foreignBucket(name); err != nil {
		return err
	}
	return s.update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(name))
		if err != nil {
			return fmt.Errorf("bucket %s: %w", name, err)
		}
		return fn(b)
	})
}

func foreignBucket(name string) error {
	for _, b := range [][]byte{bucketImages, bucketRefs, bucketLayers, bucketBlobs, bucketPending} {
		if string(b) == name {
			return fmt.Errorf("bucket %s belongs to the layer store: %w", name, ErrConflict)
		}
	}
	if name == "" {
		return fmt.Errorf("bucket name is empty: %w", ErrConflict)
	}
	return nil
}
