package tests

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildRootless: an unprivileged user with subordinate ids builds an
// image whose RUN steps run as root of the user namespace and chown files
// to other users, as a package install does; the layers hold the
// container's owners (as rootless buildah's do), the build cache works,
// and nothing stays mounted.
func TestBuildRootless(t *testing.T) {
	needFUSE(t)
	f := getFixtures(t)
	u := rootlessUser(t, "lfs-rootless", true)
	s := u.store(t)
	u.mustRun(t, s, "import", "--change", `CMD ["sh"]`, f.rootfs, "busybox:latest")
	ctx, err := os.MkdirTemp("", "lfs-rootless-ctx-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(ctx) })
	os.Chmod(ctx, 0o755)
	dockerfile := `FROM busybox
RUN id -u > /uid && echo app:x:1000:1000::/home/app:/bin/sh >> /etc/passwd && echo app:x:1000: >> /etc/group && \
    mkdir -p /home/app && chown app:app /home/app && touch /owned && chown 1000:1000 /owned
COPY --chown=1000:1000 note /home/app/note
USER app
RUN echo made by $(id -u) > /home/app/by
`
	for name, body := range map[string]string{"Dockerfile": dockerfile, "note": "hi\n"} {
		if err := os.WriteFile(filepath.Join(ctx, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := u.run(t, s, nil, "build", "-t", "rl-built", ctx)
	if r.code != 0 {
		t.Fatalf("rootless lfs build: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	out := u.mustRun(t, s, "run", "--rm", "rl-built", "sh", "-c",
		"cat /uid /home/app/by; stat -c '%n %u:%g' /owned /home/app /home/app/note /home/app/by")
	want := "0\nmade by 1000\n/owned 1000:1000\n/home/app 1000:1000\n/home/app/note 1000:1000\n/home/app/by 1000:1000\n"
	if out != want {
		t.Errorf("run of the rootless build:\n%s\nwant:\n%s", out, want)
	}
	// The layer itself, as another tool would read it.
	exp := u.mustRun(t, s, "save", "rl-built")
	if !bytes.Contains([]byte(exp), []byte("owned")) {
		t.Errorf("lfs save of the rootless build holds no /owned")
	}
	// A second build is all cache hits, and leaves no container behind.
	r = u.run(t, s, nil, "build", "-t", "rl-built", ctx)
	if r.code != 0 || strings.Count(r.stdout, "Using cache") != 4 {
		t.Errorf("second rootless build: exit %d, %d cache hits, want 4\n%s\n%s", r.code, strings.Count(r.stdout, "Using cache"), r.stdout, r.stderr)
	}
	if ps := u.mustRun(t, s, "ps", "-aq"); ps != "" {
		t.Errorf("containers left behind: %q", ps)
	}
	for _, mp := range mountsUnder(s.root) {
		t.Errorf("still mounted after a rootless build: %s", mp)
	}
}
