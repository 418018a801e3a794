//go:build unix

package tarindex

import (
	"os"
	"syscall"
)

// mapFile maps f read-only. MAP_SHARED, not MAP_PRIVATE: the index is never
// written through the mapping, and sharing lets every Reader of one index use
// the same page-cache pages.
func mapFile(f *os.File, size int) ([]byte, func() error, error) {
	b, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return b, func() error { return syscall.Munmap(b) }, nil
}
