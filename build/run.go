package build

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/lfs-dev/lfs/container"
	"github.com/lfs-dev/lfs/layerstore"
	"github.com/lfs-dev/lfs/sandbox"
	"github.com/lfs-dev/lfs/seccomp"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	digest "github.com/opencontainers/go-digest"
)

// etcBinds are the files a RUN's container gets from the host, never
// part of its layer (docker keeps them out of the diff too).
var etcBinds = []string{"etc/hosts", "etc/hostname", "etc/resolv.conf"}

// run is RUN: the command in a container on the current image; its upper
// directory becomes the step's layer.
func (b *builder) run(s *stage, c *instructions.RunCommand) error {
	for _, f := range c.FlagsUsed {
		if f != "network" {
			return fmt.Errorf("RUN --%s is not supported", f)
		}
	}
	network := b.o.Network
	switch instructions.GetNetwork(c) {
	case instructions.NetworkNone:
		network = sandbox.NetworkNone
	case instructions.NetworkHost:
		network = sandbox.NetworkHost
	}
	if network == "" {
		network = sandbox.NetworkHost
	}
	cmd, err := runCommandLine(&s.cfg.Config, c)
	if err != nil {
		return err
	}
	// As docker: the build args a RUN sees are in its history line and
	// so in its cache key ("|2 A=1 B=2 /bin/sh -c ..."), builtin proxy
	// args only when an ARG declared them.
	argEnv := s.args.allowedEnv(s.cfg.Config.Env)
	saveCmd := cmd
	if len(argEnv) > 0 {
		rec := s.args.recorded(argEnv)
		saveCmd = append(append([]string{fmt.Sprintf("|%d", len(rec))}, rec...), cmd...)
	}
	return b.step(s, strings.Join(saveCmd, " "), "network="+string(network), func() (*layerstore.LayerRef, *layerstore.Batch, error) {
		return b.runContainer(s, cmd, argEnv, network)
	})
}

// runCommandLine is RUN's argv: the exec form as written, the shell form
// after the image's shell; a heredoc is the script the shell runs.
func runCommandLine(cfg *v1.Config, c *instructions.RunCommand) ([]string, error) {
	args := c.CmdLine
	if len(c.Files) == 0 {
		if !c.PrependShell {
			return append([]string{}, args...), nil
		}
		return append(shellOf(cfg), strings.Join(args, " ")), nil
	}
	if len(args) != 1 || !c.PrependShell {
		return nil, fmt.Errorf("parsing produced an invalid run command: %v", args)
	}
	if h := parser.MustParseHeredoc(args[0]); h != nil {
		// The command is the heredoc alone: the shell runs its content.
		data := c.Files[0].Data
		if c.Files[0].Chomp {
			data = parser.ChompHeredocContent(data)
		}
		if strings.HasPrefix(data, "#!") {
			return nil, errors.New("RUN with a heredoc script starting with #! is not supported; run its interpreter on a COPY'd file")
		}
		return append(shellOf(cfg), data), nil
	}
	full := args[0]
	for _, f := range c.Files {
		full += "\n" + f.Data + f.Name
	}
	return append(shellOf(cfg), full), nil
}

// runContainer runs cmd on the stage's image and stages the upper
// directory as a layer. The container is removed whatever happens.
func (b *builder) runContainer(s *stage, cmd, argEnv []string, network sandbox.Network) (*layerstore.LayerRef, *layerstore.Batch, error) {
	if len(s.layers) == 0 {
		return nil, nil, fmt.Errorf("RUN needs a root filesystem: the image is empty (FROM scratch with nothing copied in): exec %s: no such file or directory", cmd[0])
	}
	// Mount points the sandbox makes where the image has none are not the
	// command's doing: they stay out of the layer.
	hide := append([]string{}, etcBinds...)
	img, err := b.imageTree(s.id)
	if err != nil {
		return nil, nil, err
	}
	for _, d := range []string{"proc", "sys", "dev"} {
		if _, _, err := img.lstat(d); err != nil {
			hide = append(hide, d)
		}
	}
	cfg := s.cfg.Config
	id := container.NewID()
	spec, err := sandbox.Compose(sandbox.ImageConfig{User: cfg.User, Env: append(append([]string{}, cfg.Env...), argEnv...),
		WorkingDir: cfg.WorkingDir}, sandbox.Options{Args: cmd, Hostname: id[:12]})
	if err != nil {
		return nil, nil, err
	}
	spec.Network = network
	if b.filter == nil {
		if b.filter, err = seccomp.DefaultProfile().Compile(runtime.GOARCH, sandbox.DefaultCapabilities); err != nil {
			return nil, nil, err
		}
	}
	spec.Seccomp = b.filter
	rec, err := container.Create(b.s, container.Container{ID: id, Image: s.id, ImageRef: short(s.id), Command: cmd, EtcBinds: true})
	if err != nil {
		return nil, nil, err
	}
	removed := false
	remove := func() {
		if !removed {
			removed = true
			container.Remove(b.s, id, true)
		}
	}
	defer remove()
	fmt.Fprintf(b.out, " ---> Running in %s\n", id[:12])

	sigs := make(chan os.Signal, 4)
	b.sig.Lock()
	if b.signaled != nil {
		b.sig.Unlock()
		return nil, nil, ErrInterrupted
	}
	b.runSigs = sigs
	b.sig.Unlock()
	code, err := container.Run(b.s, rec, spec, container.RunOptions{
		Stdio: sandbox.Stdio{Stdout: b.runOut, Stderr: b.runErr}, Signals: sigs})
	b.sig.Lock()
	b.runSigs = nil
	b.sig.Unlock()
	var ee *sandbox.ExecError
	switch {
	case errors.As(err, &ee):
		fmt.Fprintln(b.runErr, ee.Msg)
		code = ee.Code
	case err != nil:
		return nil, nil, err
	}
	if code != 0 {
		return nil, nil, &RunError{Cmd: cmd, Code: code}
	}
	ref, batch, err := b.ingest(func(w io.Writer) error { return container.WriteLayer(w, rec.Upper(), hide...) })
	if err != nil {
		return nil, nil, err
	}
	remove()
	fmt.Fprintf(b.out, "Removing intermediate container %s\n", id[:12])
	return ref, batch, nil
}

// ingest stages the layer tar that write produces in a new batch; a tar
// without entries is no layer (nil), as docker's empty_layer steps.
func (b *builder) ingest(write func(w io.Writer) error) (*layerstore.LayerRef, *layerstore.Batch, error) {
	batch, err := b.s.NewBatch()
	if err != nil {
		return nil, nil, err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(write(pw)) }()
	defer pr.CloseWithError(io.ErrClosedPipe) // stops the writer if we gave up early
	// A tar without entries is its end-of-archive marker alone: 1024 zeros.
	head := make([]byte, 1025)
	n, err := io.ReadFull(pr, head)
	if err == io.ErrUnexpectedEOF && n == 1024 && bytes.Count(head[:n], []byte{0}) == n {
		return nil, batch, nil
	}
	if err != nil && err != io.ErrUnexpectedEOF {
		batch.Abort()
		return nil, nil, err
	}
	ref, err := batch.AddLayer(io.MultiReader(bytes.NewReader(head[:n]), pr), "", "")
	if err != nil {
		batch.Abort()
		return nil, nil, err
	}
	return &ref, batch, nil
}

// openTrees bounds the image trees a build keeps open (each holds a
// descriptor per layer); a step uses two at most.
const openTrees = 4

// imageTree opens an image's layers as a tree, kept for the next steps
// while it is among the few used last.
func (b *builder) imageTree(id digest.Digest) (*tree, error) {
	for i, c := range b.imgTrees {
		if c.id == id {
			b.imgTrees = append(append(b.imgTrees[:i:i], b.imgTrees[i+1:]...), c)
			return c.t, nil
		}
	}
	t, err := openImageTree(b.s, id)
	if err != nil {
		return nil, err
	}
	if len(b.imgTrees) >= openTrees {
		b.imgTrees[0].t.close()
		b.imgTrees = b.imgTrees[1:]
	}
	b.imgTrees = append(b.imgTrees, openTree{id, t})
	return t, nil
}

type openTree struct {
	id digest.Digest
	t  *tree
}
