// Package tests holds lfs's end-to-end tests: they run the real lfs binary,
// each test on its own store (--root in a temp dir), against archives that
// real tools write in test setup (umoci, skopeo, GNU tar, gzip, zstd), ones
// crafted here byte by byte for bad input, and ones lfs writes itself.
//
// The tests need root (a store holds files of any owner, and the fixtures
// are unpacked as root); as anyone else every test skips and says so. They
// use $LFS_BIN when it is set (make test sets it to bin/lfs) and otherwise
// build ../cmd/lfs once. A test skips, naming the tool, when a tool it
// needs is not installed (make deps installs them all).
//
// What they hold lfs to is the CLI contract: errors are one line
// "Error: MESSAGE" on stderr with exit code 125, and a command that fails
// leaves the store exactly as it was.
package tests
