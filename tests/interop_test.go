package tests

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestPodmanLoadsSaved: podman (containers/image, as docker and skopeo use
// for these formats) loads both archive formats lfs writes, under the same
// name and image ID.
func TestPodmanLoadsSaved(t *testing.T) {
	needTools(t, "podman")
	f := getFixtures(t)
	s := setup(t)
	s.load(t, f.dockerArchive)
	id := s.id(t, "busybox")
	for _, format := range []string{"docker", "oci"} {
		out := filepath.Join(t.TempDir(), format+".tar")
		s.mustRun(t, "save", "--format", format, "-o", out, "busybox")
		pm := t.TempDir()
		podman := []string{"--root", filepath.Join(pm, "root"), "--runroot", filepath.Join(pm, "run"), "--storage-driver", "vfs"}
		loaded := sh(t, "podman", append(podman, "load", "-i", out)...)
		if !strings.Contains(loaded, "docker.io/library/busybox:latest") {
			t.Errorf("podman load of lfs save --format %s: %s", format, loaded)
		}
		got := strings.TrimSpace(sh(t, "podman", append(podman, "image", "inspect", "--format", "{{.Id}}", "busybox")...))
		if "sha256:"+got != id && got != id {
			t.Errorf("podman sees image %s after lfs save --format %s, lfs has %s", got, format, id)
		}
		sh(t, "podman", append(podman, "rmi", "-a", "-f")...)
	}
}
