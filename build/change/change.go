// Package change applies Dockerfile instructions to an image config, as
// docker's dispatcher does: `lfs import --change`, `lfs commit --change`
// and the metadata steps of the builder (package build) all go through
// Instruction, so one set of rules serves all three.
//
// Instructions arrive parsed by buildkit's parser and instructions
// packages. Expand substitutes variables in the words docker substitutes
// (ENV, LABEL, WORKDIR, USER, VOLUME, EXPOSE, STOPSIGNAL, COPY/ADD
// operands), with buildkit's shell lexer; Instruction then changes the
// config and nothing else: what an instruction means for a build (layers,
// build args, history) is package build's.
package change

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// ErrInvalid: a change or instruction docker would refuse.
var ErrInvalid = errors.New("invalid change")

// changeable are the instructions `docker import/commit --change` accepts.
var changeable = map[string]bool{
	"cmd": true, "entrypoint": true, "env": true, "expose": true, "healthcheck": true,
	"label": true, "onbuild": true, "user": true, "volume": true, "workdir": true,
	"stopsignal": true, "shell": true,
}

// Apply parses each change as one Dockerfile instruction with buildkit's
// parser, expands it with the config's Env, and applies it to cfg, in
// order.
func Apply(cfg *v1.Config, changes []string) error {
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
		return fmt.Errorf("%w %q: %v", ErrInvalid, change, err)
	}
	if len(res.AST.Children) != 1 {
		return fmt.Errorf("%w %q: want exactly one instruction", ErrInvalid, change)
	}
	node := res.AST.Children[0]
	if !changeable[strings.ToLower(node.Value)] {
		return fmt.Errorf("%w: %s is not a valid change command", ErrInvalid, strings.ToUpper(node.Value))
	}
	inst, err := instructions.ParseInstruction(node)
	if err != nil {
		return fmt.Errorf("%w %q: %v", ErrInvalid, change, err)
	}
	if err := Expand(inst, shell.NewLex(res.EscapeToken), cfg.Env); err != nil {
		return err
	}
	return Instruction(cfg, inst)
}

// Expand substitutes variables from env (K=V, later ones win) in the
// words of inst that docker expands, in place: quotes removed, $VAR,
// ${VAR}, ${VAR:-default} and ${VAR:+alt} replaced, unknown names empty.
// EXPOSE words are split after substitution (EXPOSE $PORTS), as docker
// does for that instruction only.
func Expand(inst any, lex *shell.Lex, env []string) error {
	envs := shell.EnvsFromSlice(env)
	if e, ok := inst.(instructions.SupportsSingleWordExpansion); ok {
		err := e.Expand(func(word string) (string, error) {
			s, _, err := lex.ProcessWord(word, envs)
			return s, err
		})
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	}
	if c, ok := inst.(*instructions.ExposeCommand); ok {
		var ports []string
		for _, p := range c.Ports {
			words, err := lex.ProcessWords(p, envs)
			if err != nil {
				return fmt.Errorf("%w: %v", ErrInvalid, err)
			}
			ports = append(ports, words...)
		}
		c.Ports = ports
	}
	return nil
}

// Instruction applies one parsed, expanded metadata instruction to cfg.
// Instructions that are not about the config (RUN, COPY, FROM, ...) are
// refused with ErrInvalid.
func Instruction(cfg *v1.Config, inst any) error {
	switch c := inst.(type) {
	case *instructions.CmdCommand:
		cfg.Cmd = ShellForm(cfg, c.ShellDependantCmdLine)
		cfg.ArgsEscaped = false
	case *instructions.EntrypointCommand:
		cfg.Entrypoint = ShellForm(cfg, c.ShellDependantCmdLine)
		cfg.ArgsEscaped = false
	case *instructions.EnvCommand:
		for _, kv := range c.Env {
			cfg.Env = setEnv(cfg.Env, kv.Key, kv.Value)
		}
	case *instructions.ExposeCommand:
		ports, err := ExposedPorts(c.Ports)
		if err != nil {
			return err
		}
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range ports {
			cfg.ExposedPorts[p] = struct{}{}
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
				return fmt.Errorf("%w: VOLUME specified can not be an empty string", ErrInvalid)
			}
			cfg.Volumes[v] = struct{}{}
		}
	case *instructions.WorkdirCommand:
		cfg.WorkingDir = Workdir(cfg.WorkingDir, c.Path)
	case *instructions.StopSignalCommand:
		cfg.StopSignal = c.Signal
	case *instructions.ShellCommand:
		cfg.Shell = c.Shell
	default:
		return fmt.Errorf("%w: unsupported instruction %T", ErrInvalid, inst)
	}
	return nil
}

// Workdir is docker's WORKDIR rule: a relative path is joined to the
// current one (and cleaned), an absolute one taken as written.
func Workdir(current, requested string) string {
	if strings.HasPrefix(requested, "/") {
		return requested
	}
	if current == "" {
		current = "/"
	}
	return path.Join("/", current, requested)
}

// ShellForm turns a shell-form command line into the image's shell plus
// the line, as docker does; exec form is kept as written.
func ShellForm(cfg *v1.Config, c instructions.ShellDependantCmdLine) []string {
	if !c.PrependShell || len(c.CmdLine) == 0 {
		return append([]string{}, c.CmdLine...)
	}
	sh := cfg.Shell
	if len(sh) == 0 {
		sh = []string{"/bin/sh", "-c"}
	}
	return append(append([]string{}, sh...), strings.Join(c.CmdLine, " "))
}

// ExposedPorts parses EXPOSE words as docker does: PORT or START-END,
// optionally /PROTO (tcp when missing), into "PORT/proto" keys.
func ExposedPorts(words []string) ([]string, error) {
	var out []string
	for _, w := range words {
		spec, proto, ok := strings.Cut(w, "/")
		if !ok || proto == "" {
			proto = "tcp"
		}
		proto = strings.ToLower(proto)
		lo, hi, isRange := strings.Cut(spec, "-")
		start, err := strconv.ParseUint(lo, 10, 16)
		end := start
		if err == nil && isRange {
			end, err = strconv.ParseUint(hi, 10, 16)
		}
		if err != nil || end < start {
			return nil, fmt.Errorf("%w: invalid containerPort: %s", ErrInvalid, spec)
		}
		for p := start; p <= end; p++ {
			out = append(out, strconv.FormatUint(p, 10)+"/"+proto)
		}
	}
	return out, nil
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
