package tests

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// faultSetup is the three-layer image in a registry, a fault proxy in
// front of it, a store, and the image's name through the proxy.
func faultSetup(t *testing.T) (threeLayers, *faultProxy, *store, string) {
	t.Helper()
	getFixtures(t)
	reg := startRegistry(t, "", "")
	tl := pushThreeLayers(t, reg, "faults/three:1")
	p := startProxy(t, reg)
	return tl, p, setup(t), p.host + "/" + tl.repo
}

// pullResumed pulls ref again, the faults gone, and checks that only the
// last layer came (the others from the resume area) and the store is whole.
func pullResumed(t *testing.T, s *store, p *faultProxy, tl threeLayers, ref, what string) {
	t.Helper()
	p.clear()
	s.mustRun(t, "pull", "-q", ref)
	if id := s.id(t, ref); id != tl.ids {
		t.Errorf("%s: image ID %s, want %s", what, id, tl.ids)
	}
	for i, b := range tl.blobs {
		if want := map[bool]int{true: 1, false: 0}[i == 2]; p.count("GET", b) != want {
			t.Errorf("%s fetched blob %d %d times, want %d:\n%s", what, i, p.count("GET", b), want, strings.Join(p.requests(), "\n"))
		}
	}
	s.mustRun(t, "system", "check")
}

// threeLayers is an image of three 1 MiB layers, one gzip, one zstd and
// one plain tar, in a registry as lfs pushed it there (skopeo would gzip
// the plain one).
type threeLayers struct {
	reg    *testRegistry
	repo   string // "faults/three:1" in reg
	layout string // the OCI layout skopeo copied from
	ids    string // image ID
	blobs  []string
	digest string // manifest digest
}

func pushThreeLayers(t *testing.T, reg *testRegistry, repoTag string) threeLayers {
	t.Helper()
	var layers []layer
	for i, mk := range []func([]byte) layer{gzipLayer, func(b []byte) layer { return zstdLayer(t, b) }, plainLayer} {
		body := string(noise(1<<20, byte(i+1)))
		layers = append(layers, mk(mkTar(t, dir("data/"), file(fmt.Sprintf("data/f%d", i), body))))
	}
	img := image{ref: "three", layers: layers}
	layout, archive := craftOCI(t, img, nil)
	tl := threeLayers{reg: reg, repo: repoTag, layout: layout, ids: digestOf(configFor(layers))}
	for _, l := range layers {
		tl.blobs = append(tl.blobs, digestOf(l.blob))
	}
	src := newStore(t)
	src.mustRun(t, "load", "-i", archive)
	src.mustRun(t, "push", tl.ids, reg.host+"/"+repoTag)
	tl.digest = reg.manifestDigest(t, repoTag)
	m := reg.rawManifest(t, repoTag)
	for i, l := range m.Layers {
		if l.Digest != tl.blobs[i] || l.MediaType != layers[i].mediaType {
			t.Fatalf("the registry has layer %d: %s %s, want %s %s", i, l.MediaType, l.Digest, layers[i].mediaType, tl.blobs[i])
		}
	}
	return tl
}

// Gzip, zstd and plain layers pull into the same image, verified; a push
// of it sends the very manifest back (same digest).
func TestPullLayerKinds(t *testing.T) {
	getFixtures(t)
	reg := startRegistry(t, "", "")
	s := setup(t)
	tl := pushThreeLayers(t, reg, "kinds/three:1")
	ref := reg.host + "/" + tl.repo
	out := s.mustRun(t, "pull", ref)
	for _, b := range tl.blobs {
		if !slices.Contains(lines(out), b[7:19]+": Pull complete") {
			t.Errorf("pull lacks %s: Pull complete:\n%s", b[7:19], out)
		}
	}
	if id := s.id(t, ref); id != tl.ids {
		t.Errorf("image ID %s, want %s", id, tl.ids)
	}
	s.mustRun(t, "system", "check")
	s.mustRun(t, "push", ref, reg.host+"/kinds/again:1")
	if got := reg.manifestDigest(t, "kinds/again:1"); got != tl.digest {
		t.Errorf("pull → push of zstd and plain layers: digest %s, want %s", got, tl.digest)
	}
	if s.kept() != nil {
		t.Errorf("a pull that succeeded left layers to resume: %v", s.kept())
	}
}

// 429s, 5xx and dropped connections are retried with backoff, on the
// manifest and on blobs; a body cut in the middle goes on from where it
// broke (a Range request), so the layer is still read once.
func TestPullRetries(t *testing.T) {
	tl, p, s, ref := faultSetup(t)

	manifest := func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/manifests/") }
	p.add(manifest, failTimes(2, http.StatusServiceUnavailable))
	p.add(blobGET(tl.blobs[0]), failTimes(1, http.StatusTooManyRequests))
	p.add(blobGET(tl.blobs[1]), failTimes(2, 0))
	var once sync.Once
	p.add(blobGET(tl.blobs[2]), func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		cut := false
		once.Do(func() { cut = true })
		if !cut {
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(&cutWriter{ResponseWriter: w, limit: 300 << 10, cut: func() { hangUp(w) }}, r)
	})
	s.mustRun(t, "pull", "-q", ref)
	if id := s.id(t, ref); id != tl.ids {
		t.Errorf("image ID %s, want %s", id, tl.ids)
	}
	s.mustRun(t, "system", "check")
	for _, c := range []struct {
		what, suffix string
		want         int
	}{
		{"manifest (two 503s)", "/manifests/1", 3},
		{"gzip blob (a 429)", tl.blobs[0], 2},
		{"zstd blob (two dropped connections)", tl.blobs[1], 3},
		{"plain blob (cut after 300 KiB)", tl.blobs[2], 2},
	} {
		if got := p.count("GET", c.suffix); got != c.want {
			t.Errorf("%s: %d GETs, want %d\n%s", c.what, got, c.want, strings.Join(p.requests(), "\n"))
		}
	}
	if !slices.Contains(p.requests(), fmt.Sprintf("Range: bytes=%d-", 300<<10)) {
		t.Errorf("the cut blob was not asked for from where it broke:\n%s", strings.Join(p.requests(), "\n"))
	}

	// A registry that keeps failing: one line, after the retries, and nothing stored.
	p.clear()
	p.add(manifest, failTimes(1000, http.StatusBadGateway))
	s2 := newStore(t)
	s2.mustFail(t, nil, []string{"502", "bad gateway", "injected"}, "pull", ref)
	if got := p.count("GET", "/manifests/1"); got < 3 {
		t.Errorf("a failing manifest was asked for %d times, want retries", got)
	}
}

// A blob whose bytes do not match its digest, and a manifest of a kind
// lfs does not store: one line each, and the store keeps what it had.
func TestPullBadContent(t *testing.T) {
	tl, p, s, ref := faultSetup(t)

	other := noise(1<<20, 99)
	p.add(blobGET(tl.blobs[2]), func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		// Another tar of the same size, as a plain layer.
		body := mkTar(t, dir("data/"), file("data/f2", string(other)))
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body)
	})
	before := s.storeContent(t)
	msg := checkError(t, s.runIn(t, nil, "pull", ref), []string{"pull"})
	if !strings.Contains(msg, tl.blobs[2]) || !containsAnyFold(msg, []string{"digest"}) {
		t.Errorf("pull of a blob with the wrong content: %q", msg)
	}
	s.assertSameContent(t, before)
	if slices.Contains(s.kept(), tl.blobs[2][7:]) {
		t.Errorf("the bad blob was kept for resuming")
	}

	// Docker's schema 1, signed: refused by name.
	p.clear()
	p.add(func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/manifests/old") }, func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		body := `{"schemaVersion":1,"name":"faults/three","tag":"old","architecture":"amd64","fsLayers":[],"history":[],"signatures":[]}`
		w.Header().Set("Content-Type", "application/vnd.docker.distribution.manifest.v1+prettyjws")
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write([]byte(body))
	})
	msg = s.mustFail(t, nil, nil, "pull", p.host+"/faults/three:old")
	if !containsAnyFold(msg, []string{"unsupported"}) || !strings.Contains(msg, "v1+prettyjws") {
		t.Errorf("pull of a schema 1 manifest: %q", msg)
	}

	// The fault gone, a second pull completes, from the layers the first kept.
	pullResumed(t, s, p, tl, ref, "second pull, after a bad blob")
}

// The registry goes away in the middle of a blob: lfs tries again, says
// in one line that it cannot reach it, and stores nothing; once it is
// back, a pull completes, fetching only what was not complete.
func TestPullRegistryGoesAway(t *testing.T) {
	tl, p, s, ref := faultSetup(t)

	// The last blob is served only once the others were (and lfs kept
	// them), and goes away half way.
	p.add(blobGET(tl.blobs[2]), func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if !poll(func() bool { return len(s.kept()) == 2 }) {
			t.Error("the first two layers were never kept for resuming")
		}
		next.ServeHTTP(&cutWriter{ResponseWriter: w, limit: 512 << 10, cut: func() { go p.stop() }}, r)
	})
	before := s.storeContent(t)
	msg := checkError(t, s.runIn(t, nil, "pull", ref), []string{"pull"})
	if !containsAnyFold(msg, []string{"unreachable", "connection refused"}) {
		t.Errorf("pull from a registry that went away: %q", msg)
	}
	s.assertSameContent(t, before)

	p.clear()
	p.restart(t)
	pullResumed(t, s, p, tl, ref, "pull after the registry came back")
	if s.kept() != nil {
		t.Errorf("resume area after a complete pull: %v", s.kept())
	}
}

// kill -9 in the middle of a pull: the store is as it was and consistent;
// the next pull resumes from the layers that were complete.
func TestPullKilled(t *testing.T) {
	tl, p, s, ref := faultSetup(t)
	s.load(t, getFixtures(t).twoArchive) // something to keep

	stalled := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	p.add(blobGET(tl.blobs[2]), func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		next.ServeHTTP(&cutWriter{ResponseWriter: w, limit: 256 << 10, cut: func() {
			close(stalled)
			<-release
		}}, r)
	})
	before := s.storeContent(t)
	cmd := s.startLFS(t, "pull", ref)
	<-stalled
	await(t, "the first two layers kept", func() bool { return len(s.kept()) == 2 })
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	s.assertSameContent(t, before)
	s.mustRun(t, "system", "check")

	pullResumed(t, s, p, tl, ref, "pull after kill -9")
	if ents, _ := os.ReadDir(filepath.Join(s.root, "tmp")); len(ents) > 1 {
		t.Errorf("tmp/ after the second pull: %v", ents)
	}
}

// kill -9 in the middle of a push: the store is as it was; the next push
// sends only the blobs the registry does not have, and the same manifest.
func TestPushKilled(t *testing.T) {
	getFixtures(t)
	reg := startRegistry(t, "", "")
	tl := pushThreeLayers(t, reg, "faults/three:1")
	p := startProxy(t, reg)
	s := setup(t)
	s.mustRun(t, "pull", "-q", reg.host+"/"+tl.repo)
	dest := p.host + "/pushed/three:1"

	// Two blob uploads finish; the third stalls until lfs is killed.
	var mu sync.Mutex
	done := 0
	twoDone := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	p.add(func(r *http.Request) bool {
		return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/")
	},
		func(w http.ResponseWriter, r *http.Request, next http.Handler) {
			mu.Lock()
			done++
			n := done
			mu.Unlock()
			if n > 2 {
				<-release
				return
			}
			next.ServeHTTP(w, r)
			if n == 2 {
				close(twoDone)
			}
		})
	before := s.storeContent(t)
	cmd := s.startLFS(t, "push", reg.host+"/"+tl.repo, dest)
	<-twoDone
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	s.assertSameContent(t, before)

	p.clear()
	out := s.mustRun(t, "push", reg.host+"/"+tl.repo, dest)
	if n := strings.Count(out, ": Layer already exists"); n != 2 {
		t.Errorf("push after kill -9: %d layers already there, want 2:\n%s", n, out)
	}
	if n := strings.Count(out, ": Pushed"); n != 1 {
		t.Errorf("push after kill -9: %d layers pushed, want 1:\n%s", n, out)
	}
	if got := reg.manifestDigest(t, "pushed/three:1"); got != tl.digest {
		t.Errorf("push after kill -9: digest %s, want %s", got, tl.digest)
	}
}

// On a terminal, pull and push draw a bar per layer (mpb) and end each
// layer's line with docker's status; elsewhere they print plain lines.
func TestRegistryProgressBars(t *testing.T) {
	getFixtures(t)
	needTools(t, "script", "stty")
	reg := startRegistry(t, "", "")
	tl := pushThreeLayers(t, reg, "bars/three:1")
	p := startProxy(t, reg)
	s := setup(t)
	ref := p.host + "/" + tl.repo
	p.add(func(r *http.Request) bool {
		return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/")
	},
		func(w http.ResponseWriter, r *http.Request, next http.Handler) {
			next.ServeHTTP(&slowWriter{ResponseWriter: w, piece: 64 << 10, pause: 40 * time.Millisecond}, r)
		})
	out := ttyRun(t, s, "pull", ref)
	bar := regexp.MustCompile(`[0-9a-f]{12}: (Downloading|Pushing) +\[=*>? *\] +[0-9.]+[kM]?B/[0-9.]+MB`)
	if !strings.Contains(out, "\x1b[") || !bar.MatchString(out) || !strings.Contains(out, "Downloading") {
		t.Errorf("pull on a terminal draws no bars:\n%q", out)
	}
	for _, b := range tl.blobs {
		if !strings.Contains(out, b[7:19]+": Pull complete") {
			t.Errorf("pull on a terminal: no %s: Pull complete:\n%q", b[7:19], out)
		}
	}
	if !strings.Contains(out, "Status: Downloaded newer image for "+ref) {
		t.Errorf("pull on a terminal: no status line:\n%q", out)
	}
	// Through another address the registry is another one to lfs: the
	// blobs go up again (no mount), slowly.
	p2 := startProxy(t, reg)
	p2.add(func(r *http.Request) bool { return r.Body != nil && strings.Contains(r.URL.Path, "/blobs/uploads/") },
		func(w http.ResponseWriter, r *http.Request, next http.Handler) {
			r.Body = &slowReader{ReadCloser: r.Body, piece: 64 << 10, pause: 40 * time.Millisecond}
			next.ServeHTTP(w, r)
		})
	out = ttyRun(t, s, "push", ref, p2.host+"/bars/pushed:1")
	if !strings.Contains(out, "Pushing") || !bar.MatchString(out) || strings.Count(out, ": Pushed") < 3 {
		t.Errorf("push on a terminal:\n%q", out)
	}

	plain := s.mustRun(t, "pull", p2.host+"/bars/pushed:1")
	if strings.Contains(plain, "\x1b") || strings.Contains(plain, "Downloading") || strings.Contains(plain, "[") {
		t.Errorf("pull to a pipe prints bars:\n%q", plain)
	}
}

// ttyRun runs lfs on s under a pseudo-terminal of 40×120 (script(1)) and
// returns what it drew.
func ttyRun(t *testing.T, s *store, args ...string) string {
	t.Helper()
	cmdline := "stty rows 40 cols 120; exec " + lfsBin + " " + strings.Join(s.args(args), " ")
	cmd := exec.Command("script", "-qefc", cmdline, "/dev/null")
	cmd.Env = append(baseEnv(), "TERM=xterm")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("lfs %s on a terminal: %v\n%q", strings.Join(args, " "), err, out)
	}
	return string(out)
}
