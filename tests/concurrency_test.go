package tests

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestConcurrentLoadAndTag runs four lfs load + lfs tag processes at once on
// one store; two of them load the same image, all share its base layer.
func TestConcurrentLoadAndTag(t *testing.T) {
	s := setup(t)
	f := getFixtures(t)
	jobs := []struct{ archive, ref, tag string }{
		{f.dockerArchive, "busybox:latest", "c0:v"},
		{f.ociArchive, "busybox:latest", "c1:v"},
		{f.twoArchive, "two:latest", "c2:v"},
		{f.registryTagged, "localhost:5000/x:1", "c3:v"},
	}
	for round := range 2 {
		var wg sync.WaitGroup
		errs := make(chan string, 2*len(jobs))
		for _, j := range jobs {
			wg.Go(func() {
				for _, args := range [][]string{{"load", "-i", j.archive}, {"tag", j.ref, j.tag}} {
					r := runWith(t, opts{}, s.args(args)...)
					if r.code != 0 {
						errs <- fmt.Sprintf("round %d: lfs %s: exit %d: %s", round, strings.Join(args, " "), r.code, clip(r.stderr))
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
	}
	want := map[string]string{
		"busybox:latest": f.base.ID(), "localhost:5000/x:1": f.base.ID(), "two:latest": f.two.ID(),
		"c0:v": f.base.ID(), "c1:v": f.base.ID(), "c2:v": f.two.ID(), "c3:v": f.base.ID(),
	}
	got := map[string]string{}
	for _, l := range lines(s.mustRun(t, "images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")) {
		ref, id, _ := strings.Cut(l, " ")
		got[ref] = id
	}
	for ref, id := range want {
		if got[ref] != id {
			t.Errorf("%s is %q, want %s", ref, got[ref], id)
		}
	}
	if len(got) != len(want) {
		t.Errorf("images %v, want %v", got, want)
	}
	checkClean(t, s)
}

// TestKilledLoad kills lfs load -9 while it reads a big gzip image from a
// pipe: at the start, in the middle, and with only the last bytes missing.
// The store must be as before, check clean, and the next write must leave
// no temporary files behind.
func TestKilledLoad(t *testing.T) {
	s := setup(t)
	f := getFixtures(t)
	s.load(t, f.dockerArchive)
	big := bigArchive(t)
	size := fileSize(t, big)
	keep := func(rel string) bool { return rel != "tmp" && !strings.HasPrefix(rel, "tmp/") }
	beforeImages := s.mustRun(t, "images", "-a", "--no-trunc", "-q")
	beforeFiles := s.listing(t, keep)

	for _, at := range []int64{1 << 20, size / 2, size - 256<<10} {
		t.Run(fmt.Sprintf("at-%d-of-%d", at, size), func(t *testing.T) {
			cmd := exec.Command(lfsBin, s.args([]string{"load"})...)
			cmd.Env = baseEnv()
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			src, err := os.Open(big)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			copied := make(chan error, 1)
			go func() {
				_, err := io.CopyN(stdin, src, at)
				copied <- err
			}()
			select {
			case err := <-copied:
				if err != nil {
					t.Fatalf("lfs load stopped reading after less than %d bytes: %v\nstderr: %s", at, err, stderr.String())
				}
			case <-time.After(cmdTimeout):
				t.Fatalf("lfs load read fewer than %d bytes in %v", at, cmdTimeout)
			}
			// Let it work on what it has (hash, decompress, write) for a
			// moment, then kill it without warning.
			time.Sleep(300 * time.Millisecond)
			cmd.Process.Signal(syscall.SIGKILL)
			err = cmd.Wait()
			stdin.Close()
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
				t.Fatalf("lfs load was not killed (it ended on its own: %v) with its input incomplete\nstderr: %s", err, stderr.String())
			}
			if got := s.mustRun(t, "images", "-a", "--no-trunc", "-q"); got != beforeImages {
				t.Errorf("images after kill -9: %q, want %q", got, beforeImages)
			}
			checkClean(t, s)
			if got := s.listing(t, keep); !slices.Equal(got, beforeFiles) {
				t.Errorf("store changed outside tmp/ after kill -9:\n%s", diffLines(beforeFiles, got))
			}
		})
	}

	// The next writer cleans what the killed ones left.
	s.load(t, f.twoArchive)
	var left []string
	filepath.WalkDir(filepath.Join(s.root, "tmp"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left = append(left, p)
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("temporary files left after the next load: %q", left)
	}
	checkClean(t, s)
}

var bigOnce struct {
	sync.Once
	path string
	err  error
}

// bigArchive is an OCI archive of one 96 MiB gzip layer (stored, not
// squeezed: the bytes are noise), the layer last in the tar.
func bigArchive(t *testing.T) string {
	t.Helper()
	bigOnce.Do(func() { bigOnce.path, bigOnce.err = writeBigArchive(filepath.Join(fixtureDir, "big-oci.tar")) })
	if bigOnce.err != nil {
		t.Fatalf("big archive: %v", bigOnce.err)
	}
	return bigOnce.path
}

func writeBigArchive(out string) (string, error) {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	// The gzip layer first, to a temp file, hashing as it goes.
	lf, err := os.CreateTemp(filepath.Dir(out), "big-layer-")
	if err != nil {
		return "", err
	}
	defer os.Remove(lf.Name())
	defer lf.Close()
	blobHash, diffHash := sha256.New(), sha256.New()
	zw, _ := gzip.NewWriterLevel(io.MultiWriter(lf, blobHash), gzip.NoCompression)
	tw := tar.NewWriter(io.MultiWriter(zw, diffHash))
	const n = 96 << 20
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "big", Mode: 0o644, Size: n, ModTime: time.Unix(946684800, 0)}); err != nil {
		return "", err
	}
	chunk := noise(1<<20, 7)
	for i := 0; i < n>>20; i++ {
		chunk[0] = byte(i) // no two chunks alike
		if _, err := tw.Write(chunk); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	size, err := lf.Seek(0, io.SeekCurrent)
	if err != nil {
		return "", err
	}
	blobDigest := "sha256:" + hex.EncodeToString(blobHash.Sum(nil))
	diffID := "sha256:" + hex.EncodeToString(diffHash.Sum(nil))

	cfg := configFor([]layer{{diffID: diffID}})
	m, _ := json.Marshal(ociManifest{SchemaVersion: 2, MediaType: mtOCIManifest,
		Config: descriptor{MediaType: mtOCIConfig, Digest: digestOf(cfg), Size: int64(len(cfg))},
		Layers: []descriptor{{MediaType: mtLayerGzip, Digest: blobDigest, Size: size}}})
	idx, _ := json.Marshal(ociIndex{SchemaVersion: 2, Manifests: []descriptor{{MediaType: mtOCIManifest, Digest: digestOf(m), Size: int64(len(m)),
		Annotations: map[string]string{"org.opencontainers.image.ref.name": "big:latest"}}}})

	f, err := os.Create(out)
	if err != nil {
		return "", err
	}
	defer f.Close()
	at := tar.NewWriter(f)
	put := func(name string, b []byte) error {
		if err := at.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(b))}); err != nil {
			return err
		}
		_, err := at.Write(b)
		return err
	}
	for _, e := range []struct {
		name string
		b    []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", idx},
		{"blobs/sha256/" + hexOf(digestOf(cfg)), cfg},
		{"blobs/sha256/" + hexOf(digestOf(m)), m},
	} {
		if err := put(e.name, e.b); err != nil {
			return "", err
		}
	}
	if err := at.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "blobs/sha256/" + hexOf(blobDigest), Mode: 0o644, Size: size}); err != nil {
		return "", err
	}
	if _, err := lf.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	if _, err := io.Copy(at, lf); err != nil {
		return "", err
	}
	if err := at.Close(); err != nil {
		return "", err
	}
	return out, f.Close()
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestBigArchiveLoads: the archive the kill test feeds lfs is itself good,
// so the kills are what the store survived, not bad input.
func TestBigArchiveLoads(t *testing.T) {
	s := setup(t)
	getFixtures(t)
	out := s.load(t, bigArchive(t))
	if got := lines(out); !slices.Equal(got, []string{"Loaded image: big:latest"}) {
		t.Errorf("load printed %q", got)
	}
	checkClean(t, s)
}
