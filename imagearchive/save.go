package imagearchive

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/lfs-dev/lfs/layerstore"
	"github.com/lfs-dev/lfs/reference"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Format is the layout Save writes.
type Format string

const (
	// Docker is the layout `docker save` writes since Docker 25: an OCI
	// layout with uncompressed layers, plus manifest.json, which every
	// docker load, skopeo docker-archive: and podman load reads.
	Docker Format = "docker"
	// OCI is an OCI image layout holding each image's blobs as stored: the
	// original manifest and compressed layers, so digests are kept.
	OCI Format = "oci"
)

// Named is an image to save with the references it is saved under.
type Named struct {
	Image layerstore.Image
	Refs  []reference.Ref
}

// Save writes images as a tar archive in the given format.
func Save(w io.Writer, s *layerstore.Store, images []Named, format Format) error {
	if format != Docker && format != OCI {
		return fmt.Errorf("unknown archive format %q (docker or oci)", format)
	}
	tw := tar.NewWriter(w)
	aw := &archiveWriter{s: s, tw: tw, done: map[digest.Digest]bool{}}
	if err := aw.dir("blobs/"); err != nil {
		return err
	}
	if err := aw.dir("blobs/sha256/"); err != nil {
		return err
	}
	if err := aw.bytes("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	idx := ocispec.Index{MediaType: layerstore.MediaTypeIndex, Manifests: []ocispec.Descriptor{}}
	idx.SchemaVersion = 2
	var dockerManifests []dockerManifest
	for _, n := range images {
		mdesc, layerPaths, err := aw.image(n.Image, format)
		if err != nil {
			return err
		}
		desc := ocispec.Descriptor{MediaType: mdesc.MediaType, Digest: mdesc.Digest, Size: mdesc.Size}
		if len(n.Refs) == 0 {
			idx.Manifests = append(idx.Manifests, desc)
		}
		dm := dockerManifest{Config: "blobs/sha256/" + n.Image.ID.Encoded(), Layers: layerPaths, RepoTags: []string{}}
		for _, r := range n.Refs {
			d := desc
			d.Annotations = map[string]string{
				"io.containerd.image.name": r.String(),
				ocispec.AnnotationRefName:  r.String(),
			}
			if format == Docker {
				// What docker writes: the tag alone in ref.name.
				d.Annotations[ocispec.AnnotationRefName] = r.Tag
			}
			idx.Manifests = append(idx.Manifests, d)
			dm.RepoTags = append(dm.RepoTags, r.Familiar())
		}
		dockerManifests = append(dockerManifests, dm)
	}
	ij, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	if err := aw.bytes("index.json", ij); err != nil {
		return err
	}
	if format == Docker {
		mj, err := json.Marshal(dockerManifests)
		if err != nil {
			return err
		}
		if err := aw.bytes("manifest.json", mj); err != nil {
			return err
		}
	}
	return tw.Close()
}

type archiveWriter struct {
	s    *layerstore.Store
	tw   *tar.Writer
	done map[digest.Digest]bool
}

// image writes one image's blobs and returns its manifest's descriptor and
// the paths of its layers.
func (aw *archiveWriter) image(img layerstore.Image, format Format) (layerstore.Descriptor, []string, error) {
	cfg, err := aw.s.Config(img.ID)
	if err != nil {
		return layerstore.Descriptor{}, nil, err
	}
	if err := aw.blob(img.ID, cfg); err != nil {
		return layerstore.Descriptor{}, nil, err
	}
	// The stored manifest, if every blob it names is here; else one that
	// names the uncompressed tars, which always are.
	layers := img.Layers
	mdesc := img.Manifest
	useStored := format == OCI && mdesc.Digest != ""
	for _, l := range layers {
		if _, err := os.Stat(aw.s.BlobPath(l.Blob.Digest)); err != nil {
			useStored = false
		}
	}
	if !useStored {
		layers = make([]layerstore.LayerRef, len(img.Layers))
		for i, l := range img.Layers {
			l.Blob = layerstore.Descriptor{MediaType: layerstore.MediaTypeLayer, Digest: l.DiffID, Size: l.Size}
			layers[i] = l
		}
		m, err := MakeManifest(layerstore.Descriptor{Digest: img.ID, Size: int64(len(cfg))}, layers)
		if err != nil {
			return mdesc, nil, err
		}
		mdesc = layerstore.Descriptor{MediaType: layerstore.MediaTypeManifest, Digest: digest.FromBytes(m), Size: int64(len(m))}
		if err := aw.blob(mdesc.Digest, m); err != nil {
			return mdesc, nil, err
		}
	} else {
		m, err := aw.s.ReadBlob(mdesc.Digest)
		if err != nil {
			return mdesc, nil, err
		}
		if err := aw.blob(mdesc.Digest, m); err != nil {
			return mdesc, nil, err
		}
	}
	var paths []string
	for _, l := range layers {
		paths = append(paths, "blobs/sha256/"+l.Blob.Digest.Encoded())
		if err := aw.file(l.Blob.Digest, aw.s.BlobPath(l.Blob.Digest), l.Blob.Size); err != nil {
			return mdesc, nil, err
		}
	}
	return mdesc, paths, nil
}

var epoch = time.Unix(0, 0)

func (aw *archiveWriter) dir(name string) error {
	return aw.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX})
}

func (aw *archiveWriter) bytes(name string, data []byte) error {
	if err := aw.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
		return err
	}
	_, err := aw.tw.Write(data)
	return err
}

func (aw *archiveWriter) blob(d digest.Digest, data []byte) error {
	if aw.done[d] {
		return nil
	}
	aw.done[d] = true
	return aw.bytes("blobs/sha256/"+d.Encoded(), data)
}

func (aw *archiveWriter) file(d digest.Digest, p string, size int64) error {
	if aw.done[d] {
		return nil
	}
	aw.done[d] = true
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("blob %s: %w", d, err)
	}
	defer f.Close()
	if err := aw.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "blobs/sha256/" + d.Encoded(), Mode: 0o644, Size: size, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
		return err
	}
	if _, err := io.CopyN(aw.tw, f, size); err != nil {
		return fmt.Errorf("blob %s: %w", d, err)
	}
	return nil
}
