// Package imagearchive reads and writes image archives: `docker save`
// tars (the classic layout with manifest.json and <id>/layer.tar, and the
// Docker ≥25 layout that is also an OCI layout) and OCI image layouts, as a
// directory or a tar of one.
//
// Loading reads a tar archive in one pass, so it works from a pipe: every
// large entry is streamed into the layer store as a candidate layer
// (hashed, decompressed and indexed as it arrives), small JSON entries are
// kept in memory, and once the archive ends its manifests say which
// candidates are layers of which image. Nothing becomes visible in the
// store until every image in the archive has verified, then all of it
// does, in one commit.
package imagearchive

import (
	"archive/tar"
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/lfs-dev/lfs/layerstore"
	"github.com/lfs-dev/lfs/reference"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ErrFormat: the input is not an image archive lfs understands.
var ErrFormat = errors.New("not an image archive")

// maxMetadata bounds a JSON entry (manifest, config, index) held in memory.
const maxMetadata = 64 << 20

// Loaded is one image a load stored, as docker reports it.
type Loaded struct {
	ID   digest.Digest
	Tags []reference.Ref
}

// Load stores every image of the archive read from r (a tar, possibly
// gzip- or zstd-compressed, of either docker layout or an OCI layout).
func Load(s *layerstore.Store, r io.Reader) ([]Loaded, error) {
	b, err := s.NewBatch()
	if err != nil {
		return nil, err
	}
	defer b.Abort()
	src, err := readTar(b, r)
	if err != nil {
		return nil, err
	}
	return load(b, src)
}

// LoadDir stores every image of an OCI image layout directory.
func LoadDir(s *layerstore.Store, dir string) ([]Loaded, error) {
	if _, err := os.Stat(filepath.Join(dir, "index.json")); err != nil {
		return nil, fmt.Errorf("%s: %w: no index.json", dir, ErrFormat)
	}
	b, err := s.NewBatch()
	if err != nil {
		return nil, err
	}
	defer b.Abort()
	return load(b, &dirSource{b: b, dir: dir, done: map[string]layerstore.LayerRef{}})
}

// source is an archive's content by path.
type source interface {
	file(name string) ([]byte, error)
	layer(name string, want digest.Digest, mediaType string) (layerstore.LayerRef, error)
}

type tarSource struct {
	b      *layerstore.Batch
	files  map[string][]byte
	layers map[string]layerstore.LayerRef
	errs   map[string]error
	links  map[string]string
}

func (t *tarSource) resolve(name string) string {
	for i := 0; i < 16; i++ {
		target, ok := t.links[name]
		if !ok {
			break
		}
		name = target
	}
	return name
}

func (t *tarSource) file(name string) ([]byte, error) {
	name = t.resolve(path.Clean(name))
	if data, ok := t.files[name]; ok {
		return data, nil
	}
	if _, ok := t.layers[name]; ok {
		return nil, fmt.Errorf("%s: %w: expected JSON, found a layer", name, ErrFormat)
	}
	return nil, fmt.Errorf("%s: %w: missing from the archive", name, layerstore.ErrNotFound)
}

func (t *tarSource) layer(name string, want digest.Digest, mediaType string) (layerstore.LayerRef, error) {
	name = t.resolve(path.Clean(name))
	if ref, ok := t.layers[name]; ok {
		if want != "" && ref.Blob.Digest != want {
			return ref, fmt.Errorf("layer %s: %w (content is %s)", want, layerstore.ErrDigestMismatch, ref.Blob.Digest)
		}
		return ref, nil
	}
	if err, ok := t.errs[name]; ok {
		return layerstore.LayerRef{}, fmt.Errorf("%s: %w", name, err)
	}
	if data, ok := t.files[name]; ok {
		return t.b.AddLayer(bytes.NewReader(data), want, mediaType)
	}
	return layerstore.LayerRef{}, fmt.Errorf("%s: %w: missing from the archive", name, layerstore.ErrNotFound)
}

// readTar reads the whole archive: layers into the batch, JSON into memory.
func readTar(b *layerstore.Batch, r io.Reader) (*tarSource, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	magic, _ := br.Peek(6)
	var in io.Reader = br
	if c := layerstore.DetectCompression(magic); c == layerstore.Gzip || c == layerstore.Zstd {
		dec, err := layerstore.Decompress(c, br)
		if err != nil {
			return nil, err
		}
		defer dec.Close()
		in = dec
	}
	t := &tarSource{b: b, files: map[string][]byte{}, layers: map[string]layerstore.LayerRef{},
		errs: map[string]error{}, links: map[string]string{}}
	tr := tar.NewReader(in)
	entries := 0
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if entries == 0 {
				return nil, fmt.Errorf("%w: %v", ErrFormat, err)
			}
			return nil, fmt.Errorf("read archive: %w: %v", layerstore.ErrCorrupt, err)
		}
		entries++
		name := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		switch hdr.Typeflag {
		case tar.TypeSymlink:
			// The classic layout links repeated layers to their first copy.
			t.links[name] = path.Join(path.Dir(name), hdr.Linkname)
			continue
		case tar.TypeLink:
			t.links[name] = path.Clean(hdr.Linkname)
			continue
		case tar.TypeReg:
		default:
			continue
		}
		eb := bufio.NewReaderSize(tr, 64<<10)
		head, _ := eb.Peek(512)
		if looksJSON(head) && hdr.Size <= maxMetadata {
			data, err := io.ReadAll(eb)
			if err != nil {
				return nil, fmt.Errorf("read archive %s: %w: %v", name, layerstore.ErrCorrupt, err)
			}
			t.files[name] = data
			continue
		}
		ref, err := b.AddLayer(eb, blobDigest(name), "")
		if err != nil {
			// Only an error if a manifest names it as a layer.
			t.errs[name] = err
			continue
		}
		t.layers[name] = ref
	}
	if entries == 0 {
		return nil, fmt.Errorf("%w: empty input", ErrFormat)
	}
	return t, nil
}

// blobDigest is the digest an OCI layout path names ("blobs/sha256/HEX"),
// which the content must match, or "" for any other path.
func blobDigest(name string) digest.Digest {
	hex, ok := strings.CutPrefix(path.Clean(name), "blobs/sha256/")
	if !ok {
		return ""
	}
	d := digest.NewDigestFromEncoded(digest.SHA256, hex)
	if d.Validate() != nil {
		return ""
	}
	return d
}

func looksJSON(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && (b[0] == '{' || b[0] == '[')
}

type dirSource struct {
	b    *layerstore.Batch
	dir  string
	done map[string]layerstore.LayerRef
}

func (d *dirSource) open(name string) (*os.File, error) {
	clean := path.Clean("/" + name)[1:]
	f, err := os.Open(filepath.Join(d.dir, clean))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w: missing from the layout", name, layerstore.ErrNotFound)
	}
	return f, err
}

func (d *dirSource) file(name string) ([]byte, error) {
	f, err := d.open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxMetadata))
}

func (d *dirSource) layer(name string, want digest.Digest, mediaType string) (layerstore.LayerRef, error) {
	if ref, ok := d.done[name]; ok {
		return ref, nil
	}
	f, err := d.open(name)
	if err != nil {
		return layerstore.LayerRef{}, err
	}
	defer f.Close()
	ref, err := d.b.AddLayer(f, want, mediaType)
	if err == nil {
		d.done[name] = ref
	}
	return ref, err
}

// load turns the archive's manifests into images and commits them.
func load(b *layerstore.Batch, src source) ([]Loaded, error) {
	var out []Loaded
	var err error
	if idx, ierr := src.file("index.json"); ierr == nil {
		out, err = loadOCI(b, src, idx)
	} else if mf, merr := src.file("manifest.json"); merr == nil {
		out, err = loadDocker(b, src, mf)
	} else {
		return nil, fmt.Errorf("%w: neither index.json nor manifest.json found", ErrFormat)
	}
	if err != nil {
		return nil, err
	}
	if err := b.Commit(); err != nil {
		return nil, err
	}
	return out, nil
}

type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

type imageConfig struct {
	Created *json.RawMessage `json:"created"`
	RootFS  struct {
		Type    string          `json:"type"`
		DiffIDs []digest.Digest `json:"diff_ids"`
	} `json:"rootfs"`
}

func loadDocker(b *layerstore.Batch, src source, data []byte) ([]Loaded, error) {
	var mfs []dockerManifest
	if err := json.Unmarshal(data, &mfs); err != nil {
		return nil, fmt.Errorf("manifest.json: %w: %v", ErrFormat, err)
	}
	var out []Loaded
	for _, m := range mfs {
		cfg, err := src.file(m.Config)
		if err != nil {
			return nil, err
		}
		want := blobDigest(m.Config)
		var layers []layerstore.LayerRef
		for _, l := range m.Layers {
			ref, err := src.layer(l, blobDigest(l), "")
			if err != nil {
				return nil, err
			}
			layers = append(layers, ref)
		}
		img, err := AddImage(b, cfg, want, layers, nil)
		if err != nil {
			return nil, err
		}
		ld := Loaded{ID: img.ID}
		for _, t := range m.RepoTags {
			r, err := reference.Parse(t)
			if err != nil {
				return nil, fmt.Errorf("manifest.json: tag %q: %w", t, err)
			}
			b.Tag(r.String(), img.ID)
			ld.Tags = append(ld.Tags, r)
		}
		out = append(out, ld)
	}
	return out, nil
}

// AddImage verifies an image's config against its layers (its diff_ids must
// be theirs, in order) and stages its config, its manifest (the given one,
// already staged, or one lfs makes) and the image record. Loading and
// pulling both end with it.
func AddImage(b *layerstore.Batch, cfg []byte, want digest.Digest, layers []layerstore.LayerRef, manifest *layerstore.Descriptor) (layerstore.Image, error) {
	cdesc, err := b.AddBlob(cfg, layerstore.MediaTypeConfig, want)
	if err != nil {
		return layerstore.Image{}, fmt.Errorf("config: %w", err)
	}
	var c imageConfig
	if err := json.Unmarshal(cfg, &c); err != nil {
		return layerstore.Image{}, fmt.Errorf("config %s: %w: %v", cdesc.Digest, ErrFormat, err)
	}
	if len(c.RootFS.DiffIDs) != len(layers) {
		return layerstore.Image{}, fmt.Errorf("config %s: %w: it lists %d layers, the manifest %d", cdesc.Digest, layerstore.ErrDigestMismatch, len(c.RootFS.DiffIDs), len(layers))
	}
	for i, l := range layers {
		if c.RootFS.DiffIDs[i] != l.DiffID {
			return layerstore.Image{}, fmt.Errorf("layer %d: %w: config says %s, content is %s", i, layerstore.ErrDigestMismatch, c.RootFS.DiffIDs[i], l.DiffID)
		}
	}
	img := layerstore.Image{ID: cdesc.Digest, Layers: layers, Created: parseCreated(c.Created)}
	if manifest != nil {
		img.Manifest = *manifest
	} else {
		m, err := MakeManifest(cdesc, layers)
		if err != nil {
			return img, err
		}
		if img.Manifest, err = b.AddBlob(m, layerstore.MediaTypeManifest, ""); err != nil {
			return img, err
		}
	}
	b.SetImage(img)
	return img, nil
}

// MakeManifest writes an OCI manifest for a config and layers as they are
// stored (compressed blob if any, else the tar).
func MakeManifest(config layerstore.Descriptor, layers []layerstore.LayerRef) ([]byte, error) {
	m := ocispec.Manifest{
		MediaType: layerstore.MediaTypeManifest,
		Config:    ocispec.Descriptor{MediaType: layerstore.MediaTypeConfig, Digest: config.Digest, Size: config.Size},
		Layers:    []ocispec.Descriptor{},
	}
	m.SchemaVersion = 2
	for _, l := range layers {
		mt := l.Blob.MediaType
		if mt == "" || strings.Contains(mt, "docker") {
			mt = ociLayerType(mt)
		}
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: mt, Digest: l.Blob.Digest, Size: l.Blob.Size})
	}
	return json.Marshal(m)
}

func ociLayerType(docker string) string {
	switch {
	case strings.HasSuffix(docker, "gzip"):
		return layerstore.MediaTypeLayerGzip
	case strings.HasSuffix(docker, "zstd"):
		return layerstore.MediaTypeLayerZstd
	}
	return layerstore.MediaTypeLayer
}

func loadOCI(b *layerstore.Batch, src source, data []byte) ([]Loaded, error) {
	var idx ocispec.Index
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("index.json: %w: %v", ErrFormat, err)
	}
	// Docker ≥25 archives carry manifest.json too; its RepoTags are what
	// docker load applies.
	dockerTags := map[digest.Digest][]string{}
	if mf, err := src.file("manifest.json"); err == nil {
		var mfs []dockerManifest
		if json.Unmarshal(mf, &mfs) == nil {
			for _, m := range mfs {
				if id := blobDigest(m.Config); id != "" {
					dockerTags[id] = append(dockerTags[id], m.RepoTags...)
				}
			}
		}
	}
	var out []Loaded
	seen := map[digest.Digest]int{}
	for _, desc := range idx.Manifests {
		img, err := loadManifest(b, src, desc, 0)
		if err != nil {
			return nil, err
		}
		i, ok := seen[img.ID]
		if !ok {
			i = len(out)
			seen[img.ID] = i
			out = append(out, Loaded{ID: img.ID})
			for _, t := range dockerTags[img.ID] {
				if r, err := reference.Parse(t); err == nil {
					out[i].Tags = append(out[i].Tags, r)
				}
			}
		}
		if r, ok := refName(desc.Annotations); ok && !hasRef(out[i].Tags, r) {
			out[i].Tags = append(out[i].Tags, r)
		}
	}
	for _, l := range out {
		for _, r := range l.Tags {
			b.Tag(r.String(), l.ID)
		}
	}
	return out, nil
}

func hasRef(list []reference.Ref, r reference.Ref) bool {
	for _, x := range list {
		if x == r {
			return true
		}
	}
	return false
}

// refName reads an image name from index annotations: containerd's full
// name, or an OCI ref.name that is a whole reference. A bare ref.name
// ("latest", as `skopeo copy ... oci:DIR:latest` writes) names no
// repository, so the image loads untagged.
func refName(ann map[string]string) (reference.Ref, bool) {
	for _, key := range []string{"io.containerd.image.name", ocispec.AnnotationRefName} {
		v := ann[key]
		if v == "" || key == ocispec.AnnotationRefName && !strings.ContainsAny(v, ":/") {
			continue
		}
		if r, err := reference.Parse(v); err == nil && r.Tag != "" {
			r.Digest = ""
			return r, true
		}
	}
	return reference.Ref{}, false
}

func loadManifest(b *layerstore.Batch, src source, desc ocispec.Descriptor, depth int) (layerstore.Image, error) {
	if depth > 4 {
		return layerstore.Image{}, fmt.Errorf("%w: indexes nested too deep", ErrFormat)
	}
	blobPath := "blobs/" + desc.Digest.Algorithm().String() + "/" + desc.Digest.Encoded()
	if err := desc.Digest.Validate(); err != nil {
		return layerstore.Image{}, fmt.Errorf("index: %w: %v", ErrFormat, err)
	}
	data, err := src.file(blobPath)
	if err != nil {
		return layerstore.Image{}, fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	if got := digest.FromBytes(data); got != desc.Digest {
		return layerstore.Image{}, fmt.Errorf("manifest %s: %w (content is %s)", desc.Digest, layerstore.ErrDigestMismatch, got)
	}
	var probe struct {
		MediaType string               `json:"mediaType"`
		Manifests []ocispec.Descriptor `json:"manifests"`
	}
	json.Unmarshal(data, &probe)
	mt := desc.MediaType
	if mt == "" {
		mt = probe.MediaType
	}
	if mt == layerstore.MediaTypeIndex || mt == "application/vnd.docker.distribution.manifest.list.v2+json" || (mt == "" && probe.Manifests != nil) {
		child, err := pickPlatform(probe.Manifests)
		if err != nil {
			return layerstore.Image{}, fmt.Errorf("index %s: %w", desc.Digest, err)
		}
		return loadManifest(b, src, child, depth+1)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return layerstore.Image{}, fmt.Errorf("manifest %s: %w: %v", desc.Digest, ErrFormat, err)
	}
	cfg, err := src.file("blobs/sha256/" + m.Config.Digest.Encoded())
	if err != nil {
		return layerstore.Image{}, fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	var layers []layerstore.LayerRef
	for _, l := range m.Layers {
		if err := l.Digest.Validate(); err != nil {
			return layerstore.Image{}, fmt.Errorf("manifest %s: %w: %v", desc.Digest, ErrFormat, err)
		}
		ref, err := src.layer("blobs/sha256/"+l.Digest.Encoded(), l.Digest, l.MediaType)
		if err != nil {
			return layerstore.Image{}, err
		}
		ref.Blob.MediaType = l.MediaType
		layers = append(layers, ref)
	}
	mdesc, err := b.AddBlob(data, mt, desc.Digest)
	if err != nil {
		return layerstore.Image{}, err
	}
	return AddImage(b, cfg, m.Config.Digest, layers, &mdesc)
}

// pickPlatform chooses the host's platform from an index, as docker load
// does, or the only entry.
func pickPlatform(ms []ocispec.Descriptor) (ocispec.Descriptor, error) {
	var candidates []ocispec.Descriptor
	for _, m := range ms {
		if m.Platform == nil || m.Platform.OS == "unknown" {
			continue
		}
		if m.Platform.OS == "linux" && m.Platform.Architecture == runtime.GOARCH {
			return m, nil
		}
		candidates = append(candidates, m)
	}
	if len(ms) == 1 {
		return ms[0], nil
	}
	return ocispec.Descriptor{}, fmt.Errorf("no manifest for linux/%s among %d", runtime.GOARCH, len(candidates))
}

func parseCreated(raw *json.RawMessage) (t time.Time) {
	if raw == nil {
		return
	}
	json.Unmarshal(*raw, &t)
	return
}
