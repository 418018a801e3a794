package container

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
	"sync"
	"testing"

	"github.com/lfs-dev/lfs/imagearchive"
	"github.com/lfs-dev/lfs/layerstore"
	"golang.org/x/sys/unix"
)

// entry is one tar entry of a test layer: a directory (name ends in "/"),
// a file, or a hard link (link set).
type entry struct{ name, body, link string }

func mkLayer(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(e.body))}
		switch {
		case strings.HasSuffix(e.name, "/"):
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		case e.link != "":
			h.Typeflag, h.Linkname, h.Size = tar.TypeLink, e.link, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, e.body)
	}
	tw.Close()
	return buf.Bytes()
}

// testStore is a store holding image "base" of one layer:
// a/x, a/y, b, c/d, and a container of it with an empty upper.
func testStore(t *testing.T) (*layerstore.Store, Container) {
	t.Helper()
	s, err := layerstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	layer := mkLayer(t, entry{name: "a/"}, entry{name: "a/x", body: "x"}, entry{name: "a/y", body: "y"},
		entry{name: "b", body: "b"}, entry{name: "c/"}, entry{name: "c/d", body: "d"})
	id, err := imagearchive.Import(s, bytes.NewReader(layer), imagearchive.ImportOptions{Ref: "base"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Create(s, Container{Image: id, ImageRef: "base", Command: []string{"sh", "-c", "edit"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(c.Upper(), 0o755); err != nil {
		t.Fatal(err)
	}
	return s, c
}

// write makes the files of an upper: a name ending in "/" is a directory,
// others files with body; parents are made.
func write(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(root, name)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRecords(t *testing.T) {
	s, c := testStore(t)
	if c.Name == "" || len(c.ID) != 64 || c.State != StateCreated {
		t.Fatalf("Create: %+v", c)
	}
	named, err := Create(s, Container{Image: c.Image, ImageRef: "base", Name: "/web"})
	if err != nil || named.Name != "web" {
		t.Fatalf("Create /web: %+v, %v", named, err)
	}
	if _, err := Create(s, Container{Image: c.Image, Name: "web"}); !errors.Is(err, ErrNameInUse) ||
		!strings.Contains(err.Error(), `The container name "/web" is already in use by container "`+named.ID+`"`) {
		t.Errorf("second web: %v", err)
	}
	if _, err := Create(s, Container{Image: c.Image, Name: "a b"}); !errors.Is(err, ErrInvalidName) {
		t.Errorf("name with a space: %v", err)
	}
	for _, name := range []string{"web", "/web", named.ID, named.ID[:12]} {
		if got, err := Get(s, name); err != nil || got.ID != named.ID {
			t.Errorf("Get(%q) = %s, %v", name, got.ID, err)
		}
	}
	if _, err := Get(s, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(\"\"): %v", err)
	}
	if _, err := Get(s, "nosuch"); !errors.Is(err, ErrNotFound) || err.Error() != "No such container: nosuch" {
		t.Errorf("Get(nosuch): %v", err)
	}
	list, _ := List(s)
	if len(list) != 2 || list[0].ID != named.ID {
		t.Errorf("List, newest first: %v", list)
	}

	// The image is in use: layerstore reads the same records.
	if _, err := s.Remove("base", false); !errors.Is(err, layerstore.ErrInUse) {
		t.Errorf("rmi base with containers: %v", err)
	}

	// A live process: refused without force.
	if _, err := Update(s, named.ID, func(c *Container) error {
		c.State, c.Pid = StateRunning, os.Getpid()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, _ := Get(s, "web")
	if got.Status() != StateRunning {
		t.Errorf("status with a live pid: %s", got.Status())
	}
	if _, err := Remove(s, "web", false); !errors.Is(err, ErrRunning) {
		t.Errorf("Remove running: %v", err)
	}
	// A process that died without recording its end reads as exited.
	Update(s, named.ID, func(c *Container) error { c.Pid = 1 << 22; return nil })
	if got, _ := Get(s, "web"); got.Status() != StateExited {
		t.Errorf("status of a dead pid: %s", got.Status())
	}
	for _, ct := range []Container{named, c} {
		os.MkdirAll(ct.Upper(), 0o755)
		if _, err := Remove(s, ct.ID, false); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(ct.Dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Remove left %s: %v", ct.Dir, err)
		}
	}
	if _, err := Get(s, "web"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Remove: %v", err)
	}
	if _, err := s.Remove("base", false); err != nil {
		t.Errorf("rmi base after rm: %v", err)
	}
}

// TestCreateRace: of many processes' worth of concurrent creates with one
// name, exactly one wins; default names never clash.
func TestCreateRace(t *testing.T) {
	s, c := testStore(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, names := 0, map[string]bool{c.Name: true}
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := ""
			if i%2 == 0 {
				name = "same"
			}
			got, err := Create(s, Container{Image: c.Image, Name: name})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && name == "same":
				wins++
			case err == nil:
				if names[got.Name] {
					t.Errorf("name %s given twice", got.Name)
				}
				names[got.Name] = true
			case !errors.Is(err, ErrNameInUse):
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d creates of one name succeeded", wins)
	}
}

// upperWithChanges writes an upper as the union leaves it after: a/x
// changed, a/new added, b deleted, c deleted and made again with c/e,
// plus a work area, an origin xattr, and a hard link.
func upperWithChanges(t *testing.T, c Container) {
	write(t, c.Upper(), map[string]string{
		"a/x": "x2", "a/new": "n", ".wh.b": "", "c/.wh..wh..opq": "", "c/e": "e",
		".wh..wh.work/tmp-1": "junk", "etc/hosts": "", "etc/.wh.hostname": "",
	})
	if err := os.Link(filepath.Join(c.Upper(), "a/new"), filepath.Join(c.Upper(), "c/new-link")); err != nil {
		t.Fatal(err)
	}
	unix.Lsetxattr(filepath.Join(c.Upper(), "a/x"), "user.lfs.origin", []byte("12345678"), 0)
	unix.Lsetxattr(filepath.Join(c.Upper(), "a/x"), "user.keep", []byte("v"), 0)
}

func TestDiff(t *testing.T) {
	s, c := testStore(t)
	c.EtcBinds = true // etc/ holds only mount targets: not a change
	upperWithChanges(t, c)
	changes, err := Diff(s, c)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ch := range changes {
		got = append(got, ch.String())
	}
	want := []string{"C /a", "A /a/new", "C /a/x", "D /b", "C /c", "D /c/d", "A /c/e", "A /c/new-link"}
	if !slices.Equal(got, want) {
		t.Errorf("Diff:\n got %q\nwant %q", got, want)
	}
	c.EtcBinds = false
	changes, _ = Diff(s, c)
	if n := len(changes); n != len(want)+3 {
		t.Errorf("without EtcBinds: %v, want /etc, /etc/hosts and /etc/hostname too", changes)
	}
}

func readTar(t *testing.T, r io.Reader) (names []string, hdrs map[string]*tar.Header, bodies map[string]string) {
	t.Helper()
	hdrs, bodies = map[string]*tar.Header{}, map[string]string{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		names = append(names, h.Name)
		hdrs[h.Name], bodies[h.Name] = h, string(b)
	}
}

func TestWriteLayerAndCommit(t *testing.T) {
	s, c := testStore(t)
	c.EtcBinds = true
	upperWithChanges(t, c)
	var buf bytes.Buffer
	if err := WriteLayer(&buf, c.Upper(), c.hidden()...); err != nil {
		t.Fatal(err)
	}
	names, hdrs, bodies := readTar(t, bytes.NewReader(buf.Bytes()))
	want := []string{".wh.b", "a/", "a/new", "a/x", "c/", "c/.wh..wh..opq", "c/e", "c/new-link"}
	if !slices.Equal(names, want) {
		t.Errorf("layer entries:\n got %q\nwant %q", names, want)
	}
	if h := hdrs["c/new-link"]; h == nil || h.Typeflag != tar.TypeLink || h.Linkname != "a/new" {
		t.Errorf("hard link: %+v", h)
	}
	if h := hdrs["a/x"]; h != nil {
		if _, ok := h.PAXRecords["SCHILY.xattr.user.lfs.origin"]; ok {
			t.Error("user.lfs.origin reached the layer")
		}
		// The temp dir's filesystem may refuse user xattrs; then nothing to keep.
		if _, err := unix.Lgetxattr(filepath.Join(c.Upper(), "a/x"), "user.keep", make([]byte, 8)); err == nil &&
			h.PAXRecords["SCHILY.xattr.user.keep"] != "v" {
			t.Errorf("user.keep lost: %v", h.PAXRecords)
		}
		if h.Format != tar.FormatPAX && len(h.PAXRecords) > 0 {
			t.Errorf("format %v", h.Format)
		}
	}
	if bodies["a/x"] != "x2" {
		t.Errorf("a/x = %q", bodies["a/x"])
	}

	id, err := Commit(s, c, CommitOptions{Author: "me", Message: "msg", Changes: []string{"ENV K=V"}, Ref: "committed:1"})
	if err != nil {
		t.Fatal(err)
	}
	img, err := s.Resolve("committed:1")
	if err != nil || img.ID != id || len(img.Layers) != 2 || img.Parent != c.Image {
		t.Fatalf("committed image: %+v, %v", img, err)
	}
	raw, _ := s.Config(id)
	var cfg struct {
		Author  string
		Comment string
		Config  struct{ Env []string }
		History []struct {
			CreatedBy string `json:"created_by"`
			Author    string
			Comment   string
		}
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	json.Unmarshal(raw, &cfg)
	last := cfg.History[len(cfg.History)-1]
	if cfg.Author != "me" || cfg.Comment != "msg" || last.CreatedBy != "sh -c edit" || last.Comment != "msg" || last.Author != "me" ||
		!slices.Contains(cfg.Config.Env, "K=V") || len(cfg.RootFS.DiffIDs) != 2 {
		t.Errorf("config: %s", raw)
	}

	// Export merges the image and the upper.
	buf.Reset()
	if err := Export(&buf, s, c); err != nil {
		t.Fatal(err)
	}
	names, hdrs, bodies = readTar(t, &buf)
	want = []string{"a/", "a/new", "a/x", "a/y", "c/", "c/e", "c/new-link", "etc/", "etc/hosts"}
	if !slices.Equal(names, want) {
		t.Errorf("export entries:\n got %q\nwant %q", names, want)
	}
	if bodies["a/x"] != "x2" || bodies["a/y"] != "y" {
		t.Errorf("export bodies: %q", bodies)
	}
	if h := hdrs["c/new-link"]; h == nil || h.Typeflag != tar.TypeLink || h.Linkname != "a/new" {
		t.Errorf("export hard link: %+v", h)
	}
}
