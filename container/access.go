package container

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/lfs-dev/lfs/layerstore"
)

// Access runs fn on the container's root filesystem as its processes
// see it: a running container's as the lfs process that runs it serves
// it (/proc/PID/root of its init, binds included), a mounted one's at
// its mountpoint, and a stopped one mounted for the time of fn, recorded
// as served by this process so that nothing starts it meanwhile.
func Access(s *layerstore.Store, c Container, fn func(t Tree) error) error {
	if c.Live() {
		if _, err := os.Stat(filepath.Join(c.Dir, controlSock)); err == nil {
			return fn(&Remote{dir: c.Dir})
		}
		dir := c.Mountpoint
		if c.InitPid > 0 && parentOf(c.InitPid) == c.Pid {
			dir = fmt.Sprintf("/proc/%d/root", c.InitPid)
		}
		if dir == "" {
			return fmt.Errorf("container %s is starting; try again", c.Name)
		}
		r, err := OpenRoot(dir)
		if err != nil {
			return fmt.Errorf("container %s: %w", c.Name, err)
		}
		defer r.Close()
		return fn(r)
	}
	c, err := Update(s, c.ID, func(c *Container) error {
		if c.Live() {
			return fmt.Errorf("container %s started meanwhile; try again", c.Name)
		}
		c.Pid = os.Getpid()
		return nil
	})
	if err != nil {
		return err
	}
	defer Update(s, c.ID, func(c *Container) error {
		c.Pid = 0
		return nil
	})
	m, err := Mount(s, c)
	if err != nil {
		return err
	}
	defer m.Unmount()
	r, err := OpenRoot(m.Dir)
	if err != nil {
		return err
	}
	defer r.Close()
	return fn(r)
}

// parentOf is pid's parent, 0 when pid is gone.
func parentOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(string(f[1]))
	return n
}
