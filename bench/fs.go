package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Filesystems lists the filesystems lfs bench knows, in the order it shows
// them.
var Filesystems = []string{"lfs", "lfs-dir", "overlay", "fuse-overlayfs", "unionfs-fuse", "native"}

// fsys is one filesystem under test: how to tell whether it can run here,
// and how to mount and unmount one instance of it on the dataset.
type fsys struct {
	name string
	doc  string
	// check says why the filesystem cannot run here, or "".
	check func(r *runner) string
	// version describes what is measured (a tool's version).
	version func(r *runner) string
	// mount mounts in (its directories exist) and sets in.root; native
	// has no mount.
	mount   func(ctx context.Context, r *runner, in *instance) error
	unmount func(r *runner, in *instance) error
}

// instance is one mount of a filesystem, with its own upper directory.
type instance struct {
	fs               *fsys
	mnt, upper, work string
	// root is where the merged tree is seen: the mount point, a kernel
	// overlayfs mount seen through its user namespace's helper
	// (/proc/PID/root/MOUNTPOINT), or the merged tree itself for native.
	root    string
	helper  *exec.Cmd      // the user namespace holding a rootless overlayfs mount
	release io.WriteCloser // closing it ends the helper
	mounted bool
}

func (in *instance) isNative() bool { return in.fs.name == "native" }

func filesystems() map[string]*fsys {
	fuseOK := func(r *runner) string {
		if _, err := os.Stat("/dev/fuse"); err != nil {
			return "no /dev/fuse"
		}
		return ""
	}
	tool := func(name string) func(r *runner) string {
		return func(r *runner) string {
			if _, err := exec.LookPath(name); err != nil {
				return name + " is not installed"
			}
			return fuseOK(r)
		}
	}
	lfsCheck := func(r *runner) string {
		if r.opt.Lfs == "" {
			return "no lfs binary to mount with (Options.Lfs)"
		}
		return fuseOK(r)
	}
	lfsVersion := func(r *runner) string { return "lfs " + r.opt.LfsVersion }
	return map[string]*fsys{
		"lfs": {name: "lfs", doc: "lfs mount of the image in a store: layers served from their tars (FUSE)",
			check: lfsCheck, version: lfsVersion,
			mount: func(ctx context.Context, r *runner, in *instance) error {
				return r.lfs(ctx, "mount", "-d", "--upper", in.upper, "--work", in.work, r.ds.Info.Image, in.mnt)
			},
			unmount: unmountFUSE},
		"lfs-dir": {name: "lfs-dir", doc: "lfs mount --lower over the overlayfs lower directories (FUSE)",
			check: lfsCheck, version: lfsVersion,
			mount: func(ctx context.Context, r *runner, in *instance) error {
				return r.lfs(ctx, "mount", "-d", "--lower", strings.Join(r.ds.lowers(), ":"),
					"--upper", in.upper, "--work", in.work, in.mnt)
			},
			unmount: unmountFUSE},
		"overlay": {name: "overlay", doc: "kernel overlayfs (as root, or in a user namespace)",
			check: checkOverlay,
			version: func(r *runner) string {
				v := "kernel " + r.machine.Kernel
				if !r.asRoot {
					v += ", in a user namespace"
				}
				return v
			},
			mount: mountOverlay, unmount: unmountOverlay},
		"fuse-overlayfs": {name: "fuse-overlayfs", doc: "fuse-overlayfs over the overlayfs lower directories",
			check: tool("fuse-overlayfs"), version: toolVersion("fuse-overlayfs", "--version"),
			mount: func(ctx context.Context, r *runner, in *instance) error {
				return r.command(ctx, "fuse-overlayfs", "-o", overlayOptions(r, in), in.mnt).run()
			},
			unmount: unmountFUSE},
		"unionfs-fuse": {name: "unionfs-fuse", doc: "unionfs-fuse -o cow over its own branches (_HIDDEN~ whiteouts)",
			check: tool("unionfs-fuse"), version: toolVersion("unionfs-fuse", "--version"),
			mount:   mountUnionfs,
			unmount: unmountFUSE},
		"native": {name: "native", doc: "the merged tree on the host filesystem, no union (the physical limit)",
			check:   func(*runner) string { return "" },
			version: func(r *runner) string { return r.machine.DirFS },
			mount: func(_ context.Context, r *runner, in *instance) error {
				in.root = r.ds.native()
				return nil
			},
			unmount: func(*runner, *instance) error { return nil }},
	}
}

func mountUnionfs(ctx context.Context, r *runner, in *instance) error {
	if r.unionfsMeta == "" {
		meta, err := unionfsMetaDir(ctx, r)
		if err != nil {
			return err
		}
		r.unionfsMeta = meta
	}
	lowers, err := r.ds.branches(ctx, r.unionfsMeta, r.asRoot)
	if err != nil {
		return err
	}
	branches := []string{in.upper + "=RW"}
	for _, l := range lowers {
		branches = append(branches, l+"=RO")
	}
	return r.command(ctx, "unionfs-fuse", "-o", "cow,hide_meta_files", strings.Join(branches, ":"), in.mnt).run()
}

// unionfsMetaDir asks the installed unionfs-fuse what its metadata
// directory is called: it deletes a lower file through a union and looks
// at what appears in the upper.
func unionfsMetaDir(ctx context.Context, r *runner) (string, error) {
	dir := filepath.Join(r.runDir, "unionfs-probe")
	defer os.RemoveAll(dir)
	l, u, m := filepath.Join(dir, "l"), filepath.Join(dir, "u"), filepath.Join(dir, "m")
	for _, d := range []string{l, u, m} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
	}
	if err := os.WriteFile(filepath.Join(l, "x"), nil, 0o644); err != nil {
		return "", err
	}
	in := &instance{mnt: m}
	if err := r.command(ctx, "unionfs-fuse", "-o", "cow", u+"=RW:"+l+"=RO", m).run(); err != nil {
		return "", err
	}
	err := os.Remove(filepath.Join(m, "x"))
	if uerr := unmountFUSE(r, in); err == nil {
		err = uerr
	}
	if err != nil {
		return "", fmt.Errorf("unionfs-fuse: find its metadata directory: %w", err)
	}
	ents, _ := os.ReadDir(u)
	if len(ents) != 1 || !ents[0].IsDir() {
		return "", fmt.Errorf("unionfs-fuse: deleting a lower file left %d entries in the upper, not its metadata directory", len(ents))
	}
	return ents[0].Name(), nil
}

func overlayOptions(r *runner, in *instance) string {
	return "lowerdir=" + strings.Join(r.ds.lowers(), ":") + ",upperdir=" + in.upper + ",workdir=" + in.work
}

// toolVersion runs TOOL ARG and keeps the first line that names a version.
func toolVersion(tool, arg string) func(*runner) string {
	return func(*runner) string {
		out, _ := exec.Command(tool, arg).CombinedOutput()
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, tool) && strings.Contains(l, "version") {
				return strings.TrimSpace(l)
			}
		}
		return tool
	}
}

func checkOverlay(r *runner) string {
	fs, _ := os.ReadFile("/proc/filesystems")
	if !strings.Contains(string(fs), "\toverlay\n") {
		// It may be a module not loaded yet; mounting loads it.
		if r.asRoot {
			return ""
		}
		return "the kernel has no overlay filesystem"
	}
	if r.asRoot {
		return ""
	}
	if b, err := os.ReadFile("/proc/sys/user/max_user_namespaces"); err == nil && strings.TrimSpace(string(b)) == "0" {
		return "needs root: user namespaces are disabled (user.max_user_namespaces = 0)"
	}
	if b, err := os.ReadFile("/proc/sys/kernel/unprivileged_userns_clone"); err == nil && strings.TrimSpace(string(b)) == "0" {
		return "needs root: unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0)"
	}
	return ""
}

func mountOverlay(ctx context.Context, r *runner, in *instance) error {
	opts := overlayOptions(r, in)
	if r.asRoot {
		if err := unix.Mount("overlay", in.mnt, "overlay", 0, opts); err != nil {
			return fmt.Errorf("mount -t overlay: %w", err)
		}
		return nil
	}
	// Rootless: a helper in a new user and mount namespace holds the
	// mount; this process reaches it through /proc/PID/root.
	cmd := exec.Command("/proc/self/exe", in.mnt, opts+",userxattr")
	cmd.Args[0] = overlayHelperArg0
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  unix.CLONE_NEWUSER | unix.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		Pdeathsig:   syscall.SIGKILL,
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the user namespace for overlayfs: %w", err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if line != "ok\n" {
		stdin.Close()
		cmd.Wait()
		return fmt.Errorf("mount -t overlay in a user namespace: %s", strings.TrimSpace(strings.TrimPrefix(line, "error: ")))
	}
	in.helper, in.release = cmd, stdin
	in.root = fmt.Sprintf("/proc/%d/root%s", cmd.Process.Pid, in.mnt)
	return nil
}

func unmountOverlay(r *runner, in *instance) error {
	if in.helper != nil {
		in.release.Close()
		err := in.helper.Wait()
		in.helper = nil
		if err != nil {
			return fmt.Errorf("overlayfs helper: %w", err)
		}
		return nil
	}
	return unmountPath(in.mnt)
}

func unmountFUSE(r *runner, in *instance) error {
	if r.asRoot {
		return unmountPath(in.mnt)
	}
	out, err := exec.Command("fusermount3", "-u", in.mnt).CombinedOutput()
	if err != nil {
		if out2, err2 := exec.Command("fusermount3", "-u", "-z", in.mnt).CombinedOutput(); err2 != nil {
			return fmt.Errorf("fusermount3 -u %s: %s; %s", in.mnt, strings.TrimSpace(string(out)), strings.TrimSpace(string(out2)))
		}
	}
	return nil
}

// unmountPath unmounts mp, waiting out a mount that is busy for a moment
// (a FUSE server answering a last request) before it detaches it.
func unmountPath(mp string) error {
	var err error
	for i := 0; i < 50; i++ {
		if err = unix.Unmount(mp, 0); err == nil || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if derr := unix.Unmount(mp, unix.MNT_DETACH); derr != nil && !errors.Is(derr, unix.EINVAL) {
		return fmt.Errorf("umount %s: %w", mp, err)
	}
	return nil
}

// overlayHelperArg0 is argv[0] of the rootless overlayfs helper; init
// catches it.
const overlayHelperArg0 = "lfs-bench-overlay"

func init() {
	if len(os.Args) == 3 && os.Args[0] == overlayHelperArg0 {
		os.Exit(overlayHelper(os.Args[1], os.Args[2]))
	}
}

// overlayHelper runs in a new user and mount namespace: it mounts
// overlayfs on mp, says "ok", and holds the mount until its stdin closes;
// the namespace, and the mount, die with it.
func overlayHelper(mp, opts string) int {
	// Nothing mounted here may reach the parent namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		fmt.Printf("error: make mounts private: %v\n", err)
		return 1
	}
	if err := unix.Mount("overlay", mp, "overlay", 0, opts); err != nil {
		fmt.Printf("error: %v\n", err)
		return 1
	}
	fmt.Println("ok")
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// mountsUnder lists the mount points at or below dir, deepest first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64*kiB), miB)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	// Later mounts can sit on earlier ones; undo them in reverse.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// sweep unmounts whatever is mounted under dir: the mounts of a run that
// was killed before it could clean up. dir is lfs bench's own (its lock is
// held), so nothing there is anyone else's.
func sweep(dir string, asRoot bool) error {
	var errs []error
	for _, mp := range mountsUnder(dir) {
		var err error
		if asRoot {
			err = unix.Unmount(mp, unix.MNT_DETACH)
		} else if out, e := exec.Command("fusermount3", "-u", "-z", mp).CombinedOutput(); e != nil {
			err = fmt.Errorf("%s", strings.TrimSpace(string(out)))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("umount %s: %w", mp, err))
		}
	}
	return errors.Join(errs...)
}

// fsMagic names the filesystems a --dir must not be on: timings there
// measure them, not the disk.
var fsMagic = map[int64]string{0x65735546: "fuse", 0x794c7630: "overlay"}

// refuseDir says why dir is a filesystem lfs bench would measure nonsense
// on, or nil.
func refuseDir(dir string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fmt.Errorf("bench: statfs %s: %w", dir, err)
	}
	if name, ok := fsMagic[int64(st.Type)]; ok {
		return fmt.Errorf("bench: --dir %s is on a %s filesystem, which every measurement would include; choose a directory on a disk, or --force: %w", dir, name, ErrUsage)
	}
	return nil
}
