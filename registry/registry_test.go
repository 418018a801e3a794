package registry

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/lfs-dev/lfs/layerstore"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/lfs-dev/lfs/reference"
)

func TestAuthKey(t *testing.T) {
	for in, want := range map[string]string{
		"":                            authn.DefaultAuthKey,
		"docker.io":                   authn.DefaultAuthKey,
		"index.docker.io":             authn.DefaultAuthKey,
		"https://index.docker.io/v1/": authn.DefaultAuthKey,
		"127.0.0.1:5000":              "127.0.0.1:5000",
		"https://quay.io":             "quay.io",
	} {
		if got, err := authKey(in); err != nil || got != want {
			t.Errorf("authKey(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := authKey("bad host!"); !errors.Is(err, reference.ErrInvalid) {
		t.Errorf("authKey of a bad host: %v, want ErrInvalid", err)
	}
}

func TestPickPlatform(t *testing.T) {
	d := func(os, arch, variant string) v1.Descriptor {
		return v1.Descriptor{Platform: &v1.Platform{OS: os, Architecture: arch, Variant: variant}}
	}
	ms := []v1.Descriptor{d("unknown", "unknown", ""), d("linux", "arm", "v6"), d("linux", "arm", "v7"), d("linux", "amd64", "")}
	for _, c := range []struct {
		want v1.Platform
		idx  int
	}{
		{v1.Platform{OS: "linux", Architecture: "amd64"}, 3},
		{v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, 2},
		{v1.Platform{OS: "linux", Architecture: "arm"}, 1},
		{v1.Platform{OS: "linux", Architecture: "s390x"}, -1},
	} {
		got, err := pickPlatform(ms, c.want)
		if c.idx < 0 {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("%v: %v, want ErrNotFound", c.want, err)
			}
			continue
		}
		if err != nil || got.Platform != ms[c.idx].Platform {
			t.Errorf("%v: got %v (%v), want entry %d", c.want, got.Platform, err, c.idx)
		}
	}
}

func TestMirrors(t *testing.T) {
	c := New(Mirrors("http://127.0.0.1:5000/", "https://mirror.example/v2", "plain.example:443"))
	if want := []string{"127.0.0.1:5000", "mirror.example", "plain.example:443"}; !slices.Equal(c.mirrors, want) {
		t.Errorf("mirrors %v, want %v", c.mirrors, want)
	}
	if !c.isInsecure("127.0.0.1:5000") || c.isInsecure("mirror.example") {
		t.Errorf("only an http:// mirror may use plain HTTP: insecure %v", c.insecure)
	}
}

func TestLayerMediaTypes(t *testing.T) {
	for _, c := range []struct {
		mt   string
		want layerstore.Compression
	}{
		{string(types.DockerLayer), layerstore.Gzip},
		{string(types.DockerUncompressedLayer), layerstore.Uncompressed},
		{layerstore.MediaTypeLayerGzip, layerstore.Gzip},
		{layerstore.MediaTypeLayerZstd, layerstore.Zstd},
		{layerstore.MediaTypeLayer, layerstore.Uncompressed},
	} {
		if got := compressionOf(c.mt); got != c.want {
			t.Errorf("compressionOf(%s) = %s, want %s", c.mt, got, c.want)
		}
		docker := strings.Contains(c.mt, "docker")
		if c.want != layerstore.Zstd && layerMediaType(c.want, docker) != c.mt {
			t.Errorf("layerMediaType(%s, %v) = %s, want %s", c.want, docker, layerMediaType(c.want, docker), c.mt)
		}
	}
}

func TestCertificateError(t *testing.T) {
	err := fmt.Errorf("Get %q: %w", "https://h:1/v2/", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}})
	ce := certificateError("h:1", []string{"/d"}, err)
	if ce == nil || !errors.Is(ce, ErrCertificate) || !strings.Contains(ce.Error(), "/d/h:1/ca.crt") {
		t.Fatalf("certificateError: %v", ce)
	}
	if certificateError("h:1", nil, errors.New("connection refused")) != nil {
		t.Error("certificateError of a refused connection is not nil")
	}
}
