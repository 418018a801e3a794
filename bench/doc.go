// Package bench is lfs bench: the same workloads over the same generated
// layers on lfs's union filesystem and on every alternative the machine
// has, compared side by side.
//
// # The dataset
//
// A seeded generator (GeneratorVersion) makes a rootfs-like tree split
// into three OCI layer tars with replaced files, whiteouts and opaque
// directories, a big file and a big directory, over a base layer holding
// the host's static busybox. It is made once per spec under DIR/data and
// reused: the tars, the same layers as overlayfs lower directories and as
// unionfs-fuse branches (each tool's own whiteout dialect), the merged tree
// (native), and a layer store of lfs's holding the tars as an image. Every
// filesystem is checked against the merged tree the layers describe before
// anything is measured on it; one that shows another tree fails.
//
// # Measuring
//
// Each workload runs on each filesystem once to warm up and then
// Options.Runs times, the filesystems taking turns so that a change in
// the machine's load spreads over all of them; with Options.Cold, again
// after dropping the page cache (and on a fresh mount, since FUSE servers
// keep caches of their own). FUSE filesystems are served by their own
// processes (lfs mount -d for lfs), never by the process that runs the
// workloads. The report holds every run; its medians, ranges and ratios
// over kernel overlayfs and native are what the table and the chart show.
//
// # Invariants
//
//   - Everything mounted is unmounted before Run returns, also when its
//     context is cancelled (Ctrl-C, SIGTERM in the CLI); a run killed
//     outright leaves mounts that the next run on the directory unmounts
//     first. Only one run uses a directory at a time (a lock file).
//   - Nothing outside the directory is written, but for the page cache
//     dropped with --cold.
//   - The report's format is versioned (Schema); workloads keep their
//     names and meaning within a schema, and datasets their bytes within a
//     GeneratorVersion, so that reports compare across machines.
package bench
