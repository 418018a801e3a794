#!/usr/bin/env bash
# mkrootfs.sh KIND OUT.tar — build a root filesystem tarball for the demo and
# the end-to-end tests (the one place that knows how; tests/ calls it too).
#
#   hello    one file, /hello: demo/hello.c built with gcc -static -Os
#            (needs gcc and libc6-dev)
#   busybox  Debian's static /bin/busybox (package busybox-static), a symlink
#            /bin/APPLET -> busybox for every applet of `busybox --list`,
#            /etc/passwd and /etc/group with root and nobody, /tmp (1777),
#            and empty /dev /proc /sys /root
#
# Entries are owned by 0:0, sorted, and dated at $SOURCE_DATE_EPOCH (default 0),
# so the same inputs give the same tar byte for byte.
set -euo pipefail

usage() { echo "usage: $0 hello|busybox OUT.tar" >&2; exit 2; }
[ $# -eq 2 ] || usage
kind=$1 out=$2
here=$(cd "$(dirname "$0")" && pwd)
epoch=${SOURCE_DATE_EPOCH:-0}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root"

case $kind in
hello)
	cc=${CC:-gcc}
	command -v "$cc" >/dev/null || { echo "$0: $cc not found (apt-get install gcc libc6-dev)" >&2; exit 1; }
	"$cc" -static -Os -s -o "$root/hello" "$here/../demo/hello.c"
	;;
busybox)
	bb=${BUSYBOX:-/bin/busybox}
	# Debian's dynamic busybox package also installs /bin/busybox; only the
	# static one runs in an empty rootfs.
	[ -x "$bb" ] || { echo "$0: $bb not found (apt-get install busybox-static)" >&2; exit 1; }
	if ldd "$bb" >/dev/null 2>&1; then
		echo "$0: $bb is dynamically linked (apt-get install busybox-static)" >&2; exit 1
	fi
	mkdir -p "$root"/{bin,etc,dev,proc,sys,root,tmp}
	install -m 0755 "$bb" "$root/bin/busybox"
	"$bb" --list | while read -r applet; do
		[ "$applet" = busybox ] && continue
		ln -s busybox "$root/bin/$applet"
	done
	printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' \
		'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$root/etc/passwd"
	printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$root/etc/group"
	chmod 0644 "$root/etc/passwd" "$root/etc/group"
	chmod 0755 "$root"/{bin,etc,dev,proc,sys}
	chmod 0700 "$root/root"
	chmod 1777 "$root/tmp"
	;;
*)
	usage
	;;
esac

mkdir -p "$(dirname "$out")"
# The tar holds the rootfs's contents ("hello", "bin/busybox", ...), not "./".
(cd "$root" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort) >"$work/list"
tar --create --file="$out.tmp" --directory="$root" --format=gnu \
	--owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
	--no-recursion --verbatim-files-from --files-from="$work/list"
mv "$out.tmp" "$out"
