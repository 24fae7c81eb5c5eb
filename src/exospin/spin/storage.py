"""SPIN's disk driver and buffer cache: a kernel service whose replacement policy is an event.

What this models
    The storage half of SPIN's extensible services (Bershad et al., SOSP
    1995, section 4: the kernel exports devices and memory as interfaces;
    file systems and caching policies are extensions), with the policy
    interface Cao, Felten and Li argue for (application-controlled file
    caching, SIGMETRICS 1994 / OSDI 1994): the kernel decides *when* a
    block must be replaced, the application *which*.

    The kernel owns the disk (machine/disk.py): its driver queues requests
    by DMA into the cache's frames, takes the disk's completion interrupt
    (``irq_handlers[disk.irq]``) and wakes the strand that waits for each
    request (a strand blocks, it never spins; at boot and shutdown, with no
    strand to block, the driver idles the clock to the disk's next event, as
    a kernel's autoconfiguration does). Above it, a cache of ``nbuf`` block
    buffers (``BSIZE`` bytes each, in frames the service took at attach)
    named by block number. When a block must come in and no buffer is free,
    the cache raises ``BufferCache.Victim(candidates, owners)``:
    ``candidates`` is the tuple of the idle cached blocks, least recently
    used first, ``owners`` the file (inode number) whose data each holds, 0
    for metadata; the handler returns the block to replace. The default (no handler) is LRU, the
    first candidate. An application installs its own policy with
    ``Cache.policy(fn)`` from a verified extension it loads; an answer that
    is not one of the candidates is ignored (LRU is used, counted as
    ``policy_refused``), and a handler that raises or overruns its budget is
    terminated by the dispatcher (its extension unloaded): the event falls
    back to its default and the cache goes on under LRU, nothing lost (the
    dirty victim is written before its buffer is reused, whoever chose it).

    The file system is an extension too (spin/ext/sfs.py): it reads and
    writes blocks through ``spin.Cache`` and never sees a frame.

Why it is built this way
    The policy decision is one event with one small argument (block
    numbers), so the dispatcher's cost per replacement is one raise and the
    policy cannot reach a buffer's bytes, a frame, or another file's data.
    The cache's own mechanisms (lookup, the LRU order, write-back of a
    dirty victim, waiting for the disk) stay in the kernel: a broken policy
    can make replacement worse, never unsafe. Buffers handed to the file
    system are capabilities (fields ``_``): it reads and writes their bytes
    through ``Cache.get``/``Cache.put``, charged per word copied.

    Costs charged where performed, from the profile's primitives: the hash
    lookup and list relinking, the strategy routine, the interrupt's
    completion handling per request, the copies; the disk charges its own
    register accesses.

Authority
    Block access (``spin.Cache``, domain ``SpinStorage``) links only into a
    trusted extension: the file system, which the kernel loads verified and
    trusted. The policy interface (``spin.CachePolicy``, domain
    ``SpinCachePolicy``) links into any extension: it installs a Victim
    handler, which sees block and inode numbers only.

Interface
    ``StorageService(kernel, disk, nbuf)`` registers the kernel domains
    ``SpinStorage`` (interface ``spin.Cache``) and ``SpinCachePolicy``
    (``spin.CachePolicy``); ``attach(system, disk,
    format)`` builds one for a booted ``SpinSystem``, loads the file system
    extension and mounts (``MountRefused`` for an image that does not hold
    it, nothing left behind); ``detach()``; ``held()``; ``statistics()``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from greenlet import getcurrent

from ..machine import DiskError, DiskFailed
from .dispatcher import Event
from .domain import Domain, anyone, trusted_only
from .kernel import Binding, Spin, _fail

#: Bytes in one file-system block (a buffer holds one; a page holds one or more).
BSIZE = 4096


class MountRefused(ValueError):
    """The disk does not hold a SPIN file system (or a corrupt one): refused, never reformatted."""


class Buf:
    """A block's buffer, as the file system holds it between ``read`` and ``release``."""

    __slots__ = ("_n", "_blkno", "_frame", "_off", "_valid", "_dirty", "_busy", "_owner")

    def __init__(self, n: int, frame: Any, off: int) -> None:
        self._n = n
        self._blkno = -1
        self._frame = frame
        self._off = off
        self._valid = False
        self._dirty = False
        self._busy = False
        self._owner = 0

    def __repr__(self) -> str:
        return f"<Buf {self._n} block {self._blkno}>"


@dataclass(frozen=True, slots=True)
class StorageStats:
    nbuf: int
    cached: int
    dirty: int
    busy: int
    lookups: int
    hits: int
    reads: int  # blocks read from the disk
    writes: int  # blocks written to the disk
    evictions: int
    dirty_evictions: int
    victim_raises: int  # BufferCache.Victim raised (a replacement decision)
    policy_refused: int  # a policy's answer that was not a candidate (LRU used)
    errors: int  # requests the disk failed or refused


class StorageService:
    """The driver, the cache and the ``SpinStorage`` domain of one SPIN kernel."""

    def __init__(self, kernel: Spin, disk: Any, nbuf: int = 32) -> None:
        if type(nbuf) is not int or nbuf < 2:
            raise ValueError(f"StorageService: nbuf is an int >= 2, not {nbuf!r}")
        m = kernel.m
        p = m.profile
        if p.page_size < BSIZE or p.page_size % BSIZE:
            raise ValueError(f"a {BSIZE}-byte buffer needs pages of a multiple of {BSIZE} bytes")
        if disk.irq in kernel.irq_handlers:
            raise ValueError(f"StorageService: interrupt {disk.irq} already has a handler")
        self.k = kernel
        self.disk = disk
        self.nbuf = nbuf
        self.nblocks = disk.size // BSIZE
        self.spb = BSIZE // disk.sector_bytes
        self._loop = m.loop
        self._mem = m.memory
        per = p.page_size // BSIZE
        self.frames: list[Any] = []
        self.bufs: list[Buf] = []
        for i in range(nbuf):
            if i % per == 0:
                self.frames.append(kernel.memory.allocate())
            self.bufs.append(Buf(i, self.frames[-1], (i % per) * BSIZE))
        self.frameset = frozenset(f._pfn for f in self.frames)
        self.hash: dict[int, Buf] = {}
        self.lru: OrderedDict[int, Buf] = OrderedDict()  # idle cached buffers, least recent first
        self.free: list[Buf] = list(reversed(self.bufs))  # holding no block
        self.done: dict[int, tuple[bool, str]] = {}  # disk tag -> (ok, why) once completed
        self.waiters: dict[int, Any] = {}  # disk tag -> the strand blocked on it
        self.inflight = 0
        self.bufwait: dict[int, list[Any]] = {}  # buffer -> strands waiting for it to be released
        c_ref, c_insn = p.mem_ref, p.insn
        self.c_lookup = 3 * c_ref + c_insn  # hash the block number, walk the chain, test busy
        self.c_relink = 2 * c_ref  # off or onto the LRU list
        self.c_start = 4 * c_ref + 2 * c_insn  # block to sector, flags, queue the request
        self.c_done = 4 * c_ref + c_insn  # per completion: tag lookup, flags, wake-up test
        self.lookups = self.hits = self.reads = self.writes = 0
        self.evictions = self.dirty_evictions = self.victim_raises = self.policy_refused = 0
        self.errors = 0
        self.Victim = kernel.dispatcher.define(Event("BufferCache.Victim", (tuple, tuple), int, default=self._lru,
                                                     result_handler=lambda rs: rs[0]))
        kernel.irq_handlers[disk.irq] = self._interrupt
        self.domain = Domain.kernel("SpinStorage", {"spin.Cache": {
            "read": self._read, "fresh": self._fresh, "get": self._get, "put": self._put,
            "release": self._release, "delayed": self._delayed, "write": self._write,
            "flush": self._flush, "forget": self._forget, "nblocks": lambda: self.nblocks,
            "BSIZE": BSIZE,
        }})
        #: the policy interface, open to any extension: it sees block numbers, never bytes
        self.policy_domain = Domain.kernel("SpinCachePolicy", {"spin.CachePolicy": {
            "install": self._policy, "uninstall": kernel._uninstall,
        }})
        # the blocks themselves only to a file system the kernel trusts (sfs.py, loaded trusted)
        kernel.names.register("SpinStorage", self.domain, trusted_only)
        kernel.names.register("SpinCachePolicy", self.policy_domain, anyone)
        kernel.services.append(("SpinStorage", self.domain))
        kernel.services.append(("SpinCachePolicy", self.policy_domain))

    # ------------------------------------------------------------ the driver

    def _interrupt(self, irq: int) -> None:
        """The disk's completion interrupt: take every completion, wake its waiter."""
        self.disk.ack()
        self._take()

    def _take(self) -> None:
        loop = self._loop
        while (c := self.disk.complete()) is not None:
            loop.now += self.c_done
            self.inflight -= 1
            if not c.ok:
                self.errors += 1
            self.done[c.tag] = (c.ok, c.error)
            s = self.waiters.pop(c.tag, None)
            if s is not None:
                self.k.sched.unblock(s)

    def _io(self, b: Buf, write: bool) -> str:
        """One request for ``b``'s block, waited for; "" or why it failed."""
        self._loop.now += self.c_start
        op = self.disk.write if write else self.disk.read
        try:
            tag = op(b._blkno * self.spb, self.spb, b._frame._pfn, b._off, self.frameset)
        except DiskFailed as e:
            self.errors += 1
            return str(e)
        except DiskError as e:  # a request the disk refused: the block number is out of range
            self.errors += 1
            return f"the disk refused the request: {e}"
        self.inflight += 1
        if write:
            self.writes += 1
        else:
            self.reads += 1
        sched = self.k.sched
        while tag not in self.done:
            if sched.current is not None and getcurrent() is not sched.root:
                self.waiters[tag] = sched.current
                sched.block()
            elif not self._loop.skip_to_next():  # boot or shutdown: idle until it completes
                return "the disk has nothing in flight to wait for"
            else:
                self._take()
        ok, why = self.done.pop(tag)
        return "" if ok else why

    # ------------------------------------------------------------ the cache

    @staticmethod
    def _lru(candidates: tuple[int, ...], owners: tuple[int, ...]) -> int:
        return candidates[0]

    def _victim(self) -> Any:
        """A buffer for a new block: a free one, else the policy's choice among the idle."""
        if self.free:
            return self.free.pop()
        if not self.lru:
            return _fail("ENOBUFS", f"every one of the {self.nbuf} buffers is held")
        candidates = tuple(self.lru)
        owners = tuple(b._owner for b in self.lru.values())
        self.victim_raises += 1
        choice = self.Victim.raise_(candidates, owners)
        b = self.lru.get(choice) if type(choice) is int else None
        if b is None:
            self.policy_refused += 1
            b = self.lru[candidates[0]]
        self._loop.now += self.c_relink
        del self.lru[b._blkno]
        self.evictions += 1
        if b._dirty:
            self.dirty_evictions += 1
            b._busy = True
            why = self._io(b, True)
            b._busy = False
            if why:  # the block stays dirty and cached: nothing is lost while the disk lives
                self.lru[b._blkno] = b
                return _fail("EIO", f"writing back block {b._blkno}: {why}")
            b._dirty = False
        del self.hash[b._blkno]
        b._blkno, b._valid = -1, False
        self._wake(b)
        return b

    def _lookup(self, blkno: Any, who: str) -> Any:
        if type(blkno) is not int or not 0 <= blkno < self.nblocks:
            raise ValueError(f"Cache.{who}: a block number from 0 to {self.nblocks - 1}, not {blkno!r}")
        self.lookups += 1
        self._loop.now += self.c_lookup
        b = self.hash.get(blkno)
        sched = self.k.sched
        while b is not None and b._busy:  # another strand holds it (or its I/O is in flight)
            if sched.current is None or getcurrent() is sched.root:
                raise RuntimeError(f"Cache.{who}: block {blkno} is already held (release it first)")
            self.bufwait.setdefault(b._n, []).append(sched.current)
            sched.block()
            b = self.hash.get(blkno)
        if b is not None:
            self.hits += 1
            self._loop.now += self.c_relink
            del self.lru[blkno]
            b._busy = True
        return b

    def _claim(self, blkno: int) -> Any:
        b = self._victim()
        if b.__class__ is not Buf:
            return b
        b._blkno, b._busy, b._owner = blkno, True, 0
        self.hash[blkno] = b
        return b

    def _read(self, blkno: Any, owner: Any = 0) -> Any:
        """spin.Cache.read: the buffer of ``blkno``, held, its bytes the block's (or EIO);
        ``owner`` (not 0): the file whose data it holds (what a policy sees of it)."""
        b = self._lookup(blkno, "read")
        if b is None:
            b = self._claim(blkno)
        if b.__class__ is not Buf:
            return b
        if type(owner) is int and owner > 0:
            b._owner = owner
        if b._valid:
            return b
        why = self._io(b, False)
        if why:
            self._drop(b)
            return _fail("EIO", f"reading block {blkno}: {why}")
        b._valid = True
        return b

    def _fresh(self, blkno: Any) -> Any:
        """spin.Cache.fresh: the buffer of ``blkno``, held and zeroed, not read (a new block)."""
        b = self._lookup(blkno, "fresh")
        if b is None:
            b = self._claim(blkno)
            if b.__class__ is not Buf:
                return b
        self._mem.span(b._frame._pfn, b._off, BSIZE)[:] = bytes(BSIZE)
        self.k.copy_bytes(BSIZE)
        b._valid = True
        return b

    def _drop(self, b: Buf) -> None:
        del self.hash[b._blkno]
        b._blkno, b._valid, b._busy, b._dirty = -1, False, False, False
        self.free.append(b)
        self._wake(b)

    def _held(self, b: Any, who: str) -> Buf:
        if b.__class__ is not Buf or not b._busy:
            raise ValueError(f"Cache.{who}: a buffer held from Cache.read or Cache.fresh, not {b!r}")
        return b  # type: ignore[no-any-return]

    def _get(self, b: Any, off: Any, n: Any) -> bytes:
        """spin.Cache.get: ``n`` bytes of the block from ``off``."""
        b = self._held(b, "get")
        if type(off) is not int or type(n) is not int or off < 0 or n < 0 or off + n > BSIZE:
            raise ValueError(f"Cache.get: bytes {off!r}+{n!r} of a {BSIZE}-byte block")
        self.k.copy_bytes(n)
        return bytes(self._mem.span(b._frame._pfn, b._off + off, n))

    def _put(self, b: Any, off: Any, data: Any) -> None:
        """spin.Cache.put: store ``data`` into the block at ``off`` (in the cache only)."""
        b = self._held(b, "put")
        if type(data) is not bytes or type(off) is not int or off < 0 or off + len(data) > BSIZE:
            raise ValueError(f"Cache.put: bytes at {off!r} of a {BSIZE}-byte block")
        self.k.copy_bytes(len(data))
        self._mem.span(b._frame._pfn, b._off + off, len(data))[:] = data

    def _release(self, b: Any) -> None:
        """spin.Cache.release: give the buffer back (to the most recently used end)."""
        b = self._held(b, "release")
        b._busy = False
        self._loop.now += self.c_relink
        self.lru[b._blkno] = b
        self._wake(b)

    def _wake(self, b: Buf) -> None:
        for s in self.bufwait.pop(b._n, ()):
            self.k.sched.unblock(s)

    def _delayed(self, b: Any, owner: Any = 0) -> None:
        """spin.Cache.delayed: the block is dirty; it reaches the disk when replaced or
        flushed (``owner``: the file it belongs to, for ``flush``)."""
        b = self._held(b, "delayed")
        b._dirty = True
        b._owner = owner if type(owner) is int else 0
        self._release(b)

    def _write(self, b: Any) -> Any:
        """spin.Cache.write: write the block now, wait, release; 0 or an EIO fail value."""
        b = self._held(b, "write")
        why = self._io(b, True)
        if why:
            b._dirty = True
            self._release(b)
            return _fail("EIO", f"writing block {b._blkno}: {why}")
        b._dirty = False
        self._release(b)
        return 0

    def _flush(self, owner: Any = None) -> Any:
        """spin.Cache.flush: write every dirty block (of file ``owner``, or all); 0 or EIO."""
        for b in [b for b in self.lru.values() if b._dirty and (owner is None or b._owner == owner)]:
            del self.lru[b._blkno]
            b._busy = True
            r = self._write(b)
            if r != 0:
                return r
        return 0

    def _forget(self, blkno: Any) -> None:
        """spin.Cache.forget: block ``blkno`` was freed; its cached bytes (even dirty) go."""
        b = self.hash.get(blkno)
        if b is not None and not b._busy:
            del self.lru[blkno]
            self._drop(b)

    def _policy(self, fn: Any) -> Binding:
        """spin.CachePolicy.install: ``fn(candidates, owners) -> block`` decides every replacement while
        installed (the installing extension's; uninstalled with it)."""
        return self.k._install(self.Victim, fn, [])

    # ------------------------------------------------------------ the rest

    def held(self) -> dict[str, int]:
        """Buffers a caller still holds (0 unless something leaked)."""
        return {"buffers": sum(1 for b in self.bufs if b._busy)}

    def detach(self) -> None:
        """Unmount: dirty blocks written, the interrupt handler removed, frames given back."""
        if self.k.irq_handlers.get(self.disk.irq) == self._interrupt:
            if not self.disk.failed:
                self._flush(None)
            del self.k.irq_handlers[self.disk.irq]
        for f in self.frames:
            self.k.memory.deallocate(f)
        self.frames.clear()
        self.hash.clear()
        self.lru.clear()
        for name, d in (("SpinStorage", self.domain), ("SpinCachePolicy", self.policy_domain)):
            if self.k.names.registered(name) is d:
                self.k.names.unregister(name)
                self.k.services.remove((name, d))

    def statistics(self) -> StorageStats:
        bs = self.bufs
        return StorageStats(self.nbuf, sum(1 for b in bs if b._valid), sum(1 for b in bs if b._dirty),
                            sum(1 for b in bs if b._busy), self.lookups, self.hits, self.reads, self.writes,
                            self.evictions, self.dirty_evictions, self.victim_raises, self.policy_refused,
                            self.errors)


def attach(system: Any, disk: Any, format: bool, nbuf: int = 32) -> StorageService:  # noqa: A002
    """Give a ``SpinSystem`` its storage: the driver and cache on ``disk``, the Unix
    personality, and the file system extension (sfs.py), formatted if ``format``, else
    mounted (``MountRefused`` if the disk does not hold it; nothing is left behind)."""
    from . import extensions

    k: Spin = system.kernel
    if system.storage is not None:
        raise ValueError("attach: this system already has its storage")
    svc = StorageService(k, disk, nbuf)
    system.storage = svc
    d = None
    try:
        system._unix("pids")  # the Unix personality (sfs links against it)
        d = k.load(extensions.source("sfs"), "sfs.py", trusted=True)  # verified; may link spin.Cache
        system.fs_domain = d
        r = system._fs("mount", bool(format))
        if not (type(r) is int and r == 0):
            raise MountRefused(f"{getattr(r, 'errno', 'EINVAL')}: {getattr(r, 'message', r)}")
    except BaseException:
        if d is not None and d in k.extensions:
            k.unload(d, "mount failed")
        system.fs_domain = None
        svc.detach()
        system.storage = None
        raise
    return svc


__all__ = ["BSIZE", "Buf", "MountRefused", "StorageService", "StorageStats", "attach"]
