// Package build applies Dockerfile instructions to image configs. Today it
// serves `lfs import --change` and `lfs commit --change`; the Dockerfile
// builder will dispatch its metadata instructions through it too.
package build

import (
	"errors"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// ErrChange: a --change value that docker would refuse.
var ErrChange = errors.New("invalid change")

// changeable are the instructions `docker import/commit --change` accepts.
var changeable = map[string]bool{
	"cmd": true, "entrypoint": true, "env": true, "expose": true, "healthcheck": true,
	"label": true, "onbuild": true, "user": true, "volume": true, "workdir": true,
	"stopsignal": true, "shell": true,
}

// ApplyChanges parses each change as one Dockerfile instruction with
// buildkit's parser and applies it to cfg, in order.
func ApplyChanges(cfg *v1.Config, changes []string) error {
	for _, ch := range changes {
		if err := applyChange(cfg, ch); err != nil {
			return err
		}
	}
	return nil
}

func applyChange(cfg *v1.Config, change string) error {
	res, err := parser.Parse(strings.NewReader(change))
	if err != nil {
		return fmt.Errorf("%w %q: %v", ErrChange, change, err)
	}
	if len(res.AST.Children) != 1 {
		return fmt.Errorf("%w %q: want exactly one instruction", ErrChange, change)
	}
	node := res.AST.Children[0]
	if !changeable[strings.ToLower(node.Value)] {
		return fmt.Errorf("%w: %s is not a valid change command", ErrChange, strings.ToUpper(node.Value))
	}
	inst, err := instructions.ParseInstruction(node)
	if err != nil {
		return fmt.Errorf("%w %q: %v", ErrChange, change, err)
	}
	return Apply(cfg, inst)
}

// Apply applies one parsed metadata instruction to cfg.
func Apply(cfg *v1.Config, inst any) error {
	expand := func(s string) (string, error) { return expandEnv(s, cfg.Env), nil }
	if e, ok := inst.(instructions.SupportsSingleWordExpansion); ok {
		if err := e.Expand(expand); err != nil {
			return fmt.Errorf("%w: %v", ErrChange, err)
		}
	}
	switch c := inst.(type) {
	case *instructions.CmdCommand:
		cfg.Cmd = shellForm(cfg, c.ShellDependantCmdLine)
		cfg.ArgsEscaped = false
	case *instructions.EntrypointCommand:
		cfg.Entrypoint = shellForm(cfg, c.ShellDependantCmdLine)
		cfg.ArgsEscaped = false
	case *instructions.EnvCommand:
		for _, kv := range c.Env {
			cfg.Env = setEnv(cfg.Env, kv.Key, kv.Value)
		}
	case *instructions.ExposeCommand:
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range c.Ports {
			for _, word := range strings.Fields(expandEnv(p, cfg.Env)) {
				if !strings.Contains(word, "/") {
					word += "/tcp"
				}
				cfg.ExposedPorts[word] = struct{}{}
			}
		}
	case *instructions.HealthCheckCommand:
		h := c.Health
		cfg.Healthcheck = &v1.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, Retries: h.Retries}
	case *instructions.LabelCommand:
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		for _, kv := range c.Labels {
			cfg.Labels[kv.Key] = kv.Value
		}
	case *instructions.OnbuildCommand:
		cfg.OnBuild = append(cfg.OnBuild, c.Expression)
	case *instructions.UserCommand:
		cfg.User = c.User
	case *instructions.VolumeCommand:
		if cfg.Volumes == nil {
			cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			if v = strings.TrimSpace(v); v == "" {
				return fmt.Errorf("%w: VOLUME specified can not be an empty string", ErrChange)
			}
			cfg.Volumes[v] = struct{}{}
		}
	case *instructions.WorkdirCommand:
		p := c.Path
		if !strings.HasPrefix(p, "/") {
			base := cfg.WorkingDir
			if base == "" {
				base = "/"
			}
			p = strings.TrimSuffix(base, "/") + "/" + p
		}
		cfg.WorkingDir = p
	case *instructions.StopSignalCommand:
		cfg.StopSignal = c.Signal
	case *instructions.ShellCommand:
		cfg.Shell = c.Shell
	default:
		return fmt.Errorf("%w: unsupported instruction %T", ErrChange, inst)
	}
	return nil
}

// shellForm turns a shell-form command line into the image's shell plus
// "-c", as docker does; exec form is kept as written.
func shellForm(cfg *v1.Config, c instructions.ShellDependantCmdLine) []string {
	if !c.PrependShell {
		return append([]string{}, c.CmdLine...)
	}
	sh := cfg.Shell
	if len(sh) == 0 {
		sh = []string{"/bin/sh", "-c"}
	}
	return append(append([]string{}, sh...), strings.Join(c.CmdLine, " "))
}

func setEnv(env []string, k, v string) []string {
	for i, e := range env {
		if ek, _, _ := strings.Cut(e, "="); ek == k {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}

// expandEnv processes a word as the Dockerfile dispatcher does for the
// instructions docker expands (ENV, LABEL, WORKDIR, USER, VOLUME, EXPOSE,
// STOPSIGNAL): quotes removed, $VAR and ${VAR} substituted from env,
// unknown names empty.
func expandEnv(s string, env []string) string {
	return shellLex.expand(s, env)
}
