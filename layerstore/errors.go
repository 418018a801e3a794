package layerstore

import "errors"

// Sentinels, checked with errors.Is. Errors carry the name or digest they
// are about in their message.
var (
	// ErrNotFound: no image, layer or blob by that name or digest.
	ErrNotFound = errors.New("not found")
	// ErrAmbiguous: an ID prefix matches more than one image.
	ErrAmbiguous = errors.New("ambiguous image ID prefix")
	// ErrDigestMismatch: content does not hash to the digest it was promised.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrInUse: the image is used by a container or is the parent of another image.
	ErrInUse = errors.New("in use")
	// ErrConflict: the image has several tags, or another concurrent change won.
	ErrConflict = errors.New("conflict")
	// ErrCorrupt: an archive, stream or stored file is damaged.
	ErrCorrupt = errors.New("corrupt")
	// ErrReadOnly: the store was opened read-only.
	ErrReadOnly = errors.New("store is read-only")
)
