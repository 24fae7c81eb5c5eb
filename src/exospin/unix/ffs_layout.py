"""The on-disk format of the Unix file system (ffs.py): superblock, groups, inodes, directories.

What this models
    The layout of a simplified 4.4BSD FFS volume of 4 KB blocks (no
    fragments): block 0 the boot block, block 1 the superblock (FFS's magic
    0x011954, the geometry, the clean flag, a CRC-32 of the fields), then
    cylinder groups of ``CG_CYLS`` cylinders, each a group block (FFS's
    cg_magic, the inode bitmap, the block bitmap), an inode table of
    128-byte inodes (mode, link count, generation, size, block count, 12
    direct pointers, one single and one double indirect), and data blocks.
    A directory is a file of variable-length entries (inode, record length,
    name length, type, name padded to 4 bytes) chained across each block.

Why it is built this way
    One module for the bytes, shared by the file system (ffs.py, the calls
    in ffs_vnops.py) and the checker (fsck_ffs.py), so both read the disk
    the same way. Parsing refuses anything that is not this format with
    ``MountError`` and a precise reason.

Interface
    The constants (``BSIZE``, ``FS_MAGIC``, ``CG_MAGIC``, ``ROOTINO``,
    ``NDADDR``, ``NINDIR``, ...); ``Super`` (with the layout's arithmetic),
    ``parse_super``, ``geometry``, ``replace``; ``Inode``; ``dir_entries``;
    ``bit``, ``set_bit``; ``MountError``.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from .bio import BSIZE

__all__ = ["BSIZE"]

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
DIRHDR = struct.Struct("<IHBB")  # ino, reclen, namelen, type
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
        ino, reclen, namelen, _ = DIRHDR.unpack_from(raw, off)
        if reclen < DIRHDR.size or reclen % 4 or off + reclen > BSIZE or DIRHDR.size + namelen > reclen:
            raise ValueError(f"a bad entry at offset {off} (record length {reclen}, name length {namelen})")
        name = bytes(raw[off + 8:off + 8 + namelen]).decode("utf-8", "replace")
        out.append((off, ino, reclen, name))
        off += reclen
    return out


def entsize(namelen: int) -> int:
    return DIRHDR.size + (namelen + 3) // 4 * 4


def empty_dir_block() -> bytes:
    return DIRHDR.pack(0, BSIZE, 0, 0) + bytes(BSIZE - DIRHDR.size)


def bit(bm: bytearray, i: int) -> bool:
    return bool(bm[i >> 3] >> (i & 7) & 1)


def set_bit(bm: bytearray, i: int, on: bool) -> None:
    if on:
        bm[i >> 3] |= 1 << (i & 7)
    else:
        bm[i >> 3] &= ~(1 << (i & 7)) & 0xFF


def replace(sb: Super, clean: int) -> Super:
    return Super(sb.nblocks, sb.ngroups, sb.bpg, sb.ipg, sb.iblocks, clean)

