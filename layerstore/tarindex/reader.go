package tarindex

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"
)

// Reader serves an index from its binary form, in a mapped file or a byte
// slice. Accessors take IDs from this Reader; an ID out of range gives the
// zero value (a zero Entry, no children) rather than a panic, because a FUSE
// handler holding a stale ID must not bring the filesystem down.
type Reader struct {
	b      []byte // whole index
	recs   []byte // count × recSize
	strs   []byte
	xattrs []byte
	count  uint32
	stats  Stats
	unmap  func() error
}

// Open maps the index file at path and checks its header, as Load does; a
// file that is not an index gives an error wrapping ErrCorruptIndex. The file
// must not be truncated while mapped (indexes are written once, then renamed
// into place). The Reader must be closed.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open index: %w", err)
	}
	// The mapping outlives the descriptor.
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("open index: %w", err)
	}
	size := fi.Size()
	if size < headerSize || size != int64(int(size)) {
		return nil, fmt.Errorf("open index %s: %d bytes: %w", path, size, ErrCorruptIndex)
	}
	b, unmap, err := mapFile(f, int(size))
	if err != nil {
		return nil, fmt.Errorf("map index %s: %w", path, err)
	}
	r, err := Load(b)
	if err != nil {
		_ = unmap()
		return nil, fmt.Errorf("open index %s: %w", path, err)
	}
	r.unmap = unmap
	return r, nil
}

// Load returns a Reader over the index in b, without copying: b must stay
// unchanged while the Reader is used. It checks the header and that the
// sections fit b, in constant time, and returns an error wrapping
// ErrCorruptIndex when they do not. Records are not read here: every accessor
// bounds-checks what it reads, so a corrupt record gives wrong answers (or
// ErrCorruptIndex from Walk), never a panic. Verify checks every record.
func Load(b []byte) (*Reader, error) {
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("load index: "+format+": %w", append(args, ErrCorruptIndex)...)
	}
	if len(b) < headerSize {
		return nil, corrupt("%d bytes, shorter than the header", len(b))
	}
	if string(b[:len(magic)]) != magic {
		return nil, corrupt("bad magic %q", b[:len(magic)])
	}
	if v := le.Uint32(b[hVersion:]); v != version {
		return nil, corrupt("version %d, want %d", v, version)
	}
	if s := le.Uint32(b[hRecSize:]); s != recSize {
		return nil, corrupt("record size %d, want %d", s, recSize)
	}
	count := le.Uint32(b[hCount:])
	recOff := le.Uint64(b[hRecOff:])
	strOff := le.Uint64(b[hStrOff:])
	strLen := le.Uint64(b[hStrLen:])
	xattrOff := le.Uint64(b[hXattrOff:])
	xattrLen := le.Uint64(b[hXattrLen:])
	fileSize := le.Uint64(b[hFileSize:])
	// Sections are contiguous and each bounded by the file, so none of
	// these sums can overflow: all terms are below len(b) or checked first.
	switch {
	case count == 0:
		return nil, corrupt("no root entry")
	case fileSize != uint64(len(b)):
		return nil, corrupt("header says %d bytes, have %d", fileSize, len(b))
	case recOff != headerSize:
		return nil, corrupt("records at %d", recOff)
	case strOff != recOff+uint64(count)*recSize || strOff > fileSize:
		return nil, corrupt("strings at %d", strOff)
	case strLen > fileSize-strOff || xattrOff != strOff+strLen:
		return nil, corrupt("strings length %d", strLen)
	case xattrLen != fileSize-xattrOff:
		return nil, corrupt("xattrs length %d", xattrLen)
	}
	r := &Reader{
		b:      b,
		recs:   b[recOff:strOff],
		strs:   b[strOff:xattrOff],
		xattrs: b[xattrOff:],
		count:  count,
		stats: Stats{
			Entries:   int(count),
			Files:     int(le.Uint64(b[hFiles:])),
			Dirs:      int(le.Uint64(b[hDirs:])),
			Symlinks:  int(le.Uint64(b[hSymlinks:])),
			Whiteouts: int(le.Uint64(b[hWhiteouts:])),
			DataBytes: int64(le.Uint64(b[hDataBytes:])),
		},
	}
	return r, nil
}

// Verify checks every record: its windows into the string and xattr
// sections, and the tree shape (see format.go for why these checks suffice to
// make Walk visit every entry exactly once). It reads no string and costs
// about 10 ns per entry, which is why Open leaves it to callers that want it,
// such as an import that has just written the index. Errors wrap
// ErrCorruptIndex.
func (r *Reader) Verify() error {
	if err := r.verify(); err != nil {
		return fmt.Errorf("verify index: %v: %w", err, ErrCorruptIndex)
	}
	return nil
}

func (r *Reader) verify() error {
	strLen := uint64(len(r.strs))
	xLen := uint64(len(r.xattrs))
	n := r.count
	var children uint64
	for i := uint32(0); i < n; i++ {
		rec := r.recs[uint64(i)*recSize : uint64(i+1)*recSize]
		typ := Type(rec[rType])
		if typ < TypeDir || typ > TypeWhiteout {
			return fmt.Errorf("entry %d: type %d", i, typ)
		}
		if rec[rFlags]&^(flagOpaque|flagImplicit) != 0 || le.Uint16(rec[rReserved:]) != 0 {
			return fmt.Errorf("entry %d: flags %#x", i, rec[rFlags])
		}
		if uint64(le.Uint32(rec[rNameOff:]))+uint64(le.Uint32(rec[rNameLen:])) > strLen ||
			uint64(le.Uint32(rec[rLinkOff:]))+uint64(le.Uint32(rec[rLinkLen:])) > strLen {
			return fmt.Errorf("entry %d: string out of bounds", i)
		}
		if uint64(le.Uint32(rec[rXattrOff:]))+uint64(le.Uint32(rec[rXattrLen:])) > xLen {
			return fmt.Errorf("entry %d: xattrs out of bounds", i)
		}
		if le.Uint32(rec[rMtimeNs:]) >= 1e9 {
			return fmt.Errorf("entry %d: mtime nanoseconds", i)
		}
		if le.Uint32(rec[rInode:]) >= n {
			return fmt.Errorf("entry %d: inode out of range", i)
		}
		first, nchild := le.Uint32(rec[rFirst:]), le.Uint32(rec[rNchild:])
		if nchild > 0 {
			if typ != TypeDir || first <= i || uint64(first)+uint64(nchild) > uint64(n) {
				return fmt.Errorf("entry %d: children out of range", i)
			}
			children += uint64(nchild)
		}
		parent := le.Uint32(rec[rParent:])
		if i == 0 {
			if typ != TypeDir || parent != 0 {
				return fmt.Errorf("root is not a directory")
			}
			continue
		}
		if parent >= i {
			return fmt.Errorf("entry %d: parent %d not before it", i, parent)
		}
		prec := r.recs[uint64(parent)*recSize:]
		pfirst, pn := le.Uint32(prec[rFirst:]), le.Uint32(prec[rNchild:])
		if i < pfirst || uint64(i) >= uint64(pfirst)+uint64(pn) {
			return fmt.Errorf("entry %d: not among its parent's children", i)
		}
	}
	// Each non-root entry lies in its parent's range; if the ranges add up
	// to exactly count-1 no entry lies in a second one, so Children(d) is
	// exactly the entries whose parent is d.
	if children != uint64(n)-1 {
		return fmt.Errorf("children ranges cover %d entries, want %d", children, n-1)
	}
	return nil
}

// Close unmaps the index. Readers from Load or Index.Reader have nothing to
// release; Close then only makes later calls return zero values.
func (r *Reader) Close() error {
	var err error
	if r.unmap != nil {
		err = r.unmap()
		r.unmap = nil
	}
	r.b, r.recs, r.strs, r.xattrs, r.count = nil, nil, nil, nil, 0
	if err != nil {
		return fmt.Errorf("unmap index: %w", err)
	}
	return nil
}

// Len returns the number of entries, root and whiteouts included.
func (r *Reader) Len() int { return int(r.count) }

// Root returns the ID of the root directory, "/".
func (r *Reader) Root() ID { return 0 }

// Stats summarises the index.
func (r *Reader) Stats() Stats { return r.stats }

// rec returns entry id's record, or nil when id is out of range.
func (r *Reader) rec(id ID) []byte {
	if uint32(id) >= r.count {
		return nil
	}
	return r.recs[uint64(id)*recSize : uint64(id+1)*recSize]
}

// str returns the string window at rec[off:]; nil if it is out of bounds.
func (r *Reader) str(rec []byte, off int) []byte {
	o := uint64(le.Uint32(rec[off:]))
	end := o + uint64(le.Uint32(rec[off+4:]))
	if end > uint64(len(r.strs)) {
		return nil
	}
	return r.strs[o:end]
}

// Entry returns the metadata of id; the zero Entry when id is out of range.
func (r *Reader) Entry(id ID) Entry {
	rec := r.rec(id)
	if rec == nil {
		return Entry{}
	}
	flags := rec[rFlags]
	return Entry{
		Name:     string(r.str(rec, rNameOff)),
		Type:     Type(rec[rType]),
		Mode:     le.Uint32(rec[rMode:]),
		UID:      le.Uint32(rec[rUID:]),
		GID:      le.Uint32(rec[rGID:]),
		Size:     int64(le.Uint64(rec[rSize:])),
		ModTime:  time.Unix(int64(le.Uint64(rec[rMtimeSec:])), int64(le.Uint32(rec[rMtimeNs:]))).UTC(),
		Linkname: string(r.str(rec, rLinkOff)),
		Devmajor: le.Uint32(rec[rDevmaj:]),
		Devminor: le.Uint32(rec[rDevmin:]),
		Offset:   int64(le.Uint64(rec[rOffset:])),
		Inode:    ID(le.Uint32(rec[rInode:])),
		Nlink:    le.Uint32(rec[rNlink:]),
		Opaque:   flags&flagOpaque != 0,
		Implicit: flags&flagImplicit != 0,
		Parent:   ID(le.Uint32(rec[rParent:])),
	}
}

// childRange returns the IDs [first, first+n) of dir's children. ok is false
// when the record's range is impossible: children come after their directory
// and within the index. Requiring first > dir is what keeps Walk from
// cycling on a corrupt index.
func (r *Reader) childRange(dir ID) (first, n uint32, ok bool) {
	rec := r.rec(dir)
	if rec == nil {
		return 0, 0, true
	}
	first, n = le.Uint32(rec[rFirst:]), le.Uint32(rec[rNchild:])
	if n == 0 {
		return 0, 0, true
	}
	if Type(rec[rType]) != TypeDir || first <= uint32(dir) || uint64(first)+uint64(n) > uint64(r.count) {
		return 0, 0, false
	}
	return first, n, true
}

// Children returns dir's children in byte order of name, whiteouts included;
// nil for a non-directory.
func (r *Reader) Children(dir ID) []ID {
	first, n, _ := r.childRange(dir)
	if n == 0 {
		return nil
	}
	ids := make([]ID, n)
	for i := range ids {
		ids[i] = ID(first + uint32(i))
	}
	return ids
}

// Child finds name among dir's children by binary search. It does not
// allocate.
func (r *Reader) Child(dir ID, name string) (ID, bool) {
	first, n, _ := r.childRange(dir)
	lo, hi := first, first+n
	for lo < hi {
		m := lo + (hi-lo)/2
		// The compiler compares string(b) in place, without a copy.
		s := r.str(r.recs[uint64(m)*recSize:], rNameOff)
		switch {
		case string(s) == name:
			return ID(m), true
		case string(s) < name:
			lo = m + 1
		default:
			hi = m
		}
	}
	return 0, false
}

// Lookup resolves a path ("/a/b", "a/b", "." or "") from the root through
// directories only: symlinks are not followed, and a path through a
// non-directory does not exist. The path is cleaned first, ".." stopping at
// the root. A whiteout is found like any entry; callers check its Type.
//
// Lookup returns the bare ErrNotExist, unwrapped: negative lookups are among
// the most frequent FUSE calls and the caller knows the path it asked for.
func (r *Reader) Lookup(p string) (ID, error) {
	if r.count == 0 {
		return 0, ErrNotExist
	}
	if strings.Contains(p, "..") {
		// Only here does lexical cleaning differ from skipping "" and "."
		// components below ("a/x/../b" is "a/b" even if x is absent).
		p = path.Clean("/" + p)
	}
	cur := r.Root()
	for p != "" {
		var comp string
		if i := strings.IndexByte(p, '/'); i >= 0 {
			comp, p = p[:i], p[i+1:]
		} else {
			comp, p = p, ""
		}
		if comp == "" || comp == "." {
			continue
		}
		next, ok := r.Child(cur, comp)
		if !ok {
			return 0, ErrNotExist
		}
		cur = next
	}
	return cur, nil
}

// Path returns the absolute path of id ("/" for the root, "" when id is out
// of range).
func (r *Reader) Path(id ID) string {
	if uint32(id) >= r.count {
		return ""
	}
	if id == 0 {
		return "/"
	}
	var parts [][]byte
	size := 0
	for id != 0 {
		rec := r.rec(id)
		name := r.str(rec, rNameOff)
		parts = append(parts, name)
		size += 1 + len(name)
		parent := ID(le.Uint32(rec[rParent:]))
		if parent >= id {
			// Parents have smaller IDs; anything else is corrupt and
			// could loop.
			return ""
		}
		id = parent
	}
	var sb strings.Builder
	sb.Grow(size)
	for i := len(parts) - 1; i >= 0; i-- {
		sb.WriteByte('/')
		sb.Write(parts[i])
	}
	return sb.String()
}

// Walk calls fn for every entry, depth first from the root, children in name
// order, with its absolute path. If fn returns fs.SkipDir for a directory,
// Walk skips its children; any other error stops the walk and is returned.
// On a corrupt index Walk stops with an error wrapping ErrCorruptIndex; it
// visits each entry at most once whatever the records say.
func (r *Reader) Walk(fn func(id ID, path string) error) error {
	if r.count == 0 {
		return nil
	}
	type frame struct {
		dir       ID
		next, end uint32
		pathLen   int
	}
	// Iterative, so a tar of deeply nested directories cannot exhaust the
	// goroutine stack.
	var stack []frame
	buf := []byte{'/'}
	visit := func(id ID) error {
		err := fn(id, string(buf))
		if err == fs.SkipDir {
			return nil
		}
		if err != nil {
			return err
		}
		first, n, ok := r.childRange(id)
		if !ok {
			return fmt.Errorf("walk index: children of %d: %w", id, ErrCorruptIndex)
		}
		if n > 0 {
			stack = append(stack, frame{dir: id, next: first, end: first + n, pathLen: len(buf)})
		}
		return nil
	}
	if err := visit(0); err != nil {
		return err
	}
	for len(stack) > 0 {
		f := &stack[len(stack)-1]
		if f.next == f.end {
			stack = stack[:len(stack)-1]
			continue
		}
		id := ID(f.next)
		f.next++
		// Entering an entry only from its own parent visits it at most
		// once, even if corrupt ranges overlap.
		if p := ID(le.Uint32(r.rec(id)[rParent:])); p != f.dir {
			return fmt.Errorf("walk index: entry %d listed under %d, parent %d: %w", id, f.dir, p, ErrCorruptIndex)
		}
		buf = buf[:f.pathLen]
		if len(buf) > 1 {
			buf = append(buf, '/')
		}
		buf = append(buf, r.str(r.rec(id), rNameOff)...)
		if err := visit(id); err != nil {
			return err
		}
	}
	return nil
}

// Xattrs returns the extended attributes of id (from PAX SCHILY.xattr.*
// records), or nil when it has none. The map and values are copies.
func (r *Reader) Xattrs(id ID) map[string][]byte {
	rec := r.rec(id)
	if rec == nil {
		return nil
	}
	off := uint64(le.Uint32(rec[rXattrOff:]))
	end := off + uint64(le.Uint32(rec[rXattrLen:]))
	if end > uint64(len(r.xattrs)) || off == end {
		return nil
	}
	b := r.xattrs[off:end]
	m := map[string][]byte{}
	// Items are bounds-checked here only (Verify checks the window, not
	// its contents): a malformed run ends the map early.
	for len(b) >= 8 {
		kl, vl := uint64(le.Uint32(b)), uint64(le.Uint32(b[4:]))
		b = b[8:]
		if kl+vl > uint64(len(b)) {
			break
		}
		m[string(b[:kl])] = append([]byte(nil), b[kl:kl+vl]...)
		b = b[kl+vl:]
	}
	return m
}
