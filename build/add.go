package build

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/lfs-dev/lfs/layerstore"
	"github.com/ulikunitz/xz"
)

// isURL is docker's urlutil.IsURL: http and https sources.
func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// isGitURL is docker's urlutil.IsGitURL.
func isGitURL(s string) bool {
	if isURL(s) {
		u, err := url.Parse(s)
		return err == nil && (strings.HasSuffix(u.Path, ".git") || strings.Contains(s, ".git#"))
	}
	for _, p := range []string{"git://", "git@", "github.com/"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func digestString(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// download is ADD URL: the file fetched into the work area, named as
// docker names it (the URL path's last element, else the
// Content-Disposition filename), mode 0600, its mtime the Last-Modified
// header's (else the Unix epoch). A download is never extracted.
func (b *builder) download(rawURL, dest string) (*source, error) {
	req, err := http.NewRequestWithContext(b.ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("ADD %s: %w", rawURL, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ADD %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return nil, fmt.Errorf("ADD %s: failed to GET with status %s", rawURL, resp.Status)
	}
	u, _ := url.Parse(rawURL)
	name := ""
	if p := u.Path; p != "" && !strings.HasSuffix(p, "/") {
		name = path.Base(p)
	} else if cd := resp.Header.Get("Content-Disposition"); cd != "" {
		if _, params, err := mime.ParseMediaType(cd); err == nil && params["filename"] != "" {
			name = path.Base(params["filename"])
		}
	}
	if name == "" || name == "/" || name == "." {
		if strings.HasSuffix(dest, "/") {
			return nil, fmt.Errorf("cannot determine filename from url: %s", rawURL)
		}
		name = "__unnamed__"
	}
	dir, err := b.workDir()
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(f, resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("ADD %s: %w", rawURL, err)
	}
	mtime := time.Unix(0, 0)
	if lm := resp.Header.Get("Last-Modified"); lm != "" {
		if t, err := http.ParseTime(lm); err == nil {
			mtime = t
		}
	}
	if err := os.Chtimes(filepath.Join(dir, name), mtime, mtime); err != nil {
		return nil, err
	}
	return b.localSource(dir, name)
}

// archive reports whether the file at p is a tar, plain or compressed
// with gzip, bzip2, xz or zstd (docker's IsArchivePath: the header of its
// first entry reads).
func (t *tree) archive(p string) (layerstore.Compression, bool) {
	r, err := t.open(p)
	if err != nil {
		return 0, false
	}
	defer r.Close()
	tr, c, closeFn, err := openArchive(r)
	if err != nil {
		return 0, false
	}
	defer closeFn()
	_, err = tr.Next()
	return c, err == nil || errors.Is(err, io.EOF) && c != layerstore.Uncompressed
}

// openArchive returns a tar reader of r's possibly compressed bytes.
func openArchive(r io.Reader) (*tar.Reader, layerstore.Compression, func(), error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, _ := br.Peek(6)
	c := layerstore.DetectCompression(magic)
	if c == layerstore.Xz {
		xr, err := xz.NewReader(br)
		if err != nil {
			return nil, c, nil, err
		}
		return tar.NewReader(xr), c, func() {}, nil
	}
	dr, err := layerstore.Decompress(c, br)
	if err != nil {
		return nil, c, nil, err
	}
	return tar.NewReader(dr), c, func() { dr.Close() }, nil
}

// extract writes an archive's entries under dir (ADD of a local
// archive): owners and modes as the archive has them; an entry named
// "." sets dir's own metadata; names that leave dir are refused.
func (l *layerTar) extract(src *source, dir string) error {
	r, err := src.t.open(src.path)
	if err != nil {
		return err
	}
	defer r.Close()
	tr, _, closeFn, err := openArchive(r)
	if err != nil {
		return fmt.Errorf("ADD %s: %w", src.name, err)
	}
	defer closeFn()
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("ADD %s: %w", src.name, err)
		}
		rel, ok := insideName(h.Name)
		if !ok {
			return fmt.Errorf("ADD %s: entry %q leaves the destination", src.name, h.Name)
		}
		if strings.HasPrefix(path.Base(rel), ".wh.") {
			return fmt.Errorf("ADD %s: entry %q: names starting with .wh. are reserved for layers' whiteouts", src.name, h.Name)
		}
		name := cleanRel(path.Join(dir, rel))
		switch h.Typeflag {
		case tar.TypeLink:
			lrel, ok := insideName(h.Linkname)
			if !ok {
				return fmt.Errorf("ADD %s: hard link %q leaves the destination", src.name, h.Name)
			}
			h.Linkname = cleanRel(path.Join(dir, lrel))
		case tar.TypeXGlobalHeader:
			continue
		}
		hdr := *h
		hdr.Name = name
		hdr.Format = tar.FormatPAX
		hdr.Uname, hdr.Gname = "", ""
		if err := l.mkdirAll(path.Dir(name), owner{}, 0o755); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeDir {
			l.dirs[name] = true
		}
		if err := l.writeHeader(&hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeRegA {
			if _, err := io.Copy(l.tw, tr); err != nil {
				return fmt.Errorf("ADD %s: %w", src.name, err)
			}
		}
	}
}

// insideName cleans an archive entry's name relative to its root; false
// when it would leave it.
func insideName(name string) (string, bool) {
	c := path.Clean("/" + name)
	if strings.Contains(name, "..") {
		// "/.." cleans to "/": only refuse names that really climb.
		parts := strings.Split(strings.TrimPrefix(path.Clean(name), "/"), "/")
		if len(parts) > 0 && parts[0] == ".." {
			return "", false
		}
	}
	return strings.TrimPrefix(c, "/"), true
}
