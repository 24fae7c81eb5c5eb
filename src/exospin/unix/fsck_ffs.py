"""fsck_ffs: the file-system checker (BSD's fsck_ffs), and the preening a mount does after a crash.

What this models
    4.4BSD's ``fsck_ffs`` in its five phases, over any way of reading blocks:

    1. every allocated inode (mode not zero): its type, its block pointers
       (each in a data area, none claimed twice: a block claimed by two
       inodes is a *duplicate*), its block count;
    2. the tree from the root: every directory block's chain of entries,
       "." naming the directory itself, ".." a directory that names it, no
       entry naming an inode out of range or free;
    3. (connectivity) an allocated inode no reachable directory names is
       *unreferenced*;
    4. link counts: an inode named more often than its count says is an
       error; named less often, a count too high;
    5. the bitmaps against what phases 1-4 found in use.

    Each finding is a :class:`Problem` with a kind and whether a crash of
    this file system can leave it (``benign``: the ordering of ffs_vnops.py allows
    it and a preen repairs it) or not (an error: a bug, or a disk that was
    changed behind the file system's back).

    ``preen(fs)`` is ``fsck -p`` at boot (mount of a file system not
    unmounted cleanly): it checks through the buffer cache, then repairs
    the benign findings (unreferenced inodes zeroed, link counts lowered,
    block counts corrected, bitmaps rebuilt) and refuses (MountError) if any other
    is found.

Why it is built this way
    One checker, two readers: ``fsck(image)`` reads an image on the host
    (a path, or a Disk with an image file), as running fsck on an unmounted
    disk; the kernel's preen reads through its buffer cache with real disk
    requests. Its findings are the crash tests' oracle.

Interface
    ``fsck(source) -> list[str]`` (empty: consistent); ``check_image(source)``
    and ``check(read, nblocks)`` -> Report; ``bio_reader(fs)``; ``preen(fs)``; ``Problem``, ``Report``.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .ffs_layout import (
    BSIZE,
    CG_HDR,
    IFDIR,
    IFMT,
    IFREG,
    INODE_SIZE,
    NDADDR,
    ROOTINO,
    SB_BLOCK,
    Inode,
    MountError,
    Super,
    bit,
    dir_entries,
    parse_super,
)

Reader = Callable[[int], bytes]


@dataclass(frozen=True)
class Problem:
    kind: str  # bad_super, bad_inode, bad_pointer, duplicate, bad_dir, free_named, bad_dots, unreferenced,
    # nlink_low (named more than counted), nlink_high, blocks_count, bitmap_block, bitmap_inode
    text: str
    benign: bool


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    sb: Super | None = None
    # what the repair needs
    unreferenced: list[int] = field(default_factory=list)
    nlink_fix: dict[int, int] = field(default_factory=dict)
    blocks_fix: dict[int, int] = field(default_factory=dict)
    used_blocks: set[int] = field(default_factory=set)
    used_inodes: set[int] = field(default_factory=set)

    def add(self, kind: str, text: str, benign: bool) -> None:
        self.problems.append(Problem(kind, text, benign))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if not p.benign]


def _words(raw: bytes) -> tuple[int, ...]:
    return struct.unpack(f"<{BSIZE // 4}I", raw)


def check(read: Reader, nblocks: int) -> Report:
    """Check the file system whose block ``b`` is ``read(b)`` on a disk of ``nblocks`` blocks."""
    r = Report()
    try:
        sb = parse_super(read(SB_BLOCK), nblocks)
    except MountError as e:
        r.add("bad_super", str(e), False)
        return r
    r.sb = sb
    # phase 1: the inodes and the blocks they claim
    inodes: dict[int, Inode] = {}
    claims: dict[int, int] = {}
    blocks_of: dict[int, list[int]] = {}
    for g in range(sb.ngroups):
        for i in range(sb.iblocks):
            raw = read(sb.itable(g) + i)
            for j in range(BSIZE // INODE_SIZE):
                ino = g * sb.ipg + i * (BSIZE // INODE_SIZE) + j
                ip = Inode(ino, raw[j * INODE_SIZE:(j + 1) * INODE_SIZE])
                if ip.mode == 0 or ino < ROOTINO:
                    continue
                if ip.mode & IFMT not in (IFDIR, IFREG):
                    r.add("bad_inode", f"inode {ino}: mode {ip.mode:#o} is neither a file nor a directory", False)
                    continue
                inodes[ino] = ip
                blocks_of[ino] = _claim(r, sb, read, ip, claims)
    for ino, ip in inodes.items():
        if ip.nblocks != len(blocks_of[ino]):
            r.add("blocks_count", f"inode {ino} counts {ip.nblocks} blocks but holds {len(blocks_of[ino])}", True)
            r.blocks_fix[ino] = len(blocks_of[ino])
    # phase 2: the tree
    refs: dict[int, int] = {}
    root = inodes.get(ROOTINO)
    if root is None or not root.is_dir:
        r.add("bad_dir", f"the root inode {ROOTINO} is not an allocated directory", False)
        return r
    seen: set[int] = set()
    named_by: dict[int, set[int]] = {ROOTINO: {ROOTINO}}
    dotdot: dict[int, int] = {}
    queue = [(ROOTINO, "/")]
    while queue:
        d, path = queue.pop(0)
        if d in seen:
            continue
        seen.add(d)
        dp = inodes[d]
        for lbn in range(dp.size // BSIZE):
            blk = _lbn_block(read, dp, lbn)
            if not blk:
                r.add("bad_dir", f"directory {path} (inode {d}): block {lbn} is a hole", False)
                continue
            try:
                ents = dir_entries(read(blk))
            except ValueError as e:
                r.add("bad_dir", f"directory {path} (inode {d}) block {lbn}: {e}", False)
                continue
            for _, ino, _, name in ents:
                if not ino:
                    continue
                where = f"{path.rstrip('/')}/{name}"
                if not ROOTINO <= ino < sb.ninodes():
                    r.add("bad_dir", f"entry {where} names inode {ino}, out of range", False)
                    continue
                if ino not in inodes:
                    r.add("free_named", f"entry {where} names inode {ino}, which is free", False)
                    continue
                refs[ino] = refs.get(ino, 0) + 1
                if name == ".":
                    if ino != d:
                        r.add("bad_dots", f"directory {path}: '.' names inode {ino}, not itself ({d})", False)
                elif name == "..":
                    dotdot[d] = ino
                else:
                    if inodes[ino].is_dir:
                        named_by.setdefault(ino, set()).add(d)
                        queue.append((ino, where))
    for d in seen:
        parent = dotdot.get(d)
        if parent is None:
            r.add("bad_dots", f"directory inode {d} has no '..'", False)
        elif parent not in named_by.get(d, set()):
            r.add("bad_dots", f"directory inode {d}: '..' names inode {parent}, which does not name it", False)
    # phases 3 and 4: connectivity and link counts
    for ino, ip in sorted(inodes.items()):
        n = refs.get(ino, 0)
        if n == 0:
            r.add("unreferenced", f"inode {ino} ({'directory' if ip.is_dir else 'file'}, {ip.size} bytes) "
                                  "is allocated but no directory names it", True)
            r.unreferenced.append(ino)
        elif n > ip.nlink:
            r.add("nlink_low", f"inode {ino} is named {n} times but its link count is {ip.nlink}", False)
        elif n < ip.nlink:
            r.add("nlink_high", f"inode {ino} has link count {ip.nlink} but is named {n} times", True)
            r.nlink_fix[ino] = n
    # phase 5: the bitmaps
    live = {ino for ino in inodes if refs.get(ino, 0)}
    used = set()
    for ino in live:
        used.update(blocks_of[ino])
    r.used_blocks, r.used_inodes = used, live
    for g in range(sb.ngroups):
        raw = read(sb.cgblock(g))
        magic, grp = CG_HDR.unpack_from(raw, 0)
        if magic != 0x090255 or grp != g:
            r.add("bad_cg", f"cylinder group {g}: block {sb.cgblock(g)} has magic {magic:#x}, group {grp}", True)
            continue
        ib = bytearray(raw[8:8 + sb.ipg // 8])
        bb = bytearray(raw[8 + sb.ipg // 8:])
        wrong_b = [blk for blk in range(sb.dstart(g), sb.gend(g)) if bit(bb, blk - sb.gstart(g)) != (blk in used)]
        if wrong_b:
            free_used = sum(1 for b in wrong_b if b in used)
            r.add("bitmap_block", f"cylinder group {g}: {len(wrong_b) - free_used} blocks marked allocated but "
                                  f"unreferenced, {free_used} in use but marked free (first: {wrong_b[0]})", True)
        wrong_i = [i for i in range(sb.ipg) if g * sb.ipg + i >= ROOTINO
                   and bit(ib, i) != (g * sb.ipg + i in live)]
        if wrong_i:
            r.add("bitmap_inode", f"cylinder group {g}: {len(wrong_i)} inodes marked wrongly in the bitmap "
                                  f"(first: {g * sb.ipg + wrong_i[0]})", True)
    return r


def _lbn_block(read: Reader, ip: Inode, lbn: int) -> int:
    if lbn < NDADDR:
        return ip.db[lbn]
    lbn -= NDADDR
    n = BSIZE // 4
    if lbn < n:
        return _words(read(ip.ib))[lbn] if ip.ib else 0
    lbn -= n
    if not ip.dib:
        return 0
    mid = _words(read(ip.dib))[lbn // n]
    return _words(read(mid))[lbn % n] if mid else 0


def _claim(r: Report, sb: Super, read: Reader, ip: Inode, claims: dict[int, int]) -> list[int]:
    """Every block ``ip`` points to (data and indirect), each claimed once."""
    mine: list[int] = []

    def take(blk: int) -> bool:
        if not sb.is_data(blk):
            r.add("bad_pointer", f"inode {ip.ino} points to block {blk}, not a data block", False)
            return False
        other = claims.get(blk)
        if other is not None:
            r.add("duplicate", f"block {blk} is claimed by inode {other} and by inode {ip.ino}", False)
            return False
        claims[blk] = ip.ino
        mine.append(blk)
        return True

    for blk in ip.db:
        if blk:
            take(blk)
    if ip.ib and take(ip.ib):
        for w in _words(read(ip.ib)):
            if w:
                take(w)
    if ip.dib and take(ip.dib):
        for m in _words(read(ip.dib)):
            if m and take(m):
                for w in _words(read(m)):
                    if w:
                        take(w)
    return mine


def fsck(source: Any) -> list[str]:
    """Check an unmounted file system: ``source`` a path to an image, or a Disk with an image
    file. Returns every inconsistency found, one line each (empty: consistent)."""
    return [f"{p.kind}: {p.text}" for p in check_image(source).problems]


def check_image(source: Any) -> Report:
    """``check`` on an image on the host (a path, or a Disk with an image file)."""
    path = Path(source.image if hasattr(source, "image") else source)
    if hasattr(source, "image") and source.image is None:
        raise ValueError("fsck: the disk keeps its contents in memory; check a disk with an image file")
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        def read(blk: int) -> bytes:
            f.seek(blk * BSIZE)
            data = f.read(BSIZE)
            return data + bytes(BSIZE - len(data))
        return check(read, size // BSIZE)


def bio_reader(fs: Any) -> Reader:
    """Read blocks of a mounted file system through its buffer cache (real disk requests)."""
    bio = fs.bio

    def read(blk: int) -> bytes:
        b = bio.bread(blk)
        data = bytes(bio.data(b))
        bio.brelse(b)
        fs.k.loop.now += fs.c.entry  # looking the block over
        return data
    return read


def preen(fs: Any) -> Report:
    """``fsck -p`` on the file system being mounted (through its buffer cache): repair what a
    crash can leave, refuse (MountError) anything else. Returns what it found."""
    bio = fs.bio
    sb = fs.sb
    rep = check(bio_reader(fs), sb.nblocks)
    if rep.errors:
        raise MountError("the file system needs a full fsck (not only what a crash leaves): "
                         + "; ".join(p.text for p in rep.errors[:3])
                         + (f"; and {len(rep.errors) - 3} more" if len(rep.errors) > 3 else ""))
    if not rep.problems:
        return rep

    def rewrite_inode(ino: int, edit: Callable[[Inode], None]) -> None:
        blk, off = sb.inode_at(ino)
        b = bio.bread(blk)
        d = bio.data(b)
        ip = Inode(ino, d[off:off + INODE_SIZE])
        edit(ip)
        ip.pack_into(d, off)
        bio.bwrite(b)

    for ino in rep.unreferenced:  # zeroed; its blocks are free once the bitmaps are rebuilt
        def clear(ip: Inode) -> None:
            ip.mode = ip.nlink = 0
            ip.size = ip.nblocks = 0
            ip.db, ip.ib, ip.dib = [0] * NDADDR, 0, 0
            ip.gen += 1
        rewrite_inode(ino, clear)
    def setter(field: str, n: int) -> Callable[[Inode], None]:
        def edit(ip: Inode) -> None:
            setattr(ip, field, n)
        return edit

    for ino, n in rep.nlink_fix.items():
        if ino not in rep.unreferenced:
            rewrite_inode(ino, setter("nlink", n))
    for ino, n in rep.blocks_fix.items():
        if ino not in rep.unreferenced:
            rewrite_inode(ino, setter("nblocks", n))
    for g in range(sb.ngroups):  # the bitmaps, rebuilt from what is in use
        ib = bytearray(sb.ipg // 8)
        bb = bytearray(-(-sb.bpg // 8))
        base = sb.gstart(g)
        for blk in range(base, base + sb.bpg):
            if not sb.dstart(g) <= blk < sb.gend(g) or blk in rep.used_blocks:
                bb[(blk - base) >> 3] |= 1 << ((blk - base) & 7)
        for i in range(sb.ipg):
            ino = g * sb.ipg + i
            if ino < ROOTINO or ino in rep.used_inodes:
                ib[i >> 3] |= 1 << (i & 7)
        raw = CG_HDR.pack(0x090255, g) + bytes(ib) + bytes(bb)
        b = bio.getblk(sb.cgblock(g))
        bio.data(b)[:] = raw + bytes(BSIZE - len(raw))
        b.valid = True
        bio.bwrite(b)
    fs.preened = [p.text for p in rep.problems]
    return rep
