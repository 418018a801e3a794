package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	dockerconfig "github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/lfs-dev/lfs/reference"
)

// AuthFile is the docker config.json lfs reads and writes credentials in:
// $REGISTRY_AUTH_FILE (podman's), else $DOCKER_CONFIG/config.json, else
// ~/.docker/config.json.
func AuthFile() string {
	if p := os.Getenv("REGISTRY_AUTH_FILE"); p != "" {
		return p
	}
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, dockerconfig.ConfigFileName)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(".docker", dockerconfig.ConfigFileName)
	}
	return filepath.Join(home, ".docker", dockerconfig.ConfigFileName)
}

// authKey is the key of a registry in config.json: docker's historical URL
// for Docker Hub, host[:port] for the others.
func authKey(registry string) (string, error) {
	host := strings.TrimPrefix(strings.TrimPrefix(registry, "https://"), "http://")
	host, _, _ = strings.Cut(host, "/")
	switch host {
	case "", reference.DockerHub, name.DefaultRegistry, "registry-1.docker.io":
		return authn.DefaultAuthKey, nil
	}
	if _, err := name.NewRegistry(host); err != nil {
		return "", fmt.Errorf("%w: registry %q", reference.ErrInvalid, registry)
	}
	return host, nil
}

func loadAuthFile() (*configfile.ConfigFile, error) {
	p := AuthFile()
	cf := configfile.New(p)
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return cf, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	defer f.Close()
	if err := cf.LoadFromReader(f); err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	return cf, nil
}

// fileKeychain resolves credentials from AuthFile, credential helpers
// included, so that what lfs login wrote is what lfs uses.
type fileKeychain struct{}

var _ = (authn.Keychain)(fileKeychain{})

func (fileKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if _, err := os.Stat(AuthFile()); err != nil {
		return authn.Anonymous, nil
	}
	cf, err := loadAuthFile()
	if err != nil {
		return nil, err
	}
	key, err := authKey(r.RegistryStr())
	if err != nil {
		return authn.Anonymous, nil
	}
	ac, err := cf.GetAuthConfig(key)
	if err != nil {
		return nil, err
	}
	if ac.Username == "" && ac.Password == "" && ac.Auth == "" && ac.IdentityToken == "" && ac.RegistryToken == "" {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(authn.AuthConfig{Username: ac.Username, Password: ac.Password, Auth: ac.Auth,
		IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken}), nil
}

// Login checks user and password against the registry (a GET /v2/ that
// must succeed with them) and then stores them in AuthFile, through its
// credential helper if it names one.
func (c *Client) Login(ctx context.Context, registry, user, password string) error {
	key, err := authKey(registry)
	if err != nil {
		return err
	}
	if user == "" || password == "" {
		return fmt.Errorf("login %s: %w: username and password are required", registry, ErrUnauthorized)
	}
	host := key
	if key == authn.DefaultAuthKey {
		host = name.DefaultRegistry
	}
	if err := c.check(ctx, host, &authn.Basic{Username: user, Password: password}); err != nil {
		return fmt.Errorf("login %s: %w", host, err)
	}
	cf, err := loadAuthFile()
	if err != nil {
		return err
	}
	if err := cf.GetCredentialsStore(key).Store(types.AuthConfig{Username: user, Password: password, ServerAddress: key}); err != nil {
		return fmt.Errorf("store credentials for %s: %w", host, err)
	}
	if err := os.MkdirAll(filepath.Dir(cf.Filename), 0o700); err != nil {
		return fmt.Errorf("store credentials: %w", err)
	}
	if err := cf.Save(); err != nil {
		return fmt.Errorf("store credentials in %s: %w", cf.Filename, err)
	}
	return nil
}

// check makes one authenticated request to the registry's API root.
func (c *Client) check(ctx context.Context, host string, auth authn.Authenticator) error {
	reg, err := name.NewRegistry(host, c.nameOpts(host)...)
	if err != nil {
		return fmt.Errorf("%w: registry %q", reference.ErrInvalid, host)
	}
	rt, err := transport.NewWithContext(ctx, reg, auth, c.transport(host), nil)
	if err != nil {
		return classify(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, reg.Scheme()+"://"+reg.RegistryStr()+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return classify(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%w: incorrect username or password", ErrUnauthorized)
	}
	return fmt.Errorf("GET /v2/: unexpected status %s", resp.Status)
}

// Logout removes the registry's credentials from AuthFile (or its
// credential helper). It reports whether there were any.
func Logout(registry string) (bool, error) {
	key, err := authKey(registry)
	if err != nil {
		return false, err
	}
	cf, err := loadAuthFile()
	if err != nil {
		return false, err
	}
	ac, err := cf.GetAuthConfig(key)
	if err != nil {
		return false, err
	}
	if _, inFile := cf.AuthConfigs[key]; !inFile && ac.Username == "" && ac.Password == "" && ac.IdentityToken == "" {
		return false, nil
	}
	if err := cf.GetCredentialsStore(key).Erase(key); err != nil {
		return false, fmt.Errorf("remove credentials for %s: %w", key, err)
	}
	delete(cf.AuthConfigs, key)
	if err := cf.Save(); err != nil {
		return false, fmt.Errorf("remove credentials from %s: %w", cf.Filename, err)
	}
	return true, nil
}
