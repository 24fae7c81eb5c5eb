"""The disk: a 1990s SCSI drive with a seek curve, a spinning platter, a request queue and DMA.

What this models
    One HP 97560 (1.3 GB, 5.25-inch, SCSI-2), as Ruemmler and Wilkes model
    it ("An introduction to disk drive modeling", IEEE Computer 27(3), March
    1994; the same drive as Kotz, Toh and Radhakrishnan's detailed model,
    Dartmouth PCS-TR94-220): 1962 cylinders of 19 tracks of 72 sectors of
    512 bytes, turning at 4002 rpm, with the paper's two-part seek curve.
    A request reads or writes ``count`` consecutive sectors (numbered from 0
    in cylinder, head, sector order) into or from a physically contiguous
    buffer the kernel names (a frame number and an offset, running on into
    the next frames), by DMA. Its service time is

        controller overhead
        + positioning: seek(d) to a cylinder d away, else a head switch to
          another track of the same cylinder, else nothing
        + rotational latency: until the first sector comes under the head
        + transfer: one sector time per sector, with a head switch (or a
          one-cylinder seek) where the request runs on onto the next track,
          and the rotation to that track's first sector.

    The platter's angle is the simulated clock's: at time 0 sector boundary
    0 is under the head, and slot ``k`` (the k-th sector boundary since) is
    at ``k x 60 s / (rpm x sectors per track)``. Logical sector ``j`` of
    track ``(c, h)`` is at angle ``(j + skew(c, h)) mod 72`` with the drive's
    track skew (8 sectors per head switch) and cylinder skew (18 per
    cylinder), so a transfer running onto the next track loses no
    revolution. Nothing in it is random.

    When a request finishes, the data are in memory (read) or on the platter
    (write), a :class:`Completion` is queued for the driver, and the disk
    raises its interrupt (``irq``); the line stays asserted until ``ack()``.
    Requests wait in a queue served one at a time in the order a policy
    picks (``fcfs``, ``sstf``, ``clook``: :data:`POLICIES`).

    Crash injection (as System/161's doom counter): after
    ``fail_after_writes(n)`` the disk stops when its n-th write since the
    call has completed; the platter keeps exactly the writes that completed,
    every request queued or in service then completes with an error, and a
    later request is refused with :class:`DiskFailed`.

Why it is built this way
    Time is kept in picoseconds (as the network's wire time, link.py): a
    sector passes in 208.2 us, a whole number of neither cycles nor
    nanoseconds; a completion is taken at the first cycle at or after it.
    The drive's own work (seeking, turning, moving data) delays the
    completion without charging the processor; the driver pays for its
    accesses to the SCSI controller's registers (``io_write``/``io_read``,
    profiles.py) at the counts in :data:`HOST`.

    Contents are real bytes: in a host image file when one is given (read
    and written in place; a fresh image is created at the disk's size, as a
    sparse file, so unwritten sectors read as zeros), else in memory, a
    track allocated on its first write. ``cylinders`` gives a smaller disk:
    the first cylinders of the drive, as a partition, with the same timing.

    Bad input changes nothing: a request outside the disk, of no sectors, a
    buffer outside memory, not word-aligned (the DMA engine moves words) or
    not in the requester's frames (``frames``: what the kernel says the
    requester owns), a full queue, an image of the wrong size: each is
    refused with :class:`DiskError` before anything is charged or queued.

Interface
    ``Disk(machine, image=None, cylinders=None, policy="fcfs", queue_depth=64)``;
    ``read(sector, count, pfn, offset=0, frames=None) -> tag``, ``write(...)``;
    ``ack() -> int``; ``complete() -> Completion | None``;
    ``fail_after_writes(n)``; ``close()``; ``irq``, ``sectors``,
    ``sector_bytes``, ``size``, ``failed``; ``statistics()``.
    :data:`HP97560` (:class:`DiskSpec`: every figure with unit and source),
    ``seek_ps(d)``, ``location(sector)``.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol

from .link import PS_PER_S, Figure

if TYPE_CHECKING:
    from .events import Scheduled
    from .machine import Machine

#: The interrupt line of a machine's first disk; its n-th disk raises IRQ_DISK + n
#: (after the timer's, 0, and the NICs', 1 onwards).
IRQ_DISK = 16
READ = "read"
WRITE = "write"
_PS_PER_US = 1_000_000


class DiskError(ValueError):
    """A request or an image the disk refuses (nothing was charged, queued or changed)."""


class DiskFailed(DiskError):
    """The disk has stopped (crash injection): it serves no more requests."""


@dataclass(frozen=True, slots=True)
class DiskSpec:
    """A drive: its geometry and timing, each figure with unit and source."""

    name: str
    description: str
    figures: Mapping[str, Figure]

    def __getattr__(self, name: str) -> int:
        try:
            return self.figures[name].value
        except KeyError:
            raise AttributeError(name) from None


_RW = "Ruemmler & Wilkes, An introduction to disk drive modeling, IEEE Computer 27(3), 1994, table 1 (HP 97560)"
_KOTZ = "Kotz, Toh & Radhakrishnan, A detailed simulation model of the HP 97560 disk drive, Dartmouth PCS-TR94-220, 1994"
_53C94 = "NCR 53C94 (the DECstation 5000's and DEC 3000's SCSI controller, ASC) register interface"

HP97560 = DiskSpec(
    name="hp97560",
    description="HP 97560: 1.3 GB, 5.25-inch, SCSI-2, 4002 rpm (Ruemmler & Wilkes's drive)",
    figures=MappingProxyType({
        "cylinders": Figure(1962, "cylinders", _RW),
        "heads": Figure(19, "tracks per cylinder (data surfaces)", _RW),
        "sectors_per_track": Figure(72, "sectors", _RW),
        "sector_bytes": Figure(512, "bytes", _RW),
        "rpm": Figure(4002, "revolutions per minute", _RW),
        "track_skew": Figure(8, "sectors", f"{_RW}: covers a head switch (8 sectors are 1.67 ms)"),
        "cylinder_skew": Figure(18, "sectors", f"{_RW}: covers a one-cylinder seek (18 sectors are 3.75 ms)"),
        "head_switch_us": Figure(1600, "us", f"{_KOTZ}, after {_RW} (as recalled, not re-checked: docs/storage.md)"),
        "seek_short_us": Figure(3240, "us", f"{_RW}: seek(d) = 3.24 + 0.400 sqrt(d) ms for d < 383 cylinders"),
        "seek_short_sqrt_us": Figure(400, "us per sqrt(cylinder)", _RW),
        "seek_boundary": Figure(383, "cylinders", f"{_RW}: the short formula below, the long one from here"),
        "seek_long_us": Figure(8000, "us", f"{_RW}: seek(d) = 8.00 + 0.008 d ms for d >= 383 cylinders"),
        "seek_long_per_cyl_ns": Figure(8000, "ns per cylinder", _RW),
        "controller_us": Figure(2200, "us per request", f"{_KOTZ}: the controller's overhead, after {_RW} "
                                "(as recalled, not re-checked: docs/storage.md)"),
    }),
)

#: What the driver does at the SCSI controller per step, in register accesses. An
#: estimate: a SCSI transaction's phases (selection, disconnect, reselection, status,
#: message) are collapsed into one command and one completion interrupt.
HOST: Mapping[str, Figure] = MappingProxyType({
    "submit_writes": Figure(15, "io_write", f"{_53C94}: destination id, transfer count (2), a 10-byte READ/WRITE(10) "
                                            "command block into the FIFO, the DMA address, the select command"),
    "ack_reads": Figure(3, "io_read", f"{_53C94}: status, sequence step, and interrupt register (whose read clears it)"),
    "complete_reads": Figure(2, "io_read", f"{_53C94}: the SCSI status byte and the message byte from the FIFO"),
})


def seek_ps(d: int, spec: DiskSpec = HP97560) -> int:
    """The seek time over ``d`` cylinders, in picoseconds (0 for d = 0)."""
    if d <= 0:
        return 0
    if d < spec.seek_boundary:
        return spec.seek_short_us * _PS_PER_US + round(spec.seek_short_sqrt_us * _PS_PER_US * math.sqrt(d))
    return spec.seek_long_us * _PS_PER_US + d * spec.seek_long_per_cyl_ns * 1000


@dataclass(frozen=True, slots=True)
class Completion:
    """A finished request: what it was, where its buffer is, and whether it worked."""

    tag: int
    op: str  # READ or WRITE
    sector: int
    count: int
    pfn: int
    offset: int
    ok: bool
    error: str  # why not, when not ok ("" otherwise)


@dataclass(frozen=True, slots=True)
class DiskStats:
    drive: str
    cylinders: int
    sectors: int
    policy: str
    requests: int  # accepted
    reads: int  # completed
    writes: int  # completed
    sectors_read: int
    sectors_written: int
    seeks: int
    seek_cylinders: int  # total seek distance
    head_switches: int
    busy_us: float
    queued: int  # waiting now (not counting the one in service)
    max_queued: int
    refused: int
    failed: int  # requests completed with an error
    interrupts: int
    stopped: bool


class _Request:
    __slots__ = ("tag", "op", "sector", "count", "pfn", "offset", "cylinder")

    def __init__(self, tag: int, op: str, sector: int, count: int, pfn: int, offset: int, cylinder: int) -> None:
        self.tag = tag
        self.op = op
        self.sector = sector
        self.count = count
        self.pfn = pfn
        self.offset = offset
        self.cylinder = cylinder


class Policy(Protocol):
    """Which waiting request the disk serves next."""

    name: str

    def pick(self, queue: Sequence[_Request], cylinder: int) -> int:
        """The index in ``queue`` (oldest first, never empty) of the next request, with the
        heads at ``cylinder``."""
        ...


class FCFS:
    """First come, first served."""

    name = "fcfs"

    def pick(self, queue: Sequence[_Request], cylinder: int) -> int:
        return 0


class SSTF:
    """Shortest seek time first: the nearest cylinder (ties: the oldest)."""

    name = "sstf"

    def pick(self, queue: Sequence[_Request], cylinder: int) -> int:
        return min(range(len(queue)), key=lambda i: abs(queue[i].cylinder - cylinder))


class CLook:
    """C-LOOK: sweep towards higher cylinders, the nearest at or above the heads first
    (ties: the oldest); past the last, back to the lowest waiting."""

    name = "clook"

    def pick(self, queue: Sequence[_Request], cylinder: int) -> int:
        ahead = [i for i in range(len(queue)) if queue[i].cylinder >= cylinder]
        pool = ahead or range(len(queue))
        return min(pool, key=lambda i: queue[i].cylinder)


#: The queueing policies by name.
POLICIES: Mapping[str, type[FCFS] | type[SSTF] | type[CLook]] = MappingProxyType(
    {"fcfs": FCFS, "sstf": SSTF, "clook": CLook})


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


class Disk:
    """One disk of ``machine``: in memory, or in the host file ``image``."""

    def __init__(
        self, machine: Machine, image: str | os.PathLike[str] | None = None, cylinders: int | None = None,
        policy: str = "fcfs", queue_depth: int = 64, spec: DiskSpec = HP97560,
    ) -> None:
        if cylinders is None:
            cylinders = spec.cylinders
        if type(cylinders) is not int or not 1 <= cylinders <= spec.cylinders:
            raise DiskError(f"cylinders must be an int from 1 to {spec.cylinders} ({spec.name}), not {cylinders!r}")
        if policy not in POLICIES:
            raise DiskError(f"unknown queueing policy {policy!r} (known: {', '.join(POLICIES)})")
        if type(queue_depth) is not int or queue_depth < 1:
            raise DiskError(f"queue_depth must be a positive int, not {queue_depth!r}")
        self.machine = machine
        self.spec = spec
        self.cylinders = cylinders
        self.heads = spec.heads
        self.spt = spec.sectors_per_track
        self.sector_bytes = spec.sector_bytes
        self.per_cylinder = self.heads * self.spt
        self.sectors = cylinders * self.per_cylinder
        self.size = self.sectors * self.sector_bytes
        self.policy: Policy = POLICIES[policy]()
        self.queue_depth = queue_depth
        self._fd: int | None = None
        self._tracks: dict[int, bytearray] = {}  # in memory: track number -> its bytes
        self.image = None if image is None else Path(image)
        #: Nothing was ever written here: a disk in memory, or an image file this disk just
        #: created. A file system formats a blank disk when booted; it never formats one that
        #: is not (an image that does not hold its file system is refused).
        self.blank = True
        if self.image is not None:
            self._fd = self._open(self.image)
        p = machine.profile
        self._hz = p.clock_hz
        self._word = p.word_bytes
        self._c_submit = HOST["submit_writes"].value * p.io_write
        self._c_ack = HOST["ack_reads"].value * p.io_read
        self._c_complete = HOST["complete_reads"].value * p.io_read
        self._c_none = p.io_read  # the status read that finds nothing
        # slot k (the k-th sector boundary since time 0) begins at k * _slot_num / _slot_den ps
        self._slot_num = 60 * PS_PER_S
        self._slot_den = spec.rpm * self.spt
        self._controller_ps = spec.controller_us * _PS_PER_US
        self._switch_ps = spec.head_switch_us * _PS_PER_US
        self._cyl_shift = (self.heads - 1) * spec.track_skew + spec.cylinder_skew  # skew gained per cylinder
        self.irq = IRQ_DISK + len(machine.disks)
        self._queue: list[_Request] = []
        self._busy: _Request | None = None
        self._busy_event: Scheduled | None = None
        self._data: bytes = b""  # the write in service: its bytes, taken from memory when it started
        self._free_ps = 0  # when the request in service ends (or the last one ended)
        self._done: deque[Completion] = deque()
        self._cyl = 0  # where the heads are
        self._head = 0
        self._tag = 0
        self._writes_left: int | None = None  # the doom counter
        self._writes_done = 0
        self.failed = ""  # why the disk stopped ("" while it works)
        self.pending = False  # the interrupt is raised and not yet acknowledged
        self.requests = self.reads = self.writes = self.sectors_read = self.sectors_written = 0
        self.seeks = self.seek_cylinders = self.head_switches = 0
        self.busy_ps = 0
        self.max_queued = self.refused = self.failures = self.interrupts = 0
        machine.disks.append(self)
        if machine.tracer is not None:
            machine.tracer.track(self._tid, f"disk{self.irq - IRQ_DISK} ({spec.name})")

    @property
    def _tid(self) -> int:
        return 1000 + self.irq  # the disk's track in a trace, after the kernels' own

    def _open(self, path: Path) -> int:
        """Open (or create, at the disk's size) the image file; refuse one of another size."""
        try:
            if path.exists():
                if not path.is_file():
                    raise DiskError(f"disk image {str(path)!r} is not a regular file")
                have = path.stat().st_size
                if have != self.size:
                    raise DiskError(
                        f"disk image {str(path)!r} has {have} bytes; a {self.spec.name} of {self.cylinders} "
                        f"cylinders has {self.size} ({self.sectors} sectors of {self.sector_bytes} bytes)")
                self.blank = False
                return os.open(path, os.O_RDWR)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            os.ftruncate(fd, self.size)  # sparse: unwritten sectors read as zeros
            return fd
        except OSError as e:
            raise DiskError(f"disk image {str(path)!r}: {e.strerror or e}") from None

    def close(self) -> None:
        """Stop the disk (what is queued or in service completes with an error) and close
        its image file."""
        if not self.failed:
            self._stop("the disk was closed")
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Disk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------- time

    def _ps(self, cycles: int) -> int:
        return cycles * PS_PER_S // self._hz

    def cycles_at(self, ps: int) -> int:
        """The first cycle of this machine at or after ``ps``."""
        return -(-ps * self._hz // PS_PER_S)

    def _slot_at(self, k: int) -> int:
        """When sector boundary ``k`` passes under the heads, in ps (rounded up)."""
        return -(-k * self._slot_num // self._slot_den)

    def location(self, sector: int) -> tuple[int, int, int]:
        """Sector ``sector``'s (cylinder, head, sector on the track)."""
        c, rem = divmod(sector, self.per_cylinder)
        h, j = divmod(rem, self.spt)
        return c, h, j

    def _angle(self, c: int, h: int, j: int) -> int:
        """The angular slot (0..spt-1) at which sector ``j`` of track (c, h) begins."""
        return (j + c * self._cyl_shift + h * self.spec.track_skew) % self.spt

    def _timeline(self, start_ps: int, sector: int, count: int) -> tuple[int, int, int, int, int, int]:
        """Serve ``count`` sectors from ``sector`` starting at ``start_ps`` with the heads where
        they are: (end_ps, cylinder, head, seeks, seek cylinders, head switches)."""
        t = start_ps + self._controller_ps
        cyl, head = self._cyl, self._head
        seeks = dist = switches = 0
        spt = self.spt
        left = count
        while left:
            c, h, j = self.location(sector)
            n = min(left, spt - j)
            d = abs(c - cyl)
            if d:
                t += seek_ps(d, self.spec)
                seeks += 1
                dist += d
            elif h != head:
                t += self._switch_ps
                switches += 1
            k = -(-t * self._slot_den // self._slot_num)  # the first boundary at or after t
            k += (self._angle(c, h, j) - k) % spt  # ... with our sector's start under the heads
            t = self._slot_at(k + n)
            cyl, head = c, h
            sector += n
            left -= n
        return t, cyl, head, seeks, dist, switches

    # ---------------------------------------------------------- requests

    def read(self, sector: int, count: int, pfn: int, offset: int = 0,
             frames: Collection[int] | None = None) -> int:
        """Queue a read of ``count`` sectors from ``sector`` into the buffer at ``offset`` in
        frame ``pfn`` (running on into the next frames); returns the request's tag.
        ``frames``: the frames the requester may name (None: any)."""
        return self._submit(READ, sector, count, pfn, offset, frames)

    def write(self, sector: int, count: int, pfn: int, offset: int = 0,
              frames: Collection[int] | None = None) -> int:
        """Queue a write of ``count`` sectors to ``sector`` from the buffer at ``offset`` in
        frame ``pfn``; returns the request's tag. The disk takes the bytes from memory
        when it starts serving the request: the buffer is the disk's until it completes."""
        return self._submit(WRITE, sector, count, pfn, offset, frames)

    def _refuse(self, why: str) -> DiskError:
        self.refused += 1
        return DiskError(why)

    def _submit(self, op: str, sector: int, count: int, pfn: int, offset: int,
                frames: Collection[int] | None) -> int:
        if self.failed:
            self.refused += 1
            raise DiskFailed(f"{op}: {self.failed}")
        for name, v in (("sector", sector), ("count", count), ("pfn", pfn), ("offset", offset)):
            if type(v) is not int:
                raise self._refuse(f"{op}: {name} must be an int, not {type(v).__name__}")
        if count < 1:
            raise self._refuse(f"{op}: a request of {count} sectors (at least 1)")
        if sector < 0 or sector + count > self.sectors:
            raise self._refuse(f"{op}: sectors {sector}..{sector + count - 1} are not on the disk "
                               f"({self.sectors} sectors, 0..{self.sectors - 1})")
        if offset % self._word:
            raise self._refuse(f"{op}: offset {offset} is not a multiple of {self._word} bytes "
                               "(the DMA engine moves whole words)")
        nbytes = count * self.sector_bytes
        mem = self.machine.memory
        try:
            mem.span(pfn, offset, nbytes)
        except ValueError as e:
            raise self._refuse(f"{op}: the buffer of {nbytes} bytes: {e}") from None
        if frames is not None:
            first = pfn + offset // mem.page_size
            last = pfn + (offset + nbytes - 1) // mem.page_size
            for f in range(first, last + 1):
                if f not in frames:
                    raise self._refuse(f"{op}: the buffer runs through frame {f}, which is not the requester's")
        if len(self._queue) >= self.queue_depth:
            raise self._refuse(f"{op}: the request queue is full ({self.queue_depth} requests waiting)")
        loop = self.machine.loop
        loop.now += self._c_submit
        self._tag += 1
        self._queue.append(_Request(self._tag, op, sector, count, pfn, offset, sector // self.per_cylinder))
        self.requests += 1
        if len(self._queue) > self.max_queued:
            self.max_queued = len(self._queue)
        if self._busy is None:
            self._start(max(self._ps(loop.now), self._free_ps))
        return self._tag

    def _start(self, start_ps: int) -> None:
        """Serve the next request the policy picks, from ``start_ps``."""
        req = self._queue.pop(self.policy.pick(self._queue, self._cyl))
        end, cyl, head, seeks, dist, switches = self._timeline(start_ps, req.sector, req.count)
        self._cyl, self._head = cyl, head
        self.seeks += seeks
        self.seek_cylinders += dist
        self.head_switches += switches
        self.busy_ps += end - start_ps
        self._free_ps = end
        if req.op == WRITE:  # the controller pulls the data into its buffer now
            self._data = bytes(self.machine.memory.span(req.pfn, req.offset, req.count * self.sector_bytes))
        self._busy = req
        m = self.machine
        if m.tracer is not None:
            m.tracer.span(req.op, "disk", self._tid, self.cycles_at(start_ps), self.cycles_at(end),
                          sector=req.sector, count=req.count)
        self._busy_event = m.loop.schedule(self.cycles_at(end), self._finish)

    def _finish(self) -> None:
        """The request in service has ended: its data moved, its completion queued. (The
        interrupt may run a driver that submits the next request at once.)"""
        req = self._busy
        assert req is not None
        self._busy = None
        self._busy_event = None
        nbytes = req.count * self.sector_bytes
        stop = ""
        if req.op == READ:
            self.machine.memory.span(req.pfn, req.offset, nbytes)[:] = self._load(req.sector, req.count)
            self.reads += 1
            self.sectors_read += req.count
        else:
            self._store(req.sector, self._data)
            self._data = b""
            self.writes += 1
            self.sectors_written += req.count
            if self._writes_left is not None:
                self._writes_done += 1
                self._writes_left -= 1
                if self._writes_left == 0:
                    stop = f"the disk stopped after its {_ordinal(self._writes_done)} write (fail_after_writes)"
                    self.failed = stop  # before the interrupt: the driver's next request is refused
        self._complete(req, "")
        if stop:
            self._stop(stop)
        elif self._queue and self._busy is None:
            self._start(self._free_ps)

    def _complete(self, req: _Request, error: str) -> None:
        if error:
            self.failures += 1
        self._done.append(Completion(req.tag, req.op, req.sector, req.count, req.pfn, req.offset, not error, error))
        if not self.pending:
            self.pending = True
            self.interrupts += 1
            self.machine.cpu.interrupt(self.irq)

    def _stop(self, why: str) -> None:
        """The disk stops: what is in service or waiting completes with an error."""
        self.failed = why
        if self._busy is not None:
            assert self._busy_event is not None
            self._busy_event.cancel()
            now = self._ps(self.machine.loop.now)
            self.busy_ps -= max(0, self._free_ps - now)  # it was not served to the end
            self._free_ps = now
            req, self._busy, self._busy_event, self._data = self._busy, None, None, b""
            self._queue.insert(0, req)
        queue, self._queue = self._queue, []
        for req in queue:
            self._complete(req, why)

    def fail_after_writes(self, n: int) -> None:
        """Stop the disk once ``n`` more writes have completed (0: now). A write is on the
        platter when it completes; one that had not completed is not there at all."""
        if type(n) is not int or n < 0:
            raise DiskError(f"fail_after_writes: n must be an int >= 0, not {n!r}")
        if self.failed:
            raise DiskFailed(f"fail_after_writes: {self.failed}")
        self._writes_left = n
        self._writes_done = 0
        if n == 0:
            self._stop("the disk stopped before any further write (fail_after_writes(0))")

    # ----------------------------------------------------------- driver

    def ack(self) -> int:
        """Acknowledge the interrupt (read the cause, clear it); returns the completions
        ready to take. The disk may interrupt again."""
        self.machine.loop.now += self._c_ack
        self.pending = False
        return len(self._done)

    def complete(self) -> Completion | None:
        """The oldest finished request not yet taken; None if there is none (which costs the
        one status read that found out)."""
        loop = self.machine.loop
        if not self._done:
            loop.now += self._c_none
            return None
        loop.now += self._c_complete
        return self._done.popleft()

    # ---------------------------------------------------------- contents

    def _load(self, sector: int, count: int) -> bytes:
        nbytes = count * self.sector_bytes
        if self._fd is not None:
            data = os.pread(self._fd, nbytes, sector * self.sector_bytes)
            return data + bytes(nbytes - len(data))
        out = bytearray(nbytes)
        pos = 0
        while pos < nbytes:
            t, j = divmod(sector + pos // self.sector_bytes, self.spt)
            n = min(nbytes - pos, (self.spt - j) * self.sector_bytes)
            tb = self._tracks.get(t)
            if tb is not None:
                out[pos:pos + n] = tb[j * self.sector_bytes:j * self.sector_bytes + n]
            pos += n
        return bytes(out)

    def _store(self, sector: int, data: bytes) -> None:
        if self._fd is not None:
            os.pwrite(self._fd, data, sector * self.sector_bytes)
            return
        track_bytes = self.spt * self.sector_bytes
        pos = 0
        while pos < len(data):
            t, j = divmod(sector + pos // self.sector_bytes, self.spt)
            n = min(len(data) - pos, (self.spt - j) * self.sector_bytes)
            tb = self._tracks.get(t)
            if tb is None:
                tb = self._tracks[t] = bytearray(track_bytes)
            tb[j * self.sector_bytes:j * self.sector_bytes + n] = data[pos:pos + n]
            pos += n

    def statistics(self) -> DiskStats:
        return DiskStats(
            self.spec.name, self.cylinders, self.sectors, self.policy.name, self.requests, self.reads,
            self.writes, self.sectors_read, self.sectors_written, self.seeks, self.seek_cylinders,
            self.head_switches, self.busy_ps / _PS_PER_US, len(self._queue), self.max_queued, self.refused,
            self.failures, self.interrupts, bool(self.failed),
        )
