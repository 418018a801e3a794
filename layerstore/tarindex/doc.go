// Package tarindex indexes an uncompressed layer tar so that a union
// filesystem can serve its files straight out of the tar, without extracting
// it.
//
// The package owns two things: [Build], which reads a tar stream once at
// import and records every entry's metadata and data offset, and the binary
// index it writes ([Index.WriteTo]), which [Open] maps into memory so that a
// lookup costs a few binary searches and no parsing. Reading file data is the
// caller's business: ReadAt(buf, e.Offset) on the layer tar itself.
//
// # Lifecycle
//
//	x, err := tarindex.Build(layerTar)   // one pass, import time
//	_, err = x.WriteTo(indexFile)        // persist next to the tar
//	r, err := tarindex.Open(indexPath)   // mmap + header check: O(1), any time later
//	err = r.Verify()                     // optional: check every record, ~10 ns each
//	id, err := r.Lookup("/usr/bin/env")  // ErrNotExist when absent
//	e := r.Entry(id)                     // e.Offset, e.Size into the tar
//	r.Close()
//
// [Index.Reader] gives a [Reader] over an index that was just built, without a
// file, which is what the tests use.
//
// # Invariants
//
//   - Every entry has an [ID]; [Reader.Root] is 0 and is always a directory.
//     Every other entry's Parent is a directory with a smaller ID, and the
//     children of a directory are contiguous IDs sorted by the bytes of their
//     names, so [Reader.Child] is a binary search and [Reader.Walk] needs no
//     sorting. Names within a directory are unique.
//   - Paths are relative to the root: leading "/" and "./" are stripped and the
//     name is cleaned; a name that still escapes the root is refused
//     ([ErrUnsafePath]). Symlink targets are stored verbatim and never followed,
//     neither while building nor by [Reader.Lookup].
//   - A later tar entry with the same path replaces an earlier one. A directory
//     replaced by a directory keeps its children (and its opaque marker) and
//     takes the new metadata; replaced by anything else, its subtree is dropped.
//   - Directories missing from the tar but needed by an entry below them are
//     synthesised: Implicit, mode 0755, owner 0:0, mtime the Unix epoch.
//   - Whiteouts are entries, not files: "DIR/.wh.NAME" is an entry NAME of
//     [TypeWhiteout] in DIR, and "DIR/.wh..wh..opq" sets Opaque on DIR.
//     AUFS metadata (top-level names starting ".wh..wh.") is skipped, as Docker
//     does.
//   - Hard links get their own ID and Type [TypeReg], share the Offset and Size
//     of their target, and every member of a group has Inode set to the
//     smallest ID in the group and Nlink to the group's size. A link's other
//     metadata (mode, owner, mtime, xattrs) is its own header's; a filesystem
//     that wants one inode's attributes should read them from Entry(Inode).
//   - Directories have Nlink 2 + the number of child directories.
//   - Regular files' data lies at [Offset, Offset+Size) of the bytes Build read.
//
// # Corrupt indexes
//
// Open checks the header in constant time and does not read records, so that
// opening is as cheap for a 100,000-entry layer as for an empty one. Every
// accessor bounds-checks what it reads instead: on a damaged index they give
// wrong answers, never a panic or a read outside the mapping, and Walk stops
// with ErrCorruptIndex rather than loop. [Reader.Verify] checks all records
// when a caller wants certainty (after import, or in an fsck).
//
// # Concurrency
//
// A [Reader] is immutable and safe for concurrent use, except that [Reader.Close]
// must not race with other calls: after Close the mapping is gone.
package tarindex

import (
	"errors"
	"fmt"
	"io/fs"
	"time"
)

// Errors returned by this package; check them with errors.Is. Build and Open
// wrap them with the entry or file they concern.
var (
	// ErrNotExist is returned by Lookup for a path that is not in the index.
	// It wraps fs.ErrNotExist.
	ErrNotExist = fmt.Errorf("tarindex: %w", fs.ErrNotExist)
	// ErrUnsafePath is returned by Build for an entry whose name escapes the
	// root after cleaning, or that names nothing (an empty whiteout).
	ErrUnsafePath = errors.New("tarindex: unsafe path")
	// ErrBadLink is returned by Build for a hard link whose target is not an
	// earlier regular file of the same tar.
	ErrBadLink = errors.New("tarindex: bad hard link")
	// ErrSparse is returned by Build for GNU or PAX sparse entries, whose data
	// is not stored contiguously and so cannot be served by one ReadAt.
	ErrSparse = errors.New("tarindex: sparse entry")
	// ErrUnsupported is returned by Build for entry types it cannot represent
	// (GNU volume or multi-volume headers, ...) and for entries below a path
	// that is not a directory.
	ErrUnsupported = errors.New("tarindex: unsupported entry")
	// ErrCorruptIndex is returned by Open and Load for bytes that are not a
	// well-formed index.
	ErrCorruptIndex = errors.New("tarindex: corrupt index")
)

// ID identifies an entry within one index. IDs are dense: 0 ≤ id < Len().
type ID uint32

// Type is the kind of an entry.
type Type uint8

// Entry types. The zero Type is invalid, so a zero Entry is recognisable.
const (
	TypeDir Type = iota + 1
	TypeReg
	TypeSymlink
	TypeChar
	TypeBlock
	TypeFIFO
	// TypeWhiteout marks a name hidden in lower layers (an overlay whiteout).
	TypeWhiteout
)

var typeNames = [...]string{"invalid", "dir", "reg", "symlink", "char", "block", "fifo", "whiteout"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// Entry is the metadata of one indexed entry.
type Entry struct {
	Name     string // base name ("" for root); for whiteouts the hidden name, without ".wh."
	Type     Type
	Mode     uint32 // permission, setuid, setgid and sticky bits (07777), never the type bits
	UID, GID uint32
	Size     int64     // data size for regular files (hard links: the target's); 0 otherwise
	ModTime  time.Time // UTC; nanoseconds only when PAX gave them
	Linkname string    // symlink target, verbatim
	Devmajor uint32
	Devminor uint32
	Offset   int64 // byte offset of the file data inside the tar (regular files)
	Inode    ID    // smallest ID of its hard link group (itself if not linked)
	Nlink    uint32
	Opaque   bool // directory carried a .wh..wh..opq marker
	Implicit bool // directory synthesised: the tar had entries below it but none for it
	Parent   ID   // the root's parent is itself
}

// Stats summarises an index.
type Stats struct {
	Entries   int   // all entries, root and whiteouts included
	Files     int   // regular files, each hard link name counted
	Dirs      int   // directories, root included
	Symlinks  int   // symbolic links
	Whiteouts int   // whiteout entries (opaque markers are flags, not entries)
	DataBytes int64 // file data in the tar, each hard link group counted once
}
