package tarindex

// The binary form of an index. All integers are little-endian. The file is
// four sections, in this order, with no gaps:
//
//	header   128 bytes
//	records  count × 96 bytes, indexed by ID
//	strings  names and symlink targets, concatenated, deduplicated, no separators
//	xattrs   per entry, a run of items {keyLen u32, valLen u32, key, value}
//
// Header:
//
//	0   magic      "LFSIDX\x00\x00"
//	8   version    u32 = 1
//	12  recSize    u32 = 96
//	16  count      u32   entries, ≥ 1 (the root)
//	20  reserved   u32 = 0
//	24  recOff     u64 = 128
//	32  strOff     u64 = recOff + count×recSize
//	40  strLen     u64
//	48  xattrOff   u64 = strOff + strLen
//	56  xattrLen   u64
//	64  files      u64 \
//	72  dirs       u64  |
//	80  symlinks   u64  | Stats, so that they cost nothing to report
//	88  whiteouts  u64  |
//	96  dataBytes  u64 /
//	104 fileSize   u64 = xattrOff + xattrLen, the whole file: catches truncation
//	112 reserved   16 bytes = 0
//
// Record (one per entry; strings are (offset, length) into the strings
// section, xattrs (offset, length) into the xattrs section):
//
//	0  nameOff u32    4  nameLen u32    8  linkOff u32   12 linkLen u32
//	16 type u8        17 flags u8 (1 opaque, 2 implicit)  18 reserved u16 = 0
//	20 mode u32       24 uid u32        28 gid u32
//	32 size i64       40 offset i64     48 mtimeSec i64  56 mtimeNsec u32
//	60 devmajor u32   64 devminor u32   68 inode u32     72 nlink u32
//	76 parent u32     80 firstChild u32 84 childCount u32
//	88 xattrOff u32   92 xattrLen u32
//
// Records are in breadth-first order from the root (ID 0), each directory's
// children contiguous and sorted by name bytes, so every entry's parent has a
// smaller ID and every directory's firstChild a larger one.
//
// Open and Load check only the header and that the sections tile the file,
// so opening costs the same for 10 entries or 10 million. Accessors check
// what they read: an ID against count, a string window against the strings
// section, a children range against count and firstChild > the directory, a
// parent < the child. Walk also enters an entry only from the directory its
// parent field names, so even overlapping ranges cannot make it revisit
// anything; Path stops at a parent that is not smaller.
//
// Reader.Verify checks every record in one loop: its windows, the tree shape,
// and that the children ranges add up to count-1 (each non-root entry lies in
// its parent's range, so the ranges then partition the entries). It does not
// read strings: unsorted or odd names give wrong answers, never a panic.

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

const (
	magic      = "LFSIDX\x00\x00"
	version    = 1
	headerSize = 128
	recSize    = 96

	flagOpaque   = 1
	flagImplicit = 2

	// Record field offsets.
	rNameOff  = 0
	rNameLen  = 4
	rLinkOff  = 8
	rLinkLen  = 12
	rType     = 16
	rFlags    = 17
	rReserved = 18
	rMode     = 20
	rUID      = 24
	rGID      = 28
	rSize     = 32
	rOffset   = 40
	rMtimeSec = 48
	rMtimeNs  = 56
	rDevmaj   = 60
	rDevmin   = 64
	rInode    = 68
	rNlink    = 72
	rParent   = 76
	rFirst    = 80
	rNchild   = 84
	rXattrOff = 88
	rXattrLen = 92

	// Header field offsets.
	hVersion   = 8
	hRecSize   = 12
	hCount     = 16
	hReserved  = 20
	hRecOff    = 24
	hStrOff    = 32
	hStrLen    = 40
	hXattrOff  = 48
	hXattrLen  = 56
	hFiles     = 64
	hDirs      = 72
	hSymlinks  = 80
	hWhiteouts = 88
	hDataBytes = 96
	hFileSize  = 104
)

var le = binary.LittleEndian

type stringTable struct {
	buf  []byte
	seen map[string]uint32
}

// add interns s. Names repeat a lot across a layer (index.js, __init__.py,
// LICENSE), so deduplication pays for its map.
func (t *stringTable) add(s string) (off, n uint32, err error) {
	if s == "" {
		return 0, 0, nil
	}
	if o, ok := t.seen[s]; ok {
		return o, uint32(len(s)), nil
	}
	if uint64(len(t.buf))+uint64(len(s)) > math.MaxUint32 {
		return 0, 0, fmt.Errorf("encode index: string table over 4 GiB")
	}
	off = uint32(len(t.buf))
	t.buf = append(t.buf, s...)
	t.seen[s] = off
	return off, uint32(len(s)), nil
}

// encode lays the tree out breadth-first and serialises it.
func (b *builder) encode() (*Reader, error) {
	order := []*node{b.root}
	b.root.id = 0
	// first[i] is where entry i's children start: the next free ID when
	// its turn in the breadth-first walk comes.
	first := make([]uint32, 0, 64)
	names := make([]string, 0, 64)
	for i := 0; i < len(order); i++ {
		n := order[i]
		first = append(first, uint32(len(order)))
		if n.typ != TypeDir {
			continue
		}
		names = names[:0]
		for name := range n.children {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			c := n.children[name]
			if len(order) >= math.MaxUint32 {
				return nil, fmt.Errorf("encode index: too many entries")
			}
			c.id = ID(len(order))
			order = append(order, c)
		}
	}
	// IDs grow with the layout, so the first member met is the smallest.
	for _, n := range order {
		if n.group != nil && !n.group.set {
			n.group.inode, n.group.set = n.id, true
		}
	}

	strs := stringTable{seen: map[string]uint32{}}
	var xbuf []byte
	recs := make([]byte, len(order)*recSize)
	var st Stats
	st.Entries = len(order)
	for i, n := range order {
		r := recs[i*recSize : (i+1)*recSize]
		off, l, err := strs.add(n.name)
		if err != nil {
			return nil, err
		}
		le.PutUint32(r[rNameOff:], off)
		le.PutUint32(r[rNameLen:], l)
		off, l, err = strs.add(n.linkname)
		if err != nil {
			return nil, err
		}
		le.PutUint32(r[rLinkOff:], off)
		le.PutUint32(r[rLinkLen:], l)
		r[rType] = byte(n.typ)
		var flags byte
		if n.opaque {
			flags |= flagOpaque
		}
		if n.implicit {
			flags |= flagImplicit
		}
		r[rFlags] = flags
		le.PutUint32(r[rMode:], n.mode)
		le.PutUint32(r[rUID:], n.uid)
		le.PutUint32(r[rGID:], n.gid)
		le.PutUint64(r[rSize:], uint64(n.size))
		le.PutUint64(r[rOffset:], uint64(n.offset))
		le.PutUint64(r[rMtimeSec:], uint64(n.mtime.Unix()))
		le.PutUint32(r[rMtimeNs:], uint32(n.mtime.Nanosecond()))
		le.PutUint32(r[rDevmaj:], n.devmaj)
		le.PutUint32(r[rDevmin:], n.devmin)
		inode, nlink := n.id, uint32(1)
		switch n.typ {
		case TypeDir:
			nlink = 2
			for _, c := range n.children {
				if c.typ == TypeDir {
					nlink++
				}
			}
			st.Dirs++
			le.PutUint32(r[rFirst:], first[i])
			le.PutUint32(r[rNchild:], uint32(len(n.children)))
		case TypeReg:
			inode, nlink = n.group.inode, uint32(n.group.live)
			st.Files++
			if inode == n.id {
				st.DataBytes += n.size
			}
		case TypeSymlink:
			st.Symlinks++
		case TypeWhiteout:
			st.Whiteouts++
		}
		le.PutUint32(r[rInode:], uint32(inode))
		le.PutUint32(r[rNlink:], nlink)
		if n.parent != nil {
			le.PutUint32(r[rParent:], uint32(n.parent.id))
		}
		if len(n.xattrs) > 0 {
			slices.SortFunc(n.xattrs, func(a, b xattr) int {
				switch {
				case a.key < b.key:
					return -1
				case a.key > b.key:
					return 1
				}
				return 0
			})
			start := len(xbuf)
			for _, x := range n.xattrs {
				xbuf = le.AppendUint32(xbuf, uint32(len(x.key)))
				xbuf = le.AppendUint32(xbuf, uint32(len(x.val)))
				xbuf = append(xbuf, x.key...)
				xbuf = append(xbuf, x.val...)
			}
			if uint64(len(xbuf)) > math.MaxUint32 {
				return nil, fmt.Errorf("encode index: xattr table over 4 GiB")
			}
			le.PutUint32(r[rXattrOff:], uint32(start))
			le.PutUint32(r[rXattrLen:], uint32(len(xbuf)-start))
		}
	}

	strOff := uint64(headerSize + len(recs))
	xattrOff := strOff + uint64(len(strs.buf))
	total := xattrOff + uint64(len(xbuf))
	out := make([]byte, headerSize, total)
	copy(out, magic)
	le.PutUint32(out[hVersion:], version)
	le.PutUint32(out[hRecSize:], recSize)
	le.PutUint32(out[hCount:], uint32(len(order)))
	le.PutUint64(out[hRecOff:], headerSize)
	le.PutUint64(out[hStrOff:], strOff)
	le.PutUint64(out[hStrLen:], uint64(len(strs.buf)))
	le.PutUint64(out[hXattrOff:], xattrOff)
	le.PutUint64(out[hXattrLen:], uint64(len(xbuf)))
	le.PutUint64(out[hFiles:], uint64(st.Files))
	le.PutUint64(out[hDirs:], uint64(st.Dirs))
	le.PutUint64(out[hSymlinks:], uint64(st.Symlinks))
	le.PutUint64(out[hWhiteouts:], uint64(st.Whiteouts))
	le.PutUint64(out[hDataBytes:], uint64(st.DataBytes))
	le.PutUint64(out[hFileSize:], total)
	out = append(out, recs...)
	out = append(out, strs.buf...)
	out = append(out, xbuf...)
	// Check our own output with the same code that checks a file: an
	// encoder bug then fails Build instead of a later Open.
	r, err := Load(out)
	if err == nil {
		err = r.Verify()
	}
	if err != nil {
		return nil, fmt.Errorf("encode index: %w", err)
	}
	return r, nil
}
