// Package sandbox runs one process in a container: new mount, pid, uts
// and ipc namespaces (and a network namespace with only lo for
// [NetworkNone]), a root filesystem pivoted into, fresh /proc, /dev and
// /sys, and the image's /etc/hosts, /etc/hostname and /etc/resolv.conf
// bind-mounted from files the caller wrote.
//
// # Lifecycle
//
// The caller composes a [Spec] from an image's config and the user's
// options ([Compose]), writes the /etc files ([WriteEtc]) and calls
// [Start]. Start re-executes the running binary (/proc/self/exe) with a
// reserved argv[0], [InitArg]; this package's init function catches it, so
// every binary that links sandbox, test binaries included, can be the
// child, and nothing of the caller's main runs in it. The child reads the
// Spec as JSON from a pipe, builds the container's mounts, pivots into the
// root filesystem, drops to the user and execs the command. A failure of
// any step, the exec included, comes back as JSON on a second,
// close-on-exec, pipe: EOF without a message means the exec happened.
// Start returns then, with an [*ExecError] (exit 126 or 127, as docker)
// or another error (lfs's own failure), or with a [Process] to signal and
// wait for.
//
// # Invariants
//
//   - The caller may serve the root filesystem itself (FUSE). The child
//     is started with Path /proc/self/exe, Dir "/" and two pipes, none of
//     them on that mount (go-fuse's deadlock notes); only the child, once
//     started, touches the root filesystem.
//   - The child dies with the thread that started it (Pdeathsig), so a
//     container never outlives a killed caller.
//   - Every mount made inside the container happens after pivot_root, so
//     a symlink in the image resolves inside the container, never on the
//     host. Host files (devices, /etc files, /sys) are opened before the
//     pivot and bind-mounted through their descriptors.
//   - Without [Spec.Init] the command is PID 1 of its namespace, as with
//     docker: signals it has no handler for are ignored. With Init, a
//     small init in this binary is PID 1, forwards signals and reaps.
package sandbox
