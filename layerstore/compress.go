package layerstore

import (
	"bytes"
	"compress/bzip2"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
)

// Compression is how a blob's bytes are compressed.
type Compression int

const (
	Uncompressed Compression = iota
	Gzip
	Zstd
	Bzip2
	Xz
)

func (c Compression) String() string {
	return [...]string{"uncompressed", "gzip", "zstd", "bzip2", "xz"}[c]
}

// MediaType is the OCI layer media type for a layer so compressed.
func (c Compression) MediaType() string {
	switch c {
	case Gzip:
		return MediaTypeLayerGzip
	case Zstd:
		return MediaTypeLayerZstd
	}
	return MediaTypeLayer
}

// OCI media types lfs writes.
const (
	MediaTypeLayer     = "application/vnd.oci.image.layer.v1.tar"
	MediaTypeLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
	MediaTypeLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
	MediaTypeConfig    = "application/vnd.oci.image.config.v1+json"
	MediaTypeManifest  = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeIndex     = "application/vnd.oci.image.index.v1+json"
)

// DetectCompression looks at a blob's first bytes.
func DetectCompression(magic []byte) Compression {
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		return Gzip
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return Zstd
	case bytes.HasPrefix(magic, []byte("BZh")):
		return Bzip2
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return Xz
	}
	return Uncompressed
}

// Decompress returns a reader of r's uncompressed bytes. Close releases its
// goroutines; it does not close r.
func Decompress(c Compression, r io.Reader) (io.ReadCloser, error) {
	switch c {
	case Gzip:
		// pgzip inflates ahead of the reader in its own goroutine, so
		// inflating overlaps with hashing and writing.
		zr, err := pgzip.NewReaderN(r, 1<<20, 4)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w: %w", ErrCorrupt, err)
		}
		return zr, nil
	case Zstd:
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(2), zstd.WithDecoderMaxWindow(1<<30))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w: %w", ErrCorrupt, err)
		}
		return zr.IOReadCloser(), nil
	case Bzip2:
		return io.NopCloser(bzip2.NewReader(r)), nil
	case Xz:
		return nil, fmt.Errorf("xz-compressed layers are not supported")
	}
	return io.NopCloser(r), nil
}
