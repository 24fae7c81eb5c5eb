"""The Unix file system: a simplified 4.4BSD FFS, in the kernel, on the buffer cache.

What this models
    McKusick, Joy, Leffler and Fabry's Fast File System (ACM TOCS 2(3), 1984)
    as 4.4BSD-Lite had it in 1995, simplified where the docs say
    (docs/storage.md, section "Unix"):

    * **On disk**: block 0 the boot block, block 1 the superblock (magic
      ``FS_MAGIC``, FFS's 0x011954); the disk divided into cylinder groups of
      ``CG_CYLS`` cylinders (one group on the small disks the tests use), each
      with a group block (``CG_MAGIC``, an inode bitmap, a block bitmap), an
      inode table and data blocks. Blocks are ``BSIZE`` = 4 KB (no fragments).
      An inode (128 bytes) holds a mode, a link count, a size, a block count,
      12 direct block pointers, one single and one double indirect pointer.
      A directory is a file of variable-length entries (inode, record length,
      name length, type, name) chained through each block, "." and ".."
      first; a removed entry's space is merged into the one before it.
    * **Ordering** (FFS's synchronous metadata writes): an inode is written
      initialised before the directory entry that names it; an entry is
      removed before the link count that counted it drops; a link count rises
      before a new entry counts it; a new indirect or directory block is
      written before the pointer to it; a block's pointer is cleared on the
      disk before the block is freed, and an inode is zeroed before it is
      freed. The bitmaps are written delayed, as FFS's cylinder-group blocks
      are: after a crash they are rebuilt from the inodes. So a crash can
      leave only what fsck preens silently (a block or inode allocated and
      unreferenced, a link count too high, a bitmap out of date), never a
      block claimed twice or an entry naming a free inode.
    * **Data** writes are delayed (``bdwrite``), a block filled whole is
      written behind at once (``bawrite``), as 4.4BSD's ffs_write; ``fsync``
      writes the file's dirty blocks and then its inode, synchronously.
    * **Mount** reads the superblock and refuses anything that is not this
      file system (``MountError``, a precise reason; never reformatted); a
      file system not unmounted cleanly is preened first, as /etc/rc runs
      ``fsck -p`` before mounting: the benign inconsistencies the ordering
      allows are repaired, anything else refuses the mount.

Why it is built this way
    It is the baseline of the storage experiments: a fixed in-kernel file
    system and cache, with FFS's costs (synchronous metadata writes) and FFS's
    crash behaviour, so ExOS' library file system and SPIN's extension one
    can be measured against it. One lock serialises the file-system calls
    (4.4BSD locks each vnode; simplified), held across the disk waits inside
    them; the disk and the other processes run meanwhile.

Interface
    ``mkfs(k, disk)``, ``mount(k, disk, format, nbuf) -> FileSystem``;
    ``FileSystem``: the calls of posix's file API (fsys.py is their system-call
    side), ``unmount()``, ``check()``, ``held()``, ``statistics()``;
    ``MountError``; the layout (``BSIZE``, ``FS_MAGIC``, ``ROOTINO``, ...) that
    fsck_ffs.py reads.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .bio import BSIZE, Buf, BufCache
from .proc import SysError
from .sched import Scheduler

FS_MAGIC = 0x011954  #: FFS's fs_magic
CG_MAGIC = 0x090255  #: FFS's cg_magic
FS_VERSION = 1
SB_BLOCK = 1  #: block 0 is the boot block
NDADDR = 12  #: direct block pointers in an inode
NINDIR = BSIZE // 4  #: block pointers in an indirect block
INODE_SIZE = 128
INOPB = BSIZE // INODE_SIZE
ROOTINO = 2  #: inodes 0 and 1 are never used (FFS: 0 none, 1 bad blocks)
CG_CYLS = 16  #: cylinders per group (FFS's default, fs_cpg)
BLOCKS_PER_INODE = 4  #: one inode per 16 KB of the group (FFS: one per 2 KB of 1 KB fragments)
NAME_MAX = 255
IFMT, IFDIR, IFREG = 0o170000, 0o040000, 0o100000
DT_REG, DT_DIR = 8, 4  #: d_type, as BSD's
MAX_FILE_BLOCKS = NDADDR + NINDIR + NINDIR * NINDIR

_SB = struct.Struct("<10I")  # magic, version, bsize, nblocks, ngroups, bpg, ipg, iblocks, clean, crc
_INODE = struct.Struct("<HHIQI12III")  # mode, nlink, gen, size, nblocks, db[12], ib, dib
_DIRHDR = struct.Struct("<IHBB")  # ino, reclen, namelen, type
CG_HDR = struct.Struct("<II")  # magic, group


class MountError(ValueError):
    """A disk that does not hold a file system this kernel can mount (nothing was written)."""


@dataclass(frozen=True)
class Super:
    """The superblock's fields."""

    nblocks: int
    ngroups: int
    bpg: int  # blocks per group
    ipg: int  # inodes per group
    iblocks: int  # inode-table blocks per group
    clean: int

    def pack(self) -> bytes:
        head = struct.pack("<9I", FS_MAGIC, FS_VERSION, BSIZE, self.nblocks, self.ngroups, self.bpg, self.ipg,
                           self.iblocks, self.clean)
        return head + struct.pack("<I", zlib.crc32(head))

    # the layout, for the file system and for fsck
    def gstart(self, g: int) -> int:
        return g * self.bpg

    def cgblock(self, g: int) -> int:
        return self.gstart(g) + (SB_BLOCK + 1 if g == 0 else 0)

    def itable(self, g: int) -> int:
        return self.cgblock(g) + 1

    def dstart(self, g: int) -> int:
        return self.itable(g) + self.iblocks

    def gend(self, g: int) -> int:
        return min(self.gstart(g) + self.bpg, self.nblocks)

    def ninodes(self) -> int:
        return self.ngroups * self.ipg

    def inode_at(self, ino: int) -> tuple[int, int]:
        g, i = divmod(ino, self.ipg)
        return self.itable(g) + i // INOPB, (i % INOPB) * INODE_SIZE

    def is_data(self, blk: int) -> bool:
        """``blk`` is a data block of some group (not a superblock, group block or inode table)."""
        if not 0 <= blk < self.nblocks:
            return False
        g = blk // self.bpg
        return g < self.ngroups and self.dstart(g) <= blk < self.gend(g)


def parse_super(raw: bytes, disk_blocks: int) -> Super:
    """The superblock in ``raw`` (block 1), checked against a disk of ``disk_blocks`` blocks;
    MountError with the reason if it is not a valid one."""
    f = _SB.unpack_from(raw, 0)
    magic, version, bsize, nblocks, ngroups, bpg, ipg, iblocks, clean, crc = f
    if magic != FS_MAGIC:
        what = "blank (all zeros)" if not any(raw) else f"magic {magic:#x}, not FFS's {FS_MAGIC:#x}"
        raise MountError(f"not a Unix file system: the superblock (block {SB_BLOCK}) is {what}")
    if crc != zlib.crc32(raw[:36]):
        raise MountError(f"corrupt superblock: its checksum is {crc:#010x}, its contents give "
                         f"{zlib.crc32(raw[:36]):#010x}")
    if version != FS_VERSION or bsize != BSIZE:
        raise MountError(f"unsupported file system: version {version}, block size {bsize} "
                         f"(this kernel reads version {FS_VERSION}, {BSIZE}-byte blocks)")
    if nblocks != disk_blocks:
        raise MountError(f"the file system has {nblocks} blocks but the disk holds {disk_blocks} "
                         f"({'truncated' if disk_blocks < nblocks else 'a different disk'})")
    sb = Super(nblocks, ngroups, bpg, ipg, iblocks, clean)
    if not (ngroups >= 1 and bpg >= 4 and ipg >= INOPB and ipg % INOPB == 0 and iblocks == ipg // INOPB
            and ngroups == _ngroups(nblocks, bpg, iblocks) and clean in (0, 1) and 8 + (ipg + bpg) // 8 <= BSIZE):
        raise MountError(f"corrupt superblock: inconsistent geometry ({ngroups} groups of {bpg} blocks, "
                         f"{ipg} inodes in {iblocks} blocks, {nblocks} blocks)")
    return sb


def _ngroups(nblocks: int, bpg: int, iblocks: int) -> int:
    """Groups that fit: a last group too small for its header, inodes and a data block is left out."""
    n = -(-nblocks // bpg)
    last_start = (n - 1) * bpg + (SB_BLOCK + 1 if n == 1 else 0)
    if n > 1 and nblocks - last_start < 1 + iblocks + 1:
        n -= 1
    return n


def geometry(disk_blocks: int, per_cylinder_blocks: int) -> Super:
    """The layout mkfs gives a disk of ``disk_blocks`` blocks."""
    bpg = CG_CYLS * per_cylinder_blocks
    bpg = min(bpg, disk_blocks)
    ipg = max(INOPB, -(-(bpg // BLOCKS_PER_INODE) // INOPB) * INOPB)
    iblocks = ipg // INOPB
    return Super(disk_blocks, _ngroups(disk_blocks, bpg, iblocks), bpg, ipg, iblocks, 1)


# ------------------------------------------------------------------ inodes


class Inode:
    """An in-core inode (the disk's, plus the kernel's references to it)."""

    __slots__ = ("ino", "mode", "nlink", "gen", "size", "nblocks", "db", "ib", "dib", "refs", "dirty")

    def __init__(self, ino: int, raw: bytes | memoryview) -> None:
        f = _INODE.unpack_from(raw, 0)
        self.ino = ino
        self.mode, self.nlink, self.gen, self.size, self.nblocks = f[0], f[1], f[2], f[3], f[4]
        self.db = list(f[5:17])
        self.ib, self.dib = f[17], f[18]
        self.refs = 0
        self.dirty = False

    def pack_into(self, buf: memoryview, off: int) -> None:
        _INODE.pack_into(buf, off, self.mode, self.nlink, self.gen, self.size, self.nblocks, *self.db,
                         self.ib, self.dib)

    @property
    def is_dir(self) -> bool:
        return self.mode & IFMT == IFDIR


def dir_entries(raw: bytes | memoryview) -> list[tuple[int, int, int, str]]:
    """The entries of one directory block: (offset, ino, reclen, name); ValueError if the
    chain of record lengths is broken."""
    out = []
    off = 0
    while off < BSIZE:
        ino, reclen, namelen, _ = _DIRHDR.unpack_from(raw, off)
        if reclen < _DIRHDR.size or reclen % 4 or off + reclen > BSIZE or _DIRHDR.size + namelen > reclen:
            raise ValueError(f"a bad entry at offset {off} (record length {reclen}, name length {namelen})")
        name = bytes(raw[off + 8:off + 8 + namelen]).decode("utf-8", "replace")
        out.append((off, ino, reclen, name))
        off += reclen
    return out


def _entsize(namelen: int) -> int:
    return _DIRHDR.size + (namelen + 3) // 4 * 4


def _empty_dir_block() -> bytes:
    return _DIRHDR.pack(0, BSIZE, 0, 0) + bytes(BSIZE - _DIRHDR.size)


# ------------------------------------------------------------- the costs


class FsCosts:
    """Cycle costs of the file system's own work, from the profile's primitives."""

    def __init__(self, k: Scheduler) -> None:
        c = k.c
        self.call = 4 * c.mem_ref + 2 * c.insn  # the file-table entry and the vnode
        self.component = 6 * c.insn + 2 * c.mem_ref  # namei: take one component, hash it
        self.entry = 3 * c.mem_ref + 2 * c.insn  # compare one directory entry (length, then name)
        self.iget = 4 * c.mem_ref + c.insn  # the inode hash
        self.inode_copy = INODE_SIZE // k.word_bytes * c.copy_word  # an inode to or from its block
        self.bmap = 2 * c.mem_ref + c.insn  # one level of the block map
        self.bitmap_word = c.mem_ref + c.insn  # scanning a bitmap, a word at a time
        self.alloc = 6 * c.mem_ref + 2 * c.insn  # set the bit, the counts, the group's summary
        self.zero_block = BSIZE // k.word_bytes * c.mem_ref  # clrbuf: a store per word
        self.lock = 2 * c.mem_ref + c.insn


# -------------------------------------------------------------- the file system


class OpenFile:
    """An entry of the kernel's file table: an open inode, its offset and mode."""

    __slots__ = ("ip", "flags", "offset", "refs", "last_lbn")

    def __init__(self, ip: Inode, flags: int) -> None:
        self.ip = ip
        self.flags = flags
        self.offset = 0
        self.refs = 1
        self.last_lbn = -2  # the last block read: the next one is sequential (read-ahead)


class FileSystem:
    """One mounted file system (see the module note)."""

    def __init__(self, k: Scheduler, disk: Any, sb: Super, nbuf: int) -> None:
        self.k = k
        self.disk = disk
        self.sb = sb
        self.c = FsCosts(k)
        self.bio = BufCache(k, disk, nbuf)
        self.icache: dict[int, Inode] = {}
        self.files: set[OpenFile] = set()
        self.locked = False
        self.ibitmap: list[bytearray] = []
        self.bbitmap: list[bytearray] = []
        self.free_blocks = self.free_inodes = 0
        self.calls: dict[str, int] = {}
        self.fadvise_ignored = 0
        self.mounted = True

    # ------------------------------------------------------------ locking

    def lock(self) -> None:
        k = self.k
        k.loop.now += self.c.lock
        while self.locked:
            if not self.bio._in_process():
                raise SysError("EDEADLK", "the file system is locked by a process that is not running")
            k.sleep(("fs", id(self)))
        self.locked = True

    def unlock(self) -> None:
        self.locked = False
        self.k.loop.now += self.c.lock
        self.k.wakeup(("fs", id(self)))

    # ----------------------------------------------------------- bitmaps

    def _load_groups(self) -> None:
        sb = self.sb
        for g in range(sb.ngroups):
            b = self.bio.bread(sb.cgblock(g))
            raw = bytes(self.bio.data(b))
            self.bio.brelse(b)
            magic, grp = CG_HDR.unpack_from(raw, 0)
            if magic != CG_MAGIC or grp != g:
                raise MountError(f"corrupt cylinder group {g}: its block {sb.cgblock(g)} has magic {magic:#x} "
                                 f"and group {grp}")
            ib = bytearray(raw[8:8 + sb.ipg // 8])
            bb = bytearray(raw[8 + sb.ipg // 8:8 + sb.ipg // 8 + -(-sb.bpg // 8)])
            self.ibitmap.append(ib)
            self.bbitmap.append(bb)
        self._count_free()

    def _count_free(self) -> None:
        sb = self.sb
        self.free_blocks = sum(1 for g in range(sb.ngroups) for blk in range(sb.dstart(g), sb.gend(g))
                               if not bit(self.bbitmap[g], blk - sb.gstart(g)))
        self.free_inodes = sum(1 for ino in range(sb.ninodes()) if ino >= ROOTINO
                               and not bit(self.ibitmap[ino // sb.ipg], ino % sb.ipg))

    def _cg_raw(self, g: int) -> bytes:
        return CG_HDR.pack(CG_MAGIC, g) + bytes(self.ibitmap[g]) + bytes(self.bbitmap[g])

    def _cg_dirty(self, g: int) -> None:
        """The group's block, rewritten from the bitmaps in core: a delayed write."""
        b = self.bio.getblk(self.sb.cgblock(g))
        raw = self._cg_raw(g)
        d = self.bio.data(b)
        d[:len(raw)] = raw
        d[len(raw):] = bytes(BSIZE - len(raw))
        self.bio.bdwrite(b)

    def balloc(self, pref: int, owner: int) -> int:
        """A free data block, the first at or after ``pref`` in its group, then in the others
        (FFS's blkpref simplified); ENOSPC if none."""
        sb = self.sb
        if self.free_blocks == 0:
            raise SysError("ENOSPC", f"the disk is full (all {self._data_blocks()} data blocks are in use)")
        g0 = min(max(pref, 0) // sb.bpg, sb.ngroups - 1)
        k = self.k
        for i in range(sb.ngroups):
            g = (g0 + i) % sb.ngroups
            lo = sb.dstart(g)
            start = pref if i == 0 and lo <= pref < sb.gend(g) else lo
            bm = self.bbitmap[g]
            base = sb.gstart(g)
            for blk in (*range(start, sb.gend(g)), *range(lo, start)):
                if not bit(bm, blk - base):
                    k.loop.now += ((blk - start) % sb.bpg // 32 + 1) * self.c.bitmap_word + self.c.alloc
                    set_bit(bm, blk - base, True)
                    self.free_blocks -= 1
                    self._cg_dirty(g)
                    return blk
        raise SysError("ENOSPC", "the disk is full")  # (the free count said otherwise: never)

    def bfree(self, blk: int) -> None:
        """Free ``blk`` (its pointer is already off the disk)."""
        sb = self.sb
        g = blk // sb.bpg
        self.k.loop.now += self.c.alloc
        set_bit(self.bbitmap[g], blk - sb.gstart(g), False)
        self.free_blocks += 1
        self.bio.forget(blk)
        self._cg_dirty(g)

    def _data_blocks(self) -> int:
        sb = self.sb
        return sum(sb.gend(g) - sb.dstart(g) for g in range(sb.ngroups))

    def ialloc(self, parent: int, is_dir: bool) -> int:
        """A free inode: a file's in its directory's group, a directory's in the group with
        the most free inodes (FFS's dirpref, simplified); ENOSPC if none."""
        sb = self.sb
        if self.free_inodes == 0:
            raise SysError("ENOSPC", f"the inode table is full (all {sb.ninodes() - ROOTINO} inodes are in use)")
        groups = list(range(sb.ngroups))
        if is_dir:
            groups.sort(key=lambda g: -self._group_free_inodes(g))
        else:
            g0 = parent // sb.ipg
            groups = groups[g0:] + groups[:g0]
        for g in groups:
            bm = self.ibitmap[g]
            for i in range(sb.ipg):
                ino = g * sb.ipg + i
                if ino >= ROOTINO and not bit(bm, i):
                    self.k.loop.now += (i // 32 + 1) * self.c.bitmap_word + self.c.alloc
                    set_bit(bm, i, True)
                    self.free_inodes -= 1
                    self._cg_dirty(g)
                    return ino
        raise SysError("ENOSPC", "the inode table is full")

    def _group_free_inodes(self, g: int) -> int:
        return sum(1 for i in range(self.sb.ipg) if not bit(self.ibitmap[g], i))

    # ------------------------------------------------------------ inodes

    def iget(self, ino: int) -> Inode:
        """The in-core inode ``ino``, one more reference to it (read from its block if needed)."""
        self.k.loop.now += self.c.iget
        ip = self.icache.get(ino)
        if ip is None:
            blk, off = self.sb.inode_at(ino)
            b = self.bio.bread(blk)
            ip = Inode(ino, self.bio.data(b)[off:off + INODE_SIZE])
            self.bio.brelse(b)
            self.k.loop.now += self.c.inode_copy
            self.icache[ino] = ip
        ip.refs += 1
        return ip

    def iupdat(self, ip: Inode, sync: bool) -> None:
        """Copy ``ip`` into its inode block; write it now (``sync``: metadata) or delayed."""
        blk, off = self.sb.inode_at(ip.ino)
        b = self.bio.bread(blk)
        ip.pack_into(self.bio.data(b), off)
        self.k.loop.now += self.c.inode_copy
        ip.dirty = False
        if sync:
            self.bio.bwrite(b)
        else:
            self.bio.bdwrite(b)

    def iput(self, ip: Inode) -> None:
        """Drop a reference; the last one frees an inode no name holds, writes back a dirty one."""
        ip.refs -= 1
        if ip.refs > 0:
            return
        try:
            if ip.nlink == 0 and ip.mode:
                self.itrunc(ip)
                self.ifree(ip)
            elif ip.dirty:
                self.iupdat(ip, False)
        finally:
            if ip.refs == 0:
                self.icache.pop(ip.ino, None)

    def ifree(self, ip: Inode) -> None:
        """Zero ``ip`` on the disk, then free it in the bitmap (its blocks are gone already)."""
        ip.mode = ip.nlink = 0
        ip.size = ip.nblocks = 0
        ip.gen += 1
        self.iupdat(ip, True)
        sb = self.sb
        g = ip.ino // sb.ipg
        set_bit(self.ibitmap[g], ip.ino % sb.ipg, False)
        self.free_inodes += 1
        self.k.loop.now += self.c.alloc
        self._cg_dirty(g)

    # --------------------------------------------------------- block map

    def _ind_read(self, blk: int, owner: int) -> tuple[Buf, memoryview]:
        b = self.bio.bread(blk, owner)
        b.owner = owner
        return b, self.bio.data(b).cast("I")

    def _new_indirect(self, ip: Inode, pref: int) -> int:
        """A zeroed indirect block, on the disk before anything points to it."""
        blk = self.balloc(pref, ip.ino)
        b = self.bio.getblk(blk)
        self.bio.data(b)[:] = bytes(BSIZE)
        self.k.loop.now += self.c.zero_block
        b.valid = True
        b.owner = ip.ino
        self.bio.bwrite(b)
        ip.nblocks += 1
        return blk

    def bmap(self, ip: Inode, lbn: int, alloc: bool) -> tuple[int, bool]:
        """The disk block of ``ip``'s logical block ``lbn`` (0: a hole), allocating it (and its
        indirect blocks) if ``alloc``: (block, newly allocated)."""
        k, c = self.k, self.c
        k.loop.now += c.bmap
        if lbn >= MAX_FILE_BLOCKS:
            raise SysError("EFBIG", f"block {lbn} is past the largest file ({MAX_FILE_BLOCKS} blocks)")
        pref = self._pref(ip, lbn)
        if lbn < NDADDR:
            blk = ip.db[lbn]
            if blk or not alloc:
                return blk, False
            blk = self.balloc(pref, ip.ino)
            ip.db[lbn] = blk
            ip.nblocks += 1
            ip.dirty = True
            return blk, True
        lbn -= NDADDR
        if lbn < NINDIR:
            if not ip.ib:
                if not alloc:
                    return 0, False
                ip.ib = self._new_indirect(ip, pref)
                ip.dirty = True
            return self._ind_slot(ip, ip.ib, lbn, alloc, pref)
        lbn -= NINDIR
        if not ip.dib:
            if not alloc:
                return 0, False
            ip.dib = self._new_indirect(ip, pref)
            ip.dirty = True
        k.loop.now += c.bmap
        b, words = self._ind_read(ip.dib, ip.ino)
        mid = words[lbn // NINDIR]
        if not mid:
            if not alloc:
                self.bio.brelse(b)
                return 0, False
            self.bio.brelse(b)
            mid = self._new_indirect(ip, pref)
            b, words = self._ind_read(ip.dib, ip.ino)
            words[lbn // NINDIR] = mid
            self._ind_done(ip, b)
        else:
            self.bio.brelse(b)
        return self._ind_slot(ip, mid, lbn % NINDIR, alloc, pref)

    def _ind_slot(self, ip: Inode, ind: int, i: int, alloc: bool, pref: int) -> tuple[int, bool]:
        self.k.loop.now += self.c.bmap
        b, words = self._ind_read(ind, ip.ino)
        blk = words[i]
        if blk or not alloc:
            self.bio.brelse(b)
            return blk, False
        self.bio.brelse(b)
        blk = self.balloc(pref, ip.ino)
        b, words = self._ind_read(ind, ip.ino)
        words[i] = blk
        ip.nblocks += 1
        ip.dirty = True
        self._ind_done(ip, b)
        return blk, True

    def _ind_done(self, ip: Inode, b: Buf) -> None:
        """An indirect block changed: a directory's now (metadata), a file's delayed."""
        if ip.is_dir:
            self.bio.bwrite(b)
        else:
            self.bio.bdwrite(b)

    def _pref(self, ip: Inode, lbn: int) -> int:
        """Where to look for ``lbn``'s block: after the previous block's, else the inode's group."""
        if 0 < lbn <= NDADDR and ip.db[lbn - 1]:
            return ip.db[lbn - 1] + 1
        return self.sb.dstart(ip.ino // self.sb.ipg)

    def blocks_needed(self, ip: Inode, first: int, last: int) -> int:
        """Blocks a write of logical blocks ``first..last`` would allocate (data and indirect)."""
        need = 0
        ind_new: set[tuple[str, int]] = set()
        for lbn in range(first, last + 1):
            if lbn >= MAX_FILE_BLOCKS:
                raise SysError("EFBIG", f"the write runs past the largest file ({MAX_FILE_BLOCKS} blocks)")
            blk, _ = self.bmap(ip, lbn, False)
            if blk:
                continue
            need += 1
            r = lbn - NDADDR
            if 0 <= r < NINDIR and not ip.ib:
                ind_new.add(("single", 0))
            elif r >= NINDIR:
                if not ip.dib:
                    ind_new.add(("double", 0))
                ind_new.add(("middle", (r - NINDIR) // NINDIR))  # an over-count if it exists: safe
        return need + len(ind_new)

    def itrunc(self, ip: Inode) -> None:
        """Empty ``ip``: its pointers cleared on the disk first, then its blocks freed."""
        db, ib, dib = [b for b in ip.db if b], ip.ib, ip.dib
        if not (db or ib or dib or ip.size):
            return
        ip.db = [0] * NDADDR
        ip.ib = ip.dib = 0
        ip.size = 0
        ip.nblocks = 0
        self.iupdat(ip, True)
        for blk in db:
            self.bfree(blk)
        if ib:
            self._free_tree(ib, 1, ip.ino)
        if dib:
            self._free_tree(dib, 2, ip.ino)

    def _free_tree(self, blk: int, level: int, owner: int) -> None:
        b, words = self._ind_read(blk, owner)
        kids = [w for w in words if w]
        self.bio.brelse(b)
        for w in kids:
            if level == 1:
                self.bfree(w)
            else:
                self._free_tree(w, 1, owner)
        self.bfree(blk)

    # -------------------------------------------------------- directories

    def _dir_blocks(self, dp: Inode) -> int:
        return dp.size // BSIZE

    def dirlookup(self, dp: Inode, name: str) -> tuple[int, int, int] | None:
        """The entry ``name`` in directory ``dp``: (ino, logical block, offset), or None."""
        k, c = self.k, self.c
        for lbn in range(self._dir_blocks(dp)):
            blk, _ = self.bmap(dp, lbn, False)
            b = self.bio.bread(blk)
            ents = dir_entries(self.bio.data(b))
            self.bio.brelse(b)
            for n, (off, ino, _, ename) in enumerate(ents, 1):
                if ino and ename == name:
                    k.loop.now += n * c.entry
                    return ino, lbn, off
            k.loop.now += len(ents) * c.entry
        return None

    def direnter(self, dp: Inode, name: str, ino: int, dtype: int) -> None:
        """Add the entry ``name -> ino`` to ``dp``, on the disk when this returns."""
        raw = name.encode()
        need = _entsize(len(raw))
        k, c = self.k, self.c
        for lbn in range(self._dir_blocks(dp)):
            blk, _ = self.bmap(dp, lbn, False)
            b = self.bio.bread(blk)
            d = self.bio.data(b)
            ents = dir_entries(d)
            k.loop.now += len(ents) * c.entry
            for off, eino, reclen, ename in ents:
                used = _entsize(len(ename.encode())) if eino else 0
                if reclen - used >= need:
                    if eino:  # split the entry: it keeps what it uses, the new one the rest
                        _DIRHDR.pack_into(d, off, eino, used, len(ename.encode()), d[off + 7])
                        off, reclen = off + used, reclen - used
                    _DIRHDR.pack_into(d, off, ino, reclen, len(raw), dtype)
                    d[off + 8:off + 8 + len(raw)] = raw
                    self.bio.bwrite(b)
                    return
            self.bio.brelse(b)
        # no room: a new block, written with the entry before the directory grows to hold it
        lbn = self._dir_blocks(dp)
        blk, _ = self.bmap(dp, lbn, True)
        b = self.bio.getblk(blk)
        d = self.bio.data(b)
        d[:] = _empty_dir_block()
        _DIRHDR.pack_into(d, 0, ino, BSIZE, len(raw), dtype)
        d[8:8 + len(raw)] = raw
        b.valid = True
        self.bio.bwrite(b)
        dp.size += BSIZE
        self.iupdat(dp, True)

    def dirremove(self, dp: Inode, lbn: int, off: int) -> None:
        """Remove the entry at ``off`` of block ``lbn`` of ``dp`` (merged into the one before)."""
        blk, _ = self.bmap(dp, lbn, False)
        b = self.bio.bread(blk)
        d = self.bio.data(b)
        prev = None
        for eoff, _, reclen, _ in dir_entries(d):
            if eoff == off:
                break
            prev = (eoff, reclen)
        self.k.loop.now += self.c.entry
        _, reclen, _, _ = _DIRHDR.unpack_from(d, off)
        if prev is None:
            struct.pack_into("<I", d, off, 0)
        else:
            struct.pack_into("<H", d, prev[0] + 4, prev[1] + reclen)
        self.bio.bwrite(b)

    def dirrewrite(self, dp: Inode, lbn: int, off: int, ino: int) -> None:
        """Point the entry at ``off`` of block ``lbn`` of ``dp`` at ``ino`` (one sector written)."""
        blk, _ = self.bmap(dp, lbn, False)
        b = self.bio.bread(blk)
        struct.pack_into("<I", self.bio.data(b), off, ino)
        self.bio.bwrite(b)

    def dirnames(self, dp: Inode) -> list[tuple[str, int]]:
        out: list[tuple[str, int]] = []
        for lbn in range(self._dir_blocks(dp)):
            blk, _ = self.bmap(dp, lbn, False)
            b = self.bio.bread(blk)
            ents = dir_entries(self.bio.data(b))
            self.bio.brelse(b)
            self.k.loop.now += len(ents) * self.c.entry
            out.extend((n, i) for _, i, _, n in ents if i)
        return out

    # --------------------------------------------------------------- namei

    def _components(self, call: str, path: Any) -> list[str]:
        if not isinstance(path, str):
            raise SysError("EINVAL", f"{call}: a path must be a str, not {type(path).__name__}")
        if not path.startswith("/"):
            raise SysError("EINVAL", f"{call}: {path!r} is not an absolute path")
        if path == "/":
            return []
        if path.endswith("/"):
            raise SysError("EINVAL", f"{call}: {path!r} ends with '/'")
        parts = path[1:].split("/")
        for p in parts:
            if p in ("", ".", ".."):
                raise SysError("EINVAL", f"{call}: {path!r} has an empty, '.' or '..' component")
            if len(p.encode()) > NAME_MAX:
                raise SysError("ENAMETOOLONG", f"{call}: a component of {path!r} is longer than {NAME_MAX} bytes")
            if "\0" in p:
                raise SysError("EINVAL", f"{call}: {path!r} holds a NUL byte")
        return parts

    def namei(self, call: str, path: Any) -> Inode:
        """The inode at ``path``, referenced (ENOENT, ENOTDIR)."""
        parts = self._components(call, path)
        dp = self.iget(ROOTINO)
        return self._walk(call, path, dp, parts)

    def _walk(self, call: str, path: str, dp: Inode, parts: list[str]) -> Inode:
        for i, name in enumerate(parts):
            self.k.loop.now += self.c.component
            if not dp.is_dir:
                self.iput(dp)
                raise SysError("ENOTDIR", f"{call}: {'/' + '/'.join(parts[:i])!r} is not a directory")
            e = self.dirlookup(dp, name)
            if e is None:
                self.iput(dp)
                raise SysError("ENOENT", f"{call}: {path!r}: no {'/' + '/'.join(parts[:i + 1])!r}")
            ip = self.iget(e[0])
            self.iput(dp)
            dp = ip
        return dp

    def nameiparent(self, call: str, path: Any) -> tuple[Inode, str]:
        """The directory holding ``path``'s last component (referenced), and that name."""
        parts = self._components(call, path)
        if not parts:
            raise SysError("EBUSY" if call in ("rmdir", "rename") else "EEXIST" if call == "mkdir" else "EISDIR",
                           f"{call}: '/' is the root directory")
        dp = self._walk(call, path, self.iget(ROOTINO), parts[:-1])
        if not dp.is_dir:
            self.iput(dp)
            raise SysError("ENOTDIR", f"{call}: {'/' + '/'.join(parts[:-1])!r} is not a directory")
        return dp, parts[-1]

    # ----------------------------------------------------------- the calls

    def _space(self, call: str, blocks: int, inodes: int) -> None:
        if inodes > self.free_inodes:
            raise SysError("ENOSPC", f"{call}: the inode table is full ({self.sb.ninodes() - ROOTINO} inodes in use)")
        if blocks > self.free_blocks:
            raise SysError("ENOSPC", f"{call}: the disk is full ({self.free_blocks} free blocks, {blocks} needed)")

    def _dir_room(self, dp: Inode, name: str) -> int:
        """Blocks a new entry ``name`` in ``dp`` needs: none if a block has room for it, else
        the new block (and an indirect block for it when the directory is past its direct ones)."""
        need = _entsize(len(name.encode()))
        for lbn in range(self._dir_blocks(dp)):
            blk, _ = self.bmap(dp, lbn, False)
            b = self.bio.bread(blk)
            ents = dir_entries(self.bio.data(b))
            self.bio.brelse(b)
            self.k.loop.now += len(ents) * self.c.entry
            if any(reclen - (_entsize(len(n.encode())) if i else 0) >= need for _, i, reclen, n in ents):
                return 0
        lbn = self._dir_blocks(dp)
        return 1 + (1 if lbn >= NDADDR and not dp.ib else 0)

    def create(self, dp: Inode, name: str, is_dir: bool) -> Inode:
        """A new file or directory ``name`` in ``dp`` (no such name yet), referenced."""
        self._space("create", self._dir_room(dp, name) + (1 if is_dir else 0), 1)
        if is_dir:  # the parent's link count first: the new ".." counts it
            dp.nlink += 1
            self.iupdat(dp, True)
        ino = self.ialloc(dp.ino, is_dir)
        ip = self.iget(ino)
        ip.mode = (IFDIR | 0o755) if is_dir else (IFREG | 0o644)
        ip.size = ip.nblocks = 0
        ip.db, ip.ib, ip.dib = [0] * NDADDR, 0, 0
        ip.nlink = 2 if is_dir else 1
        if is_dir:  # its first block, "." and "..", on the disk before the inode points to it
            blk, _ = self.bmap(ip, 0, True)
            b = self.bio.getblk(blk)
            d = self.bio.data(b)
            d[:] = bytes(BSIZE)
            _DIRHDR.pack_into(d, 0, ino, 12, 1, DT_DIR)
            d[8:9] = b"."
            _DIRHDR.pack_into(d, 12, dp.ino, BSIZE - 12, 2, DT_DIR)
            d[20:22] = b".."
            b.valid = True
            self.bio.bwrite(b)
            ip.size = BSIZE
        self.iupdat(ip, True)  # the inode, initialised, before the entry naming it
        self.direnter(dp, name, ino, DT_DIR if is_dir else DT_REG)
        return ip

    def open(self, path: Any, flags: int, creat: bool, excl: bool, trunc: bool, writing: bool) -> OpenFile:
        dp, name = self.nameiparent("open", path) if path != "/" else (None, "")
        try:
            if dp is None:
                ip = self.iget(ROOTINO)
            else:
                e = self.dirlookup(dp, name)
                if e is None:
                    if not creat:
                        raise SysError("ENOENT", f"open: no such file {path!r}")
                    ip = self.create(dp, name, False)
                else:
                    if creat and excl:
                        raise SysError("EEXIST", f"open: {path!r} exists (O_CREAT | O_EXCL)")
                    ip = self.iget(e[0])
        finally:
            if dp is not None:
                self.iput(dp)
        if ip.is_dir and (writing or trunc):
            self.iput(ip)
            raise SysError("EISDIR", f"open: {path!r} is a directory (it can only be opened for reading)")
        if trunc and writing and ip.size:
            self.itrunc(ip)
        of = OpenFile(ip, flags)
        self.files.add(of)
        return of

    def close_file(self, of: OpenFile) -> None:
        """close(2) of a file descriptor, or its process's end: the lock taken here."""
        self.lock()
        try:
            self.close(of)
        finally:
            self.unlock()

    def close(self, of: OpenFile) -> None:
        of.refs -= 1
        if of.refs == 0:
            self.files.discard(of)
            self.iput(of.ip)

    def read(self, of: OpenFile, n: int) -> bytes:
        ip = of.ip
        if ip.is_dir:
            raise SysError("EISDIR", "read: the descriptor is a directory (use readdir)")
        k = self.k
        n = max(0, min(n, ip.size - of.offset))
        out = bytearray()
        pos = of.offset
        end = pos + n
        while pos < end:
            lbn, o = divmod(pos, BSIZE)
            take = min(BSIZE - o, end - pos)
            blk, _ = self.bmap(ip, lbn, False)
            if blk == 0:
                out += bytes(take)  # a hole
            else:
                if lbn == of.last_lbn + 1 and (lbn + 1) * BSIZE < ip.size:  # sequential: read ahead
                    ra, _ = self.bmap(ip, lbn + 1, False)
                    b = self.bio.breada(blk, ra or -1, ip.ino)
                else:
                    b = self.bio.bread(blk, ip.ino)
                out += self.bio.data(b)[o:o + take]
                self.bio.brelse(b)
            k.charge_copy(take, out=True)  # copyout
            of.last_lbn = lbn
            pos += take
        of.offset = pos
        return bytes(out)

    def write(self, of: OpenFile, data: bytes | bytearray, append: bool) -> int:
        ip = of.ip
        if append:
            of.offset = ip.size
        n = len(data)
        if n == 0:
            return 0
        pos = of.offset
        first, last = pos // BSIZE, (pos + n - 1) // BSIZE
        self._space("write", self.blocks_needed(ip, first, last), 0)
        k = self.k
        done = 0
        while done < n:
            lbn, o = divmod(pos, BSIZE)
            take = min(BSIZE - o, n - done)
            blk, new = self.bmap(ip, lbn, True)
            whole = take == BSIZE
            if whole or new:
                b = self.bio.getblk(blk)
                if not whole:
                    self.bio.data(b)[:] = bytes(BSIZE)
                    k.loop.now += self.c.zero_block
            else:
                b = self.bio.bread(blk, ip.ino)
            b.owner = ip.ino
            self.bio.data(b)[o:o + take] = data[done:done + take]
            k.charge_copy(take, out=False)  # copyin
            b.valid = True
            if o + take == BSIZE:
                self.bio.bawrite(b)  # a full block: written behind at once (ffs_write)
            else:
                self.bio.bdwrite(b)
            pos += take
            done += take
            if pos > ip.size:
                ip.size = pos
            ip.dirty = True
        of.offset = pos
        return done

    def fsync(self, of: OpenFile) -> None:
        ip = of.ip
        self.bio.flush(ip.ino)
        self.iupdat(ip, True)

    def unlink(self, path: Any) -> None:
        dp, name = self.nameiparent("unlink", path)
        try:
            e = self.dirlookup(dp, name)
            if e is None:
                raise SysError("ENOENT", f"unlink: no such file {path!r}")
            ip = self.iget(e[0])
            try:
                if ip.is_dir:
                    raise SysError("EISDIR", f"unlink: {path!r} is a directory (use rmdir)")
                self.dirremove(dp, e[1], e[2])  # the entry first...
                ip.nlink -= 1
                self.iupdat(ip, True)  # ...then the count (and the inode when no one holds it)
            finally:
                self.iput(ip)
        finally:
            self.iput(dp)

    def mkdir(self, path: Any) -> None:
        dp, name = self.nameiparent("mkdir", path)
        try:
            if self.dirlookup(dp, name) is not None:
                raise SysError("EEXIST", f"mkdir: {path!r} exists")
            self.iput(self.create(dp, name, True))
        finally:
            self.iput(dp)

    def rmdir(self, path: Any) -> None:
        dp, name = self.nameiparent("rmdir", path)
        try:
            e = self.dirlookup(dp, name)
            if e is None:
                raise SysError("ENOENT", f"rmdir: no such directory {path!r}")
            ip = self.iget(e[0])
            try:
                if not ip.is_dir:
                    raise SysError("ENOTDIR", f"rmdir: {path!r} is not a directory")
                names = [n for n, _ in self.dirnames(ip) if n not in (".", "..")]
                if names:
                    raise SysError("ENOTEMPTY", f"rmdir: {path!r} holds {len(names)} "
                                                f"name{'s' if len(names) > 1 else ''} ({sorted(names)[0]!r}...)")
                self.dirremove(dp, e[1], e[2])
                ip.nlink = 0
                dp.nlink -= 1  # its ".." no longer counts the parent
                self.iupdat(dp, True)
            finally:
                self.iput(ip)
        finally:
            self.iput(dp)

    def readdir(self, path: Any) -> list[str]:
        ip = self.namei("readdir", path)
        try:
            if not ip.is_dir:
                raise SysError("ENOTDIR", f"readdir: {path!r} is not a directory")
            return sorted(n for n, _ in self.dirnames(ip) if n not in (".", ".."))
        finally:
            self.iput(ip)

    def stat(self, path: Any) -> tuple[int, bool, int, int, int, int]:
        ip = self.namei("stat", path)
        try:
            return ip.ino, ip.is_dir, ip.size, ip.nlink, ip.nblocks, BSIZE
        finally:
            self.iput(ip)

    def rename(self, old: Any, new: Any) -> None:
        op_, oname = self.nameiparent("rename", old)
        held = [op_]
        try:
            e = self.dirlookup(op_, oname)
            if e is None:
                raise SysError("ENOENT", f"rename: no such file {old!r}")
            np_, nname = self.nameiparent("rename", new)
            held.append(np_)
            ip = self.iget(e[0])
            held.append(ip)
            if ip.is_dir and (new + "/").startswith(old + "/"):
                if new == old:
                    return
                raise SysError("EINVAL", f"rename: {new!r} is inside {old!r}")
            t = self.dirlookup(np_, nname)
            if t is not None and t[0] == ip.ino:
                return  # the same file: nothing to do
            if t is not None:
                tip = self.iget(t[0])
                held.append(tip)
                if tip.is_dir:
                    raise SysError("EEXIST", f"rename: {new!r} is a directory")
                if ip.is_dir:
                    raise SysError("ENOTDIR", f"rename: {old!r} is a directory and {new!r} is not")
            else:
                tip = None
                self._space("rename", self._dir_room(np_, nname), 0)
            moving_dir = ip.is_dir and np_.ino != op_.ino
            ip.nlink += 1  # counted before its second name exists
            self.iupdat(ip, True)
            if moving_dir:
                np_.nlink += 1  # before its ".." counts the new parent
                self.iupdat(np_, True)
            if tip is not None and t is not None:
                self.dirrewrite(np_, t[1], t[2], ip.ino)  # the old target loses its name atomically
                tip.nlink -= 1
                self.iupdat(tip, True)
            else:
                self.direnter(np_, nname, ip.ino, DT_DIR if ip.is_dir else DT_REG)
            if moving_dir:
                b = self.bio.bread(ip.db[0])
                d = self.bio.data(b)
                for off, _, _, n in dir_entries(d):
                    if n == "..":
                        struct.pack_into("<I", d, off, np_.ino)
                self.bio.bwrite(b)
            e = self.dirlookup(op_, oname)  # (the new entry may have moved nothing, but look again)
            assert e is not None
            self.dirremove(op_, e[1], e[2])
            if moving_dir:
                op_.nlink -= 1
                self.iupdat(op_, True)
            ip.nlink -= 1
            self.iupdat(ip, True)
        finally:
            for h in reversed(held):
                self.iput(h)

    # ------------------------------------------------------------ sync

    def sync(self) -> None:
        """Every dirty inode and buffer to the disk (sync(2))."""
        for ip in list(self.icache.values()):
            if ip.dirty:
                self.iupdat(ip, False)
        self.bio.flush()

    def unmount(self) -> None:
        """Sync, mark the superblock clean, give the buffers' frames back. A disk that has
        failed is left as it is (what is dirty is lost, as on a crash)."""
        if not self.mounted:
            return
        self.mounted = False
        try:
            if not self.disk.failed:
                self.sync()
                write_super(self, replace(self.sb, 1))
        except SysError:
            pass  # the disk stopped meanwhile: as a crash
        self.bio.drain()
        self.bio.release_frames()
        self.k.irq_handlers.pop(self.disk.irq, None)

    def held(self) -> dict[str, int]:
        """What the file system still holds: busy buffers, open files, in-core inodes."""
        return {"buffers": self.bio.held(), "open_files": len(self.files),
                "inodes": sum(1 for ip in self.icache.values() if ip.refs)}

    def statistics(self) -> dict[str, Any]:
        return {"bio": self.bio.statistics(), "free_blocks": self.free_blocks, "free_inodes": self.free_inodes,
                "open_files": len(self.files), "calls": dict(self.calls), "fadvise_ignored": self.fadvise_ignored}


def bit(bm: bytearray, i: int) -> bool:
    return bool(bm[i >> 3] >> (i & 7) & 1)


def set_bit(bm: bytearray, i: int, on: bool) -> None:
    if on:
        bm[i >> 3] |= 1 << (i & 7)
    else:
        bm[i >> 3] &= ~(1 << (i & 7)) & 0xFF


def replace(sb: Super, clean: int) -> Super:
    return Super(sb.nblocks, sb.ngroups, sb.bpg, sb.ipg, sb.iblocks, clean)


def write_super(fs: FileSystem, sb: Super) -> None:
    b = fs.bio.getblk(SB_BLOCK)
    d = fs.bio.data(b)
    raw = sb.pack()
    d[:] = bytes(BSIZE)
    d[:len(raw)] = raw
    b.valid = True
    fs.bio.bwrite(b)
    fs.sb = sb


# ------------------------------------------------------------- mkfs, mount


def disk_blocks(disk: Any) -> int:
    return int(disk.sectors * disk.sector_bytes // BSIZE)


def _attach(k: Scheduler, disk: Any, sb: Super, nbuf: int) -> FileSystem:
    fs = FileSystem(k, disk, sb, nbuf)
    k.irq_handlers[disk.irq] = fs.bio.biodone
    return fs


def mkfs(k: Scheduler, disk: Any, nbuf: int) -> FileSystem:
    """Format ``disk``: the groups' blocks, the inode tables zeroed (unless the disk is blank,
    when they read as zeros already), the root directory, then the superblock; mounted."""
    per_cyl = disk.per_cylinder * disk.sector_bytes // BSIZE
    sb = geometry(disk_blocks(disk), per_cyl)
    fs = _attach(k, disk, replace(sb, 0), nbuf)
    bio = fs.bio
    for g in range(sb.ngroups):
        ib = bytearray(sb.ipg // 8)
        bb = bytearray(-(-sb.bpg // 8))
        for blk in range(sb.gstart(g), sb.dstart(g)):  # the group's own blocks are never free
            set_bit(bb, blk - sb.gstart(g), True)
        for blk in range(sb.gend(g), sb.gstart(g) + sb.bpg):  # past the disk's end
            set_bit(bb, blk - sb.gstart(g), True)
        if g == 0:
            for ino in range(ROOTINO):
                set_bit(ib, ino, True)
        fs.ibitmap.append(ib)
        fs.bbitmap.append(bb)
        if not disk.blank:
            for blk in range(sb.itable(g), sb.dstart(g)):
                b = bio.getblk(blk)
                bio.data(b)[:] = bytes(BSIZE)
                b.valid = True
                bio.bwrite(b)
    fs._count_free()
    # the root directory: inode 2, "." and ".." both itself
    set_bit(fs.ibitmap[0], ROOTINO, True)
    fs.free_inodes -= 1
    root = fs.iget(ROOTINO)
    root.mode, root.nlink, root.size, root.nblocks = IFDIR | 0o755, 2, 0, 0
    root.db, root.ib, root.dib = [0] * NDADDR, 0, 0
    blk, _ = fs.bmap(root, 0, True)
    b = bio.getblk(blk)
    d = bio.data(b)
    d[:] = bytes(BSIZE)
    _DIRHDR.pack_into(d, 0, ROOTINO, 12, 1, DT_DIR)
    d[8:9] = b"."
    _DIRHDR.pack_into(d, 12, ROOTINO, BSIZE - 12, 2, DT_DIR)
    d[20:22] = b".."
    b.valid = True
    bio.bwrite(b)
    root.size = BSIZE
    fs.iupdat(root, True)
    fs.iput(root)
    for g in range(sb.ngroups):
        b = bio.getblk(sb.cgblock(g))
        raw = fs._cg_raw(g)
        bio.data(b)[:] = raw + bytes(BSIZE - len(raw))
        b.valid = True
        bio.bwrite(b)
    bio.flush()
    write_super(fs, replace(sb, 0))  # mounted: not clean until unmounted
    return fs


def mount(k: Scheduler, disk: Any, format: bool, nbuf: int,  # noqa: A002 - boot's name
          preen: Callable[[FileSystem], Any]) -> FileSystem:
    """Mount ``disk`` (``format``: mkfs first). Refuses, with MountError, a disk that does not
    hold this file system, and one whose preening (``preen``: fsck.preen, which imports this
    module) finds what a crash cannot have left."""
    if format:
        return mkfs(k, disk, nbuf)
    nblocks = disk_blocks(disk)
    if nblocks <= SB_BLOCK:
        raise MountError(f"the disk of {disk.size} bytes is too small to hold a superblock")
    fs = _attach(k, disk, Super(nblocks, 1, nblocks, INOPB, 1, 0), nbuf)
    try:
        b = fs.bio.bread(SB_BLOCK)
        raw = bytes(fs.bio.data(b))
        fs.bio.brelse(b)
        fs.sb = sb = parse_super(raw, nblocks)
        if not sb.clean:
            preen(fs)
        fs._load_groups()
        write_super(fs, replace(sb, 0))
    except (MountError, SysError) as e:
        fs.mounted = False
        fs.bio.drain()
        fs.bio.release_frames()
        k.irq_handlers.pop(disk.irq, None)
        if isinstance(e, SysError):
            raise MountError(f"the disk failed while mounting: {e.message}") from None
        raise
    return fs
