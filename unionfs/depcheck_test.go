package unionfs_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The merge rules must not depend on FUSE: unionfs is tested without a
// mount, and a later server (NFS, a snapshotter) may reuse it.
func TestNoFUSEImport(t *testing.T) {
	for _, pkg := range []string{"github.com/lfs-dev/lfs/unionfs", "github.com/lfs-dev/lfs/layerstore/..."} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, "github.com/hanwen/go-fuse") {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
}
