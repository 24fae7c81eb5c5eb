"""The memory hierarchy: first-level caches, the write buffer, the board-level cache.

What this models
    The caches each profile's machine had, as the CPU's memory references
    see them (``docs/memory.md`` lists every constant and its source):

    * ``ds5000`` (DECstation 5000/125, R3000): split, direct-mapped,
      physically indexed 64 KB instruction and 64 KB data caches; the data
      cache is write-through, every store goes to a four-entry write buffer
      that retires one word per DRAM write; a read miss refills one line
      from memory.
    * ``alpha3000`` (DEC 3000/400, Alpha 21064): the chip's 8 KB
      instruction and 8 KB data caches (direct-mapped, 32-byte lines; the
      data cache write-through and read-allocate, stores into a four-entry
      write buffer of 32-byte blocks that merges stores to the same block),
      and behind them the 512 KB direct-mapped board-level cache (B-cache),
      which catches first-level misses before they reach memory.

    TLB misses on kernel data: neither machine took any. The R3000's kernel
    runs in kseg0, which is unmapped (Kane & Heinrich, ch. 4); OSF/1 on the
    21064 runs its kernel in KSEG, the superpage the architecture maps
    one-to-one onto physical memory without the TLB (Alpha Architecture
    Reference Manual, part II-A, "kernel segment"; the 21064's DTB has
    superpage mapping for it). So kernel data references here go to the
    caches by physical address and never to the TLB; the TLB model
    (tlb.py) stays as it is for user references.

Why it is built this way
    Every memory reference the machine sees carries a physical address, so
    the model needs no per-path figure: a reference hits or misses because
    of the lines touched before it, by the same path, by user code between
    kernel entries, or by a page copy. A direct-mapped cache is one list of
    tags (the line number held by each set, -1 when empty), so a reference
    is a shift, a mask, one list read and one compare. The write buffer is
    one number: the cycle at which the last queued write leaves it. Writes
    retire one after another, each taking ``write_cycles``, so the buffer's
    occupancy at any moment follows from that number, and a store that
    finds it full stalls exactly until the oldest entry has gone.

    The hierarchy returns stall cycles; the caller adds them to the clock
    on top of the hit cost it already charges (``mem_ref``, ``copy_word``),
    so an ``ideal`` machine (no hierarchy) charges exactly what it did
    before this module existed.

    Simplified, and said so in docs/memory.md: read misses do not wait for
    the write buffer to drain (no read-after-write check against it); an
    instruction fetch and a data miss never overlap; the B-cache is
    written through to by the write buffer and allocates on writes.

Interface
    ``HIERARCHIES[profile name]`` -> :class:`HierarchySpec` (constants as
    :class:`~exospin.machine.profiles.Cost`); ``MemoryHierarchy(spec)``:
    ``read(paddr, now)``, ``write(paddr, now)``, ``fetch(paddr, now)``,
    ``read_range(paddr, nbytes, now)``, ``write_range(...)``,
    ``run(footprint, now)`` each return stall cycles; :class:`Footprint`,
    :class:`KernelText` (a kernel's code layout, from which its paths' footprints
    follow);
    ``MEMORY_MODELS``, ``memory_model(name)`` (a context manager setting the
    model new machines get), ``default_memory()``; ``statistics()``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from .profiles import Cost, Profile

#: The memory models a machine may be built with.
MEMORY_MODELS = ("ideal", "detailed")


class UnknownMemoryModel(ValueError):
    """A memory model name that is not in :data:`MEMORY_MODELS`."""


_default = ["ideal"]


def check_memory_model(name: str) -> str:
    if name not in MEMORY_MODELS:
        raise UnknownMemoryModel(f"unknown memory model {name!r} (known: {', '.join(MEMORY_MODELS)})")
    return name


def default_memory() -> str:
    """The memory model a machine built without one gets (``ideal`` unless set)."""
    return _default[0]


@contextmanager
def memory_model(name: str) -> Iterator[None]:
    """Within the block, machines built without a ``memory=`` get model ``name``
    (the CLI's ``--memory``: every suite's boots inherit it)."""
    check_memory_model(name)
    old = _default[0]
    _default[0] = name
    try:
        yield
    finally:
        _default[0] = old


@dataclass(frozen=True, slots=True)
class CacheSpec:
    """One direct-mapped cache."""

    name: str
    size: Cost  # bytes
    line: Cost  # bytes
    source: str


@dataclass(frozen=True, slots=True)
class HierarchySpec:
    """A machine's caches, write buffer and their costs (cycles of the profile's clock)."""

    profile: str
    icache: CacheSpec
    dcache: CacheSpec
    l1_miss: Cost  # a first-level read miss served by the next level (B-cache or memory)
    write_buffer: Cost  # entries
    write_cycles: Cost  # cycles for one entry to leave the buffer
    write_merge: bool  # stores to the block of the newest waiting entry merge into it
    write_allocate: bool  # a store that misses the D-cache fills the line
    bcache: CacheSpec | None = None
    memory_miss: Cost | None = None  # a B-cache miss: the line from memory (with the B-cache fill)
    notes: tuple[str, ...] = field(default=())


_CB = "Chen & Bershad, The Impact of Operating System Structure on Memory System Performance (SOSP 1993), section 2"
_KH = "Kane & Heinrich, MIPS RISC Architecture (Prentice Hall, 1992)"
_R3K = "LSI/IDT R3000 family hardware user's manual"
_HP = "Patterson & Hennessy, Computer Organization and Design (1994), section 7.2 (the DECstation 3100's caches)"

DS5000_CACHES = HierarchySpec(
    profile="ds5000",
    icache=CacheSpec("I-cache", Cost(65536, "bytes", f"{_CB}; {_HP}: 64 KB instruction cache"),
                     Cost(16, "bytes", f"{_CB}: 16-byte lines (four-word block refill)"),
                     f"{_KH}, ch. 4: direct-mapped, physically indexed and tagged, off chip"),
    dcache=CacheSpec("D-cache", Cost(65536, "bytes", f"{_CB}; {_HP}: 64 KB data cache"),
                     Cost(16, "bytes", f"{_CB}: 16-byte lines (four-word block refill)"),
                     f"{_KH}, ch. 4: direct-mapped, physically indexed, write-through"),
    l1_miss=Cost(15, "cycles", f"{_CB}: about 15 cycles to refill a line from memory (the 5000/200 at 25 MHz; "
                               "the 5000/125's memory system taken as the same: estimate)"),
    write_buffer=Cost(4, "entries", f"{_R3K}; {_HP}: a four-word write buffer between the R3000 and memory"),
    write_cycles=Cost(5, "cycles", "estimate: one DRAM write of about 200 ns per buffered word "
                                   f"(the write buffer retires at memory speed; {_HP})"),
    write_merge=False,
    write_allocate=True,  # a word store writes its word and tag (Kane & Heinrich ch. 4): the line is the store's
    notes=("The sizes and line length are those Chen & Bershad report for the DECstation 5000/200; "
           "the 5000/125 uses the same R3000 cache organisation. Not checked against the KN02-BA manual.",),
)

_21064 = "DECchip 21064-AA microprocessor hardware reference manual (DEC EC-N0079-72, 1992)"
_DTJ = ("Dutton et al., The Design of the DEC 3000 AXP Systems, Two High-performance Workstations, "
        "Digital Technical Journal 4(4), 1992")
_LMB = "McVoy & Staelin, lmbench (USENIX 1996): DEC 3000 memory latency"

ALPHA3000_CACHES = HierarchySpec(
    profile="alpha3000",
    icache=CacheSpec("I-cache", Cost(8192, "bytes", f"{_21064}: 8 KB on-chip instruction cache"),
                     Cost(32, "bytes", f"{_21064}: 32-byte lines"), f"{_21064}: direct-mapped"),
    dcache=CacheSpec("D-cache", Cost(8192, "bytes", f"{_21064}: 8 KB on-chip data cache"),
                     Cost(32, "bytes", f"{_21064}: 32-byte lines"),
                     f"{_21064}: direct-mapped, write-through, read-allocate"),
    bcache=CacheSpec("B-cache", Cost(524288, "bytes", f"{_DTJ}: 512 KB board-level cache on the 3000/400"),
                     Cost(32, "bytes", f"{_DTJ}; {_21064}: 32-byte B-cache blocks"), f"{_DTJ}: direct-mapped, write-back"),
    l1_miss=Cost(10, "cycles", f"{_DTJ}; {_21064}: estimate; a B-cache read is a programmed number of CPU cycles "
                               "per 16-byte transfer, two transfers a line (about 75 ns at 133 MHz)"),
    memory_miss=Cost(40, "cycles", f"{_DTJ}; {_LMB}: estimate; about 300 ns from a load missing the B-cache to its data"),
    write_buffer=Cost(4, "entries", f"{_21064}: four 32-byte entries"),
    write_cycles=Cost(6, "cycles", f"{_21064}; {_DTJ}: estimate; one B-cache write of a buffered block"),
    write_merge=True,  # 21064 HRM: a store to the block of a waiting entry merges into it
    write_allocate=False,
    notes=("Latencies are estimates from the documented B-cache timing, not measurements.",),
)

HIERARCHIES: Mapping[str, HierarchySpec] = MappingProxyType(
    {s.profile: s for s in (DS5000_CACHES, ALPHA3000_CACHES)})


@dataclass(frozen=True, slots=True, eq=False)
class Footprint:
    """The cache lines a code path touches, as physical byte addresses: the
    instructions it fetches, the data it reads and the data it writes (in that
    order). ``obj_reads`` and ``obj_writes`` are byte offsets into one object whose
    address the caller gives when the path runs (a process's PCB, an environment's
    save area, an STLB slot), for data whose address depends on whom the path serves.
    A kernel path declares it once; ``MemoryHierarchy.run`` replays it. Compared and
    hashed by identity: the hierarchy keeps per-footprint state keyed by the object."""

    fetches: tuple[int, ...] = ()
    reads: tuple[int, ...] = ()
    writes: tuple[int, ...] = ()
    obj_reads: tuple[int, ...] = ()
    obj_writes: tuple[int, ...] = ()


#: How many instructions each hardware primitive of profiles.PRIMITIVES executes, so that
#: a kernel path's text follows from the very composition of primitives that gives its
#: cycles (``instruction_profile``): a load, a store, a register save or restore is one
#: instruction; a word copy two (load, store); a TLB write or probe four (two ``mtc0``,
#: ``tlbwr``/``tlbp``, a hazard ``nop``; Kane & Heinrich ch. 6; on the 21064 the PALcode's
#: ``hw_mtpr`` pair); a procedure call two (call, return: their delay slots are the
#: caller's instructions, counted where they do work); the return from an exception two
#: (``jr k0`` with ``rfe`` in its slot); the hardware's trap entry none (the vector's
#: instructions are counted by the path: decode, table jump). On the 21064 the trap entry
#: and return run PALcode fetched through the same I-cache: ``PAL_INSNS`` gives them.
INSN_COUNTS: Mapping[str, int] = MappingProxyType({
    "insn": 1, "mem_ref": 1, "reg_save": 1, "reg_restore": 1, "copy_word": 2, "tlb_write": 4,
    "tlb_probe": 4, "trap_entry": 0, "trap_return": 2, "interrupt": 1, "proc_call": 2,
    "io_read": 1, "io_write": 1,
})

_PAL = ("Digital, Alpha Architecture Reference Manual (1992), part III (OSF/1 PALcode): callsys builds "
        "a six-quadword frame (PS, PC, GP, a0-a2) on the kernel stack, loads the kernel GP and jumps to "
        "entSys; rti/retsys pop it; instruction counts as recalled from the OSF/1 PALcode sources, "
        "not checked")

#: PALcode instructions the 21064 runs for the trap entry (callsys, or an exception's
#: entry through entArith/entMM/entIF) and for the return (rti/retsys): fetched through
#: the I-cache like any code, and their frame stored and loaded through the D-cache.
PAL_INSNS: Mapping[str, Cost] = MappingProxyType({
    "trap_entry": Cost(24, "instructions", f"{_PAL}: about 24, of which six stq of the frame"),
    "trap_return": Cost(16, "instructions", f"{_PAL}: about 16, of which six ldq of the frame"),
})


_FLUSH = ("DECchip 21064 hardware reference manual (1992), as recalled: a CALL_PAL or an exception "
          "redirects fetch like a mispredicted branch, about 4 cycles lost")

#: Primitives whose cost the ``detailed`` machine revises against sources (docs/memory.md,
#: "Trap and PALcode entry, revisited"); ``ideal`` keeps profiles.py's figures, so that it
#: reproduces the earlier figures exactly. The 21064's trap entry and return run the
#: PALcode routines of PAL_INSNS, one instruction a cycle as the profile models the chip
#: (dual issue not modelled), after the redirect of fetch; the R3000's figures stand
#: (Kane & Heinrich ch. 5: the exception aborts the instructions in flight and fetches
#: from the vector; its code's cache effects are the kernels' footprints).
DETAILED_COSTS: Mapping[str, Mapping[str, Cost]] = MappingProxyType({
    "alpha3000": MappingProxyType({
        "trap_entry": Cost(4 + PAL_INSNS["trap_entry"].cycles, "cycles",
                           f"{_FLUSH}; plus the {PAL_INSNS['trap_entry'].cycles} PALcode instructions of "
                           "callsys (or an exception's entry), one a cycle"),
        "trap_return": Cost(4 + PAL_INSNS["trap_return"].cycles, "cycles",
                            f"{_FLUSH}; plus the {PAL_INSNS['trap_return'].cycles} PALcode instructions of "
                            "rti/retsys, one a cycle"),
    }),
})


def detailed_profile(profile: Profile) -> Profile:
    """``profile`` as a ``detailed`` machine runs it: DETAILED_COSTS' revised primitives."""
    revised = DETAILED_COSTS.get(profile.name)
    if not revised:
        return profile
    return replace(profile, costs=MappingProxyType({**profile.costs, **revised}))


def instruction_profile(profile: Profile) -> Profile:
    """``profile`` with every primitive's cost replaced by the instructions it executes
    (INSN_COUNTS; PAL_INSNS on the Alpha): a kernel's cost composition evaluated over it
    gives each path's instruction count, hence its text footprint."""
    counts = dict(INSN_COUNTS)
    if profile.name == "alpha3000":
        counts.update({k: c.cycles for k, c in PAL_INSNS.items()})
    costs = {k: Cost(n, "instructions", "caches.INSN_COUNTS") for k, n in counts.items()}
    return replace(profile, costs=MappingProxyType(costs))


#: Bytes per instruction, both machines (MIPS I and Alpha instructions are one 32-bit word).
USER_INSN_BYTES = 4

#: Where user text sits in physical memory, past the kernel images (``cpu.kernel_image``;
#: ExOS' library image is at 4 MB): address space ``s``'s text starts
#: ``USER_TEXT + s * (USER_TEXT_STRIDE + page size)`` bytes past the kernel image's base.
#: The stride is the largest I-cache modelled, so successive spaces' texts begin one page
#: colour apart (on the R3000's 64 KB cache of 4 KB pages: space 0 at the kernel text's
#: first colour, space 1 a page on; on the 21064 every page covers the whole 8 KB
#: I-cache, so every text begins at its first set). A placement, like a kernel's page
#: allocator's, not a measured figure: docs/memory.md, "User instruction fetches".
USER_TEXT = 8 << 20
USER_TEXT_STRIDE = 1 << 16


class KernelText:
    """A kernel image's layout: each named path gets its own run of code addresses,
    one after another from ``base`` (a physical address in kseg0/KSEG), in the order
    the kernel declares them, so the same kernel always lays out the same way.

    ``footprint(name, insns, reads=(), writes=())`` is the path's Footprint: the lines
    of its ``insns`` instructions of ``insn_bytes`` each (one fetch per ``line`` bytes,
    the smallest line of the profiles' caches), and the data addresses given.
    """

    __slots__ = ("base", "insn_bytes", "line", "_next", "_paths")

    def __init__(self, base: int, insn_bytes: int = 4, line: int = 16) -> None:
        self.base = base
        self.insn_bytes = insn_bytes
        self.line = line
        self._next = base
        self._paths: dict[str, tuple[int, int]] = {}

    def footprint(self, name: str, insns: int, reads: tuple[int, ...] = (),
                  writes: tuple[int, ...] = (), obj_reads: tuple[int, ...] = (),
                  obj_writes: tuple[int, ...] = ()) -> Footprint:
        if insns < 0:
            raise ValueError(f"path {name!r}: {insns} instructions")
        got = self._paths.get(name)
        if got is None:
            got = self._paths[name] = (self._next, insns)
            self._next += insns * self.insn_bytes
        elif got[1] != insns:
            raise ValueError(f"path {name!r} was laid out with {got[1]} instructions, not {insns}")
        start = got[0]
        end = start + insns * self.insn_bytes
        fetches = tuple(range(start & -self.line, end, self.line)) if insns else ()
        return Footprint(fetches, reads, writes, obj_reads, obj_writes)

    @property
    def size(self) -> int:
        """Bytes of text laid out so far."""
        return self._next - self.base


class KernelImage:
    """A kernel's image in physical memory: its text (a :class:`KernelText`) followed by
    its data, in regions. ``region(name, nbytes, count=1)`` reserves ``count`` objects of
    ``nbytes`` each (a table of PCBs, the STLB) and returns the first one's address;
    ``obj(name, i)`` is object ``i``'s address (``i`` modulo ``count``: a table of that
    many slots). The text gets ``text_bytes`` from ``base``; data follows it, each region
    aligned to ``align`` bytes (the largest line of the caches modelled).

    Every kernel lays itself out the same way, so no system's paths are cheaper because
    its structures were left out; where one sits relative to the others (which cache
    sets its lines share) follows from the order each kernel declares them in."""

    __slots__ = ("base", "text", "_data", "_regions", "align", "word")

    def __init__(self, base: int, text_bytes: int = 1 << 16, word: int = 4, align: int = 32) -> None:
        self.base = base
        self.word = word
        self.text = KernelText(base, 4, 16)
        self._data = base + text_bytes
        self.align = align
        self._regions: dict[str, tuple[int, int, int]] = {}

    def region(self, name: str, nbytes: int, count: int = 1) -> int:
        got = self._regions.get(name)
        if got is None:
            nbytes = -(-nbytes // self.align) * self.align
            got = self._regions[name] = (self._data, nbytes, count)
            self._data += nbytes * count
        return got[0]

    def obj(self, name: str, i: int) -> int:
        base, nbytes, count = self._regions[name]
        return base + (i % count) * nbytes

    def stride(self, name: str) -> int:
        """Bytes between two objects of region ``name`` (its object size, aligned)."""
        return self._regions[name][1]

    def words(self, addr: int, n: int) -> tuple[int, ...]:
        """The addresses of ``n`` consecutive words from ``addr``."""
        return tuple(addr + i * self.word for i in range(n))

    def path(self, name: str, insns: int, reads: tuple[int, ...] = (), writes: tuple[int, ...] = (),
             obj_reads: tuple[int, ...] = (), obj_writes: tuple[int, ...] = ()) -> Footprint:
        return self.text.footprint(name, insns, reads, writes, obj_reads, obj_writes)


@dataclass(frozen=True, slots=True)
class CacheStats:
    name: str
    size: int
    line: int
    accesses: int
    misses: int


@dataclass(frozen=True, slots=True)
class HierarchyStats:
    caches: tuple[CacheStats, ...]
    writes: int
    write_merges: int
    write_stalls: int  # stores that found the buffer full
    stall_cycles: int  # every cycle this model added to the clock


def _log2(n: int, what: str) -> int:
    if n <= 0 or n & (n - 1):
        raise ValueError(f"{what} must be a power of two, not {n}")
    return n.bit_length() - 1


class _Cache:
    """One direct-mapped cache: a tag (line number) per set, -1 when empty."""

    __slots__ = ("spec", "lshift", "mask", "tags", "accesses", "misses")

    def __init__(self, spec: CacheSpec) -> None:
        self.spec = spec
        self.lshift = _log2(spec.line.cycles, f"{spec.name} line")
        sets = spec.size.cycles >> self.lshift
        _log2(sets, f"{spec.name} sets")
        self.mask = sets - 1
        self.tags = [-1] * sets
        self.accesses = 0
        self.misses = 0

    def stats(self) -> CacheStats:
        return CacheStats(self.spec.name, self.spec.size.cycles, self.spec.line.cycles, self.accesses, self.misses)


class MemoryHierarchy:
    """The caches and write buffer of one machine; every method returns stall cycles."""

    __slots__ = ("spec", "icache", "dcache", "bcache", "_miss", "_mem_miss", "_wdepth", "_wcycles",
                 "_merge", "_alloc", "_wfull", "_wb_last", "_wb_line", "writes", "write_merges", "write_stalls",
                 "stall_cycles", "_dl", "_dm", "_dt", "_text", "_warm", "_uwarm")

    def __init__(self, spec: HierarchySpec) -> None:
        self.spec = spec
        self.icache = _Cache(spec.icache)
        self.dcache = _Cache(spec.dcache)
        self.bcache = None if spec.bcache is None else _Cache(spec.bcache)
        self._miss = spec.l1_miss.cycles
        self._mem_miss = 0 if spec.memory_miss is None else spec.memory_miss.cycles
        self._wdepth = spec.write_buffer.cycles
        self._wcycles = spec.write_cycles.cycles
        self._wfull = (self._wdepth - 1) * self._wcycles  # the buffer is full when its last write leaves later than this
        self._merge = spec.write_merge
        self._alloc = spec.write_allocate
        self._wb_last = 0  # the cycle at which the newest buffered write has left
        self._wb_line = -1  # its D-cache line (for merging)
        self.writes = 0
        self.write_merges = 0
        self.write_stalls = 0
        self.stall_cycles = 0
        d = self.dcache
        self._dl, self._dm, self._dt = d.lshift, d.mask, d.tags  # the hot path's constants
        self._text: dict[Footprint, list[int]] = {}  # a footprint's text as I-cache lines
        #: footprint -> [I-cache misses, D-cache misses, base] when all its lines were last there
        self._warm: dict[Footprint, list[int]] = {}
        #: a user text's first byte -> [I-cache misses, lines] when its first lines were last there
        self._uwarm: dict[int, list[int]] = {}

    # ------------------------------------------------------------- lines

    def _fill(self, cache: _Cache, line: int) -> int:
        """A first-level miss on ``line`` (in ``cache``'s line units): the cycles to fill it."""
        cache.misses += 1
        cache.tags[line & cache.mask] = line
        b = self.bcache
        if b is None:
            return self._miss
        bline = (line << cache.lshift) >> b.lshift
        b.accesses += 1
        i = bline & b.mask
        if b.tags[i] == bline:
            return self._miss
        b.misses += 1
        b.tags[i] = bline
        return self._mem_miss

    def read(self, paddr: int, now: int) -> int:
        """A data load of physical byte address ``paddr`` at cycle ``now``."""
        line = paddr >> self._dl
        d = self.dcache
        d.accesses += 1
        if self._dt[line & self._dm] == line:
            return 0
        s = self._fill(d, line)
        self.stall_cycles += s
        return s

    def read_miss(self, line: int) -> int:
        """A data load that missed D-cache line ``line`` (the CPU tested the hit inline
        and counted the access): fill it, return the stall."""
        s = self._fill(self.dcache, line)
        self.stall_cycles += s
        return s

    def fetch(self, paddr: int, now: int) -> int:
        """An instruction fetch from ``paddr``."""
        c = self.icache
        line = paddr >> c.lshift
        c.accesses += 1
        if c.tags[line & c.mask] == line:
            return 0
        s = self._fill(c, line)
        self.stall_cycles += s
        return s

    def user_text(self, start: int, insns: int) -> int:
        """User code running ``insns`` instructions (``cpu.compute``): the fetches of
        the first ``insns`` instructions of the text that begins at physical address
        ``start`` (an address space's text, USER_TEXT), one per I-cache line, at most
        the I-cache's worth (code longer than the cache is modelled as looping over a
        cache-sized text: no line of it could stay cached longer than that anyway).

        Written for speed, as ``run``: a text no longer than the cache has no two lines
        in one set, so after a call every line it fetched is in place; while the
        I-cache has not missed since, a call needing no more lines than that hits."""
        ic = self.icache
        ls = ic.lshift
        k = (insns * USER_INSN_BYTES + (1 << ls) - 1) >> ls
        if k > ic.mask:
            k = ic.mask + 1
        if k <= 0:
            return 0
        ic.accesses += k
        w = self._uwarm.get(start)
        if w is not None and w[0] == ic.misses and w[1] >= k:
            return 0
        first = start >> ls
        tags, m = ic.tags, ic.mask
        stall = 0
        for line in range(first, first + k):
            if tags[line & m] != line:
                stall += self._fill(ic, line)
        self.stall_cycles += stall
        if w is None:
            self._uwarm[start] = [ic.misses, k]
        else:
            w[0], w[1] = ic.misses, k
        return stall

    def write(self, paddr: int, now: int) -> int:
        """A store to ``paddr`` at cycle ``now``: write-through into the write buffer,
        which stalls the store only when full."""
        line = paddr >> self._dl
        d = self.dcache
        d.accesses += 1
        i = line & self._dm
        if self._dt[i] != line:
            d.misses += 1
            if self._alloc:
                self._dt[i] = line
        b = self.bcache
        if b is not None:  # the buffered write lands in the B-cache (write-allocate there)
            bline = paddr >> b.lshift
            b.tags[bline & b.mask] = bline
        self.writes += 1
        last, w = self._wb_last, self._wcycles
        if self._merge and line == self._wb_line and last - now > w:
            self.write_merges += 1  # the newest entry has not started leaving: merge
            return 0
        stall = 0
        if last - now > self._wfull:  # full: wait for the oldest entry to leave
            stall = last - self._wfull - now
            self.write_stalls += 1
            self.stall_cycles += stall
            now += stall
        self._wb_last = (last if last > now else now) + w
        self._wb_line = line
        return stall

    # ------------------------------------------------------------ ranges

    def read_range(self, paddr: int, nbytes: int, now: int) -> int:
        """Loads of every word of ``nbytes`` from ``paddr`` (one reference per line
        touched: the words after the first of a line hit and add no stall)."""
        stall = 0
        step = 1 << self._dl
        a = paddr & -step
        end = paddr + nbytes
        read = self.read
        while a < end:
            stall += read(a, now + stall)
            a += step
        return stall

    def write_range(self, paddr: int, nbytes: int, now: int, word: int, issue: int) -> int:
        """Stores of every ``word``-byte word of ``nbytes`` from ``paddr``, one each
        through the write buffer, issued ``issue`` cycles apart (a block zero or the
        store half of a copy loop on a write-through cache)."""
        stall = 0
        a = paddr
        end = paddr + nbytes
        write = self.write
        t = now
        while a < end:
            s = write(a, t)
            stall += s
            t += s + issue
            a += word
        return stall

    def run(self, footprint: Footprint, now: int, base: int = 0) -> int:
        """Replay a code path's footprint: its fetches, then its reads, then its writes
        (the object-relative ones at ``base``), the stores issued one a cycle.

        Written for speed, with the same result as a ``fetch``/``read``/``write`` per
        address: a line leaves a cache only when another is filled into its set (a
        miss), so once a run of the path at ``base`` found every line of its text and
        reads in place, later runs know them still there as long as neither cache has
        missed since, and do only the stores; a read of the line just read hits, so only
        each new line is looked up; the stores are ``write`` inlined.
        """
        ic, d = self.icache, self.dcache
        warm = self._warm.get(footprint)
        if warm is not None and warm[0] == ic.misses and warm[1] == d.misses and warm[2] == base:
            ic.accesses += len(footprint.fetches)
            d.accesses += len(footprint.reads) + len(footprint.obj_reads)
            stall = 0
            if footprint.writes:
                stall += self._stores(footprint.writes, 0, now)
            if footprint.obj_writes:
                stall += self._stores(footprint.obj_writes, base, now + stall)
            return stall  # (a store that allocated a line makes the next run check again)
        stall = 0
        fills = ic.misses + d.misses
        fetches = footprint.fetches
        if fetches:
            ic.accesses += len(fetches)
            lines = self._text.get(footprint)
            if lines is None:  # the line of each fetch, a fetch of the line just fetched left out
                lines = self._text[footprint] = [
                    a >> ic.lshift for k, a in enumerate(fetches)
                    if k == 0 or a >> ic.lshift != fetches[k - 1] >> ic.lshift]
            tags, im = ic.tags, ic.mask
            for line in lines:
                if tags[line & im] != line:
                    s = self._fill(ic, line)
                    self.stall_cycles += s
                    stall += s
        dl, dm, dt = self._dl, self._dm, self._dt
        prev = -1
        addrs = footprint.reads
        if addrs:
            d.accesses += len(addrs)
            for a in addrs:
                line = a >> dl
                if line != prev:
                    prev = line
                    if dt[line & dm] != line:
                        s = self._fill(d, line)
                        self.stall_cycles += s
                        stall += s
        addrs = footprint.obj_reads
        if addrs:
            d.accesses += len(addrs)
            for a in addrs:
                line = (a + base) >> dl
                if line != prev:
                    prev = line
                    if dt[line & dm] != line:
                        s = self._fill(d, line)
                        self.stall_cycles += s
                        stall += s
        dmisses = d.misses
        if ic.misses + dmisses == fills:  # every line was in place: remember it
            if warm is None:
                self._warm[footprint] = [ic.misses, dmisses, base]
            else:
                warm[0], warm[1], warm[2] = ic.misses, dmisses, base
        if footprint.writes:
            stall += self._stores(footprint.writes, 0, now + stall)
        if footprint.obj_writes:
            stall += self._stores(footprint.obj_writes, base, now + stall)
        return stall

    def _stores(self, addrs: tuple[int, ...], base: int, t: int) -> int:
        """``write`` for each of ``addrs`` (at ``base``), issued one a cycle from ``t``:
        the stall cycles they add (the same arithmetic as ``write``, inlined)."""
        if not addrs:
            return 0
        d, b = self.dcache, self.bcache
        dl, dm, dt = self._dl, self._dm, self._dt
        alloc, merge = self._alloc, self._merge
        w, wfull = self._wcycles, self._wfull
        last, wline = self._wb_last, self._wb_line
        stall = merges = stalls = 0
        d.accesses += len(addrs)
        for a in addrs:
            a += base
            line = a >> dl
            i = line & dm
            if dt[i] != line:
                d.misses += 1
                if alloc:
                    dt[i] = line
            if b is not None:
                bl = a >> b.lshift
                b.tags[bl & b.mask] = bl
            if merge and line == wline and last - t > w:
                merges += 1
                t += 1
                continue
            if last - t > wfull:
                s = last - wfull - t
                stalls += 1
                stall += s
                t += s
            last = (last if last > t else t) + w
            wline = line
            t += 1
        self._wb_last, self._wb_line = last, wline
        self.writes += len(addrs)
        self.write_merges += merges
        self.write_stalls += stalls
        self.stall_cycles += stall
        return stall

    def statistics(self) -> HierarchyStats:
        caches = tuple(c.stats() for c in (self.icache, self.dcache, self.bcache) if c is not None)
        return HierarchyStats(caches, self.writes, self.write_merges, self.write_stalls, self.stall_cycles)
