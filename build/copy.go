package build

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lfs-dev/lfs/layerstore"
	"github.com/lfs-dev/lfs/sandbox"
	"github.com/lfs-dev/lfs/unionfs"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	digest "github.com/opencontainers/go-digest"
)

// copyOp is a COPY or ADD as the dispatcher hands it over.
type copyOp struct {
	cmd      instructions.Command
	name     string // COPY or ADD
	srcs     instructions.SourcesAndDest
	from     string
	chown    string
	chmod    string
	add      bool
	parents  bool
	excludes []string
	checksum string
}

// source is one thing a COPY or ADD copies.
type source struct {
	t    *tree
	path string // in t, symlinks followed
	name string // the name a file takes in a destination directory
	dir  bool
	// entries are what the source gives, names relative to it ("" the
	// source itself; a directory's own entry is not copied).
	entries []*entry
	// archive: ADD extracts this local archive.
	archive layerstore.Compression
	extract bool
	hash    string
}

// copy is COPY and ADD: sources from the context, another stage or image,
// archives, URLs or heredocs; the layer tar written straight from them.
func (b *builder) copy(s *stage, op copyOp) error {
	switch {
	case op.parents:
		return fmt.Errorf("%s --parents is not supported", op.name)
	case len(op.excludes) > 0:
		return fmt.Errorf("%s --exclude is not supported", op.name)
	case op.checksum != "":
		return fmt.Errorf("ADD --checksum is not supported")
	}
	var chmod *int64
	if op.chmod != "" {
		m, err := strconv.ParseUint(op.chmod, 8, 32)
		if err != nil || m > 0o7777 {
			return fmt.Errorf("invalid --chmod=%s: want an octal mode", op.chmod)
		}
		mm := int64(m)
		chmod = &mm
	}
	dst, err := b.imageTree(s.id)
	if err != nil {
		return err
	}
	var own *owner
	if op.chown != "" {
		o, err := resolveChown(dst, op.chown)
		if err != nil {
			return err
		}
		own = &o
	}

	var from *tree
	if op.from != "" {
		fromName, _, err := s.lex.ProcessWord(op.from, shellEnvs(s.expandEnv()))
		if err != nil {
			return err
		}
		id, err := b.copyFromImage(fromName)
		if err != nil {
			return fmt.Errorf("invalid from flag value %s: %w", op.from, err)
		}
		if from, err = b.imageTree(id); err != nil {
			return err
		}
	}
	var srcs []*source
	for _, p := range op.srcs.SourcePaths {
		got, err := b.sources(op, from, p)
		if err != nil {
			return err
		}
		srcs = append(srcs, got...)
	}
	for _, sc := range op.srcs.SourceContents {
		src, err := b.heredocSource(s, sc)
		if err != nil {
			return err
		}
		srcs = append(srcs, src)
	}
	dest := op.srcs.DestPath
	if len(srcs) > 1 && !strings.HasSuffix(dest, "/") {
		return fmt.Errorf("When using %s with more than one source file, the destination must be a directory and end with a /", op.name)
	}
	if len(srcs) == 0 {
		return fmt.Errorf("%s failed: no source files were specified", op.name)
	}
	for _, src := range srcs {
		if err := src.digest(op.from != ""); err != nil {
			return err
		}
	}
	hash := srcs[0].hash
	if len(srcs) > 1 {
		var hs []string
		for _, src := range srcs {
			hs = append(hs, src.hash)
		}
		hash = "multi:" + digestString(strings.Join(hs, ","))
	}
	chownComment := ""
	if op.chown != "" {
		chownComment = "--chown=" + op.chown
	}
	// docker's form, its missing space after --chown=X included.
	comment := fmt.Sprintf("%s %s%s in %s ", op.name, chownComment, hash, dest)
	createdBy := strings.Join(append(shellOf(&s.cfg.Config), "#(nop) "+comment), " ")
	extra := ""
	if chmod != nil {
		extra = fmt.Sprintf("chmod=%o", *chmod)
	}
	destAbs := normalizeDest(s.cfg.Config.WorkingDir, dest)
	return b.step(s, createdBy, extra, func() (*layerstore.LayerRef, *layerstore.Batch, error) {
		now := b.o.Now()
		return b.ingest(func(w io.Writer) error {
			l := newLayerTar(w, dst, now)
			for _, src := range srcs {
				if err := l.copySource(src, destAbs, strings.HasSuffix(dest, "/"), own, chmod); err != nil {
					return err
				}
			}
			return l.close()
		})
	})
}

func shellEnvs(env []string) shell.EnvGetter { return shell.EnvsFromSlice(env) }

// copyFromImage resolves COPY --from: a stage by name or index, else an
// image (pulled when missing).
func (b *builder) copyFromImage(name string) (digest.Digest, error) {
	if n, err := strconv.Atoi(name); err == nil {
		if n < 0 || n >= len(b.stages) {
			return "", fmt.Errorf("invalid stage index %d", n)
		}
		return b.stages[n].id, nil
	}
	return b.image(name, "", true)
}

// normalizeDest makes a destination absolute against the working
// directory, keeping a trailing slash.
func normalizeDest(workdir, dest string) string {
	slash := strings.HasSuffix(dest, "/") || dest == "." || strings.HasSuffix(dest, "/.")
	if !strings.HasPrefix(dest, "/") {
		if workdir == "" {
			workdir = "/"
		}
		dest = path.Join("/", workdir, dest)
	}
	dest = path.Clean(dest)
	if slash && dest != "/" {
		dest += "/"
	}
	return dest
}

// sources finds what one source operand names.
func (b *builder) sources(op copyOp, from *tree, orig string) ([]*source, error) {
	if isURL(orig) {
		if isGitURL(orig) {
			return nil, fmt.Errorf("%s %s: git sources are not supported (clone the repository into the build context and COPY it)", op.name, orig)
		}
		if !op.add {
			return nil, fmt.Errorf("source can't be a URL for COPY: %s", orig)
		}
		src, err := b.download(orig, op.srcs.DestPath)
		if err != nil {
			return nil, err
		}
		return []*source{src}, nil
	}
	if op.add && isGitURL(orig) {
		return nil, fmt.Errorf("ADD %s: git sources are not supported (clone the repository into the build context and COPY it)", orig)
	}
	t := from
	where := "in the image " + op.from
	if t == nil {
		if b.context == nil {
			return nil, fmt.Errorf("%s failed: no build context (the Dockerfile came alone on stdin): %s", op.name, orig)
		}
		t = b.context
		where = "in build context or excluded by .dockerignore"
	}
	p := cleanRel(orig)
	var paths []string
	if hasWildcards(p) {
		m, err := t.glob(p)
		if err != nil {
			return nil, err
		}
		paths = m
	} else {
		paths = []string{p}
	}
	var out []*source
	for _, p := range paths {
		if t.excluded(p) {
			return nil, fmt.Errorf("%s failed: file not found %s: stat %s: file does not exist", op.name, where, orig)
		}
		real, err := t.resolve(p, true)
		if err != nil {
			return nil, err
		}
		_, a, err := t.lstat(real)
		if errors.Is(err, unionfs.ErrNotExist) || errors.Is(err, unionfs.ErrNotDir) {
			return nil, fmt.Errorf("%s failed: file not found %s: stat %s: file does not exist", op.name, where, orig)
		}
		if err != nil {
			return nil, err
		}
		src := &source{t: t, path: real, name: path.Base(p), dir: a.Type() == unionfs.TypeDir}
		if op.add && !src.dir && a.Type() == unionfs.TypeReg && from == nil {
			if c, ok := t.archive(real); ok {
				src.extract, src.archive = true, c
			}
		}
		if src.entries, err = walkEntries(t, real); err != nil {
			return nil, err
		}
		if !src.dir && len(src.entries) == 1 {
			src.entries[0].hdr.Name = src.name
		}
		out = append(out, src)
	}
	return out, nil
}

// digest computes the source's history hash: "file:HEX" or "dir:HEX".
func (src *source) digest(keepOwner bool) error {
	kind, es := "file", src.entries
	if src.dir {
		kind, es = "dir", es[1:]
	}
	h, err := digestEntries(kind, es, keepOwner)
	src.hash = h
	return err
}

// copySource writes one source under dest (absolute; slash: it ended in
// "/"): a directory's content into dest, a file into dest when dest is a
// directory (or ends in "/") else as dest, an archive extracted into dest.
func (l *layerTar) copySource(src *source, dest string, slash bool, own *owner, chmod *int64) error {
	target, err := l.parent.resolve(dest, true)
	if err != nil {
		return err
	}
	newDirOwner := owner{}
	if own != nil {
		newDirOwner = *own
	}
	fix := func(h *tar.Header) {
		if own != nil {
			h.Uid, h.Gid = own.uid, own.gid
		} else if src.t.local {
			h.Uid, h.Gid = 0, 0
		}
		h.Uname, h.Gname = "", ""
		if chmod != nil && h.Typeflag != tar.TypeSymlink {
			h.Mode = *chmod
		}
	}
	switch {
	case src.dir:
		if err := l.mkdirAll(target, newDirOwner, 0o755); err != nil {
			return err
		}
		for _, e := range src.entries[1:] {
			c := *e
			c.hdr.Name = path.Join(target, e.hdr.Name)
			fix(&c.hdr)
			if err := l.put(&c, newDirOwner); err != nil {
				return err
			}
		}
		return nil
	case src.extract:
		if err := l.mkdirAll(target, owner{}, 0o755); err != nil {
			return err
		}
		return l.extract(src, target)
	}
	name := target
	if _, a, err := l.parent.lstat(target); slash || (err == nil && a.Type() == unionfs.TypeDir) || l.dirs[cleanRel(target)] {
		if err := l.mkdirAll(target, newDirOwner, 0o755); err != nil {
			return err
		}
		name = path.Join(target, src.name)
	}
	c := *src.entries[0]
	c.hdr.Name = name
	fix(&c.hdr)
	return l.put(&c, newDirOwner)
}

// hasWildcards: the characters filepath.Match gives a meaning to.
func hasWildcards(p string) bool {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '*', '?', '[':
			return true
		case '\\':
			i++
		}
	}
	return false
}

// glob finds the paths matching pattern, component by component (a
// wildcard never matches "/", so this is filepath.Match on every path of
// the tree, as docker does, without walking all of it), sorted.
func (t *tree) glob(pattern string) ([]string, error) {
	comps := splitRel(pattern)
	cur := []string{"."}
	for _, c := range comps {
		var next []string
		for _, dir := range cur {
			if !hasWildcards(c) {
				p := cleanRel(path.Join(dir, c))
				if _, _, err := t.lstat(p); err == nil {
					next = append(next, p)
				}
				continue
			}
			n, a, err := t.lstat(dir)
			if err != nil || a.Type() != unionfs.TypeDir {
				continue
			}
			names, err := t.children(n)
			if err != nil {
				return nil, err
			}
			for _, name := range names {
				ok, err := path.Match(c, name)
				if err != nil {
					return nil, fmt.Errorf("bad pattern %q: %w", pattern, err)
				}
				p := cleanRel(path.Join(dir, name))
				if ok && !t.excluded(p) {
					next = append(next, p)
				}
			}
		}
		cur = next
	}
	sort.Strings(cur)
	return cur, nil
}

// heredocSource is COPY <<EOF: a file of the given content, 0644.
func (b *builder) heredocSource(s *stage, sc instructions.SourceContent) (*source, error) {
	data := sc.Data
	if sc.Expand {
		v, _, err := s.lex.ProcessWord(data, shellEnvs(s.expandEnv()))
		if err != nil {
			return nil, err
		}
		data = v
	}
	dir, err := b.workDir()
	if err != nil {
		return nil, err
	}
	name := path.Base(sc.Path)
	f := filepath.Join(dir, name)
	if err := os.WriteFile(f, []byte(data), 0o644); err != nil {
		return nil, err
	}
	os.Chmod(f, 0o644)
	os.Chtimes(f, time.Unix(0, 0), time.Unix(0, 0))
	return b.localSource(dir, name)
}

// localSource is a file the build wrote in its work area (a download, a
// heredoc) as a source.
func (b *builder) localSource(dir, name string) (*source, error) {
	t, err := openDirTree(dir, nil)
	if err != nil {
		return nil, err
	}
	b.workTrees = append(b.workTrees, t)
	es, err := walkEntries(t, name)
	if err != nil {
		return nil, err
	}
	es[0].hdr.Name = name
	return &source{t: t, path: name, name: name, entries: es}, nil
}

// resolveChown is --chown: user[:group] by name (the image's /etc/passwd
// and /etc/group) or number; without a group, the user's primary group
// (a bare number: the same number).
func resolveChown(t *tree, spec string) (owner, error) {
	u, g, hasGroup := strings.Cut(spec, ":")
	read := func(name string) io.Reader {
		p, err := t.resolve(name, true)
		if err != nil {
			return nil
		}
		if _, a, err := t.lstat(p); err != nil || a.Type() != unionfs.TypeReg {
			return nil
		}
		r, err := t.open(p)
		if err != nil {
			return nil
		}
		defer r.Close()
		data, _ := io.ReadAll(bufio.NewReader(r))
		return strings.NewReader(string(data))
	}
	var o owner
	if uid, err := strconv.Atoi(u); err == nil {
		o = owner{uid, uid}
	} else {
		c, err := sandbox.ResolveUser(u, read("etc/passwd"), nil)
		if err != nil {
			return o, fmt.Errorf("unable to convert uid/gid chown string to host mapping: can't find uid for user %s: no such user: %s", u, u)
		}
		o = owner{c.UID, c.GID}
	}
	if hasGroup {
		if gid, err := strconv.Atoi(g); err == nil {
			o.gid = gid
		} else {
			c, err := sandbox.ResolveUser("0:"+g, nil, read("etc/group"))
			if err != nil {
				return o, fmt.Errorf("unable to convert uid/gid chown string to host mapping: can't find gid for group %s: no such group: %s", g, g)
			}
			o.gid = c.GID
		}
	}
	return o, nil
}
