// Package cgroup puts a container in a cgroup of its own with docker's
// resource limits (--memory, --memory-swap, --cpus, --pids-limit), and
// carries --ulimit, which is setrlimit(2), not a cgroup, but belongs
// with the limits.
//
// # Lifecycle
//
// The CLI turns the flags into [Limits] with [Parse]. When the limits
// need a cgroup ([Limits.NeedsGroup]) the runtime makes one with [New],
// starts the container's first process, and [Group.Add]s it before the
// process runs the command (the sandbox's child waits for its spec,
// which the parent sends after Add); every process the command forks is
// then in the group. [Group.Stats] reads the counters; after the
// container ended, [Group.Kill] ends what is left in the group (a
// daemon the command left behind) and [Group.Remove] removes it. The
// ulimits are applied by the container's first process itself, just
// before it gives up root and executes the command ([SetRlimits]).
//
// # Where the group is
//
//   - cgroup v1, or a hybrid host (v1 controllers, v2 only for systemd):
//     lfs/ID under the caller's own cgroup in each of the memory, pids,
//     cpu, cpuacct and freezer hierarchies, so that whatever contains
//     lfs (a batch job's cgroup, a session's) contains its containers.
//   - cgroup v2: lfs/ID under the parent of the caller's cgroup (v2's
//     no-internal-process rule: a cgroup that holds processes, as the
//     caller's does, cannot enable controllers for children), with the
//     memory, pids and cpu controllers enabled down to it. At the root
//     cgroup that is /sys/fs/cgroup/lfs/ID.
//
// # Invariants
//
//   - A limit is set or New fails: where the host offers no way (an
//     unprivileged user on cgroup v1, an undelegated v2 cgroup, a
//     missing controller, --memory-swap without swap accounting) New
//     returns [ErrUnavailable] with the reason in one line. Limits
//     without a cgroup limit make no group at all, so lfs run without
//     them works everywhere.
//   - Remove leaves nothing under /sys/fs/cgroup: the group's
//     directories go, and lfs/ too when no other container's group is
//     in it.
package cgroup
