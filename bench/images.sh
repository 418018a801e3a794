#!/usr/bin/env bash
# `lfs images` over a store of 1,000 images, the binary as users run it
# (target: under 50 ms). Usage: bench/images.sh [COUNT] (default 1000).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
lfs=${LFS_BIN:-$here/bin/lfs}
n=${1:-1000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
command -v hyperfine >/dev/null || { echo "images.sh: hyperfine is not installed (make deps)" >&2; exit 1; }
# One small layer; n images that differ only in their config, one batch.
mkdir -p "$work/rootfs" && echo hi > "$work/rootfs/f"
tar -C "$work/rootfs" -cf "$work/layer.tar" .
"$lfs" --root "$work/store" import "$work/layer.tar" base:0 >/dev/null
for i in $(seq 1 $((n - 1))); do echo "LABEL n=$i"; done |
  xargs -P 2 -I{} -d '\n' sh -c 'exec "$0" --root "$1" import "$2" "img$(echo "$3" | tr -dc 0-9):latest" --change "$3" >/dev/null' "$lfs" "$work/store" "$work/layer.tar" {}
echo "$("$lfs" --root "$work/store" images -q | wc -l) images"
hyperfine --warmup 3 --runs ${RUNS:-30} -N "$lfs --root $work/store images" "$lfs --root $work/store images --format json"
