package tests

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// registryBin is Debian's distribution registry (package docker-registry).
const registryBin = "/usr/bin/docker-registry"

// testRegistry is a docker-registry serving on 127.0.0.1 from a temp dir.
type testRegistry struct {
	host string // "127.0.0.1:PORT"
	cmd  *exec.Cmd
}

// startRegistry starts a registry for this test and stops it at cleanup.
// With user set it requires htpasswd basic auth for user:password.
func startRegistry(t *testing.T, user, password string) *testRegistry {
	t.Helper()
	return startRegistryWith(t, registryOpts{user: user, password: password})
}

// registryOpts configure a test registry.
type registryOpts struct {
	user, password  string // htpasswd basic auth, if set
	tlsCert, tlsKey string // PEM files: serve HTTPS
	auth            string // the config's auth: section as YAML, if set (token auth)
	clientCA        string // a CA file: ask clients for certificates it signed
	ip              string // where to listen, default 127.0.0.1
}

// startRegistryWith starts a registry as o says and stops it at cleanup.
func startRegistryWith(t *testing.T, o registryOpts) *testRegistry {
	t.Helper()
	user, password := o.user, o.password
	if _, err := os.Stat(registryBin); err != nil {
		t.Skipf("%s is missing (make deps installs docker-registry)", registryBin)
	}
	dir := t.TempDir()
	ip := o.ip
	if ip == "" {
		ip = "127.0.0.1"
	}
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close()
	auth := ""
	if user != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: lfs-test\n    path: %s\n", htpasswd)
	}
	if o.auth != "" {
		auth = "auth:\n" + o.auth
	}
	scheme, tlsCfg := "http", ""
	if o.tlsCert != "" {
		scheme = "https"
		tlsCfg = fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", o.tlsCert, o.tlsKey)
		if o.clientCA != "" {
			tlsCfg += fmt.Sprintf("    clientcas:\n      - %s\n", o.clientCA)
		}
	}
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n%s%s",
		filepath.Join(dir, "data"), host, tlsCfg, auth)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &testRegistry{host: host, cmd: exec.Command(registryBin, "serve", cfgPath)}
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		t.Fatal(err)
	}
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", registryBin, err)
	}
	t.Cleanup(func() { r.stop(); logf.Close() })
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := insecureClient.Get(scheme + "://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if o.clientCA != "" && !errors.Is(err, syscall.ECONNREFUSED) {
			break // up, and refusing a client without a certificate
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("registry on %s did not start: %v\n%s", host, err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return r
}

// insecureClient waits for test registries, whose certificates no one trusts.
var insecureClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}

// stop kills the registry; later connections are refused.
func (r *testRegistry) stop() {
	if r.cmd.Process != nil && r.cmd.ProcessState == nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
	}
}

// skopeoPush copies an OCI layout image to the registry and returns the
// manifest digest the registry has.
func (r *testRegistry) skopeoPush(t *testing.T, src, repoTag string, creds ...string) string {
	t.Helper()
	args := []string{"copy", "-q", "--dest-tls-verify=false"}
	if len(creds) > 0 {
		args = append(args, "--dest-creds", creds[0])
	}
	sh(t, "skopeo", append(args, src, "docker://"+r.host+"/"+repoTag)...)
	return r.manifestDigest(t, repoTag, creds...)
}

// manifestDigest is the digest of the manifest skopeo reads for repoTag.
func (r *testRegistry) manifestDigest(t *testing.T, repoTag string, creds ...string) string {
	t.Helper()
	args := []string{"inspect", "--raw", "--tls-verify=false"}
	if len(creds) > 0 {
		args = append(args, "--creds", creds[0])
	}
	raw := sh(t, "skopeo", append(args, "docker://"+r.host+"/"+repoTag)...)
	return digestOf([]byte(raw))
}

func TestPullFromRegistry(t *testing.T) {
	f := getFixtures(t)
	reg := startRegistry(t, "", "")
	s := setup(t)
	want := reg.skopeoPush(t, "oci:"+f.layout+":two", "test/two:v1")
	ref := reg.host + "/test/two:v1"

	out := s.mustRun(t, "pull", ref)
	for _, l := range []string{
		"v1: Pulling from test/two",
		f.two.manifest.Layers[0].Digest[7:19] + ": Pull complete",
		f.two.manifest.Layers[1].Digest[7:19] + ": Pull complete",
		"Digest: " + want,
		"Status: Downloaded newer image for " + ref,
	} {
		if !slices.Contains(lines(out), l) {
			t.Errorf("lfs pull output lacks %q:\n%s", l, out)
		}
	}
	if ls := lines(out); ls[len(ls)-1] != ref {
		t.Errorf("lfs pull: last line %q, want %q", ls[len(ls)-1], ref)
	}
	img := s.inspect(t, ref)
	if img.Id != f.two.ID() {
		t.Errorf("pulled image ID %s, want %s", img.Id, f.two.ID())
	}
	if !slices.Equal(img.RootFS.Layers, f.two.config.RootFS.DiffIDs) {
		t.Errorf("pulled diff IDs %v, want %v", img.RootFS.Layers, f.two.config.RootFS.DiffIDs)
	}
	if wantRD := []string{reg.host + "/test/two@" + want}; !slices.Equal(img.RepoDigests, wantRD) {
		t.Errorf("RepoDigests %v, want %v", img.RepoDigests, wantRD)
	}
	if out := s.mustRun(t, "images", "--digests", "--format", "{{.Digest}}", reg.host+"/test/two"); strings.TrimSpace(out) != want {
		t.Errorf("images --digests: %q, want %s", out, want)
	}
	s.mustRun(t, "system", "check") // exit 1 on any bad blob or layer

	// Again: nothing is fetched, nothing changes.
	before := s.snapshot(t)
	out = s.mustRun(t, "pull", ref)
	if !strings.Contains(out, "Status: Image is up to date for "+ref) || strings.Contains(out, "Pull complete") {
		t.Errorf("second pull:\n%s", out)
	}
	s.assertUnchanged(t, before)

	// A second image sharing the bottom layer: that one is not fetched.
	reg.skopeoPush(t, "oci:"+f.layout+":base", "test/base:v1")
	s2 := newStore(t)
	s2.mustRun(t, "pull", "-q", reg.host+"/test/base:v1")
	out = s2.mustRun(t, "pull", ref)
	if l := f.two.manifest.Layers[0].Digest[7:19] + ": Already exists"; !slices.Contains(lines(out), l) {
		t.Errorf("pull of an image sharing a layer lacks %q:\n%s", l, out)
	}

	// -q prints the reference only.
	s3 := newStore(t)
	if out := s3.mustRun(t, "pull", "-q", ref); out != ref+"\n" {
		t.Errorf("pull -q: %q, want %q", out, ref+"\n")
	}

	// By digest, then offline.
	byDigest := reg.host + "/test/two@" + want
	s4 := newStore(t)
	s4.mustRun(t, "pull", byDigest)
	if id := s4.id(t, byDigest); id != f.two.ID() {
		t.Errorf("pull by digest: ID %s, want %s", id, f.two.ID())
	}
	reg.stop()
	s4.mustRun(t, "pull", byDigest)
	s.mustRun(t, "pull", byDigest)
}

func TestPushToRegistry(t *testing.T) {
	f := getFixtures(t)
	reg := startRegistry(t, "", "")
	s := setup(t)
	s.load(t, f.ociArchive)
	dest := reg.host + "/pushed/busybox:1"

	out := s.mustRun(t, "push", "busybox", dest)
	short := f.base.manifest.Layers[0].Digest[7:19]
	for _, l := range []string{
		"The push refers to repository [" + reg.host + "/pushed/busybox]",
		short + ": Pushed",
		fmt.Sprintf("1: digest: %s size: ", f.base.manifestDigest),
	} {
		if !strings.Contains(out, l) {
			t.Errorf("lfs push output lacks %q:\n%s", l, out)
		}
	}
	if got := reg.manifestDigest(t, "pushed/busybox:1"); got != f.base.manifestDigest {
		t.Errorf("pushed manifest digest %s, want the loaded image's %s", got, f.base.manifestDigest)
	}
	if img := s.inspect(t, "busybox"); !slices.Contains(img.RepoDigests, reg.host+"/pushed/busybox@"+f.base.manifestDigest) {
		t.Errorf("RepoDigests after push: %v", img.RepoDigests)
	}
	out = s.mustRun(t, "push", "busybox", dest)
	if !strings.Contains(out, short+": Layer already exists") || strings.Contains(out, "Pushed") {
		t.Errorf("second push:\n%s", out)
	}

	// skopeo reads back what lfs pushed, with the same blobs.
	dir := filepath.Join(t.TempDir(), "oci")
	sh(t, "skopeo", "copy", "-q", "--src-tls-verify=false", "docker://"+dest, "oci:"+dir+":x")
	var idx ociIndex
	data, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err == nil {
		err = json.Unmarshal(data, &idx)
	}
	if err != nil || len(idx.Manifests) != 1 || idx.Manifests[0].Digest != f.base.manifestDigest {
		t.Errorf("skopeo copy of the pushed image: index %s, err %v", data, err)
	}
	// And to a plain directory (skopeo's dir:): the same manifest, and each
	// blob under the name of its digest, with those bytes.
	plain := filepath.Join(t.TempDir(), "dir")
	sh(t, "skopeo", "copy", "-q", "--src-tls-verify=false", "docker://"+dest, "dir:"+plain)
	if m, err := os.ReadFile(filepath.Join(plain, "manifest.json")); err != nil || digestOf(m) != f.base.manifestDigest {
		t.Errorf("skopeo copy to dir: manifest %s (%v), want %s", digestOf(m), err, f.base.manifestDigest)
	}
	for _, d := range append([]string{f.base.manifest.Config.Digest}, f.base.manifest.Layers[0].Digest) {
		if b, err := os.ReadFile(filepath.Join(plain, hexOf(d))); err != nil || digestOf(b) != d {
			t.Errorf("skopeo copy to dir: blob %s: %v", d, err)
		}
	}

	// A pull → push round trip keeps the digest; so does an image whose
	// layer arrived uncompressed (docker-archive): its tar is its blob.
	src := reg.skopeoPush(t, "oci:"+f.layout+":two", "test/two:v1")
	s2 := newStore(t)
	s2.mustRun(t, "pull", "-q", reg.host+"/test/two:v1")
	s2.mustRun(t, "push", reg.host+"/test/two:v1", reg.host+"/again/two:v1")
	if got := reg.manifestDigest(t, "again/two:v1"); got != src {
		t.Errorf("pull → push: digest %s, want %s", got, src)
	}
	s3 := newStore(t)
	s3.load(t, f.dockerArchive)
	s3.mustRun(t, "push", "busybox", reg.host+"/fromdocker/busybox:1")
	s4 := newStore(t)
	s4.mustRun(t, "pull", "-q", reg.host+"/fromdocker/busybox:1")
	if a, b := s3.id(t, "busybox"), s4.id(t, reg.host+"/fromdocker/busybox:1"); a != b {
		t.Errorf("docker-archive → push → pull: ID %s, want %s", b, a)
	}
}

// With keep-compressed off the store has only the tars: push gzips them and
// sends a new manifest, which pulls back to the same image.
func TestPushCompressesWhatTheStoreDidNotKeep(t *testing.T) {
	f := getFixtures(t)
	reg := startRegistry(t, "", "")
	s := setup(t)
	cfg := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(cfg, []byte("keep-compressed = false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"LFS_CONFIG=" + cfg}
	if r := runWith(t, opts{env: env}, s.args([]string{"load", "-i", f.ociArchive})...); r.code != 0 {
		t.Fatalf("load: %s", r.stderr)
	}
	r := runWith(t, opts{env: env}, s.args([]string{"push", "busybox", reg.host + "/gz/busybox:1"})...)
	if r.code != 0 {
		t.Fatalf("push: exit %d: %s", r.code, r.stderr)
	}
	s2 := newStore(t)
	s2.mustRun(t, "pull", "-q", reg.host+"/gz/busybox:1")
	if got := s2.id(t, reg.host+"/gz/busybox:1"); got != f.base.ID() {
		t.Errorf("pushed without compressed blobs, pulled back: ID %s, want %s", got, f.base.ID())
	}
}

func TestRegistryLogin(t *testing.T) {
	f := getFixtures(t)
	reg := startRegistry(t, "alice", "s3cret")
	s := setup(t)
	reg.skopeoPush(t, "oci:"+f.layout+":base", "private/base:1", "alice:s3cret")
	authFile := filepath.Join(t.TempDir(), "auth.json")
	env := []string{"REGISTRY_AUTH_FILE=" + authFile, "DOCKER_CONFIG=" + t.TempDir(), "HOME=" + t.TempDir()}
	lfs := func(stdin string, args ...string) result {
		return runWith(t, opts{env: env, stdin: strings.NewReader(stdin)}, s.args(args)...)
	}
	ref := reg.host + "/private/base:1"

	before := s.snapshot(t)
	r := lfs("", "pull", ref)
	if msg := checkError(t, r, []string{"pull", ref}); !containsAnyFold(msg, []string{"unauthorized", "authentication"}) {
		t.Errorf("pull without login: %q", msg)
	}
	s.assertUnchanged(t, before)

	r = lfs("wrong\n", "login", "-u", "alice", "--password-stdin", reg.host)
	if msg := checkError(t, r, []string{"login"}); !containsAnyFold(msg, []string{"unauthorized", "password"}) {
		t.Errorf("login with a wrong password: %q", msg)
	}
	if _, err := os.Stat(authFile); err == nil {
		t.Errorf("a failed login wrote %s", authFile)
	}

	r = lfs("s3cret\n", "login", "-u", "alice", "--password-stdin", reg.host)
	if r.code != 0 || !strings.Contains(r.stdout, "Login Succeeded") {
		t.Fatalf("login: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var cf struct {
		Auths map[string]struct{ Auth string }
	}
	data, _ := os.ReadFile(authFile)
	if err := json.Unmarshal(data, &cf); err != nil || cf.Auths[reg.host].Auth == "" {
		t.Errorf("auth file after login: %s (%v)", data, err)
	}
	if r := lfs("", "pull", "-q", ref); r.code != 0 {
		t.Fatalf("pull after login: %s", r.stderr)
	}
	// skopeo reads the same file.
	sh(t, "skopeo", "inspect", "--raw", "--tls-verify=false", "--authfile", authFile, "docker://"+ref)

	if r := lfs("", "logout", reg.host); r.code != 0 || !strings.Contains(r.stdout, "Removing login credentials for "+reg.host) {
		t.Errorf("logout: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	data, _ = os.ReadFile(authFile)
	if strings.Contains(string(data), reg.host) {
		t.Errorf("auth file after logout still names %s:\n%s", reg.host, data)
	}
	s2 := newStore(t)
	if r := runWith(t, opts{env: env}, s2.args([]string{"pull", ref})...); r.code != 125 {
		t.Errorf("pull after logout: exit %d, want 125", r.code)
	}
}

func TestRegistryBadInput(t *testing.T) {
	f := getFixtures(t)
	reg := startRegistry(t, "", "")
	s := setup(t)
	want := reg.skopeoPush(t, "oci:"+f.layout+":base", "test/base:1")
	s.load(t, f.twoArchive)
	wrong := "sha256:" + strings.Repeat("0", 64)

	s.mustFail(t, nil, []string{"not found", "unknown"}, "pull", reg.host+"/test/nope:1")
	s.mustFail(t, nil, []string{"not found", "unknown"}, "pull", reg.host+"/test/base:nope")
	s.mustFail(t, nil, []string{"not found", "unknown"}, "pull", reg.host+"/test/base@"+wrong)
	s.mustFail(t, nil, []string{"invalid"}, "pull", "UPPER/case")
	s.mustFail(t, nil, []string{"platform"}, "pull", "--platform", "nonsense", reg.host+"/test/base:1")
	s.mustFail(t, nil, []string{"s390x"}, "pull", "--platform", "linux/s390x", reg.host+"/test/base:1")
	s.mustFail(t, nil, []string{"no such image"}, "push", "nothere", reg.host+"/x/y:1")
	s.mustFail(t, nil, []string{"digest"}, "push", "two", reg.host+"/x/y@"+want)

	// Nothing listens on this port.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	s.mustFail(t, nil, []string{"connection refused", "unreachable"}, "pull", dead+"/test/base:1")
	s.mustFail(t, nil, []string{"connection refused", "unreachable"}, "push", "two", dead+"/x/y:1")
}

func TestRegistrySearch(t *testing.T) {
	f := getFixtures(t)
	reg := startRegistry(t, "", "")
	s := setup(t)
	reg.skopeoPush(t, "oci:"+f.layout+":base", "lib/busybox:1")
	reg.skopeoPush(t, "oci:"+f.layout+":two", "lib/busybox:2")
	reg.skopeoPush(t, "oci:"+f.layout+":two", "other/thing:x")

	header, rows := table(t, s.mustRun(t, "search", reg.host+"/busy"))
	if !slices.Equal(header, []string{"NAME", "TAGS"}) || len(rows) != 1 || rows[0][0] != reg.host+"/lib/busybox" || rows[0][1] != "1, 2" {
		t.Errorf("search busy: %v %v", header, rows)
	}
	if out := s.mustRun(t, "search", "--format", "{{.Name}}", reg.host+"/"); len(lines(out)) != 2 {
		t.Errorf("search everything: %q", out)
	}
	if out := s.mustRun(t, "search", "--limit", "1", "--format", "{{.Name}}", reg.host+"/"); len(lines(out)) != 1 {
		t.Errorf("search --limit 1: %q", out)
	}
	s.mustFail(t, nil, []string{"registry"}, "search", "busybox")
}

// --all-tags pulls every tag of a repository, as docker does, and names
// the repository at the end; a tag beside it is refused.
func TestPullAllTags(t *testing.T) {
	f := getFixtures(t)
	reg := startRegistry(t, "", "")
	s := setup(t)
	reg.skopeoPush(t, "oci:"+f.layout+":base", "multi/img:1")
	reg.skopeoPush(t, "oci:"+f.layout+":two", "multi/img:2")
	repo := reg.host + "/multi/img"
	out := s.mustRun(t, "pull", "--all-tags", repo)
	for _, l := range []string{"1: Pulling from multi/img", "2: Pulling from multi/img", "Status: Downloaded newer image for " + repo} {
		if !slices.Contains(lines(out), l) {
			t.Errorf("pull --all-tags lacks %q:\n%s", l, out)
		}
	}
	if ls := lines(out); ls[len(ls)-1] != repo {
		t.Errorf("pull --all-tags: last line %q, want %q", ls[len(ls)-1], repo)
	}
	if a, b := s.id(t, repo+":1"), s.id(t, repo+":2"); a != f.base.ID() || b != f.two.ID() {
		t.Errorf("pull --all-tags: tags are %s and %s, want %s and %s", a, b, f.base.ID(), f.two.ID())
	}
	if out := s.mustRun(t, "pull", "-a", repo); !strings.Contains(out, "Status: Image is up to date for "+repo) {
		t.Errorf("second pull --all-tags:\n%s", out)
	}
	s.mustFail(t, nil, []string{"tag", "all-tags"}, "pull", "--all-tags", repo+":1")
}

// skopeo pushes the busybox image; lfs pulls it and runs it.
func TestPullThenRun(t *testing.T) {
	needFUSE(t)
	f := getFixtures(t)
	reg := startRegistry(t, "", "")
	s := setup(t)
	reg.skopeoPush(t, "oci:"+f.layout+":base", "run/busybox:1")
	ref := reg.host + "/run/busybox:1"
	s.mustRun(t, "pull", "-q", ref)
	t.Cleanup(func() {
		for _, mp := range mountsUnder(s.root) {
			t.Errorf("still mounted after lfs run: %s", mp)
			exec.Command("umount", "-l", mp).Run()
		}
	})
	if out := s.mustRun(t, "run", "--rm", ref, "sh", "-c", "echo pulled and running; cat /etc/os-release 2>/dev/null | head -1"); !strings.HasPrefix(out, "pulled and running\n") {
		t.Errorf("lfs run of a pulled image: %q", out)
	}
}

// A registry that refuses its catalog gets a message that says so; one
// that pages it (here one repository a page) is read to the end.
func TestSearchCatalog(t *testing.T) {
	f := getFixtures(t)
	reg := startRegistry(t, "", "")
	s := setup(t)
	for _, r := range []string{"a/one:1", "b/two:1", "c/three:1"} {
		reg.skopeoPush(t, "oci:"+f.layout+":base", r)
	}
	p := startProxy(t, reg)
	catalog := func(r *http.Request) bool { return r.URL.Path == "/v2/_catalog" }
	p.add(catalog, func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		q := r.URL.Query()
		q.Set("n", "1")
		r.URL.RawQuery = q.Encode()
		next.ServeHTTP(w, r)
	})
	out := s.mustRun(t, "search", "--format", "{{.Name}} {{.Tags}}", p.host+"/")
	want := []string{p.host + "/a/one 1", p.host + "/b/two 1", p.host + "/c/three 1"}
	if !slices.Equal(lines(out), want) {
		t.Errorf("search of a paged catalog: %q, want %q", lines(out), want)
	}
	if n := p.count("GET", "/v2/_catalog"); n < 3 {
		t.Errorf("the catalog was read in %d pages, want 3 or more", n)
	}
	if out := s.mustRun(t, "search", "--limit", "2", "--format", "json", p.host+"/"); len(lines(out)) != 2 || !strings.Contains(out, `"Name":"`+p.host+`/a/one"`) {
		t.Errorf("search --limit 2 --format json: %q", out)
	}

	p.clear()
	p.add(catalog, func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"catalog is not public"}]}`))
	})
	msg := s.mustFail(t, nil, []string{"catalog"}, "search", p.host+"/one")
	if !strings.Contains(msg, "does not list its catalog") || !strings.Contains(msg, "401") {
		t.Errorf("search of a registry that refuses its catalog: %q", msg)
	}
}

// An image index (skopeo copy --all): lfs pulls the host's platform by
// default and another with --platform, records the index's digest as the
// repo digest, and refuses a platform the index lacks.
func TestPullIndexPlatforms(t *testing.T) {
	getFixtures(t)
	reg := startRegistry(t, "", "")
	s := setup(t)
	dir := filepath.Join(t.TempDir(), "layout")
	var imgs []image
	for _, arch := range []string{"amd64", "arm64"} {
		l := gzipLayer(mkTar(t, file("arch", arch+"\n")))
		var c imageConfig
		c.Architecture, c.OS = arch, "linux"
		c.RootFS.Type, c.RootFS.DiffIDs = "layers", []string{l.diffID}
		cfg, _ := json.Marshal(c)
		imgs = append(imgs, image{layers: []layer{l}, config: cfg})
	}
	ids, err := writeOCILayout(dir, layoutOpts{}, imgs...)
	if err != nil {
		t.Fatal(err)
	}
	// The layout's index.json lists the two manifests; make them one
	// image index blob, with platforms, and name that.
	var top ociIndex
	data, _ := os.ReadFile(filepath.Join(dir, "index.json"))
	json.Unmarshal(data, &top)
	type platformDesc struct {
		descriptor
		Platform map[string]string `json:"platform"`
	}
	idx := struct {
		SchemaVersion int            `json:"schemaVersion"`
		MediaType     string         `json:"mediaType"`
		Manifests     []platformDesc `json:"manifests"`
	}{2, "application/vnd.oci.image.index.v1+json", nil}
	for i, m := range top.Manifests {
		m.Annotations = nil
		idx.Manifests = append(idx.Manifests, platformDesc{m, map[string]string{"os": "linux", "architecture": []string{"amd64", "arm64"}[i]}})
	}
	ib, _ := json.Marshal(idx)
	if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", hexOf(digestOf(ib))), ib, 0o644); err != nil {
		t.Fatal(err)
	}
	top.Manifests = []descriptor{{MediaType: idx.MediaType, Digest: digestOf(ib), Size: int64(len(ib)), Annotations: map[string]string{"org.opencontainers.image.ref.name": "multi"}}}
	tb, _ := json.Marshal(top)
	if err := os.WriteFile(filepath.Join(dir, "index.json"), tb, 0o644); err != nil {
		t.Fatal(err)
	}
	sh(t, "skopeo", "copy", "-q", "--all", "--dest-tls-verify=false", "oci:"+dir+":multi", "docker://"+reg.host+"/multi/arch:1")
	ref := reg.host + "/multi/arch:1"
	if got := reg.manifestDigest(t, "multi/arch:1"); got != digestOf(ib) {
		t.Fatalf("the registry's index is %s, want %s", got, digestOf(ib))
	}

	s.mustRun(t, "pull", "-q", ref)
	if runtime.GOARCH == "amd64" {
		if id := s.id(t, ref); id != ids[0] {
			t.Errorf("default platform: pulled %s, want the amd64 image %s", id, ids[0])
		}
	}
	s2 := newStore(t)
	out := s2.mustRun(t, "pull", "--platform", "linux/arm64", ref)
	if !slices.Contains(lines(out), "Digest: "+digestOf(ib)) {
		t.Errorf("pull --platform: the digest printed is not the index's:\n%s", out)
	}
	img := s2.inspect(t, ref)
	if img.Id != ids[1] || !slices.Equal(img.RepoDigests, []string{reg.host + "/multi/arch@" + digestOf(ib)}) {
		t.Errorf("pull --platform linux/arm64: %s %v, want %s and the index digest", img.Id, img.RepoDigests, ids[1])
	}
	s2.mustFail(t, nil, []string{"ppc64le", "no matching manifest"}, "pull", "--platform", "linux/ppc64le", ref)
}
