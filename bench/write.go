package bench

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// content is an entry's bytes: a ChaCha8 stream keyed by the seed and the
// entry, with the needle at the middle of files that carry it; a file from
// the host is read as it is.
func content(seed uint64, e entry) (io.Reader, func(), error) {
	if e.data != "" {
		return strings.NewReader(e.data), func() {}, nil
	}
	if e.hostFile != "" {
		f, err := os.Open(e.hostFile)
		if err != nil {
			return nil, nil, err
		}
		return io.LimitReader(f, e.size), func() { f.Close() }, nil
	}
	r := &contentReader{c: rand.NewChaCha8(contentKey(seed, e)), n: e.size, needleAt: -1}
	if e.needle {
		r.needleAt = e.size / 2
	}
	return r, func() {}, nil
}

type contentReader struct {
	c        *rand.ChaCha8
	off, n   int64
	needleAt int64
}

func (r *contentReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	if rem := r.n - r.off; int64(len(p)) > rem {
		p = p[:rem]
	}
	r.c.Read(p)
	if r.needleAt >= 0 {
		// The needle's bytes that fall in p.
		lo, hi := max(r.off, r.needleAt), min(r.off+int64(len(p)), r.needleAt+int64(len(needle)))
		if lo < hi {
			copy(p[lo-r.off:hi-r.off], needle[lo-r.needleAt:hi-r.needleAt])
		}
	}
	r.off += int64(len(p))
	return len(p), nil
}

// writeLayer writes es as an OCI layer tar: PAX headers for xattrs,
// ".wh." whiteouts and ".wh..wh..opq" markers, fixed times.
func writeLayer(w io.Writer, seed uint64, es []entry) error {
	tw := tar.NewWriter(w)
	buf := make([]byte, miB)
	for _, e := range es {
		h := &tar.Header{Name: e.tarName(), Mode: e.mode, Uid: e.uid, Gid: e.gid, ModTime: fixedTime, Format: tar.FormatPAX}
		switch e.kind {
		case kDir:
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		case kFile:
			h.Typeflag, h.Size = tar.TypeReg, e.size
		case kSymlink:
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.link
		case kHardlink:
			h.Typeflag, h.Linkname = tar.TypeLink, e.link
		case kWhiteout, kOpaque:
			h.Typeflag, h.Mode = tar.TypeReg, 0o644
		}
		for _, x := range e.xattrs {
			if h.PAXRecords == nil {
				h.PAXRecords = map[string]string{}
			}
			h.PAXRecords["SCHILY.xattr."+x[0]] = x[1]
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("write %s: %w", e.path, err)
		}
		if h.Typeflag == tar.TypeReg && e.size > 0 {
			r, done, err := content(seed, e)
			if err != nil {
				return err
			}
			_, err = io.CopyBuffer(tw, r, buf)
			done()
			if err != nil {
				return fmt.Errorf("write %s: %w", e.path, err)
			}
		}
	}
	return tw.Close()
}

// dialect is how a directory layer says what an OCI layer says with
// ".wh." names.
type dialect int

const (
	// dialectOverlay is kernel overlayfs's: a 0/0 character device
	// deletes, trusted.overlay.opaque (as root) and user.overlay.opaque
	// (for a user namespace's userxattr mounts, fuse-overlayfs and lfs)
	// mark an opaque directory.
	dialectOverlay dialect = iota
	// dialectUnionfs is unionfs-fuse's: in its metadata directory META
	// (.unionfs-fuse in 1.0, .unionfs in later releases) an empty file
	// META/DIR/NAME_HIDDEN~ hides NAME from the branches below, and
	// META/DIR_HIDDEN~ hides the lower branches' DIR, which makes the
	// branch's own DIR opaque.
	dialectUnionfs
	// dialectMerged applies the layer to a tree, as docker's extractor
	// does: a whiteout removes, an opaque marker empties the directory of
	// what lower layers put there.
	dialectMerged
)

// extractor unpacks layer tars into a directory. asRoot keeps owners and
// trusted.* xattrs, which need privilege; metaDir is unionfs-fuse's
// metadata directory.
type extractor struct {
	dest    string
	dialect dialect
	asRoot  bool
	metaDir string
}

// extract unpacks one layer tar onto x.dest.
func (x extractor) extract(r io.Reader) error {
	tr := tar.NewReader(r)
	made := map[string]bool{} // by this layer, for opaque markers
	var dirs []*tar.Header
	buf := make([]byte, miB)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read layer: %w", err)
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "/"))
		if name == "." || strings.HasPrefix(name, "../") {
			continue
		}
		dir, base := path.Dir(name), path.Base(name)
		if base == ".wh..wh..opq" {
			if err := x.opaque(dir, made); err != nil {
				return err
			}
			continue
		}
		if target, ok := strings.CutPrefix(base, ".wh."); ok {
			if err := x.whiteout(path.Join(dir, target)); err != nil {
				return err
			}
			continue
		}
		p := filepath.Join(x.dest, name)
		made[name] = true
		if h.Typeflag != tar.TypeDir && x.dialect == dialectMerged {
			if err := os.RemoveAll(p); err != nil {
				return err
			}
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.Mkdir(p, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return err
			}
			dirs = append(dirs, h)
			continue
		case tar.TypeReg:
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			_, err = io.CopyBuffer(f, tr, buf)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("extract %s: %w", name, err)
			}
		case tar.TypeSymlink:
			if err := os.Symlink(h.Linkname, p); err != nil {
				return err
			}
		case tar.TypeLink:
			if err := os.Link(filepath.Join(x.dest, path.Clean(h.Linkname)), p); err != nil {
				return err
			}
			continue // the target's metadata is the link's
		default:
			return fmt.Errorf("extract %s: type %q: %w", name, h.Typeflag, ErrDataset)
		}
		if err := x.setMeta(p, h); err != nil {
			return fmt.Errorf("extract %s: %w", name, err)
		}
	}
	// Directories last, deepest first: what was made inside them changed
	// their times.
	slices.Reverse(dirs)
	for _, h := range dirs {
		if err := x.setMeta(filepath.Join(x.dest, path.Clean(h.Name)), h); err != nil {
			return fmt.Errorf("extract %s: %w", h.Name, err)
		}
	}
	return nil
}

// setMeta applies a header's owner, mode, xattrs and mtime.
func (x extractor) setMeta(p string, h *tar.Header) error {
	link := h.Typeflag == tar.TypeSymlink
	if x.asRoot {
		if err := os.Lchown(p, h.Uid, h.Gid); err != nil {
			return err
		}
	}
	if !link {
		// The raw bits: setuid, setgid and sticky included.
		if err := unix.Chmod(p, uint32(h.Mode&0o7777)); err != nil {
			return err
		}
	}
	for k, v := range h.PAXRecords {
		if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok && !link {
			if err := unix.Lsetxattr(p, name, []byte(v), 0); err != nil {
				return fmt.Errorf("xattr %s: %w", name, err)
			}
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(h.ModTime.UnixNano()), unix.NsecToTimespec(h.ModTime.UnixNano())}
	return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// whiteout records, in x's dialect, that the layer deletes name.
func (x extractor) whiteout(name string) error {
	switch x.dialect {
	case dialectOverlay:
		if err := os.MkdirAll(filepath.Join(x.dest, path.Dir(name)), 0o755); err != nil {
			return err
		}
		return unix.Mknod(filepath.Join(x.dest, name), unix.S_IFCHR, 0)
	case dialectUnionfs:
		return x.hide(name)
	}
	return os.RemoveAll(filepath.Join(x.dest, name))
}

// opaque records, in x's dialect, that dir hides the lower layers' dir.
func (x extractor) opaque(dir string, made map[string]bool) error {
	p := filepath.Join(x.dest, dir)
	if err := os.MkdirAll(p, 0o755); err != nil {
		return err
	}
	switch x.dialect {
	case dialectOverlay:
		if x.asRoot {
			if err := unix.Setxattr(p, "trusted.overlay.opaque", []byte("y"), 0); err != nil {
				return fmt.Errorf("opaque %s: %w", dir, err)
			}
		}
		if err := unix.Setxattr(p, "user.overlay.opaque", []byte("y"), 0); err != nil {
			return fmt.Errorf("opaque %s: %w", dir, err)
		}
		return nil
	case dialectUnionfs:
		return x.hide(dir)
	}
	ents, err := os.ReadDir(p)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !made[path.Join(dir, e.Name())] {
			if err := os.RemoveAll(filepath.Join(p, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// hide writes unionfs-fuse's mark that name is hidden below this branch.
func (x extractor) hide(name string) error {
	p := filepath.Join(x.dest, x.metaDir, name+"_HIDDEN~")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, nil, 0o600)
}

// writeUntarSource writes the tar the untar workload unpacks: spec's
// UntarBytes in files of log-uniform sizes up to 1 MiB, forty to a
// directory.
func writeUntarSource(w io.Writer, spec Spec) error {
	rng := rand.New(rand.NewPCG(spec.Seed, 0x756e746172))
	g := &generator{spec: spec, rng: rng}
	g.spec.MaxFileSize = miB
	var es []entry
	var total int64
	for i := 0; total < spec.UntarBytes; i++ {
		if i%40 == 0 {
			es = append(es, entry{path: fmt.Sprintf("src/d%04d", i/40), kind: kDir, mode: 0o755})
		}
		e := entry{path: fmt.Sprintf("src/d%04d/f%06d", i/40, i), kind: kFile, mode: 0o644, size: g.logSize(), seed: uint64(i) + 1<<40}
		total += e.size
		es = append(es, e)
	}
	return writeLayer(w, spec.Seed, withParents(es))
}
