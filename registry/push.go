package registry

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"
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

// PushOptions are what `lfs push` takes besides the names.
type PushOptions struct {
	// Compression is "gzip" or "zstd": every layer goes in that form, made
	// from its tar where the store keeps no blob so compressed (and then
	// kept, so a second push sends the same manifest). "" sends the layers
	// as stored, gzipping only those the store kept no compressed form of.
	Compression string
}

// Push sends the image that image names to dest (a reference; "" means
// image itself). Blobs the repository has are not sent again, and blobs
// another repository of the same registry is known to hold (from the
// image's repo digests) are mounted from it. The stored manifest goes
// byte for byte when it names the layers in the wanted form; otherwise a
// new manifest names the layers as sent. The pushed digest is recorded as
// a repo digest.
func (c *Client) Push(ctx context.Context, s *layerstore.Store, image, dest string, o PushOptions) (Pushed, error) {
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
	var want layerstore.Compression
	switch o.Compression {
	case "":
	case "gzip":
		want = layerstore.Gzip
	case "zstd":
		want = layerstore.Zstd
	default:
		return Pushed{}, fmt.Errorf("%w: compression format %q (want gzip or zstd)", ErrUnsupported, o.Compression)
	}
	img, err := s.Resolve(image)
	if err != nil {
		return Pushed{}, err
	}
	p, err := c.push(ctx, s, img, ref, want)
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

// push sends img's layers in the form want asks (Uncompressed: as stored),
// then its config, then the manifest.
func (c *Client) push(ctx context.Context, s *layerstore.Store, img layerstore.Image, ref reference.Ref, want layerstore.Compression) (Pushed, error) {
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

	// Blobs other repositories of this registry hold can be mounted from
	// them, which needs pull access there.
	sources := c.knownRepositories(s, ref)
	scopes := []string{repo.Scope(transport.PushScope)}
	seen := map[string]bool{}
	for _, rs := range sources {
		for _, r := range rs {
			if !seen[r] {
				seen[r] = true
				scopes = append(scopes, repo.Registry.Repo(r).Scope(transport.PullScope))
			}
		}
	}
	rt, err := c.session(ctx, repo, scopes...)
	if err != nil {
		return Pushed{}, err
	}
	pusher, err := remote.NewPusher(c.sessionOpts(ctx, rt)...)
	if err != nil {
		return Pushed{}, err
	}

	// Under the store's tmp/, so that a push killed meanwhile leaves
	// nothing behind for long (the next writer's cleanup removes it).
	tmp, err := os.MkdirTemp(filepath.Join(s.Root(), "tmp"), "push-")
	if err != nil {
		return Pushed{}, err
	}
	defer os.RemoveAll(tmp)

	// Which blob each layer goes as, and the layers to compress first.
	docker := strings.Contains(mt, "docker")
	if want == layerstore.Zstd && docker {
		// Docker's schema 2 has no zstd layers; the manifest becomes OCI's,
		// as containerd and skopeo convert it.
		docker, mt = false, layerstore.MediaTypeManifest
		m.MediaType, m.Config.MediaType = mt, layerstore.MediaTypeConfig
	}
	paths := make([]string, len(m.Layers))
	var todo []int
	changed := m.MediaType != "" && m.MediaType != storedType(raw)
	for i, d := range m.Layers {
		if d2, path, ok := storedForm(s, img.Layers[i], d, want); ok {
			if want != layerstore.Uncompressed {
				d2.MediaType = layerMediaType(want, docker)
			}
			if d2.Digest != d.Digest || d2.MediaType != d.MediaType {
				changed = true
			}
			m.Layers[i], paths[i] = d2, path
			continue
		}
		todo = append(todo, i)
	}
	if len(todo) > 0 {
		changed = true
		form := want
		if form == layerstore.Uncompressed {
			form = layerstore.Gzip
		}
		descs, ps, err := c.compressLayers(s, img, todo, form, tmp)
		if err != nil {
			return Pushed{}, err
		}
		for k, i := range todo {
			descs[k].MediaType = layerMediaType(form, docker)
			m.Layers[i], paths[i] = descs[k], ps[k]
		}
	}

	// Layers top first, as docker prints them; several at once.
	for i := len(m.Layers) - 1; i >= 0; i-- {
		c.report(Event{ID: m.Layers[i].Digest.Encoded()[:12], Layer: true, Status: "Preparing"})
	}
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
			errs[i] = c.upload(ctx, pusher, rt, repo, d, paths[i], true, sources[d.Digest])
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Pushed{}, err
	}
	cd := ocispec.Descriptor{MediaType: m.Config.MediaType, Digest: img.ID, Size: int64(len(cfg))}
	if err := c.upload(ctx, pusher, rt, repo, cd, s.BlobPath(img.ID), false, nil); err != nil {
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

// storedType is the mediaType field of a stored manifest.
func storedType(raw []byte) string {
	var probe struct{ MediaType string }
	json.Unmarshal(raw, &probe)
	return probe.MediaType
}

// storedForm finds the blob a layer can go as without compressing: the
// one the manifest names if it is in the wanted form (any form when want is
// Uncompressed) and stored, else a stored compressed form in want.
func storedForm(s *layerstore.Store, l layerstore.LayerRef, d ocispec.Descriptor, want layerstore.Compression) (ocispec.Descriptor, string, bool) {
	present := func(d digest.Digest) (string, bool) {
		p := s.BlobPath(d)
		_, err := os.Stat(p)
		return p, err == nil
	}
	if want == layerstore.Uncompressed || compressionOf(d.MediaType) == want {
		if p, ok := present(d.Digest); ok {
			return d, p, true
		}
		if want == layerstore.Uncompressed {
			return d, "", false
		}
	}
	info, err := s.LayerInfo(l.DiffID)
	if err != nil {
		return d, "", false
	}
	for _, b := range info.Blobs {
		if compressionOf(b.MediaType) != want {
			continue
		}
		if p, ok := present(b.Digest); ok {
			return ocispec.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size}, p, true
		}
	}
	return d, "", false
}

// compressionOf is the compression a layer media type names.
func compressionOf(mt string) layerstore.Compression {
	switch {
	case strings.HasSuffix(mt, "gzip"):
		return layerstore.Gzip
	case strings.HasSuffix(mt, "zstd"):
		return layerstore.Zstd
	}
	return layerstore.Uncompressed
}

// layerMediaType is the media type of a layer so compressed in a docker or
// an OCI manifest.
func layerMediaType(c layerstore.Compression, docker bool) string {
	if !docker {
		return c.MediaType()
	}
	if c == layerstore.Gzip {
		return string(types.DockerLayer)
	}
	return string(types.DockerUncompressedLayer)
}

// compressLayers compresses the tars of img's layers todo, several at once.
// A store that keeps compressed forms keeps these too, so that the next
// push finds them (and sends the same manifest); otherwise they are
// written under tmp for this push only.
func (c *Client) compressLayers(s *layerstore.Store, img layerstore.Image, todo []int, form layerstore.Compression, tmp string) ([]ocispec.Descriptor, []string, error) {
	var b *layerstore.Batch
	if s.KeepsCompressed() {
		var err error
		if b, err = s.NewBatch(); err != nil {
			return nil, nil, err
		}
		defer b.Abort()
	}
	descs := make([]ocispec.Descriptor, len(todo))
	paths := make([]string, len(todo))
	errs := make([]error, len(todo))
	sem := make(chan struct{}, c.jobs)
	var wg sync.WaitGroup
	for k, i := range todo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			diffID := img.Layers[i].DiffID
			c.report(Event{ID: diffID.Encoded()[:12], Layer: true, Status: "Compressing (" + form.String() + ")"})
			var err error
			if b != nil {
				descs[k], err = compressInto(b, diffID, s.TarPath(diffID), form)
			} else {
				descs[k], paths[k], err = compressFile(s.TarPath(diffID), tmp, form)
			}
			if err != nil {
				errs[k] = fmt.Errorf("compress layer %s: %w", diffID, err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	if b != nil {
		if err := b.Commit(); err != nil {
			return nil, nil, fmt.Errorf("keep compressed layers: %w", err)
		}
		for k := range descs {
			paths[k] = s.BlobPath(descs[k].Digest)
		}
	}
	return descs, paths, nil
}

// compressInto streams a layer tar through the compressor into the batch,
// which hashes the blob, checks it inflates to the same tar and keeps it as
// another compressed form of the layer.
func compressInto(b *layerstore.Batch, diffID digest.Digest, tarPath string, form layerstore.Compression) (ocispec.Descriptor, error) {
	in, err := os.Open(tarPath)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	defer in.Close()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(compress(pw, in, form)) }()
	ref, err := b.AddLayer(pr, "", form.MediaType())
	pr.CloseWithError(err)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if ref.DiffID != diffID {
		return ocispec.Descriptor{}, fmt.Errorf("%w: the compressed tar inflates to %s", layerstore.ErrDigestMismatch, ref.DiffID)
	}
	return ocispec.Descriptor{MediaType: ref.Blob.MediaType, Digest: ref.Blob.Digest, Size: ref.Blob.Size}, nil
}

// compressFile compresses a layer tar into a file under dir.
func compressFile(tarPath, dir string, form layerstore.Compression) (ocispec.Descriptor, string, error) {
	in, err := os.Open(tarPath)
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	defer in.Close()
	out, err := os.CreateTemp(dir, "layer-*")
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	defer out.Close()
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(out, h)}
	if err := compress(cw, in, form); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	if err := out.Close(); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	return ocispec.Descriptor{MediaType: form.MediaType(), Digest: digest.NewDigest(digest.SHA256, h), Size: cw.n}, out.Name(), nil
}

// compress writes r to w in form, on several cores: pgzip compresses
// 1 MiB blocks in parallel, zstd's encoder as many blocks as there are
// CPUs. Both give the same bytes for the same input on every run.
func compress(w io.Writer, r io.Reader, form layerstore.Compression) error {
	var zw io.WriteCloser
	switch form {
	case layerstore.Gzip:
		gw := pgzip.NewWriter(w)
		if err := gw.SetConcurrency(1<<20, runtime.GOMAXPROCS(0)); err != nil {
			return err
		}
		zw = gw
	case layerstore.Zstd:
		enc, err := zstd.NewWriter(w, zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)))
		if err != nil {
			return err
		}
		zw = enc
	default:
		return fmt.Errorf("%w: compression %s", ErrUnsupported, form)
	}
	if _, err := io.Copy(zw, r); err != nil {
		zw.Close()
		return err
	}
	return zw.Close()
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

// upload sends one blob unless the repository has it (HEAD first), or
// mounts it from one of the repositories from.
func (c *Client) upload(ctx context.Context, pusher *remote.Pusher, rt http.RoundTripper, repo name.Repository, d ocispec.Descriptor, path string, layer bool, from []string) error {
	short := d.Digest.Encoded()[:12]
	exists, err := blobExists(ctx, rt, repo, d.Digest)
	if err != nil {
		return fmt.Errorf("blob %s: %w", d.Digest, err)
	}
	if exists {
		if layer {
			c.report(Event{ID: short, Layer: true, Done: true, Status: "Layer already exists"})
		}
		return nil
	}
	for _, f := range from {
		if mountBlob(ctx, rt, repo, d.Digest, f) {
			c.report(Event{ID: short, Layer: true, Done: true, Status: "Mounted from " + f})
			return nil
		}
	}
	fb := &fileBlob{path: path, desc: d}
	if layer {
		fb.progress = c.progress(short, "Pushing", d.Size)
	}
	l, err := partial.CompressedToLayer(fb)
	if err != nil {
		return err
	}
	if err := pusher.Upload(ctx, repo, l); err != nil {
		return fmt.Errorf("blob %s: %w", d.Digest, classify(err))
	}
	if layer {
		c.report(Event{ID: short, Layer: true, Done: true, Status: "Pushed"})
	}
	return nil
}

// mountBlob asks the registry to link blob d from repository from into
// repo (the distribution spec's cross-repository mount) and says whether
// it did. A registry that cannot answers 202 with an upload session
// instead; that session is cancelled, and the blob is uploaded as usual.
func mountBlob(ctx context.Context, rt http.RoundTripper, repo name.Repository, d digest.Digest, from string) bool {
	u := url.URL{
		Scheme:   repo.Registry.Scheme(),
		Host:     repo.RegistryStr(),
		Path:     "/v2/" + repo.RepositoryStr() + "/blobs/uploads/",
		RawQuery: url.Values{"mount": {string(d)}, "from": {from}}.Encode(),
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), nil)
	if err != nil {
		return false
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode == http.StatusCreated {
		return true
	}
	if loc, err := resp.Location(); err == nil && resp.StatusCode == http.StatusAccepted {
		if req, err := http.NewRequestWithContext(ctx, http.MethodDelete, loc.String(), nil); err == nil {
			if resp, err := rt.RoundTrip(req); err == nil {
				resp.Body.Close()
			}
		}
	}
	return false
}

// knownRepositories says, for each blob of a layer of an image the store
// has a repo digest for on ref's registry, which other repositories of that
// registry hold it: a pull or a push there recorded the repo digest.
// Compressed forms of those layers count too, since a push may have sent
// one of them; a wrong guess only costs a mount request.
func (c *Client) knownRepositories(s *layerstore.Store, ref reference.Ref) map[digest.Digest][]string {
	out := map[digest.Digest][]string{}
	imgs, err := s.Images()
	if err != nil {
		return out
	}
	add := func(d digest.Digest, repo string) {
		if len(out[d]) < 3 && !slices.Contains(out[d], repo) {
			out[d] = append(out[d], repo)
		}
	}
	for _, im := range imgs {
		for _, rd := range im.RepoDigests {
			n, _, _ := strings.Cut(rd, "@")
			host, repo, ok := strings.Cut(n, "/")
			if !ok || host != ref.Registry || repo == ref.Repository {
				continue
			}
			for _, l := range im.Layers {
				add(l.Blob.Digest, repo)
				if info, err := s.LayerInfo(l.DiffID); err == nil {
					for _, b := range info.Blobs {
						add(b.Digest, repo)
					}
				}
			}
		}
	}
	return out
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
	path     string
	desc     ocispec.Descriptor
	progress func(done int64) // as it is read, if set
}

var _ = (partial.CompressedLayer)((*fileBlob)(nil))

func (f *fileBlob) Digest() (v1.Hash, error) { return v1.NewHash(string(f.desc.Digest)) }
func (f *fileBlob) Size() (int64, error)     { return f.desc.Size, nil }
func (f *fileBlob) MediaType() (types.MediaType, error) {
	return types.MediaType(f.desc.MediaType), nil
}
func (f *fileBlob) Compressed() (io.ReadCloser, error) {
	file, err := os.Open(f.path)
	if err != nil || f.progress == nil {
		return file, err
	}
	return &progressReader{f: file, progress: f.progress}, nil
}

// progressReader reports how far a blob being uploaded has been read.
type progressReader struct {
	f        *os.File
	n        int64
	progress func(int64)
}

func (r *progressReader) Close() error { return r.f.Close() }

func (r *progressReader) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	r.n += int64(n)
	if n > 0 {
		r.progress(r.n)
	}
	return n, err
}

// rawManifest is manifest bytes as ggcr's remote.Taggable, sent unchanged.
type rawManifest struct {
	data []byte
	mt   types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.data, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mt, nil }

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
