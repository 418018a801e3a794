package build

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/lfs-dev/lfs/unionfs"
	"golang.org/x/sys/unix"
)

// owner is who a COPY makes files belong to; nil keeps the source's.
type owner struct{ uid, gid int }

// entry is one file a COPY, ADD or WORKDIR puts in its layer.
type entry struct {
	hdr tar.Header // Name relative to the root, without a trailing slash
	t   *tree      // where a regular file's data is read from
	src string     // its path in t
	n   *unionfs.Node
	// link groups regular files hard-linked in their tree: the first
	// written keeps the data, the others link to it.
	link [2]uint64
}

// walkEntries lists what copying t's p (a directory, recursively, or any
// other entry) gives, names relative to p ("" for p itself), sorted,
// parents first. The context's .dockerignore applies: an excluded
// directory that an exception may reach into is walked but not listed.
func walkEntries(t *tree, p string) ([]*entry, error) {
	var out []*entry
	var visit func(rel string, n *unionfs.Node, a unionfs.Attr, list bool) error
	visit = func(rel string, n *unionfs.Node, a unionfs.Attr, list bool) error {
		full := cleanRel(path.Join(p, rel))
		if list {
			e, err := t.entry(full, a)
			if err != nil {
				return err
			}
			if e != nil {
				e.hdr.Name, e.n = rel, n
				out = append(out, e)
			}
		}
		if n.Type != unionfs.TypeDir {
			return nil
		}
		names, err := t.children(n)
		if err != nil {
			return fmt.Errorf("read directory /%s: %w", full, err)
		}
		for _, name := range names {
			crel := path.Join(rel, name)
			cfull := cleanRel(path.Join(full, name))
			show := true
			if t.excluded(cfull) {
				show = false
			}
			c, err := t.fs.Lookup(n, name)
			if err != nil {
				return fmt.Errorf("/%s: %w", cfull, err)
			}
			if !show && (c.Type != unionfs.TypeDir || !t.mayHoldIncluded(cfull)) {
				continue
			}
			ca, err := t.fs.Attr(c)
			if err != nil {
				return fmt.Errorf("/%s: %w", cfull, err)
			}
			if err := visit(crel, c, ca, show); err != nil {
				return err
			}
		}
		return nil
	}
	n, a, err := t.lstat(p)
	if err != nil {
		return nil, err
	}
	if err := visit("", n, a, true); err != nil {
		return nil, err
	}
	return out, nil
}

// entry makes the tar header of t's entry at p from its attributes; nil
// for what a layer cannot hold (sockets).
func (t *tree) entry(p string, a unionfs.Attr) (*entry, error) {
	h := tar.Header{Mode: int64(a.Mode & 0o7777), Uid: int(a.UID), Gid: int(a.GID),
		ModTime: a.Mtime, Format: tar.FormatPAX}
	e := &entry{t: t, src: p}
	switch a.Type() {
	case unionfs.TypeDir:
		h.Typeflag = tar.TypeDir
	case unionfs.TypeReg:
		h.Typeflag, h.Size = tar.TypeReg, a.Size
		if a.Nlink > 1 {
			e.link = [2]uint64{a.Ino, 1}
		}
	case unionfs.TypeSymlink:
		target, err := t.fs.Readlink(p)
		if err != nil {
			return nil, fmt.Errorf("/%s: %w", p, err)
		}
		h.Typeflag, h.Linkname = tar.TypeSymlink, target
	case unionfs.TypeChar, unionfs.TypeBlock:
		h.Typeflag = tar.TypeChar
		if a.Type() == unionfs.TypeBlock {
			h.Typeflag = tar.TypeBlock
		}
		h.Devmajor, h.Devminor = int64(unixMajor(a.Rdev)), int64(unixMinor(a.Rdev))
	case unionfs.TypeFIFO:
		h.Typeflag = tar.TypeFifo
	default:
		return nil, nil
	}
	if x := t.xattrs(p); len(x) > 0 {
		h.PAXRecords = map[string]string{}
		for k, v := range x {
			h.PAXRecords["SCHILY.xattr."+k] = v
		}
	}
	e.hdr = h
	return e, nil
}

func unixMajor(dev uint64) uint32 { return uint32((dev>>8)&0xfff) | uint32((dev>>32)&^0xfff) }
func unixMinor(dev uint64) uint32 { return uint32(dev&0xff) | uint32((dev>>12)&^0xff) }

// digestEntries hashes entries as a COPY's cache key and history see
// them: names, types, modes, link targets, device numbers, xattrs, owners
// when kept, and content; never times.
func digestEntries(kind string, es []*entry, keepOwner bool) (string, error) {
	h := sha256.New()
	for _, e := range es {
		hd := &e.hdr
		fmt.Fprintf(h, "%q %c %o %q %d:%d", hd.Name, hd.Typeflag, hd.Mode, hd.Linkname, hd.Devmajor, hd.Devminor)
		if keepOwner {
			fmt.Fprintf(h, " %d:%d", hd.Uid, hd.Gid)
		}
		keys := make([]string, 0, len(hd.PAXRecords))
		for k := range hd.PAXRecords {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(h, " %q=%q", k, hd.PAXRecords[k])
		}
		if hd.Typeflag == tar.TypeReg {
			sum, err := contentDigest(e)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(h, " %d %s", hd.Size, sum)
		}
		h.Write([]byte{'\n'})
	}
	return kind + ":" + hex.EncodeToString(h.Sum(nil)), nil
}

// open reads a regular file's data, through the node the walk found.
func (e *entry) open() (io.ReadCloser, error) {
	if e.n == nil {
		return e.t.open(e.src)
	}
	f, err := e.t.fs.OpenNode(e.n, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	return &fileReader{f: f}, nil
}

func contentDigest(e *entry) (string, error) {
	r, err := e.open()
	if err != nil {
		return "", fmt.Errorf("read /%s: %w", e.src, err)
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", fmt.Errorf("read /%s: %w", e.src, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// layerTar writes a layer tar over a parent image: every entry's missing
// ancestors first, copied from the parent where it has them (so that a
// layer never changes a directory it only adds to), else made (0755,
// owned by the given owner).
type layerTar struct {
	tw     *tar.Writer
	parent *tree
	now    time.Time
	dirs   map[string]bool      // written, or known to be in the parent
	links  map[[2]uint64]string // a hard-link group's first name
}

func newLayerTar(w io.Writer, parent *tree, now time.Time) *layerTar {
	return &layerTar{tw: tar.NewWriter(w), parent: parent, now: now,
		dirs: map[string]bool{".": true}, links: map[[2]uint64]string{}}
}

// mkdirAll writes the directory p and its ancestors: the parent image's
// own entries where it has them (so their metadata stays), else new ones
// (mode, the owner's).
func (l *layerTar) mkdirAll(p string, o owner, mode int64) error {
	p = cleanRel(p)
	if l.dirs[p] {
		return nil
	}
	if err := l.mkdirAll(path.Dir(p), o, 0o755); err != nil {
		return err
	}
	if _, a, err := l.parent.lstat(p); err == nil {
		if a.Type() != unionfs.TypeDir {
			return fmt.Errorf("cannot create directory /%s: a file of the image is in the way", p)
		}
		e, err := l.parent.entry(p, a)
		if err != nil {
			return err
		}
		e.hdr.Name = p
		l.dirs[p] = true
		return l.writeHeader(&e.hdr)
	}
	l.dirs[p] = true
	return l.writeHeader(&tar.Header{Typeflag: tar.TypeDir, Name: p, Mode: mode, Uid: o.uid, Gid: o.gid,
		ModTime: l.now, Format: tar.FormatPAX})
}

// put writes e (its Name already the path in the layer) after its parents.
func (l *layerTar) put(e *entry, o owner) error {
	name := cleanRel(e.hdr.Name)
	if err := l.mkdirAll(path.Dir(name), o, 0o755); err != nil {
		return err
	}
	h := e.hdr
	h.Name = name
	if h.Typeflag == tar.TypeDir {
		l.dirs[name] = true
	}
	if e.link[1] != 0 {
		key := [2]uint64{e.link[0], e.t.id}
		if first, ok := l.links[key]; ok {
			h.Typeflag, h.Linkname, h.Size = tar.TypeLink, first, 0
			return l.writeHeader(&h)
		}
		l.links[key] = name
	}
	if err := l.writeHeader(&h); err != nil {
		return err
	}
	if h.Typeflag != tar.TypeReg || h.Size == 0 {
		return nil
	}
	r, err := e.open()
	if err != nil {
		return fmt.Errorf("read /%s: %w", e.src, err)
	}
	defer r.Close()
	if _, err := io.CopyN(l.tw, r, h.Size); err != nil {
		return fmt.Errorf("copy /%s: %w (did it change during the build?)", e.src, err)
	}
	return nil
}

func (l *layerTar) writeHeader(h *tar.Header) error {
	if h.Typeflag == tar.TypeDir && !strings.HasSuffix(h.Name, "/") {
		h.Name += "/"
	}
	if err := l.tw.WriteHeader(h); err != nil {
		return fmt.Errorf("write layer: %s: %w", h.Name, err)
	}
	return nil
}

// close ends the tar.
func (l *layerTar) close() error { return l.tw.Close() }
