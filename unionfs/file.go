package unionfs

import (
	"errors"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// File is an open regular file of the union: a lower layer's data, read
// only, or an upper file. A File opened before its entry was copied up
// keeps reading the lower data.
type File struct {
	lower Data
	up    *os.File
}

// ReadAt reads as pread(2) does: a short count at the end, no io.EOF.
func (h *File) ReadAt(p []byte, off int64) (int, error) {
	var n int
	var err error
	if h.up != nil {
		n, err = h.up.ReadAt(p, off)
	} else {
		n, err = h.lower.ReadAt(p, off)
	}
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}

// WriteAt writes to an upper file as pwrite(2) does: a file opened with
// O_APPEND takes the data at its end whatever off says. A lower file
// answers ErrReadOnly.
func (h *File) WriteAt(p []byte, off int64) (int, error) {
	if h.up == nil {
		return 0, ErrReadOnly
	}
	n, err := unix.Pwrite(int(h.up.Fd()), p, off)
	if err != nil {
		return 0, &os.PathError{Op: "write", Path: h.up.Name(), Err: err}
	}
	return n, nil
}

// Upper returns the upper file, nil for a lower one.
func (h *File) Upper() *os.File { return h.up }

// Lower returns the lower data, nil for an upper file.
func (h *File) Lower() Data { return h.lower }

// Sync flushes an upper file to disk.
func (h *File) Sync() error {
	if h.up == nil {
		return nil
	}
	return h.up.Sync()
}

// Close releases the file.
func (h *File) Close() error {
	if h.up != nil {
		return h.up.Close()
	}
	return h.lower.Close()
}
