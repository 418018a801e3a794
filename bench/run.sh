#!/usr/bin/env bash
# bench/run.sh — the full cycle of one container (mount, start, exit,
# unmount, remove): `lfs run --rm IMAGE /bin/true` against crun, runc and
# bwrap on an unpacked copy of the same busybox rootfs, and against
# `podman run --rm --network none` of the same image, side by side in one
# hyperfine run. Prints medians and ratios (compare only within one run).
#
#   RUNS=50 bench/run.sh      (LFS_BIN picks the binary; default bin/lfs)
#
# crun 1.8 refuses a hybrid cgroup layout unless /sys/fs/cgroup/unified is
# unmounted, so the side-by-side run happens in a mount namespace of its
# own where it is; lfs is timed once more outside it, to show it needs no
# such thing. podman gets the flags this host needs (cgroupfs, a file
# event log, explicit ulimits) and a store of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
lfs=${LFS_BIN:-$PWD/bin/lfs}
runs=${RUNS:-30}
[ -x "$lfs" ] || { echo "run.sh: $lfs not built (make build)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (crun, runc and podman run as root here)" >&2; exit 1; }
for t in hyperfine crun runc bwrap podman python3 unshare; do
	command -v $t >/dev/null || { echo "run.sh: $t is not installed (make deps)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/lfs-bench-run.XXXXXX)
podman=(podman --root "$work/podman" --runroot "$work/podman-run" --storage-driver overlay
	--cgroup-manager cgroupfs --events-backend file)
cleanup() {
	"${podman[@]}" rm -af >/dev/null 2>&1 || true
	# podman leaves its storage mounted (overlay's own bind).
	findmnt -rn -o TARGET | grep "^$work/" | sort -r | xargs -r umount -l 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

testdata/mkrootfs.sh busybox "$work/busybox.tar"
export LFS_ROOT=$work/lfs
"$lfs" import "$work/busybox.tar" bench:latest --change 'CMD ["sh"]' >/dev/null
"${podman[@]}" import -q "$work/busybox.tar" localhost/bench:latest >/dev/null

# One OCI bundle for crun and runc: runc's default spec, no terminal,
# /bin/true.
bundle=$work/bundle
mkdir -p "$bundle/rootfs"
tar -xf "$work/busybox.tar" -C "$bundle/rootfs"
(cd "$bundle" && runc spec)
sed -i 's/"terminal": true/"terminal": false/; s/^\(\s*\)"sh"$/\1"\/bin\/true"/' "$bundle/config.json"

lfs_cmd="$lfs run --rm bench /bin/true"
cat >"$work/bench.sh" <<EOF
set -e
umount /sys/fs/cgroup/unified 2>/dev/null || true
hyperfine -N --warmup 5 --runs $runs --export-json "$work/run.json" \\
	-n "lfs run --rm" "$lfs_cmd" \\
	-n "crun run" "crun --root $work/crun run --bundle $bundle lfs-bench-crun" \\
	-n "runc run" "runc --root $work/runc run --bundle $bundle lfs-bench-runc" \\
	-n "bwrap --unshare-all" "bwrap --unshare-all --bind $bundle/rootfs / --proc /proc --dev /dev /bin/true" \\
	-n "podman run --rm --network none" "${podman[*]} run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 localhost/bench /bin/true"
EOF
unshare -m --propagation private bash "$work/bench.sh"
hyperfine -N --warmup 5 --runs "$runs" --export-json "$work/host.json" -n "lfs run --rm (host mount namespace)" "$lfs_cmd"

python3 - "$work" <<'PY'
import json, os, statistics, sys
d = sys.argv[1]
rs = json.load(open(os.path.join(d, "run.json")))["results"]
rs += json.load(open(os.path.join(d, "host.json")))["results"]
base = statistics.median(rs[0]["times"])
print("| command | median ms | min–max ms | × lfs |")
print("|---|---:|---:|---:|")
for r in rs:
    m = statistics.median(r["times"])
    print(f"| {r['command']} | {m*1e3:.1f} | {min(r['times'])*1e3:.1f}–{max(r['times'])*1e3:.1f} | {m/base:.2f} |")
PY
