package tests

import (
	"encoding/json"
	"strings"
	"testing"
)

// rawManifest is what skopeo reads for repoTag, as the registry has it.
func (r *testRegistry) rawManifest(t *testing.T, repoTag string) ociManifestTypes {
	t.Helper()
	raw := sh(t, "skopeo", "inspect", "--raw", "--tls-verify=false", "docker://"+r.host+"/"+repoTag)
	var m ociManifestTypes
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatalf("manifest of %s: %v\n%s", repoTag, err, raw)
	}
	return m
}

type ociManifestTypes struct {
	MediaType string
	Config    struct{ MediaType, Digest string }
	Layers    []struct{ MediaType, Digest string }
}

// push --compression-format zstd sends zstd layers under an OCI manifest
// that pulls back to the same image; the zstd blobs are kept, so a second
// push compresses nothing and sends nothing.
func TestPushZstd(t *testing.T) {
	f := getFixtures(t)
	reg := startRegistry(t, "", "")
	s := setup(t)
	s.load(t, f.dockerArchive) // its layer arrived as a plain tar
	dest := reg.host + "/z/busybox:1"

	out := s.mustRun(t, "push", "--compression-format", "zstd", "busybox", dest)
	if !strings.Contains(out, "Compressing (zstd)") || !strings.Contains(out, ": Pushed") {
		t.Errorf("push --compression-format zstd:\n%s", out)
	}
	m := reg.rawManifest(t, "z/busybox:1")
	if m.MediaType != "application/vnd.oci.image.manifest.v1+json" || len(m.Layers) == 0 {
		t.Fatalf("pushed manifest: %+v", m)
	}
	for _, l := range m.Layers {
		if l.MediaType != "application/vnd.oci.image.layer.v1.tar+zstd" {
			t.Errorf("pushed layer %s has media type %s, want zstd", l.Digest, l.MediaType)
		}
	}
	digest := reg.manifestDigest(t, "z/busybox:1")
	if !strings.Contains(out, "1: digest: "+digest) {
		t.Errorf("push printed another digest than the registry's %s:\n%s", digest, out)
	}

	// Again: the zstd forms are stored, the manifest is the same, nothing moves.
	out = s.mustRun(t, "push", "--compression-format", "zstd", "busybox", dest)
	if strings.Contains(out, "Compressing") || strings.Contains(out, "Pushed") || !strings.Contains(out, ": Layer already exists") {
		t.Errorf("second zstd push is not a no-op:\n%s", out)
	}
	if !strings.Contains(out, "1: digest: "+digest) {
		t.Errorf("second zstd push: digest changed from %s:\n%s", digest, out)
	}
	s.mustRun(t, "system", "check")

	s2 := newStore(t)
	s2.mustRun(t, "pull", "-q", dest)
	if a, b := s.id(t, "busybox"), s2.id(t, dest); a != b {
		t.Errorf("zstd push → pull: ID %s, want %s", b, a)
	}

	// And gzip from the same store: the gzip form is made once, too.
	out = s.mustRun(t, "push", "--compression-format", "gzip", "busybox", reg.host+"/g/busybox:1")
	for _, l := range reg.rawManifest(t, "g/busybox:1").Layers {
		if !strings.HasSuffix(l.MediaType, "gzip") {
			t.Errorf("gzip push: layer %s has media type %s\n%s", l.Digest, l.MediaType, out)
		}
	}
	s.mustFail(t, nil, []string{"compression"}, "push", "--compression-format", "lz4", "busybox", dest)
}

// A second repository of the same registry gets the layers by a mount from
// the first, and says so as docker does.
func TestPushMountsFromAnotherRepository(t *testing.T) {
	f := getFixtures(t)
	reg := startRegistry(t, "", "")
	s := setup(t)
	s.load(t, f.ociArchive)
	short := f.base.manifest.Layers[0].Digest[7:19]

	s.mustRun(t, "push", "busybox", reg.host+"/team-a/busybox:1")
	out := s.mustRun(t, "push", "busybox", reg.host+"/team-b/busybox:1")
	if !strings.Contains(out, short+": Mounted from team-a/busybox") || strings.Contains(out, "Pushed") {
		t.Errorf("push to a second repository:\n%s", out)
	}
	if got := reg.manifestDigest(t, "team-b/busybox:1"); got != f.base.manifestDigest {
		t.Errorf("mounted push: digest %s, want %s", got, f.base.manifestDigest)
	}
	// What was mounted is there: skopeo copies it out.
	sh(t, "skopeo", "copy", "-q", "--src-tls-verify=false", "docker://"+reg.host+"/team-b/busybox:1", "oci:"+t.TempDir()+":x")
}
