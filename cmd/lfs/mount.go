package main

import (
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
	srv, err := mountUnion(c, o)
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
	upper := srv.Upper

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
	return container.Create(s, container.Container{Image: img.ID, ImageRef: image})
}

// mountUnion mounts the image (or the --lower directories) under the
// upper.
func mountUnion(c *cli.Context, o mountOptions) (*container.Mounted, error) {
	mopts := []container.MountOption{container.FuseDebug(o.debug)}
	if o.readOnly {
		mopts = append(mopts, container.MountReadOnly())
	}
	if o.image == "" {
		if o.upper != "" {
			mopts = append(mopts, container.Upper(o.upper, o.work))
		}
		return container.MountDirs(o.lowers, o.mountpoint, mopts...)
	}
	s, err := store(c)
	if err != nil {
		return nil, err
	}
	img, err := s.Resolve(o.image)
	if err != nil {
		return nil, err
	}
	if !o.readOnly {
		if o.upper == "" {
			// runMount records a container and passes its upper; a
			// caller that does not gets an unrecorded one, by ID.
			dir := filepath.Join(s.Root(), "containers", container.NewID())
			o.upper = filepath.Join(dir, "upper")
			if o.work == "" {
				o.work = filepath.Join(dir, "work")
			}
		}
		mopts = append(mopts, container.Upper(o.upper, o.work))
	}
	return container.MountImage(s, img.ID, o.mountpoint, mopts...)
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
