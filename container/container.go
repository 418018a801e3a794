package container

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lfs-dev/lfs/layerstore"
	"github.com/lfs-dev/lfs/sandbox"
	digest "github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"
)

// Sentinels, checked with errors.Is.
var (
	// ErrNotFound: no container by that name, ID or ID prefix.
	ErrNotFound = errors.New("container: not found")
	// ErrAmbiguous: an ID prefix matches more than one container.
	ErrAmbiguous = errors.New("container: ambiguous ID prefix")
	// ErrNameInUse: another container has the name.
	ErrNameInUse = errors.New("container: name in use")
	// ErrInvalidName: a name docker would refuse.
	ErrInvalidName = errors.New("container: invalid name")
	// ErrRunning: the container's process (or mount server) is alive.
	ErrRunning = errors.New("container: running")
)

const bucket = "containers"

// sentinelError prints docker's message and is its sentinel.
type sentinelError struct {
	msg string
	is  error
}

func (e *sentinelError) Error() string        { return e.msg }
func (e *sentinelError) Is(target error) bool { return target == e.is }

func errorf(sentinel error, format string, args ...any) error {
	return &sentinelError{fmt.Sprintf(format, args...), sentinel}
}

// State is a container's state as docker names it.
type State string

const (
	StateCreated State = "created"
	StateRunning State = "running"
	StateExited  State = "exited"
)

// Container is one record.
type Container struct {
	ID       string        `json:"id"`
	Name     string        `json:"name"`
	Image    digest.Digest `json:"image"`    // the image ID
	ImageRef string        `json:"imageRef"` // the image as the user named it
	Command  []string      `json:"command,omitempty"`
	Created  time.Time     `json:"created"`
	Started  time.Time     `json:"started,omitzero"`
	Finished time.Time     `json:"finished,omitzero"`
	State    State         `json:"state"`
	ExitCode int           `json:"exitCode"`
	// Pid is the lfs process that runs the container or serves its mount,
	// while it does.
	Pid int `json:"pid,omitempty"`
	// InitPid is the container's init process (as the host numbers it),
	// while it runs, when recorded; Init finds it otherwise.
	InitPid int `json:"initPid,omitempty"`
	// Mountpoint is where `lfs mount` serves the container, while it does.
	Mountpoint string `json:"mountpoint,omitempty"`
	// Dir is ROOT/containers/ID.
	Dir string `json:"dir"`
	// EtcBinds says that /etc/hosts, /etc/hostname and /etc/resolv.conf
	// are the host's files bind-mounted in (lfs run): what the upper holds
	// there are mount targets, which diff and commit leave out, as docker
	// keeps them in a layer of its own.
	EtcBinds bool `json:"etcBinds,omitempty"`
	// Spec is what lfs start runs again: the runtime's own description
	// of the process, opaque to this package.
	Spec json.RawMessage `json:"spec,omitempty"`
	// AutoRemove: the container goes when its command exits (--rm).
	AutoRemove bool `json:"autoRemove,omitempty"`
}

// hidden lists the upper's entries that are lfs's, not the container's.
func (c *Container) hidden() []string {
	if !c.EtcBinds {
		return nil
	}
	var out []string
	for _, name := range sandbox.EtcFiles {
		out = append(out, "etc/"+name)
	}
	return out
}

// Upper is the container's writable layer.
func (c *Container) Upper() string { return filepath.Join(c.Dir, "upper") }

// Work is the union's work area, beside the upper.
func (c *Container) Work() string { return filepath.Join(c.Dir, "work") }

// Rootfs is where the container's root filesystem is mounted while it runs.
func (c *Container) Rootfs() string { return filepath.Join(c.Dir, "rootfs") }

// Live reports whether the lfs process that serves the container is alive.
func (c *Container) Live() bool {
	if c.Pid <= 0 {
		return false
	}
	if err := syscall.Kill(c.Pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	// A dead process its parent has not reaped (a killed lfs whose own
	// parent is gone, left to an init that may never reap) still answers
	// kill(0).
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.Pid))
	if i := bytes.LastIndexByte(b, ')'); err == nil && i >= 0 && i+2 < len(b) && b[i+2] == 'Z' {
		return false
	}
	return true
}

// Init is the container's init process, as the host numbers it, while
// it runs: the child of its lfs process that is PID 1 of a pid namespace
// of its own (the sandbox's; /proc/PID/status, which anyone may read,
// says so); 0 when there is none.
func (c *Container) Init() int {
	if !c.Live() {
		return 0
	}
	if c.InitPid > 0 {
		return c.InitPid
	}
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", c.Pid))
	for _, t := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", c.Pid, t.Name()))
		for _, f := range strings.Fields(string(b)) {
			st, err := os.ReadFile("/proc/" + f + "/status")
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(st), "\n") {
				if ids, ok := strings.CutPrefix(line, "NSpid:"); ok {
					if ns := strings.Fields(ids); len(ns) > 1 && ns[len(ns)-1] == "1" {
						pid, _ := strconv.Atoi(f)
						return pid
					}
				}
			}
		}
	}
	return 0
}

// Status is the state docker's ps shows: a container whose lfs process
// is alive is running (lfs mount serving it counts); a record left
// running by a killed lfs reads as exited.
func (c *Container) Status() State {
	switch {
	case c.Live():
		return StateRunning
	case c.State == StateRunning:
		return StateExited
	}
	return c.State
}

var validName = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// NewID returns a random 64-hex container ID.
func NewID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Create records c, its ID (made if empty), its name (checked, or made
// docker-style if empty), Dir under the store root, Created and
// StateCreated, then makes its directory with an empty writable layer.
// It fails with ErrNameInUse or ErrInvalidName.
func Create(s *layerstore.Store, c Container) (Container, error) {
	c, err := create(s, c)
	if err != nil {
		return c, err
	}
	// The container's directory is private; the upper is the root
	// directory of the container, which everyone must be able to enter.
	err = os.MkdirAll(c.Dir, 0o700)
	for _, d := range []string{c.Upper(), c.Work(), c.Rootfs()} {
		if err == nil {
			err = os.Mkdir(d, 0o755)
		}
	}
	if err != nil {
		Remove(s, c.ID, false)
		return c, fmt.Errorf("create container: %w", err)
	}
	return c, nil
}

func create(s *layerstore.Store, c Container) (Container, error) {
	if c.ID == "" {
		c.ID = NewID()
	}
	c.Name = strings.TrimPrefix(c.Name, "/")
	if c.Name != "" && !validName.MatchString(c.Name) {
		return c, errorf(ErrInvalidName, "Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", c.Name)
	}
	if c.Created.IsZero() {
		c.Created = time.Now().UTC()
	}
	if c.State == "" {
		c.State = StateCreated
	}
	c.Dir = filepath.Join(s.Root(), "containers", c.ID)
	err := s.UpdateBucket(bucket, func(b *bolt.Bucket) error {
		names := map[string]string{}
		b.ForEach(func(k, v []byte) error {
			var o Container
			if json.Unmarshal(v, &o) == nil {
				names[o.Name] = o.ID
			}
			return nil
		})
		if c.Name == "" {
			c.Name = randomName(func(n string) bool { _, ok := names[n]; return ok })
		} else if id, ok := names[c.Name]; ok {
			return errorf(ErrNameInUse, "Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name.", c.Name, id)
		}
		if b.Get([]byte(c.ID)) != nil {
			return errorf(ErrNameInUse, "container %s exists", c.ID)
		}
		return put(b, c)
	})
	return c, err
}

func put(b *bolt.Bucket, c Container) error {
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return b.Put([]byte(c.ID), data)
}

// List returns every container, newest first.
func List(s *layerstore.Store) ([]Container, error) {
	var out []Container
	err := s.ViewBucket(bucket, func(b *bolt.Bucket) error {
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var c Container
			if err := json.Unmarshal(v, &c); err != nil {
				return fmt.Errorf("container %s: %w: %v", k, layerstore.ErrCorrupt, err)
			}
			out = append(out, c)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, err
}

// Get finds a container as docker does: by full ID, by name (with or
// without the leading "/"), then by unique ID prefix.
func Get(s *layerstore.Store, name string) (Container, error) {
	var c Container
	err := s.ViewBucket(bucket, func(b *bolt.Bucket) error {
		var err error
		c, err = find(b, name)
		return err
	})
	return c, err
}

func find(b *bolt.Bucket, name string) (Container, error) {
	var c Container
	notFound := errorf(ErrNotFound, "No such container: %s", name)
	if b == nil || name == "" {
		return c, notFound
	}
	if v := b.Get([]byte(name)); v != nil {
		return c, json.Unmarshal(v, &c)
	}
	var byName, byPrefix []Container
	n := strings.TrimPrefix(name, "/")
	b.ForEach(func(k, v []byte) error {
		var o Container
		if json.Unmarshal(v, &o) != nil {
			return nil
		}
		if o.Name == n {
			byName = append(byName, o)
		}
		if bytes.HasPrefix(k, []byte(name)) {
			byPrefix = append(byPrefix, o)
		}
		return nil
	})
	switch {
	case len(byName) == 1:
		return byName[0], nil
	case len(byPrefix) == 1:
		return byPrefix[0], nil
	case len(byPrefix) > 1:
		return c, errorf(ErrAmbiguous, "multiple IDs found with provided prefix: %s", name)
	}
	return c, notFound
}

// Update applies fn to the record of the container with this full ID
// under the store lock and stores the result.
func Update(s *layerstore.Store, id string, fn func(c *Container) error) (Container, error) {
	var c Container
	err := s.UpdateBucket(bucket, func(b *bolt.Bucket) error {
		v := b.Get([]byte(id))
		if v == nil {
			return errorf(ErrNotFound, "No such container: %s", id)
		}
		if err := json.Unmarshal(v, &c); err != nil {
			return fmt.Errorf("container %s: %w: %v", id, layerstore.ErrCorrupt, err)
		}
		if err := fn(&c); err != nil {
			return err
		}
		return put(b, c)
	})
	return c, err
}

// Remove deletes the container's record, then its directory. A container
// whose process or mount server is alive is refused with ErrRunning
// unless force, which stops it first (outside the lock: its lfs process
// records the exit on its way out).
func Remove(s *layerstore.Store, name string, force bool) (Container, error) {
	if force {
		c, err := Get(s, name)
		if err != nil {
			return c, err
		}
		if c.Live() {
			stop(c)
		}
		name = c.ID
	}
	return remove(s, name, false)
}

// remove deletes the record and directory; self lets this process remove
// a container it runs itself (Run with Remove).
func remove(s *layerstore.Store, name string, self bool) (Container, error) {
	var c Container
	err := s.UpdateBucket(bucket, func(b *bolt.Bucket) error {
		var err error
		if c, err = find(b, name); err != nil {
			return err
		}
		if c.Live() && !(self && c.Pid == os.Getpid()) {
			what := "You cannot remove a running container " + c.ID + ". Stop the container before attempting removal or force remove"
			if c.Mountpoint != "" {
				what = "You cannot remove a mounted container " + c.ID + ". Unmount " + c.Mountpoint + " first or force remove"
			}
			return errorf(ErrRunning, "%s", what)
		}
		return b.Delete([]byte(c.ID))
	})
	if err != nil {
		return c, err
	}
	if err := os.RemoveAll(c.Dir); err != nil {
		return c, fmt.Errorf("remove container %s: %w", c.ID, err)
	}
	return c, nil
}

// stop ends the container as docker rm -f does, and waits up to 10 s for
// its lfs process to finish (unmount and record the exit), then kills it.
// Killing the container's init, not lfs, lets lfs take its mount down;
// a mount server unmounts on SIGTERM. A container recorded running whose
// init is not there yet (lfs run between its record and its start) gets
// a moment to start.
func stop(c Container) {
	init := c.Init()
	for i := 0; i < 100 && init == 0 && c.Mountpoint == "" && c.Live(); i++ {
		time.Sleep(20 * time.Millisecond)
		init = c.Init()
	}
	switch {
	case init > 0 && syscall.Kill(init, syscall.SIGKILL) == nil:
	case init > 0:
		// A rootless container's init running as another of the user's
		// subordinate ids is not ours to signal from another user
		// namespace; its lfs process is, and the container and its
		// mount (in that process's namespace) go with it.
		syscall.Kill(c.Pid, syscall.SIGKILL)
	default:
		syscall.Kill(c.Pid, syscall.SIGTERM)
	}
	for i := 0; i < 500 && c.Live(); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if c.Live() {
		syscall.Kill(c.Pid, syscall.SIGKILL)
	}
	for i := 0; i < 100 && c.Live(); i++ {
		time.Sleep(20 * time.Millisecond)
	}
}

var (
	adjectives = []string{"admiring", "bold", "brave", "clever", "dreamy", "eager", "elastic", "festive", "gallant",
		"happy", "jolly", "keen", "lucid", "nifty", "quirky", "relaxed", "serene", "sharp", "stoic", "vibrant", "wizardly", "zealous"}
	nouns = []string{"babbage", "curie", "darwin", "einstein", "euclid", "fermi", "galileo", "hopper", "hypatia",
		"kepler", "lovelace", "noether", "pasteur", "ritchie", "shannon", "thompson", "turing", "wozniak"}
)

// randomName makes an adjective_noun name that taken reports free, with a
// digit appended after a clash, as docker does.
func randomName(taken func(string) bool) string {
	for i := 0; ; i++ {
		b := make([]byte, 2)
		rand.Read(b)
		n := adjectives[int(b[0])%len(adjectives)] + "_" + nouns[int(b[1])%len(nouns)]
		if i > 10 {
			n += fmt.Sprint(i)
		}
		if !taken(n) {
			return n
		}
	}
}
