package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/lfs-dev/lfs/imagearchive"
	"github.com/lfs-dev/lfs/layerstore"
	"github.com/lfs-dev/lfs/reference"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// PullOptions are what `lfs pull` takes besides the name.
type PullOptions struct {
	// Platform is "OS/ARCH[/VARIANT]" to choose from an index; "" is the host's.
	Platform string
	// AllTags pulls every tag of the repository.
	AllTags bool
}

// Pulled is one image a pull stored or found.
type Pulled struct {
	Ref      reference.Ref // as pulled: by tag, or by digest
	ID       digest.Digest
	Digest   digest.Digest // the repo digest: the manifest's, or the index's
	UpToDate bool          // the reference already named this image
}

// Pull fetches name (a reference; with AllTags a repository) into s. A
// reference by digest that the store already holds is answered without the
// network.
func (c *Client) Pull(ctx context.Context, s *layerstore.Store, nameStr string, o PullOptions) ([]Pulled, error) {
	plat := hostPlatform()
	if o.Platform != "" {
		p, err := v1.ParsePlatform(o.Platform)
		if err != nil || p.OS == "" || p.Architecture == "" {
			return nil, fmt.Errorf("invalid platform %q: want OS/ARCH[/VARIANT]", o.Platform)
		}
		plat = *p
	}
	if o.AllTags {
		ref, err := reference.ParseRepository(nameStr)
		if err != nil {
			return nil, fmt.Errorf("%w (a repository name without tag or digest, with --all-tags)", err)
		}
		repo, err := c.repository(ref)
		if err != nil {
			return nil, err
		}
		tags, err := remote.List(repo, c.remoteOpts(ctx, ref.Registry)...)
		if err != nil {
			return nil, fmt.Errorf("list tags of %s: %w", ref.FamiliarName(), classify(err))
		}
		var out []Pulled
		for _, t := range tags {
			p, err := c.pullOne(ctx, s, ref.WithTag(t), plat, o.Platform != "")
			if err != nil {
				return out, err
			}
			out = append(out, p)
		}
		return out, nil
	}
	ref, err := reference.Parse(nameStr)
	if err != nil {
		return nil, err
	}
	p, err := c.pullOne(ctx, s, ref, plat, o.Platform != "")
	if err != nil {
		return nil, err
	}
	return []Pulled{p}, nil
}

func (c *Client) pullOne(ctx context.Context, s *layerstore.Store, ref reference.Ref, plat v1.Platform, strict bool) (Pulled, error) {
	if ref.Digest != "" {
		// A digest names one image for ever: if it is here, it is it.
		if img, err := s.Resolve(ref.Name() + "@" + ref.Digest); err == nil {
			c.report(Event{Status: "Digest: " + ref.Digest})
			return Pulled{Ref: ref, ID: img.ID, Digest: digest.Digest(ref.Digest), UpToDate: true}, nil
		}
	}
	if ref.Registry == reference.DockerHub {
		// Mirrors first; any failure there moves on to the next source.
		for _, m := range c.mirrors {
			src, err := name.NewRepository(m+"/"+ref.Repository, c.nameOpts(m)...)
			if err != nil {
				continue
			}
			p, err := c.fetch(ctx, s, ref, src, plat, strict)
			if err == nil {
				return p, nil
			}
			if ctx.Err() != nil {
				return p, fmt.Errorf("pull %s: %w", ref.Familiar(), err)
			}
		}
	}
	repo, err := c.repository(ref)
	if err != nil {
		return Pulled{}, err
	}
	p, err := c.fetch(ctx, s, ref, repo, plat, strict)
	if err != nil {
		return p, fmt.Errorf("pull %s: %w", ref.Familiar(), err)
	}
	return p, nil
}

// Media types of manifests and indexes lfs can store.
var (
	manifestTypes = []types.MediaType{types.DockerManifestSchema2, types.OCIManifestSchema1}
	indexTypes    = []types.MediaType{types.DockerManifestList, types.OCIImageIndex}
)

// fetch pulls ref from repo: ref's own repository, or a mirror's. The
// store records it under ref's name either way.
func (c *Client) fetch(ctx context.Context, s *layerstore.Store, ref reference.Ref, repo name.Repository, plat v1.Platform, strict bool) (Pulled, error) {
	rt, err := c.session(ctx, repo)
	if err != nil {
		return Pulled{}, err
	}
	opts := c.sessionOpts(ctx, rt, remote.WithPlatform(plat))
	var desc *remote.Descriptor
	if ref.Digest != "" {
		desc, err = remote.Get(repo.Digest(ref.Digest), opts...)
	} else {
		desc, err = remote.Get(repo.Tag(ref.Tag), opts...)
	}
	if err != nil {
		return Pulled{}, classify(err)
	}
	id := ref.Tag
	if ref.Digest != "" {
		id = ref.Digest
	}
	c.report(Event{ID: id, Status: "Pulling from " + ref.Repository})

	repoDigest := digest.Digest(desc.Digest.String())
	if err := repoDigest.Validate(); err != nil {
		return Pulled{}, fmt.Errorf("manifest digest %q: %w", desc.Digest, ErrUnsupported)
	}
	if ref.Digest != "" && string(repoDigest) != ref.Digest {
		return Pulled{}, fmt.Errorf("manifest is %s: %w", repoDigest, layerstore.ErrDigestMismatch)
	}
	mdesc := desc
	if isIndex(desc.MediaType, desc.Manifest) {
		idx, err := v1.ParseIndexManifest(strings.NewReader(string(desc.Manifest)))
		if err != nil {
			return Pulled{}, fmt.Errorf("index %s: %w: %v", repoDigest, ErrUnsupported, err)
		}
		child, err := pickPlatform(idx.Manifests, plat)
		if err != nil {
			return Pulled{}, err
		}
		mdesc, err = remote.Get(repo.Digest(child.Digest.String()), opts...)
		if err != nil {
			return Pulled{}, classify(err)
		}
		if isIndex(mdesc.MediaType, mdesc.Manifest) {
			return Pulled{}, fmt.Errorf("index %s: %w: nested index", repoDigest, ErrUnsupported)
		}
	}
	mt := mdesc.MediaType
	if mt == "" {
		var probe struct{ MediaType types.MediaType }
		json.Unmarshal(mdesc.Manifest, &probe)
		mt = probe.MediaType
	}
	if !slices.Contains(manifestTypes, mt) {
		return Pulled{}, fmt.Errorf("manifest %s: %w media type %q", mdesc.Digest, ErrUnsupported, mt)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(mdesc.Manifest, &m); err != nil {
		return Pulled{}, fmt.Errorf("manifest %s: %w: %v", mdesc.Digest, ErrUnsupported, err)
	}
	if err := m.Config.Digest.Validate(); err != nil {
		return Pulled{}, fmt.Errorf("manifest %s: %w: config digest: %v", mdesc.Digest, ErrUnsupported, err)
	}

	// An image the store has already needs its config from nowhere else.
	img, err := s.Image(m.Config.Digest)
	have := err == nil
	if err != nil && !errors.Is(err, layerstore.ErrNotFound) {
		return Pulled{}, err
	}
	var cfg []byte
	if have {
		cfg, err = s.Config(img.ID)
	} else {
		cfg, err = c.config(ctx, rt, repo, m.Config)
	}
	if err != nil {
		return Pulled{}, fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	var cf struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
		RootFS       struct {
			DiffIDs []digest.Digest `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(cfg, &cf); err != nil {
		return Pulled{}, fmt.Errorf("config %s: %w: %v", m.Config.Digest, ErrUnsupported, err)
	}
	if strict && (cf.OS != plat.OS || cf.Architecture != plat.Architecture) {
		return Pulled{}, fmt.Errorf("%w: the image is %s/%s, not the requested %s/%s", ErrNotFound, cf.OS, cf.Architecture, plat.OS, plat.Architecture)
	}
	if len(cf.RootFS.DiffIDs) != len(m.Layers) {
		return Pulled{}, fmt.Errorf("config %s: %w: it lists %d layers, the manifest %d", m.Config.Digest, layerstore.ErrDigestMismatch, len(cf.RootFS.DiffIDs), len(m.Layers))
	}

	p := Pulled{Ref: ref, ID: m.Config.Digest, Digest: repoDigest}
	rd := ref.Name() + "@" + string(repoDigest)
	if have && slices.Contains(img.RepoDigests, rd) {
		// Every layer is here; if the tag names it too, nothing changes.
		tagged, err := s.Resolve(ref.String())
		if ref.Digest != "" || err == nil && tagged.ID == img.ID {
			c.report(Event{Status: "Digest: " + string(repoDigest)})
			p.UpToDate = true
			return p, nil
		}
	}

	b, err := s.NewBatch()
	if err != nil {
		return Pulled{}, err
	}
	defer b.Abort()
	if !have {
		layers, err := c.layers(ctx, s, b, rt, repo, m.Layers, cf.RootFS.DiffIDs)
		if err != nil {
			return Pulled{}, err
		}
		md, err := b.AddBlob(mdesc.Manifest, string(mt), digest.Digest(mdesc.Digest.String()))
		if err != nil {
			return Pulled{}, fmt.Errorf("manifest: %w", err)
		}
		if img, err = imagearchive.AddImage(b, cfg, m.Config.Digest, layers, &md); err != nil {
			return Pulled{}, err
		}
	}
	img.RepoDigests = []string{rd}
	b.SetImage(img)
	if ref.Digest == "" {
		b.Tag(ref.String(), img.ID)
	}
	c.report(Event{Status: "Digest: " + string(repoDigest)})
	if err := b.Commit(); err != nil {
		return Pulled{}, err
	}
	return p, nil
}

// config fetches an image config and checks its digest.
func (c *Client) config(ctx context.Context, rt http.RoundTripper, repo name.Repository, d ocispec.Descriptor) ([]byte, error) {
	if d.Size < 0 || d.Size > 64<<20 {
		return nil, fmt.Errorf("%w: a config of %d bytes", ErrUnsupported, d.Size)
	}
	r := c.newBlobReader(ctx, rt, repo, d.Digest, d.Size, nil)
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if got := digest.FromBytes(data); got != d.Digest {
		return nil, fmt.Errorf("%w (content is %s)", layerstore.ErrDigestMismatch, got)
	}
	return data, nil
}

// layers brings every layer of an image into the batch, several at once,
// and returns them in order. A layer the store holds (by diff ID, with the
// compressed form the manifest names if the store keeps those) is not
// fetched; nor is one an earlier, interrupted pull completed (the store's
// resume area). Each layer completed here goes to the resume area too, so
// that if this pull fails or is killed the next one starts from it.
func (c *Client) layers(ctx context.Context, s *layerstore.Store, b *layerstore.Batch, rt http.RoundTripper, repo name.Repository, descs []ocispec.Descriptor, diffIDs []digest.Digest) ([]layerstore.LayerRef, error) {
	out := make([]layerstore.LayerRef, len(descs))
	errs := make([]error, len(descs))
	first := map[digest.Digest]int{} // a blob listed twice is fetched once
	sem := make(chan struct{}, c.jobs)
	var wg sync.WaitGroup
	var todo []int
	for i, d := range descs {
		if err := d.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("layer %d: %w: %v", i, ErrUnsupported, err)
		}
		if !isLayerType(d.MediaType) {
			return nil, fmt.Errorf("layer %s: %w media type %q", d.Digest, ErrUnsupported, d.MediaType)
		}
		short := d.Digest.Encoded()[:12]
		blob := layerstore.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
		if info, err := s.LayerInfo(diffIDs[i]); err == nil && (d.Digest == diffIDs[i] || !s.KeepsCompressed() || hasBlob(info.Blobs, d.Digest)) {
			out[i] = layerstore.LayerRef{DiffID: diffIDs[i], Size: info.Size, Blob: blob}
			c.report(Event{ID: short, Layer: true, Done: true, Status: "Already exists"})
			continue
		}
		if _, dup := first[d.Digest]; dup {
			continue
		}
		first[d.Digest] = i
		todo = append(todo, i)
		c.report(Event{ID: short, Layer: true, Status: "Pulling fs layer"})
	}
	for _, i := range todo {
		d := descs[i]
		short := d.Digest.Encoded()[:12]
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			ref, resumed := b.Resume(d.Digest)
			if !resumed {
				var err error
				// A layer that fails leaves the others to finish: kept,
				// they need not come again on the next try.
				if ref, err = c.layer(ctx, b, rt, repo, d); err != nil {
					errs[i] = fmt.Errorf("layer %s: %w", d.Digest, err)
					return
				}
				if err := b.Keep(ref); err != nil {
					slog.Debug("keep layer for resuming", "layer", d.Digest, "err", err)
				}
			}
			if ref.DiffID != diffIDs[i] {
				errs[i] = fmt.Errorf("layer %s: %w: it is %s, the config says %s", d.Digest, layerstore.ErrDigestMismatch, ref.DiffID, diffIDs[i])
				return
			}
			ref.Blob.MediaType = d.MediaType
			out[i] = ref
			c.report(Event{ID: short, Layer: true, Done: true, Status: "Pull complete"})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return nil, err
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for i, d := range descs {
		if j, ok := first[d.Digest]; ok && j != i {
			out[i] = out[j]
		}
	}
	return out, nil
}

// layer streams one blob from the registry into the batch, reporting its
// progress.
func (c *Client) layer(ctx context.Context, b *layerstore.Batch, rt http.RoundTripper, repo name.Repository, d ocispec.Descriptor) (layerstore.LayerRef, error) {
	r := c.newBlobReader(ctx, rt, repo, d.Digest, d.Size, c.progress(d.Digest.Encoded()[:12], "Downloading", d.Size))
	defer r.Close()
	ref, err := b.AddLayer(r, d.Digest, d.MediaType)
	if r.err != nil {
		// The network, not the content: say so rather than "corrupt".
		return ref, classify(r.err)
	}
	return ref, err
}

func hasBlob(ds []layerstore.Descriptor, d digest.Digest) bool {
	for _, x := range ds {
		if x.Digest == d {
			return true
		}
	}
	return false
}

func isIndex(mt types.MediaType, data []byte) bool {
	if slices.Contains(indexTypes, mt) {
		return true
	}
	if mt != "" {
		return false
	}
	var probe struct {
		Manifests []json.RawMessage `json:"manifests"`
	}
	return json.Unmarshal(data, &probe) == nil && probe.Manifests != nil
}

func isLayerType(mt string) bool {
	switch types.MediaType(mt) {
	case types.DockerLayer, types.DockerUncompressedLayer, types.OCILayer, types.OCILayerZStd, types.OCIUncompressedLayer:
		return true
	}
	return false
}

// pickPlatform chooses an index's entry for plat: OS and architecture must
// match, and the variant when both name one.
func pickPlatform(ms []v1.Descriptor, plat v1.Platform) (v1.Descriptor, error) {
	for _, m := range ms {
		p := m.Platform
		if p == nil || p.OS != plat.OS || p.Architecture != plat.Architecture {
			continue
		}
		if plat.Variant != "" && p.Variant != "" && p.Variant != plat.Variant {
			continue
		}
		return m, nil
	}
	want := plat.OS + "/" + plat.Architecture
	if plat.Variant != "" {
		want += "/" + plat.Variant
	}
	return v1.Descriptor{}, fmt.Errorf("%w: no matching manifest for %s in the manifest list entries", ErrNotFound, want)
}
