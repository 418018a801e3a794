package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/lfs-dev/lfs/build/change"
	"github.com/lfs-dev/lfs/imagearchive"
	"github.com/lfs-dev/lfs/layerstore"
	"github.com/lfs-dev/lfs/reference"
	"github.com/lfs-dev/lfs/sandbox"
	"github.com/lfs-dev/lfs/seccomp"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/patternmatcher"
	digest "github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// Sentinels, checked with errors.Is.
var (
	// ErrDockerfile: the Dockerfile does not parse (a *Error says where).
	ErrDockerfile = errors.New("invalid Dockerfile")
	// ErrInterrupted: SIGINT or SIGTERM stopped the build.
	ErrInterrupted = errors.New("build interrupted")
)

// RunError is a RUN whose command failed: docker's message, and the
// status the build exits with.
type RunError struct {
	Cmd  []string
	Code int
}

func (e *RunError) Error() string {
	return fmt.Sprintf("The command '%s' returned a non-zero code: %d", strings.Join(e.Cmd, " "), e.Code)
}

// InterruptedError is ErrInterrupted with the signal that stopped the build.
type InterruptedError struct{ Signal os.Signal }

func (e *InterruptedError) Error() string        { return fmt.Sprintf("build interrupted by %v", e.Signal) }
func (e *InterruptedError) Is(target error) bool { return target == ErrInterrupted }

// PullFunc fetches an image into the store (lfs pull's registry client)
// and returns its ID; platform may be "".
type PullFunc func(ctx context.Context, ref, platform string) (digest.Digest, error)

// Options are lfs build's.
type Options struct {
	// Dockerfile is the Dockerfile's text; DockerfileName what errors call it.
	Dockerfile     []byte
	DockerfileName string
	// ContextDir is the build context ("" for none: a Dockerfile alone).
	ContextDir string
	// Tags name the final image (REPOSITORY[:TAG]).
	Tags []string
	// BuildArgs are --build-arg values: K=V, or K (taken from the
	// environment when set there).
	BuildArgs []string
	// Labels are added to the last stage as LABEL steps (--label K=V).
	Labels  []string
	Target  string
	NoCache bool
	// ForcePull pulls every FROM image, even one the store holds.
	ForcePull bool
	Pull      PullFunc
	// Network is RUN's network by default (a RUN --network overrides it).
	Network sandbox.Network
	// Quiet: no output but the final image ID.
	Quiet bool
	// Stdout gets the steps and RUN's output, Stderr RUN's errors and
	// warnings.
	Stdout, Stderr io.Writer
	// Signals, when not nil, stop the build: the running RUN's command
	// is signalled, then killed 2 s later. Subscribe before calling.
	Signals <-chan os.Signal
	// Now stamps history and configs; time.Now when nil.
	Now func() time.Time
}

// Result is what a build made.
type Result struct {
	ID digest.Digest
	// Tags are the full references now pointing at ID.
	Tags []string
}

// cacheBucket is the bucket of meta.db holding cache key → image ID.
const cacheBucket = "build-cache"

// builder is one build in progress.
type builder struct {
	s      *layerstore.Store
	o      Options
	df     *Dockerfile
	out    io.Writer // the step lines
	runOut io.Writer // RUN's stdout
	runErr io.Writer // RUN's stderr
	args   *buildArgs
	ctx    context.Context

	context *tree // the build context; nil without one
	work    *layerstore.WorkArea
	nwork   int

	stages    []stageResult
	imgTrees  []openTree // least recently used first
	workTrees []*tree    // downloads and heredocs

	sig      sync.Mutex
	signaled os.Signal
	runSigs  chan os.Signal // the running RUN's, while one runs

	// filter is docker's default seccomp profile for the default
	// capabilities, compiled at the first RUN (docker applies it to RUN).
	filter *seccomp.Filter
}

type stageResult struct {
	name string
	id   digest.Digest
}

// stage is the state of the stage being built (docker's dispatchState).
type stage struct {
	name       string
	id         digest.Digest // the current image; "" while nothing was made from scratch
	cfg        v1.ConfigFile
	layers     []layerstore.LayerRef
	args       *buildArgs
	cmdSet     bool
	maintainer string
	cacheBust  bool // a step missed: later ones do not look
	lex        *shell.Lex
}

// Build builds the Dockerfile into s.
func Build(ctx context.Context, s *layerstore.Store, o Options) (Result, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	if o.DockerfileName == "" {
		o.DockerfileName = "Dockerfile"
	}
	var refs []reference.Ref
	for _, t := range o.Tags {
		r, err := reference.Parse(t)
		if err != nil {
			return Result{}, fmt.Errorf("invalid tag %q: %w", t, err)
		}
		if r.Digest != "" {
			return Result{}, fmt.Errorf("invalid tag %q: a tag cannot hold a digest: %w", t, reference.ErrInvalid)
		}
		refs = append(refs, r)
	}
	given, err := parseBuildArgs(o.BuildArgs, os.LookupEnv)
	if err != nil {
		return Result{}, err
	}
	df, err := ParseDockerfile(o.DockerfileName, o.Dockerfile)
	if err != nil {
		return Result{}, err
	}
	stages := df.Stages
	if o.Target != "" {
		i, ok := instructions.HasStage(stages, o.Target)
		if !ok {
			return Result{}, fmt.Errorf("target stage %q could not be found", o.Target)
		}
		stages = stages[:i+1]
	}
	if err := addLabels(&stages[len(stages)-1], o.Labels); err != nil {
		return Result{}, err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b := &builder{s: s, o: o, df: df, out: o.Stdout, runOut: o.Stdout, runErr: o.Stderr,
		args: newBuildArgs(given), ctx: ctx}
	if o.Quiet {
		b.out, b.runOut, b.runErr = io.Discard, io.Discard, io.Discard
	}
	if o.Signals != nil {
		stop := make(chan struct{})
		defer close(stop)
		go b.watchSignals(o.Signals, cancel, stop)
	}
	defer b.cleanup()
	if o.ContextDir != "" {
		if err := b.openContext(o.ContextDir); err != nil {
			return Result{}, err
		}
	}

	id, err := b.build(stages)
	if err != nil {
		if sig := b.interrupted(); sig != nil {
			return Result{}, &InterruptedError{sig}
		}
		return Result{}, err
	}
	if unused := b.args.unused(); len(unused) > 0 {
		fmt.Fprintf(b.out, "[Warning] One or more build-args %v were not consumed\n", unused)
	}
	if id == "" {
		// FROM scratch and nothing else: docker makes an empty image.
		if id, err = b.commitEmpty(); err != nil {
			return Result{}, err
		}
	}
	res := Result{ID: id}
	if len(refs) > 0 {
		batch, err := s.NewBatch()
		if err != nil {
			return res, err
		}
		for _, r := range refs {
			batch.Tag(r.String(), id)
			res.Tags = append(res.Tags, r.String())
		}
		if err := batch.Commit(); err != nil {
			return res, err
		}
	}
	fmt.Fprintf(b.out, "Successfully built %s\n", short(id))
	for _, r := range refs {
		fmt.Fprintf(b.out, "Successfully tagged %s\n", r.Familiar())
	}
	return res, nil
}

// addLabels appends --label values to the last stage as LABEL
// instructions, sorted, as docker does.
func addLabels(st *instructions.Stage, labels []string) error {
	kv := map[string]string{}
	for _, l := range labels {
		k, v, _ := strings.Cut(l, "=")
		if k == "" {
			return fmt.Errorf("invalid label %q: no key", l)
		}
		kv[k] = v
	}
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		st.AddCommand(instructions.NewLabelCommand(k, kv[k], true))
	}
	return nil
}

func (b *builder) openContext(dir string) error {
	var ignore *patternmatcher.PatternMatcher
	patterns, err := readDockerignore(dir)
	if err != nil {
		return err
	}
	if len(patterns) > 0 {
		if ignore, err = patternmatcher.New(patterns); err != nil {
			return fmt.Errorf(".dockerignore: %w", err)
		}
	}
	t, err := openDirTree(dir, ignore)
	if err != nil {
		return fmt.Errorf("build context %s: %w", dir, err)
	}
	b.context = t
	return nil
}

func (b *builder) cleanup() {
	if b.context != nil {
		b.context.close()
	}
	for _, c := range b.imgTrees {
		c.t.close()
	}
	for _, t := range b.workTrees {
		t.close()
	}
	if b.work != nil {
		b.work.Close()
	}
}

// watchSignals stops the build on the first signal: the context is
// cancelled, the running RUN's command gets the signal and, 2 s later,
// SIGKILL.
func (b *builder) watchSignals(sigs <-chan os.Signal, cancel func(), stop <-chan struct{}) {
	var kill <-chan time.Time
	for {
		select {
		case sig := <-sigs:
			b.sig.Lock()
			if b.signaled == nil {
				b.signaled = sig
				kill = time.After(2 * time.Second)
			}
			if b.runSigs != nil {
				select {
				case b.runSigs <- sig:
				default:
				}
			}
			b.sig.Unlock()
			cancel()
		case <-kill:
			b.sig.Lock()
			if b.runSigs != nil {
				select {
				case b.runSigs <- syscall.SIGKILL:
				default:
				}
			}
			b.sig.Unlock()
			kill = time.After(2 * time.Second)
		case <-stop:
			return
		}
	}
}

func (b *builder) interrupted() os.Signal {
	b.sig.Lock()
	defer b.sig.Unlock()
	return b.signaled
}

func (b *builder) workDir() (string, error) {
	if b.work == nil {
		w, err := b.s.NewWorkArea("build-")
		if err != nil {
			return "", err
		}
		b.work = w
	}
	b.nwork++
	d := b.work.Dir + "/" + strconv.Itoa(b.nwork)
	return d, os.Mkdir(d, 0o700)
}

// build runs the stages and returns the last one's image.
func (b *builder) build(stages []instructions.Stage) (digest.Digest, error) {
	total := len(b.df.MetaArgs)
	for _, st := range stages {
		total += 1 + len(st.Commands)
	}
	step := 0
	printStep := func(text string) {
		step++
		fmt.Fprintf(b.out, "Step %d/%d : %s\n", step, total, text)
	}
	metaLex := shell.NewLex(b.df.Escape)
	for i := range b.df.MetaArgs {
		a := &b.df.MetaArgs[i]
		printStep(a.String())
		for _, kv := range a.Args {
			def := kv.Value
			if def != nil {
				v, _, err := metaLex.ProcessWord(*def, shell.EnvsFromSlice(b.args.metaEnv()))
				if err != nil {
					return "", at(b.df.Name, a, err)
				}
				def = &v
			}
			b.args.addMeta(kv.Key, def)
		}
	}
	var id digest.Digest
	for i := range stages {
		st := &stages[i]
		for _, prev := range b.stages {
			if st.Name != "" && strings.EqualFold(prev.name, st.Name) {
				return "", at(b.df.Name, stageLoc{st}, fmt.Errorf("duplicate name %s", st.Name))
			}
		}
		printStep(st.SourceCode)
		s, err := b.from(st)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(b.out, " ---> %s\n", short(s.id))
		for _, cmd := range st.Commands {
			if err := b.ctx.Err(); err != nil {
				return "", err
			}
			printStep(fmt.Sprint(cmd))
			if err := b.dispatch(s, cmd); err != nil {
				return "", err
			}
			fmt.Fprintf(b.out, " ---> %s\n", short(s.id))
		}
		b.stages = append(b.stages, stageResult{name: st.Name, id: s.id})
		id = s.id
	}
	return id, nil
}

// stageLoc lets a FROM line be a place errors name.
type stageLoc struct{ st *instructions.Stage }

func (l stageLoc) Location() []parser.Range { return l.st.Location }

func short(id digest.Digest) string {
	_, e, _ := strings.Cut(string(id), ":")
	if len(e) > 12 {
		e = e[:12]
	}
	return e
}

// from starts a stage (docker's initializeStage): its base image, the
// default PATH, and the base's ONBUILD triggers.
func (b *builder) from(st *instructions.Stage) (*stage, error) {
	s := &stage{name: st.Name, args: b.args.forStage(), lex: shell.NewLex(b.df.Escape)}
	metaEnv := shell.EnvsFromSlice(b.args.metaEnv())
	base, _, err := s.lex.ProcessWord(st.BaseName, metaEnv)
	if err != nil {
		return nil, at(b.df.Name, stageLoc{st}, err)
	}
	if base == "" {
		return nil, at(b.df.Name, stageLoc{st}, fmt.Errorf("base name (%s) should not be blank", st.BaseName))
	}
	platform := ""
	if st.Platform != "" {
		if platform, _, err = s.lex.ProcessWord(st.Platform, metaEnv); err != nil {
			return nil, at(b.df.Name, stageLoc{st}, err)
		}
	}
	var id digest.Digest
	if !strings.EqualFold(base, "scratch") {
		if id, err = b.image(base, platform, true); err != nil {
			return nil, at(b.df.Name, stageLoc{st}, err)
		}
	}
	if id == "" {
		// scratch, or a stage that made nothing from it
		s.cfg = v1.ConfigFile{Architecture: runtime.GOARCH, OS: "linux", RootFS: v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{}}}
	} else if err := b.loadImage(s, id); err != nil {
		return nil, err
	}
	if !hasEnv(s.cfg.Config.Env, "PATH") {
		s.cfg.Config.Env = append(s.cfg.Config.Env, "PATH="+sandbox.DefaultPath)
	}
	if triggers := s.cfg.Config.OnBuild; len(triggers) > 0 {
		s.cfg.Config.OnBuild = nil
		word := "trigger"
		if len(triggers) > 1 {
			word = "triggers"
		}
		fmt.Fprintf(b.out, "# Executing %d build %s\n", len(triggers), word)
		for _, t := range triggers {
			cmd, err := parseTrigger(t)
			if err != nil {
				return nil, at(b.df.Name, stageLoc{st}, fmt.Errorf("ONBUILD trigger %q of %s: %w", t, base, err))
			}
			if err := b.dispatch(s, cmd); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// image finds a FROM or COPY --from image: a stage built before (by name
// or, for COPY, by index), else an image of the store, pulled when
// missing (or always with --pull).
func (b *builder) image(name, platform string, allowPull bool) (digest.Digest, error) {
	for _, r := range b.stages {
		if r.name != "" && strings.EqualFold(r.name, name) {
			return r.id, nil
		}
	}
	if !b.o.ForcePull || !allowPull {
		img, err := b.s.Resolve(name)
		if err == nil {
			return img.ID, nil
		}
		if !errors.Is(err, layerstore.ErrNotFound) {
			return "", err
		}
	}
	if b.o.Pull == nil || !allowPull {
		return "", fmt.Errorf("image %s is not in the store and cannot be pulled", name)
	}
	return b.o.Pull(b.ctx, name, platform)
}

// loadImage makes image id the stage's current state.
func (b *builder) loadImage(s *stage, id digest.Digest) error {
	img, err := b.s.Image(id)
	if err != nil {
		return err
	}
	raw, err := b.s.Config(id)
	if err != nil {
		return err
	}
	var cfg v1.ConfigFile
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return fmt.Errorf("config of %s: %w: %v", short(id), layerstore.ErrCorrupt, err)
	}
	if cfg.RootFS.DiffIDs == nil {
		cfg.RootFS.DiffIDs = []v1.Hash{}
	}
	if cfg.RootFS.Type == "" {
		cfg.RootFS.Type = "layers"
	}
	s.id, s.cfg, s.layers = id, cfg, img.Layers
	return nil
}

func hasEnv(env []string, k string) bool {
	for _, kv := range env {
		if ek, _, _ := strings.Cut(kv, "="); ek == k {
			return true
		}
	}
	return false
}

// parseTrigger parses an ONBUILD trigger as one instruction.
func parseTrigger(text string) (instructions.Command, error) {
	res, err := parser.Parse(strings.NewReader(text))
	if err != nil {
		return nil, err
	}
	if len(res.AST.Children) != 1 {
		return nil, errors.New("onbuild trigger should be a single expression")
	}
	return instructions.ParseCommand(res.AST.Children[0])
}

// parseSignal accepts what docker's STOPSIGNAL does: SIGNAME, NAME or a number.
func parseSignal(s string) (int, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("invalid signal: %s", s)
		}
		return n, nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if n := unix.SignalNum(name); n != 0 {
		return int(n), nil
	}
	return 0, fmt.Errorf("invalid signal: %s", s)
}

// expandEnv is what a step's words expand with: the config's Env, then
// the build args it does not set.
func (s *stage) expandEnv() []string {
	return append(append([]string{}, s.cfg.Config.Env...), s.args.allowedEnv(s.cfg.Config.Env)...)
}

// dispatch runs one instruction of a stage.
func (b *builder) dispatch(s *stage, cmd instructions.Command) error {
	if err := change.Expand(cmd, s.lex, s.expandEnv()); err != nil {
		return at(b.df.Name, cmd, errors.Unwrap(err))
	}
	var err error
	switch c := cmd.(type) {
	case *instructions.RunCommand:
		err = b.run(s, c)
	case *instructions.CopyCommand:
		err = b.copy(s, copyOp{cmd: c, name: "COPY", srcs: c.SourcesAndDest, from: c.From, chown: c.Chown, chmod: c.Chmod,
			parents: c.Parents, excludes: c.ExcludePatterns})
	case *instructions.AddCommand:
		err = b.copy(s, copyOp{cmd: c, name: "ADD", srcs: c.SourcesAndDest, chown: c.Chown, chmod: c.Chmod, add: true,
			excludes: c.ExcludePatterns, checksum: c.Checksum})
	case *instructions.WorkdirCommand:
		err = b.workdir(s, c)
	case *instructions.ArgCommand:
		err = b.arg(s, c)
	case *instructions.MaintainerCommand:
		s.maintainer = c.Maintainer
		err = b.commitMeta(s, "MAINTAINER "+c.Maintainer)
	default:
		var by string
		if by, err = b.applyMeta(s, cmd); err == nil {
			err = b.commitMeta(s, by)
		}
	}
	if err != nil {
		var re *RunError
		if errors.As(err, &re) || b.interrupted() != nil {
			return err
		}
		return at(b.df.Name, cmd, err)
	}
	return nil
}

// applyMeta changes the config as a metadata instruction says and returns
// its history line (after docker's "#(nop) ").
func (b *builder) applyMeta(s *stage, cmd instructions.Command) (string, error) {
	cfg := &s.cfg.Config
	if err := change.Instruction(cfg, cmd); err != nil {
		return "", errors.Unwrap(err)
	}
	switch c := cmd.(type) {
	case *instructions.EnvCommand:
		by := "ENV"
		for _, kv := range c.Env {
			by += " " + kv.String()
		}
		return by, nil
	case *instructions.LabelCommand:
		by := "LABEL"
		for _, kv := range c.Labels {
			by += " " + kv.String()
		}
		return by, nil
	case *instructions.CmdCommand:
		if len(c.CmdLine) > 0 {
			s.cmdSet = true
		}
		return fmt.Sprintf("CMD %q", cfg.Cmd), nil
	case *instructions.EntrypointCommand:
		if !s.cmdSet {
			cfg.Cmd = nil
		}
		return fmt.Sprintf("ENTRYPOINT %q", cfg.Entrypoint), nil
	case *instructions.ExposeCommand:
		return "EXPOSE " + strings.Join(c.Ports, " "), nil
	case *instructions.UserCommand:
		return "USER " + c.User, nil
	case *instructions.VolumeCommand:
		return fmt.Sprintf("VOLUME %v", c.Volumes), nil
	case *instructions.StopSignalCommand:
		if _, err := parseSignal(c.Signal); err != nil {
			return "", err
		}
		return "STOPSIGNAL " + c.Signal, nil
	case *instructions.HealthCheckCommand:
		// docker prints the config struct with %q: &{["CMD" "x"] "5s" ... '\x03'}.
		h := c.Health
		return fmt.Sprintf("HEALTHCHECK &{%q %q %q %q %q %q}", h.Test, h.Interval.String(), h.Timeout.String(),
			h.StartPeriod.String(), h.StartInterval.String(), rune(h.Retries)), nil
	case *instructions.ShellCommand:
		return fmt.Sprintf("SHELL %v", c.Shell), nil
	case *instructions.OnbuildCommand:
		return "ONBUILD " + c.Expression, nil
	}
	return "", fmt.Errorf("%s is not supported", strings.ToUpper(cmd.Name()))
}

// arg declares build args in the stage.
func (b *builder) arg(s *stage, c *instructions.ArgCommand) error {
	var by strings.Builder
	by.WriteString("ARG ")
	for i, kv := range c.Args {
		if i > 0 {
			by.WriteString(" ")
		}
		by.WriteString(kv.Key)
		if kv.Value != nil {
			by.WriteString("=" + *kv.Value)
		}
		s.args.add(kv.Key, kv.Value)
	}
	return b.commitMeta(s, by.String())
}

// commitMeta ends a metadata step: docker's "/bin/sh -c #(nop)  ..."
// history line, an empty layer.
func (b *builder) commitMeta(s *stage, comment string) error {
	return b.step(s, strings.Join(append(shellOf(&s.cfg.Config), "#(nop) ", comment), " "), "", nil)
}

func shellOf(cfg *v1.Config) []string {
	if len(cfg.Shell) > 0 {
		return append([]string{}, cfg.Shell...)
	}
	return []string{"/bin/sh", "-c"}
}

// step finishes a step: a cache hit makes the cached image current;
// else make (run layer when not nil) and record the new image.
// extra is what changes the result besides the history line.
func (b *builder) step(s *stage, createdBy, extra string, layer func() (*layerstore.LayerRef, *layerstore.Batch, error)) error {
	key := cacheKey(s.id, createdBy, extra)
	if hit, err := b.cached(s, key); err != nil || hit {
		return err
	}
	var batch *layerstore.Batch
	var ref *layerstore.LayerRef
	var err error
	if layer != nil {
		if ref, batch, err = layer(); err != nil {
			return err
		}
	} else if batch, err = b.s.NewBatch(); err != nil {
		return err
	}
	defer batch.Abort()
	return b.commit(s, batch, createdBy, ref, key)
}

// cacheKey digests what a step's result depends on.
func cacheKey(parent digest.Digest, createdBy, extra string) string {
	return digest.FromString("lfs-build-cache-v1\n" + string(parent) + "\n" + createdBy + "\n" + extra).String()
}

// cacheCandidates is how many images one cache key remembers, newest
// first: a --no-cache build adds one without losing the older ones.
const cacheCandidates = 4

// candidates reads the images a cache key names.
func (b *builder) candidates(key string) ([]digest.Digest, error) {
	var ids []digest.Digest
	err := b.s.ViewBucket(cacheBucket, func(bk *bolt.Bucket) error {
		if bk == nil {
			return nil
		}
		for _, id := range strings.Fields(string(bk.Get([]byte(key)))) {
			ids = append(ids, digest.Digest(id))
		}
		return nil
	})
	return ids, err
}

// cached looks key up and, on a hit (an image still there, a child of
// the step's parent), makes that image current.
func (b *builder) cached(s *stage, key string) (bool, error) {
	if b.o.NoCache || s.cacheBust {
		return false, nil
	}
	ids, err := b.candidates(key)
	if err != nil {
		return false, err
	}
	for _, id := range ids {
		if img, err := b.s.Image(id); err == nil && img.Parent == s.id {
			fmt.Fprintln(b.out, " ---> Using cache")
			return true, b.loadImage(s, id)
		}
	}
	s.cacheBust = true
	return false, nil
}

// commit makes the step's image: the config as the step left it, a
// history entry, the layer if any; parent the previous image.
func (b *builder) commit(s *stage, batch *layerstore.Batch, createdBy string, layer *layerstore.LayerRef, key string) error {
	now := v1.Time{Time: b.o.Now().UTC()}
	cfg := s.cfg
	cfg.Created = now
	cfg.Author = s.maintainer
	cfg.Container = ""
	cfg.DockerVersion = ""
	cfg.History = append(append([]v1.History{}, cfg.History...), v1.History{
		Created: now, CreatedBy: createdBy, Author: s.maintainer, EmptyLayer: layer == nil})
	layers := s.layers
	if layer != nil {
		cfg.RootFS.DiffIDs = append(append([]v1.Hash{}, cfg.RootFS.DiffIDs...), v1.Hash{Algorithm: "sha256", Hex: layer.DiffID.Encoded()})
		layers = append(append([]layerstore.LayerRef{}, s.layers...), *layer)
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	img, err := imagearchive.AddImage(batch, data, "", layers, nil)
	if err != nil {
		return err
	}
	img.Parent = s.id
	batch.SetImage(img)
	ids, err := b.candidates(key)
	if err != nil {
		return err
	}
	list := []string{string(img.ID)}
	for _, id := range ids {
		if id != img.ID && len(list) < cacheCandidates {
			list = append(list, string(id))
		}
	}
	if err := batch.Record(cacheBucket, key, []byte(strings.Join(list, " "))); err != nil {
		return err
	}
	if err := batch.Commit(); err != nil {
		return err
	}
	s.id, s.cfg, s.layers = img.ID, cfg, layers
	return nil
}

// commitEmpty stores the image of a Dockerfile that is FROM scratch and
// nothing else.
func (b *builder) commitEmpty() (digest.Digest, error) {
	s := &stage{cfg: v1.ConfigFile{Architecture: runtime.GOARCH, OS: "linux",
		RootFS: v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{}}}}
	s.cfg.Config.Env = []string{"PATH=" + sandbox.DefaultPath}
	batch, err := b.s.NewBatch()
	if err != nil {
		return "", err
	}
	defer batch.Abort()
	s.cfg.Created = v1.Time{Time: b.o.Now().UTC()}
	data, err := json.Marshal(s.cfg)
	if err != nil {
		return "", err
	}
	img, err := imagearchive.AddImage(batch, data, "", nil, nil)
	if err != nil {
		return "", err
	}
	if err := batch.Commit(); err != nil {
		return "", err
	}
	return img.ID, nil
}
