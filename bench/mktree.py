#!/usr/bin/env python3
"""Deterministic 3-layer test image for bench/mount.sh.

Usage: mktree.py OUT FILES DIRS BIG MAXKB

Writes OUT/layer{1,2,3}.tar (OCI layer tars: ".wh." whiteouts, opaque
markers), OUT/image.tar (a `docker save` archive of the three, tagged
bench:latest, for `lfs load`) and OUT/lower{1,2,3}/ (the same layers as
kernel overlayfs lower directories: char 0/0 whiteouts,
trusted.overlay.opaque). Same arguments, same bytes: names, sizes and
contents come from a seeded generator, times and owners are fixed.

Layout: tree/aNN/dNNNN/fN (DIRS directories under DIRS/50 parents,
FILES files over the three layers; layer 2 adds files and replaces a
quarter of the directories' f0, layer 3 adds files, deletes f1 in every
tenth directory (not the opaque ones: overlayfs lists a whiteout
in a directory no other layer merges into) and makes every hundredth directory opaque), and big/,
BIG empty files in one directory (layer 1).
"""
import hashlib
import io
import json
import os
import random
import sys
import tarfile

out, nfiles, ndirs, nbig, maxkb = sys.argv[1], *map(int, sys.argv[2:6])
rng = random.Random(4)
MTIME = 1_700_000_000


def dirname(d):
    return "tree/a%02d/d%04d" % (d // 50, d)


def data(n):
    # Cheap deterministic bytes: a seeded 4 KiB block, repeated.
    blk = rng.randbytes(4096)
    return (blk * (n // 4096 + 1))[:n]


class Layer:
    def __init__(self):
        self.entries = {}  # path -> ("dir"|"file"|"wh"|"opq", bytes)

    def d(self, p):
        parts = p.split("/")
        for i in range(1, len(parts) + 1):
            self.entries.setdefault("/".join(parts[:i]), ("dir", b""))

    def f(self, p, b):
        self.d(os.path.dirname(p))
        self.entries[p] = ("file", b)

    def tar(self, path):
        with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
            for p in sorted(self.entries):
                kind, b = self.entries[p]
                ti = tarfile.TarInfo(p)
                ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = MTIME, 0, 0, "", ""
                if kind == "dir":
                    ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                    t.addfile(ti)
                    continue
                if kind == "wh":
                    ti.name = os.path.join(os.path.dirname(p), ".wh." + os.path.basename(p))
                elif kind == "opq":
                    ti.name = os.path.join(p, ".wh..wh..opq")
                ti.mode, ti.size = 0o644, len(b)
                t.addfile(ti, io.BytesIO(b))

    def extract(self, root):
        # As kernel overlayfs wants a lower directory.
        for p in sorted(self.entries):
            kind, b = self.entries[p]
            q = os.path.join(root, p)
            if kind == "dir":
                os.makedirs(q, exist_ok=True)
            elif kind == "file":
                with open(q, "wb") as f:
                    f.write(b)
            elif kind == "wh":
                os.mknod(q, 0o600 | 0o020000, 0)
            elif kind == "opq":
                os.makedirs(q, exist_ok=True)
                os.setxattr(q, "trusted.overlay.opaque", b"y")
        for dp, dns, fns in os.walk(root):
            for n in fns + dns:
                os.utime(os.path.join(dp, n), (MTIME, MTIME), follow_symlinks=False)
        os.utime(root, (MTIME, MTIME))


def size():
    return rng.randint(0, maxkb * 1024)


l1, l2, l3 = Layer(), Layer(), Layer()
per = max(1, nfiles // ndirs)
n1, n2 = per * 7 // 10, per * 2 // 10
n3 = per - n1 - n2
for d in range(ndirs):
    dn = dirname(d)
    for i in range(n1):
        l1.f("%s/f%d" % (dn, i), data(size()))
    for i in range(n1, n1 + n2):
        l2.f("%s/f%d" % (dn, i), data(size()))
    if d % 4 == 0:
        l2.f("%s/f0" % dn, data(size()))
    for i in range(n1 + n2, per):
        l3.f("%s/f%d" % (dn, i), data(size()))
    if d % 10 == 5 and n1 > 1:
        l3.d(dn)
        l3.entries["%s/f1" % dn] = ("wh", b"")
    if d % 100 == 0:
        l3.d(dn)
        l3.entries[dn + "/"] = ("opq", b"")
        l3.f("%s/g0" % dn, data(size()))
l1.d("big")
for i in range(nbig):
    l1.f("big/e%06d" % i, b"")

os.makedirs(out, exist_ok=True)
diffs, names = [], []
for i, l in enumerate((l1, l2, l3), 1):
    p = os.path.join(out, "layer%d.tar" % i)
    l.tar(p)
    h = hashlib.sha256(open(p, "rb").read()).hexdigest()
    diffs.append("sha256:" + h)
    names.append("layer%d.tar" % i)
    l.extract(os.path.join(out, "lower%d" % i))
cfg = json.dumps({"architecture": "amd64", "os": "linux", "created": "2023-11-14T22:13:20Z",
                  "config": {}, "rootfs": {"type": "layers", "diff_ids": diffs}},
                 sort_keys=True).encode()
cfgname = hashlib.sha256(cfg).hexdigest() + ".json"
man = json.dumps([{"Config": cfgname, "RepoTags": ["bench:latest"], "Layers": names}]).encode()
with tarfile.open(os.path.join(out, "image.tar"), "w") as t:
    for name, b in ((cfgname, cfg), ("manifest.json", man)):
        ti = tarfile.TarInfo(name)
        ti.size, ti.mtime = len(b), MTIME
        t.addfile(ti, io.BytesIO(b))
    for n in names:
        t.add(os.path.join(out, n), n)
