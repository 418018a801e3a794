// Package fuse serves a [unionfs.FS] over FUSE with go-fuse v2. It is an
// adapter and nothing more: every merge rule lives in unionfs, and this
// package turns kernel requests into unionfs calls and unionfs errors into
// errno values (through one errors.Is table; anything unexpected becomes
// EIO and one log line).
//
// # Caching
//
// Entries and attributes that only lower layers hold cannot change while
// the union is mounted except through the mount itself, where the kernel
// sees the change; they get long entry and attribute timeouts, and lower
// files open with FOPEN_KEEP_CACHE. Upper entries get short timeouts.
// Every change made through the mount is made by the kernel's own request,
// so it updates its caches itself; that is why negative entries are kept
// an hour too, and why every directory opens with FOPEN_CACHE_DIR (the
// kernel drops a cached listing when a change through the mount touches
// the directory). FLUSH answers ENOSYS once, so the kernel stops sending
// it on every close.
//
// What is left per warm access is one round trip per open (OPEN, and
// OPENDIR/RELEASEDIR for directories; RELEASE is sent asynchronously).
// Removing those needs FUSE's no-open mode, which is connection-wide and
// would have every read and write of an upper file find its descriptor
// without a handle.
//
// # Concurrency
//
// Handlers run concurrently (go-fuse starts a goroutine per request) and
// take no lock on the read path; unionfs serialises copy-ups only. The
// server must never start a process whose working directory or files lie
// on its own mount (see go-fuse's notes on deadlocks).
//
// # Inode numbers
//
// A node's StableAttr.Ino is the merged inode number unionfs gives (kept
// across copy-up), so the kernel keeps one inode across a copy-up. Hard
// links within a layer are one kernel inode, and stay one after a copy-up
// (unionfs links every name of the group to the copy). When the upper's
// filesystem reuses the number of an entry the kernel still knows as
// another type, the new entry gets another generation.
package fuse
