package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
)

func umountCommand() *cli.Command {
	return &cli.Command{
		Name:      "umount",
		Aliases:   []string{"unmount"},
		Usage:     "Unmount what lfs mount mounted, also when its server died",
		ArgsUsage: "MOUNTPOINT",
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, 1); err != nil {
				return err
			}
			return runUmount(c.Args().Get(0))
		},
	}
}

func runUmount(mp string) error {
	mp, err := filepath.Abs(mp)
	if err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		err := unix.Unmount(mp, 0)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.ENOTCONN) {
			return fmt.Errorf("umount %s: %w", mp, err)
		}
		// A dead server ("transport endpoint is not connected") or a
		// busy mount: detach it; the kernel frees it when unused.
		if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("umount %s: %w", mp, err)
		}
		return nil
	}
	out, err := exec.Command("fusermount3", "-u", mp).CombinedOutput()
	if err == nil {
		return nil
	}
	if out2, err2 := exec.Command("fusermount3", "-u", "-z", mp).CombinedOutput(); err2 != nil {
		return fmt.Errorf("umount %s: %s; %s", mp, out, out2)
	}
	return nil
}
