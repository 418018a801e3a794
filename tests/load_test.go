package tests

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestLoad loads every archive kind, from a file and from stdin, and checks
// the lines lfs prints and the image it made.
func TestLoad(t *testing.T) {
	f := getFixtures(t)
	baseLayers := f.base.config.RootFS.DiffIDs
	cases := []struct {
		name    string
		archive string
		dir     bool // an OCI layout directory: -i only
		want    []string
		ref     string // the name to inspect
		id      string
		layers  []string
	}{
		{"docker-archive", f.dockerArchive, false, []string{"Loaded image: busybox:latest"}, "busybox:latest", f.base.ID(), baseLayers},
		{"oci-archive", f.ociArchive, false, []string{"Loaded image: busybox:latest"}, "busybox:latest", f.base.ID(), baseLayers},
		{"oci-dir", f.ociDir, true, []string{"Loaded image: busybox:latest"}, "busybox:latest", f.base.ID(), baseLayers},
		{"oci-archive-zstd", f.zstdArchive, false, []string{"Loaded image: bbz:latest"}, "bbz:latest", f.base.ID(), baseLayers},
		{"oci-archive-plain-tar", f.plainOCI, false, []string{"Loaded image: plain:latest"}, "plain:latest", f.plainID, []string{f.rootfsDigest}},
		{"docker25-layout", f.docker25, false, []string{"Loaded image: d25:latest"}, "d25:latest", f.docker25ID, []string{f.rootfsDigest}},
		{"registry-name", f.registryTagged, false, []string{"Loaded image: localhost:5000/x:1"}, "localhost:5000/x:1", f.base.ID(), baseLayers},
		{"two-layers", f.twoArchive, false, []string{"Loaded image: two:latest"}, "two:latest", f.two.ID(), f.two.config.RootFS.DiffIDs},
		{"untagged", f.untagged, false, []string{"Loaded image ID: " + f.two.ID()}, f.two.ID(), f.two.ID(), f.two.config.RootFS.DiffIDs},
	}
	for _, c := range cases {
		for _, stdin := range []bool{false, true} {
			if stdin && c.dir {
				continue
			}
			name := c.name + "/file"
			if stdin {
				name = c.name + "/stdin"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				s := newStore(t)
				var out string
				if stdin {
					in, err := os.Open(c.archive)
					if err != nil {
						t.Fatal(err)
					}
					defer in.Close()
					out = s.mustRunIn(t, in, "load")
				} else {
					out = s.load(t, c.archive)
				}
				if got := lines(out); !slices.Equal(got, c.want) {
					t.Errorf("lfs load printed %q, want %q", got, c.want)
				}
				img := s.inspect(t, c.ref)
				if img.Id != c.id {
					t.Errorf("image ID %s, want %s", img.Id, c.id)
				}
				if !slices.Equal(img.RootFS.Layers, c.layers) {
					t.Errorf("RootFS.Layers %q, want %q", img.RootFS.Layers, c.layers)
				}
				if img.RootFS.Type != "layers" {
					t.Errorf("RootFS.Type %q, want layers", img.RootFS.Type)
				}
				for _, l := range img.RootFS.Layers {
					if _, err := os.Stat(filepath.Join(s.root, "layers", "sha256", hexOf(l), "layer.tar")); err != nil {
						t.Errorf("layer %s not in the store: %v", l, err)
					}
				}
				checkClean(t, s)
			})
		}
	}
}

// TestLoadQuiet: -q still loads.
func TestLoadQuiet(t *testing.T) {
	s := setup(t)
	f := getFixtures(t)
	s.mustRun(t, "load", "-q", "-i", f.ociArchive)
	if id := s.id(t, "busybox"); id != f.base.ID() {
		t.Errorf("image ID %s, want %s", id, f.base.ID())
	}
}

// TestLoadTwice: loading the same archive again changes nothing but prints
// the same lines.
func TestLoadTwice(t *testing.T) {
	s := setup(t)
	f := getFixtures(t)
	first := s.load(t, f.dockerArchive)
	before := s.snapshot(t)
	second := s.load(t, f.dockerArchive)
	if first != second {
		t.Errorf("second load printed %q, first %q", second, first)
	}
	s.assertUnchanged(t, before)
}

// checkClean runs lfs system check and fails the test unless it is clean.
func checkClean(t *testing.T, s *store) {
	t.Helper()
	stdout, stderr, code := s.run(t, "system", "check")
	if code != 0 || !strings.Contains(stdout, "OK") {
		t.Errorf("lfs system check: exit %d, want 0 and OK\nstdout: %s\nstderr: %s", code, clip(stdout), clip(stderr))
	}
}

// TestSaveLoadRoundTrip saves images in docker format, to a file and to
// stdout, loads them in a fresh store and compares everything an image ID
// promises: the ID, the diff IDs, the config and its bytes.
func TestSaveLoadRoundTrip(t *testing.T) {
	a := setup(t)
	f := getFixtures(t)
	a.load(t, f.dockerArchive)
	a.load(t, f.twoArchive)
	a.mustRun(t, "tag", "busybox:latest", "extra:1")
	refs := []string{"busybox:latest", "extra:1", "two:latest"}

	for _, toStdout := range []bool{false, true} {
		name := "file"
		if toStdout {
			name = "stdout"
		}
		t.Run(name, func(t *testing.T) {
			archive := filepath.Join(t.TempDir(), "saved.tar")
			if toStdout {
				out := a.mustRun(t, append([]string{"save"}, refs...)...)
				if err := os.WriteFile(archive, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			} else {
				a.mustRun(t, append([]string{"save", "-o", archive}, refs...)...)
			}

			// The archive itself: each config stored byte for byte.
			members := readTar(t, archive)
			var dm []dockerManifestEntry
			if err := json.Unmarshal(members["manifest.json"], &dm); err != nil {
				t.Fatalf("manifest.json: %v", err)
			}
			if len(dm) != 2 {
				t.Errorf("manifest.json has %d images, want 2", len(dm))
			}
			wantCfg := map[string][]byte{f.base.ID(): f.base.configBytes, f.two.ID(): f.two.configBytes}
			for _, e := range dm {
				cfg, ok := members[e.Config]
				if !ok {
					t.Errorf("manifest.json names config %s, not in the archive", e.Config)
					continue
				}
				want, ok := wantCfg[digestOf(cfg)]
				if !ok || !bytes.Equal(cfg, want) {
					t.Errorf("config %s (digest %s) is none of the source configs", e.Config, digestOf(cfg))
				}
				for _, l := range e.Layers {
					if _, ok := members[l]; !ok {
						t.Errorf("manifest.json names layer %s, not in the archive", l)
					}
				}
			}

			b := newStore(t)
			out := b.load(t, archive)
			want := []string{"Loaded image: busybox:latest", "Loaded image: extra:1", "Loaded image: two:latest"}
			got := lines(out)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("load printed %q, want %q (in any order)", got, want)
			}
			for _, ref := range refs {
				for _, format := range []string{"{{.Id}}", "{{json .RootFS}}", "{{json .Config}}", "{{.Created}}", "{{.Architecture}}/{{.Os}}", "{{.Comment}}"} {
					wa := a.mustRun(t, "inspect", "--format", format, ref)
					wb := b.mustRun(t, "inspect", "--format", format, ref)
					if wa != wb {
						t.Errorf("%s %s: saved %q, loaded %q", ref, format, wa, wb)
					}
				}
				ha := a.mustRun(t, "history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Comment}}", ref)
				hb := b.mustRun(t, "history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Comment}}", ref)
				if ha != hb {
					t.Errorf("%s history: saved %q, loaded %q", ref, ha, hb)
				}
			}
			checkClean(t, b)
		})
	}
}

// TestSaveOCIKeepsDigests: --format oci of an image loaded from an OCI
// archive reproduces the source's manifest, config and layer digests, as
// skopeo reads them; for gzip and zstd layers alike.
func TestSaveOCIKeepsDigests(t *testing.T) {
	setup(t)
	f := getFixtures(t)
	for _, c := range []struct{ name, archive, ref string }{
		{"gzip", f.ociArchive, "busybox:latest"},
		{"zstd", f.zstdArchive, "bbz:latest"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			s.load(t, c.archive)
			saved := filepath.Join(t.TempDir(), "saved-oci.tar")
			s.mustRun(t, "save", "-o", saved, "--format", "oci", c.ref)

			srcRaw := []byte(sh(t, "skopeo", "inspect", "--raw", "oci-archive:"+c.archive))
			raw := []byte(sh(t, "skopeo", "inspect", "--raw", "oci-archive:"+saved))
			if digestOf(raw) != digestOf(srcRaw) {
				t.Errorf("saved manifest digest %s, source %s\nsaved: %s\nsource: %s", digestOf(raw), digestOf(srcRaw), raw, srcRaw)
			}
			cfg := []byte(sh(t, "skopeo", "inspect", "--config", "--raw", "oci-archive:"+saved))
			if id := s.id(t, c.ref); digestOf(cfg) != id {
				t.Errorf("saved config digest %s, lfs inspect Id %s", digestOf(cfg), id)
			}
			var m ociManifest
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatalf("saved manifest: %v", err)
			}
			var sm ociManifest
			json.Unmarshal(srcRaw, &sm)
			if len(m.Layers) != len(sm.Layers) {
				t.Fatalf("saved manifest has %d layers, source %d", len(m.Layers), len(sm.Layers))
			}
			for i := range m.Layers {
				if m.Layers[i].Digest != sm.Layers[i].Digest || m.Layers[i].MediaType != sm.Layers[i].MediaType {
					t.Errorf("layer %d: saved %s %s, source %s %s", i, m.Layers[i].MediaType, m.Layers[i].Digest, sm.Layers[i].MediaType, sm.Layers[i].Digest)
				}
			}
			// And lfs reads its own OCI archive back to the same image.
			b := newStore(t)
			b.load(t, saved)
			if a, b := s.id(t, c.ref), b.id(t, c.ref); a != b {
				t.Errorf("reloaded image ID %s, saved %s", b, a)
			}
		})
	}
}

// TestSkopeoReadsSaved: skopeo reads lfs's archives of both formats, sees
// the config digest and diff IDs lfs inspect reports, and copies them into
// an OCI layout.
func TestSkopeoReadsSaved(t *testing.T) {
	s := setup(t)
	f := getFixtures(t)
	s.load(t, f.twoArchive)
	img := s.inspect(t, "two:latest")
	tmp := t.TempDir()
	docker := filepath.Join(tmp, "docker.tar")
	oci := filepath.Join(tmp, "oci.tar")
	s.mustRun(t, "save", "-o", docker, "two:latest")
	s.mustRun(t, "save", "-o", oci, "--format", "oci", "two:latest")

	var si struct{ Layers []string }
	if err := json.Unmarshal([]byte(sh(t, "skopeo", "inspect", "docker-archive:"+docker)), &si); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(si.Layers, img.RootFS.Layers) {
		t.Errorf("skopeo inspect docker-archive: layers %q, lfs diff IDs %q", si.Layers, img.RootFS.Layers)
	}
	for _, src := range []string{"docker-archive:" + docker, "oci-archive:" + oci} {
		cfg := []byte(sh(t, "skopeo", "inspect", "--config", "--raw", src))
		if digestOf(cfg) != img.Id {
			t.Errorf("skopeo inspect --config %s: digest %s, lfs Id %s", src, digestOf(cfg), img.Id)
		}
		var c imageConfig
		if err := json.Unmarshal(cfg, &c); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.RootFS.DiffIDs, img.RootFS.Layers) {
			t.Errorf("%s: config diff IDs %q, lfs %q", src, c.RootFS.DiffIDs, img.RootFS.Layers)
		}
		transport := strings.SplitN(src, ":", 2)[0]
		dst := "oci:" + filepath.Join(tmp, "copy") + ":" + transport
		sh(t, "skopeo", "copy", "-q", src, dst)
		cfg = []byte(sh(t, "skopeo", "inspect", "--config", "--raw", dst))
		// skopeo re-encodes a Docker config as it converts it to OCI (it
		// does so for its own docker-archives too), so only an OCI source
		// keeps the config digest; the diff IDs survive both.
		if transport == "oci-archive" && digestOf(cfg) != img.Id {
			t.Errorf("skopeo copy %s %s: config digest %s, want %s", src, dst, digestOf(cfg), img.Id)
		}
		c = imageConfig{}
		if err := json.Unmarshal(cfg, &c); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.RootFS.DiffIDs, img.RootFS.Layers) {
			t.Errorf("skopeo copy %s %s: diff IDs %q, lfs %q", src, dst, c.RootFS.DiffIDs, img.RootFS.Layers)
		}
	}
}

// readTar reads a tar's regular files, following symlinks between members
// (skopeo's docker-archive links layer.tar to the layer file).
func readTar(t *testing.T, path string) map[string][]byte {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	members := map[string][]byte{}
	links := map[string]string{}
	tr := tar.NewReader(fh)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read %s: %v", path, err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		switch h.Typeflag {
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatalf("read %s: %s: %v", path, h.Name, err)
			}
			members[name] = b
		case tar.TypeSymlink:
			links[name] = filepath.Join(filepath.Dir(name), h.Linkname)
		case tar.TypeLink:
			links[name] = strings.TrimPrefix(h.Linkname, "./")
		}
	}
	for name, target := range links {
		if b, ok := members[target]; ok {
			members[name] = b
		}
	}
	return members
}
