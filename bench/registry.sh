#!/usr/bin/env bash
# Side-by-side registry benchmark, against a docker-registry on 127.0.0.1:
#   pull   lfs pull         vs skopeo copy docker://… oci:DIR   vs crane pull --format oci
#   push   lfs push         vs skopeo copy oci:DIR docker://…
#   noop   lfs pull of an image whose layers are all stored (target: < 100 ms)
# on two images of real content (files of this machine's /usr, gzip -6):
#   four   4 layers, ~250 MiB uncompressed
#   one    1 layer, 1 GiB uncompressed
# Every push goes to a registry started afresh (empty storage), so that no
# tool can skip or mount a blob. crane is go-installed, at the
# go-containerregistry version of go.mod, into the work directory.
# Usage: bench/registry.sh   (RUNS=5 IMAGES="four one" BENCH_DIR=...)
# Prints hyperfine's output, then a table of medians and ratios to lfs.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
lfs=${LFS_BIN:-$here/bin/lfs}
work=${BENCH_DIR:-/var/tmp/lfs-bench-registry}
runs=${RUNS:-5}
mkdir -p "$work"
cd "$work"

# Internal: (re)start the registry with empty storage; hyperfine's
# --prepare calls this between runs.
restart_registry() {
  if [ -f reg.pid ]; then kill "$(cat reg.pid)" 2>/dev/null || true; while kill -0 "$(cat reg.pid)" 2>/dev/null; do sleep 0.02; done; fi
  [ "${1:-}" = keep ] || rm -rf regdata
  docker-registry serve reg.yml >reg.log 2>&1 &
  echo $! >reg.pid
  for _ in $(seq 200); do
    python3 -c 'import sys, urllib.request; urllib.request.urlopen("http://" + sys.argv[1] + "/v2/", timeout=1)' "$(cat reg.addr)" 2>/dev/null && return 0
    sleep 0.02
  done
  echo "registry.sh: the registry did not start:" >&2; cat reg.log >&2; exit 1
}
if [ "${1:-}" = --restart-registry ]; then restart_registry "${2:-}"; exit 0; fi

for t in hyperfine skopeo docker-registry python3 gzip go; do
  command -v $t >/dev/null || { echo "registry.sh: $t is not installed (make deps)" >&2; exit 1; }
done
ggcr=$(awk '$1 == "github.com/google/go-containerregistry" {print $2}' "$here/go.mod")
crane=$work/gobin/crane
if [ ! -x "$crane" ] || [ "$(cat gobin/version 2>/dev/null)" != "$ggcr" ]; then
  echo "installing crane $ggcr into $work/gobin ..." >&2
  (cd "$here" && GOBIN=$work/gobin GOFLAGS= go install "github.com/google/go-containerregistry/cmd/crane@$ggcr")
  echo "$ggcr" >gobin/version
fi

# make_image NAME LAYERS TOTAL_MB: an OCI layout NAME/ of real files in
# gzip layers, made once.
make_image() {
  local name=$1 layers=$2 mb=$3
  [ -f "$name/index.json" ] && return 0
  echo "generating $name: $layers gzip layers, ${mb} MiB in all, from /usr ..." >&2
  rm -rf "$name" && mkdir -p "$name/blobs/sha256" "$name.tmp"
  find /usr/bin /usr/lib /usr/share -xdev -type f -size +0 -printf '%s %p\n' 2>/dev/null | sort -k2 |
    awk -v max=$((mb << 20)) -v n="$layers" -v dir="$name.tmp" '
      { if (sum + $1 <= max) { sum += $1; i = int(sum * n / (max + 1)); print $2 > (dir "/files" i) } }'
  for f in "$name.tmp"/files*; do
    tar -cf "$f.tar" --files-from "$f" --no-recursion 2>/dev/null || true
    gzip -6 -n -k "$f.tar"
  done
  python3 - "$name" "$name.tmp" <<'PY'
import hashlib, json, os, shutil, sys, glob
out, tmp = sys.argv[1], sys.argv[2]
def sha(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return "sha256:" + h.hexdigest()
layers, diffs = [], []
for t in sorted(glob.glob(os.path.join(tmp, "files*.tar"))):
    diffs.append(sha(t))
    d = sha(t + ".gz")
    shutil.move(t + ".gz", os.path.join(out, "blobs/sha256", d[7:]))
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": os.path.getsize(os.path.join(out, "blobs/sha256", d[7:]))})
def put(obj):
    b = json.dumps(obj, separators=(",", ":")).encode()
    d = "sha256:" + hashlib.sha256(b).hexdigest()
    open(os.path.join(out, "blobs/sha256", d[7:]), "wb").write(b)
    return d, len(b)
cd, cs = put({"architecture": "amd64", "os": "linux", "created": "2000-01-01T00:00:00Z",
              "config": {"Cmd": ["/bin/sh"]}, "rootfs": {"type": "layers", "diff_ids": diffs},
              "history": [{"created": "2000-01-01T00:00:00Z", "created_by": "bench/registry.sh"} for _ in diffs]})
md, ms = put({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
              "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs}, "layers": layers})
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
           "annotations": {"org.opencontainers.image.ref.name": "bench", "io.containerd.image.name": "docker.io/library/bench:latest"}}]}, open(os.path.join(out, "index.json"), "w"))
open(os.path.join(out, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
  rm -rf "$name.tmp"
}

addr=127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo "$addr" >reg.addr
cat >reg.yml <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/regdata
http:
  addr: $addr
EOF
trap '[ -f "$work/reg.pid" ] && kill $(cat "$work/reg.pid") 2>/dev/null; rm -rf "$work/regdata" "$work"/lfs-* "$work"/out-*' EXIT
fresh="$here/bench/registry.sh --restart-registry"
export BENCH_DIR=$work

rm -f "$work"/reg-*.json
for img in ${IMAGES:-four one}; do
  case $img in
    four) make_image four 4 250 ;;
    one) make_image one 1 1024 ;;
  esac
  du -sh "$img/blobs" >&2
  restart_registry
  skopeo copy -q --dest-tls-verify=false "oci:$work/$img:bench" "docker://$addr/bench/$img:1"
  src=$addr/bench/$img:1

  # Pull into an empty store / directory each run.
  hyperfine --runs "$runs" --warmup 1 --export-json "$work/reg-pull-$img.json" \
    --prepare "rm -rf $work/lfs-root $work/out-skopeo $work/out-crane; sync" \
    -n "lfs pull ($img)" "$lfs --root $work/lfs-root pull -q $src" \
    -n "skopeo copy docker:// oci: ($img)" "skopeo copy -q --src-tls-verify=false docker://$src oci:$work/out-skopeo:x" \
    -n "crane pull --format oci ($img)" "$crane pull --insecure --format oci $src $work/out-crane"

  # A pull of an image whose layers are all here.
  rm -rf "$work/lfs-root" && "$lfs" --root "$work/lfs-root" pull -q "$src" >/dev/null
  hyperfine --runs 30 --warmup 3 --export-json "$work/reg-noop-$img.json" \
    -n "lfs pull, all layers stored ($img)" "$lfs --root $work/lfs-root pull -q $src"

  # Push to an empty registry each run; lfs from a store that loaded the
  # layout (never pushed, so it knows no repository to mount from).
  rm -rf "$work/lfs-src" && "$lfs" --root "$work/lfs-src" load -i "$work/$img" >/dev/null
  hyperfine --runs "$runs" --warmup 1 --export-json "$work/reg-push-$img.json" \
    --prepare "$fresh; rm -rf $work/lfs-push && cp -a $work/lfs-src $work/lfs-push; sync" \
    -n "lfs push ($img)" "$lfs --root $work/lfs-push push -q bench $addr/bench/pushed:1" \
    -n "skopeo copy oci: docker:// ($img)" "skopeo copy -q --dest-tls-verify=false oci:$work/$img:bench docker://$addr/bench/pushed:1"
done

python3 - "$work" <<'PY'
import json, glob, os, statistics, sys
print("| what | tool | median s | min–max s | × lfs |")
print("|---|---|---:|---:|---:|")
for kind in ("pull", "noop", "push"):
    for f in sorted(glob.glob(os.path.join(sys.argv[1], f"reg-{kind}-*.json"))):
        rs = json.load(open(f))["results"]
        base = statistics.median(rs[0]["times"])
        for r in rs:
            m = statistics.median(r["times"])
            tool, what = r["command"].rsplit(" (", 1)
            print(f"| {kind} {what.rstrip(')')} | {tool} | {m:.3f} | {min(r['times']):.3f}–{max(r['times']):.3f} | {m / base:.2f} |")
PY
