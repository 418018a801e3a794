package fuse

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/lfs-dev/lfs/unionfs"
	"github.com/lfs-dev/lfs/unionfs/unionfstest"
)

type lfsMount struct {
	t      *testing.T
	mnt    string
	upper  string
	lowers []unionfs.Layer
	u      *unionfs.FS
	srv    *Server
}

func (m *lfsMount) Dir() string { return m.mnt }

func (m *lfsMount) mount() {
	m.t.Helper()
	u, err := unionfs.New(m.upper, m.lowers)
	if err != nil {
		m.t.Fatal(err)
	}
	srv, err := Mount(m.mnt, u)
	if err != nil {
		u.Close()
		m.t.Fatal(err)
	}
	m.u, m.srv = u, srv
}

func (m *lfsMount) unmount() error {
	if m.srv == nil {
		return nil
	}
	err := m.srv.Unmount()
	if err != nil {
		// Never leave a mount behind, even when a test failed with
		// files open on it.
		exec.Command("fusermount3", "-u", "-z", m.mnt).Run()
		m.srv.Wait()
	}
	m.u.Close()
	m.srv, m.u = nil, nil
	return err
}

func (m *lfsMount) Remount(t *testing.T) {
	t.Helper()
	if err := m.unmount(); err != nil {
		t.Fatal(err)
	}
	m.mount()
}

func mountWith(t *testing.T, lowers func(base string) []unionfs.Layer) unionfstest.Mount {
	t.Helper()
	unionfstest.CanMount(t)
	base := t.TempDir()
	m := &lfsMount{t: t, mnt: filepath.Join(base, "mnt"), upper: filepath.Join(base, "upper")}
	for _, d := range []string{m.mnt, m.upper} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	m.lowers = lowers(base)
	m.mount()
	t.Cleanup(func() {
		if err := m.unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	return m
}

// TarMount is a Factory: lfs over layer tars served from their indexes.
func TarMount(t *testing.T, layers []unionfstest.Layer) unionfstest.Mount {
	return mountWith(t, func(base string) []unionfs.Layer { return unionfstest.TarLayers(t, base, layers) })
}

// DirMount returns a Factory: lfs over the layers extracted into
// directories in dialect d.
func DirMount(d unionfstest.Dialect) unionfstest.Factory {
	return func(t *testing.T, layers []unionfstest.Layer) unionfstest.Mount {
		return mountWith(t, func(base string) []unionfs.Layer {
			var out []unionfs.Layer
			for _, dir := range unionfstest.ExtractAll(t, base, layers, d) {
				l, err := unionfs.DirLayer(dir)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { unionfs.CloseLayer(l) })
				out = append(out, l)
			}
			return out
		})
	}
}

func TestSuiteTarLayers(t *testing.T) { unionfstest.Suite(t, TarMount) }

func TestSuiteOverlayDirs(t *testing.T) { unionfstest.Suite(t, DirMount(unionfstest.Overlay)) }

func TestSuiteOCIDirs(t *testing.T) { unionfstest.Suite(t, DirMount(unionfstest.OCI)) }
