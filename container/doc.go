// Package container owns lfs's containers: their records, and what can be
// read off a container's writable layer (diff, commit, export).
//
// # Records
//
// A container is a JSON record in the store's meta.db, bucket
// "containers", keyed by its 64-hex ID, and a directory
// ROOT/containers/ID holding its writable layer ("upper") and the union's
// work area ("work"). The record's "image" field is the image ID, which
// layerstore.Store.Remove reads to refuse removing an image a container
// uses. Every change to records runs under the store lock
// (layerstore.Store.UpdateBucket), so names stay unique across processes.
// A record is made before its directory and removed before it too, so a
// directory no record names is garbage from a killed lfs. Create makes
// both: the directory holds "upper", "work" and "rootfs", the mountpoint.
//
// # Lifecycle
//
// Create records a container in StateCreated (or, for lfs run, already
// running in the calling process, which saves a transaction); Run moves
// it to StateRunning with the PID of the lfs process serving it, and to
// StateExited with its exit code (or removes it, for --rm); Remove
// deletes record and directory and refuses a container whose lfs process
// is alive (ErrRunning) unless forced. The container's init is found as
// the child of that process in a pid namespace of its own
// (Container.Init). A record left "running" by a killed lfs reads as
// exited (Container.Status). An image mounted by lfs mount is a container
// too: created, with the mount server's PID while mounted.
//
// # Running
//
// MountImage, MountDirs and Mount serve a union over FUSE from the
// calling process (Mounted.Unmount takes it down). Run is the whole
// foreground life of a command in a container, as lfs run, lfs start
// and a build's RUN step use it: make the container's cgroup when its
// limits need one (RunOptions.Limits; first, so that a host that gives
// none leaves nothing mounted), mount the root filesystem, write the
// /etc files for its network (RunOptions.Network), start the sandbox
// (putting its child in the cgroup and attaching slirp4netns to its
// network namespace before the child has its spec), record running and
// exited, stop slirp4netns, unmount, kill what is left in the cgroup and
// remove it.
// The process that serves the mount never starts a child whose
// directory or files lie on it (sandbox.Start's invariant). While the
// command runs, that process also serves the container's root (as
// /proc/PID/root of its init shows it, binds included) on a unix socket
// in the container's directory, which is how lfs cp reaches a running
// container, rootless ones too (Access, Remote).
//
// # Copies
//
// Root resolves every path in a directory as if it were "/" (openat2
// with RESOLVE_IN_ROOT), so no symlink a container holds leads out of it;
// CopyPath applies docker cp's rules between two Trees (a Root, or a
// Remote running container).
//
// # The writable layer
//
// The upper directory is an OCI layer diff in the making (see
// unionfs): ".wh.NAME" whiteouts, ".wh..wh..opq" opaque markers, the
// ".wh..wh.work" work area and the user.lfs.origin xattr. Diff and Commit
// read the upper alone and look names up in the image's layers only to
// tell an addition from a change; they never walk the lower tree, except
// the lower listing of an opaque directory for Diff's D lines.
package container
