package container

import (
	"fmt"
	"os"
	"path/filepath"

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
		if init := c.Init(); init > 0 {
			dir = fmt.Sprintf("/proc/%d/root", init)
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
