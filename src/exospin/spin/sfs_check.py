"""fsck for SFS (spin/ext/sfs.py): check an unmounted image, block by block.

What this models
    The checker a SPIN file system needs after a crash (as fsck is BSD's):
    it reads the image on the host, not through the kernel, and reports
    every inconsistency of the layout sfs.py documents. An *error* is what
    the file system's write ordering promises never happens: a bad
    superblock, an inode of an unknown mode, a pointer outside the data
    area, a block claimed twice or claimed but free in the bitmap, a
    directory entry naming a free inode, a directory reached twice, more
    names of an inode than its link count. *Benign* problems are what a
    crash between two ordered writes may leave and a repair would reclaim:
    a block marked in use that nothing claims, an inode nothing names, a
    link count above the names.

Why it is built this way
    Independent of the extension's code (it parses the bytes itself), so a
    bug in the file system is not hidden by the same bug in the checker.

Interface
    ``check(read, nblocks) -> Report``; ``check_image(source) -> Report``
    (a path, or a Disk with an image file); ``fsck(source) -> list[str]``
    (the errors, one line each: empty when consistent).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BSIZE = 4096
MAGIC = b"SPINSFS1"
ISIZE, IPB, NDIRECT, NINDIRECT, DSIZE, DPB, ROOT, MAXBLOCKS = 64, 64, 12, 1024, 260, 15, 1, 32768
F_FILE, F_DIR = 1, 2

Reader = Callable[[int], bytes]


@dataclass(frozen=True)
class Problem:
    kind: str
    text: str
    benign: bool


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    files: int = 0
    directories: int = 0
    blocks_used: int = 0

    def add(self, kind: str, text: str, benign: bool = False) -> None:
        self.problems.append(Problem(kind, text, benign))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if not p.benign]


def _w(raw: bytes, i: int) -> int:
    return int.from_bytes(raw[i:i + 4], "little")


def check(read: Reader, nblocks: int) -> Report:
    """Check the SFS whose block ``b`` is ``read(b)`` on a disk of ``nblocks`` blocks."""
    r = Report()
    raw = read(0)
    if raw[:8] != MAGIC:
        r.add("bad_super", "no SPINSFS1 superblock")
        return r
    n, ninodes, istart, ilen, dstart = (_w(raw, 8 + 4 * i) for i in range(5))
    if n != min(nblocks, MAXBLOCKS) or istart != 2 or ilen < 1 or ninodes != ilen * IPB \
            or dstart != istart + ilen or dstart >= n:
        r.add("bad_super", f"superblock: {n} blocks (disk {nblocks}), {ninodes} inodes in {ilen} blocks "
                           f"from {istart}, data from {dstart}")
        return r
    bitmap = read(1)

    def used(b: int) -> bool:
        return bool(bitmap[b // 8] & (1 << (b % 8)))

    for b in range(dstart):
        if not used(b):
            r.add("bitmap", f"metadata block {b} is free in the bitmap")
    inodes: dict[int, tuple[int, int, int, list[int]]] = {}  # ino -> mode, nlink, size, data blocks
    claimed: dict[int, int] = {}

    def claim(ino: int, b: int, what: str) -> bool:
        if not dstart <= b < n:
            r.add("bad_pointer", f"inode {ino}: {what} {b} is outside the data blocks ({dstart}..{n - 1})")
            return False
        if b in claimed:
            r.add("dup_block", f"block {b} is claimed by inodes {claimed[b]} and {ino}")
            return False
        claimed[b] = ino
        if not used(b):
            r.add("free_claimed", f"inode {ino}: {what} {b} is free in the bitmap")
        return True

    for ib in range(ilen):
        blk = read(istart + ib)
        for j in range(IPB):
            ino = ib * IPB + j
            raw = blk[j * ISIZE:(j + 1) * ISIZE]
            mode = int.from_bytes(raw[0:2], "little")
            if mode == 0 or ino < ROOT:
                continue
            if mode not in (F_FILE, F_DIR):
                r.add("bad_inode", f"inode {ino}: mode {mode} is neither a file nor a directory")
                continue
            nlink = int.from_bytes(raw[2:4], "little")
            size = _w(raw, 4)
            data: list[int] = []
            for i in range(NDIRECT):
                b = _w(raw, 8 + 4 * i)
                if b and claim(ino, b, f"direct block {i}"):
                    data.append(b)
            ind = _w(raw, 56)
            if ind and claim(ino, ind, "indirect block"):
                iraw = read(ind)
                for i in range(NINDIRECT):
                    b = _w(iraw, 4 * i)
                    if b and claim(ino, b, f"indirect entry {i}"):
                        data.append(b)
            inodes[ino] = (mode, nlink, size, data)
    if ROOT not in inodes or inodes[ROOT][0] != F_DIR:
        r.add("no_root", f"inode {ROOT} is not a directory")
        return r
    names: dict[int, int] = {}
    seen_dirs = {ROOT}
    todo = [ROOT]
    while todo:
        d = todo.pop()
        mode, _, size, _ = inodes[d]
        if size % BSIZE:
            r.add("bad_dir", f"directory {d}: size {size} is not a whole number of blocks")
        raw_inode = read(2 + d // IPB)[(d % IPB) * ISIZE:(d % IPB + 1) * ISIZE]
        for lbn in range(min(size // BSIZE, NDIRECT)):
            b = _w(raw_inode, 8 + 4 * lbn)
            if not b or claimed.get(b) != d:
                continue
            braw = read(b)
            for i in range(DPB):
                e = braw[i * DSIZE:(i + 1) * DSIZE]
                ino = _w(e, 0)
                if not ino:
                    continue
                name = e[5:5 + e[4]]
                if not name or b"/" in name or b"\0" in name:
                    r.add("bad_entry", f"directory {d}: entry {i} of block {b} has a bad name {name!r}")
                if ino not in inodes:
                    r.add("dangling", f"directory {d}: {name!r} names inode {ino}, which is free")
                    continue
                names[ino] = names.get(ino, 0) + 1
                if inodes[ino][0] == F_DIR:
                    if ino in seen_dirs:
                        r.add("dir_twice", f"directory {ino} is reached twice (again from {d})")
                        continue
                    seen_dirs.add(ino)
                    todo.append(ino)
    for ino, (mode, nlink, _, _) in sorted(inodes.items()):
        if ino == ROOT:
            continue
        k = names.get(ino, 0)
        if k > nlink:
            r.add("nlink", f"inode {ino}: {k} names but a link count of {nlink}")
        elif k == 0:
            r.add("unreferenced", f"inode {ino} is allocated but no directory names it", True)
        elif k < nlink:
            r.add("nlink_high", f"inode {ino}: link count {nlink} above its {k} names", True)
        if mode == F_DIR:
            r.directories += 1
        else:
            r.files += 1
    for b in range(dstart, n):
        if used(b) and b not in claimed:
            r.add("leaked_block", f"block {b} is in use in the bitmap but nothing claims it", True)
    r.blocks_used = len(claimed)
    return r


def check_image(source: Any) -> Report:
    """``check`` on an image on the host (a path, or a Disk with an image file)."""
    if hasattr(source, "image"):
        if source.image is None:
            raise ValueError("fsck: the disk keeps its contents in memory; check a disk with an image file")
        source = source.image
    path = Path(source)
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        def read(blk: int) -> bytes:
            f.seek(blk * BSIZE)
            data = f.read(BSIZE)
            return data + bytes(BSIZE - len(data))
        return check(read, size // BSIZE)


def fsck(source: Any) -> list[str]:
    """Every inconsistency (not the benign leaks), one line each: empty when consistent."""
    return [f"{p.kind}: {p.text}" for p in check_image(source).errors]


__all__ = ["Problem", "Report", "check", "check_image", "fsck"]
