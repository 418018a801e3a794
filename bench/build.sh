#!/usr/bin/env bash
# Side-by-side build benchmark: lfs build against buildah 1.28 and podman
# build (both --storage-driver vfs --isolation chroot --layers, as rootless
# HPC sites run them), on the same Dockerfiles and the same busybox image:
#   cold      a 6-step busybox build (ENV, WORKDIR, COPY, RUN, CMD), --no-cache
#   cached    the same build again, every step from the cache
#   big-run   FROM an image holding a 1 GiB file, one RUN appending a line
#             to /etc/profile, --no-cache; the new layer's size is printed
#             too (it must be one small file, not the image)
# Usage: bench/build.sh [BIG_MB] (default 1024). RUNS=N (default 5).
# Prints hyperfine's tables and one of medians and ratios to lfs
# (compare only within one run: this machine is shared).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
lfs=${LFS_BIN:-$here/bin/lfs}
big=${1:-1024}
work=${BENCH_DIR:-/var/tmp/lfs-bench-build}
runs=${RUNS:-5}
for t in hyperfine buildah podman python3; do
  command -v $t >/dev/null || { echo "build.sh: $t is not installed (make deps)" >&2; exit 1; }
done
rm -rf "$work"
mkdir -p "$work"
cd "$work"
trap 'buildah $B rm --all >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

L="--root $work/lfs"
B="--root $work/buildah/root --runroot $work/buildah/run --storage-driver vfs"
P="--root $work/podman/root --runroot $work/podman/run --storage-driver vfs"

echo "== setup: busybox in each store" >&2
bash "$here/testdata/mkrootfs.sh" busybox rootfs.tar
"$lfs" $L import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["sh"]' rootfs.tar busybox:latest >/dev/null
"$lfs" $L save -o busybox.tar busybox
buildah $B pull -q docker-archive:busybox.tar >/dev/null
podman $P load -q -i busybox.tar >/dev/null

mkdir six
echo "some content" > six/file.txt
cat > six/Dockerfile <<'EOF'
FROM busybox
ENV GREETING=hello
WORKDIR /app
COPY file.txt /app/
RUN echo "$GREETING" > /app/greeting && cat /app/file.txt >> /app/greeting
CMD ["cat", "/app/greeting"]
EOF

echo "== setup: an image holding a ${big} MiB file" >&2
mkdir bigctx
head -c $((big << 20)) /dev/urandom > bigctx/big
printf 'FROM busybox\nCOPY big /big\n' > bigctx/Dockerfile
"$lfs" $L build -q -t big bigctx >/dev/null
buildah $B build -q --isolation chroot --layers -t big bigctx >/dev/null
podman $P build -q --isolation chroot --layers -t big bigctx >/dev/null
rm bigctx/big
mkdir bigrun
printf "FROM big\nRUN echo 'export X=1' >> /etc/profile\n" > bigrun/Dockerfile

BB="buildah $B build -q --isolation chroot --layers"
PB="podman $P build -q --isolation chroot --layers"
hyperfine --runs "$runs" --warmup 1 --export-json build-cold.json \
  -n "lfs build (cold)" "$lfs $L build -q --no-cache six" \
  -n "buildah build (cold)" "$BB --no-cache six" \
  -n "podman build (cold)" "$PB --no-cache six"
hyperfine --runs "$runs" --warmup 1 --export-json build-cached.json \
  -n "lfs build (cached)" "$lfs $L build -q six" \
  -n "buildah build (cached)" "$BB six" \
  -n "podman build (cached)" "$PB six"
hyperfine --runs "$runs" --warmup 1 --export-json build-big-run.json \
  -n "lfs build (big-run)" "$lfs $L build -q --no-cache -t bigrun bigrun" \
  -n "buildah build (big-run)" "$BB --no-cache -t bigrun bigrun" \
  -n "podman build (big-run)" "$PB --no-cache -t bigrun bigrun"

echo
echo "The big-run RUN's layer (lfs history, podman history of the same step):"
"$lfs" $L history --format '{{.Size}}  {{.CreatedBy}}' bigrun | head -1
podman $P history --format '{{.Size}}  {{.CreatedBy}}' localhost/bigrun | head -1
du -sh "$work/lfs" "$work/buildah/root" "$work/podman/root" 2>/dev/null | sed 's/^/store size: /'

python3 - "$work" <<'PY'
import json, os, statistics, sys
print()
print("| workload | tool | median s | min–max s | × lfs |")
print("|---|---|---:|---:|---:|")
for kind in ("cold", "cached", "big-run"):
    rs = json.load(open(os.path.join(sys.argv[1], f"build-{kind}.json")))["results"]
    base = statistics.median(rs[0]["times"])
    for r in rs:
        m = statistics.median(r["times"])
        tool = r["command"].rsplit(" (", 1)[0]
        print(f"| {kind} | {tool} | {m:.3f} | {min(r['times']):.3f}–{max(r['times']):.3f} | {m / base:.1f} |")
PY
