package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/lfs-dev/lfs/container"
	lfsfuse "github.com/lfs-dev/lfs/fuse"
	"github.com/lfs-dev/lfs/unionfs"
	"github.com/urfave/cli/v2"
)

type mountOptions struct {
	image      string
	mountpoint string
	lowers     []string
	upper      string
	work       string
	readOnly   bool
	detach     bool
	debug      bool
}

// mountNotifyEnv names the descriptor on which a detached mount's server
// tells the waiting parent how mounting went (a mountReady message).
const mountNotifyEnv = "LFS_MOUNT_NOTIFY_FD"

// mountReady is the one message the server of a detached mount sends.
type mountReady struct {
	Error     string `json:"error,omitempty"`
	Upper     string `json:"upper,omitempty"`
	Container string `json:"container,omitempty"`
}

func mountCommand() *cli.Command {
	return &cli.Command{
		Name:      "mount",
		Usage:     "Mount an image, or a union of directories, with a writable upper layer",
		ArgsUsage: "IMAGE MOUNTPOINT | --lower DIR[:DIR...] --upper DIR MOUNTPOINT",
		Description: `Serves the union over FUSE until Ctrl-C, SIGTERM or "lfs umount"; with -d, in the
background. Without --upper, an image mount is a container (see lfs ps -a): it writes
to ROOT/containers/ID/upper; the ID and the path are printed, and once unmounted
lfs diff, commit and export read the changes.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "upper", Usage: "writable upper directory"},
			&cli.StringFlag{Name: "work", Usage: "work directory on the upper's filesystem (default: inside the upper, hidden)"},
			&cli.StringFlag{Name: "lower", Usage: "lower directories, leftmost on top (instead of an image)"},
			&cli.BoolFlag{Name: "read-only", Usage: "refuse every change"},
			&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "serve in the background; return once the mount answers"},
			&cli.BoolFlag{Name: "fuse-debug", Usage: "log every FUSE request"},
		},
		Action: func(c *cli.Context) error {
			o := mountOptions{upper: c.String("upper"), work: c.String("work"), readOnly: c.Bool("read-only"),
				detach: c.Bool("detach"), debug: c.Bool("fuse-debug")}
			if l := c.String("lower"); l != "" {
				if err := needArgs(c, 1, 1); err != nil {
					return err
				}
				if o.upper == "" && !o.readOnly {
					return errors.New("--lower needs --upper (or --read-only)")
				}
				o.lowers = strings.Split(l, ":")
				o.mountpoint = c.Args().Get(0)
			} else {
				if err := needArgs(c, 2, 2); err != nil {
					return err
				}
				o.image, o.mountpoint = c.Args().Get(0), c.Args().Get(1)
			}
			return runMount(c, o)
		},
	}
}

func runMount(c *cli.Context, o mountOptions) error {
	mp, err := filepath.Abs(o.mountpoint)
	if err != nil {
		return err
	}
	o.mountpoint = mp
	if o.detach {
		return mountDetached(c)
	}
	notify := func(mountReady) {}
	if fd := os.Getenv(mountNotifyEnv); fd != "" {
		w := os.NewFile(uintptr(atoi(fd)), "notify")
		notify = func(m mountReady) {
			json.NewEncoder(w).Encode(m)
			w.Close()
		}
	}
	var rec *container.Container
	if o.image != "" && o.upper == "" && !o.readOnly {
		// Without --upper, an image mount is a container: lfs diff and
		// commit read its writable layer once it is unmounted.
		r, err := createMountContainer(c, o.image)
		if err != nil {
			notify(mountReady{Error: err.Error()})
			return err
		}
		rec, o.upper, o.work = &r, r.Upper(), r.Work()
	}
	srv, upper, cleanup, err := mountUnion(c, o)
	if err != nil {
		if rec != nil {
			if s, serr := store(c); serr == nil {
				container.Remove(s, rec.ID, false)
			}
		}
		notify(mountReady{Error: err.Error()})
		return err
	}
	os.Chdir("/")

	defer cleanup()
	if rec != nil {
		s, _ := store(c)
		container.Update(s, rec.ID, func(r *container.Container) error {
			r.Pid, r.Mountpoint = os.Getpid(), o.mountpoint
			return nil
		})
		defer container.Update(s, rec.ID, func(r *container.Container) error {
			r.Pid, r.Mountpoint = 0, ""
			return nil
		})
		o.upper = ""
		fmt.Fprintf(c.App.Writer, "container: %s\n", rec.ID)
	}
	if upper != o.upper && upper != "" {
		fmt.Fprintf(c.App.Writer, "upper: %s\n", upper)
	}
	ready := mountReady{Upper: upper}
	if rec != nil {
		ready.Container = rec.ID
	}
	notify(ready)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { srv.Wait(); close(done) }()
	select {
	case <-sig:
		if err := srv.Unmount(); err != nil {
			return err
		}
	case <-done: // lfs umount, or fusermount -u
	}
	return nil
}

// createMountContainer records a container for an image mount and makes
// its directory.
func createMountContainer(c *cli.Context, image string) (container.Container, error) {
	s, err := store(c)
	if err != nil {
		return container.Container{}, err
	}
	img, err := s.Resolve(image)
	if err != nil {
		return container.Container{}, err
	}
	rec, err := container.Create(s, container.Container{Image: img.ID, ImageRef: image})
	if err != nil {
		return rec, err
	}
	for _, d := range []string{rec.Upper(), rec.Work()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			container.Remove(s, rec.ID, false)
			return rec, fmt.Errorf("mount %s: %w", image, err)
		}
	}
	return rec, nil
}

// mountUnion opens the layers, makes the union and mounts it.
func mountUnion(c *cli.Context, o mountOptions) (*lfsfuse.Server, string, func(), error) {
	var lowers []unionfs.Layer
	var closers []func()
	cleanup := func() {
		for _, f := range closers {
			f()
		}
	}
	if o.image != "" {
		s, err := store(c)
		if err != nil {
			return nil, "", nil, err
		}
		img, err := s.Resolve(o.image)
		if err != nil {
			return nil, "", nil, err
		}
		for i := len(img.Layers) - 1; i >= 0; i-- {
			l, err := s.OpenLayer(img.Layers[i].DiffID)
			if err != nil {
				cleanup()
				return nil, "", nil, err
			}
			closers = append(closers, func() { l.Close() })
			lowers = append(lowers, unionfs.TarLayer(l.Index, l))
		}
		if o.upper == "" && !o.readOnly {
			// runMount records a container and passes its upper; a
			// caller that does not gets an unrecorded one, by ID.
			id := make([]byte, 32)
			rand.Read(id)
			dir := filepath.Join(s.Root(), "containers", hex.EncodeToString(id))
			o.upper = filepath.Join(dir, "upper")
			if o.work == "" {
				o.work = filepath.Join(dir, "work")
			}
			for _, d := range []string{o.upper, o.work} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					cleanup()
					return nil, "", nil, fmt.Errorf("mount %s: %w", o.image, err)
				}
			}
		}
	} else {
		for _, d := range o.lowers {
			l, err := unionfs.DirLayer(d)
			if err != nil {
				cleanup()
				return nil, "", nil, err
			}
			closers = append(closers, func() { unionfs.CloseLayer(l) })
			lowers = append(lowers, l)
		}
	}
	// A named upper (and work area) is created if missing, as a container's
	// writable layer would be; overlayfs would refuse, docker users expect it.
	for _, d := range []string{o.upper, o.work} {
		if d != "" && !o.readOnly {
			if err := os.MkdirAll(d, 0o755); err != nil {
				cleanup()
				return nil, "", nil, fmt.Errorf("mount: %w", err)
			}
		}
	}
	var uopts []unionfs.Option
	if o.work != "" {
		uopts = append(uopts, unionfs.WorkDir(o.work))
	}
	if o.readOnly {
		uopts = append(uopts, unionfs.ReadOnly())
	}
	u, err := unionfs.New(o.upper, lowers, uopts...)
	if err != nil {
		cleanup()
		return nil, "", nil, err
	}
	closers = append(closers, func() { u.Close() })
	srv, err := lfsfuse.Mount(o.mountpoint, u, lfsfuse.Debug(o.debug))
	if err != nil {
		cleanup()
		return nil, "", nil, err
	}
	return srv, o.upper, cleanup, nil
}

// mountDetached runs this command again without -d, in its own session,
// and returns once the child reports that the mount answers.
func mountDetached(c *cli.Context) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	var args []string
	for _, a := range os.Args[1:] {
		if a != "-d" && a != "--detach" && a != "-detach" {
			args = append(args, a)
		}
	}
	cmd := exec.Command("/proc/self/exe", args...)
	cmd.Env = append(os.Environ(), mountNotifyEnv+"=3")
	cmd.ExtraFiles = []*os.File{w}
	// The child starts where the caller is, so relative paths (the
	// mountpoint, --upper, --root ...) mean the same; once mounted it moves
	// to "/" so that it keeps no directory busy.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return fmt.Errorf("mount: start server: %w", err)
	}
	w.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	msg := make(chan mountReady, 1)
	go func() {
		var m mountReady
		if err := json.NewDecoder(r).Decode(&m); err != nil {
			m.Error = "server exited before mounting"
		}
		msg <- m
	}()
	select {
	case m := <-msg:
		if m.Error != "" {
			return errors.New(m.Error)
		}
		if m.Container != "" {
			fmt.Fprintf(c.App.Writer, "container: %s\n", m.Container)
		}
		if m.Upper != "" && c.String("upper") == "" {
			fmt.Fprintf(c.App.Writer, "upper: %s\n", m.Upper)
		}
		return nil
	case err := <-exited:
		return fmt.Errorf("mount: server exited: %v", err)
	case <-time.After(30 * time.Second):
		return errors.New("mount: server did not answer within 30s")
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
