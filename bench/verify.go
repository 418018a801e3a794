package bench

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// verify walks an instance's merged tree and compares it with what the
// layers say it is: every name, its type, a file's size, a symlink's
// target. A filesystem that shows another tree would be measured on
// other work, so it fails; differences in metadata only (modes, owners,
// xattrs) are noted in its description but do not fail it.
func (r *runner) verify(ctx context.Context, in *instance) error {
	structural, meta := compareTree(ctx, in.root, r.ds.want, r.asRoot)
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(meta) > 0 {
		r.notes = append(r.notes, fmt.Sprintf("%s: metadata differs from the layers': %s", in.fs.name, summarize(meta)))
	}
	if len(structural) > 0 {
		return fmt.Errorf("shows another tree than its layers: %s: %w", summarize(structural), ErrWrongResult)
	}
	return nil
}

// summarize says how many problems there are and names the first three.
func summarize(problems []string) string {
	sort.Strings(problems)
	s := fmt.Sprintf("%d differences", len(problems))
	if len(problems) == 1 {
		s = "1 difference"
	}
	n := min(3, len(problems))
	return s + " (" + strings.Join(problems[:n], "; ") + map[bool]string{true: "; ...", false: ""}[len(problems) > n] + ")"
}

// compareTree returns the structural and the metadata differences between
// the tree at root and want.
func compareTree(ctx context.Context, root string, want map[string]node, owners bool) (structural, meta []string) {
	seen := map[string]bool{}
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			structural = append(structural, err.Error())
			return nil
		}
		if n++; n%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		w, ok := want[rel]
		if !ok {
			structural = append(structural, rel+": not in the layers")
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		seen[rel] = true
		fi, err := os.Lstat(p)
		if err != nil {
			structural = append(structural, err.Error())
			return nil
		}
		st := fi.Sys().(*syscall.Stat_t)
		switch {
		case w.kind == kDir && !fi.IsDir(), w.kind == kFile && !fi.Mode().IsRegular(), w.kind == kSymlink && fi.Mode()&os.ModeSymlink == 0:
			structural = append(structural, fmt.Sprintf("%s: a %s, not a %s", rel, typeName(fi.Mode()), kindName(w.kind)))
			return nil
		case w.kind == kFile && fi.Size() != w.size:
			structural = append(structural, fmt.Sprintf("%s: %d bytes, not %d", rel, fi.Size(), w.size))
		case w.kind == kSymlink:
			if t, _ := os.Readlink(p); t != w.link {
				structural = append(structural, fmt.Sprintf("%s: points to %q, not %q", rel, t, w.link))
			}
			return nil
		}
		if int64(st.Mode&0o7777) != w.mode {
			meta = append(meta, fmt.Sprintf("%s: mode %o, not %o", rel, st.Mode&0o7777, w.mode))
		}
		if owners && (int(st.Uid) != w.entry.uid || int(st.Gid) != w.entry.gid) {
			meta = append(meta, fmt.Sprintf("%s: owner %d:%d, not %d:%d", rel, st.Uid, st.Gid, w.entry.uid, w.entry.gid))
		}
		for _, x := range w.entry.xattrs {
			buf := make([]byte, 256)
			if n, err := unix.Lgetxattr(p, x[0], buf); err != nil || string(buf[:n]) != x[1] {
				meta = append(meta, fmt.Sprintf("%s: xattr %s missing or wrong", rel, x[0]))
			}
		}
		return nil
	})
	if err != nil {
		structural = append(structural, err.Error())
	}
	for p := range want {
		if !seen[p] {
			structural = append(structural, p+": missing")
		}
	}
	return structural, meta
}

func typeName(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m.IsRegular():
		return "file"
	case m&os.ModeSymlink != 0:
		return "symlink"
	case m&os.ModeCharDevice != 0:
		return "character device"
	}
	return m.Type().String()
}

func kindName(k kind) string {
	return map[kind]string{kDir: "directory", kFile: "file", kSymlink: "symlink"}[k]
}
