package build

import (
	"fmt"
	"sort"
	"strings"
)

// builtinArgs are the build args docker predefines: usable without an ARG,
// passed to RUN when given, kept out of history and cache keys unless an
// ARG declares them.
var builtinArgs = map[string]bool{
	"HTTP_PROXY": true, "http_proxy": true, "HTTPS_PROXY": true, "https_proxy": true,
	"FTP_PROXY": true, "ftp_proxy": true, "NO_PROXY": true, "no_proxy": true,
	"ALL_PROXY": true, "all_proxy": true,
}

// buildArgs is docker's BuildArgs: what --build-arg gave, the meta ARGs
// (before the first FROM) and what the current stage declared.
type buildArgs struct {
	given    map[string]*string // --build-arg; nil value: named without one
	meta     map[string]*string
	allowed  map[string]*string // declared in this stage (value: its default)
	order    []string           // allowed, in declaration order
	consumed map[string]bool
}

// parseBuildArgs reads --build-arg values: K=V, or K (its value taken
// from lookup, as docker's CLI does, else given without a value).
func parseBuildArgs(kvs []string, lookup func(string) (string, bool)) (map[string]*string, error) {
	out := map[string]*string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if k == "" {
			return nil, fmt.Errorf("invalid build arg %q: no name", kv)
		}
		if !ok {
			if lookup != nil {
				if ev, found := lookup(k); found {
					out[k] = &ev
					continue
				}
			}
			out[k] = nil
			continue
		}
		out[k] = &v
	}
	return out, nil
}

func newBuildArgs(given map[string]*string) *buildArgs {
	return &buildArgs{given: given, meta: map[string]*string{}, consumed: map[string]bool{}}
}

// forStage starts a stage: nothing declared yet, meta args and given
// values kept.
func (b *buildArgs) forStage() *buildArgs {
	return &buildArgs{given: b.given, meta: b.meta, allowed: map[string]*string{}, consumed: b.consumed}
}

func (b *buildArgs) value(k string, def *string) (string, bool) {
	if v, ok := b.given[k]; ok && v != nil {
		return *v, true
	}
	if def != nil {
		return *def, true
	}
	return "", false
}

// addMeta declares an ARG before the first FROM.
func (b *buildArgs) addMeta(k string, def *string) {
	b.consumed[k] = true
	b.meta[k] = def
}

// metaEnv is what FROM lines expand with: the meta ARGs with a value.
func (b *buildArgs) metaEnv() []string {
	var env []string
	for k, def := range b.meta {
		if v, ok := b.value(k, def); ok {
			env = append(env, k+"="+v)
		}
	}
	sort.Strings(env)
	return env
}

// add declares an ARG in the current stage. Without a default, a meta
// ARG of the same name gives one.
func (b *buildArgs) add(k string, def *string) {
	b.consumed[k] = true
	if def == nil {
		if m, ok := b.meta[k]; ok {
			if v, ok := b.value(k, m); ok {
				def = &v
			}
		}
	}
	if _, ok := b.allowed[k]; !ok {
		b.order = append(b.order, k)
	}
	b.allowed[k] = def
}

// allowedEnv is docker's FilterAllowed: declared args and given builtin
// ones, with a value, that env (the config's) does not set; sorted.
func (b *buildArgs) allowedEnv(env []string) []string {
	set := map[string]bool{}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		set[k] = true
	}
	var out []string
	seen := map[string]bool{}
	for _, k := range b.order {
		seen[k] = true
		if v, ok := b.value(k, b.allowed[k]); ok && !set[k] {
			out = append(out, k+"="+v)
		}
	}
	for k := range b.given {
		if builtinArgs[k] && !seen[k] && !set[k] {
			if v, ok := b.value(k, nil); ok {
				out = append(out, k+"="+v)
			}
		}
	}
	sort.Strings(out)
	return out
}

// recorded keeps of allowedEnv what history and cache keys show: the
// declared args, not builtins given but never declared.
func (b *buildArgs) recorded(vars []string) []string {
	var out []string
	for _, kv := range vars {
		k, _, _ := strings.Cut(kv, "=")
		if _, declared := b.allowed[k]; declared || !builtinArgs[k] {
			out = append(out, kv)
		}
	}
	return out
}

// unused lists given args no ARG consumed (builtins excepted), sorted.
func (b *buildArgs) unused() []string {
	var out []string
	for k := range b.given {
		if !b.consumed[k] && !builtinArgs[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
