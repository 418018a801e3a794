package container

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// WriteLayer writes the upper directory as an OCI layer tar: PAX, entries
// in lexical order parents first, whiteouts as ".wh.NAME" and opaque
// directories with ".wh..wh..opq" entries (overlayfs's character devices
// and opaque xattrs translated too), the work area left out, owner, mode,
// times and xattrs kept (lfs's and overlayfs's own xattrs left out), and
// files hard-linked within the upper written once and linked. The
// relative paths in hide are left out, with their whiteouts (and a
// directory that holds only them).
func WriteLayer(w io.Writer, upper string, hide ...string) error {
	tw := tar.NewWriter(w)
	links := map[[2]uint64]string{}
	err := walkUpper(upper, hide, func(e upperEntry) error {
		abs := filepath.Join(upper, filepath.FromSlash(e.rel))
		if e.whiteout {
			dir, name := path.Split(e.rel)
			return writeMarker(tw, dir+whPrefix+name, e.info)
		}
		if e.opaqueMarker {
			return writeMarker(tw, e.rel, e.info)
		}
		hdr, err := header(abs, e.rel, e.info)
		if err != nil {
			return err
		}
		st, _ := e.info.Sys().(*syscall.Stat_t)
		if hdr.Typeflag == tar.TypeReg && st != nil && st.Nlink > 1 {
			key := [2]uint64{uint64(st.Dev), st.Ino}
			if first, ok := links[key]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				links[key] = e.rel
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("%s: %w", e.rel, err)
		}
		if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
			f, err := os.Open(abs)
			if err != nil {
				return err
			}
			_, err = io.CopyN(tw, f, hdr.Size)
			f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w (did it change while committing?)", e.rel, err)
			}
		}
		if e.opaque && hdr.Typeflag == tar.TypeDir {
			// A marker file is visited by the walk; overlayfs's xattr is not.
			if _, err := os.Lstat(filepath.Join(abs, opqMarker)); errors.Is(err, fs.ErrNotExist) {
				return writeMarker(tw, e.rel+"/"+opqMarker, e.info)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write layer: %w", err)
	}
	return tw.Close()
}

// writeMarker writes an empty regular file: a whiteout or opaque marker,
// with the time of what it stands for.
func writeMarker(tw *tar.Writer, name string, fi fs.FileInfo) error {
	return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644,
		ModTime: fi.ModTime(), Format: tar.FormatPAX})
}

func header(abs, rel string, fi fs.FileInfo) (*tar.Header, error) {
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		var err error
		if link, err = os.Readlink(abs); err != nil {
			return nil, err
		}
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	hdr.Name = rel
	if fi.IsDir() {
		hdr.Name += "/"
	}
	hdr.Uname, hdr.Gname = "", ""
	hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
	hdr.Format = tar.FormatPAX
	xattrs, err := xattrsOf(abs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	for k, v := range xattrs {
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords["SCHILY.xattr."+k] = v
	}
	return hdr, nil
}

// xattrsOf reads the attributes a layer carries: all but lfs's and
// overlayfs's bookkeeping.
func xattrsOf(p string) (map[string]string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if errors.Is(err, unix.ERANGE) {
		if n, err = unix.Llistxattr(p, nil); err == nil {
			buf = make([]byte, n)
			n, err = unix.Llistxattr(p, buf)
		}
	}
	if errors.Is(err, unix.ENOTSUP) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list xattrs: %w", err)
	}
	out := map[string]string{}
	for _, name := range strings.Split(string(buf[:n]), "\x00") {
		if name == "" || strings.HasPrefix(name, "user.lfs.") ||
			strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.") {
			continue
		}
		sz, err := unix.Lgetxattr(p, name, nil)
		if err != nil {
			continue // removed meanwhile
		}
		v := make([]byte, sz)
		if sz, err = unix.Lgetxattr(p, name, v); err != nil {
			continue
		}
		out[name] = string(v[:sz])
	}
	return out, nil
}
