package unionfstest

import (
	"fmt"
	"strings"
)

// base is a two-layer image most cases start from.
var base = []Layer{
	{
		Dir("etc"), File("etc/passwd", "root:x:0:0\n"), File("etc/hosts", "127.0.0.1 localhost\n", Mode(0o600), Owner(1000, 1000)),
		Dir("bin"), File("bin/sh", "#!sh", Mode(0o755)), Symlink("bin/ash", "sh"),
		Dir("d"), File("d/x", "x1"), File("d/y", "y1"), Dir("d/sub"), File("d/sub/deep", "deep"),
		Dir("empty"), Dir("gone"), File("gone/f", "f"),
		File("hl/a", "linked"), Hardlink("hl/b", "hl/a"),
		File("attr", "xattrs", Xattr("user.k", "v1"), Xattr("trusted.t", "tv")),
		File("suid", "s", Mode(0o4755)),
		FIFO("fifo"),
	},
	{
		File("etc/passwd", "root:x:0:0\nuser:x:1000:1000\n"), File("etc/new", "new"),
		Whiteout("d/y"), File("d/z", "z2"), Whiteout("gone"),
		Opaque("opq"), File("opq/only", "top"),
	},
}

// opaqueBelow gives "opq" content in the bottom layer that the top
// layer's opaque marker must hide.
var layersOpaque = []Layer{
	{File("opq/hidden", "h"), Dir("opq/hdir"), File("opq/hdir/h2", "h2")},
	base[0], base[1],
}

// Cases are the behaviours Suite checks.
var Cases = []Case{
	{Name: "layer-order", Layers: base, Steps: func(s *Steps) {
		s.Read("etc/passwd")
		s.Read("etc/new")
		s.Stat("etc/hosts")
		s.Ls("etc")
	}},
	{Name: "whiteouts", Layers: base, Steps: func(s *Steps) {
		s.Stat("d/y")
		s.Stat("gone")
		s.Stat("gone/f")
		s.Ls("d")
		s.Ls(".")
	}},
	{Name: "opaque", Layers: layersOpaque, Steps: func(s *Steps) {
		s.Ls("opq")
		s.Stat("opq/hidden")
		s.Stat("opq/hdir/h2")
	}},
	{Name: "readdir-merge", Layers: []Layer{
		{File("m/a", "1"), File("m/b", "1"), Dir("m/d"), File("m/d/1", "")},
		{File("m/b", "2"), File("m/c", "2"), Dir("m/d"), File("m/d/2", "")},
		{File("m/c", "3"), Whiteout("m/a"), File("m/e", "3"), File("m/d/3", "")},
	}, Steps: func(s *Steps) {
		s.Ls("m")
		s.Ls("m/d")
		s.Read("m/b")
		s.Read("m/c")
	}},
	{Name: "copy-up", Layers: base, Steps: func(s *Steps) {
		s.Remember("hosts", "etc/hosts")
		s.Append("etc/hosts", "::1 localhost\n")
		s.Read("etc/hosts")
		s.Stat("etc/hosts")
		s.SameIno("hosts", "etc/hosts")
		s.Overwrite("d/sub/deep", "DE")
		s.Read("d/sub/deep")
		s.Stat("d/sub")
		s.Ls("d/sub")
		s.Ls("d")
	}},
	{Name: "o-trunc", Layers: base, Steps: func(s *Steps) {
		s.Write("etc/passwd", "short")
		s.Read("etc/passwd")
		s.Stat("etc/passwd")
		s.Truncate("bin/sh", 2)
		s.Read("bin/sh")
		s.Truncate("d/x", 10)
		s.Read("d/x")
	}},
	{Name: "create", Layers: base, Steps: func(s *Steps) {
		s.Write("new", "n")
		s.Write("d/sub/new", "n")
		s.CreateExcl("d/x")
		s.CreateExcl("d/y")
		s.Mkdir("d/newdir", 0o750)
		s.Write("d/newdir/f", "f")
		s.Mkfifo("d/fifo")
		s.Stat("d/fifo")
		s.Symlink("../etc/passwd", "d/ln")
		s.Readlink("d/ln")
		s.Read("d/ln")
		s.Ls("d")
	}},
	{Name: "unlink", Layers: base, Steps: func(s *Steps) {
		s.Unlink("etc/passwd")
		s.Stat("etc/passwd")
		s.Unlink("etc/passwd")
		s.Write("etc/passwd", "again")
		s.Read("etc/passwd")
		s.Write("tmpf", "t")
		s.Unlink("tmpf")
		s.Unlink("d")
		s.Unlink("bin/ash")
		s.Ls("etc")
		s.Ls("bin")
	}},
	{Name: "rmdir", Layers: layersOpaque, Steps: func(s *Steps) {
		s.Rmdir("empty")
		s.Rmdir("d")
		s.Rmdir("etc/passwd")
		s.Unlink("d/sub/deep")
		s.Rmdir("d/sub")
		s.Stat("d/sub")
		s.Mkdir("d/sub", 0o755)
		s.Ls("d/sub")
		s.Unlink("opq/only")
		s.Rmdir("opq")
		s.Mkdir("opq", 0o700)
		s.Ls("opq")
		s.Mkdir("empty", 0o755)
		s.Mkdir("empty", 0o755)
	}},
	{Name: "rename-files", Layers: base, Steps: func(s *Steps) {
		s.Remember("x", "d/x")
		s.Rename("d/x", "d/x2")
		s.Read("d/x2")
		s.Stat("d/x")
		s.Rename("etc/passwd", "d/z")
		s.Read("d/z")
		s.Rename("d/z", "etc/passwd")
		s.Rename("d/x2", "d")
		s.Rename2("etc/hosts", "etc/new", 1)
		s.Rename2("etc/hosts", "etc/new", 2)
		s.Read("etc/hosts")
		s.Read("etc/new")
		s.Write("u1", "u")
		s.Rename("u1", "d/y")
		s.Read("d/y")
		s.Ls("d")
		s.Ls("etc")
	}},
	{Name: "rename-dirs", Layers: base, Steps: func(s *Steps) {
		s.Rename("d", "d2")
		s.Rename("d/sub", "dsub")
		s.Mkdir("nd", 0o755)
		s.Write("nd/f", "f")
		s.Rename("nd", "nd2")
		s.Ls("nd2")
		s.Rename("nd2", "gone")
		s.Ls("gone")
		s.Mkdir("nd3", 0o755)
		s.Rename("nd3", "empty")
		s.Rename("gone", "d")
	}},
	{Name: "symlinks", Layers: base, Steps: func(s *Steps) {
		s.Readlink("bin/ash")
		s.Read("bin/ash")
		s.Chown("bin/ash", 7, 8)
		s.Stat("bin/ash")
		s.Readlink("bin/ash")
		s.Symlink("dangling", "bin/dl")
		s.Stat("bin/dl")
		s.Read("bin/dl")
	}},
	{Name: "hardlinks", Layers: base, Steps: func(s *Steps) {
		s.Remember("a", "hl/a")
		s.SameIno("a", "hl/b")
		s.Stat("hl/a")
		s.Link("d/x", "d/xl")
		s.Stat("d/x")
		s.Stat("d/xl")
		s.Remember("x", "d/x")
		s.SameIno("x", "d/xl")
		s.Append("d/xl", "+")
		s.Read("d/x")
		s.Link("d", "dl")
	}},
	{Name: "attributes", Layers: base, Steps: func(s *Steps) {
		s.Remember("sh", "bin/sh")
		s.Chmod("bin/sh", 0o700)
		s.Stat("bin/sh")
		s.SameIno("sh", "bin/sh")
		s.Chown("etc/passwd", 42, 43)
		s.Stat("etc/passwd")
		s.Chmod("d", 0o711)
		s.Stat("d")
		s.Read("bin/sh")
		s.Stat("suid")
		s.Utime("d/x", 1234567890)
		s.Stat("d/x")
	}},
	{Name: "xattrs", Layers: base, Steps: func(s *Steps) {
		s.Getxattr("attr", "user.k")
		s.Getxattr("attr", "trusted.t")
		s.Getxattr("attr", "user.none")
		s.Setxattr("attr", "user.k2", "v2")
		s.Getxattr("attr", "user.k2")
		s.Removexattr("attr", "user.k")
		s.Getxattr("attr", "user.k")
		s.Removexattr("d/x", "user.none")
		s.Setxattr("d", "user.dir", "dv")
		s.Getxattr("d", "user.dir")
	}},
	{Name: "dir-copy-up-keeps-merge", Layers: base, Steps: func(s *Steps) {
		s.Write("d/sub/added", "a")
		s.Ls("d/sub")
		s.Ls("d")
		s.Unlink("d/x")
		s.Ls("d")
		s.Write("d/x", "back")
		s.Read("d/x")
	}},
	{Name: "read-after-copy-up", Layers: base, Steps: func(s *Steps) {
		s.ReadAfterWrite("d/x", "NEW")
		s.ReadAfterWrite("d/sub/deep", "D")
		s.Read("d/x")
	}},
	// lfs keeps a layer's hard links together on copy-up, as overlayfs
	// with index=on does: every name of the group is linked to the copy.
	{Name: "hardlink-copy-up", Layers: base, Index: true, Steps: func(s *Steps) {
		s.Remember("a", "hl/a")
		s.Append("hl/a", "+more")
		s.Read("hl/a")
		s.Read("hl/b")
		s.Stat("hl/a")
		s.Stat("hl/b")
		s.SameIno("a", "hl/a")
		s.SameIno("a", "hl/b")
		s.Append("hl/b", "+b")
		s.Read("hl/a")
	}},
	{Name: "fsync-append-statfs", Layers: base, Steps: func(s *Steps) {
		s.Fsync("etc/passwd", "x:1\n")
		s.Fsync("etc/passwd", "y:2\n")
		s.Read("etc/passwd")
		s.Write("fresh", "a")
		s.Fsync("fresh", "b")
		s.Read("fresh")
		s.Statfs(".")
		s.Statfs("d/sub")
	}},
	{Name: "mmap-shared", Layers: base, Steps: func(s *Steps) {
		s.MmapWrite("etc/passwd", "ROOT")
		s.Read("etc/passwd")
		s.Write("fresh", "abcdef")
		s.MmapWrite("fresh", "XY")
		s.Read("fresh")
	}},
	{Name: "readdir-changing", Layers: manyLayers, Steps: func(s *Steps) {
		s.ReaddirChanging("many", 5, "e29", "e35", "f03")
		s.Seekdir("many")
		s.Ls("many")
		s.Mkdir("up", 0o755)
		for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
			s.Write("up/"+n, n)
		}
		s.ReaddirChanging("up", 3, "e", "f")
		s.Seekdir("up")
	}},
	{Name: "long-names", Layers: []Layer{{Dir("n"), File("n/"+strings.Repeat("l", 255), "lower")}}, Steps: func(s *Steps) {
		s.Write("n/"+strings.Repeat("a", 255), "ok")
		s.Write("n/"+strings.Repeat("b", 256), "too long")
		s.Stat("n/" + strings.Repeat("c", 256))
		s.Mkdir("n/"+strings.Repeat("d", 256), 0o755)
		s.Read("n/" + strings.Repeat("l", 255))
		s.Ls("n")
	}},
}

// manyLayers gives a merged directory of 60 names, enough for readdir to
// take several calls.
var manyLayers = func() []Layer {
	var lo, hi Layer
	for i := range 40 {
		lo = append(lo, File(fmt.Sprintf("many/e%02d", i), ""))
	}
	for i := range 20 {
		hi = append(hi, File(fmt.Sprintf("many/f%02d", i), ""))
	}
	hi = append(hi, Whiteout("many/e39"))
	return []Layer{lo, hi}
}()
