package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"
)

// DefaultPath is the PATH a container gets when its image sets none
// (docker's).
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ErrNoCommand is returned by Compose when neither the image nor the
// options name a command.
var ErrNoCommand = errors.New("sandbox: no command specified")

// ImageConfig is what an image's config ("config" in the OCI image
// config) says about running it. Entrypoint and Cmd already hold the
// exec-form arrays a build made of shell forms.
type ImageConfig struct {
	User       string   `json:"User,omitempty"`
	Env        []string `json:"Env,omitempty"`
	Entrypoint []string `json:"Entrypoint,omitempty"`
	Cmd        []string `json:"Cmd,omitempty"`
	WorkingDir string   `json:"WorkingDir,omitempty"`
}

// Options are what the user of `run` asked for, as docker's flags say it.
type Options struct {
	// Args are the arguments after the image name; they replace CMD.
	Args []string
	// Entrypoint, when set (even to ""), replaces the image's
	// ENTRYPOINT and resets its CMD; "" leaves no entrypoint.
	Entrypoint *string
	// Env are -e values after --env-file values, in order: "K=V" sets,
	// "K" alone removes K (the CLI has already taken K from its own
	// environment when it was set there).
	Env []string
	// Workdir replaces the image's WorkingDir.
	Workdir string
	// User replaces the image's User.
	User string
	// Hostname is the container's host name.
	Hostname string
	// Terminal (-t) adds TERM=xterm, as docker does, before the image's
	// Env.
	Terminal bool
}

// Compose applies docker's rules to an image config and run options and
// returns the Spec's Args, Env, Cwd, User and Hostname (the caller sets
// the rest).
//
//   - Args: ENTRYPOINT followed by CMD; run arguments replace CMD;
//     Options.Entrypoint replaces ENTRYPOINT and drops the image's CMD.
//   - Env: PATH=DefaultPath, HOSTNAME=Hostname, TERM=xterm with a
//     terminal, then the image's Env,
//     then Options.Env, each replacing a variable of the same name.
//   - Cwd: Options.Workdir, else the image's WorkingDir, else "/".
func Compose(img ImageConfig, o Options) (Spec, error) {
	entrypoint, cmd := img.Entrypoint, img.Cmd
	if o.Entrypoint != nil {
		entrypoint, cmd = nil, nil
		if *o.Entrypoint != "" {
			entrypoint = []string{*o.Entrypoint}
		}
	}
	if len(o.Args) > 0 {
		cmd = o.Args
	}
	args := append(append([]string{}, entrypoint...), cmd...)
	if len(args) == 0 {
		return Spec{}, ErrNoCommand
	}
	env := []string{"PATH=" + DefaultPath, "HOSTNAME=" + o.Hostname}
	if o.Terminal {
		env = append(env, "TERM=xterm")
	}
	env = MergeEnv(env, img.Env)
	env = MergeEnv(env, o.Env)
	cwd := img.WorkingDir
	if o.Workdir != "" {
		cwd = o.Workdir
	}
	if cwd == "" {
		cwd = "/"
	}
	user := img.User
	if o.User != "" {
		user = o.User
	}
	return Spec{Args: args, Env: env, Cwd: cwd, User: user, Hostname: o.Hostname, Terminal: o.Terminal}, nil
}

// MergeEnv returns env with each of over applied in order: "K=V" replaces
// K's value in place or appends it, "K" removes K (moby's
// ReplaceOrAppendEnvValues).
func MergeEnv(env, over []string) []string {
	out := append([]string{}, env...)
	for _, kv := range over {
		k, _, set := strings.Cut(kv, "=")
		i := index(out, k)
		switch {
		case !set && i >= 0:
			out = append(out[:i], out[i+1:]...)
		case !set:
		case i >= 0:
			out[i] = kv
		default:
			out = append(out, kv)
		}
	}
	return out
}

func index(env []string, key string) int {
	for i, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			return i
		}
	}
	return -1
}

// Lookup is how a "K" without a value finds K in the caller's
// environment; os.LookupEnv in the CLI.
type Lookup func(key string) (string, bool)

// ExpandEnv turns each "K" without "=" into "K=V" when lookup finds K,
// as docker's -e does; "K" stays (and will remove K) otherwise.
func ExpandEnv(vars []string, lookup Lookup) []string {
	out := make([]string, 0, len(vars))
	for _, kv := range vars {
		if !strings.Contains(kv, "=") {
			if v, ok := lookup(kv); ok {
				kv += "=" + v
			}
		}
		out = append(out, kv)
	}
	return out
}

// ParseEnvFile reads a docker --env-file: one K=V or K per line, the value
// taken verbatim (no quotes, no expansion), blank lines and lines starting
// with # skipped, leading white space dropped; a K alone is looked up as
// in ExpandEnv.
func ParseEnvFile(r io.Reader, name string, lookup Lookup) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimLeftFunc(strings.TrimSuffix(sc.Text(), "\r"), unicode.IsSpace)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, set := strings.Cut(line, "=")
		if !set {
			k = strings.TrimRightFunc(k, unicode.IsSpace)
			line = k
		}
		if k == "" {
			return nil, fmt.Errorf("env file %s: no variable name on line %d", name, n)
		}
		if strings.IndexFunc(k, unicode.IsSpace) >= 0 {
			return nil, fmt.Errorf("env file %s: variable '%s' contains whitespaces", name, k)
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("env file %s: %w", name, err)
	}
	return ExpandEnv(out, lookup), nil
}

// ReadEnvFile is ParseEnvFile on a named file.
func ReadEnvFile(path string, lookup Lookup) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("env file: %w", err)
	}
	defer f.Close()
	return ParseEnvFile(f, path, lookup)
}
