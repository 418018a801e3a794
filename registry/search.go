package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/lfs-dev/lfs/reference"
)

// Found is one repository a search matched.
type Found struct {
	Name string   // "127.0.0.1:5000/library/busybox"
	Tags []string // sorted
}

// Search lists the repositories of a registry's catalog (/v2/_catalog,
// every page) whose path contains term, with their tags, at most limit of
// them (0: all). query is "REGISTRY/TERM" or "REGISTRY/" for everything;
// Docker Hub has no catalog, so a registry must be named.
func (c *Client) Search(ctx context.Context, query string, limit int) ([]Found, error) {
	host, term, _ := strings.Cut(query, "/")
	if host == "" || !strings.ContainsAny(host, ".:") && host != "localhost" {
		return nil, fmt.Errorf("search %q: %w: name a registry, as in REGISTRY/TERM (Docker Hub has no catalog)", query, reference.ErrInvalid)
	}
	reg, err := name.NewRegistry(host, c.nameOpts(host)...)
	if err != nil {
		return nil, fmt.Errorf("search %q: %w", query, reference.ErrInvalid)
	}
	opts := c.remoteOpts(ctx, host)
	repos, err := remote.Catalog(ctx, reg, opts...)
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) && (te.StatusCode == http.StatusNotFound || te.StatusCode == http.StatusUnauthorized ||
			te.StatusCode == http.StatusForbidden || te.StatusCode == http.StatusMethodNotAllowed) {
			return nil, fmt.Errorf("search %s: %w (HTTP %d from /v2/_catalog)", host, ErrNoCatalog, te.StatusCode)
		}
		return nil, fmt.Errorf("search %s: %w", host, classify(err))
	}
	sort.Strings(repos)
	var out []Found
	for _, r := range repos {
		if !strings.Contains(r, term) {
			continue
		}
		if limit > 0 && len(out) >= limit {
			break
		}
		repo := reg.Repo(r)
		tags, err := remote.List(repo, opts...)
		if err != nil {
			return nil, fmt.Errorf("search %s: tags of %s: %w", host, r, classify(err))
		}
		sort.Strings(tags)
		out = append(out, Found{Name: host + "/" + r, Tags: tags})
	}
	return out, nil
}
