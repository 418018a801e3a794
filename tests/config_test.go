package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeepCompressedOff: with keep-compressed = false the store keeps only
// the uncompressed tar of a gzip layer; the image ID and diff IDs survive a
// save --format oci round trip, whose manifest then names the tar.
func TestKeepCompressedOff(t *testing.T) {
	f := getFixtures(t)
	cfg := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(cfg, []byte("keep-compressed = false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newStore(t)
	env := []string{"LFS_CONFIG=" + cfg}
	r := runWith(t, opts{env: env}, s.args([]string{"load", "-i", f.ociArchive})...)
	if r.code != 0 {
		t.Fatalf("load: %d %s", r.code, r.stderr)
	}
	for _, l := range f.base.manifest.Layers {
		if _, err := os.Stat(filepath.Join(s.root, "blobs", "sha256", hexOf(l.Digest))); err == nil {
			t.Errorf("compressed blob %s kept although keep-compressed = false", l.Digest)
		}
	}
	if info := runWith(t, opts{env: env}, s.args([]string{"info"})...); !strings.Contains(info.stdout, "Keep compressed:  false") {
		t.Errorf("lfs info does not report the setting:\n%s", info.stdout)
	}
	out := filepath.Join(t.TempDir(), "oci.tar")
	if r := runWith(t, opts{env: env}, s.args([]string{"save", "--format", "oci", "-o", out, "busybox"})...); r.code != 0 {
		t.Fatalf("save: %d %s", r.code, r.stderr)
	}
	s2 := setup(t)
	s2.load(t, out)
	a, b := s.inspect(t, "busybox"), s2.inspect(t, "busybox")
	if a.Id != f.base.ID() || b.Id != a.Id || strings.Join(b.RootFS.Layers, ",") != strings.Join(a.RootFS.Layers, ",") {
		t.Errorf("round trip without compressed blobs changed the image: %s %v -> %s %v", a.Id, a.RootFS.Layers, b.Id, b.RootFS.Layers)
	}
	// A bad setting is a one-line error, not a silent default.
	os.WriteFile(cfg, []byte("keep-compressed = sometimes\n"), 0o644)
	if r := runWith(t, opts{env: env}, s.args([]string{"images"})...); r.code != 125 || !strings.Contains(r.stderr, "keep-compressed") {
		t.Errorf("bad config: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestCompletion: the scripts load in their shells and the completion
// protocol they call lists lfs's commands.
func TestCompletion(t *testing.T) {
	bash := mustRun(t, "completion", "bash")
	if !strings.Contains(bash, "complete -o filenames -F _lfs_complete lfs") {
		t.Fatalf("bash completion script:\n%s", bash)
	}
	if _, err := os.Stat("/bin/bash"); err == nil {
		p := filepath.Join(t.TempDir(), "c.bash")
		os.WriteFile(p, []byte(bash), 0o644)
		sh(t, "bash", "-n", p)
	}
	if zsh := mustRun(t, "completion", "zsh"); !strings.HasPrefix(zsh, "#compdef lfs") {
		t.Fatalf("zsh completion script:\n%s", zsh)
	}
	words := mustRun(t, "--generate-bash-completion")
	for _, c := range []string{"load", "save", "images", "rmi", "system"} {
		if !strings.Contains(words, c+"\n") {
			t.Errorf("completion words lack %q:\n%s", c, words)
		}
	}
	if _, stderr, code := run(t, "completion", "fish"); code != 125 || !strings.Contains(stderr, "fish") {
		t.Errorf("completion fish: exit %d %q", code, stderr)
	}
}
