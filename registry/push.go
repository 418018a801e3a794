package registry

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/pgzip"
	"github.com/lfs-dev/lfs/imagearchive"
	"github.com/lfs-dev/lfs/layerstore"
	"github.com/lfs-dev/lfs/reference"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Pushed is what a push sent.
type Pushed struct {
	Ref    reference.Ref
	Digest digest.Digest // of the manifest as the registry has it
	Size   int64
}

// Push sends the image that image names to dest (a reference; "" means
// image itself). Blobs the repository has are not sent again. The stored
// manifest goes byte for byte when the store holds every blob it names;
// otherwise the missing layers are gzipped from their tars and a new
// manifest names them. The pushed digest is recorded as a repo digest.
func (c *Client) Push(ctx context.Context, s *layerstore.Store, image, dest string) (Pushed, error) {
	if dest == "" {
		dest = image
	}
	ref, err := reference.Parse(dest)
	if err != nil {
		return Pushed{}, err
	}
	if ref.Digest != "" {
		return Pushed{}, fmt.Errorf("push %s: %w: cannot push to a digest reference", dest, reference.ErrInvalid)
	}
	img, err := s.Resolve(image)
	if err != nil {
		return Pushed{}, err
	}
	p, err := c.push(ctx, s, img, ref)
	if err != nil {
		return p, fmt.Errorf("push %s: %w", ref.Familiar(), err)
	}
	b, err := s.NewBatch()
	if err != nil {
		return p, err
	}
	defer b.Abort()
	img.RepoDigests = []string{ref.Name() + "@" + string(p.Digest)}
	b.SetImage(img)
	return p, b.Commit()
}

func (c *Client) push(ctx context.Context, s *layerstore.Store, img layerstore.Image, ref reference.Ref) (Pushed, error) {
	repo, err := c.repository(ref)
	if err != nil {
		return Pushed{}, err
	}
	c.report(Event{Status: "The push refers to repository [" + ref.Name() + "]"})
	cfg, err := s.Config(img.ID)
	if err != nil {
		return Pushed{}, err
	}
	raw, mt, err := storedManifest(s, img, cfg)
	if err != nil {
		return Pushed{}, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return Pushed{}, fmt.Errorf("manifest %s: %w: %v", img.Manifest.Digest, layerstore.ErrCorrupt, err)
	}
	if len(m.Layers) != len(img.Layers) {
		return Pushed{}, fmt.Errorf("manifest %s: %w: %d layers, the image %d", img.Manifest.Digest, layerstore.ErrCorrupt, len(m.Layers), len(img.Layers))
	}

	opts := c.remoteOpts(ctx, ref.Registry)
	pusher, err := remote.NewPusher(opts...)
	if err != nil {
		return Pushed{}, err
	}
	auth, err := authn.Resolve(ctx, c.keychain, repo)
	if err != nil {
		return Pushed{}, err
	}
	rt, err := transport.NewWithContext(ctx, repo.Registry, auth, c.transport(ref.Registry), []string{repo.Scope(transport.PushScope)})
	if err != nil {
		return Pushed{}, classify(err)
	}

	tmp, err := os.MkdirTemp("", "lfs-push-")
	if err != nil {
		return Pushed{}, err
	}
	defer os.RemoveAll(tmp)

	// Layers top first, as docker prints them; several at once.
	changed := false
	var mu sync.Mutex
	errs := make([]error, len(m.Layers))
	sem := make(chan struct{}, c.jobs)
	var wg sync.WaitGroup
	for i := len(m.Layers) - 1; i >= 0; i-- {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			d := m.Layers[i]
			path := s.BlobPath(d.Digest)
			if _, err := os.Stat(path); err != nil {
				// The store kept no compressed form: gzip the tar.
				nd, np, err := gzipLayer(s.TarPath(img.Layers[i].DiffID), tmp, mt)
				if err != nil {
					errs[i] = fmt.Errorf("compress layer %s: %w", img.Layers[i].DiffID, err)
					return
				}
				mu.Lock()
				m.Layers[i], changed = nd, true
				mu.Unlock()
				d, path = nd, np
			}
			errs[i] = c.upload(ctx, pusher, rt, repo, d, path, true)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Pushed{}, err
	}
	cd := ocispec.Descriptor{MediaType: m.Config.MediaType, Digest: img.ID, Size: int64(len(cfg))}
	cfgPath := s.BlobPath(img.ID)
	if err := c.upload(ctx, pusher, rt, repo, cd, cfgPath, false); err != nil {
		return Pushed{}, err
	}
	if changed {
		if raw, err = json.Marshal(m); err != nil {
			return Pushed{}, err
		}
	}
	tag := repo.Tag(ref.Tag)
	if err := pusher.Put(ctx, tag, rawManifest{raw, types.MediaType(mt)}); err != nil {
		return Pushed{}, classify(err)
	}
	p := Pushed{Ref: ref, Digest: digest.FromBytes(raw), Size: int64(len(raw))}
	c.report(Event{Status: fmt.Sprintf("%s: digest: %s size: %d", ref.Tag, p.Digest, p.Size)})
	return p, nil
}

// storedManifest is the image's manifest as stored, or for an image that
// has none one lfs makes.
func storedManifest(s *layerstore.Store, img layerstore.Image, cfg []byte) ([]byte, string, error) {
	if img.Manifest.Digest != "" {
		raw, err := s.ReadBlob(img.Manifest.Digest)
		if err != nil {
			return nil, "", err
		}
		mt := img.Manifest.MediaType
		if mt == "" {
			var probe struct{ MediaType string }
			json.Unmarshal(raw, &probe)
			mt = probe.MediaType
		}
		if mt == "" {
			mt = layerstore.MediaTypeManifest
		}
		return raw, mt, nil
	}
	raw, err := imagearchive.MakeManifest(layerstore.Descriptor{Digest: img.ID, Size: int64(len(cfg))}, img.Layers)
	return raw, layerstore.MediaTypeManifest, err
}

// upload sends one blob unless the repository has it (HEAD first).
func (c *Client) upload(ctx context.Context, pusher *remote.Pusher, rt http.RoundTripper, repo name.Repository, d ocispec.Descriptor, path string, layer bool) error {
	short := d.Digest.Encoded()[:12]
	exists, err := blobExists(ctx, rt, repo, d.Digest)
	if err != nil {
		return fmt.Errorf("blob %s: %w", d.Digest, err)
	}
	if exists {
		if layer {
			c.report(Event{ID: short, Status: "Layer already exists"})
		}
		return nil
	}
	l, err := partial.CompressedToLayer(&fileBlob{path: path, desc: d})
	if err != nil {
		return err
	}
	if err := pusher.Upload(ctx, repo, l); err != nil {
		return fmt.Errorf("blob %s: %w", d.Digest, classify(err))
	}
	if layer {
		c.report(Event{ID: short, Status: "Pushed"})
	}
	return nil
}

func blobExists(ctx context.Context, rt http.RoundTripper, repo name.Repository, d digest.Digest) (bool, error) {
	u := repo.Registry.Scheme() + "://" + repo.RegistryStr() + "/v2/" + repo.RepositoryStr() + "/blobs/" + string(d)
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
	if err != nil {
		return false, err
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return false, classify(err)
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, classify(transport.CheckError(resp, http.StatusOK))
}

// fileBlob is a stored blob as ggcr's partial.CompressedLayer.
type fileBlob struct {
	path string
	desc ocispec.Descriptor
}

var _ = (partial.CompressedLayer)((*fileBlob)(nil))

func (f *fileBlob) Digest() (v1.Hash, error) { return v1.NewHash(string(f.desc.Digest)) }
func (f *fileBlob) Size() (int64, error)     { return f.desc.Size, nil }
func (f *fileBlob) MediaType() (types.MediaType, error) {
	return types.MediaType(f.desc.MediaType), nil
}
func (f *fileBlob) Compressed() (io.ReadCloser, error) { return os.Open(f.path) }

// rawManifest is manifest bytes as ggcr's remote.Taggable, sent unchanged.
type rawManifest struct {
	data []byte
	mt   types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.data, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mt, nil }

// gzipLayer compresses a layer tar into dir and describes the result with
// the gzip layer media type of the manifest's family.
func gzipLayer(tarPath, dir, manifestType string) (ocispec.Descriptor, string, error) {
	in, err := os.Open(tarPath)
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	defer in.Close()
	out, err := os.CreateTemp(dir, "layer-*.gz")
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	defer out.Close()
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(out, h)}
	zw := pgzip.NewWriter(cw)
	if _, err := io.Copy(zw, in); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	if err := zw.Close(); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	if err := out.Close(); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	mt := layerstore.MediaTypeLayerGzip
	if strings.Contains(manifestType, "docker") {
		mt = string(types.DockerLayer)
	}
	return ocispec.Descriptor{MediaType: mt, Digest: digest.NewDigest(digest.SHA256, h), Size: cw.n}, out.Name(), nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
