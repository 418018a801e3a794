package container

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"

	"github.com/lfs-dev/lfs/layerstore"
	"github.com/lfs-dev/lfs/unionfs"
	"golang.org/x/sys/unix"
)

// Export writes the container's merged root filesystem (the image's
// layers under its writable layer, by the union's rules) to w as one tar,
// as docker export does: PAX, sorted, hard links within the tree kept.
// The union is read in process, without a mount.
func Export(w io.Writer, s *layerstore.Store, c Container) error {
	u, closeAll, err := openUnion(s, c, c.Upper())
	if err != nil {
		return err
	}
	defer closeAll()
	tw := tar.NewWriter(w)
	root, err := u.Resolve(".")
	if err != nil {
		return fmt.Errorf("export %s: %w", short(c.ID), err)
	}
	x := exporter{u: u, tw: tw, links: map[uint64]string{}}
	if err := x.dir(root); err != nil {
		return fmt.Errorf("export %s: %w", short(c.ID), err)
	}
	return tw.Close()
}

type exporter struct {
	u     *unionfs.FS
	tw    *tar.Writer
	links map[uint64]string // union inode -> first name, for hard links
}

func (x *exporter) dir(n *unionfs.Node) error {
	ents, err := x.u.ReadDirNode(n)
	if err != nil {
		return fmt.Errorf("%s: %w", n.Path, err)
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name < ents[j].Name })
	for _, e := range ents {
		child, err := x.u.Lookup(n, e.Name)
		if err != nil {
			return fmt.Errorf("%s: %w", path.Join(n.Path, e.Name), err)
		}
		if err := x.entry(child); err != nil {
			return err
		}
	}
	return nil
}

func (x *exporter) entry(n *unionfs.Node) error {
	a, err := x.u.Attr(n)
	if err != nil {
		return fmt.Errorf("%s: %w", n.Path, err)
	}
	hdr := &tar.Header{Name: n.Path, Mode: int64(a.Mode & 0o7777), Uid: int(a.UID), Gid: int(a.GID),
		ModTime: a.Mtime, Format: tar.FormatPAX}
	switch n.Type {
	case unionfs.TypeDir:
		hdr.Typeflag, hdr.Name = tar.TypeDir, n.Path+"/"
	case unionfs.TypeReg:
		hdr.Typeflag, hdr.Size = tar.TypeReg, a.Size
		if a.Nlink > 1 {
			if first, ok := x.links[a.Ino]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				x.links[a.Ino] = n.Path
			}
		}
	case unionfs.TypeSymlink:
		hdr.Typeflag = tar.TypeSymlink
		if hdr.Linkname, err = x.u.Readlink(n.Path); err != nil {
			return fmt.Errorf("%s: %w", n.Path, err)
		}
	case unionfs.TypeChar, unionfs.TypeBlock:
		hdr.Typeflag = tar.TypeChar
		if n.Type == unionfs.TypeBlock {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(a.Rdev)), int64(unix.Minor(a.Rdev))
	case unionfs.TypeFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil // sockets: tar has no type for them, as docker export
	}
	names, err := x.u.Listxattr(n.Path)
	if err != nil {
		return fmt.Errorf("%s: %w", n.Path, err)
	}
	sort.Strings(names)
	for _, name := range names {
		v, err := x.u.Getxattr(n.Path, name)
		if errors.Is(err, unionfs.ErrNoAttr) {
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", n.Path, err)
		}
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords["SCHILY.xattr."+name] = string(v)
	}
	if err := x.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("%s: %w", n.Path, err)
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return x.dir(n)
	case tar.TypeReg:
		f, err := x.u.OpenNode(n, unix.O_RDONLY)
		if err != nil {
			return fmt.Errorf("%s: %w", n.Path, err)
		}
		_, err = io.Copy(x.tw, io.NewSectionReader(f, 0, a.Size))
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", n.Path, err)
		}
	}
	return nil
}
