package tests

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// TestBadInput feeds lfs broken archives, tars, names and flags. Each must
// fail with the error contract (exit 125, one line "Error: ...") and leave
// the store exactly as it was.
func TestBadInput(t *testing.T) {
	s := setup(t)
	f := getFixtures(t)
	s.load(t, f.dockerArchive)
	tmp := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	rootfs := read(f.rootfs)
	docker := read(f.dockerArchive)
	// A layer big enough that damage lands inside compressed data.
	payload := mkTar(t, dir("data/"), file("data/noise", string(noise(256<<10, 1))), file("data/text", strings.Repeat("lfs ", 4096)))

	type tc struct {
		name  string
		stdin []byte
		anyOf []string // the message names one of these
		args  []string
	}
	var cases []tc
	add := func(name string, anyOf []string, args ...string) {
		cases = append(cases, tc{name: name, anyOf: anyOf, args: args})
	}
	addStdin := func(name string, stdin []byte, anyOf []string, args ...string) {
		cases = append(cases, tc{name: name, stdin: stdin, anyOf: anyOf, args: args})
	}
	truncated := []string{"EOF", "truncat", "unexpected end", "short"}
	// A stream that decompresses to the wrong bytes is caught by the
	// format's own checksum or by the diff ID.
	corrupt := []string{"gzip", "zstd", "flate", "checksum", "corrupt", "invalid", "diff", "digest", "mismatch"}

	// Truncated and corrupt tars.
	add("load/truncated-archive", truncated, "load", "-i", write("truncated.tar", docker[:len(docker)/2]))
	addStdin("load/truncated-archive-stdin", docker[:len(docker)/2], truncated, "load")
	add("import/truncated-tar", truncated, "import", write("truncated-rootfs.tar", rootfs[:len(rootfs)/2]), "trunc:1")
	addStdin("import/truncated-tar-stdin", rootfs[:len(rootfs)/2], truncated, "import", "-", "trunc:1")
	badHeader := bytes.Clone(rootfs)
	copy(badHeader[512:612], bytes.Repeat([]byte("x"), 100)) // the second header's name, so its checksum fails
	add("import/corrupt-tar-header", []string{"header", "tar", "checksum"}, "import", write("bad-header.tar", badHeader), "bad:1")
	add("load/not-an-archive", nil, "load", "-i", write("text.txt", []byte("this is not a tar\n")))

	// Compressed layers that do not decompress; each digest is right.
	gz := gzipLayer(payload)
	gz.blob = bytes.Clone(gz.blob)
	for i := len(gz.blob) / 2; i < len(gz.blob)/2+64; i++ {
		gz.blob[i] ^= 0x5a
	}
	_, a := craftOCI(t, image{ref: "bad:gzip", layers: []layer{gz}}, nil)
	add("load/corrupt-gzip", corrupt, "load", "-i", a)
	gzt := gzipLayer(payload)
	gzt.blob = gzt.blob[:len(gzt.blob)*2/3]
	_, a = craftOCI(t, image{ref: "bad:gzip-truncated", layers: []layer{gzt}}, nil)
	add("load/truncated-gzip", append([]string{"gzip"}, truncated...), "load", "-i", a)
	if _, err := exec.LookPath("zstd"); err == nil {
		zs := zstdLayer(t, payload)
		zs.blob = bytes.Clone(zs.blob)
		for i := len(zs.blob) / 2; i < len(zs.blob)/2+64; i++ {
			zs.blob[i] ^= 0x5a
		}
		_, a = craftOCI(t, image{ref: "bad:zstd", layers: []layer{zs}}, nil)
		add("load/corrupt-zstd", corrupt, "load", "-i", a)
	} else {
		t.Log("zstd is not installed: no corrupt-zstd case (make deps installs it)")
	}

	// Manifests that do not match their blobs.
	good := gzipLayer(payload)
	other := gzipLayer(mkTar(t, file("other", "other\n")))
	_, a = craftOCI(t, image{ref: "bad:layer-digest", layers: []layer{good}}, func(d string) {
		os.WriteFile(blobPath(d, digestOf(good.blob)), other.blob, 0o644)
	})
	add("load/layer-digest-mismatch", []string{"digest", "mismatch", "sha256"}, "load", "-i", a)
	_, a = craftOCI(t, image{ref: "bad:config-digest", layers: []layer{good}}, func(d string) {
		cfg := configFor([]layer{good})
		os.WriteFile(blobPath(d, digestOf(cfg)), append(cfg, ' '), 0o644)
	})
	add("load/config-digest-mismatch", []string{"digest", "mismatch", "sha256"}, "load", "-i", a)
	wrongDiff := good
	wrongDiff.diffID = other.diffID
	_, a = craftOCI(t, image{ref: "bad:diff-id", layers: []layer{wrongDiff}}, nil)
	add("load/diff-id-mismatch", []string{"diff", "digest", "mismatch", "sha256"}, "load", "-i", a)
	_, a = craftOCI(t, image{ref: "bad:missing-layer", layers: []layer{good}}, func(d string) {
		os.Remove(blobPath(d, digestOf(good.blob)))
	})
	add("load/missing-layer-blob", []string{hexOf(digestOf(good.blob))[:12], "missing", "not found", "no such"}, "load", "-i", a)
	_, a = craftOCI(t, image{ref: "bad:missing-config", layers: []layer{good}}, func(d string) {
		os.Remove(blobPath(d, digestOf(configFor([]layer{good}))))
	})
	add("load/missing-config-blob", []string{hexOf(digestOf(configFor([]layer{good})))[:12], "missing", "not found", "no such"}, "load", "-i", a)

	// Entries lfs refuses, in an imported rootfs and in a loaded layer.
	entryCases := []struct {
		name  string
		tar   []byte
		anyOf []string
	}{
		{"escaping-path", mkTar(t, dir("a/"), file("../../x", "escaped\n")), []string{"../../x", "escape", "outside"}},
		{"escaping-path-inside", mkTar(t, dir("a/"), file("a/../../x", "escaped\n")), []string{"../x", "escape", "outside"}},
		{"hardlink-to-missing", mkTar(t, file("a", "a\n"), hardlink("b", "missing")), []string{"link", "missing"}},
	}
	if sp, ok := sparseTar(t, "gnu"); ok {
		entryCases = append(entryCases, struct {
			name  string
			tar   []byte
			anyOf []string
		}{"sparse-gnu", sp, []string{"sparse"}})
	}
	if sp, ok := sparseTar(t, "posix"); ok {
		entryCases = append(entryCases, struct {
			name  string
			tar   []byte
			anyOf []string
		}{"sparse-pax", sp, []string{"sparse"}})
	}
	for _, e := range entryCases {
		add("import/"+e.name, e.anyOf, "import", write(e.name+".tar", e.tar), "entry:"+e.name)
		_, a := craftOCI(t, image{ref: "entry:" + e.name, layers: []layer{plainLayer(e.tar)}}, nil)
		add("load/"+e.name, e.anyOf, "load", "-i", a)
	}

	// Names of things that are not there.
	missing := filepath.Join(tmp, "no-such-file.tar")
	add("load/missing-file", []string{missing}, "load", "-i", missing)
	add("import/missing-file", []string{missing}, "import", missing, "x:1")
	for _, args := range [][]string{
		{"inspect", "nosuchimage"},
		{"history", "nosuchimage"},
		{"save", "-o", filepath.Join(tmp, "nosuch.tar"), "nosuchimage"},
		{"rmi", "nosuchimage"},
		{"tag", "nosuchimage", "x:1"},
		{"inspect", "busybox:nosuchtag"},
	} {
		add("missing-image/"+args[0]+"/"+args[len(args)-1], []string{"nosuch"}, args...)
	}

	// Malformed references.
	for _, c := range []struct{ cmd, ref string }{
		{"tag", "UPPER/case:1"},
		{"tag", "a:b:c"},
		{"tag", "name:bad tag"},
		{"import", "bad name"},
		{"inspect", "a//b"},
		{"rmi", "x@sha256:123"},
	} {
		args := []string{c.cmd, c.ref}
		switch c.cmd {
		case "tag":
			args = []string{"tag", "busybox", c.ref}
		case "import":
			args = []string{"import", f.rootfs, c.ref}
		}
		add("malformed-reference/"+c.cmd+"/"+c.ref, []string{c.ref}, args...)
	}

	// Saves that cannot be written.
	noDir := filepath.Join(tmp, "no-such-dir", "out.tar")
	add("save/missing-directory", []string{noDir}, "save", "-o", noDir, "busybox")
	add("save/one-missing-image", []string{"nosuchimage"}, "save", "-o", filepath.Join(tmp, "partial.tar"), "busybox", "nosuchimage")

	// Flags and changes lfs does not know.
	add("unknown-flag/images", []string{"bogus"}, "images", "--bogus")
	add("unknown-flag/global", []string{"bogus"}, "--bogus", "images")
	add("unknown-flag/load", []string{"-z"}, "load", "-z")
	add("unknown-command", []string{"frobnicate"}, "frobnicate")
	add("import/change-run", []string{"RUN"}, "import", f.rootfs, "chg:1", "-c", "RUN echo hi")
	add("import/change-unknown", []string{"FROBNICATE"}, "import", f.rootfs, "chg:1", "-c", "FROBNICATE x")

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdin *bytes.Reader
			if c.stdin != nil {
				stdin = bytes.NewReader(c.stdin)
			}
			if stdin != nil {
				s.mustFail(t, stdin, c.anyOf, c.args...)
			} else {
				s.mustFail(t, nil, c.anyOf, c.args...)
			}
		})
	}
	// A failed save leaves no partial archive behind.
	if _, err := os.Stat(filepath.Join(tmp, "partial.tar")); !os.IsNotExist(err) {
		t.Errorf("save of a missing image left partial.tar behind (stat: %v)", err)
	}
	checkClean(t, s)
}

// TestSaveRefusesTerminal: lfs save without -o will not write a tar to a
// terminal, as docker will not.
func TestSaveRefusesTerminal(t *testing.T) {
	s := setup(t)
	f := getFixtures(t)
	s.load(t, f.dockerArchive)
	ptm, pts := openPTY(t)
	defer ptm.Close()
	defer pts.Close()
	// Drain the terminal, so that an lfs that does write to it cannot
	// block on a full buffer, and count what it wrote.
	written := make(chan int, 1)
	go func() {
		total := 0
		buf := make([]byte, 32<<10)
		for {
			n, err := ptm.Read(buf)
			total += n
			if err != nil {
				written <- total
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, lfsBin, s.args([]string{"save", "busybox"})...)
	cmd.Env = baseEnv()
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = pts, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	checkError(t, result{stderr: stderr.String(), code: code}, []string{"save", "busybox", "(stdout is a terminal)"})
	time.Sleep(100 * time.Millisecond)
	ptm.SetReadDeadline(time.Now())
	select {
	case n := <-written:
		if n > 0 {
			t.Errorf("lfs save wrote %d bytes to the terminal", n)
		}
	case <-time.After(5 * time.Second):
		t.Log("cannot stop reading the terminal; not checking what reached it")
	}
}

// openPTY opens a pseudo-terminal pair with the standard library alone.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	// Non-blocking, so that os.NewFile puts it in the poller and read
	// deadlines work.
	fd, err := syscall.Open("/dev/ptmx", syscall.O_RDWR|syscall.O_NOCTTY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	m := os.NewFile(uintptr(fd), "/dev/ptmx")
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		m.Close()
		t.Skipf("unlockpt: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		m.Close()
		t.Skipf("ptsname: %v", e)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("open pts: %v", err)
	}
	return m, s
}

// sparseTar has GNU tar archive a file with holes in the given format
// ("gnu": a type 'S' entry; "posix": PAX sparse 1.0). ok is false when
// the filesystem gave tar no holes to find.
func sparseTar(t *testing.T, format string) (b []byte, ok bool) {
	t.Helper()
	needTools(t, "tar")
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "holes"))
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("start"), 0)
	f.WriteAt([]byte("middle"), 3<<20)
	f.Truncate(8 << 20)
	f.Close()
	args := []string{"--sparse", "--format=" + format, "-C", dir, "-cf", "-", "holes"}
	if format == "posix" {
		args = append([]string{"--sparse-version=1.0"}, args...)
	}
	out, err := exec.Command("tar", args...).Output()
	if err != nil {
		t.Fatalf("tar %s: %v", strings.Join(args, " "), err)
	}
	switch format {
	case "gnu":
		ok = len(out) > 512 && out[156] == 'S'
	case "posix":
		ok = bytes.Contains(out, []byte("GNU.sparse"))
	}
	if !ok {
		t.Logf("tar --format=%s found no holes to make a sparse entry of", format)
	}
	return out, ok
}

// TestTarDialects: what lfs must accept — the tar dialects, absolute names
// (taken relative to the root, as Docker does) and a symlink pointing
// outside (stored, never followed) — and that the layer is kept as it came.
func TestTarDialects(t *testing.T) {
	s := setup(t)
	long := strings.Repeat("long-directory-name/", 8) + "file"
	ustar := mkTarFormat(t, tar.FormatUSTAR, dir("etc/"), file("etc/hostname", "lfs\n"), hardlink("etc/hostname2", "etc/hostname"), symlink("etc/up", "../../../../etc/shadow"))
	gnu := mkTarFormat(t, tar.FormatGNU, dir(strings.Repeat("d", 120)+"/"), file(strings.Repeat("d", 120)+"/"+strings.Repeat("f", 120), "gnu long names\n"))
	pax := mkTarFormat(t, tar.FormatPAX, file(long, "pax\n"), file("ünïcödé", "pax name\n"), hardlink("hard", long))
	abs := mkTar(t, dir("/abs/"), file("/abs/file", "absolute\n"), file("./dot/file", "dot\n"))
	for _, c := range []struct {
		name string
		tar  []byte
	}{{"ustar", ustar}, {"gnu-long-names", gnu}, {"pax", pax}, {"absolute-names", abs}} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), c.name+".tar")
			if err := os.WriteFile(p, c.tar, 0o644); err != nil {
				t.Fatal(err)
			}
			id := strings.TrimSpace(s.mustRun(t, "import", p, "dialect:"+c.name))
			img := s.inspect(t, id)
			if len(img.RootFS.Layers) != 1 || img.RootFS.Layers[0] != digestOf(c.tar) {
				t.Errorf("layers %q, want [%s]: the tar as it came", img.RootFS.Layers, digestOf(c.tar))
			}
			stored, err := os.ReadFile(filepath.Join(s.root, "layers", "sha256", hexOf(digestOf(c.tar)), "layer.tar"))
			if err != nil || !bytes.Equal(stored, c.tar) {
				t.Errorf("stored layer.tar differs from the input (err %v)", err)
			}
		})
	}
	checkClean(t, s)
}
