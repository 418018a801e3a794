package tests

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// everyDockerfile uses every instruction lfs build knows. WORKDIR names a
// directory a RUN made: buildah makes a missing one lazily, docker (and
// lfs) in a layer of the WORKDIR step, which TestBuildHelloWorld and the
// unit tests cover.
const everyDockerfile = `ARG BASE=busybox
FROM $BASE AS base
RUN echo base > /base.txt

FROM base
MAINTAINER Jane Doe <jane@example.com>
ARG GREETING=hello
ENV APP=/app PATH=/app/bin:$PATH
ENV OLD value
LABEL org.example.name="demo app" org.example.greeting=$GREETING
EXPOSE 8080 53/udp
RUN mkdir /app
WORKDIR /app
COPY --chown=nobody:nogroup --chmod=0640 files/ ./files/
COPY files/a.txt /app/
COPY --from=0 /base.txt /from-stage.txt
ADD archive.tar.gz /app/unpacked/
ADD data.txt /app/data.txt
RUN echo "$GREETING from $(pwd)" > greeting.txt && chown nobody /app/greeting.txt && ln -s greeting.txt /app/link
RUN ["sh", "-c", "echo exec form > exec.txt"]
SHELL ["/bin/sh", "-e", "-c"]
RUN echo shell > shell.txt
VOLUME ["/data", "/cache"]
USER nobody
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s --retries=2 CMD cat /app/greeting.txt
ONBUILD RUN echo triggered > /onbuild.txt
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/greeting.txt; id -u; pwd; echo $APP $OLD"]
`

// everyHistory is what docker's classic builder writes as created_by for
// everyDockerfile's steps after the base image's (lfs's form);
// "HASH" stands for a source digest.
var everyHistory = []string{
	`/bin/sh -c echo base > /base.txt`,
	`/bin/sh -c #(nop)  MAINTAINER Jane Doe <jane@example.com>`,
	`/bin/sh -c #(nop)  ARG GREETING=hello`,
	`/bin/sh -c #(nop)  ENV APP=/app PATH=/app/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
	`/bin/sh -c #(nop)  ENV OLD=value`,
	`/bin/sh -c #(nop)  LABEL org.example.name=demo app org.example.greeting=hi`,
	`/bin/sh -c #(nop)  EXPOSE 53/udp 8080`, // buildkit's parser sorts the ports, for docker too
	`|1 GREETING=hi /bin/sh -c mkdir /app`,
	`/bin/sh -c #(nop) WORKDIR /app`,
	`/bin/sh -c #(nop) COPY --chown=nobody:nogroupdir:HASH in ./files/ `,
	`/bin/sh -c #(nop) COPY file:HASH in /app/ `,
	`/bin/sh -c #(nop) COPY file:HASH in /from-stage.txt `,
	`/bin/sh -c #(nop) ADD file:HASH in /app/unpacked/ `,
	`/bin/sh -c #(nop) ADD file:HASH in /app/data.txt `,
	`|1 GREETING=hi /bin/sh -c echo "$GREETING from $(pwd)" > greeting.txt && chown nobody /app/greeting.txt && ln -s greeting.txt /app/link`,
	`|1 GREETING=hi sh -c echo exec form > exec.txt`,
	`/bin/sh -e -c #(nop)  SHELL [/bin/sh -e -c]`, // docker commits with the new shell
	`|1 GREETING=hi /bin/sh -e -c echo shell > shell.txt`,
	`/bin/sh -e -c #(nop)  VOLUME [/data /cache]`,
	`/bin/sh -e -c #(nop)  USER nobody`,
	`/bin/sh -e -c #(nop)  STOPSIGNAL SIGINT`,
	`/bin/sh -e -c #(nop)  HEALTHCHECK &{["CMD-SHELL" "cat /app/greeting.txt"] "5s" "0s" "0s" "0s" '\x02'}`,
	`/bin/sh -e -c #(nop)  ONBUILD RUN echo triggered > /onbuild.txt`,
	`/bin/sh -e -c #(nop)  ENTRYPOINT ["/bin/sh" "-c"]`,
	`/bin/sh -e -c #(nop)  CMD ["cat /app/greeting.txt; id -u; pwd; echo $APP $OLD"]`,
}

// imageJSON is an image config as far as the comparison reads it.
type imageJSON struct {
	Author string `json:"author"`
	Config struct {
		User         string
		Env          []string
		Entrypoint   []string
		Cmd          []string
		WorkingDir   string
		Labels       map[string]string
		ExposedPorts map[string]struct{}
		Volumes      map[string]struct{}
		StopSignal   string
		Shell        []string
		OnBuild      []string
		Healthcheck  *struct {
			Test     []string
			Interval int64
			Retries  int
		}
	} `json:"config"`
	History []struct {
		CreatedBy  string `json:"created_by"`
		Author     string `json:"author"`
		EmptyLayer bool   `json:"empty_layer"`
	} `json:"history"`
}

// TestBuildLikeBuildah builds everyDockerfile with lfs and with buildah
// (vfs, chroot isolation, --layers, docker format) and compares the
// config field by field, the history (docker's created_by forms for lfs,
// the same RUN lines and empty layers as buildah), and the root
// filesystems entry by entry (type, mode, owner, size, content, link
// target; not times). The container then behaves as the instructions say.
func TestBuildLikeBuildah(t *testing.T) {
	needTools(t, "buildah", "tar")
	s := buildStore(t)
	ctx := writeContext(t, map[string]string{
		"Dockerfile": everyDockerfile, "files/a.txt": "a\n", "files/sub/b.txt": "b\n", "data.txt": "data\n",
		"arch/in.txt": "inside\n",
	})
	sh(t, "tar", "-czf", filepath.Join(ctx, "archive.tar.gz"), "-C", filepath.Join(ctx, "arch"), "in.txt")

	_, id := s.build(t, "-t", "every", "--build-arg", "GREETING=hi", ctx)

	bh := newBuildah(t)
	archive := filepath.Join(t.TempDir(), "busybox.tar")
	s.mustRun(t, "save", "-o", archive, "busybox")
	bh.run(t, "pull", "-q", "docker-archive:"+archive)
	bh.run(t, "build", "--isolation", "chroot", "--layers", "--format", "docker", "-q", "-t", "every", "--build-arg", "GREETING=hi", ctx)
	var inspected struct{ Docker imageJSON }
	if err := json.Unmarshal([]byte(bh.run(t, "inspect", "--type", "image", "every")), &inspected); err != nil {
		t.Fatal(err)
	}
	theirs := inspected.Docker
	ours := s.imageConfig(t, "every")

	// The config, field by field.
	delete(theirs.Config.Labels, "io.buildah.version")
	if ours.Author != theirs.Author || ours.Author != "Jane Doe <jane@example.com>" {
		t.Errorf("author: lfs %q, buildah %q", ours.Author, theirs.Author)
	}
	// Env: the same variables; the order is docker's, where ENV keeps a
	// variable it replaces in its place (buildah moves it to the end).
	if !reflect.DeepEqual(sortedCopy(ours.Config.Env), sortedCopy(theirs.Config.Env)) {
		t.Errorf("config Env: lfs %q, buildah %q", ours.Config.Env, theirs.Config.Env)
	}
	if want := "PATH=/app/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin APP=/app OLD=value"; strings.Join(ours.Config.Env, " ") != want {
		t.Errorf("config Env: %q, want docker's order %q", ours.Config.Env, want)
	}
	ours.Config.Env, theirs.Config.Env = nil, nil
	ov, tv := reflect.ValueOf(ours.Config), reflect.ValueOf(theirs.Config)
	for i := 0; i < ov.NumField(); i++ {
		name := ov.Type().Field(i).Name
		if !reflect.DeepEqual(ov.Field(i).Interface(), tv.Field(i).Interface()) {
			t.Errorf("config %s: lfs %s, buildah %s", name, js(ov.Field(i).Interface()), js(tv.Field(i).Interface()))
		}
	}

	// History: the same entries, empty layers and authors; RUN lines as
	// buildah writes them (but the exec form, which buildah records as
	// written, and those after SHELL, which buildah writes with /bin/sh
	// -c where docker names the shell); every line as docker writes it.
	if len(ours.History) != len(theirs.History) {
		t.Fatalf("history: lfs %d entries, buildah %d", len(ours.History), len(theirs.History))
	}
	base := len(ours.History) - len(everyHistory)
	hash := regexp.MustCompile(`(file|dir):[0-9a-f]{64}`)
	for i, h := range ours.History {
		b := theirs.History[i]
		if h.EmptyLayer != b.EmptyLayer || h.Author != b.Author {
			t.Errorf("history %d (%s): empty_layer %v/%v, author %q/%q (lfs/buildah)", i, h.CreatedBy, h.EmptyLayer, b.EmptyLayer, h.Author, b.Author)
		}
		if i < base {
			continue
		}
		if got := hash.ReplaceAllString(h.CreatedBy, "${1}:HASH"); got != everyHistory[i-base] {
			t.Errorf("history %d: created_by\n%q, want\n%q", i, got, everyHistory[i-base])
		}
		if !strings.Contains(h.CreatedBy, "#(nop)") && strings.Contains(h.CreatedBy, "/bin/sh -c ") && h.CreatedBy != b.CreatedBy {
			t.Errorf("history %d: RUN line: lfs %q, buildah %q", i, h.CreatedBy, b.CreatedBy)
		}
	}

	// The root filesystems.
	rootfs := filepath.Join(t.TempDir(), "rootfs.tar")
	s.mustRun(t, "create", "--name", "every-c", "every")
	s.mustRun(t, "export", "-o", rootfs, "every-c")
	s.mustRun(t, "rm", "every-c")
	mine := tarListing(t, rootfs)
	// buildah's image unpacked by umoci (buildah from would run the
	// ONBUILD trigger).
	needTools(t, "umoci")
	layout := filepath.Join(t.TempDir(), "layout")
	bh.run(t, "push", "-q", "every", "oci:"+layout+":every")
	bundle := filepath.Join(t.TempDir(), "bundle")
	sh(t, "umoci", "unpack", "--image", layout+":every", bundle)
	other := dirListing(t, filepath.Join(bundle, "rootfs"))
	// What buildah's RUN leaves that docker's and lfs's do not: empty
	// mount targets of the files it binds in. The root directory has no
	// entry in an export.
	for _, p := range []string{"/", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/run"} {
		if _, ok := mine[p]; !ok {
			delete(other, p)
		}
	}
	for p, l := range mine {
		if o, ok := other[p]; !ok {
			t.Errorf("only in lfs's image: %s", l)
		} else if o != l {
			t.Errorf("differs:\n lfs     %s\n buildah %s", l, o)
		}
	}
	for p, o := range other {
		if _, ok := mine[p]; !ok {
			t.Errorf("only in buildah's image: %s", o)
		}
	}

	// The container does what the instructions say.
	if got := s.mustRun(t, "run", "--rm", "every"); got != "hi from /app\n65534\n/app\n/app value\n" {
		t.Errorf("run every: %q", got)
	}
	img := s.inspect(t, id)
	if len(img.Config.ExposedPorts) != 2 || len(img.Config.Volumes) != 2 || img.Config.Healthcheck == nil {
		t.Errorf("inspect: ports %v volumes %v healthcheck %v", img.Config.ExposedPorts, img.Config.Volumes, img.Config.Healthcheck)
	}
}

// imageConfig reads an image's config as stored, through an OCI save.
func (s *store) imageConfig(t *testing.T, ref string) imageJSON {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "oci.tar")
	s.mustRun(t, "save", "--format", "oci", "-o", out, ref)
	sh(t, "tar", "-xf", out, "-C", dir)
	var idx ociIndex
	var m ociManifest
	var cfg imageJSON
	for _, step := range []struct {
		p string
		v any
	}{{filepath.Join(dir, "index.json"), &idx}} {
		b, _ := os.ReadFile(step.p)
		if err := json.Unmarshal(b, step.v); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(blobPath(dir, idx.Manifests[0].Digest))
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(blobPath(dir, m.Config.Digest))
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// buildah runs buildah on a private store, removed with the test.
type buildah struct{ root, runroot string }

func newBuildah(t *testing.T) *buildah {
	t.Helper()
	d := t.TempDir()
	b := &buildah{root: filepath.Join(d, "root"), runroot: filepath.Join(d, "run")}
	t.Cleanup(func() {
		// vfs layers are plain directories; nothing stays mounted.
		sh(t, "buildah", "--root", b.root, "--runroot", b.runroot, "--storage-driver", "vfs", "rm", "--all")
	})
	return b
}

func (b *buildah) run(t *testing.T, args ...string) string {
	t.Helper()
	return sh(t, "buildah", append([]string{"--root", b.root, "--runroot", b.runroot, "--storage-driver", "vfs"}, args...)...)
}

// tarListing describes every entry of a rootfs tar (see listLine).
func tarListing(t *testing.T, p string) map[string]string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		name := "/" + strings.Trim(filepath.Clean("/"+h.Name), "/")
		kind, target, size := "?", "", int64(0)
		switch h.Typeflag {
		case tar.TypeDir:
			kind = "d"
		case tar.TypeReg:
			kind, size = "f", h.Size
			sum := sha256.New()
			io.Copy(sum, tr)
			target = hex.EncodeToString(sum.Sum(nil))[:16]
		case tar.TypeSymlink:
			kind, target = "l", h.Linkname
		case tar.TypeLink:
			kind, target = "f", "link:"+h.Linkname
		}
		out[name] = listLine(name, kind, h.Mode&0o7777, h.Uid, h.Gid, size, target)
	}
}

// dirListing describes every entry under dir as tarListing does; hard
// links are followed (their content compared).
func dirListing(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		name := "/" + strings.Trim(filepath.ToSlash(rel), "./")
		if rel == "." {
			name = "/"
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		kind, target, size := "?", "", int64(0)
		switch {
		case fi.IsDir():
			kind = "d"
		case fi.Mode().IsRegular():
			kind, size = "f", fi.Size()
			b, _ := os.ReadFile(p)
			sum := sha256.Sum256(b)
			target = hex.EncodeToString(sum[:])[:16]
		case fi.Mode()&fs.ModeSymlink != 0:
			kind = "l"
			target, _ = os.Readlink(p)
		}
		out[name] = listLine(name, kind, int64(st.Mode&0o7777), int(st.Uid), int(st.Gid), size, target)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func listLine(name, kind string, mode int64, uid, gid int, size int64, target string) string {
	return fmt.Sprintf("%s %s %04o %d:%d %d %s", name, kind, mode, uid, gid, size, target)
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}
