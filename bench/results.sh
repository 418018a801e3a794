#!/usr/bin/env bash
# Regenerates bench/RESULTS.md, RESULTS.json and RESULTS.svg on this
# machine: lfs bench --size medium over every filesystem and workload, with
# the dataset cached in /var/tmp/lfs-bench (made on the first run: about
# 9 GiB). Needs root (kernel overlayfs, runc) and what make deps installs;
# takes about an hour. `make bench-results` runs it; make bench does not.
#
# Usage: bench/results.sh [MORE LFS BENCH FLAGS...]   (RUNS=N, default 5)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
lfs=${LFS_BIN:-$here/bin/lfs}
cd "$here"
[ -x "$lfs" ] || make -s build
args=(bench --size medium --runs "${RUNS:-5}" "$@" --json --plot bench/RESULTS.svg)
json=$(mktemp bench/.RESULTS.json.XXXXXX)
md=$(mktemp bench/.RESULTS.md.XXXXXX)
trap 'rm -f "$json" "$md"' EXIT
rc=0
"$lfs" "${args[@]}" >"$json" || rc=$?
# 1: a workload failed on a filesystem; the report says which, keep it.
[ "$rc" = 0 ] || [ "$rc" = 1 ] || exit "$rc"
{
	echo "# lfs bench results"
	echo
	echo "Made with \`make bench-results\` (bench/results.sh) on $(date -u +%Y-%m-%d), by:"
	echo
	echo "    lfs ${args[*]}"
	echo
	echo "Each workload ran once to warm up, then ${RUNS:-5} times on each filesystem in turn;"
	echo "the table gives the median, the range, and the median over kernel overlayfs's and"
	echo "over native's (the merged tree on the disk, no union: the physical limit)."
	echo "The chart shows the first ratio on a log scale: a bar above 1× is slower than"
	echo "kernel overlayfs, below it faster. RESULTS.json holds every run (schema lfs-bench/v1);"
	echo "\`lfs bench --from bench/RESULTS.json\` prints this table again."
	echo
	echo "![each workload's median over kernel overlayfs's](RESULTS.svg)"
	echo
	echo '```'
	"$lfs" bench --from "$json"
	echo '```'
} >"$md"
mv "$json" bench/RESULTS.json
mv "$md" bench/RESULTS.md
trap - EXIT
echo "bench/RESULTS.md, RESULTS.json and RESULTS.svg written" >&2
exit "$rc"
