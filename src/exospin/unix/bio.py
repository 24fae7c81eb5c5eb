"""The buffer cache: a fixed pool of block buffers in kernel frames, LRU, with read-ahead.

What this models
    4.3BSD/4.4BSD's ``vfs_bio.c``: every block the file system reads or
    writes goes through one global cache of ``nbuf`` buffers, each one file
    system block (``BSIZE`` bytes) of a kernel frame. A buffer is named by its
    block number (one disk, one file system); the interface is BSD's:

    * ``getblk(blkno)`` the buffer for a block, busy (locked) for the caller,
      its contents valid only if it was cached; ``bread`` the same, read from
      the disk if it was not; ``breada(blkno, ra)`` also starts an
      asynchronous read of block ``ra`` (sequential read-ahead);
    * ``bwrite`` writes it now and waits (synchronous: metadata), ``bawrite``
      starts the write and does not wait (a full data block, written behind),
      ``bdwrite`` marks it dirty and keeps it (a delayed write: it reaches the
      disk when its buffer is reused, at ``fsync`` or at ``sync``);
    * ``brelse`` gives it back: to the tail of the LRU list, or to its head
      if it holds nothing worth keeping.

    A buffer to reuse is the least recently released one that is not busy;
    a dirty one is first written out asynchronously (``getnewbuf``) and the
    next is taken. Every disk operation is a real request to the disk
    (machine/disk.py) by DMA into the buffer's frame; a process waiting for
    one sleeps on the buffer and the disk's completion interrupt
    (``biodone``, installed in ``kernel.irq_handlers[disk.irq]``) wakes it.
    During boot and shutdown there is no process to sleep: the kernel polls,
    idling the clock to the disk's next event, as a BSD kernel's autoconf
    and panic-time dumps do.

Why it is built this way
    One cache for the whole kernel with a fixed replacement policy is the
    thing the exokernel and Cao et al. argue against; it is here as BSD had
    it. The number of buffers is fixed at mount (``param.NBUF``, as 4.4BSD
    sized ``nbuf`` from memory at boot) and the frames are taken from the
    core map then, so the cache never competes with processes for memory.

    Costs are charged from the profile's primitives where a path performs
    them: the hash lookup and list unlinking of ``getblk``, the relinking of
    ``brelse``, the driver's register accesses (the disk charges those) and
    the interrupt's entry and exit. The copy between a buffer and a user
    buffer is the file system's (copyin/copyout, ffs_vnops.py).

Interface
    ``BufCache(kernel, disk, nbuf)``; ``getblk``, ``bread``, ``breada``,
    ``bwrite``, ``bawrite``, ``bdwrite``, ``brelse``, ``data(b)``,
    ``forget(blkno)`` (a freed block's buffer, discarded), ``flush(owner)``
    (every dirty buffer of one file, or all of them, written and waited for),
    ``drain()``, ``release_frames()``, ``held()``, ``statistics()``.
    Raises ``SysError("EIO")`` when the disk fails a request or has stopped.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from greenlet import getcurrent

from ..machine import DiskError, DiskFailed
from .proc import RUNNING, SysError
from .sched import Scheduler

#: Bytes in one file-system block (ffs_layout.py's block size; a buffer holds one).
BSIZE = 4096


@dataclass(frozen=True, slots=True)
class BioStats:
    nbuf: int
    cached: int  # buffers holding a valid block
    dirty: int
    busy: int
    lookups: int
    hits: int
    reads: int  # blocks read from the disk (read-ahead included)
    readaheads: int
    writes: int  # blocks written (synchronous, asynchronous and delayed)
    sync_writes: int
    async_writes: int
    delayed_writes: int  # bdwrite calls
    evictions: int
    dirty_evictions: int  # a dirty buffer written out to be reused
    errors: int  # requests the disk failed


class Buf:
    """One buffer: a block's place in a kernel frame."""

    __slots__ = ("n", "blkno", "pfn", "off", "valid", "dirty", "busy", "io", "write", "async_", "error",
                 "owner")

    def __init__(self, n: int, pfn: int, off: int) -> None:
        self.n = n  # its index (the wait channel's name)
        self.blkno = -1  # the block it holds (-1: none)
        self.pfn = pfn
        self.off = off
        self.valid = False  # its bytes are the block's
        self.dirty = False  # delayed write: newer than the disk
        self.busy = False  # a caller (or the disk) has it
        self.io = False  # a disk request is in flight
        self.write = False
        self.async_ = False  # released by biodone when the request ends
        self.error = ""
        self.owner = 0  # the inode whose data it holds (0: metadata); fsync flushes by owner

    def __repr__(self) -> str:
        return f"<buf {self.n} blk {self.blkno}{' dirty' if self.dirty else ''}{' busy' if self.busy else ''}>"


class BufCache:
    """The kernel's buffer cache on one disk (see the module note)."""

    def __init__(self, k: Scheduler, disk: Any, nbuf: int) -> None:
        if k.page < BSIZE or k.page % BSIZE:
            raise ValueError(f"a {BSIZE}-byte buffer needs pages of a multiple of {BSIZE} bytes, not {k.page}")
        self.k = k
        self.disk = disk
        self.spb = BSIZE // disk.sector_bytes  # sectors per block
        per = k.page // BSIZE
        self.frames: list[int] = []
        self.bufs: list[Buf] = []
        for i in range(nbuf):
            if i % per == 0:
                self.frames.append(k.frames.alloc("buf"))
                k.loop.now += k.c.frame_alloc
            self.bufs.append(Buf(i, self.frames[-1], (i % per) * BSIZE))
        self.frameset = frozenset(self.frames)
        self.hash: dict[int, Buf] = {}
        self.lru: OrderedDict[int, Buf] = OrderedDict((b.n, b) for b in self.bufs)  # idle, oldest first
        self.inflight: dict[int, Buf] = {}  # disk tag -> buffer
        c = k.c
        self.c_lookup = 3 * c.mem_ref + c.insn  # hash the block number, walk the chain, test B_BUSY
        self.c_unlink = 2 * c.mem_ref  # off the free list (bremfree)
        self.c_relse = 3 * c.mem_ref + c.insn  # onto the LRU tail, flags, wakeup test
        self.c_start = 4 * c.mem_ref + 2 * c.insn  # the strategy routine: block to sector, flags
        self.c_done = 4 * c.mem_ref + c.insn  # biodone per buffer: flags, tag lookup
        self.lookups = self.hits = self.reads = self.readaheads = self.writes = 0
        self.sync_writes = self.async_writes = self.delayed_writes = 0
        self.evictions = self.dirty_evictions = self.errors = 0
        self.nbuf = nbuf

    # ------------------------------------------------------------ waiting

    def _idle_wait(self, what: str) -> None:
        """No process to sleep (boot, shutdown): idle the clock to the next event."""
        if not self.k.loop.skip_to_next():
            raise SysError("EIO", f"{what}: the disk has nothing in flight to wait for")

    def _in_process(self) -> bool:
        k = self.k
        return k.current is not None and getcurrent() is not k._root

    def _wait(self, b: Buf) -> None:
        """Until ``b``'s request completes (biowait)."""
        while b.io:
            if self._in_process():
                self.k.sleep(("buf", b.n))
            else:
                self._idle_wait(f"block {b.blkno}")

    def _wait_any(self) -> None:
        """Until some request completes (every buffer busy, or the disk's queue full)."""
        if not self.inflight:
            raise SysError("ENOBUFS", f"every one of the {self.nbuf} buffers is held and none has I/O in flight")
        if self._in_process():
            self.k.sleep("bufs")
        else:
            self._idle_wait("a buffer")

    # ----------------------------------------------------------- the cache

    def data(self, b: Buf) -> memoryview:
        """The bytes of ``b`` (a view of its frame)."""
        return self.k.memory.span(b.pfn, b.off, BSIZE)

    def incore(self, blkno: int) -> bool:
        return blkno in self.hash

    def getblk(self, blkno: int) -> Buf:
        """The buffer for ``blkno``, busy for the caller (its contents valid iff ``b.valid``)."""
        k = self.k
        while True:
            k.loop.now += self.c_lookup
            self.lookups += 1
            b = self.hash.get(blkno)
            if b is not None:
                if b.busy:  # another's, or the disk's: wait and look again
                    if b.io:
                        self._wait(b)
                    else:
                        self._wait_any()
                    continue
                self.hits += b.valid
                break
            b = self._getnewbuf()
            if b is None:
                continue  # it slept: the block may have come in meanwhile
            if b.blkno >= 0:
                del self.hash[b.blkno]
                self.evictions += 1
            b.blkno, b.valid, b.dirty, b.error, b.owner = blkno, False, False, "", 0
            self.hash[blkno] = b
            break
        self.lru.pop(b.n, None)
        k.loop.now += self.c_unlink
        b.busy = True
        return b

    def _getnewbuf(self) -> Buf | None:
        """The least recently used idle buffer if it is clean; None if the caller must look
        again: there was none (we waited), or the oldest was dirty (its write is started)."""
        if not self.lru:
            self._wait_any()
            return None
        b = next(iter(self.lru.values()))
        if not b.dirty:
            return b
        self.lru.pop(b.n)  # dirty: write it out asynchronously, then look again
        b.busy = True
        self.dirty_evictions += 1
        self._start(b, True, True)
        return None

    def bread(self, blkno: int, owner: int = 0) -> Buf:
        """The buffer for ``blkno``, busy and valid (read from the disk if not cached)."""
        b = self.getblk(blkno)
        if not b.valid:
            b.owner = owner
            self._start(b, False, False)
            self._wait(b)
            self._check(b)
        return b

    def breada(self, blkno: int, ra: int, owner: int = 0) -> Buf:
        """``bread(blkno)``, and an asynchronous read of block ``ra`` if it is not cached."""
        b = self.bread(blkno, owner)
        if ra >= 0 and ra not in self.hash and len(self.inflight) < self.disk.queue_depth:
            r = self.getblk(ra)
            if r.valid:
                self.brelse(r)
            else:
                r.owner = owner
                self.readaheads += 1
                self._start(r, False, True)
        return b

    def _check(self, b: Buf) -> None:
        if b.error:
            why = b.error
            b.valid = False
            self.brelse(b)
            raise SysError("EIO", f"block {b.blkno}: {why}")

    def bwrite(self, b: Buf) -> None:
        """Write ``b`` now and wait; then release it (raises SysError EIO)."""
        self.sync_writes += 1
        self._start(b, True, False)
        self._wait(b)
        if b.error:
            why = b.error
            self.brelse(b)
            raise SysError("EIO", f"writing block {b.blkno}: {why}")
        self.brelse(b)

    def bawrite(self, b: Buf) -> None:
        """Start writing ``b``; biodone releases it."""
        self.async_writes += 1
        self._start(b, True, True)

    def bdwrite(self, b: Buf) -> None:
        """Mark ``b`` dirty and release it: a delayed write."""
        self.delayed_writes += 1
        b.dirty = True
        b.valid = True
        self.brelse(b)

    def brelse(self, b: Buf) -> None:
        """Give ``b`` back: LRU tail if it holds a block, head if not."""
        k = self.k
        k.loop.now += self.c_relse
        b.busy = False
        if not b.valid and not b.dirty and b.blkno >= 0:
            del self.hash[b.blkno]
            b.blkno = -1
        self.lru[b.n] = b
        if b.blkno < 0:
            self.lru.move_to_end(b.n, last=False)
        k.wakeup("bufs")

    def forget(self, blkno: int) -> None:
        """Block ``blkno`` was freed: its cached contents (even dirty) mean nothing now."""
        b = self.hash.get(blkno)
        if b is not None and not b.busy:
            b.dirty = b.valid = False
            del self.hash[blkno]
            b.blkno = -1
            self.lru.move_to_end(b.n, last=False)

    # ------------------------------------------------------------ the disk

    def _start(self, b: Buf, write: bool, async_: bool) -> None:
        """The strategy routine: queue ``b``'s request at the disk."""
        k = self.k
        while len(self.inflight) >= self.disk.queue_depth:
            self._wait_any()
        k.loop.now += self.c_start
        b.write, b.async_, b.error = write, async_, ""
        if write:
            b.dirty = False
            self.writes += 1
        else:
            self.reads += 1
        try:
            op = self.disk.write if write else self.disk.read
            tag = op(b.blkno * self.spb, self.spb, b.pfn, b.off, self.frameset)
        except DiskFailed as e:
            self.errors += 1
            b.error = str(e)
            if async_:  # nobody waits for it: it goes back now (a read-ahead, a write behind)
                b.valid = b.valid and write
                self.brelse(b)
            return
        except DiskError as e:  # a request the disk refused: a bug in the file system
            raise SysError("EIO", f"block {b.blkno}: the disk refused the request: {e}") from None
        b.io = True
        self.inflight[tag] = b

    def biodone(self, irq: int) -> None:
        """The disk's interrupt: take every completion, wake whoever waits for each."""
        k = self.k
        k.loop.now += k.c.entry
        self.disk.ack()
        woke = k.wakeups
        while (c := self.disk.complete()) is not None:
            b = self.inflight.pop(c.tag, None)
            if b is None:
                continue
            k.loop.now += self.c_done
            b.io = False
            if not c.ok:
                self.errors += 1
                b.error = c.error
            if not b.write:
                b.valid = c.ok
            if b.async_:
                b.async_ = False
                if b.error and not b.write:
                    b.valid = False
                self.brelse(b)
            k.wakeup(("buf", b.n))
            k.wakeup("bufs")
        t = k.current
        if k.wakeups != woke and t is not None and t.state == RUNNING and getcurrent() is not k._root:
            k.preemptions += 1  # a sleeper at PRIBIO outranks a user-mode thread: need_resched
            k._make_runnable(t)
            k._swtch()
        k.loop.now += k.c.exit_checks + k.c.leave

    # ----------------------------------------------------------- flushing

    def flush(self, owner: int | None = None) -> None:
        """Write every dirty buffer (of inode ``owner``, or all) and wait for them all
        (fsync, sync); raises SysError EIO if one failed."""
        started = []
        for b in list(self.lru.values()):
            if b.dirty and not b.busy and (owner is None or b.owner == owner):
                self.lru.pop(b.n)
                b.busy = True
                self.async_writes += 1
                self._start(b, True, False)
                started.append(b)
        why = ""
        for b in started:
            self._wait(b)
            why = why or (f"writing block {b.blkno}: {b.error}" if b.error else "")
            self.brelse(b)
        if owner is not None:  # its writes already in flight (written behind) must land too
            for b in list(self.inflight.values()):
                if b.owner == owner:
                    self._wait(b)
                    why = why or (f"writing block {b.blkno}: {b.error}" if b.error else "")
        if why:
            raise SysError("EIO", why)

    def drain(self) -> None:
        """Wait until no request is in flight."""
        while self.inflight:
            self._idle_wait("the disk") if not self._in_process() else self._wait(next(iter(self.inflight.values())))

    def held(self) -> int:
        """Buffers still busy (a caller that never released one)."""
        return sum(1 for b in self.bufs if b.busy)

    def release_frames(self) -> None:
        """Unmount: give the buffers' frames back to the core map."""
        for pfn in self.frames:
            self.k.frames.unref(pfn)
            self.k.loop.now += self.k.c.frame_free
        self.frames = []
        self.hash.clear()
        self.lru.clear()

    def statistics(self) -> BioStats:
        bs = self.bufs
        return BioStats(
            self.nbuf, sum(1 for b in bs if b.valid), sum(1 for b in bs if b.dirty), sum(1 for b in bs if b.busy),
            self.lookups, self.hits, self.reads, self.readaheads, self.writes, self.sync_writes,
            self.async_writes, self.delayed_writes, self.evictions, self.dirty_evictions, self.errors,
        )
