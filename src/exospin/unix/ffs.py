"""The Unix file system: a simplified 4.4BSD FFS, in the kernel, on the buffer cache (its core).

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

    The file system is three modules, as 4.4BSD's is several files:
    ffs_layout.py the bytes on the disk (shared with fsck_ffs.py); this one
    the machinery (``FfsCore``: the lock, the bitmaps and the allocators,
    in-core inodes, the block map with its indirect blocks, truncation,
    directory entries, namei), as ffs_alloc.c, ffs_balloc.c, ffs_inode.c and
    ufs_lookup.c; ffs_vnops.py the calls on top, with mkfs and mount.

Interface
    ``FfsCore`` (``FileSystem``'s base, ffs_vnops.py): ``lock``/``unlock``,
    ``balloc``/``bfree``, ``ialloc``/``ifree``, ``iget``/``iupdat``/``iput``,
    ``bmap``, ``blocks_needed``, ``itrunc``, ``dirlookup``, ``direnter``,
    ``dirremove``, ``dirrewrite``, ``dirnames``, ``namei``, ``nameiparent``;
    ``OpenFile`` (an entry of the kernel's file table); ``FsCosts``.
"""

from __future__ import annotations

import struct
from typing import Any

from .bio import Buf, BufCache
from .ffs_layout import (
    BSIZE,
    CG_HDR,
    CG_MAGIC,
    DIRHDR,
    INODE_SIZE,
    MAX_FILE_BLOCKS,
    NAME_MAX,
    NDADDR,
    NINDIR,
    ROOTINO,
    Inode,
    MountError,
    Super,
    bit,
    dir_entries,
    empty_dir_block,
    entsize,
    set_bit,
)
from .proc import SysError
from .sched import Scheduler

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


class FfsCore:
    """The file system's machinery: lock, allocation, inodes, block map, directories, namei."""

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
        need = entsize(len(raw))
        k, c = self.k, self.c
        for lbn in range(self._dir_blocks(dp)):
            blk, _ = self.bmap(dp, lbn, False)
            b = self.bio.bread(blk)
            d = self.bio.data(b)
            ents = dir_entries(d)
            k.loop.now += len(ents) * c.entry
            for off, eino, reclen, ename in ents:
                used = entsize(len(ename.encode())) if eino else 0
                if reclen - used >= need:
                    if eino:  # split the entry: it keeps what it uses, the new one the rest
                        DIRHDR.pack_into(d, off, eino, used, len(ename.encode()), d[off + 7])
                        off, reclen = off + used, reclen - used
                    DIRHDR.pack_into(d, off, ino, reclen, len(raw), dtype)
                    d[off + 8:off + 8 + len(raw)] = raw
                    self.bio.bwrite(b)
                    return
            self.bio.brelse(b)
        # no room: a new block, written with the entry before the directory grows to hold it
        lbn = self._dir_blocks(dp)
        blk, _ = self.bmap(dp, lbn, True)
        b = self.bio.getblk(blk)
        d = self.bio.data(b)
        d[:] = empty_dir_block()
        DIRHDR.pack_into(d, 0, ino, BSIZE, len(raw), dtype)
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
        _, reclen, _, _ = DIRHDR.unpack_from(d, off)
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

