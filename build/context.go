package build

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/lfs-dev/lfs/build/change"
	"github.com/lfs-dev/lfs/layerstore"
	"github.com/lfs-dev/lfs/unionfs"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/patternmatcher/ignorefile"
)

// readDockerignore reads the context's .dockerignore (none: no patterns),
// with docker's rules for comments, "!" exceptions and cleaning.
func readDockerignore(dir string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, ".dockerignore"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read .dockerignore: %w", err)
	}
	defer f.Close()
	p, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read .dockerignore: %w", err)
	}
	return p, nil
}

// ExtractContext unpacks a build context sent as a tar (plain or
// compressed) into a work area of the store, as docker's daemon does
// with the context the CLI sends. No entry may leave the directory,
// through its name or a symlink made by an earlier entry. The caller
// closes the work area when the build is done.
func ExtractContext(s *layerstore.Store, r io.Reader) (*layerstore.WorkArea, error) {
	w, err := s.NewWorkArea("context-")
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(w.Dir, "context")
	if err := os.Mkdir(dir, 0o755); err != nil {
		w.Close()
		return nil, err
	}
	if err := extractTar(r, dir); err != nil {
		w.Close()
		return nil, fmt.Errorf("build context: %w", err)
	}
	return w, nil
}

// ContextDir is where ExtractContext put the context.
func ContextDir(w *layerstore.WorkArea) string { return filepath.Join(w.Dir, "context") }

func extractTar(r io.Reader, dir string) error {
	tr, _, closeFn, err := openArchive(r)
	if err != nil {
		return err
	}
	defer closeFn()
	type dirTime struct {
		p string
		h *tar.Header
	}
	var dirs []dirTime
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		rel, ok := insideName(h.Name)
		if !ok {
			return fmt.Errorf("entry %q leaves the context", h.Name)
		}
		if rel == "" {
			continue
		}
		if err := noSymlinkIn(dir, path.Dir(rel)); err != nil {
			return err
		}
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		mode := os.FileMode(h.Mode & 0o777)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.Mkdir(p, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return err
			}
			dirs = append(dirs, dirTime{p, h})
			continue
		case tar.TypeReg, tar.TypeRegA:
			os.Remove(p)
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			os.Remove(p)
			if err := os.Symlink(h.Linkname, p); err != nil {
				return err
			}
			continue
		case tar.TypeLink:
			lrel, ok := insideName(h.Linkname)
			if !ok {
				return fmt.Errorf("hard link %q leaves the context", h.Name)
			}
			if err := noSymlinkIn(dir, lrel); err != nil {
				return err
			}
			os.Remove(p)
			if err := os.Link(filepath.Join(dir, filepath.FromSlash(lrel)), p); err != nil {
				return err
			}
			continue
		default:
			continue // devices, fifos: a context has no use for them
		}
		if h.Mode&0o4000 != 0 {
			mode |= os.ModeSetuid
		}
		if h.Mode&0o2000 != 0 {
			mode |= os.ModeSetgid
		}
		if h.Mode&0o1000 != 0 {
			mode |= os.ModeSticky
		}
		if err := os.Chmod(p, mode); err != nil {
			return err
		}
		os.Chtimes(p, h.ModTime, h.ModTime)
	}
	// Directories last, so the files made in them leave their times alone.
	for i := len(dirs) - 1; i >= 0; i-- {
		os.Chmod(dirs[i].p, os.FileMode(dirs[i].h.Mode&0o777))
		os.Chtimes(dirs[i].p, dirs[i].h.ModTime, dirs[i].h.ModTime)
	}
	return nil
}

// noSymlinkIn fails when a component of rel under dir is a symlink.
func noSymlinkIn(dir, rel string) error {
	cur := dir
	for _, c := range splitRel(rel) {
		cur = filepath.Join(cur, c)
		fi, err := os.Lstat(cur)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("entry under %s: the context's symlinks cannot be written through", rel)
		}
	}
	return nil
}

// workdir is WORKDIR: the config's working directory, made (0755, root)
// in a layer of its own when the image lacks it, as docker does.
func (b *builder) workdir(s *stage, c *instructions.WorkdirCommand) error {
	cfg := &s.cfg.Config
	cfg.WorkingDir = change.Workdir(cfg.WorkingDir, c.Path)
	createdBy := strings.Join(append(shellOf(cfg), "#(nop) WORKDIR "+cfg.WorkingDir), " ")
	return b.step(s, createdBy, "", func() (*layerstore.LayerRef, *layerstore.Batch, error) {
		dst, err := b.imageTree(s.id)
		if err != nil {
			return nil, nil, err
		}
		target, err := dst.resolve(cfg.WorkingDir, true)
		if err != nil {
			return nil, nil, err
		}
		now := b.o.Now()
		return b.ingest(func(w io.Writer) error {
			l := newLayerTar(w, dst, now)
			if _, a, err := dst.lstat(target); err == nil && a.Type() != unionfs.TypeDir {
				return fmt.Errorf("Cannot mkdir: %s is not a directory", cfg.WorkingDir)
			} else if err == nil {
				return l.close()
			}
			if err := l.mkdirAll(target, owner{}, 0o755); err != nil {
				return err
			}
			return l.close()
		})
	})
}
