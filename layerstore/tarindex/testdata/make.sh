#!/bin/sh
# Regenerates the golden tars in this directory with real GNU tar, so that the
# index is tested against what a real tool writes, not only against
# archive/tar. Run it from anywhere: sh testdata/make.sh. Needs GNU tar ≥ 1.30
# and python3 (only to set a user xattr; setfattr is often missing).
# The tars are deterministic apart from GNU tar's version and, in
# posix-sparse.tar, the PID GNU tar puts in its GNUSparseFile.PID placeholder
# name (hard-coded in tar's sparse.c). golden_test.go checks contents, not
# bytes, so regenerating must keep it green.
set -eu
out=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Common options: stable order and owners, one 512-byte block per record so
# the files stay small (the index never reads past the end marker anyway).
TAR="tar --sort=name --owner=0 --group=0 --numeric-owner -b 1"
stamp() { find "$1" -exec touch -h -d @1600000000 {} +; }

# 1. GNU dialect: long names ('L'), long link targets ('K'), hard links,
#    including one to a long-named file.
d=$tmp/gnu; mkdir -p "$d"
long=$(printf 'directory-with-a-rather-long-name-%s/' 1 2 3)file-whose-path-passes-one-hundred-bytes.txt
mkdir -p "$d/$(dirname "$long")"
printf 'long name content\n' > "$d/$long"
ln "$d/$long" "$d/hardlink-to-long"
head -c 1500 /dev/zero | tr '\0' 'g' > "$d/plain"
ln "$d/plain" "$d/plain-link"
ln -s "$long" "$d/symlink-long-target"
stamp "$d"
$TAR --format=gnu -C "$d" -cf "$out/gnu-longname-longlink-hardlink.tar" .

# 2. POSIX (PAX) dialect: xattrs as SCHILY.xattr records, mtime with
#    nanoseconds, a long name as a PAX path record.
d=$tmp/pax; mkdir -p "$d/dir"
printf 'has an xattr\n' > "$d/dir/xattr-file"
python3 -c 'import os,sys; os.setxattr(sys.argv[1], "user.lfs.test", b"golden value")' "$d/dir/xattr-file"
printf 'pax long name\n' > "$d/dir/$(printf 'x%.0s' $(seq 1 150))"
stamp "$d"
touch -d @1600000000.123456789 "$d/dir/xattr-file"
$TAR --format=posix --xattrs --xattrs-include='user.*' \
	--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
	-C "$d" -cf "$out/posix-xattr-nsec-longname.tar" .

# 3. A layer with overlay whiteouts, written the way docker save does: "./"
#    names, empty regular files named .wh.NAME and .wh..wh..opq. They exist
#    only in the temp dir, never in the repository tree.
d=$tmp/wh; mkdir -p "$d/etc/opaque-dir" "$d/usr"
touch "$d/etc/.wh.deleted-file" "$d/etc/opaque-dir/.wh..wh..opq" "$d/usr/.wh.lib"
printf 'kept\n' > "$d/etc/opaque-dir/kept"
stamp "$d"
$TAR --format=ustar -C "$d" -cf "$out/ustar-whiteouts.tar" .

# 4. A sparse file in the PAX 1.0 sparse format, which Build must refuse.
d=$tmp/sparse; mkdir -p "$d"
printf 'data before a hole' > "$d/sparse-file"
truncate -s 4M "$d/sparse-file"
printf 'data after' >> "$d/sparse-file"
stamp "$d"
$TAR --format=posix --sparse --sparse-version=1.0 \
	--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
	-C "$d" -cf "$out/posix-sparse.tar" .
