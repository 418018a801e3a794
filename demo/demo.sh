#!/usr/bin/env bash
# The demo `make demo` runs: build two tiny rootfs tarballs, import them into
# the default store (/var/lib/lfs as root) and look at them the docker way.
# Each lfs command is echoed before it runs.
set -euo pipefail
cd "$(dirname "$0")/.."

lfs=${LFS_BIN:-$PWD/bin/lfs}
[ -x "$lfs" ] || { echo "$0: $lfs not built (make build)" >&2; exit 1; }
out=demo/out
mkdir -p "$out"

testdata/mkrootfs.sh hello "$out/hello.tar"
testdata/mkrootfs.sh busybox "$out/busybox.tar"

# A second run re-imports; drop the first run's names so they do not pile up
# as dangling images.
"$lfs" rm -f demo-edit >/dev/null 2>&1 || true
"$lfs" rmi busybox:edited hello-world:latest busybox:demo >/dev/null 2>&1 || true

# show NAME ARGS... prints the command as a user would type it.
show() {
	local line=$1 a; shift
	for a in "$@"; do
		if [[ $a =~ ^[A-Za-z0-9_./:=@%+-]+$ ]]; then
			line+=" $a"
		else
			line+=" '${a//\'/\'\\\'\'}'"
		fi
	done
	printf '\n$ %s\n' "$line"
}
lfs() { show lfs "$@"; "$lfs" "$@"; }
run() { show "$@"; "$@"; }

lfs import "$out/hello.tar" hello-world:latest --change 'CMD ["/hello"]'
lfs import "$out/busybox.tar" busybox:demo --change 'CMD ["sh"]' -m "busybox from Debian"
lfs images
lfs inspect hello-world
lfs history busybox:demo
lfs save -o "$out/busybox.tar.oci" --format oci busybox:demo
run skopeo inspect "oci-archive:$out/busybox.tar.oci"
lfs system df

# The image as a writable union over its tar-backed layer (FUSE): changes
# land in an upper directory, the layer is never touched.
mp=$out/rootfs
mkdir -p "$mp"
mountpoint -q "$mp" && "$lfs" umount "$mp"
rm -rf "$out/upper"
trap '"$lfs" umount "$mp" >/dev/null 2>&1 || true' EXIT
lfs mount -d --upper "$out/upper" busybox:demo "$mp"
run ls "$mp" "$mp/etc"
run sh -c "echo 'hello from lfs' > $mp/etc/motd && rm $mp/bin/vi"
run find "$out/upper" -mindepth 1 -not -path '*/.wh..wh.work*'
lfs umount "$mp"

# A container's writable layer becomes a new image: run, diff, cp, commit.
lfs run --name demo-edit busybox:demo sh -c 'echo changed > /etc/motd; rm /bin/vi'
lfs ps -a
lfs diff demo-edit
lfs cp demo-edit:/etc/motd "$out/motd"
run cat "$out/motd"
lfs commit -m "edited in the demo" demo-edit busybox:edited
lfs history busybox:edited
lfs rm demo-edit

# And run them: the FROM-scratch hello-world (one static binary), then a
# busybox container with a host directory mounted, a tmpfs, a read-only
# root and no network, writing a note the host reads.
lfs run --rm hello-world
rm -rf "$out/shared" && mkdir -p "$out/shared"
lfs run --rm -h demo --network none --read-only --tmpfs /scratch -v "$PWD/$out/shared:/shared" busybox:edited \
	sh -c 'echo "$(hostname), pid $$, kernel $(uname -r), $(ls /sys/class/net) only: $(cat /etc/motd)" | tee /shared/note; touch /x || true'
run cat "$out/shared/note"
