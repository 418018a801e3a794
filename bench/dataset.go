package bench

import (
	"bufio"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/lfs-dev/lfs/imagearchive"
	"github.com/lfs-dev/lfs/layerstore"
	"github.com/lfs-dev/lfs/reference"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// A dataset is a spec's layers in every form the filesystems read, made
// once under DIR/data/KEY and reused:
//
//	layer0.tar ... layer3.tar  the OCI layer tars (layer 0: the base)
//	store/                     a layer store holding them as image lfs-bench:SIZE
//	overlay/0 ... overlay/3    the layers as overlayfs lower directories
//	unionfs.META/0 ... 3       the layers as unionfs-fuse branches, made when
//	                           first mounted (META: its metadata directory)
//	native/                    the merged tree
//	untar.tar                  what the untar workload unpacks
//	dataset.json               written last: what the dataset holds
//
// KEY names the spec, the generator version, the base layer's busybox and
// whether root made it (owners and trusted.* xattrs need root).
type dataset struct {
	dir   string
	Info  DatasetInfo
	model *model
	want  map[string]node
}

// DatasetInfo is what dataset.json and the report say about a dataset.
type DatasetInfo struct {
	Generator int         `json:"generator"`
	Spec      Spec        `json:"spec"`
	Stats     Stats       `json:"stats"`
	Layers    []LayerInfo `json:"layers"`
	Busybox   string      `json:"busybox,omitempty"` // sha256 of the base layer's busybox; empty without one
	Image     string      `json:"image"`             // the image in the dataset's store
	Bytes     int64       `json:"disk_bytes"`        // what the dataset takes on disk, about
}

// LayerInfo describes one layer tar.
type LayerInfo struct {
	Digest  string `json:"digest"`
	Size    int64  `json:"size"`
	Entries int    `json:"entries"`
}

func (d *dataset) layerTar(i int) string { return filepath.Join(d.dir, fmt.Sprintf("layer%d.tar", i)) }
func (d *dataset) store() string         { return filepath.Join(d.dir, "store") }
func (d *dataset) native() string        { return filepath.Join(d.dir, "native") }
func (d *dataset) untarSource() string   { return filepath.Join(d.dir, "untar.tar") }

// lowers lists the overlayfs lower directories, top first, as lowerdir
// wants them.
func (d *dataset) lowers() []string { return layerDirs(filepath.Join(d.dir, "overlay")) }

func layerDirs(dir string) []string {
	var out []string
	for i := 3; i >= 0; i-- {
		out = append(out, filepath.Join(dir, fmt.Sprint(i)))
	}
	return out
}

// branches lists unionfs-fuse branches for metadata directory meta, top
// first, making them the first time.
func (d *dataset) branches(ctx context.Context, meta string, asRoot bool) ([]string, error) {
	dir := filepath.Join(d.dir, "unionfs"+meta)
	if _, err := os.Stat(dir); err == nil {
		return layerDirs(dir), nil
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	for i, dest := range layerDirs(tmp) {
		if err := os.MkdirAll(dest, 0o755); err != nil {
			return nil, err
		}
		if err := extractFile(ctx, d.layerTar(3-i), extractor{dest: dest, dialect: dialectUnionfs, asRoot: asRoot, metaDir: meta}); err != nil {
			os.RemoveAll(tmp)
			return nil, fmt.Errorf("unionfs-fuse branches: layer %d: %w", 3-i, err)
		}
	}
	if err := syncDir(tmp); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, err
	}
	return layerDirs(dir), nil
}

// findBusybox returns a statically linked busybox of the host, or why
// there is none.
func findBusybox() (string, string) {
	p, err := exec.LookPath("busybox")
	if err != nil {
		return "", "no busybox (install busybox-static)"
	}
	if p, err = filepath.EvalSymlinks(p); err != nil {
		return "", err.Error()
	}
	f, err := elf.Open(p)
	if err != nil {
		return "", fmt.Sprintf("%s: %v", p, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return "", p + " is dynamically linked (install busybox-static)"
		}
	}
	return p, ""
}

// baseLayer is layer 0: what a container start needs (a static busybox as
// /bin/sh and /bin/true, /etc, mount points). Without busybox it holds the
// rest, and the container workloads skip.
func baseLayer(busybox string) ([]entry, string, error) {
	es := []entry{
		{path: "bin", kind: kDir, mode: 0o755},
		{path: "dev", kind: kDir, mode: 0o755},
		{path: "proc", kind: kDir, mode: 0o555},
		{path: "sys", kind: kDir, mode: 0o555},
		{path: "root", kind: kDir, mode: 0o700},
		{path: scratchDir, kind: kDir, mode: 0o1777},
		{path: "etc", kind: kDir, mode: 0o755},
	}
	etc := map[string]string{
		"passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"group":  "root:x:0:\nnogroup:x:65534:\n",
		"hosts":  "127.0.0.1\tlocalhost\n", "hostname": "bench\n", "resolv.conf": "",
	}
	for name, s := range etc {
		es = append(es, entry{path: "etc/" + name, kind: kFile, mode: 0o644, size: int64(len(s)), data: s})
	}
	sum := ""
	if busybox != "" {
		f, err := os.Open(busybox)
		if err != nil {
			return nil, "", err
		}
		h := sha256.New()
		n, err := io.Copy(h, f)
		f.Close()
		if err != nil {
			return nil, "", fmt.Errorf("read %s: %w", busybox, err)
		}
		sum = hex.EncodeToString(h.Sum(nil))
		es = append(es,
			entry{path: "bin/busybox", kind: kFile, mode: 0o755, size: n, hostFile: busybox},
			entry{path: "bin/sh", kind: kSymlink, link: "busybox", mode: 0o777},
			entry{path: "bin/true", kind: kSymlink, link: "busybox", mode: 0o777})
	}
	return withParents(es), sum, nil
}

// datasetKey names a dataset in the cache.
func datasetKey(spec Spec, busybox string, asRoot bool) string {
	bb := "nobb"
	if busybox != "" {
		bb = "bb" + busybox[:12]
	}
	who := "root"
	if !asRoot {
		who = fmt.Sprintf("uid%d", os.Getuid())
	}
	return spec.key() + "-" + bb + "-" + who
}

// prepare returns spec's dataset under dir/data, making it first if the
// cache lacks it. The caller holds dir's lock.
func prepare(ctx context.Context, dir string, spec Spec, asRoot bool, p *progress) (*dataset, error) {
	bbPath, _ := findBusybox()
	base, bbSum, err := baseLayer(bbPath)
	if err != nil {
		return nil, err
	}
	m := generate(spec, base)
	d := &dataset{dir: filepath.Join(dir, "data", datasetKey(spec, bbSum, asRoot)), model: m, want: m.merge()}
	if b, err := os.ReadFile(filepath.Join(d.dir, "dataset.json")); err == nil {
		if err := json.Unmarshal(b, &d.Info); err == nil && d.Info.Generator == GeneratorVersion && d.Info.Spec == spec {
			return d, nil
		}
	}
	// Anything else there is a dataset half made by a run that died.
	if err := os.RemoveAll(d.dir); err != nil {
		return nil, fmt.Errorf("bench: remove %s: %w", d.dir, err)
	}
	if err := checkSpace(dir, spec); err != nil {
		return nil, err
	}
	tmp := d.dir + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	made := &dataset{dir: tmp, model: m, want: d.want}
	if err := made.write(ctx, asRoot, bbSum, p); err != nil {
		os.RemoveAll(tmp)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("bench: make dataset: %w", err)
	}
	if err := os.Rename(tmp, d.dir); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("bench: %w", err)
	}
	d.Info = made.Info
	return d, nil
}

// checkSpace refuses to start a dataset the filesystem cannot hold: five
// copies of the tree and the big file (tars, store, two dialects, merged)
// and the untar source.
func checkSpace(dir string, spec Spec) error {
	need := 5*(int64(spec.Files)*spec.MaxFileSize/9+spec.BigFile) + 2*spec.UntarBytes
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fmt.Errorf("bench: statfs %s: %w", dir, err)
	}
	if free := int64(st.Bavail) * st.Bsize; free < need {
		return fmt.Errorf("bench: the %s dataset needs about %s free under %s, %s are: %w", spec.Name, humanBytes(need), dir, humanBytes(free), ErrUsage)
	}
	return nil
}

// write makes every form of the dataset under d.dir.
func (d *dataset) write(ctx context.Context, asRoot bool, bbSum string, p *progress) error {
	m := d.model
	info := DatasetInfo{Generator: GeneratorVersion, Spec: m.spec, Stats: m.stats(), Busybox: bbSum,
		Image: "lfs-bench:" + strings.ToLower(m.spec.Name)}
	for i, es := range m.layers {
		p.phase(fmt.Sprintf("generating the %s dataset: layer %d of %d", m.spec.Name, i+1, len(m.layers)))
		dg, n, err := writeFile(ctx, d.layerTar(i), func(w io.Writer) error { return writeLayer(w, m.spec.Seed, es) })
		if err != nil {
			return err
		}
		info.Layers = append(info.Layers, LayerInfo{Digest: dg.String(), Size: n, Entries: len(es)})
	}
	p.phase("generating the untar source")
	if _, _, err := writeFile(ctx, d.untarSource(), func(w io.Writer) error { return writeUntarSource(w, m.spec) }); err != nil {
		return err
	}
	for _, x := range []struct {
		what string
		dl   dialect
	}{{"overlayfs lower directories", dialectOverlay}, {"the merged tree", dialectMerged}} {
		p.phase("unpacking " + x.what)
		for i := range m.layers {
			dest := d.native()
			if x.dl != dialectMerged {
				dest = d.lowers()[3-i]
			}
			if err := os.MkdirAll(dest, 0o755); err != nil {
				return err
			}
			if err := extractFile(ctx, d.layerTar(i), extractor{dest: dest, dialect: x.dl, asRoot: asRoot}); err != nil {
				return fmt.Errorf("layer %d: %w", i, err)
			}
		}
	}
	p.phase("importing the layers into the dataset's lfs store")
	if err := d.importStore(ctx, info.Image); err != nil {
		return err
	}
	p.phase("syncing the dataset")
	if err := syncDir(d.dir); err != nil {
		return err
	}
	info.Bytes = diskUsage(d.dir)
	d.Info = info
	_, _, err := writeFile(ctx, filepath.Join(d.dir, "dataset.json"), func(w io.Writer) error {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(info)
	})
	return err
}

func extractFile(ctx context.Context, tarPath string, x extractor) error {
	f, err := os.Open(tarPath)
	if err != nil {
		return err
	}
	defer f.Close()
	return x.extract(bufio.NewReaderSize(ctxReader{ctx, f}, miB))
}

// ctxReader fails its reads once ctx is done, so that making a dataset
// stops on Ctrl-C.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// writeFile writes p through fn under a temporary name, fsyncs it and
// renames it into place; it returns the content's digest and size.
func writeFile(ctx context.Context, p string, fn func(io.Writer) error) (digest.Digest, int64, error) {
	f, err := os.Create(p + ".new")
	if err != nil {
		return "", 0, err
	}
	defer os.Remove(p + ".new")
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(f, h), miB)
	cw := &countWriter{ctx: ctx, w: bw}
	err = fn(cw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(p+".new", p)
	}
	if err != nil {
		return "", 0, fmt.Errorf("write %s: %w", p, err)
	}
	return digest.NewDigest(digest.SHA256, h), cw.n, nil
}

// countWriter counts what it writes, and fails once ctx is done.
type countWriter struct {
	ctx context.Context
	w   io.Writer
	n   int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// importStore puts the layer tars into the dataset's own lfs store as one
// image, as lfs load would, through the layer store's batch.
func (d *dataset) importStore(ctx context.Context, image string) error {
	s, err := layerstore.Open(d.store())
	if err != nil {
		return err
	}
	b, err := s.NewBatch()
	if err != nil {
		return err
	}
	defer b.Abort()
	var refs []layerstore.LayerRef
	var diffIDs []v1.Hash
	for i := range d.model.layers {
		f, err := os.Open(d.layerTar(i))
		if err != nil {
			return err
		}
		ref, err := b.AddLayer(ctxReader{ctx, f}, "", "")
		f.Close()
		if err != nil {
			return fmt.Errorf("import layer %d: %w", i, err)
		}
		refs = append(refs, ref)
		diffIDs = append(diffIDs, v1.Hash{Algorithm: "sha256", Hex: ref.DiffID.Encoded()})
	}
	created := v1.Time{Time: fixedTime}
	cfg, err := json.Marshal(v1.ConfigFile{Architecture: runtime.GOARCH, OS: "linux", Created: created,
		Config: v1.Config{Cmd: []string{"/bin/sh"}, Env: []string{"PATH=/bin"}},
		RootFS: v1.RootFS{Type: "layers", DiffIDs: diffIDs},
		History: []v1.History{{Created: created, Comment: fmt.Sprintf("lfs bench dataset %s, seed %d, generator %d",
			d.model.spec.Name, d.model.spec.Seed, GeneratorVersion)}}})
	if err != nil {
		return err
	}
	img, err := imagearchive.AddImage(b, cfg, "", refs, nil)
	if err != nil {
		return err
	}
	ref, err := reference.Parse(image)
	if err != nil {
		return err
	}
	b.Tag(ref.String(), img.ID)
	return b.Commit()
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	return nil
}

// diskUsage is the bytes dir's files take (hard links once).
func diskUsage(dir string) int64 {
	var n int64
	seen := map[uint64]bool{}
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && !seen[st.Ino] {
			seen[st.Ino] = true
			n += st.Blocks * 512
		}
		return nil
	})
	return n
}

// resetNative undoes what an interrupted run's writing workloads may have
// left in the merged tree (it is written in place): the scratch directory's
// content and the big file's appended byte.
func (d *dataset) resetNative() error {
	scratch := filepath.Join(d.native(), scratchDir)
	ents, err := os.ReadDir(scratch)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(scratch, e.Name())); err != nil {
			return err
		}
	}
	return os.Truncate(filepath.Join(d.native(), bigFilePath), d.model.spec.BigFile)
}

// ErrDataset is what a dataset that is not as the generator made it fails
// with.
var ErrDataset = errors.New("dataset not as generated")
