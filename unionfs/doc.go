// Package unionfs owns the merge rules of lfs's union filesystem, in pure
// Go and without FUSE (a test forbids the import): a stack of read-only
// [Layer]s (tar layers served from their index, [TarLayer]; directories,
// [DirLayer]) under one writable upper directory, as kernel overlayfs
// merges them. The fuse package serves an [FS] to the kernel.
//
// # Merge rules
//
// A name is looked up from the upper down. A whiteout ends the search
// (absent); a non-directory is the answer; a directory merges with the
// directories of the same name below it, down to the first opaque one or
// the first layer holding a non-directory or whiteout there. Readdir lists
// each visible name once: upper entries first, then each layer's in order.
//
// # The upper directory
//
// It is an OCI layer diff in the making, written without privilege (no
// mknod, no trusted.* xattrs):
//
//   - ".wh.NAME" (an empty file) records that NAME was deleted where a
//     lower layer holds it; it is written before the upper's own NAME goes,
//     so no instant shows the lower entry. A NAME beside its ".wh.NAME" is
//     shown (a whiteout hides only the layers below).
//   - ".wh..wh..opq" in a directory makes it opaque: written in a directory
//     made where a lower entry of that name was deleted (rmdir then mkdir),
//     and in a pure-upper directory renamed over such a name.
//   - ".wh..wh.work" is the default work area (WorkDir overrides it): every
//     copy-up is built there and renamed into place, so a copy-up killed
//     midway never shows. OCI tools skip ".wh..wh.*" as AUFS metadata;
//     commit must skip it too.
//   - user.lfs.origin (8 bytes, little endian) on a copied-up file or
//     directory holds its inode number from before the copy-up, so that
//     st_ino stays the same across copy-up, rename and hard links.
//
// Names starting with ".wh." are never shown and cannot be created
// (ErrReserved). An upper written by kernel overlayfs (character device 0/0
// whiteouts, trusted.overlay.opaque or user.overlay.opaque = "y") is read
// too, as is any directory layer in either dialect, so layers stack.
//
// # Inode numbers
//
// Layer i's own inode number (a tar entry's hard link group, a directory's
// st_ino) in the low 48 bits, i above them; the upper is layer 0, its
// numbers pass unchanged (filesystems that hand out inode numbers of 2^48
// and more would collide). Hard links within a layer share a number;
// a copied-up entry keeps its lower number (origin xattr; a symlink, which
// cannot carry user xattrs, does not).
//
// # Copy-up
//
// The first open for writing, truncate, chmod, chown, utimens or xattr
// change copies the entry (and its missing ancestors) into the upper: data
// with copy_file_range from the file the layer keeps it in (a tar at the
// entry's offset), none for O_TRUNC and only the kept prefix for a
// truncate; then xattrs, owner (as root), mode and times. One mutex
// serialises copy-ups, so concurrent first writes copy once; reads never
// take it. A regular file hard-linked within its layer is copied once and
// every other name of the group that the union shows from that layer is
// linked to the copy (copying up its directories), so the names stay one
// inode with one content, as overlayfs with index=on keeps them (with
// index=off, overlayfs breaks the link instead). A [File] opened for
// reading before the copy-up follows it ([FS.Follow]) and reads the new
// data, as overlayfs does since Linux 4.19.
//
// # Paths
//
// Methods take paths relative to the root. Lookups resolve from a parent
// [Node] (what the FUSE server keeps per inode); mutating methods resolve
// their paths again, so no stale snapshot decides a change. The FS counts
// completed changes (an epoch): a Node resolved since the last one is
// still true, so read paths ([FS.Refresh]) reuse it without a syscall,
// and a lower-only Node computes its attributes and listing once. Upper
// files are opened with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS), so a
// directory swapped for a symlink meanwhile never leads out of the upper. Directory
// renames are refused with ErrCrossDevice unless the directory lies in the
// upper only (overlayfs without redirect_dir answers EXDEV too).
package unionfs
