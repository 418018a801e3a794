package tests

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
)

var (
	shortID = regexp.MustCompile(`^[0-9a-f]{12}$`)
	fullID  = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
)

// short is docker's 12-character form of an image ID.
func short(id string) string { return hexOf(id)[:12] }

// TestImport makes an image from the busybox rootfs with a message, from a
// file and from stdin.
func TestImport(t *testing.T) {
	s := setup(t)
	f := getFixtures(t)
	rootfs, err := os.ReadFile(f.rootfs)
	if err != nil {
		t.Fatal(err)
	}
	out := s.mustRun(t, "import", f.rootfs, "imp:1", "-m", "imported for a test")
	id := strings.TrimSuffix(out, "\n")
	if !fullID.MatchString(id) || strings.Count(out, "\n") != 1 {
		t.Fatalf("lfs import printed %q, want one line sha256:<hex>", out)
	}
	img := s.inspect(t, "imp:1")
	if img.Id != id {
		t.Errorf("inspect Id %s, import printed %s", img.Id, id)
	}
	if !slices.Equal(img.RepoTags, []string{"imp:1"}) {
		t.Errorf("RepoTags %q, want [imp:1]", img.RepoTags)
	}
	// The layer is the tar as it came: its diff ID is the file's digest.
	if want := []string{digestOf(rootfs)}; !slices.Equal(img.RootFS.Layers, want) {
		t.Errorf("RootFS.Layers %q, want %q (the rootfs tar's own digest)", img.RootFS.Layers, want)
	}
	if img.Comment != "imported for a test" {
		t.Errorf("Comment %q, want the -m message", img.Comment)
	}
	h := lines(s.mustRun(t, "history", "--no-trunc", "--format", "{{.Comment}}", "imp:1"))
	if !slices.Equal(h, []string{"imported for a test"}) {
		t.Errorf("history comments %q, want the -m message once", h)
	}

	// From stdin, with no tag: a dangling image of the same layer.
	in, err := os.Open(f.rootfs)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out = s.mustRunIn(t, in, "import", "-")
	id2 := strings.TrimSpace(out)
	if !fullID.MatchString(id2) {
		t.Fatalf("lfs import - printed %q", out)
	}
	img2 := s.inspect(t, id2)
	if !slices.Equal(img2.RootFS.Layers, img.RootFS.Layers) {
		t.Errorf("stdin import layers %q, file import %q", img2.RootFS.Layers, img.RootFS.Layers)
	}
	if len(img2.RepoTags) != 0 {
		t.Errorf("untagged import has RepoTags %q", img2.RepoTags)
	}
	dangling := lines(s.mustRun(t, "images", "-q", "--no-trunc", "--filter", "dangling=true"))
	if !slices.Equal(dangling, []string{id2}) {
		t.Errorf("dangling images %q, want [%s]", dangling, id2)
	}

	// REPO alone means REPO:latest.
	s.mustRun(t, "import", f.rootfs, "bare")
	if got := s.inspect(t, "bare:latest").RepoTags; !slices.Equal(got, []string{"bare:latest"}) {
		t.Errorf("import REPO: RepoTags %q, want [bare:latest]", got)
	}
	checkClean(t, s)
}

// TestImportChanges: every instruction docker import --change accepts, one
// import each, with -c and --change alike; then all of them in one command.
func TestImportChanges(t *testing.T) {
	s := setup(t)
	f := getFixtures(t)
	type check func(c *inspectImage) bool
	cases := []struct {
		change string
		ok     check
	}{
		{`CMD ["/bin/sh", "-c", "echo hi"]`, func(c *inspectImage) bool {
			return slices.Equal(c.Config.Cmd, []string{"/bin/sh", "-c", "echo hi"})
		}},
		{`CMD echo hi`, func(c *inspectImage) bool { return slices.Equal(c.Config.Cmd, []string{"/bin/sh", "-c", "echo hi"}) }},
		{`ENTRYPOINT ["/bin/busybox", "sh"]`, func(c *inspectImage) bool {
			return slices.Equal(c.Config.Entrypoint, []string{"/bin/busybox", "sh"})
		}},
		{"ENV FOO=bar", func(c *inspectImage) bool { return slices.Contains(c.Config.Env, "FOO=bar") }},
		{"WORKDIR /tmp", func(c *inspectImage) bool { return c.Config.WorkingDir == "/tmp" }},
		{"USER nobody", func(c *inspectImage) bool { return c.Config.User == "nobody" }},
		{"EXPOSE 8080/tcp", func(c *inspectImage) bool { _, ok := c.Config.ExposedPorts["8080/tcp"]; return ok }},
		{`LABEL org.example.a="b c"`, func(c *inspectImage) bool { return c.Config.Labels["org.example.a"] == "b c" }},
		{"VOLUME /data", func(c *inspectImage) bool { _, ok := c.Config.Volumes["/data"]; return ok }},
		{"ONBUILD RUN echo later", func(c *inspectImage) bool { return slices.Equal(c.Config.OnBuild, []string{"RUN echo later"}) }},
		{"HEALTHCHECK --interval=5s CMD true", func(c *inspectImage) bool {
			h := c.Config.Healthcheck
			return h != nil && slices.Equal(h.Test, []string{"CMD-SHELL", "true"}) && h.Interval == int64(5e9)
		}},
	}
	for i, c := range cases {
		flag := "--change"
		if i%2 == 1 {
			flag = "-c"
		}
		t.Run(strings.Fields(c.change)[0]+"/"+flag, func(t *testing.T) {
			ref := fmt.Sprintf("chg:%d", i)
			s.mustRun(t, "import", f.rootfs, ref, flag, c.change)
			img := s.inspect(t, ref)
			if !c.ok(&img) {
				out := s.mustRun(t, "inspect", "--format", "{{json .Config}}", ref)
				t.Errorf("import %s %q: Config is %s", flag, c.change, out)
			}
		})
	}
	t.Run("all-at-once", func(t *testing.T) {
		args := []string{"import", f.rootfs, "chg:all"}
		for i, c := range cases {
			flag := "--change"
			if i%2 == 1 {
				flag = "-c"
			}
			args = append(args, flag, c.change)
		}
		s.mustRun(t, append(args, "-m", "all changes")...)
		img := s.inspect(t, "chg:all")
		for i, c := range cases {
			if i == 1 {
				continue // the second CMD replaced the first
			}
			if !c.ok(&img) {
				t.Errorf("with every change: %q not applied", c.change)
			}
		}
		if img.Comment != "all changes" {
			t.Errorf("Comment %q, want the -m message", img.Comment)
		}
	})
}

// TestImportHello imports the static hello rootfs the demo uses.
func TestImportHello(t *testing.T) {
	s := setup(t)
	needTools(t, "gcc", "bash", "tar")
	hello := filepath.Join(t.TempDir(), "hello.tar")
	if err := mkrootfs("hello", hello); err != nil {
		t.Skipf("cannot build the hello rootfs (make deps installs gcc and libc6-dev): %v", err)
	}
	s.mustRun(t, "import", hello, "hello:latest", "--change", `CMD ["/hello"]`)
	img := s.inspect(t, "hello")
	if !slices.Equal(img.Config.Cmd, []string{"/hello"}) {
		t.Errorf("Cmd %q, want [/hello]", img.Config.Cmd)
	}
	if img.Size <= 0 {
		t.Errorf("Size %d, want the layer's size", img.Size)
	}
}

// TestInspectShape: inspect prints a JSON array in docker's shape, indented
// by four spaces, and --format renders templates.
func TestInspectShape(t *testing.T) {
	s := setup(t)
	f := getFixtures(t)
	s.load(t, f.dockerArchive)
	out := s.mustRun(t, "inspect", "busybox")
	if !strings.HasPrefix(out, "[\n    {\n        \"") {
		t.Errorf("inspect output does not start as a 4-space-indented array:\n%.200s", out)
	}
	var imgs []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &imgs); err != nil || len(imgs) != 1 {
		t.Fatalf("inspect: %v, %d images", err, len(imgs))
	}
	for _, k := range []string{"Id", "RepoTags", "RepoDigests", "Parent", "Comment", "Created", "DockerVersion", "Author", "Config", "Architecture", "Os", "Size", "RootFS", "Metadata"} {
		if _, ok := imgs[0][k]; !ok {
			t.Errorf("inspect lacks key %s", k)
		}
	}
	img := s.inspect(t, "busybox")
	if img.Id != f.base.ID() || img.Architecture != "amd64" || img.Os != "linux" {
		t.Errorf("Id %s Architecture %s Os %s, want %s amd64 linux", img.Id, img.Architecture, img.Os, f.base.ID())
	}
	if !slices.Equal(img.Config.Cmd, []string{"sh"}) {
		t.Errorf("Config.Cmd %q, want [sh]", img.Config.Cmd)
	}
	if !slices.Equal(img.RepoTags, []string{"busybox:latest"}) {
		t.Errorf("RepoTags %q, want [busybox:latest]", img.RepoTags)
	}

	// Every way docker names an image finds the same one.
	for _, ref := range []string{"busybox", "busybox:latest", "docker.io/library/busybox:latest", "library/busybox", img.Id, hexOf(img.Id), short(img.Id), hexOf(img.Id)[:5]} {
		if got := s.id(t, ref); got != img.Id {
			t.Errorf("inspect %s: Id %s, want %s", ref, got, img.Id)
		}
	}

	// Several names: one array, in order.
	s.load(t, f.twoArchive)
	out = s.mustRun(t, "inspect", "--format", "{{.Id}}", "two", "busybox")
	if got := lines(out); !slices.Equal(got, []string{f.two.ID(), f.base.ID()}) {
		t.Errorf("inspect --format two busybox: %q", got)
	}
	out = s.mustRun(t, "inspect", "--type", "image", "--format", "{{json .RootFS.Layers}}", "two")
	var layers []string
	if err := json.Unmarshal([]byte(out), &layers); err != nil || !slices.Equal(layers, f.two.config.RootFS.DiffIDs) {
		t.Errorf("inspect --format json RootFS.Layers: %q (%v), want %q", out, err, f.two.config.RootFS.DiffIDs)
	}
}

// TestImages covers the table and its flags.
func TestImages(t *testing.T) {
	s := setup(t)
	f := getFixtures(t)
	s.load(t, f.dockerArchive) // busybox:latest
	s.load(t, f.untagged)      // two's image, no name
	s.mustRun(t, "tag", "busybox", "localhost:5000/tools/bb:v1")

	header, rows := table(t, s.mustRun(t, "images"))
	if want := []string{"REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"}; !slices.Equal(header, want) {
		t.Fatalf("images header %q, want %q", header, want)
	}
	got := map[string]string{}
	for _, r := range rows {
		if len(r) != 5 {
			t.Errorf("images row %q has %d columns, want 5", r, len(r))
			continue
		}
		if !shortID.MatchString(r[2]) {
			t.Errorf("images row %q: IMAGE ID is not 12 hex digits", r)
		}
		got[r[0]+" "+r[1]] = r[2]
	}
	want := map[string]string{
		"busybox latest":             short(f.base.ID()),
		"localhost:5000/tools/bb v1": short(f.base.ID()),
		"<none> <none>":              short(f.two.ID()),
	}
	if !maps.Equal(got, want) {
		t.Errorf("images rows %v, want %v", got, want)
	}

	ids := lines(s.mustRun(t, "images", "-q"))
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if wantIDs := sortedOf(short(f.base.ID()), short(f.two.ID())); !slices.Equal(ids, wantIDs) {
		t.Errorf("images -q %q, want %q", ids, wantIDs)
	}
	full := lines(s.mustRun(t, "images", "-q", "--no-trunc"))
	slices.Sort(full)
	full = slices.Compact(full)
	if wantIDs := sortedOf(f.base.ID(), f.two.ID()); !slices.Equal(full, wantIDs) {
		t.Errorf("images -q --no-trunc %q, want %q", full, wantIDs)
	}
	_, rows = table(t, s.mustRun(t, "images", "--no-trunc"))
	for _, r := range rows {
		if len(r) < 3 || !fullID.MatchString(r[2]) {
			t.Errorf("images --no-trunc row %q: IMAGE ID is not sha256:<64 hex>", r)
		}
	}

	header, rows = table(t, s.mustRun(t, "images", "--digests"))
	if want := []string{"REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE"}; !slices.Equal(header, want) {
		t.Errorf("images --digests header %q, want %q", header, want)
	}
	for _, r := range rows {
		if len(r) != 6 || (r[2] != "<none>" && !fullID.MatchString(r[2])) {
			t.Errorf("images --digests row %q: want 6 columns, DIGEST <none> or sha256:<hex>", r)
		}
	}

	dangling := lines(s.mustRun(t, "images", "-q", "--filter", "dangling=true"))
	if !slices.Equal(dangling, []string{short(f.two.ID())}) {
		t.Errorf("images --filter dangling=true: %q, want [%s]", dangling, short(f.two.ID()))
	}
	refs := lines(s.mustRun(t, "images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", "reference=busy*"))
	if !slices.Equal(refs, []string{"busybox:latest"}) {
		t.Errorf("images --filter reference=busy*: %q, want [busybox:latest]", refs)
	}
	refs = lines(s.mustRun(t, "images", "--format", "{{.Repository}}:{{.Tag}}", "localhost:5000/tools/bb"))
	if !slices.Equal(refs, []string{"localhost:5000/tools/bb:v1"}) {
		t.Errorf("images localhost:5000/tools/bb: %q", refs)
	}
	refs = lines(s.mustRun(t, "images", "--format", "{{.Repository}}:{{.Tag}}", "busybox:nosuchtag"))
	if len(refs) != 0 {
		t.Errorf("images busybox:nosuchtag: %q, want nothing", refs)
	}

	// --format with docker's field names, and json.
	tmpl := lines(s.mustRun(t, "images", "--format", "{{.ID}} {{.Repository}} {{.Tag}}", "busybox"))
	if want := []string{short(f.base.ID()) + " busybox latest"}; !slices.Equal(tmpl, want) {
		t.Errorf("images --format: %q, want %q", tmpl, want)
	}
	for _, l := range lines(s.mustRun(t, "images", "--format", "json")) {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("images --format json: line %q: %v", l, err)
			continue
		}
		for _, k := range []string{"Repository", "Tag", "ID", "CreatedSince", "Size"} {
			if _, ok := m[k]; !ok {
				t.Errorf("images --format json: line lacks %s: %s", k, l)
			}
		}
	}
	// -a shows no fewer images than the default.
	if a := lines(s.mustRun(t, "images", "-a", "-q")); len(a) < len(lines(s.mustRun(t, "images", "-q"))) {
		t.Errorf("images -a lists fewer images than images")
	}
}

// TestTagAndRmi: tagging adds names; rmi untags, and deletes an image with
// its last name, but a layer only once no image uses it.
func TestTagAndRmi(t *testing.T) {
	s := setup(t)
	f := getFixtures(t)
	s.load(t, f.dockerArchive)
	s.load(t, f.twoArchive)
	s.mustRun(t, "tag", "busybox", "mine/bb:v1")
	s.mustRun(t, "tag", short(f.base.ID()), "mine/bb:v2")
	if id := s.id(t, "mine/bb:v1"); id != f.base.ID() {
		t.Errorf("tagged image ID %s, want %s", id, f.base.ID())
	}
	if got := s.inspect(t, "busybox").RepoTags; !slices.Equal(sortedOf(got...), sortedOf("busybox:latest", "mine/bb:v1", "mine/bb:v2")) {
		t.Errorf("RepoTags after tag: %q", got)
	}
	// Re-tagging moves a name.
	s.mustRun(t, "tag", "two", "mine/bb:v2")
	if id := s.id(t, "mine/bb:v2"); id != f.two.ID() {
		t.Errorf("moved tag points at %s, want %s", id, f.two.ID())
	}

	out := s.mustRun(t, "rmi", "mine/bb:v1")
	if got := lines(out); !slices.Equal(got, []string{"Untagged: mine/bb:v1"}) {
		t.Errorf("rmi of one of several tags printed %q", got)
	}
	if id := s.id(t, "busybox"); id != f.base.ID() {
		t.Errorf("image gone after untagging another name")
	}

	// busybox and two share the base layer.
	baseLayer := filepath.Join(s.root, "layers", "sha256", hexOf(f.base.config.RootFS.DiffIDs[0]), "layer.tar")
	out = s.mustRun(t, "rmi", "busybox")
	checkRmi(t, out, []string{"busybox:latest"}, f.base.ID())
	if _, _, code := s.run(t, "inspect", f.base.ID()); code == 0 {
		t.Errorf("deleted image still inspects")
	}
	if _, err := os.Stat(baseLayer); err != nil {
		t.Errorf("shared layer removed while two:latest uses it: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.root, "blobs", "sha256", hexOf(f.base.ID()))); !os.IsNotExist(err) {
		t.Errorf("deleted image's config blob still stored (err %v)", err)
	}
	s.mustRun(t, "inspect", "two")
	checkClean(t, s)

	// An image with several names: rmi by ID refuses without -f, as docker.
	s.mustFail(t, nil, nil, "rmi", short(f.two.ID()))
	out = s.mustRun(t, "rmi", "-f", short(f.two.ID()))
	checkRmi(t, out, []string{"two:latest", "mine/bb:v2"}, f.two.ID())
	for _, d := range f.two.config.RootFS.DiffIDs {
		if _, err := os.Stat(filepath.Join(s.root, "layers", "sha256", hexOf(d))); !os.IsNotExist(err) {
			t.Errorf("layer %s still stored after its last image went (err %v)", d, err)
		}
	}
	if out := s.mustRun(t, "images", "-a", "-q"); out != "" {
		t.Errorf("images after removing everything: %q", out)
	}
	checkClean(t, s)
}

// TestHistory compares lfs history with the config's history.
func TestHistory(t *testing.T) {
	s := setup(t)
	f := getFixtures(t)
	s.load(t, f.twoArchive)
	h := f.two.config.History // oldest first; history prints newest first

	header, rows := table(t, s.mustRun(t, "history", "two"))
	if want := []string{"IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"}; !slices.Equal(header, want) {
		t.Errorf("history header %q, want %q", header, want)
	}
	if len(rows) != len(h) {
		t.Errorf("history has %d rows, config %d entries", len(rows), len(h))
	}
	if len(rows) > 0 && rows[0][0] != short(f.two.ID()) {
		t.Errorf("history's first row IMAGE %q, want %s", rows[0][0], short(f.two.ID()))
	}

	var wantBy, wantComment []string
	for i := len(h) - 1; i >= 0; i-- {
		wantBy = append(wantBy, h[i].CreatedBy)
		wantComment = append(wantComment, h[i].Comment)
	}
	out := s.mustRun(t, "history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Comment}}", "two")
	var got []string
	for l := range strings.SplitSeq(strings.TrimSuffix(out, "\n"), "\n") {
		got = append(got, l)
	}
	var want []string
	for i := range wantBy {
		want = append(want, wantBy[i]+"|"+wantComment[i])
	}
	if !slices.Equal(got, want) {
		t.Errorf("history --format: %q, want %q", got, want)
	}

	q := lines(s.mustRun(t, "history", "-q", "two"))
	if len(q) != len(h) || q[0] != short(f.two.ID()) {
		t.Errorf("history -q: %q, want %d lines starting with %s", q, len(h), short(f.two.ID()))
	}
	q = lines(s.mustRun(t, "history", "-q", "--no-trunc", "two"))
	if len(q) == 0 || q[0] != f.two.ID() {
		t.Errorf("history -q --no-trunc: %q, want first line %s", q, f.two.ID())
	}
}

// TestSystemDf: one Images row that counts them.
func TestSystemDf(t *testing.T) {
	s := setup(t)
	f := getFixtures(t)
	s.load(t, f.dockerArchive)
	s.load(t, f.twoArchive)
	header, rows := table(t, s.mustRun(t, "system", "df"))
	if want := []string{"TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"}; !slices.Equal(header, want) {
		t.Errorf("system df header %q, want %q", header, want)
	}
	var found bool
	for _, r := range rows {
		if r[0] == "Images" {
			found = true
			if len(r) < 2 || r[1] != "2" {
				t.Errorf("system df Images row %q, want TOTAL 2", r)
			}
		}
	}
	if !found {
		t.Errorf("system df has no Images row: %q", rows)
	}
}

// TestSystemPrune: prune removes dangling images, prune -a every image no
// container uses; check stays clean.
func TestSystemPrune(t *testing.T) {
	s := setup(t)
	f := getFixtures(t)
	s.load(t, f.dockerArchive)
	s.load(t, f.untagged)
	s.mustRun(t, "system", "prune", "-f")
	if got := lines(s.mustRun(t, "images", "-a", "-q", "--no-trunc")); !slices.Equal(got, []string{f.base.ID()}) {
		t.Errorf("after prune: images %q, want only busybox %s", got, f.base.ID())
	}
	for _, d := range f.two.config.RootFS.DiffIDs[1:] {
		if _, err := os.Stat(filepath.Join(s.root, "layers", "sha256", hexOf(d))); !os.IsNotExist(err) {
			t.Errorf("pruned image's own layer %s still stored (err %v)", d, err)
		}
	}
	checkClean(t, s)
	s.mustRun(t, "system", "prune", "-a", "-f")
	if got := s.mustRun(t, "images", "-a", "-q"); got != "" {
		t.Errorf("after prune -a: images %q, want none", got)
	}
	if entries, _ := os.ReadDir(filepath.Join(s.root, "layers", "sha256")); len(entries) != 0 {
		t.Errorf("after prune -a: %d layers still stored", len(entries))
	}
	checkClean(t, s)
}

// TestSystemCheck corrupts stored files; check reports each by digest and
// exits 1; --repair removes what is bad.
func TestSystemCheck(t *testing.T) {
	setup(t)
	f := getFixtures(t)
	layerDiff := hexOf(f.base.config.RootFS.DiffIDs[0])
	layerBlob := hexOf(f.base.manifest.Layers[0].Digest) // the gzip blob, kept
	cases := []struct {
		name   string
		path   string // relative to the store root
		digest string // what check must name
		damage func(t *testing.T, path string)
	}{
		{"compressed-blob", "blobs/sha256/" + layerBlob, layerBlob, flipByte},
		{"layer-tar", "layers/sha256/" + layerDiff + "/layer.tar", layerDiff, flipByte},
		{"layer-index", "layers/sha256/" + layerDiff + "/index", layerDiff, truncateHalf},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			s.load(t, f.ociArchive)
			checkClean(t, s)
			p := filepath.Join(s.root, c.path)
			if _, err := os.Stat(p); err != nil {
				t.Fatalf("store layout: %v", err)
			}
			c.damage(t, p)
			damaged, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			stdout, stderr, code := s.run(t, "system", "check")
			if code != 1 {
				t.Errorf("system check of a damaged store: exit %d, want 1\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			if !strings.Contains(stdout+stderr, c.digest[:12]) {
				t.Errorf("system check does not name %s:\nstdout: %s\nstderr: %s", c.digest[:12], stdout, stderr)
			}
			s.run(t, "system", "check", "--repair")
			// Repaired: the damaged file is gone, or rebuilt.
			if b, err := os.ReadFile(p); err == nil && bytes.Equal(b, damaged) {
				t.Errorf("after system check --repair, %s is still damaged", c.path)
			}
		})
	}
}

func flipByte(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func truncateHalf(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
}

// TestCommandsAnswerHelp: --help on every command, version and info.
func TestCommandsAnswerHelp(t *testing.T) {
	s := setup(t)
	for _, cmd := range [][]string{{"load"}, {"save"}, {"import"}, {"images"}, {"inspect"}, {"history"}, {"tag"}, {"rmi"}, {"system"}, {"system", "df"}, {"system", "prune"}, {"system", "check"}, {"version"}, {"info"}} {
		stdout, stderr, code := s.run(t, append(cmd, "--help")...)
		if code != 0 || !strings.Contains(stdout, cmd[len(cmd)-1]) {
			t.Errorf("lfs %s --help: exit %d, stdout %q, stderr %q", strings.Join(cmd, " "), code, stdout, stderr)
		}
	}
	if _, stderr, code := s.run(t, "--debug", "images"); code != 0 {
		t.Errorf("lfs --debug images: exit %d: %s", code, clip(stderr))
	}
	if out := s.mustRun(t, "version"); strings.TrimSpace(out) == "" {
		t.Errorf("lfs version printed nothing")
	}
	if out := s.mustRun(t, "info"); !strings.Contains(out, s.root) {
		t.Errorf("lfs info does not show the store path %s:\n%s", s.root, out)
	}
}

// TestStoreLocation: LFS_ROOT names the store; without it a user other than
// root gets $XDG_DATA_HOME/lfs, else ~/.local/share/lfs.
func TestStoreLocation(t *testing.T) {
	s := setup(t)
	f := getFixtures(t)
	s.load(t, f.dockerArchive)
	r := runWith(t, opts{env: []string{"LFS_ROOT=" + s.root}}, "images", "-q", "--no-trunc")
	if r.code != 0 || strings.TrimSpace(r.stdout) != f.base.ID() {
		t.Errorf("LFS_ROOT=%s lfs images: exit %d, %q, stderr %q", s.root, r.code, r.stdout, r.stderr)
	}

	// As nobody, with a home and XDG_DATA_HOME it can write to.
	// t.TempDir's parent is 0700: nobody could not reach into it.
	base, err := os.MkdirTemp("", "lfs-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	home := filepath.Join(base, "home")
	xdg := filepath.Join(base, "xdg")
	for _, d := range []string{base, home, xdg} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{home, xdg} {
		if err := os.Chown(d, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		env  []string
		want string
	}{
		{[]string{"HOME=" + home, "XDG_DATA_HOME=" + xdg}, filepath.Join(xdg, "lfs")},
		{[]string{"HOME=" + home}, filepath.Join(home, ".local", "share", "lfs")},
	} {
		cmd := exec.Command(lfsBin, "info")
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		cmd.Env = append(cmd.Env, c.env...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if pe := new(os.PathError); err != nil && errors.As(err, &pe) {
			t.Skipf("nobody cannot run %s: %v", lfsBin, err)
		}
		if err != nil || !strings.Contains(stdout.String(), c.want) {
			t.Errorf("as nobody with %q, lfs info: %v, does not show %s\nstdout: %s\nstderr: %s", c.env, err, c.want, stdout.String(), stderr.String())
		}
	}
}

// checkRmi checks what rmi printed: "Untagged: NAME" for exactly these
// names, "Deleted: ID" for the image, and, as docker does, maybe a
// "Deleted: sha256:..." line per layer it removed; nothing else.
func checkRmi(t *testing.T, out string, untagged []string, id string) {
	t.Helper()
	var gotUntagged []string
	deleted := false
	for _, l := range lines(out) {
		switch {
		case strings.HasPrefix(l, "Untagged: "):
			gotUntagged = append(gotUntagged, strings.TrimPrefix(l, "Untagged: "))
		case l == "Deleted: "+id:
			deleted = true
		case strings.HasPrefix(l, "Deleted: ") && fullID.MatchString(strings.TrimPrefix(l, "Deleted: ")):
		default:
			t.Errorf("rmi printed an unexpected line %q", l)
		}
	}
	if !slices.Equal(sortedOf(gotUntagged...), sortedOf(untagged...)) || !deleted {
		t.Errorf("rmi printed %q; want Untagged: for %q and Deleted: %s", out, untagged, id)
	}
}

func sortedOf(s ...string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
