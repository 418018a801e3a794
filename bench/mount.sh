#!/usr/bin/env bash
# The union mount, side by side: lfs over the image's tars (lfs-img), lfs
# over plain lower directories (lfs-dir), kernel overlayfs (ovl),
# fuse-overlayfs (fovl) and the merged tree copied to a plain directory
# (native), all over the same 3 layers (bench/mktree.py: deterministic,
# ~FILES files in ~DIRS directories). Warm runs with hyperfine:
#
#   stat-all  find M/tree -printf '%s\n'
#   read-all  find M/tree -type f -print0 | xargs -0 cat
#   ls-big    ls -f M/big        (BIG entries in one directory)
#   mount     mount, stat the root, unmount
#
# Needs root (kernel overlayfs, char-device whiteouts), hyperfine,
# fuse-overlayfs, python3. Every mount is undone on exit, even on failure.
#
# Usage: bench/mount.sh [-f FILES] [-d DIRS] [-b BIG] [-k MAXKB] [-r RUNS]
# (defaults 20000 files, 2000 dirs, 20000 big-dir entries, files of
# 0..16 KiB, 10 runs; -b 100000 for the issue's listing). LFS_BASELINE=BIN
# adds that lfs binary's two mounts (old-img, old-dir), to compare builds
# in one run.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
lfs=${LFS_BIN:-$here/bin/lfs}
files=20000 dirs=2000 big=20000 maxkb=16 runs=10
while getopts f:d:b:k:r: o; do
  case $o in
    f) files=$OPTARG ;; d) dirs=$OPTARG ;; b) big=$OPTARG ;; k) maxkb=$OPTARG ;; r) runs=$OPTARG ;;
    *) sed -n 2,18p "$0"; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "mount.sh: needs root (kernel overlayfs)" >&2; exit 1; }
for c in hyperfine fuse-overlayfs fusermount3 python3; do
  command -v $c >/dev/null || { echo "mount.sh: $c is not installed (make deps)" >&2; exit 1; }
done
[ -x "$lfs" ] || (cd "$here" && make -s build)

work=$(mktemp -d /var/tmp/lfs-bench.XXXXXX)
mounts=()
cleanup() {
  for m in "${mounts[@]}"; do
    if mountpoint -q "$m"; then
      umount "$m" 2>/dev/null || fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    fi
  done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "building $files files in $dirs dirs, 3 layers, big dir of $big ..." >&2
python3 "$here/bench/mktree.py" "$work/gen" "$files" "$dirs" "$big" "$maxkb"
"$lfs" --root "$work/store" load -q -i "$work/gen/image.tar" >/dev/null
lowers=$work/gen/lower3:$work/gen/lower2:$work/gen/lower1

mnt() { # NAME: mountpoint, upper and work of one contender
  mkdir -p "$work/$1/m" "$work/$1/u" "$work/$1/w"
  mounts+=("$work/$1/m")
}
base=${LFS_BASELINE:-}
names=(lfs-img lfs-dir ovl fovl)
[ -n "$base" ] && names=(old-img old-dir "${names[@]}")
for n in "${names[@]}"; do mnt $n; done
mount_cmd() { # NAME: the command that mounts it
  local d=$work/$1
  case $1 in
    lfs-img) echo "$lfs --root $work/store mount -d --upper $d/u --work $d/w bench:latest $d/m" ;;
    lfs-dir) echo "$lfs mount -d --lower $lowers --upper $d/u --work $d/w $d/m" ;;
    old-img) echo "$base --root $work/store mount -d --upper $d/u --work $d/w bench:latest $d/m" ;;
    old-dir) echo "$base mount -d --lower $lowers --upper $d/u --work $d/w $d/m" ;;
    ovl) echo "mount -t overlay overlay -o lowerdir=$lowers,upperdir=$d/u,workdir=$d/w $d/m" ;;
    fovl) echo "fuse-overlayfs -o lowerdir=$lowers,upperdir=$d/u,workdir=$d/w $d/m" ;;
  esac
}
umount_cmd() {
  case $1 in
    lfs-* | old-*) echo "$lfs umount $work/$1/m" ;;
    ovl) echo "umount $work/$1/m" ;;
    fovl) echo "fusermount3 -u $work/$1/m" ;;
  esac
}

# Mount time first, while nothing is mounted.
args=()
for n in "${names[@]}"; do args+=(-n "$n" "$(mount_cmd $n) && stat $work/$n/m >/dev/null && $(umount_cmd $n)"); done
hyperfine -w 2 -r "$runs" --export-json "$work/mount.json" "${args[@]}" >&2

for n in "${names[@]}"; do eval "$(mount_cmd $n)"; done
mkdir -p "$work/native/m"
cp -a "$work/ovl/m/." "$work/native/m/"
names+=(native)
mounts+=("$work/native/m") # not a mount; cleanup skips it

run() { # WORKLOAD COMMAND-WITH-@: one hyperfine over every contender
  local w=$1 cmd=$2 args=()
  for n in "${names[@]}"; do args+=(-n "$n" "${cmd//@/$work/$n/m}"); done
  hyperfine -w 2 -r "$runs" --export-json "$work/$w.json" "${args[@]}" >&2
}
run stat-all "find @/tree -printf '%s\n' >/dev/null"
run read-all "find @/tree -type f -print0 | xargs -0 cat >/dev/null"
run ls-big "ls -f @/big >/dev/null"

echo
echo "medians in ms; ratio = lfs / overlayfs, lfs / fuse-overlayfs ($files files, $dirs dirs, big dir $big, $runs runs)"
python3 - "$work" <<'EOF'
import json, sys
w = sys.argv[1]
cols = ["old-img", "old-dir", "lfs-img", "lfs-dir", "ovl", "fovl", "native"]
rows = {}
for wl in ("stat-all", "read-all", "ls-big", "mount"):
    rows[wl] = {r["command"]: r["median"] * 1000 for r in json.load(open("%s/%s.json" % (w, wl)))["results"]}
cols = [c for c in cols if any(c in m for m in rows.values())]
print("%-9s" % "workload" + "".join("%9s" % c for c in cols) + "  %-15s %-15s" % ("img/ovl,/fovl", "dir/ovl,/fovl"))
for wl, m in rows.items():
    cell = lambda n: "%9.1f" % m[n] if n in m else "%9s" % "-"
    rat = lambda n: "%.2f, %.2f" % (m[n] / m["ovl"], m[n] / m["fovl"])
    print("%-9s" % wl + "".join(cell(c) for c in cols) + "  %-15s %-15s" % (rat("lfs-img"), rat("lfs-dir")))
EOF
