#!/usr/bin/env bash
# Side-by-side load benchmark: lfs load against podman load and
# skopeo copy docker-archive:F oci:DIR, on the same 1 GiB one-layer image:
#   plain       the archive `docker save` writes (uncompressed layer)
#   gzip        the same docker archive with its layer gzip-compressed (as
#               pulled layers are); skopeo copies such a blob to oci:DIR
#               without inflating it, podman and lfs must inflate it
#   gzip-oci    an OCI archive of the gzip layer (skopeo's oci-archive:)
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
  # Real content, as layers carry: binaries, libraries and text from this
  # machine's /usr, in a fixed order, up to the size asked for.
  echo "generating a ${size} MB one-layer image from /usr ..." >&2
  find /usr/bin /usr/lib /usr/share -xdev -type f -size +0 -printf '%s %p\n' 2>/dev/null | sort -k2 |
    awk -v max=$((size << 20)) '{ if (n + $1 <= max) { n += $1; print $2 } }' > files.txt
  tar -cf layer.tar --files-from files.txt --no-recursion 2>/dev/null || true
  rm -f files.txt
  root=$(mktemp -d)
  "$lfs" --root "$root" import layer.tar bench:plain >/dev/null
  "$lfs" --root "$root" save -o plain-$size.tar bench:plain
  rm -rf "$root" layer.tar oci-gz
  skopeo copy -q docker-archive:plain-$size.tar:bench:plain oci-archive:gzip-oci-$size.tar:bench:gzip
  # The docker archive again, its layer gzipped (classic layout).
  rm -rf gz && mkdir gz && tar -C gz -xf plain-$size.tar
  python3 - gz <<'PY'
import json, os, subprocess, sys
d = sys.argv[1]
m = json.load(open(os.path.join(d, "manifest.json")))
for img in m:
    img["RepoTags"] = ["bench:gzip"]
    new = []
    for l in img["Layers"]:
        subprocess.run(["gzip", "-6", "-n", os.path.join(d, l)], check=True)
        new.append(l + ".gz")
    img["Layers"] = new
json.dump(m, open(os.path.join(d, "manifest.json"), "w"))
os.remove(os.path.join(d, "index.json"))
PY
  tar -C gz -cf gzip-$size.tar manifest.json blobs
  rm -rf gz
fi

ls -l plain-$size.tar gzip-$size.tar gzip-oci-$size.tar
for kind in ${KINDS:-plain gzip gzip-oci}; do
  f=$work/$kind-$size.tar
  src=docker-archive:$f
  [ $kind = gzip-oci ] && src=oci-archive:$f
  hyperfine --runs ${RUNS:-5} --warmup 1 --export-json "$work/load-$kind.json" \
    --prepare "rm -rf $work/lfs-root $work/podman $work/oci-out; sync" \
    -n "lfs load ($kind)" "$lfs --root $work/lfs-root load -i $f" \
    -n "podman load ($kind)" "podman --root $work/podman/root --runroot $work/podman/run --storage-driver overlay load -q -i $f" \
    -n "skopeo copy ($kind)" "skopeo copy -q $src oci:$work/oci-out:x"
done
rm -rf "$work/lfs-root" "$work/podman" "$work/oci-out"
# Medians and ratios to lfs, one table for all kinds.
python3 - "$work" <<'PY'
import json, glob, os, statistics, sys
print("| archive | tool | median s | min–max s | × lfs |")
print("|---|---|---:|---:|---:|")
for f in sorted(glob.glob(os.path.join(sys.argv[1], "load-*.json"))):
    rs = json.load(open(f))["results"]
    base = statistics.median(rs[0]["times"])
    for r in rs:
        m = statistics.median(r["times"])
        tool, kind = r["command"].rsplit(" (", 1)
        print(f"| {kind.rstrip(')')} | {tool} | {m:.2f} | {min(r['times']):.2f}–{max(r['times']):.2f} | {m / base:.2f} |")
PY
