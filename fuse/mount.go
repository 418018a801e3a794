package fuse

import (
	"fmt"
	"os"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/lfs-dev/lfs/unionfs"
)

// Server is a mounted union.
type Server struct {
	srv *fuse.Server
	dir string
}

// Option configures Mount.
type Option func(*options)

type options struct {
	debug bool
}

// Debug logs every FUSE request.
func Debug(on bool) Option { return func(o *options) { o.debug = on } }

// Mount serves u at dir until Unmount. As root the mount serves every
// user (allow_other), lets the kernel check permissions
// (default_permissions) and honours device nodes and setuid bits (dev,
// suid), as an overlayfs mount would.
func Mount(dir string, u *unionfs.FS, opts ...Option) (*Server, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	rootNode, err := u.Resolve(".")
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	ra, err := u.Attr(rootNode)
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	r := &root{u: u}
	top := &node{r: r}
	top.snap.Store(rootNode)
	entry, attr := lowerTimeout, lowerTimeout
	// A name absent now stays absent until something creates it through
	// the mount, which drops the kernel's negative entry itself.
	neg := lowerTimeout
	mo := fuse.MountOptions{
		FsName:       "lfs",
		Name:         "lfs",
		MaxWrite:     fuse.MAX_KERNEL_WRITE,
		MaxReadAhead: fuse.MAX_KERNEL_WRITE,
		// Entries stay cached for an hour: readdirplus would look every
		// name up again on each listing.
		DisableReadDirPlus: true,
		Debug:              o.debug,
		Options:            []string{"default_permissions"},
	}
	if os.Geteuid() == 0 {
		mo.AllowOther = true
		mo.Options = append(mo.Options, "dev", "suid")
		mo.DirectMount = true
	}
	if u.ReadOnly() {
		mo.Options = append(mo.Options, "ro")
	}
	srv, err := fs.Mount(dir, top, &fs.Options{
		MountOptions:    mo,
		EntryTimeout:    &entry,
		AttrTimeout:     &attr,
		NegativeTimeout: &neg,
		RootStableAttr:  &fs.StableAttr{Ino: ra.Ino},
		NullPermissions: true,
	})
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	return &Server{srv: srv, dir: dir}, nil
}

// Unmount unmounts and waits for the server to stop.
func (s *Server) Unmount() error {
	if err := s.srv.Unmount(); err != nil {
		return fmt.Errorf("unmount %s: %w", s.dir, err)
	}
	s.srv.Wait()
	return nil
}

// Wait returns when the mount is gone (unmounted by anyone).
func (s *Server) Wait() { s.srv.Wait() }
