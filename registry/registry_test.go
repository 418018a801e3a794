package registry

import (
	"errors"
	"testing"

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
