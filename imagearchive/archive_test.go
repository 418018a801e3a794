package imagearchive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/lfs-dev/lfs/layerstore"
	digest "github.com/opencontainers/go-digest"
)

func tarOf(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, data := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(data)
	}
	tw.Close()
	return buf.Bytes()
}

func newStore(t *testing.T) *layerstore.Store {
	s, err := layerstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ociArchive builds an OCI layout tar with one gzip-layer image; mutate may
// damage it before it is assembled.
func ociArchive(t *testing.T, mutate func(blobs map[string][]byte, manifest *map[string]any)) []byte {
	layer := tarOf(t, map[string][]byte{"etc/motd": []byte("hi\n")})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(layer)
	zw.Close()
	cfg := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","created":"2024-01-02T03:04:05Z","config":{"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":[%q]},"history":[{"created_by":"test"}]}`, digest.FromBytes(layer)))
	blobs := map[string][]byte{"cfg": cfg, "layer": gz.Bytes()}
	manifest := map[string]any{
		"schemaVersion": 2,
		"mediaType":     layerstore.MediaTypeManifest,
		"config":        map[string]any{"mediaType": layerstore.MediaTypeConfig, "digest": digest.FromBytes(cfg), "size": len(cfg)},
		"layers":        []any{map[string]any{"mediaType": layerstore.MediaTypeLayerGzip, "digest": digest.FromBytes(gz.Bytes()), "size": gz.Len()}},
	}
	if mutate != nil {
		mutate(blobs, &manifest)
	}
	mj, _ := json.Marshal(manifest)
	idx := fmt.Sprintf(`{"schemaVersion":2,"manifests":[{"mediaType":%q,"digest":%q,"size":%d,"annotations":{"org.opencontainers.image.ref.name":"example.com/app:v1"}}]}`,
		layerstore.MediaTypeManifest, digest.FromBytes(mj), len(mj))
	files := map[string][]byte{"oci-layout": []byte(`{"imageLayoutVersion":"1.0.0"}`), "index.json": []byte(idx),
		"blobs/sha256/" + digest.FromBytes(mj).Encoded(): mj}
	for k, b := range blobs {
		name := "blobs/sha256/" + digest.FromBytes(b).Encoded()
		if k == "layer" {
			if d, ok := blobs["layer-name"]; ok {
				name = "blobs/sha256/" + string(d)
			}
		}
		if k != "layer-name" {
			files[name] = b
		}
	}
	return tarOf(t, files)
}

func TestOCIRoundTripKeepsDigests(t *testing.T) {
	s := newStore(t)
	arch := ociArchive(t, nil)
	loaded, err := Load(s, bytes.NewReader(arch))
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded) != 1 || len(loaded[0].Tags) != 1 || loaded[0].Tags[0].String() != "example.com/app:v1" {
		t.Fatalf("loaded %+v", loaded)
	}
	img, err := s.Resolve("example.com/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []Format{OCI, Docker} {
		var out bytes.Buffer
		if err := Save(&out, s, []Named{{Image: img, Refs: loaded[0].Tags}}, f); err != nil {
			t.Fatal(err)
		}
		s2 := newStore(t)
		l2, err := Load(s2, &out)
		if err != nil {
			t.Fatalf("%s: reload: %v", f, err)
		}
		img2, err := s2.Image(l2[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if img2.ID != img.ID || fmt.Sprint(img2.DiffIDs()) != fmt.Sprint(img.DiffIDs()) {
			t.Fatalf("%s: round trip changed the image: %s %v", f, img2.ID, img2.DiffIDs())
		}
		c1, _ := s.Config(img.ID)
		c2, _ := s2.Config(img2.ID)
		if !bytes.Equal(c1, c2) {
			t.Fatalf("%s: config bytes changed", f)
		}
		if f == OCI && (img2.Manifest.Digest != img.Manifest.Digest || img2.Layers[0].Blob.Digest != img.Layers[0].Blob.Digest) {
			t.Fatalf("oci round trip changed manifest or blob digests: %+v vs %+v", img2, img)
		}
		if f == Docker && img2.Layers[0].Blob.Digest != img.Layers[0].DiffID {
			t.Fatalf("docker format should carry uncompressed layers, got %s", img2.Layers[0].Blob.Digest)
		}
	}
}

func TestLoadRefusesBadArchives(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(map[string][]byte, *map[string]any)
		is     error
	}{
		{"blob digest mismatch", func(b map[string][]byte, m *map[string]any) {
			b["layer-name"] = []byte(digest.FromString("something else").Encoded())
			(*m)["layers"].([]any)[0].(map[string]any)["digest"] = digest.FromString("something else")
		}, layerstore.ErrDigestMismatch},
		{"missing blob", func(b map[string][]byte, m *map[string]any) {
			(*m)["layers"] = append((*m)["layers"].([]any), map[string]any{"mediaType": layerstore.MediaTypeLayer, "digest": digest.FromString("gone"), "size": 4})
		}, layerstore.ErrNotFound},
		{"config lists other layers", func(b map[string][]byte, m *map[string]any) {
			(*m)["layers"] = []any{}
		}, layerstore.ErrDigestMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			_, err := Load(s, bytes.NewReader(ociArchive(t, tc.mutate)))
			if !errors.Is(err, tc.is) {
				t.Fatalf("err = %v, want %v", err, tc.is)
			}
			if imgs, _ := s.Images(); len(imgs) != 0 {
				t.Fatalf("a refused load stored %d images", len(imgs))
			}
		})
	}
	s := newStore(t)
	for _, in := range [][]byte{nil, []byte("not a tar at all, definitely not"), tarOf(t, map[string][]byte{"x": []byte("y")})} {
		if _, err := Load(s, bytes.NewReader(in)); !errors.Is(err, ErrFormat) {
			t.Errorf("Load(%q...) err = %v, want ErrFormat", in[:min(len(in), 10)], err)
		}
	}
}
