package sandbox

import (
	"github.com/lfs-dev/lfs/cgroup"
	"github.com/lfs-dev/lfs/seccomp"
)

// Network is a container's network namespace.
type Network string

const (
	// NetworkHost shares the caller's network namespace (the default, as
	// in HPC runtimes).
	NetworkHost Network = "host"
	// NetworkNone gives the container a network namespace of its own,
	// with only the loopback interface, up.
	NetworkNone Network = "none"
	// NetworkSlirp4netns is a network namespace of its own, lo up, that
	// the caller connects to the host's network before the command runs
	// (network.Start, in a BeforeSetup function).
	NetworkSlirp4netns Network = "slirp4netns"
)

// ownNamespace says whether the container gets a network namespace of
// its own.
func (n Network) ownNamespace() bool { return n == NetworkNone || n == NetworkSlirp4netns }

// Spec is everything the child needs, sent to it as JSON over a pipe.
type Spec struct {
	// Rootfs is the host path of the container's root filesystem; the
	// child bind-mounts it onto itself and pivots into it.
	Rootfs string `json:"rootfs"`
	// Args is the command; Args[0] is looked up in Env's PATH unless it
	// holds a slash.
	Args []string `json:"args"`
	// Env is the command's whole environment. HOME is added from the
	// user's passwd entry (else "/") when missing.
	Env []string `json:"env"`
	// Cwd is the working directory inside the container, made (0755, by
	// root) when missing.
	Cwd string `json:"cwd"`
	// User is docker's -u: "", "name", "uid", with ":group" or ":gid";
	// names resolve through the container's /etc/passwd and /etc/group.
	User string `json:"user,omitempty"`
	// Hostname is set in the container's UTS namespace.
	Hostname string `json:"hostname"`
	// Network is NetworkHost ("" too), NetworkNone or NetworkSlirp4netns.
	Network Network `json:"network,omitempty"`
	// Etc maps "hosts", "hostname" and "resolv.conf" to host files that
	// are bind-mounted onto /etc/NAME in the container (see WriteEtc).
	Etc map[string]string `json:"etc,omitempty"`
	// Init makes a small init built into this binary PID 1: it starts the
	// command, forwards signals to it, reaps orphans and exits with the
	// command's status (128+N when signal N killed it).
	Init bool `json:"init,omitempty"`
	// Mounts are the user's binds and tmpfs mounts (-v, --mount,
	// --tmpfs), mounted after /proc, /dev and /sys, parents first.
	Mounts []Mount `json:"mounts,omitempty"`
	// ReadOnly makes the root filesystem read-only once every mount
	// target is made (--read-only); /dev, /dev/shm, tmpfs mounts and
	// writable binds stay writable.
	ReadOnly bool `json:"readOnly,omitempty"`
	// Terminal gives the command a pty of the container's own devpts as
	// its stdin, stdout, stderr, controlling terminal and /dev/console;
	// Start hands the master to the caller (Process.Console).
	Terminal bool `json:"terminal,omitempty"`
	// ConsoleSize is the pty's size before the command starts.
	ConsoleSize *WinSize `json:"consoleSize,omitempty"`
	// Capabilities are the bounding set, and the effective and permitted
	// sets of a uid-0 process ("CAP_CHOWN", ...); nil is
	// DefaultCapabilities, an empty list none at all (--cap-drop ALL; so
	// it is never omitted from the JSON). Inheritable and ambient sets
	// are always empty.
	Capabilities []string `json:"capabilities"`
	// Seccomp is the filter the child installs before it executes the
	// command (Profile.Compile for Capabilities); nil is none
	// (seccomp=unconfined, --privileged). Without NoNewPrivileges it is
	// installed while the child is still root with CAP_SYS_ADMIN, before
	// the uid and capabilities change, so the profile must allow those
	// calls (Docker's does); with it, last, right before the exec.
	Seccomp *seccomp.Filter `json:"seccomp,omitempty"`
	// NoNewPrivileges sets no_new_privs (--security-opt
	// no-new-privileges): no exec in the container gains privileges
	// through set-user-ID bits or file capabilities.
	NoNewPrivileges bool `json:"noNewPrivileges,omitempty"`
	// Ulimits are set (setrlimit) while the child is still root, just
	// before it changes to the user (raising a hard limit needs root).
	Ulimits []cgroup.Ulimit `json:"ulimits,omitempty"`
	// Privileged is docker's --privileged as far as the child goes:
	// nothing of /proc or /sys masked or read-only, /sys writable, and
	// the host's device nodes bound into /dev. The caller gives it every
	// capability and no seccomp filter too.
	Privileged bool `json:"privileged,omitempty"`
}

// WinSize is a terminal's size in characters.
type WinSize struct {
	Rows uint16 `json:"rows"`
	Cols uint16 `json:"cols"`
}

// Mount is one mount the user asked for.
type Mount struct {
	// Type is "bind" or "tmpfs".
	Type string `json:"type"`
	// Source is the host path of a bind; the child opens it before
	// pivot_root (a symlink there resolves on the host, as docker's -v).
	Source string `json:"source,omitempty"`
	// Target is the absolute path inside the container, made when
	// missing (a directory, or an empty file for a bind of a file) and
	// resolved inside the container's root.
	Target string `json:"target"`
	// ReadOnly makes the mount (a bind: recursively) read-only.
	ReadOnly bool `json:"readOnly,omitempty"`
	// Options are a tmpfs's: "size=64m", "mode=1777", "uid=N", "gid=N",
	// "nr_inodes=N", and flags "exec"/"noexec", "suid"/"nosuid",
	// "dev"/"nodev" (docker's default: noexec, nosuid, nodev).
	Options []string `json:"options,omitempty"`
}

// report is the child's one message: why it could not exec. Errno is the
// exec's own error number, or 0 when an earlier step failed.
type report struct {
	Error string `json:"error"`
	Errno int    `json:"errno,omitempty"`
}
