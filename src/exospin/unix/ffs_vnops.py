"""The Unix file system's calls (ufs_vnops.c's part of 4.4BSD), and mkfs and mount.

What this models
    What each posix file call does to the file system, in FFS's order of
    synchronous metadata writes (docs/storage.md, "Ordering"): ``create``
    (an inode written initialised before the entry naming it; a new
    directory's first block before its inode), ``open`` with O_CREAT, O_EXCL
    and O_TRUNC, ``read`` (sequential read-ahead) and ``write`` (partial
    blocks delayed, full blocks written behind, space counted before anything
    is allocated), ``fsync``, ``unlink`` and ``rmdir`` (the entry removed
    before the count drops), ``rename`` (the count raised before the second
    name exists; a directory's ".." rewritten while both names exist),
    ``sync`` and ``unmount``; ``mkfs`` and ``mount`` (the superblock checked,
    a file system not unmounted cleanly preened first).

Why it is built this way
    ``FileSystem`` is ``FfsCore`` (ffs.py: allocation, inodes, the block map,
    directories, namei) with the calls on top, as 4.4BSD's ufs layer sits on
    ffs; fsys.py checks the calls' arguments and takes the lock.

Interface
    ``FileSystem``; ``mkfs(k, disk, nbuf)``; ``mount(k, disk, format, nbuf,
    preen)``; ``write_super``, ``disk_blocks``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from .ffs import FfsCore, OpenFile
from .ffs_layout import (
    BSIZE,
    DIRHDR,
    DT_DIR,
    DT_REG,
    IFDIR,
    IFREG,
    INOPB,
    NDADDR,
    ROOTINO,
    SB_BLOCK,
    Inode,
    MountError,
    Super,
    dir_entries,
    entsize,
    geometry,
    parse_super,
    replace,
    set_bit,
)
from .proc import SysError
from .sched import Scheduler


class FileSystem(FfsCore):
    """One mounted file system: its calls (see the module note)."""

    # ----------------------------------------------------------- the calls

    def _space(self, call: str, blocks: int, inodes: int) -> None:
        if inodes > self.free_inodes:
            raise SysError("ENOSPC", f"{call}: the inode table is full ({self.sb.ninodes() - ROOTINO} inodes in use)")
        if blocks > self.free_blocks:
            raise SysError("ENOSPC", f"{call}: the disk is full ({self.free_blocks} free blocks, {blocks} needed)")

    def _dir_room(self, dp: Inode, name: str) -> int:
        """Blocks a new entry ``name`` in ``dp`` needs: none if a block has room for it, else
        the new block (and an indirect block for it when the directory is past its direct ones)."""
        need = entsize(len(name.encode()))
        for lbn in range(self._dir_blocks(dp)):
            blk, _ = self.bmap(dp, lbn, False)
            b = self.bio.bread(blk)
            ents = dir_entries(self.bio.data(b))
            self.bio.brelse(b)
            self.k.loop.now += len(ents) * self.c.entry
            if any(reclen - (entsize(len(n.encode())) if i else 0) >= need for _, i, reclen, n in ents):
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
            DIRHDR.pack_into(d, 0, ino, 12, 1, DT_DIR)
            d[8:9] = b"."
            DIRHDR.pack_into(d, 12, dp.ino, BSIZE - 12, 2, DT_DIR)
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
                self.dirremove(dp, e[1], e[2])  # the entry first; the count after it, delayed
                ip.nlink -= 1  # (too high on the disk meanwhile: what a preen lowers)
                ip.dirty = True  # iput frees the inode, synchronously, if no one holds it
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
    DIRHDR.pack_into(d, 0, ROOTINO, 12, 1, DT_DIR)
    d[8:9] = b"."
    DIRHDR.pack_into(d, 12, ROOTINO, BSIZE - 12, 2, DT_DIR)
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

