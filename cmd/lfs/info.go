package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/lfs-dev/lfs/config"
	"github.com/lfs-dev/lfs/format"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
)

func infoCommand() *cli.Command {
	return &cli.Command{
		Name:  "info",
		Usage: "Show the store, its contents and what this host offers lfs",
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 0, 0); err != nil {
				return err
			}
			s, err := store(c)
			if err != nil {
				return err
			}
			u, err := s.DiskUsage()
			if err != nil {
				return err
			}
			cfg, _ := config.Load()
			var uts unix.Utsname
			unix.Uname(&uts)
			w := c.App.Writer
			fmt.Fprintf(w, "Version:          %s\n", Version)
			fmt.Fprintf(w, "Store:            %s\n", s.Root())
			cfgPath := cfg.Path
			if cfgPath == "" {
				cfgPath = "(none; defaults)"
			}
			fmt.Fprintf(w, "Config file:      %s\n", cfgPath)
			fmt.Fprintf(w, "Keep compressed:  %v\n", s.KeepsCompressed())
			fmt.Fprintf(w, "Images:           %d\n", u.Images)
			fmt.Fprintf(w, "Layers:           %d\n", u.Layers)
			fmt.Fprintf(w, "Disk used:        %s\n", format.HumanSize(u.ImagesSize))
			fmt.Fprintf(w, "Kernel:           %s %s\n", cstr(uts.Sysname[:]), cstr(uts.Release[:]))
			fmt.Fprintf(w, "Architecture:     %s\n", cstr(uts.Machine[:]))
			fmt.Fprintf(w, "FUSE device:      %s\n", fuseDevice())
			fmt.Fprintf(w, "fusermount3:      %s\n", lookPath("fusermount3"))
			fmt.Fprintf(w, "Kernel overlayfs: %v\n", hasFilesystem("overlay"))
			fmt.Fprintf(w, "Cgroups:          %s\n", cgroupVersion())
			fmt.Fprintf(w, "Rootless:         %v\n", os.Geteuid() != 0)
			return nil
		},
	}
}

func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func fuseDevice() string {
	fi, err := os.Stat("/dev/fuse")
	if err != nil {
		return "missing"
	}
	if f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0); err == nil {
		f.Close()
		return fmt.Sprintf("/dev/fuse (%v, usable)", fi.Mode().Perm())
	}
	return fmt.Sprintf("/dev/fuse (%v, not openable by this user)", fi.Mode().Perm())
}

func lookPath(name string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		return "not found"
	}
	return p
}

func hasFilesystem(name string) bool {
	data, _ := os.ReadFile("/proc/filesystems")
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[len(f)-1] == name {
			return true
		}
	}
	return false
}

func cgroupVersion() string {
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "v2"
	}
	if _, err := os.Stat("/sys/fs/cgroup/unified"); err == nil {
		return "v1 (hybrid)"
	}
	return "v1"
}
