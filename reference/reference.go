// Package reference parses image references by Docker's rules.
//
// Parsing is go-containerregistry's (pkg/name); this package only fixes the
// spelling lfs stores and prints: Docker Hub is "docker.io" (ggcr says
// "index.docker.io"), a missing tag is "latest", and the familiar form drops
// "docker.io/" and "library/" as the docker CLI does.
package reference

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// ErrInvalid is returned for a string that is not a valid reference.
var ErrInvalid = errors.New("invalid reference format")

// DockerHub is the registry a reference without one belongs to.
const DockerHub = "docker.io"

// Ref is a parsed image reference. Exactly one of Tag and Digest is set
// unless both were given (name:tag@digest), as Docker allows.
type Ref struct {
	Registry   string // "docker.io", "localhost:5000"
	Repository string // "library/busybox"
	Tag        string // "latest" when neither tag nor digest was given
	Digest     string // "sha256:..."
}

// Parse parses s with Docker's defaults.
func Parse(s string) (Ref, error) {
	if s == "" || strings.TrimSpace(s) != s {
		return Ref{}, fmt.Errorf("%w: %q", ErrInvalid, s)
	}
	// ggcr rejects name:tag@digest; Docker accepts it and keeps the digest.
	base, dgst, hasDigest := strings.Cut(s, "@")
	if hasDigest && (base == "" || strings.HasSuffix(base, ":")) {
		return Ref{}, fmt.Errorf("%w: %q", ErrInvalid, s)
	}
	t, err := name.NewTag(base, name.WeakValidation)
	if err != nil || !validPath(t.Context().RepositoryStr()) {
		return Ref{}, fmt.Errorf("%w: %q", ErrInvalid, s)
	}
	r := fromRepo(t.Context())
	if !hasDigest || hasExplicitTag(base) {
		r.Tag = t.TagStr()
	}
	if hasDigest {
		d, err := name.NewDigest(t.Context().Name()+"@"+dgst, name.WeakValidation)
		if err != nil {
			return Ref{}, fmt.Errorf("%w: %q", ErrInvalid, s)
		}
		r.Digest = d.DigestStr()
	}
	return r, nil
}

// hasExplicitTag reports whether a reference without digest names a tag: a
// colon after the last slash (a colon before it is a registry port).
func hasExplicitTag(s string) bool {
	return strings.Contains(s[strings.LastIndex(s, "/")+1:], ":")
}

// validPath checks what ggcr leaves to the registry: Docker's path
// components are lower-case alphanumerics joined by single separators
// ("." "_" "__" or runs of "-"), never empty and never starting or ending
// with a separator.
func validPath(p string) bool {
	for _, c := range strings.Split(p, "/") {
		if c == "" || !alnum(c[0]) || !alnum(c[len(c)-1]) {
			return false
		}
		for i := 1; i < len(c); i++ {
			a, b := c[i-1], c[i]
			if (a == '.' || a == '_') && (b == '.' || b == '-') || a == '.' && b == '_' || a == '-' && (b == '.' || b == '_') {
				return false
			}
			if a == '_' && b == '_' && i >= 2 && c[i-2] == '_' {
				return false
			}
		}
	}
	return true
}

func alnum(b byte) bool { return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' }

// ParseRepository parses a repository name without tag or digest
// ("busybox", "localhost:5000/x").
func ParseRepository(s string) (Ref, error) {
	repo, err := name.NewRepository(s, name.WeakValidation)
	if err != nil || !validPath(repo.RepositoryStr()) {
		return Ref{}, fmt.Errorf("%w: %q", ErrInvalid, s)
	}
	return fromRepo(repo), nil
}

func fromRepo(repo name.Repository) Ref {
	reg := repo.RegistryStr()
	if reg == name.DefaultRegistry {
		reg = DockerHub
	}
	return Ref{Registry: reg, Repository: repo.RepositoryStr()}
}

// Name is the full repository name: "docker.io/library/busybox".
func (r Ref) Name() string { return r.Registry + "/" + r.Repository }

// String is the full reference lfs stores: "docker.io/library/busybox:latest".
func (r Ref) String() string {
	s := r.Name()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// FamiliarName is the repository as the docker CLI prints it: "busybox",
// "user/repo", "localhost:5000/x".
func (r Ref) FamiliarName() string {
	if r.Registry == DockerHub {
		return strings.TrimPrefix(r.Repository, "library/")
	}
	return r.Name()
}

// Familiar is the whole reference as the docker CLI prints it: "busybox:latest".
func (r Ref) Familiar() string {
	s := r.FamiliarName()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// WithTag returns r naming tag instead of any tag or digest.
func (r Ref) WithTag(tag string) Ref {
	r.Tag, r.Digest = tag, ""
	return r
}

// WithDigest returns r naming digest d instead of any tag or digest.
func (r Ref) WithDigest(d string) Ref {
	r.Tag, r.Digest = "", d
	return r
}
