package build

import (
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/lfs-dev/lfs/container"
	"github.com/lfs-dev/lfs/layerstore"
	"github.com/lfs-dev/lfs/unionfs"
	"github.com/moby/patternmatcher"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// tree is a read-only file tree that COPY and ADD read and write over: the
// build context, an image's (or a stage's) root filesystem, or a work
// area holding downloads and heredocs. All go through package unionfs, a
// directory as a DirLayer and an image as its tar layers' indexes, so no
// tree is ever mounted or extracted.
type tree struct {
	id uint64      // tells trees apart in hard-link groups
	fs *unionfs.FS // nil: an empty tree (scratch, an image without layers)
	// local: files of the context or the work area, which a COPY gives to
	// root (or --chown) and copies without xattrs, as docker's context
	// tar does.
	local  bool
	ignore *patternmatcher.PatternMatcher // the context's .dockerignore
	close  func()
}

// openDirTree opens a host directory as a tree.
func openDirTree(dir string, ignore *patternmatcher.PatternMatcher) (*tree, error) {
	l, err := unionfs.DirLayer(dir)
	if err != nil {
		return nil, err
	}
	u, err := unionfs.New("", []unionfs.Layer{l}, unionfs.ReadOnly())
	if err != nil {
		unionfs.CloseLayer(l)
		return nil, err
	}
	return &tree{id: treeID.Add(1), fs: u, local: true, ignore: ignore, close: func() { u.Close(); unionfs.CloseLayer(l) }}, nil
}

// openImageTree opens an image's layers as a tree ("" is scratch).
func openImageTree(s *layerstore.Store, id digest.Digest) (*tree, error) {
	if id == "" {
		return &tree{close: func() {}}, nil
	}
	img, err := s.Image(id)
	if err != nil {
		return nil, err
	}
	if len(img.Layers) == 0 {
		return &tree{close: func() {}}, nil
	}
	u, closeFn, err := container.OpenImage(s, id, "", unionfs.ReadOnly())
	if err != nil {
		return nil, err
	}
	return &tree{id: treeID.Add(1), fs: u, close: closeFn}, nil
}

var treeID atomic.Uint64

// notFound is how a tree says a path is absent.
var errNotFound = unionfs.ErrNotExist

// lstat resolves p (relative, slash-separated, not following a last
// symlink) and returns its attributes. Paths the context's .dockerignore
// excludes are absent.
func (t *tree) lstat(p string) (*unionfs.Node, unionfs.Attr, error) {
	p = cleanRel(p)
	if t.fs == nil || t.excluded(p) {
		return nil, unionfs.Attr{}, errNotFound
	}
	n, err := t.fs.Resolve(p)
	if err != nil {
		return nil, unionfs.Attr{}, err
	}
	a, err := t.fs.Attr(n)
	return n, a, err
}

// excluded reports whether the .dockerignore excludes p (or a parent of it).
func (t *tree) excluded(p string) bool {
	if t.ignore == nil || p == "." {
		return false
	}
	ex, _ := t.ignore.MatchesOrParentMatches(p)
	return ex
}

// mayHoldIncluded reports whether an excluded directory may hold a path
// that an exception ("!dir/keep") brings back, as docker's context tar
// checks before skipping a directory.
func (t *tree) mayHoldIncluded(dir string) bool {
	if t.ignore == nil || !t.ignore.Exclusions() {
		return false
	}
	for _, pat := range t.ignore.Patterns() {
		if pat.Exclusion() && strings.HasPrefix(pat.String()+"/", dir+"/") {
			return true
		}
	}
	return false
}

// children lists a directory's names, sorted.
func (t *tree) children(n *unionfs.Node) ([]string, error) {
	ents, err := t.fs.ReadDirNode(n)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name)
	}
	sort.Strings(names)
	return names, nil
}

// open returns a reader of a regular file's data.
func (t *tree) open(p string) (io.ReadCloser, error) {
	f, err := t.fs.Open(cleanRel(p), unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	return &fileReader{f: f}, nil
}

type fileReader struct {
	f   *unionfs.File
	off int64
}

func (r *fileReader) Read(p []byte) (int, error) {
	n, err := r.f.ReadAt(p, r.off)
	r.off += int64(n)
	if err == nil && n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, err
}

func (r *fileReader) Close() error { return r.f.Close() }

// xattrs returns an image entry's extended attributes (none for local
// trees, as docker's context carries none).
func (t *tree) xattrs(p string) map[string]string {
	if t.local || t.fs == nil {
		return nil
	}
	names, err := t.fs.Listxattr(cleanRel(p))
	if err != nil || len(names) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, x := range names {
		if v, err := t.fs.Getxattr(cleanRel(p), x); err == nil {
			out[x] = string(v)
		}
	}
	return out
}

// resolve follows symlinks in p within the tree, as if the tree were the
// root of the filesystem (docker's FollowSymlinkInScope): absolute targets
// start again at the tree's root and ".." never leaves it. With
// followLast the last component is followed too. A missing component ends
// the walk: the rest is appended unresolved.
func (t *tree) resolve(p string, followLast bool) (string, error) {
	todo := splitRel(p)
	var done []string
	hops := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		if c == ".." {
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		cand := strings.Join(append(done, c), "/")
		if t.fs == nil {
			done = append(done, c)
			continue
		}
		n, err := t.fs.Resolve(cand)
		if errors.Is(err, unionfs.ErrNotExist) {
			return path.Join(append(append(done, c), todo...)...), nil
		}
		if errors.Is(err, unionfs.ErrNotDir) {
			return "", fmt.Errorf("%s: not a directory", "/"+path.Dir(cand))
		}
		if err != nil {
			return "", err
		}
		if n.Type == unionfs.TypeSymlink && (len(todo) > 0 || followLast) {
			if hops++; hops > 255 {
				return "", fmt.Errorf("/%s: too many levels of symbolic links", cand)
			}
			target, err := t.fs.Readlink(cand)
			if err != nil {
				return "", err
			}
			if strings.HasPrefix(target, "/") {
				done = nil
			}
			todo = append(splitRel(target), todo...)
			continue
		}
		done = append(done, c)
	}
	if len(done) == 0 {
		return ".", nil
	}
	return strings.Join(done, "/"), nil
}

// cleanRel makes p relative to a tree's root: "/a/./b/" is "a/b", "/" is ".".
func cleanRel(p string) string {
	p = path.Clean("/" + p)
	if p == "/" {
		return "."
	}
	return p[1:]
}

func splitRel(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}
