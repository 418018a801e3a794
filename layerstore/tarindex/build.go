package tarindex

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
)

const (
	whiteoutPrefix = ".wh."
	// whiteoutMeta prefixes AUFS bookkeeping names and the opaque marker.
	whiteoutMeta   = whiteoutPrefix + whiteoutPrefix
	whiteoutOpaque = whiteoutMeta + ".opq"
	xattrPAXPrefix = "SCHILY.xattr."
	sparsePAXKey   = "GNU.sparse."
)

// Index is a built index, held in its binary form. Build returns it; WriteTo
// persists it; Reader serves it from memory.
type Index struct {
	r *Reader
}

// Reader returns a Reader over the index in memory. It needs no Close.
func (x *Index) Reader() *Reader { return x.r }

// Bytes returns the binary form, the bytes WriteTo writes. Callers must not
// modify it.
func (x *Index) Bytes() []byte { return x.r.b }

// WriteTo writes the binary form to w.
func (x *Index) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(x.r.b)
	if err != nil {
		return int64(n), fmt.Errorf("write index: %w", err)
	}
	return int64(n), nil
}

// Stats summarises the index.
func (x *Index) Stats() Stats { return x.r.Stats() }

// countingReader counts the bytes tar.Reader consumes. When the source can
// skip forward (io.Seeker with io.SeekCurrent), archive/tar skips file data
// with Seek instead of copying it into io.Discard: an ingest pipeline that
// must hash and write every byte anyway then never copies file data into
// the indexer. The count stays the position in the stream either way.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

var errNoSeek = errors.New("tarindex: source cannot seek")

func (c *countingReader) Seek(off int64, whence int) (int64, error) {
	s, ok := c.r.(io.Seeker)
	if !ok || whence != io.SeekCurrent {
		return 0, errNoSeek
	}
	if off == 0 {
		return c.n, nil
	}
	p0, err := s.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	p1, err := s.Seek(off, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	c.n += p1 - p0
	return c.n, nil
}

type xattr struct {
	key string
	val string
}

// group is a hard link group: the names that share one file's data.
type group struct {
	live  int // members still in the tree
	inode ID  // set during layout: the smallest member ID
	set   bool
}

type node struct {
	name     string
	parent   *node
	typ      Type
	mode     uint32
	uid, gid uint32
	size     int64
	offset   int64
	mtime    time.Time
	linkname string
	devmaj   uint32
	devmin   uint32
	xattrs   []xattr
	opaque   bool
	implicit bool
	children map[string]*node // directories only
	group    *group           // regular files only
	id       ID
}

type builder struct {
	root *node
}

// Build reads an uncompressed tar from r and indexes it. It reads r only up to
// the end-of-archive marker (the caller drains the rest, e.g. to finish a
// digest). Offsets are counted from the first byte read from r.
//
// Errors wrap ErrUnsafePath, ErrBadLink, ErrSparse or ErrUnsupported for
// entries the index refuses, and io.ErrUnexpectedEOF or tar.ErrHeader for a
// truncated or corrupt tar; each names the entry when it is known.
func Build(r io.Reader) (*Index, error) {
	cr := &countingReader{r: r}
	tr := tar.NewReader(cr)
	b := &builder{root: newDir("", nil)}
	prev := ""
	for {
		hdr, err := tr.Next()
		if errors.Is(err, tar.ErrInsecurePath) {
			// Only reported under GODEBUG=tarinsecurepath=0; add checks names
			// itself, relative to the root, so the header is usable.
			err = nil
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			if prev == "" {
				return nil, fmt.Errorf("read tar header: %w", err)
			}
			return nil, fmt.Errorf("read tar header after %q: %w", prev, err)
		}
		prev = hdr.Name
		if err := b.add(hdr, cr.n); err != nil {
			return nil, err
		}
	}
	rd, err := b.encode()
	if err != nil {
		return nil, err
	}
	return &Index{r: rd}, nil
}

func newDir(name string, parent *node) *node {
	return &node{
		name:     name,
		parent:   parent,
		typ:      TypeDir,
		mode:     0o755,
		mtime:    time.Unix(0, 0),
		implicit: true,
		children: map[string]*node{},
	}
}

// cleanName turns a tar name into a path relative to the root: "" for the
// root itself, otherwise cleaned components joined by "/". ok is false when
// the name escapes the root.
func cleanName(name string) (p string, ok bool) {
	for {
		switch {
		case strings.HasPrefix(name, "/"):
			name = name[1:]
		case strings.HasPrefix(name, "./"):
			name = name[2:]
		default:
			if name == "" {
				return "", true
			}
			p = path.Clean(name)
			if p == "." {
				return "", true
			}
			if p == ".." || strings.HasPrefix(p, "../") {
				return "", false
			}
			return p, true
		}
	}
}

func splitDir(p string) (dir, base string) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

func (b *builder) add(hdr *tar.Header, offset int64) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		// Global PAX headers (git archive writes one) describe the archive,
		// not an entry.
		return nil
	}
	if hdr.Typeflag == tar.TypeGNUSparse {
		return fmt.Errorf("index %q: %w", hdr.Name, ErrSparse)
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, sparsePAXKey) {
			return fmt.Errorf("index %q: %w", hdr.Name, ErrSparse)
		}
	}
	p, ok := cleanName(hdr.Name)
	if !ok {
		return fmt.Errorf("index %q: %w", hdr.Name, ErrUnsafePath)
	}
	if strings.HasPrefix(p, whiteoutMeta) && p != whiteoutOpaque {
		// AUFS metadata (.wh..wh.aufs, .wh..wh.plnk/...): Docker skips it,
		// all but the root's opaque marker.
		return nil
	}
	dir, base := splitDir(p)
	if p == "" {
		if hdr.Typeflag != tar.TypeDir {
			return fmt.Errorf("index %q: root is not a directory: %w", hdr.Name, ErrUnsupported)
		}
		b.setDirMeta(b.root, hdr)
		return nil
	}

	if strings.HasPrefix(base, whiteoutPrefix) {
		parent, err := b.mkdirAll(dir, hdr.Name)
		if err != nil {
			return err
		}
		if base == whiteoutOpaque {
			parent.opaque = true
			return nil
		}
		if strings.HasPrefix(base, whiteoutMeta) {
			return fmt.Errorf("index %q: unknown whiteout metadata: %w", hdr.Name, ErrUnsupported)
		}
		hidden := base[len(whiteoutPrefix):]
		if hidden == "" || hidden == "." || hidden == ".." {
			return fmt.Errorf("index %q: whiteout hides %q: %w", hdr.Name, hidden, ErrUnsafePath)
		}
		n := &node{name: hidden, typ: TypeWhiteout}
		setMeta(n, hdr)
		b.insert(parent, n)
		return nil
	}

	n := &node{name: base}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeCont:
		n.typ = TypeReg
		n.size = hdr.Size
		n.offset = offset
		n.group = &group{}
	case tar.TypeLink:
		target, err := b.resolveLink(hdr)
		if err != nil {
			return err
		}
		n.typ = TypeReg
		n.size = target.size
		n.offset = target.offset
		n.group = target.group
	case tar.TypeSymlink:
		n.typ = TypeSymlink
		n.linkname = hdr.Linkname
	case tar.TypeChar:
		n.typ = TypeChar
	case tar.TypeBlock:
		n.typ = TypeBlock
	case tar.TypeFifo:
		n.typ = TypeFIFO
	case tar.TypeDir:
		parent, err := b.mkdirAll(dir, hdr.Name)
		if err != nil {
			return err
		}
		if old := parent.children[base]; old != nil && old.typ == TypeDir {
			// A directory replacing a directory merges: tar extraction
			// would not remove what is already below it.
			b.setDirMeta(old, hdr)
			return nil
		}
		n = newDir(base, parent)
		b.setDirMeta(n, hdr)
		b.insert(parent, n)
		return nil
	default:
		return fmt.Errorf("index %q: type %q: %w", hdr.Name, hdr.Typeflag, ErrUnsupported)
	}
	setMeta(n, hdr)
	parent, err := b.mkdirAll(dir, hdr.Name)
	if err != nil {
		return err
	}
	b.insert(parent, n)
	return nil
}

// resolveLink finds the regular file a hard link names, as the tree stands
// now: the target must come earlier in the tar.
func (b *builder) resolveLink(hdr *tar.Header) (*node, error) {
	bad := func(why string) error {
		return fmt.Errorf("link %q to %q: %s: %w", hdr.Name, hdr.Linkname, why, ErrBadLink)
	}
	p, ok := cleanName(hdr.Linkname)
	if !ok {
		return nil, bad("target escapes the root")
	}
	cur := b.root
	for p != "" {
		var comp string
		if i := strings.IndexByte(p, '/'); i >= 0 {
			comp, p = p[:i], p[i+1:]
		} else {
			comp, p = p, ""
		}
		if cur.children == nil {
			return nil, bad("no such file")
		}
		cur = cur.children[comp]
		if cur == nil {
			return nil, bad("no such file")
		}
	}
	if cur.typ != TypeReg {
		return nil, bad("target is a " + cur.typ.String())
	}
	return cur, nil
}

// mkdirAll returns the directory at p, synthesising missing ones. It refuses
// to pass through a non-directory: replacing it would silently drop a file,
// and following a symlink is what the index never does.
func (b *builder) mkdirAll(p, entry string) (*node, error) {
	cur := b.root
	for p != "" {
		var comp string
		if i := strings.IndexByte(p, '/'); i >= 0 {
			comp, p = p[:i], p[i+1:]
		} else {
			comp, p = p, ""
		}
		if strings.HasPrefix(comp, whiteoutPrefix) {
			return nil, fmt.Errorf("index %q: whiteout %q used as a directory: %w", entry, comp, ErrUnsupported)
		}
		next := cur.children[comp]
		if next == nil {
			next = newDir(comp, cur)
			cur.children[comp] = next
		} else if next.typ != TypeDir {
			return nil, fmt.Errorf("index %q: parent %q is a %s: %w", entry, comp, next.typ, ErrUnsupported)
		}
		cur = next
	}
	return cur, nil
}

// insert puts n into parent, replacing (and dropping) what had its name.
func (b *builder) insert(parent, n *node) {
	n.parent = parent
	if n.group != nil {
		n.group.live++
	}
	if old := parent.children[n.name]; old != nil {
		drop(old)
	}
	parent.children[n.name] = n
}

// drop removes n and its subtree from their hard link groups, so Nlink counts
// only names that survive.
func drop(n *node) {
	if n.group != nil {
		n.group.live--
	}
	for _, c := range n.children {
		drop(c)
	}
}

func (b *builder) setDirMeta(n *node, hdr *tar.Header) {
	n.implicit = false
	setMeta(n, hdr)
}

func setMeta(n *node, hdr *tar.Header) {
	n.mode = uint32(hdr.Mode) & 0o7777
	n.uid = clampID(hdr.Uid)
	n.gid = clampID(hdr.Gid)
	n.mtime = hdr.ModTime
	if n.typ == TypeChar || n.typ == TypeBlock {
		n.devmaj = clampID(int(hdr.Devmajor))
		n.devmin = clampID(int(hdr.Devminor))
	}
	n.xattrs = n.xattrs[:0]
	for k, v := range hdr.PAXRecords {
		if name, ok := strings.CutPrefix(k, xattrPAXPrefix); ok {
			n.xattrs = append(n.xattrs, xattr{key: name, val: v})
		}
	}
}

// clampID keeps out-of-range numeric fields representable; a negative or
// huge uid cannot come from a real filesystem anyway.
func clampID(v int) uint32 {
	if v < 0 {
		return 0
	}
	if uint64(v) > 1<<32-1 {
		return 1<<32 - 1
	}
	return uint32(v)
}
