package tests

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fixtureDir holds the fixtures every test shares; TestMain sets it.
var fixtureDir string

// Media types.
const (
	mtOCIManifest = "application/vnd.oci.image.manifest.v1+json"
	mtOCIConfig   = "application/vnd.oci.image.config.v1+json"
	mtLayerTar    = "application/vnd.oci.image.layer.v1.tar"
	mtLayerGzip   = "application/vnd.oci.image.layer.v1.tar+gzip"
	mtLayerZstd   = "application/vnd.oci.image.layer.v1.tar+zstd"
)

// fixtures are the images made once, with the real tools, for all tests.
//
// "base" is a busybox rootfs (testdata/mkrootfs.sh) made into an image by
// umoci, with CMD ["sh"]; "two" adds a second layer (a new /etc/motd, a
// whiteout for /bin/vi). skopeo then writes them in every archive kind.
type fixtures struct {
	rootfs string // the busybox rootfs tar
	layout string // umoci's OCI layout, tags "base" and "two"

	base, two ociRef // what the layout says about each

	// Archives of base unless named otherwise; the comment is the name
	// lfs load must print.
	dockerArchive  string // docker-archive, busybox:latest
	ociArchive     string // oci-archive, busybox:latest
	ociDir         string // oci layout dir, busybox:latest
	zstdArchive    string // oci-archive with a zstd layer, bbz:latest
	registryTagged string // docker-archive, localhost:5000/x:1
	twoArchive     string // docker-archive of two, two:latest
	untagged       string // docker-archive of two with no name
	plainOCI       string // oci-archive with an uncompressed layer, plain:latest (crafted)
	docker25       string // Docker >= 25 layout (manifest.json + OCI layout), d25:latest (crafted)
	plainID        string
	docker25ID     string
	rootfsDigest   string // the one layer of plain and docker25
}

// ociRef is one image of an OCI layout.
type ociRef struct {
	manifestDigest string
	manifest       ociManifest
	configBytes    []byte
	config         imageConfig
}

// ID is the image ID, the digest of the config.
func (r ociRef) ID() string { return r.manifest.Config.Digest }

var fx struct {
	once sync.Once
	f    *fixtures
	err  error
}

// getFixtures builds the shared fixtures on first use. A missing tool skips
// the test.
func getFixtures(t *testing.T) *fixtures {
	t.Helper()
	if skipAll != "" {
		t.Skip(skipAll)
	}
	needTools(t, "umoci", "skopeo", "tar", "bash")
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("/bin/busybox is missing (make deps installs busybox-static)")
	}
	fx.once.Do(func() { fx.f, fx.err = buildFixtures(fixtureDir) })
	if fx.err != nil {
		t.Fatalf("build fixtures: %v", fx.err)
	}
	return fx.f
}

func buildFixtures(dir string) (*fixtures, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	f := &fixtures{
		rootfs:         p("busybox-rootfs.tar"),
		layout:         p("layout"),
		dockerArchive:  p("busybox-docker.tar"),
		ociArchive:     p("busybox-oci.tar"),
		ociDir:         p("busybox-ocidir"),
		zstdArchive:    p("busybox-zstd.tar"),
		registryTagged: p("registry-docker.tar"),
		twoArchive:     p("two-docker.tar"),
		untagged:       p("untagged-docker.tar"),
		plainOCI:       p("plain-oci.tar"),
		docker25:       p("docker25.tar"),
	}
	if err := mkrootfs("busybox", f.rootfs); err != nil {
		return nil, err
	}
	bundle, bundle2 := p("bundle"), p("bundle2")
	steps := [][]string{
		{"umoci", "init", "--layout", f.layout},
		{"umoci", "new", "--image", f.layout + ":base"},
		{"umoci", "unpack", "--image", f.layout + ":base", bundle},
		{"tar", "-xpf", f.rootfs, "-C", filepath.Join(bundle, "rootfs"), "--numeric-owner"},
		{"umoci", "repack", "--history.created_by", "mkrootfs.sh busybox", "--image", f.layout + ":base", bundle},
		{"umoci", "config", "--image", f.layout + ":base", "--config.cmd", "sh"},
		{"umoci", "unpack", "--image", f.layout + ":base", bundle2},
	}
	if err := runAll(steps); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(bundle2, "rootfs/etc/motd"), []byte("two layers\n"), 0o644); err != nil {
		return nil, err
	}
	if err := os.Remove(filepath.Join(bundle2, "rootfs/bin/vi")); err != nil {
		return nil, err
	}
	src := "oci:" + f.layout + ":base"
	steps = [][]string{
		{"umoci", "repack", "--history.created_by", "add /etc/motd, remove /bin/vi", "--history.comment", "second layer", "--image", f.layout + ":two", bundle2},
		{"skopeo", "copy", "-q", src, "docker-archive:" + f.dockerArchive + ":busybox:latest"},
		{"skopeo", "copy", "-q", src, "oci-archive:" + f.ociArchive + ":busybox:latest"},
		{"skopeo", "copy", "-q", src, "oci:" + f.ociDir + ":busybox:latest"},
		{"skopeo", "copy", "-q", "--dest-compress-format", "zstd", src, "oci-archive:" + f.zstdArchive + ":bbz:latest"},
		{"skopeo", "copy", "-q", src, "docker-archive:" + f.registryTagged + ":localhost:5000/x:1"},
		{"skopeo", "copy", "-q", "oci:" + f.layout + ":two", "docker-archive:" + f.twoArchive + ":two:latest"},
		{"skopeo", "copy", "-q", "oci:" + f.layout + ":two", "docker-archive:" + f.untagged},
	}
	if err := runAll(steps); err != nil {
		return nil, err
	}
	var err error
	if f.base, err = readOCIRef(f.layout, "base"); err != nil {
		return nil, err
	}
	if f.two, err = readOCIRef(f.layout, "two"); err != nil {
		return nil, err
	}

	// An OCI archive whose one layer is a plain tar, and the layout Docker
	// 25 writes, both of the busybox rootfs as it is.
	rootfs, err := os.ReadFile(f.rootfs)
	if err != nil {
		return nil, err
	}
	f.rootfsDigest = digestOf(rootfs)
	plain := image{ref: "plain:latest", layers: []layer{plainLayer(rootfs)}}
	if f.plainID, err = writeOCIArchive(f.plainOCI, layoutOpts{}, plain); err != nil {
		return nil, err
	}
	d25 := image{ref: "latest", dockerName: "docker.io/library/d25:latest", layers: []layer{plainLayer(rootfs)}}
	if f.docker25ID, err = writeOCIArchive(f.docker25, layoutOpts{dockerManifest: true}, d25); err != nil {
		return nil, err
	}
	return f, nil
}

// mkrootfs runs testdata/mkrootfs.sh, the one recipe for rootfs tars.
func mkrootfs(kind, out string) error {
	return runAll([][]string{{"bash", filepath.Join(repoRoot, "testdata", "mkrootfs.sh"), kind, out}})
}

func runAll(steps [][]string) error {
	for _, s := range steps {
		cmd := exec.Command(s[0], s[1:]...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w\n%s", strings.Join(s, " "), err, out)
		}
	}
	return nil
}

// The OCI and Docker JSON documents, as far as the tests read them.
type (
	descriptor struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Size        int64             `json:"size"`
		Annotations map[string]string `json:"annotations,omitempty"`
	}
	ociIndex struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType,omitempty"`
		Manifests     []descriptor `json:"manifests"`
	}
	ociManifest struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType,omitempty"`
		Config        descriptor   `json:"config"`
		Layers        []descriptor `json:"layers"`
	}
	imageConfig struct {
		Created      string `json:"created,omitempty"`
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
		Config       struct {
			Cmd []string `json:"Cmd,omitempty"`
		} `json:"config"`
		RootFS struct {
			Type    string   `json:"type"`
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
		History []historyEntry `json:"history,omitempty"`
	}
	historyEntry struct {
		Created    string `json:"created,omitempty"`
		CreatedBy  string `json:"created_by,omitempty"`
		Comment    string `json:"comment,omitempty"`
		EmptyLayer bool   `json:"empty_layer,omitempty"`
	}
	dockerManifestEntry struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	// inspectImage is lfs inspect's docker-shaped output.
	inspectImage struct {
		Id            string
		RepoTags      []string
		RepoDigests   []string
		Parent        string
		Comment       string
		Created       string
		DockerVersion string
		Author        string
		Config        struct {
			Cmd          []string
			Entrypoint   []string
			Env          []string
			WorkingDir   string
			User         string
			Labels       map[string]string
			ExposedPorts map[string]struct{}
			Volumes      map[string]struct{}
			OnBuild      []string
			Healthcheck  *struct {
				Test     []string
				Interval int64 // nanoseconds
			}
		}
		Architecture string
		Os           string
		Size         int64
		RootFS       struct {
			Type   string
			Layers []string
		}
	}
)

func jsonUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after JSON value")
	}
	return nil
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// hexOf is the hex part of a sha256:... digest.
func hexOf(digest string) string { return strings.TrimPrefix(digest, "sha256:") }

// readOCIRef reads the image tagged ref (annotation
// org.opencontainers.image.ref.name) from an OCI layout directory.
func readOCIRef(layout, ref string) (ociRef, error) {
	var r ociRef
	b, err := os.ReadFile(filepath.Join(layout, "index.json"))
	if err != nil {
		return r, err
	}
	var idx ociIndex
	if err := json.Unmarshal(b, &idx); err != nil {
		return r, fmt.Errorf("index.json: %w", err)
	}
	for _, d := range idx.Manifests {
		if d.Annotations["org.opencontainers.image.ref.name"] == ref {
			r.manifestDigest = d.Digest
		}
	}
	if r.manifestDigest == "" {
		return r, fmt.Errorf("%s: no image %q", layout, ref)
	}
	mb, err := os.ReadFile(filepath.Join(layout, "blobs", "sha256", hexOf(r.manifestDigest)))
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(mb, &r.manifest); err != nil {
		return r, fmt.Errorf("manifest: %w", err)
	}
	if r.configBytes, err = os.ReadFile(filepath.Join(layout, "blobs", "sha256", hexOf(r.manifest.Config.Digest))); err != nil {
		return r, err
	}
	if err := json.Unmarshal(r.configBytes, &r.config); err != nil {
		return r, fmt.Errorf("config: %w", err)
	}
	return r, nil
}

// Crafted archives: what no tool writes on purpose (bad input), or what the
// tools here cannot write (Docker 25's layout, uncompressed OCI layers).

// entry is one tar entry of a crafted layer.
type entry struct {
	hdr  tar.Header
	body string
}

func file(name, body string) entry {
	return entry{tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body))}, body}
}

func dir(name string) entry {
	return entry{tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755}, ""}
}

func hardlink(name, target string) entry {
	return entry{tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, Mode: 0o644}, ""}
}

func symlink(name, target string) entry {
	return entry{tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}, ""}
}

// mkTar writes entries as a tar in the format archive/tar picks (USTAR
// when it can, else PAX), dated 2000-01-01.
func mkTar(t *testing.T, entries ...entry) []byte {
	t.Helper()
	return mkTarFormat(t, tar.FormatUnknown, entries...)
}

// mkTarFormat writes entries as a tar in one format.
func mkTarFormat(t *testing.T, format tar.Format, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		h.Format = format
		h.ModTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("tar header %s: %v", h.Name, err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatalf("tar body %s: %v", h.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// layer is a layer blob as an image carries it.
type layer struct {
	mediaType string
	blob      []byte
	diffID    string // digest of the uncompressed tar
}

func plainLayer(tarBytes []byte) layer {
	return layer{mtLayerTar, tarBytes, digestOf(tarBytes)}
}

func gzipLayer(tarBytes []byte) layer {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(tarBytes)
	zw.Close()
	return layer{mtLayerGzip, buf.Bytes(), digestOf(tarBytes)}
}

// zstdLayer compresses with the zstd tool (the standard library has no zstd
// writer); it skips the test when zstd is missing.
func zstdLayer(t *testing.T, tarBytes []byte) layer {
	t.Helper()
	needTools(t, "zstd")
	cmd := exec.Command("zstd", "-q", "-c", "--check")
	cmd.Stdin = bytes.NewReader(tarBytes)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("zstd: %v", err)
	}
	return layer{mtLayerZstd, out, digestOf(tarBytes)}
}

// image is a crafted image.
type image struct {
	ref        string // org.opencontainers.image.ref.name, "" for none
	dockerName string // io.containerd.image.name and manifest.json RepoTags (Docker 25)
	layers     []layer
	config     []byte // nil: made from the layers
}

// configFor is a minimal valid image config for these layers.
func configFor(layers []layer) []byte {
	var c imageConfig
	c.Created = "2000-01-01T00:00:00Z"
	c.Architecture, c.OS = "amd64", "linux"
	c.Config.Cmd = []string{"sh"}
	c.RootFS.Type = "layers"
	c.RootFS.DiffIDs = []string{}
	for _, l := range layers {
		c.RootFS.DiffIDs = append(c.RootFS.DiffIDs, l.diffID)
		c.History = append(c.History, historyEntry{Created: c.Created, CreatedBy: "crafted by tests"})
	}
	b, _ := json.Marshal(c)
	return b
}

type layoutOpts struct {
	// dockerManifest adds manifest.json, as Docker 25 writes beside its
	// OCI layout.
	dockerManifest bool
}

// writeOCILayout writes images as an OCI layout directory and returns the
// image ID (config digest) of each.
func writeOCILayout(dir string, o layoutOpts, imgs ...image) ([]string, error) {
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return nil, err
	}
	put := func(b []byte) (string, error) {
		d := digestOf(b)
		return d, os.WriteFile(filepath.Join(blobs, hexOf(d)), b, 0o644)
	}
	idx := ociIndex{SchemaVersion: 2, MediaType: "application/vnd.oci.image.index.v1+json"}
	var ids []string
	var dm []dockerManifestEntry
	for _, img := range imgs {
		cfg := img.config
		if cfg == nil {
			cfg = configFor(img.layers)
		}
		cd, err := put(cfg)
		if err != nil {
			return nil, err
		}
		ids = append(ids, cd)
		m := ociManifest{SchemaVersion: 2, MediaType: mtOCIManifest, Config: descriptor{MediaType: mtOCIConfig, Digest: cd, Size: int64(len(cfg))}}
		e := dockerManifestEntry{Config: "blobs/sha256/" + hexOf(cd)}
		for _, l := range img.layers {
			ld, err := put(l.blob)
			if err != nil {
				return nil, err
			}
			m.Layers = append(m.Layers, descriptor{MediaType: l.mediaType, Digest: ld, Size: int64(len(l.blob))})
			e.Layers = append(e.Layers, "blobs/sha256/"+hexOf(ld))
		}
		mb, _ := json.Marshal(m)
		md, err := put(mb)
		if err != nil {
			return nil, err
		}
		desc := descriptor{MediaType: mtOCIManifest, Digest: md, Size: int64(len(mb)), Annotations: map[string]string{}}
		if img.ref != "" {
			desc.Annotations["org.opencontainers.image.ref.name"] = img.ref
		}
		if img.dockerName != "" {
			desc.Annotations["io.containerd.image.name"] = img.dockerName
			e.RepoTags = []string{strings.TrimPrefix(img.dockerName, "docker.io/library/")}
		}
		idx.Manifests = append(idx.Manifests, desc)
		dm = append(dm, e)
	}
	ib, _ := json.Marshal(idx)
	if err := os.WriteFile(filepath.Join(dir, "index.json"), ib, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		return nil, err
	}
	if o.dockerManifest {
		b, _ := json.Marshal(dm)
		if err := os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// writeOCIArchive writes one image as a tar of an OCI layout and returns its
// image ID.
func writeOCIArchive(out string, o layoutOpts, img image) (string, error) {
	dir, err := os.MkdirTemp(filepath.Dir(out), "layout-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	ids, err := writeOCILayout(dir, o, img)
	if err != nil {
		return "", err
	}
	return ids[0], tarDir(dir, out)
}

// tarDir writes the tree under dir as a tar file, names relative to dir, in
// lexical order.
func tarDir(dir, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	err = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		h.Uname, h.Gname = "", ""
		if info.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			src, err := os.Open(p)
			if err != nil {
				return err
			}
			defer src.Close()
			if _, err := io.Copy(tw, src); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = tw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// craftOCI writes img as an OCI layout in a temp dir, lets edit change files
// in it (edit may be nil), and returns the layout dir and a tar of it.
func craftOCI(t *testing.T, img image, edit func(dir string)) (layoutDir, archive string) {
	t.Helper()
	tmp := t.TempDir()
	layoutDir = filepath.Join(tmp, "layout")
	if _, err := writeOCILayout(layoutDir, layoutOpts{}, img); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(layoutDir)
	}
	archive = filepath.Join(tmp, "archive.tar")
	if err := tarDir(layoutDir, archive); err != nil {
		t.Fatal(err)
	}
	return layoutDir, archive
}

// blobPath is where a layout keeps a blob.
func blobPath(layoutDir, digest string) string {
	return filepath.Join(layoutDir, "blobs", "sha256", hexOf(digest))
}

// noise is n bytes that do not compress (a seeded generator, so runs agree).
func noise(n int, seed byte) []byte {
	b := make([]byte, n)
	var x uint32 = 2463534242 + uint32(seed)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}
