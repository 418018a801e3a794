// Package sandbox runs one process in a container: new mount, pid, uts,
// ipc and cgroup namespaces (and a network namespace of its own, lo up,
// for [NetworkNone] and [NetworkSlirp4netns]), docker's capabilities and
// a seccomp filter, a root filesystem pivoted into, fresh /proc, /dev and
// /sys, the user's binds and tmpfs mounts, and the image's /etc/hosts,
// /etc/hostname and /etc/resolv.conf bind-mounted from files the caller
// wrote. It also re-executes an unprivileged lfs as root of a user
// namespace of its own ([Reexec]), where all of this works rootless.
//
// # Lifecycle
//
// The caller composes a [Spec] from an image's config and the user's
// options ([Compose]; [ParseVolume], [ParseMount] and [ParseTmpfs] read
// docker's mount flags), writes the /etc files ([WriteEtc]) and calls
// [Start]. Start re-executes the running binary (/proc/self/exe) with a
// reserved argv[0], [InitArg] ([Prefork] does that early, so that the
// child starts up while the caller records and mounts the container, and
// [Pending.Start] sends the Spec later); this package's init function
// catches it, so
// every binary that links sandbox, test binaries included, can be the
// child, and nothing of the caller's main runs in it. The child reads the
// Spec as JSON from a pipe, builds the container, drops to the user and
// execs the command. A failure of any step, the exec included, comes back
// as JSON on a second, close-on-exec, pipe: EOF without a message means
// the exec happened. Start returns then, with an [*ExecError] (exit 126 or
// 127, as docker) or another error (lfs's own failure), or with a
// [Process] to signal, resize and wait for.
//
// # The child's steps, in order
//
//  1. Read the Spec. The parent may act on the child before it sends it
//     ([BeforeSetup]): join it to a cgroup, configure its network
//     namespace from outside.
//  2. A cgroup namespace (rooted at the cgroup the child is in now), mounts
//     made private, the root filesystem attached at its path: the parent
//     passes a detached clone of it (open_tree) over a socket, since the
//     child's mount namespace may predate the mount.
//  3. From the host, before the pivot: device nodes, /etc files and bind
//     sources cloned with open_tree (read-only binds made so, recursively,
//     on the detached tree), a procfs and a sysfs made with fsopen (a user
//     namespace may make them only while the host's are visible).
//  4. pivot_root, the old root detached.
//  5. /proc, a tmpfs /dev (null, zero, full, random, urandom, tty bound
//     from the host; pts as a new devpts instance with ptmx; shm; mqueue),
//     a read-only /sys; with a terminal, a pty of that devpts as
//     /dev/console; the user's mounts, parents first, targets made inside
//     the container; the /etc files; [MaskedPaths] and [ReadonlyPaths]
//     (with [Spec.Privileged] neither, /sys writable, and the host's
//     device nodes in /dev).
//  6. Host name, lo up, the user resolved in the image's /etc/passwd and
//     /etc/group, the working directory made and entered without
//     following a magic link (/proc/self/fd/N: CVE-2024-21626), the
//     root made read-only.
//  7. [Spec.Ulimits] (setrlimit) and, without [Spec.NoNewPrivileges],
//     the seccomp filter ([Spec.Seccomp]), while still root with
//     CAP_SYS_ADMIN, as runc orders them.
//  8. Capabilities: the bounding set cut to [Spec.Capabilities] (docker's
//     14 by default, [AdjustCapabilities] for --cap-add/--cap-drop),
//     groups, gid and uid set, effective and permitted cut likewise (none
//     for a non-root uid), inheritable and ambient emptied.
//  9. Every descriptor above 2 made close-on-exec; with
//     NoNewPrivileges, no_new_privs set and the filter installed, last;
//     exec (with [Spec.Init], the init starts the command instead, both
//     under the filter).
//
// # Invariants
//
//   - The caller may serve the root filesystem itself (FUSE). The child
//     is started with Path /proc/self/exe, Dir "/" and pipes, none of them
//     on that mount (go-fuse's deadlock notes); only the child, once
//     started, touches the root filesystem.
//   - The child dies with the thread that started it (Pdeathsig), so a
//     container never outlives a killed caller.
//   - Until it executes the command (for good with Init) the child is
//     this binary inside the container. It is executed from a read-only,
//     detached clone of the binary's mount and is not dumpable, so
//     /proc/1/exe cannot be opened from the container without
//     CAP_SYS_PTRACE nor written with it (CVE-2019-5736).
//   - The child is in a session of its own: the caller's terminal,
//     which may be its stdout, is never its controlling terminal, so
//     TIOCSTI cannot push input into it.
//   - Every mount made inside the container happens after pivot_root, so
//     a symlink in the image resolves inside the container, never on the
//     host. Host files are opened before the pivot and attached through
//     their descriptors.
//   - Without [Spec.Init] the command is PID 1 of its namespace, as with
//     docker: signals it has no handler for are ignored. With Init, a
//     small init in this binary is PID 1, forwards signals and reaps.
//
// # Rootless
//
// [Reexec] starts the same command line in a new user and mount
// namespace, maps uid and gid 0 to the caller and 1..65536 to its
// /etc/subuid and /etc/subgid ranges with newuidmap and newgidmap (or, with
// a warning, the caller alone), and execs it again there so that it holds
// every capability of the namespace ([InUserNamespace] tells it so). The
// union is mounted there (FUSE in a user namespace), so image uids map
// through it; the sandbox then runs as it does for root.
package sandbox
