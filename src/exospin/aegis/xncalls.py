"""Aegis' disk system calls: XN's secure bindings for disk blocks (xn.py).

What this models
    The system-call side of XN (Kaashoek et al., SOSP 1997, section 4.3): a
    library file system registers its metadata templates (UDFs), makes or
    mounts a root, allocates blocks by number, reads blocks into the
    kernel's buffer-cache registry, changes metadata only through
    ``xn_update`` (which its UDF must agree with) and writes blocks back in
    an order that never puts an invalid pointer on the disk. Each call that
    moves data to or from the disk sleeps until the disk's interrupt.

Why it is built this way
    A subclass of the network's system-call surface (which subclasses the
    base one), so every other call is found exactly where it was. Each call
    checks all of its arguments before it changes anything and raises an
    :class:`~exospin.aegis.xn.XNError` (or another ``AegisError``) naming what
    was wrong; the trap and the checks are charged (``syscall``,
    ``cap_check``, a load per block record read), the UDFs charge for their
    own code (the verifier's cost model), the disk driver for its registers.

Interface (the caller is always the current environment)
    xn_info() -> (blocks, block_bytes, formatted or why not);
    xn_format(force=False); xn_free_blocks(n=None) -> [block];
    xn_type(source, budget=UDF_BUDGET) -> type; xn_root_create(name, type, block, key) -> cap;
    xn_mount(name, key) -> (cap, block, type); xn_unmount(cap);
    xn_alloc(cap, block, type); xn_read(cap, block, frame=None) -> frame cap;
    xn_update(cap, block, offset, data, gain=(), lose=()); xn_write(cap, block);
    xn_release(cap, block); xn_lookup(block) -> frame | None; xn_statistics().
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .caps import Capability, Rights
from .errors import AegisError, BadArgument, BadEnvironment, BadFrame
from .netcalls import NetSyscalls
from .xn import (
    DATA,
    FREEING,
    INIT,
    KERNEL_OWNER,
    MAX_NAME,
    MAX_ROOTS,
    MAX_TYPES,
    MAX_UDF_BUDGET,
    UDF_BUDGET,
    UNINIT,
    XN,
    BadBlock,
    BadDisk,
    Buf,
    DiskIOError,
    Root,
    XNStats,
)


class XNSyscalls(NetSyscalls):
    """Aegis' system calls with XN's (see the module note)."""

    def _xn(self, call: str, need_catalogue: bool = True) -> XN:
        k = self._k
        xn = k.xn
        if xn is None:
            raise BadEnvironment(f"{call}: this machine has no disk")
        k.loop.now += k.c.syscall
        if not xn.loaded:
            with self._catalogue(xn):
                if not xn.loaded:
                    try:
                        xn.load()
                    except BaseException:
                        xn.unload()  # a failed read of the catalogue or a tree: the next call tries again
                        raise
                    xn.loaded = True
        if need_catalogue and xn.bad:
            xn.refused += 1
            raise BadDisk(f"{call}: {xn.bad}")
        return xn  # type: ignore[no-any-return]

    @contextmanager
    def _catalogue(self, xn: XN) -> Iterator[None]:
        """One call at a time reads or writes XN's catalogue (through its scratch frame, during
        whose I/O the caller sleeps): the others wait, a slice at a time."""
        while xn.cat_busy:
            self.sleep(self._loop.now + self._k.quantum)
        xn.cat_busy = True
        try:
            yield
        finally:
            xn.cat_busy = False

    def _refuse(self, xn: XN, e: AegisError) -> AegisError:
        xn.refused += 1
        return e

    def _root(self, xn: XN, call: str, cap: Any) -> Root:
        self._cap(call, cap, "xnroot", Rights.READ)
        self._k.loop.now += self._k.c.cap_check
        return xn.roots[cap.resource]

    def _block(self, xn: XN, call: str, r: Root, block: Any) -> int:
        if type(block) is not int or not 0 <= block < xn.nblocks:
            raise self._refuse(xn, BadBlock(f"{call}: block must be an int in 0..{xn.nblocks - 1}, not {block!r}"))
        self._k.loop.now += self._k.m.profile.mem_ref  # the block's owner record
        o = xn.owner[block]
        if o != r.id:
            who = "free" if o == 0 else "XN's own" if o < 0 else "another file system's"
            raise self._refuse(xn, BadBlock(f"{call}: block {block} is not root {r.name!r}'s (it is {who})"))
        if xn.state[block] == FREEING:
            raise self._refuse(xn, BadBlock(f"{call}: block {block} is being freed (its parent's write is pending)"))
        return block

    # ------------------------------------------------------------ catalogue

    def xn_info(self) -> tuple[int, int, str]:
        """(blocks on the disk, bytes per block, "" if the disk holds an XN catalogue, else why not)."""
        xn = self._xn("xn_info", need_catalogue=False)
        return xn.nblocks, xn.bb, xn.bad

    def xn_format(self, force: bool = False) -> None:
        """Write an empty XN catalogue. Refused on a disk that holds one (or anything else in
        block 0) unless ``force``; refused while any root is mounted or any block cached."""
        xn = self._xn("xn_format", need_catalogue=False)
        if type(force) is not bool:
            raise self._refuse(xn, BadArgument(f"xn_format: force must be a bool, not {force!r}"))
        if not force and not xn.bad.startswith("the disk is blank"):
            why = "it holds an XN catalogue" if not xn.bad else xn.bad
            raise self._refuse(xn, BadDisk(f"xn_format: refused: {why} (force=True reformats)"))
        if any(r.mounters for r in xn.roots.values()) or xn.registry:
            raise self._refuse(xn, BadDisk("xn_format: a root is mounted or a block cached"))
        with self._catalogue(xn):
            xn.format()

    def xn_free_blocks(self, n: int | None = None) -> list[int]:
        """The lowest ``n`` free blocks (all if None): XN's free map is exposed, as the frames'
        is (syscalls.free_frames); the read is charged per word of the map and per bit taken."""
        xn = self._xn("xn_free_blocks")
        if n is not None and (type(n) is not int or n < 1):
            raise self._refuse(xn, BadArgument(f"xn_free_blocks: n must be a positive int or None, not {n!r}"))
        out: list[int] = []
        last = xn.nblocks - 1
        for b in range(MAX_TYPES + 1, xn.nblocks):
            if not xn.owner[b]:
                out.append(b)
                if n is not None and len(out) == n:
                    last = b
                    break
        self._k.loop.now += (last // self._bitmap_word + 1) * self._c_bitmap_word + len(out) * self._c_bitmap_bit
        return out

    def xn_type(self, source: str, budget: int = UDF_BUDGET) -> int:
        """Register a metadata template: ``source`` defines ``owns(block: bytes)``, returning the
        (block, type) pairs a block of this type points to (type 0: data). Verified (the safe
        subset and the UDF rule, verifier/udf.py), run on a zeroed block (which must point
        nowhere), stored on the disk. The same source and budget again give the same type."""
        xn = self._xn("xn_type")
        if not isinstance(source, str):
            raise self._refuse(xn, BadArgument(f"xn_type: source must be a str, not {type(source).__name__}"))
        if type(budget) is not int or not 1 <= budget <= MAX_UDF_BUDGET:
            raise self._refuse(xn, BadArgument(f"xn_type: budget must be an int from 1 to {MAX_UDF_BUDGET}, "
                                               f"not {budget!r}"))
        try:
            with self._catalogue(xn):
                return xn.add_type(source, budget)
        except AegisError:
            xn.refused += 1
            raise

    def xn_root_create(self, name: str, type_: int, block: int, key: bytes) -> Capability:
        """Make a root named ``name``: free block ``block``, of metadata type ``type_``, written
        zeroed and then named in the catalogue; ``key`` is what ``xn_mount`` will ask for.
        Returns the root's capability (all rights); the root is mounted by you."""
        xn = self._xn("xn_root_create")
        if not isinstance(name, str) or not 0 < len(name.encode()) <= MAX_NAME:
            raise self._refuse(xn, BadArgument(f"xn_root_create: name must be a str of 1 to {MAX_NAME} bytes, "
                                               f"not {name!r}"))
        if any(r.name == name for r in xn.roots.values()):
            raise self._refuse(xn, BadArgument(f"xn_root_create: a root named {name!r} exists"))
        if len(xn.roots) >= MAX_ROOTS:
            raise self._refuse(xn, BadArgument(f"xn_root_create: the catalogue holds {MAX_ROOTS} roots already"))
        if type(type_) is not int or type_ not in xn.types:
            raise self._refuse(xn, BadArgument(f"xn_root_create: {type_!r} is not a registered metadata type"))
        if type(block) is not int or not MAX_TYPES < block < xn.nblocks or xn.owner[block]:
            raise self._refuse(xn, BadBlock(f"xn_root_create: block {block!r} is not a free block"))
        if not isinstance(key, bytes):
            raise self._refuse(xn, BadArgument(f"xn_root_create: key must be bytes, not {type(key).__name__}"))
        me = self._k.current
        assert me is not None
        with self._catalogue(xn):
            if xn.owner[block] or any(r.name == name for r in xn.roots.values()):  # taken while we waited
                raise self._refuse(xn, BadBlock(f"xn_root_create: block {block} or the name {name!r} was taken"))
            r = xn.add_root(me, name, type_, block, key)
        return self._k.caps.mint("xnroot", r.id, Rights.ALL)

    def xn_mount(self, name: str, key: bytes) -> tuple[Capability, int, int]:
        """The capability of the root named ``name`` if ``key`` is its key, with its block and
        type. Refused for a root whose tree the walk found damaged (the reason is given)."""
        xn = self._xn("xn_mount")
        r = next((r for r in xn.roots.values() if r.name == name), None) if isinstance(name, str) else None
        if r is None:
            raise self._refuse(xn, BadArgument(f"xn_mount: no root named {name!r}"))
        if not isinstance(key, bytes) or not hmac.compare_digest(hashlib.sha256(key).digest(), r.key):
            raise self._refuse(xn, BadArgument(f"xn_mount: wrong key for root {name!r}"))
        if r.damaged:
            raise self._refuse(xn, BadDisk(f"xn_mount: {r.damaged}"))
        me = self._k.current
        assert me is not None
        r.mounters.add(me.id)
        self._k.loop.now += self._k.c.cap_check
        return self._k.caps.mint("xnroot", r.id, Rights.ALL), r.block, r.type

    def xn_unmount(self, cap: Capability) -> None:
        """You stop using the root; when no environment has it mounted its capabilities die."""
        xn = self._xn("xn_unmount")
        r = self._root(xn, "xn_unmount", cap)
        me = self._k.current
        assert me is not None
        if me.id not in r.mounters:
            raise self._refuse(xn, BadArgument(f"xn_unmount: you have not mounted root {r.name!r}"))
        r.mounters.discard(me.id)
        if not r.mounters:
            self._k.caps.revoke_all("xnroot", r.id)

    # --------------------------------------------------------------- blocks

    def xn_alloc(self, cap: Capability, block: int, type_: int) -> None:
        """Allocate free block ``block`` to the root, of ``type_`` (0: data), unattached and
        uninitialised: an ``xn_update`` of a metadata block of yours must attach it; if you die
        first it is free again."""
        xn = self._xn("xn_alloc")
        r = self._root(xn, "xn_alloc", cap)
        if type(block) is not int or not MAX_TYPES < block < xn.nblocks:
            raise self._refuse(xn, BadBlock(f"xn_alloc: block must be an int in {MAX_TYPES + 1}..{xn.nblocks - 1}, "
                                            f"not {block!r}"))
        if type(type_) is not int or (type_ != DATA and type_ not in xn.types):
            raise self._refuse(xn, BadArgument(f"xn_alloc: {type_!r} is not 0 (data) or a registered type"))
        o = xn.owner[block]
        if o:
            who = "XN's" if o < 0 else "yours already" if o == r.id else "another file system's"
            raise self._refuse(xn, BadBlock(f"xn_alloc: block {block} is not free (it is {who})"))
        me = self._k.current
        assert me is not None
        self._k.loop.now += 3 * self._k.m.profile.mem_ref  # the free map, the block's record
        xn.owner[block], xn.state[block], xn.btype[block], xn.parent[block] = r.id, UNINIT, type_, -1
        xn.allocated(me, block)

    def xn_read(self, cap: Capability, block: int, frame: Capability | None = None) -> Capability:
        """A capability for the frame caching ``block`` (READ; READ and WRITE for a data block).
        If no environment has it cached, give ``frame`` (yours, OWNER): it becomes the
        registry's, the block is read into it (an uninitialised block reads as zeroes, with no
        I/O: what the disk holds there is not yours), and you sleep until the read is done."""
        xn = self._xn("xn_read")
        r = self._root(xn, "xn_read", cap)
        b = self._block(xn, "xn_read", r, block)
        k = self._k
        me = k.current
        assert me is not None
        buf = xn.registry.get(b)
        if buf is None:
            if frame is None:
                raise self._refuse(xn, BadFrame(f"xn_read: block {b} is not cached: give a frame to read it into"))
            self._cap("xn_read", frame, "frame", Rights.OWNER)
            pfn = frame.resource
            if k.frame_owner[pfn] != me.id:
                raise self._refuse(xn, BadFrame(f"xn_read: frame {pfn} is not yours"))
            if k.net is not None and pfn in k.net.ring_frames:
                raise self._refuse(xn, BadFrame(f"xn_read: frame {pfn} is in a packet ring"))
            k._release_frame(pfn)  # your bindings and capabilities of it die: it is the registry's now
            k._check_revocation_satisfied(me)
            k.frame_owner[pfn] = KERNEL_OWNER
            xn.frames.add(pfn)
            buf = Buf(b, pfn)
            xn.registry[b] = buf
            k.loop.now += 2 * k.m.profile.mem_ref  # the registry entry
            if xn.state[b] == UNINIT:
                k.memory.zero(pfn)
                k.loop.now += k.c.frame_zero
            else:
                buf.filling = True
                try:
                    xn.io("read", b, pfn)
                except BaseException:
                    del xn.registry[b]
                    xn._drop_frame(pfn)
                    raise
                finally:
                    buf.filling = False
        else:
            xn.hits += 1
            k.loop.now += k.m.profile.mem_ref  # the registry lookup
            buf.refs.add(me.id)  # a use now, so that the reader's release does not drop it meanwhile
            while buf.filling:  # another environment's read of it is in flight: wait for it
                self.sleep(self._loop.now + k.quantum)
            if xn.registry.get(b) is not buf:
                raise self._refuse(xn, DiskIOError(f"xn_read: block {b}: the read that was bringing it in failed"))
        buf.refs.add(me.id)
        rights = Rights.READ | Rights.WRITE if xn.btype[b] == DATA else Rights.READ
        out = k.caps.mint("frame", buf.pfn, rights)
        buf.caps.setdefault(me.id, []).append(out)
        self._boundary()
        return out

    def _cached(self, xn: XN, call: str, r: Root, block: Any) -> Buf:
        b = self._block(xn, call, r, block)
        buf = xn.registry.get(b)
        me = self._k.current
        assert me is not None
        if buf is None or me.id not in buf.refs:
            raise self._refuse(xn, BadBlock(f"{call}: block {b} is not in the registry for you (xn_read it first)"))
        if buf.busy:
            raise self._refuse(xn, BadBlock(f"{call}: block {b}: a write of it is in flight"))
        return buf

    def xn_update(self, cap: Capability, block: int, offset: int, data: bytes,
                  gain: Any = (), lose: Any = ()) -> None:
        """Change ``len(data)`` bytes at ``offset`` of cached metadata block ``block``, claiming
        the blocks the change makes it point to (``gain``) and no longer point to (``lose``).
        The kernel runs the block's UDF before and after: the difference must be exactly the
        claim; a gained block must be free or one you allocated and did not attach; a lost
        one is freed once this block's copy without it is on the disk."""
        xn = self._xn("xn_update")
        r = self._root(xn, "xn_update", cap)
        buf = self._cached(xn, "xn_update", r, block)
        if xn.btype[block] == DATA:
            raise self._refuse(xn, BadBlock(f"xn_update: block {block} is a data block: write its frame"))
        if not isinstance(data, bytes) or type(offset) is not int or offset < 0 or offset + len(data) > xn.bb:
            raise self._refuse(xn, BadArgument(f"xn_update: data must be bytes inside the block "
                                               f"(offset {offset!r}, {xn.bb} bytes a block)"))
        sets = []
        for what, v in (("gain", gain), ("lose", lose)):
            if not isinstance(v, list | tuple | set | frozenset) or any(type(x) is not int for x in v):
                raise self._refuse(xn, BadArgument(f"xn_update: {what} must be a collection of block numbers"))
            sets.append(set(v))
        try:
            xn.update(r, buf.block, offset, data, sets[0], sets[1])
        except AegisError:
            xn.refused += 1
            raise

    def xn_write(self, cap: Capability, block: int) -> None:
        """Write cached ``block`` to the disk and sleep until it is there. A metadata block is
        refused while its UDF names a block not yet initialised on the disk (write that one
        first); once it is written, the blocks it dropped are free."""
        xn = self._xn("xn_write")
        r = self._root(xn, "xn_write", cap)
        buf = self._cached(xn, "xn_write", r, block)
        try:
            xn.write_check(buf.block)
        except AegisError:
            xn.refused += 1
            raise
        freed = xn.pending_free.pop(buf.block, [])
        buf.busy = True
        try:
            xn.io("write", buf.block, buf.pfn)
        except BaseException:
            if freed:
                xn.pending_free.setdefault(buf.block, []).extend(freed)
            raise
        finally:
            buf.busy = False
        xn.state[buf.block] = INIT  # on the disk
        buf.dirty = False
        xn.release_after_write(buf.block, freed)

    def xn_release(self, cap: Capability, block: int) -> None:
        """You no longer use cached ``block``: your capabilities for its frame die; when no
        environment uses it and it is clean, the registry drops it and its frame is free."""
        xn = self._xn("xn_release")
        r = self._root(xn, "xn_release", cap)
        buf = self._cached(xn, "xn_release", r, block)
        me = self._k.current
        assert me is not None
        if buf.dirty and buf.refs == {me.id}:
            raise self._refuse(xn, BadBlock(f"xn_release: block {block} is dirty: write it first"))
        buf.refs.discard(me.id)
        for c in buf.caps.pop(me.id, ()):
            self._k.caps.revoke(c)
        if not buf.refs:
            del xn.registry[buf.block]
            xn._drop_frame(buf.pfn)

    def xn_lookup(self, block: int) -> int | None:
        """The frame caching ``block``, or None: the registry is exposed to every environment."""
        xn = self._xn("xn_lookup")
        if type(block) is not int or not 0 <= block < xn.nblocks:
            raise self._refuse(xn, BadBlock(f"xn_lookup: block must be an int in 0..{xn.nblocks - 1}, not {block!r}"))
        buf = xn.registry.get(block)
        return None if buf is None else buf.pfn

    def xn_statistics(self) -> XNStats:
        """XN's counters (a kernel page read)."""
        return self._xn("xn_statistics", need_catalogue=False).statistics()
