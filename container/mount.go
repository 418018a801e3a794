package container

import (
	"fmt"
	"os"
	"sync"

	lfsfuse "github.com/lfs-dev/lfs/fuse"
	"github.com/lfs-dev/lfs/layerstore"
	"github.com/lfs-dev/lfs/unionfs"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// Mounted is a union this process serves over FUSE.
type Mounted struct {
	// Dir is the mountpoint.
	Dir string
	// Upper is the writable layer ("" for a read-only mount).
	Upper string

	srv     *lfsfuse.Server
	once    sync.Once
	closeFn func()
}

func (m *Mounted) release() { m.once.Do(m.closeFn) }

// Unmount unmounts, waits for the server to stop and releases the layers.
func (m *Mounted) Unmount() error {
	err := m.srv.Unmount()
	m.release()
	return err
}

// Wait returns when the mount is gone, unmounted by anyone; the layers
// are released then.
func (m *Mounted) Wait() {
	m.srv.Wait()
	m.release()
}

// MountOption configures MountImage.
type MountOption func(*mountOptions)

type mountOptions struct {
	upper, work string
	readOnly    bool
	debug       bool
	prepare     func(u *unionfs.FS) error
}

// Prepare runs fn on the union before it is served: changes made there
// cost no FUSE round trip and are all the kernel ever sees.
func Prepare(fn func(u *unionfs.FS) error) MountOption {
	return func(o *mountOptions) { o.prepare = fn }
}

// Upper is the writable layer of the mount, made if missing; work is the
// work area on its filesystem ("" for the default inside upper).
func Upper(upper, work string) MountOption {
	return func(o *mountOptions) { o.upper, o.work = upper, work }
}

// MountReadOnly refuses every change, even with an upper.
func MountReadOnly() MountOption { return func(o *mountOptions) { o.readOnly = true } }

// FuseDebug logs every FUSE request.
func FuseDebug(on bool) MountOption { return func(o *mountOptions) { o.debug = on } }

// MountImage serves the union of the image's layers, under the Upper
// option's writable layer (read-only without one), at dir.
func MountImage(s *layerstore.Store, image digest.Digest, dir string, opts ...MountOption) (*Mounted, error) {
	return serve(dir, opts, func(upper string, uopts []unionfs.Option) (*unionfs.FS, func(), error) {
		return OpenImage(s, image, upper, uopts...)
	})
}

// MountDirs serves the union of plain directories (topmost first, in
// any dialect unionfs reads), under the Upper option's writable layer,
// at dir.
func MountDirs(lowers []string, dir string, opts ...MountOption) (*Mounted, error) {
	return serve(dir, opts, func(upper string, uopts []unionfs.Option) (*unionfs.FS, func(), error) {
		var layers []unionfs.Layer
		closeLayers := func() {
			for _, l := range layers {
				unionfs.CloseLayer(l)
			}
		}
		for _, d := range lowers {
			l, err := unionfs.DirLayer(d)
			if err != nil {
				closeLayers()
				return nil, nil, err
			}
			layers = append(layers, l)
		}
		u, err := unionfs.New(upper, layers, uopts...)
		if err != nil {
			closeLayers()
			return nil, nil, err
		}
		return u, func() { u.Close(); closeLayers() }, nil
	})
}

func serve(dir string, opts []MountOption, open func(upper string, uopts []unionfs.Option) (*unionfs.FS, func(), error)) (*Mounted, error) {
	var o mountOptions
	for _, opt := range opts {
		opt(&o)
	}
	var uopts []unionfs.Option
	if o.readOnly {
		uopts = append(uopts, unionfs.ReadOnly())
	}
	if o.upper != "" && !o.readOnly {
		// A named upper (and work area) is made if missing, as a
		// container's writable layer would be; overlayfs would refuse,
		// docker users expect it.
		for _, d := range []string{o.upper, o.work} {
			if d == "" {
				continue
			}
			if err := os.MkdirAll(d, 0o755); err != nil {
				return nil, fmt.Errorf("mount %s: %w", dir, err)
			}
		}
	}
	if o.work != "" {
		uopts = append(uopts, unionfs.WorkDir(o.work))
	}
	u, release, err := open(o.upper, uopts)
	if err != nil {
		return nil, err
	}
	if o.prepare != nil {
		if err := o.prepare(u); err != nil {
			release()
			return nil, fmt.Errorf("mount %s: %w", dir, err)
		}
	}
	srv, err := lfsfuse.Mount(dir, u, lfsfuse.Debug(o.debug))
	if err != nil {
		release()
		return nil, err
	}
	readAhead(dir)
	return &Mounted{Dir: dir, Upper: u.UpperDir(), srv: srv, closeFn: release}, nil
}

// Mount serves the container's root filesystem, its image under its
// writable layer, at ROOT/containers/ID/rootfs.
func Mount(s *layerstore.Store, c Container, opts ...MountOption) (*Mounted, error) {
	if err := os.MkdirAll(c.Rootfs(), 0o755); err != nil {
		return nil, fmt.Errorf("mount container %s: %w", short(c.ID), err)
	}
	opts = append([]MountOption{Upper(c.Upper(), c.Work())}, opts...)
	return MountImage(s, c.Image, c.Rootfs(), opts...)
}

// readAhead raises the mount's readahead from the kernel's 128 KiB to
// 768 KiB: the exec of a container's first binary, served through a
// fresh mount whose page cache is empty, then takes a third of the READ
// round trips (busybox: 8 instead of 25). Not 1 MiB: a READ's reply must
// fit go-fuse's 1 MiB splice pipe with its header. Only root may; in a
// user namespace the default stays.
func readAhead(dir string) {
	var st unix.Stat_t
	if unix.Stat(dir, &st) != nil {
		return
	}
	p := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(st.Dev), unix.Minor(st.Dev))
	os.WriteFile(p, []byte("768"), 0)
}
