package unionfs

import (
	"errors"
	"io"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// File is an open regular file of the union: a lower layer's data, read
// only, or an upper file. A lower File follows its entry's copy-up (see
// [FS.Follow]), so that a descriptor opened for reading before a write
// through another one sees the new data, as on overlayfs since Linux 4.19.
type File struct {
	lower Data
	up    atomic.Pointer[os.File]
}

func upperFile(up *os.File) *File {
	h := &File{}
	h.up.Store(up)
	return h
}

// ReadAt reads as pread(2) does: a short count at the end, no io.EOF.
func (h *File) ReadAt(p []byte, off int64) (int, error) {
	var n int
	var err error
	if up := h.up.Load(); up != nil {
		n, err = up.ReadAt(p, off)
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
	up := h.up.Load()
	if up == nil || h.lower != nil {
		return 0, ErrReadOnly
	}
	n, err := unix.Pwrite(int(up.Fd()), p, off)
	if err != nil {
		return 0, &os.PathError{Op: "write", Path: up.Name(), Err: err}
	}
	return n, nil
}

// Upper returns the upper file, nil while the file reads a lower layer.
func (h *File) Upper() *os.File { return h.up.Load() }

// Lower returns the lower data, nil once the file reads the upper.
func (h *File) Lower() Data {
	if h.up.Load() != nil {
		return nil
	}
	return h.lower
}

// Sync flushes an upper file to disk.
func (h *File) Sync() error {
	if up := h.up.Load(); up != nil {
		return up.Sync()
	}
	return nil
}

// Close releases the file.
func (h *File) Close() error {
	var err error
	if up := h.up.Load(); up != nil {
		err = up.Close()
	}
	if h.lower != nil {
		if e := h.lower.Close(); err == nil {
			err = e
		}
	}
	return err
}

// Follow moves h, a File opened on a lower entry, to the entry's upper
// copy once n (the entry, freshly resolved) shows one. It is a no-op
// otherwise, and cheap enough for every read.
func (f *FS) Follow(h *File, n *Node) error {
	if h.lower == nil || h.up.Load() != nil || !n.InUpper() || n.Type != TypeReg {
		return nil
	}
	fd, err := openBeneath(f.upper.fd, n.Path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: n.Path, Err: err}
	}
	up := os.NewFile(uintptr(fd), n.Path)
	if !h.up.CompareAndSwap(nil, up) {
		up.Close()
	}
	return nil
}
