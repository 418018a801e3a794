package layerstore

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	digest "github.com/opencontainers/go-digest"
)

// A pull streams its layers into one batch from several goroutines; the
// same content arriving twice at once (gzip and plain) must still give one
// layer with both forms recorded.
func TestBatchAddLayerConcurrently(t *testing.T) {
	s := openStore(t)
	b, err := s.NewBatch()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Abort()
	shared := mkTar(t, "shared", "layer")
	inputs := [][]byte{gz(shared), shared}
	for i := 0; i < 6; i++ {
		inputs = append(inputs, gz(mkTar(t, "own", fmt.Sprint(i))))
	}
	refs := make([]LayerRef, len(inputs))
	errs := make([]error, len(inputs))
	var wg sync.WaitGroup
	for i, in := range inputs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			refs[i], errs[i] = b.AddLayer(bytes.NewReader(in), digest.FromBytes(in), "")
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if refs[0].DiffID != refs[1].DiffID {
		t.Fatalf("the same tar gave two diff IDs: %s %s", refs[0].DiffID, refs[1].DiffID)
	}
	var diffIDs []string
	for _, r := range refs[1:] {
		diffIDs = append(diffIDs, fmt.Sprintf("%q", r.DiffID))
	}
	cfg := fmt.Sprintf(`{"rootfs":{"type":"layers","diff_ids":[%s]}}`, strings.Join(diffIDs, ","))
	desc, err := b.AddBlob([]byte(cfg), MediaTypeConfig, "")
	if err != nil {
		t.Fatal(err)
	}
	b.SetImage(Image{ID: desc.Digest, Layers: refs[1:]})
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if probs, err := s.Check(false); err != nil || len(probs) != 0 {
		t.Fatalf("check: %v %v", probs, err)
	}

	info, err := s.LayerInfo(refs[0].DiffID)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != int64(len(shared)) || len(info.Blobs) != 1 || info.Blobs[0].Digest != refs[0].Blob.Digest {
		t.Errorf("LayerInfo = %+v, want size %d and the gzip blob %s", info, len(shared), refs[0].Blob.Digest)
	}
	if _, err := s.LayerInfo(digest.FromString("absent")); !errors.Is(err, ErrNotFound) {
		t.Errorf("LayerInfo of an absent layer: %v, want ErrNotFound", err)
	}
}
