// Package config reads lfs's configuration file: a small TOML subset of
// `key = value` lines (booleans, numbers, "strings", ["string", "lists"])
// and `#` comments.
//
// Where it is looked for, first found wins: $LFS_CONFIG, then
// $XDG_CONFIG_HOME/lfs/config.toml (or ~/.config/lfs/config.toml) for
// users other than root, then /etc/lfs/config.toml.
package config

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Config is lfs's configuration.
type Config struct {
	// KeepCompressed keeps the compressed blob each layer arrived as beside
	// its tar, so saves and pushes reproduce the original digests.
	KeepCompressed bool
	// InsecureRegistries may be reached over plain HTTP or without TLS verification.
	InsecureRegistries []string
	// RegistryMirrors are tried before docker.io.
	RegistryMirrors []string
	// Path is the file the configuration came from, or "".
	Path string
}

// Default is the configuration without a file.
func Default() Config { return Config{KeepCompressed: true} }

// Find returns the configuration file that applies, or "".
func Find() string {
	if p := os.Getenv("LFS_CONFIG"); p != "" {
		return p
	}
	var candidates []string
	if os.Geteuid() != 0 {
		dir := os.Getenv("XDG_CONFIG_HOME")
		if dir == "" {
			if home, err := os.UserHomeDir(); err == nil {
				dir = filepath.Join(home, ".config")
			}
		}
		if dir != "" {
			candidates = append(candidates, filepath.Join(dir, "lfs", "config.toml"))
		}
	}
	candidates = append(candidates, "/etc/lfs/config.toml")
	for _, c := range candidates {
		if _, err := os.Stat(c); err == nil {
			return c
		}
	}
	return ""
}

// Load reads the configuration file that applies; no file is the default.
func Load() (Config, error) {
	p := Find()
	if p == "" {
		return Default(), nil
	}
	return Read(p)
}

// Read parses one file.
func Read(p string) (Config, error) {
	c := Default()
	c.Path = p
	f, err := os.Open(p)
	if err != nil {
		return c, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(stripComment(sc.Text()))
		if line == "" || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return c, fmt.Errorf("config %s:%d: want key = value", p, n)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		var err error
		switch k {
		case "keep-compressed":
			c.KeepCompressed, err = strconv.ParseBool(v)
		case "insecure-registries":
			c.InsecureRegistries, err = parseList(v)
		case "registry-mirrors":
			c.RegistryMirrors, err = parseList(v)
		default:
			err = errors.New("unknown key")
		}
		if err != nil {
			return c, fmt.Errorf("config %s:%d: %s: %v", p, n, k, err)
		}
	}
	return c, sc.Err()
}

func stripComment(s string) string {
	inStr := false
	for i, r := range s {
		switch {
		case r == '"':
			inStr = !inStr
		case r == '#' && !inStr:
			return s[:i]
		}
	}
	return s
}

func parseList(v string) ([]string, error) {
	if !strings.HasPrefix(v, "[") || !strings.HasSuffix(v, "]") {
		return nil, errors.New(`want ["a", "b"]`)
	}
	var out []string
	for _, item := range strings.Split(v[1:len(v)-1], ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		s, err := strconv.Unquote(item)
		if err != nil {
			return nil, fmt.Errorf("%s: not a quoted string", item)
		}
		out = append(out, s)
	}
	return out, nil
}
