package tests

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// registry-mirrors in the configuration: a docker.io name is pulled from
// the first mirror that has it (a dead one is passed over) and stored
// under its docker.io name; docker.io itself is never asked.
func TestPullFromMirror(t *testing.T) {
	f := getFixtures(t)
	reg := startRegistry(t, "", "")
	s := setup(t)
	want := reg.skopeoPush(t, "oci:"+f.layout+":base", "library/mirrored:1")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	cfg := filepath.Join(t.TempDir(), "config.toml")
	data := fmt.Sprintf("registry-mirrors = [\"http://%s\", \"http://%s\"]\n", dead, reg.host)
	if err := os.WriteFile(cfg, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runWith(t, opts{env: []string{"LFS_CONFIG=" + cfg}}, s.args([]string{"pull", "mirrored:1"})...)
	if r.code != 0 {
		t.Fatalf("pull through a mirror: exit %d: %s", r.code, r.stderr)
	}
	for _, l := range []string{"1: Pulling from library/mirrored", "Digest: " + want, "Status: Downloaded newer image for mirrored:1", "docker.io/library/mirrored:1"} {
		if !slices.Contains(lines(r.stdout), l) {
			t.Errorf("pull through a mirror: output lacks %q:\n%s", l, r.stdout)
		}
	}
	img := s.inspect(t, "docker.io/library/mirrored:1")
	if img.Id != f.base.ID() {
		t.Errorf("pulled through a mirror: ID %s, want %s", img.Id, f.base.ID())
	}
	if rd := []string{"mirrored@" + want}; !slices.Equal(img.RepoDigests, rd) && !slices.Equal(img.RepoDigests, []string{"docker.io/library/mirrored@" + want}) {
		t.Errorf("RepoDigests %v, want docker.io's name", img.RepoDigests)
	}
}
