#!/usr/bin/env bash
# Side-by-side load benchmark: lfs load against podman load and
# skopeo copy docker-archive:F oci:DIR, on the same 1 GiB one-layer image:
#   plain       the archive `docker save` writes (uncompressed layer)
#   gzip        that archive gzipped (`docker save | gzip`), which all three read
#   gzip-layers an OCI archive whose layer blob is gzip (what registries serve);
#               skopeo copies that blob without inflating it, lfs must inflate
# Usage: bench/load.sh [SIZE_MB] (default 1024).
# Prints hyperfine's table (medians; compare only within one run).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
lfs=${LFS_BIN:-$here/bin/lfs}
size=${1:-1024}
work=${BENCH_DIR:-/var/tmp/lfs-bench-load}
mkdir -p "$work"
cd "$work"
for t in hyperfine skopeo podman python3; do
  command -v $t >/dev/null || { echo "load.sh: $t is not installed (make deps)" >&2; exit 1; }
done

if [ ! -f plain-$size.tar ]; then
  echo "generating a ${size} MB one-layer image (half random, half text) ..." >&2
  rm -rf rootfs && mkdir -p rootfs
  python3 - "$size" <<'PY'
import os, random, sys
size = int(sys.argv[1]) << 20
rnd = random.Random(42)
words = [bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(2, 9))) for _ in range(5000)]
n, i = 0, 0
while n < size:
    d = "rootfs/d%03d" % (i % 200)
    os.makedirs(d, exist_ok=True)
    sz = min(size - n, rnd.choice([4096, 65536, 1 << 20, 4 << 20]))
    if i % 2:
        data = os.urandom(sz)
    else:
        data = b" ".join(rnd.choice(words) for _ in range(sz // 5))[:sz]
    with open("%s/f%05d" % (d, i), "wb") as f:
        f.write(data)
    n += len(data); i += 1
PY
  tar -C rootfs -cf layer.tar .
  rm -rf rootfs
  root=$(mktemp -d)
  "$lfs" --root "$root" import layer.tar bench:plain >/dev/null
  "$lfs" --root "$root" save -o plain-$size.tar bench:plain
  rm -rf "$root" layer.tar oci-gz
  skopeo copy -q docker-archive:plain-$size.tar:bench:plain oci-archive:gzip-layers-$size.tar:bench:gzip
  gzip -c plain-$size.tar > gzip-$size.tar
fi

ls -l plain-$size.tar gzip-$size.tar gzip-layers-$size.tar
for kind in ${KINDS:-plain gzip gzip-layers}; do
  f=$work/$kind-$size.tar
  src=docker-archive:$f
  [ $kind = gzip-layers ] && src=oci-archive:$f
  hyperfine --runs ${RUNS:-5} --warmup 1 --export-markdown "$work/load-$kind.md" \
    --prepare "rm -rf $work/lfs-root $work/podman $work/oci-out; sync" \
    -n "lfs load ($kind)" "$lfs --root $work/lfs-root load -i $f" \
    -n "podman load ($kind)" "podman --root $work/podman/root --runroot $work/podman/run --storage-driver overlay load -q -i $f" \
    -n "skopeo copy ($kind)" "skopeo copy -q $src oci:$work/oci-out:x"
done
rm -rf "$work/lfs-root" "$work/podman" "$work/oci-out"
cat "$work"/load-*.md
