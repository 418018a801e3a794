package container

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/lfs-dev/lfs/layerstore"
	"github.com/lfs-dev/lfs/unionfs"
	"syscall"

	"golang.org/x/sys/unix"
)

// Kind is a change's letter in docker diff.
type Kind byte

const (
	Added   Kind = 'A'
	Changed Kind = 'C'
	Deleted Kind = 'D'
)

// Change is one line of docker diff: "C /etc", "A /etc/motd".
type Change struct {
	Kind Kind
	Path string // absolute in the container
}

func (c Change) String() string { return string(c.Kind) + " " + c.Path }

const (
	whPrefix  = ".wh."
	opqMarker = ".wh..wh..opq"
)

// Diff lists what the container changed, sorted by path, as docker diff
// does: every entry of the upper is A (new) or C (present in the image);
// a whiteout is D; an opaque directory hides the image's entries below
// it, each of which is D.
func Diff(s *layerstore.Store, c Container) ([]Change, error) {
	lower, closeAll, err := openUnion(s, c, "")
	if err != nil {
		return nil, err
	}
	defer closeAll()
	var out []Change
	err = walkUpper(c.Upper(), c.hidden(), func(e upperEntry) error {
		p := "/" + e.rel
		switch {
		case e.whiteout:
			out = append(out, Change{Deleted, p})
			return nil
		case e.opaqueMarker:
			return nil
		}
		// As docker: a name the image holds is changed, even when an
		// opaque directory above made it again.
		inLower, err := lower.Resolve(e.rel)
		if err != nil && !absent(err) {
			return err
		}
		if inLower == nil {
			out = append(out, Change{Added, p})
			return nil
		}
		out = append(out, Change{Changed, p})
		if e.opaque && inLower.Type == unionfs.TypeDir {
			// The image's entries here are gone, unless the upper made
			// them again (then they are changed, not deleted).
			ents, err := lower.ReadDirNode(inLower)
			if err != nil {
				return err
			}
			for _, de := range ents {
				if _, err := os.Lstat(filepath.Join(c.Upper(), e.rel, de.Name)); err != nil {
					out = append(out, Change{Deleted, path.Join(p, de.Name)})
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("diff %s: %w", short(c.ID), err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// upperEntry is one entry of an upper directory as an OCI diff reads it.
type upperEntry struct {
	rel  string // slash-separated, relative to the upper; the deleted name for a whiteout
	info fs.FileInfo
	// whiteout: rel was deleted (".wh.NAME" file, or an overlayfs 0/0
	// character device); info is the marker's.
	whiteout bool
	// opaqueMarker: the ".wh..wh..opq" file itself.
	opaqueMarker bool
	// opaque: a directory whose lower entries are hidden (marker inside,
	// or overlayfs's opaque xattr).
	opaque bool
}

// walkUpper visits the upper in lexical order, parents first, skipping
// the work area and other AUFS-style metadata (".wh..wh.*" but the opaque
// marker). A whiteout beside the name it deletes is not visited: the
// name is there again. Names in hide (relative paths) are not visited,
// nor their whiteouts, nor a directory that holds nothing else.
func walkUpper(upper string, hide []string, fn func(upperEntry) error) error {
	hidden := map[string]bool{}
	for _, h := range hide {
		hidden[h] = true
	}
	return filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(upper, p)
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		dir, name := path.Split(rel)
		dir = strings.TrimSuffix(dir, "/")
		if hidden[rel] || strings.HasPrefix(name, whPrefix) && hidden[path.Join(dir, strings.TrimPrefix(name, whPrefix))] {
			return nil
		}
		if d.IsDir() && len(hidden) > 0 && holdsOnly(p, rel, hidden) {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		e := upperEntry{rel: rel, info: info}
		switch {
		case name == opqMarker:
			e.opaqueMarker = true
		case strings.HasPrefix(name, whPrefix+whPrefix):
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		case strings.HasPrefix(name, whPrefix):
			deleted := strings.TrimPrefix(name, whPrefix)
			if _, err := os.Lstat(filepath.Join(filepath.Dir(p), deleted)); err == nil {
				return nil
			}
			e.rel, e.whiteout = path.Join(dir, deleted), true
		case isWhiteoutDev(info):
			e.whiteout = true
		case d.IsDir():
			if _, err := os.Lstat(filepath.Join(p, opqMarker)); err == nil || overlayOpaque(p) {
				e.opaque = true
			}
		}
		return fn(e)
	})
}

// holdsOnly reports whether the upper directory p (rel) holds nothing but
// hidden names and their whiteouts, and is not itself an opaque one.
func holdsOnly(p, rel string, hidden map[string]bool) bool {
	ents, err := os.ReadDir(p)
	if err != nil || len(ents) == 0 {
		return false
	}
	for _, e := range ents {
		n := strings.TrimPrefix(e.Name(), whPrefix)
		if !hidden[path.Join(rel, n)] {
			return false
		}
	}
	return true
}

func isWhiteoutDev(fi fs.FileInfo) bool {
	if fi.Mode()&fs.ModeCharDevice == 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Rdev == 0
}

func overlayOpaque(p string) bool {
	for _, x := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		b := make([]byte, 1)
		if n, err := unix.Lgetxattr(p, x, b); err == nil && n == 1 && b[0] == 'y' {
			return true
		}
	}
	return false
}
