package bench

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"path"
	"slices"
	"sort"
	"strings"
	"time"
)

// What the generator makes, as entries of OCI layer tars. Layer 0 is the
// base a container needs (a static busybox from the host, /etc, mount
// points); layers 1 to 3 come from the seed alone:
//
//	tree/...        the rootfs-like tree: directories up to 8 deep, files
//	                of log-uniform sizes, symlinks (relative, absolute,
//	                dangling), hard links, user.* xattrs, modes and owners;
//	                layer 2 and 3 add files and directories and replace
//	                some lower files, layer 3 deletes files and
//	                directories (whiteouts) and makes directories opaque
//	big/file.bin    the big file (layer 1)
//	many/           the big directory of empty files (60% layer 1, 30%
//	                layer 2, 10% layer 3)
type kind uint8

const (
	kDir kind = iota
	kFile
	kSymlink
	kHardlink
	kWhiteout // path names the deleted entry
	kOpaque   // path names the opaque directory
)

// entry is one tar entry of a layer.
type entry struct {
	path     string // relative, slash-separated
	kind     kind
	mode     int64 // permission bits
	uid, gid int
	size     int64
	seed     uint64 // file content; see content
	link     string // symlink target, or hard link's target path
	xattrs   [][2]string
	needle   bool   // content carries the grep needle
	hostFile string // content is this host file (the base layer's busybox)
	data     string // content is this (the base layer's /etc)
}

// needle is the string the grep workload looks for; the generator plants
// it in a few files, and random bytes never hold it by chance.
const needle = "lfs-bench-needle-7f3a91c2"

// fixedTime is every entry's mtime, so that tars depend on the seed alone.
var fixedTime = time.Unix(1700000000, 0).UTC()

// Paths of the special entries, relative to the root of the image.
const (
	treeDir     = "tree"
	bigFilePath = "big/file.bin"
	bigDirPath  = "many"
	scratchDir  = "tmp" // where writing workloads make their files
)

// model is a generated dataset before it is written.
type model struct {
	spec   Spec
	layers [4][]entry
	// open lists the lower files open-write opens, sorted.
	open []string
	// tree is the merged tree, once the layers are final.
	tree map[string]node
}

// Stats counts what a dataset holds, in its layers and in the merged tree.
type Stats struct {
	Files      int   `json:"files"`       // regular files in the merged tree/, hard links included
	Dirs       int   `json:"dirs"`        // directories in the merged tree/, tree/ included
	Symlinks   int   `json:"symlinks"`    // in the merged tree/
	Hardlinks  int   `json:"hardlinks"`   // names that are hard links to another name
	Xattrs     int   `json:"xattrs"`      // files with xattrs in the merged tree/
	Bytes      int64 `json:"bytes"`       // of the merged tree/'s regular files
	Whiteouts  int   `json:"whiteouts"`   // in all layers
	Opaque     int   `json:"opaque"`      // opaque directories in all layers
	Overrides  int   `json:"overrides"`   // files that replace a lower layer's
	Needles    int   `json:"needles"`     // files grep finds
	TarEntries []int `json:"tar_entries"` // per layer, bottom first
}

// generate builds the model of spec. base is layer 0's content (see
// baseLayer); everything else depends on spec alone.
func generate(spec Spec, base []entry) *model {
	g := &generator{spec: spec, rng: rand.New(rand.NewPCG(spec.Seed, 0x6c66732d62656e63))}
	m := &model{spec: spec}
	m.layers[0] = base
	g.tree()
	for i := 1; i <= 3; i++ {
		m.layers[i] = g.layer(i)
	}
	m.plantNeedles()
	m.tree = m.merge()
	m.open = g.openTargets()
	return m
}

type genDir struct {
	path     string
	layer    int
	depth    int
	weight   float64
	children int // subdirectories
	linked   bool
	special  bool // deleted or opaque in layer 3
}

type genFile struct {
	e       entry
	layer   int
	dir     int
	linked  bool
	deleted bool
	over    [4]bool // replaced in that layer
}

type generator struct {
	spec  Spec
	rng   *rand.Rand
	dirs  []genDir
	files []*genFile
	names map[string]bool
	extra [4][]entry // entries other than the files above: whiteouts, opaque markers, overrides, many/, big/
	seeds uint64
}

var syllables = []string{"ba", "co", "de", "fi", "gu", "ha", "ji", "ko", "lu", "ma", "ne", "po", "ra", "si", "tu", "va", "xe", "zo", "lib", "bin", "sh", "net", "core", "util"}
var exts = []string{"", "", ".so", ".so.1", ".py", ".h", ".conf", ".txt", ".gz", ".mo", ".pem", ".json"}

func (g *generator) word() string {
	n := 1 + g.rng.IntN(3)
	var b strings.Builder
	for range n {
		b.WriteString(syllables[g.rng.IntN(len(syllables))])
	}
	return b.String()
}

// unique returns p, or p with a number added, not yet taken.
func (g *generator) unique(p string) string {
	q := p
	for i := 2; g.names[q]; i++ {
		q = fmt.Sprintf("%s-%d", p, i)
	}
	g.names[q] = true
	return q
}

func (g *generator) nextSeed() uint64 {
	g.seeds++
	return g.seeds
}

// layerOf splits n things 70/20/10 over layers 1 to 3 by index.
func layerOf(i, n int, split [3]int) int {
	switch {
	case i*100 < n*split[0]:
		return 1
	case i*100 < n*(split[0]+split[1]):
		return 2
	}
	return 3
}

func (g *generator) logSize() int64 {
	if g.rng.IntN(100) < 3 {
		return 0
	}
	lo, hi := math.Log(16), math.Log(float64(g.spec.MaxFileSize))
	return int64(math.Exp(lo + g.rng.Float64()*(hi-lo)))
}

// pickDir picks a directory present in layer l, by weight.
func (g *generator) pickDir(cum []float64, l int) int {
	n := sort.Search(len(g.dirs), func(i int) bool { return g.dirs[i].layer > l })
	for {
		i := sort.SearchFloat64s(cum[:n], g.rng.Float64()*cum[n-1])
		if i >= n {
			i = n - 1
		}
		if !g.dirs[i].special || l < 3 {
			return i
		}
	}
}

// tree makes the directories and files of tree/ and decides what layer 3
// deletes and makes opaque.
func (g *generator) tree() {
	s := g.spec
	g.names = map[string]bool{treeDir: true}
	g.dirs = []genDir{{path: treeDir, layer: 1, weight: 1}}
	for i := 1; i < s.Dirs; i++ {
		var p int
		for {
			p = g.rng.IntN(len(g.dirs))
			if g.dirs[p].depth < 8 {
				break
			}
		}
		g.dirs[p].children++
		g.dirs = append(g.dirs, genDir{
			path:   g.unique(g.dirs[p].path + "/" + g.word()),
			layer:  layerOf(i, s.Dirs, [3]int{85, 10, 5}),
			depth:  g.dirs[p].depth + 1,
			weight: math.Exp(g.rng.Float64() * math.Log(100)),
		})
	}
	cum := make([]float64, len(g.dirs))
	for i, d := range g.dirs {
		cum[i] = d.weight
		if i > 0 {
			cum[i] += cum[i-1]
		}
	}

	// Layer 3 deletes leaf directories and makes others opaque; its own
	// files go elsewhere.
	var leaves []int
	for i, d := range g.dirs {
		if d.children == 0 && d.layer < 3 && i > 0 {
			leaves = append(leaves, i)
		}
	}
	g.rng.Shuffle(len(leaves), func(i, j int) { leaves[i], leaves[j] = leaves[j], leaves[i] })
	nDel, nOpq := max(1, s.Dirs/200), max(1, s.Dirs/400)
	var delDirs, opqDirs []int
	for _, i := range leaves {
		switch {
		case len(delDirs) < nDel:
			delDirs = append(delDirs, i)
		case len(opqDirs) < nOpq:
			opqDirs = append(opqDirs, i)
		default:
			continue
		}
		g.dirs[i].special = true
	}

	// Files, symlinks and hard links.
	nFiles := s.Files + s.Files/50 // whiteouts and deleted directories take some
	for i := range nFiles {
		l := layerOf(i, nFiles, [3]int{70, 20, 10})
		d := g.pickDir(cum, l)
		name := g.unique(g.dirs[d].path + "/" + g.word() + exts[g.rng.IntN(len(exts))])
		e := entry{path: name, kind: kFile, mode: 0o644, size: g.logSize(), seed: g.nextSeed()}
		switch r := g.rng.IntN(100); {
		case r < 10:
			e.mode = 0o755
		case r < 11:
			e.mode = 0o600
		}
		if g.rng.IntN(100) < 5 {
			e.uid, e.gid = 1000, 1000
		}
		if g.rng.IntN(100) < 2 {
			e.xattrs = append(e.xattrs, [2]string{"user.bench.tag", g.word()})
			if g.rng.IntN(4) == 0 {
				sum := sha256.Sum256([]byte(name))
				e.xattrs = append(e.xattrs, [2]string{"user.bench.sum", hex.EncodeToString(sum[:])})
			}
		}
		g.files = append(g.files, &genFile{e: e, layer: l, dir: d})
	}
	nLinks := s.Files / 100
	for range nLinks {
		f := g.files[g.rng.IntN(len(g.files))]
		if f.linked || g.dirs[f.dir].special {
			continue
		}
		f.linked = true
		g.dirs[f.dir].linked = true
		e := entry{path: g.unique(f.e.path + ".link"), kind: kHardlink, link: f.e.path, mode: f.e.mode, uid: f.e.uid, gid: f.e.gid}
		g.files = append(g.files, &genFile{e: e, layer: f.layer, dir: f.dir, linked: true})
	}
	nSym := s.Files * 3 / 100
	for i := range nSym {
		l := layerOf(i, nSym, [3]int{70, 20, 10})
		d := g.pickDir(cum, l)
		var target string
		switch r := g.rng.IntN(100); {
		case r < 5:
			target = "missing-" + g.word()
		default:
			var t *genFile
			for t == nil || t.layer > l || t.e.kind != kFile {
				t = g.files[g.rng.IntN(len(g.files))]
			}
			if r < 25 {
				target = "/" + t.e.path
			} else {
				target = relPath(g.dirs[d].path, t.e.path)
			}
		}
		e := entry{path: g.unique(g.dirs[d].path + "/" + g.word() + ".lnk"), kind: kSymlink, link: target, mode: 0o777}
		g.files = append(g.files, &genFile{e: e, layer: l, dir: d})
	}

	// Replacements in layers 2 and 3, file whiteouts in layer 3.
	plain := func(f *genFile, below int) bool {
		return f.e.kind == kFile && !f.linked && f.layer < below && !g.dirs[f.dir].special && !f.deleted
	}
	for _, r := range []struct{ layer, pct int }{{2, 5}, {3, 2}} {
		for _, f := range g.files {
			if plain(f, r.layer) && g.rng.IntN(100) < r.pct {
				f.over[r.layer] = true
				e := f.e
				e.size, e.seed, e.xattrs = g.logSize(), g.nextSeed(), nil
				g.extra[r.layer] = append(g.extra[r.layer], e)
			}
		}
	}
	for _, f := range g.files {
		if plain(f, 3) && !f.over[3] && g.rng.IntN(100) < 2 {
			f.deleted = true
			g.extra[3] = append(g.extra[3], entry{path: f.e.path, kind: kWhiteout})
		}
	}
	for _, d := range delDirs {
		g.extra[3] = append(g.extra[3], entry{path: g.dirs[d].path, kind: kWhiteout})
	}
	for _, d := range opqDirs {
		g.extra[3] = append(g.extra[3], entry{path: g.dirs[d].path, kind: kOpaque})
		for range 1 + g.rng.IntN(3) {
			name := g.unique(g.dirs[d].path + "/" + g.word() + ".new")
			g.extra[3] = append(g.extra[3], entry{path: name, kind: kFile, mode: 0o644, size: g.logSize(), seed: g.nextSeed()})
		}
	}

	// The big file and the big directory.
	g.extra[1] = append(g.extra[1], entry{path: bigFilePath, kind: kFile, mode: 0o644, size: s.BigFile, seed: g.nextSeed()})
	for i := range s.BigDir {
		l := layerOf(i, s.BigDir, [3]int{60, 30, 10})
		g.extra[l] = append(g.extra[l], entry{path: fmt.Sprintf("%s/e%07d", bigDirPath, i), kind: kFile, mode: 0o644})
	}
}

// relPath is the relative symlink target from directory dir to file p.
func relPath(dir, p string) string {
	a, b := strings.Split(dir, "/"), strings.Split(p, "/")
	i := 0
	for i < len(a) && i < len(b)-1 && a[i] == b[i] {
		i++
	}
	return strings.Repeat("../", len(a)-i) + strings.Join(b[i:], "/")
}

// layer assembles layer l's entries, with every parent directory, sorted
// so that a directory comes before what it holds.
func (g *generator) layer(l int) []entry {
	var es []entry
	for _, d := range g.dirs {
		if d.layer == l {
			es = append(es, entry{path: d.path, kind: kDir, mode: 0o755})
		}
	}
	for _, f := range g.files {
		if f.layer == l {
			es = append(es, f.e)
		}
	}
	es = append(es, g.extra[l]...)
	return withParents(es)
}

// withParents adds the missing parent directories of es and sorts them.
func withParents(es []entry) []entry {
	have := map[string]bool{}
	for _, e := range es {
		if e.kind == kDir {
			have[e.path] = true
		}
	}
	for _, e := range es {
		p := e.path
		if e.kind == kOpaque {
			p += "/x" // the marker lives inside the directory
		}
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if have[d] {
				break
			}
			have[d] = true
			es = append(es, entry{path: d, kind: kDir, mode: 0o755})
		}
	}
	slices.SortFunc(es, func(a, b entry) int { return strings.Compare(a.tarName(), b.tarName()) })
	return es
}

// tarName is the entry's name in a tar, without the trailing slash of a
// directory.
func (e entry) tarName() string {
	switch e.kind {
	case kWhiteout:
		return path.Join(path.Dir(e.path), ".wh."+path.Base(e.path))
	case kOpaque:
		return e.path + "/.wh..wh..opq"
	}
	return e.path
}

// openTargets picks the lower files open-write opens: plain files the
// merged tree shows, spread over the tree.
func (g *generator) openTargets() []string {
	var c []string
	for _, f := range g.files {
		if f.e.kind == kFile && !f.linked && !f.deleted && !g.dirs[f.dir].special {
			c = append(c, f.e.path)
		}
	}
	sort.Strings(c)
	n := min(g.spec.OpenWrites, len(c))
	out := make([]string, 0, n)
	for i := range n {
		out = append(out, c[i*len(c)/n])
	}
	return out
}

// node is an entry of the merged tree, as every filesystem must show it.
type node struct {
	kind   kind // kDir, kFile or kSymlink
	size   int64
	link   string
	mode   int64
	xattrs bool
	from   int // the layer that provides it
	entry  entry
}

// merge applies the layers as OCI says: a whiteout deletes the name and
// what is below it in lower layers, an opaque marker empties its directory
// of lower content, then the layer's entries replace lower ones. Hard
// links become the file they name.
func (m *model) merge() map[string]node {
	if m.tree != nil {
		return m.tree
	}
	tree := map[string]node{}
	kids := map[string][]string{} // a directory's children, some maybe gone
	var removeBelow func(p string)
	removeBelow = func(p string) {
		for _, q := range kids[p] {
			if _, ok := tree[q]; ok {
				delete(tree, q)
				removeBelow(q)
			}
		}
		delete(kids, p)
	}
	for l, es := range m.layers {
		for _, e := range es {
			switch e.kind {
			case kWhiteout:
				delete(tree, e.path)
				removeBelow(e.path)
			case kOpaque:
				removeBelow(e.path)
			}
		}
		for _, e := range es {
			n := node{kind: e.kind, size: e.size, link: e.link, mode: e.mode, xattrs: len(e.xattrs) > 0, from: l, entry: e}
			switch e.kind {
			case kWhiteout, kOpaque:
				continue
			case kHardlink:
				t := tree[e.link]
				n = t
				n.from = l
			}
			old, ok := tree[e.path]
			if ok && old.kind == kDir && e.kind == kDir {
				continue
			}
			if !ok {
				kids[path.Dir(e.path)] = append(kids[path.Dir(e.path)], e.path)
			}
			tree[e.path] = n
		}
	}
	return tree
}

// stats counts the model.
func (m *model) stats() Stats {
	var s Stats
	for l, es := range m.layers {
		s.TarEntries = append(s.TarEntries, len(es))
		for _, e := range es {
			switch e.kind {
			case kWhiteout:
				s.Whiteouts++
			case kOpaque:
				s.Opaque++
			case kHardlink:
				if strings.HasPrefix(e.path, treeDir+"/") {
					s.Hardlinks++
				}
			case kFile:
				if l > 1 && m.lowerHas(l, e.path) {
					s.Overrides++
				}
			}
		}
	}
	for p, n := range m.merge() {
		if p != treeDir && !strings.HasPrefix(p, treeDir+"/") {
			continue
		}
		switch n.kind {
		case kDir:
			s.Dirs++
		case kFile:
			s.Files++
			s.Bytes += n.size
			if n.xattrs {
				s.Xattrs++
			}
			if n.entry.needle {
				s.Needles++
			}
		case kSymlink:
			s.Symlinks++
		}
	}
	return s
}

func (m *model) lowerHas(l int, p string) bool {
	for _, es := range m.layers[:l] {
		i := sort.Search(len(es), func(i int) bool { return es[i].tarName() >= p })
		if i < len(es) && es[i].tarName() == p && es[i].kind == kFile {
			return true
		}
	}
	return false
}

// plantNeedles marks a few files the merged tree shows as holding the
// needle (in the layer that provides them).
func (m *model) plantNeedles() {
	tree := m.merge()
	var c []string
	for p, n := range tree {
		if n.kind == kFile && n.size >= 64 && n.entry.kind == kFile && strings.HasPrefix(p, treeDir+"/") {
			c = append(c, p)
		}
	}
	sort.Strings(c)
	want := max(3, m.spec.Files/2000)
	for i := 0; i < want && len(c) > 0; i++ {
		p := c[i*len(c)/want]
		l := tree[p].from
		for j := range m.layers[l] {
			if m.layers[l][j].path == p && m.layers[l][j].kind == kFile {
				m.layers[l][j].needle = true
			}
		}
	}
}

// contentKey derives the key of an entry's content stream.
func contentKey(seed uint64, e entry) [32]byte {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], seed)
	binary.LittleEndian.PutUint64(b[8:], e.seed)
	return sha256.Sum256(append(b[:], fmt.Sprintf("lfs-bench/%d", GeneratorVersion)...))
}
