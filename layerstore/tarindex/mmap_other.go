//go:build !unix

package tarindex

import (
	"io"
	"os"
)

// mapFile reads f into memory where mmap is not available; the index is
// still only validated, never parsed, at Open.
func mapFile(f *os.File, size int) ([]byte, func() error, error) {
	b := make([]byte, size)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, nil, err
	}
	return b, func() error { return nil }, nil
}
