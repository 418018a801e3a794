package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrUnavailable: the host gives this process no cgroup to set the
// limits in; the error says why (no delegation, a missing controller).
var ErrUnavailable = errors.New("cgroup: limits unavailable")

// Group is one container's cgroup: lfs/ID under the caller's own cgroup
// in each v1 hierarchy it uses, or lfs/ID beside the caller's cgroup on
// v2 (see New).
type Group struct {
	id string
	v2 bool
	// dirs maps each v1 controller to its group directory; on v2 the
	// one directory is under "".
	dirs map[string]string
}

// unavailable wraps ErrUnavailable with the reason, in one line.
func unavailable(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnavailable, fmt.Sprintf(format, args...))
}

// v1Controllers are the v1 hierarchies a group uses: memory, pids and
// cpu for the limits, cpuacct for the CPU time, freezer for Kill.
var v1Controllers = []string{"memory", "pids", "cpu", "cpuacct", "freezer"}

// New makes the cgroup of container id with limits l; the caller then
// puts the container's first process in it (Add) before it runs the
// command, and removes it (Remove) after the container has ended.
//
// With cgroup v1 (or a hybrid host, whose controllers are v1's) the
// group is lfs/ID under the caller's own cgroup in each hierarchy, so
// that what contains lfs (a batch job, a session's limit) contains its
// containers too; v1 delegates nothing to unprivileged users, so New
// fails for them unless an administrator gave them the caller's cgroup.
// With cgroup v2 it is lfs/ID under the parent of the caller's cgroup
// (the caller's own holds processes, so it may not enable controllers
// for children); for an unprivileged user that must be a cgroup
// delegated to them, as systemd does for `systemd-run --user --scope -p
// Delegate=yes`. Where the host gives no way, New fails with
// ErrUnavailable and the reason, never with a group that limits nothing.
func New(id string, l Limits) (*Group, error) {
	h, err := readHierarchies()
	if err != nil {
		return nil, err
	}
	if h.v2 != nil {
		return newV2(id, l, h.v2)
	}
	return newV1(id, l, h.v1)
}

// mount is one cgroup hierarchy: where it is mounted, the cgroup mounted
// there, and the caller's cgroup in it.
type mount struct {
	dir, root, own string
}

// ownDir is the caller's cgroup directory in m.
func (m mount) ownDir() string {
	rel, err := filepath.Rel(m.root, m.own)
	if err != nil || strings.HasPrefix(rel, "..") {
		rel = "." // a cgroup namespace's root mounted below the caller's
	}
	return filepath.Join(m.dir, rel)
}

type hierarchies struct {
	v1 map[string]mount // controller -> its hierarchy
	v2 *mount           // set when the controllers are v2's
}

// readHierarchies finds the cgroup mounts (/proc/self/mountinfo) and the
// caller's cgroup in each (/proc/self/cgroup). A host is v2 when no v1
// hierarchy holds a controller lfs uses and a v2 one is mounted.
func readHierarchies() (hierarchies, error) {
	h := hierarchies{v1: map[string]mount{}}
	own := map[string]string{} // controller ("" for v2) -> path
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return h, fmt.Errorf("cgroup: %w", err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID:CONTROLLERS:PATH
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			own[c] = parts[2]
		}
	}
	f.Close()
	f, err = os.Open("/proc/self/mountinfo")
	if err != nil {
		return h, fmt.Errorf("cgroup: %w", err)
	}
	defer f.Close()
	var v2 *mount
	sc = bufio.NewScanner(f)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if sep < 5 || len(fields) < sep+4 {
			continue
		}
		root, dir := unescape(fields[3]), unescape(fields[4])
		switch fields[sep+1] {
		case "cgroup2":
			if v2 == nil || dir == "/sys/fs/cgroup" {
				v2 = &mount{dir: dir, root: root, own: own[""]}
			}
		case "cgroup":
			for _, o := range strings.Split(fields[sep+3], ",") {
				if slices.Contains(v1Controllers, o) {
					if _, seen := h.v1[o]; !seen {
						h.v1[o] = mount{dir: dir, root: root, own: own[o]}
					}
				}
			}
		}
	}
	if len(h.v1) == 0 {
		if v2 == nil {
			return h, unavailable("no cgroup filesystem is mounted")
		}
		h.v2 = v2
	}
	return h, nil
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mkGroup makes parent/lfs/id; another lfs may remove an empty
// parent/lfs meanwhile (Remove), so a vanished parent is made again.
func mkGroup(parent, id string) (string, error) {
	dir := filepath.Join(parent, "lfs", id)
	var err error
	for range 3 {
		if err = os.Mkdir(filepath.Dir(dir), 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return "", err
		}
		if err = os.Mkdir(dir, 0o755); !errors.Is(err, os.ErrNotExist) {
			break
		}
	}
	return dir, err
}

// denied says whether err is the kernel refusing us a cgroup directory.
func denied(err error) bool {
	return errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EROFS)
}

func newV1(id string, l Limits, h map[string]mount) (*Group, error) {
	need := map[string]bool{"memory": l.Memory > 0, "pids": l.PidsLimit > 0, "cpu": l.NanoCPUs > 0}
	for c, needed := range need {
		if _, ok := h[c]; needed && !ok {
			return nil, unavailable("%s needs the cgroup v1 %s controller, which this host does not mount", l.flags(), c)
		}
	}
	g := &Group{id: id, dirs: map[string]string{}}
	for _, c := range v1Controllers {
		m, ok := h[c]
		if !ok {
			continue
		}
		// cpu and cpuacct are often one hierarchy (cpu,cpuacct).
		if d, ok := g.dirForMount(m); ok {
			g.dirs[c] = d
			continue
		}
		dir, err := mkGroup(m.ownDir(), id)
		if err != nil {
			g.Remove()
			return nil, refused(l, false, err)
		}
		g.dirs[c] = dir
	}
	if err := g.setV1(l); err != nil {
		g.Remove()
		return nil, err
	}
	return g, nil
}

// dirForMount is the group directory already made in m's hierarchy.
func (g *Group) dirForMount(m mount) (string, bool) {
	for _, d := range g.dirs {
		if strings.HasPrefix(d, m.dir+"/") {
			return d, true
		}
	}
	return "", false
}

func (g *Group) setV1(l Limits) error {
	if l.Memory > 0 {
		if err := g.write("memory", "memory.limit_in_bytes", l.Memory); err != nil {
			return err
		}
		swap := filepath.Join(g.dirs["memory"], "memory.memsw.limit_in_bytes")
		if _, err := os.Stat(swap); err == nil {
			if err := g.write("memory", "memory.memsw.limit_in_bytes", l.swapLimit()); err != nil {
				return err
			}
		} else if l.MemorySwap > 0 {
			// Without swap accounting the container can swap without
			// bound: refused, not ignored (docker warns and goes on).
			return unavailable("--memory-swap needs swap accounting (memory.memsw.limit_in_bytes), which this kernel lacks (boot it with swapaccount=1)")
		}
	}
	if l.PidsLimit > 0 {
		if err := g.write("pids", "pids.max", l.PidsLimit); err != nil {
			return err
		}
	}
	if l.NanoCPUs > 0 {
		if err := g.write("cpu", "cpu.cfs_period_us", cpuPeriod); err != nil {
			return err
		}
		if err := g.write("cpu", "cpu.cfs_quota_us", l.cpuQuota()); err != nil {
			return err
		}
	}
	return nil
}

// v2Controllers are what a v2 group enables for the limits.
var v2Controllers = []string{"memory", "pids", "cpu"}

func newV2(id string, l Limits, m *mount) (*Group, error) {
	parent := m.ownDir()
	if parent != m.dir {
		parent = filepath.Dir(parent)
	}
	avail, err := os.ReadFile(filepath.Join(parent, "cgroup.controllers"))
	if err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	have := strings.Fields(string(avail))
	need := map[string]bool{"memory": l.Memory > 0, "pids": l.PidsLimit > 0, "cpu": l.NanoCPUs > 0}
	var enable []string
	for _, c := range v2Controllers {
		switch {
		case slices.Contains(have, c):
			enable = append(enable, "+"+c)
		case need[c]:
			return nil, unavailable("%s needs the cgroup v2 %s controller, which %s does not offer (cgroup.controllers: %q)",
				l.flags(), c, parent, strings.TrimSpace(string(avail)))
		}
	}
	// Controllers reach a group through every ancestor's
	// subtree_control: the parent's (usually set by systemd already),
	// then lfs/'s.
	if err := enableControllers(parent, enable); err != nil {
		return nil, refused(l, true, err)
	}
	dir, err := mkGroup(parent, id)
	if err != nil {
		return nil, refused(l, true, err)
	}
	g := &Group{id: id, v2: true, dirs: map[string]string{"": dir}}
	if err := enableControllers(filepath.Dir(dir), enable); err != nil {
		g.Remove()
		return nil, refused(l, true, err)
	}
	if err := g.setV2(l); err != nil {
		g.Remove()
		return nil, err
	}
	return g, nil
}

// refused explains a cgroup directory the kernel would not let us make
// or change.
func refused(l Limits, v2 bool, err error) error {
	switch {
	case !denied(err) && !errors.Is(err, syscall.EBUSY):
		return fmt.Errorf("cgroup: %w", err)
	case errors.Is(err, syscall.EBUSY):
		return unavailable("%s: %v: the cgroup holds processes, so it cannot pass controllers to a child (cgroup v2's no-internal-process rule): run lfs in a cgroup of its own", l.flags(), err)
	}
	uid := hostUID()
	switch {
	case uid == 0:
		return unavailable("%s: %v", l.flags(), err)
	case v2:
		return unavailable("%s: the cgroup is not delegated to uid %d (%v): run lfs in one, e.g. systemd-run --user --scope -p Delegate=yes lfs ...",
			l.flags(), uid, err)
	}
	return unavailable("%s: cgroup v1 delegates no cgroup to unprivileged users, so limits need root here (%v)", l.flags(), err)
}

// hostUID is the caller's effective uid as the host sees it: root of a
// user namespace (rootless lfs) is the uid its uid_map maps 0 to, an
// unprivileged user as far as cgroups go.
func hostUID() int {
	uid := os.Geteuid()
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return uid
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		in, err1 := strconv.Atoi(f[0])
		out, err2 := strconv.Atoi(f[1])
		n, err3 := strconv.Atoi(f[2])
		if err1 == nil && err2 == nil && err3 == nil && uid >= in && uid < in+n {
			return out + uid - in
		}
	}
	return uid
}

// enableControllers adds what is missing of enable ("+memory", ...) to
// dir's cgroup.subtree_control.
func enableControllers(dir string, enable []string) error {
	p := filepath.Join(dir, "cgroup.subtree_control")
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	on := strings.Fields(string(b))
	var add []string
	for _, c := range enable {
		if !slices.Contains(on, c[1:]) {
			add = append(add, c)
		}
	}
	if len(add) == 0 {
		return nil
	}
	return os.WriteFile(p, []byte(strings.Join(add, " ")), 0)
}

func (g *Group) setV2(l Limits) error {
	if l.Memory > 0 {
		if err := g.write("", "memory.max", l.Memory); err != nil {
			return err
		}
		// memory.swap.max is swap alone, docker's limit less memory.
		swap := any("max")
		if s := l.swapLimit(); s > 0 {
			swap = s - l.Memory
		}
		if _, err := os.Stat(filepath.Join(g.dirs[""], "memory.swap.max")); err == nil {
			if err := g.write("", "memory.swap.max", swap); err != nil {
				return err
			}
		} else if l.MemorySwap > 0 {
			return unavailable("--memory-swap needs memory.swap.max, which this kernel lacks (swap accounting off: boot it with swapaccount=1)")
		}
	}
	if l.PidsLimit > 0 {
		if err := g.write("", "pids.max", l.PidsLimit); err != nil {
			return err
		}
	}
	if l.NanoCPUs > 0 {
		if err := g.write("", "cpu.max", fmt.Sprintf("%d %d", l.cpuQuota(), cpuPeriod)); err != nil {
			return err
		}
	}
	return nil
}

// write sets one of the group's files (in controller's directory, v1).
func (g *Group) write(controller, file string, v any) error {
	p := filepath.Join(g.dirs[controller], file)
	if err := os.WriteFile(p, []byte(fmt.Sprint(v)), 0); err != nil {
		return fmt.Errorf("cgroup: set %s: %w", p, err)
	}
	return nil
}

// ID is the container ID the group was made for.
func (g *Group) ID() string { return g.id }

// Dirs are the group's directories, one per v1 hierarchy, or v2's one.
func (g *Group) Dirs() []string {
	var ds []string
	for _, d := range g.dirs {
		if !slices.Contains(ds, d) {
			ds = append(ds, d)
		}
	}
	slices.Sort(ds)
	return ds
}

// Add moves process pid (all its threads) into the group. A process
// added before it forks takes its children with it.
func (g *Group) Add(pid int) error {
	for _, d := range g.Dirs() {
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
			return fmt.Errorf("cgroup: add process %d to %s: %w", pid, d, err)
		}
	}
	return nil
}

// Procs lists the processes in the group (none once it is removed).
func (g *Group) Procs() ([]int, error) {
	var pids []int
	for _, d := range g.Dirs() {
		b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if errors.Is(err, os.ErrNotExist) {
			continue // removed
		}
		if err != nil {
			return nil, fmt.Errorf("cgroup: %w", err)
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && !slices.Contains(pids, pid) {
				pids = append(pids, pid)
			}
		}
	}
	return pids, nil
}

// killTimeout bounds Kill's and Remove's wait for the processes to go.
const killTimeout = 10 * time.Second

// Kill sends SIGKILL to every process in the group, new ones forked
// meanwhile included, and returns once the group is empty: v2's
// cgroup.kill does that in the kernel; on v1 the group is frozen first
// (freezer), so that nothing forks between reading cgroup.procs and the
// kill.
func (g *Group) Kill() error {
	if g.v2 {
		p := filepath.Join(g.dirs[""], "cgroup.kill")
		if err := os.WriteFile(p, []byte("1"), 0); err == nil {
			return g.waitEmpty()
		}
		// Kernels before 5.14 have no cgroup.kill: kill in a loop.
	}
	freezer, frozen := g.dirs["freezer"], false
	deadline := time.Now().Add(killTimeout)
	for time.Now().Before(deadline) {
		if freezer != "" && !frozen {
			frozen = os.WriteFile(filepath.Join(freezer, "freezer.state"), []byte("FROZEN"), 0) == nil
		}
		pids, err := g.Procs()
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		// A frozen task dies only once thawed.
		if frozen {
			os.WriteFile(filepath.Join(freezer, "freezer.state"), []byte("THAWED"), 0)
			frozen = false
		}
		time.Sleep(10 * time.Millisecond)
	}
	if frozen {
		os.WriteFile(filepath.Join(freezer, "freezer.state"), []byte("THAWED"), 0)
	}
	return g.waitEmpty()
}

// waitEmpty waits until no process is left in the group.
func (g *Group) waitEmpty() error {
	deadline := time.Now().Add(killTimeout)
	for {
		pids, err := g.Procs()
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup: processes %v still in %s after %s", pids, g.id, killTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Remove removes the group's directories, and lfs/ above them when it
// is left empty. It fails when processes are in the group (Kill first);
// a process that just exited may hold its cgroup a moment longer, for
// which Remove retries.
func (g *Group) Remove() error {
	if pids, err := g.Procs(); err != nil || len(pids) > 0 {
		if err == nil {
			err = fmt.Errorf("processes %v are in it", pids)
		}
		return fmt.Errorf("cgroup: remove %s: %w", g.id, err)
	}
	var errs []error
	for _, d := range g.Dirs() {
		var err error
		for deadline := time.Now().Add(killTimeout); ; time.Sleep(10 * time.Millisecond) {
			err = syscall.Rmdir(d)
			if err == nil || errors.Is(err, syscall.ENOENT) {
				err = nil
				break
			}
			if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("cgroup: remove %s: %w", d, err))
			continue
		}
		// Another container's group may be there: then lfs/ stays.
		syscall.Rmdir(filepath.Dir(d))
	}
	return errors.Join(errs...)
}
