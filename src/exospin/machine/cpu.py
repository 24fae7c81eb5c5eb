"""The processor: register file, user-mode instructions, exception and interrupt entry.

What this models
    A MIPS-like CPU with the parts an exokernel exposes (Kane & Heinrich,
    ch. 5-6): 32 general registers, the coprocessor-0 registers that
    describe an exception (Cause, EPC, BadVAddr), the current address-space
    identifier, and three entry points a kernel installs:

    * ``refill_vector(vpn, vaddr, write)``: the TLB-refill vector (on the
      R3000 a separate vector from the general one, so misses are cheap);
    * ``exception_vector(code, vaddr, write, value)``: the general vector
      (address error, TLB modified, overflow, system call);
    * ``interrupt_vector(irq)``: device interrupts.

    User code reaches the machine through the instructions here: ``load``,
    ``store`` (through the TLB), ``add`` (a trapping signed add),
    ``compute(n)`` (n ordinary instructions) and ``cycles()``.

Why it is built this way
    Application and library-OS code is plain Python. It cannot be executed
    instruction by instruction, so it declares its work: every memory access
    goes through ``load``/``store`` and is charged a memory reference, and
    ``compute(n)`` charges n instructions. These calls are the *boundaries*
    at which a pending interrupt is taken (``now >= deadline``), exactly as a
    real CPU takes interrupts between instructions. Code that never touches
    the machine cannot be preempted; the docs say so.

    The hot paths are written out by hand: one dict probe for the TLB, one
    index into the word array, one comparison for interrupts. A TLB miss
    calls the kernel's refill vector and retries, as the hardware does.

    Python state (locals, stacks) is carried by greenlets; the register file
    here models what kernels save and restore, so a path that saves three
    registers copies three and is charged for three.

Interface
    ``load(vaddr)``, ``store(vaddr, value)``, ``add(a, b)``, ``compute(n)``,
    ``mem_refs(n)``, ``call(fn, *args)``, ``copy(dst, src, nwords)``, ``touch(footprint)``
    (a kernel path's cache lines, charged under ``detailed`` memory only),
    ``cycles()`` for user code (a
    store whose protection handler returns True is skipped, as a handler
    that advances EPC past it would); ``interrupt(irq)`` for devices;
    ``save_registers(area, n)``/``restore_registers(area, n)`` for kernels
    and library OSes; ``statistics()``. ``CPU.ON_BUILD``: callables told of each CPU
    built (the weighed clock of bench/weighed.py finds the machine it charges so).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any, ClassVar

from .caches import USER_TEXT, USER_TEXT_STRIDE, KernelImage

if TYPE_CHECKING:
    from .caches import Footprint, MemoryHierarchy
    from .events import EventLoop
    from .memory import PhysicalMemory
    from .profiles import Profile
    from .tlb import TLB

NREGS = 32
USER_TOP = 0x8000_0000  # kuseg: user addresses are below 2 GB


class Exc(IntEnum):
    """R3000 exception codes (Cause.ExcCode), Kane & Heinrich table 5.2."""

    INT = 0  # interrupt
    MOD = 1  # TLB modified: store to a page mapped read-only (protection fault)
    TLBL = 2  # TLB miss on a load
    TLBS = 3  # TLB miss on a store
    ADEL = 4  # address error on a load (unaligned, or a kernel address)
    ADES = 5  # address error on a store
    SYS = 8  # system call
    OV = 12  # arithmetic overflow


#: Read once: ``Exc.OV`` looks the member up through ``EnumType.__getattr__`` (CPython
#: 3.11 routes every attribute of an Enum class through that hook), about two plain
#: calls each time, on every overflow trap.
_OV = Exc.OV


class MachineCheck(RuntimeError):
    """The hardware had nowhere to go: no kernel vector was installed."""


@dataclass(frozen=True, slots=True)
class CPUStats:
    exceptions: Mapping[str, int]
    interrupts: int
    asid: int


RefillVector = Callable[[int, int, bool], "int | None"]
ExceptionVector = Callable[[Exc, int, bool, int], int]
InterruptVector = Callable[[int], None]


def _no_vector(*args: object) -> Any:
    raise MachineCheck("exception taken with no kernel vector installed")


class CPU:
    """One processor. Attributes read on hot paths are plain slots."""

    __slots__ = (
        "regs", "epc", "cause", "badvaddr", "kernel_mode",
        "refill_vector", "exception_vector", "interrupt_vector", "load", "store",
        "_loop", "_tlb", "_words", "_shift", "_offmask", "_wshift", "_bad",
        "_wmask", "_smin", "_smax", "_c_mem", "_c_insn", "_c_trap", "_c_intr",
        "_c_save", "_c_restore", "_c_call", "_c_copy", "_exc_counts", "interrupts",
        "hierarchy", "_kstack", "_utext", "_ustride",
    )
    #: called with each CPU once it is built (empty unless a measuring tool listens)
    ON_BUILD: ClassVar[list[Callable[[CPU], None]]] = []

    def __init__(self, loop: EventLoop, profile: Profile, memory: PhysicalMemory, tlb: TLB,
                 hierarchy: MemoryHierarchy | None = None) -> None:
        self.regs: list[int] = [0] * NREGS
        self.epc = 0
        self.cause = 0
        self.badvaddr = 0
        self.kernel_mode = True
        self.refill_vector: RefillVector = _no_vector
        self.exception_vector: ExceptionVector = _no_vector
        self.interrupt_vector: InterruptVector = _no_vector
        self._loop = loop
        self._tlb = tlb
        self._words = memory.words
        self._shift = profile.page_size.bit_length() - 1
        self._offmask = profile.page_size - 1
        self._wshift = profile.word_bytes.bit_length() - 1
        # One AND with a positive mask finds bad user addresses: negative,
        # at or above 2 GB (up to 2**64), or unaligned.
        self._bad = ((1 << 64) - 1) & ~((USER_TOP - 1) & ~(profile.word_bytes - 1))
        bits = profile.word_bytes * 8
        self._wmask = (1 << bits) - 1
        self._smin = -(1 << (bits - 1))
        self._smax = (1 << (bits - 1)) - 1
        self._c_mem = profile.mem_ref
        self._c_insn = profile.insn
        self._c_trap = profile.trap_entry
        self._c_intr = profile.interrupt
        self._c_save = profile.reg_save
        self._c_restore = profile.reg_restore
        self._c_call = profile.proc_call
        self._c_copy = profile.copy_word
        self._exc_counts: list[int] = [0] * 32  # by Cause.ExcCode
        self.interrupts = 0
        #: the caches and write buffer (``detailed`` memory), or None: every reference hits
        self.hierarchy = hierarchy
        #: physical address of the kernel stack the register save areas are modelled at:
        #: the kernel image sits above the frames kernels hand out (docs/memory.md)
        self._kstack = memory.nframes * memory.page_size
        #: user text (caches.USER_TEXT): space ``s``'s first instruction at _utext + s * _ustride
        self._utext = self._kstack + memory.page_size + USER_TEXT
        self._ustride = USER_TEXT_STRIDE + memory.page_size
        self._build_fast_paths()
        for hook in CPU.ON_BUILD:
            hook(self)

    @property
    def loop(self) -> EventLoop:
        """The machine's clock and events (a measuring tool's way to the clock)."""
        return self._loop

    @property
    def profile_costs(self) -> tuple[int, int, int]:
        """(procedure call, memory reference, instruction) in cycles: the profile's prices."""
        return self._c_call, self._c_mem, self._c_insn

    @property
    def asid(self) -> int:
        """EntryHi.ASID: the address space TLB matches are made in (held by the TLB)."""
        return self._tlb.asid

    def set_asid(self, asid: int) -> None:
        """Load EntryHi.ASID: TLB matches now use ``asid``'s entries."""
        self._tlb.set_asid(asid)

    # ----------------------------------------------------------- user mode

    def _build_fast_paths(self) -> None:
        """Make ``load`` and ``store`` closures over the machine's constants.

        Inlined for performance: these run on every simulated memory access,
        and reading closure cells is several times cheaper than attribute
        lookups. The TLB's view follows the current ASID (``tlb.view``), read
        fresh on each access.
        """
        tlb = self._tlb
        loop = self._loop
        words = self._words
        shift, offmask, wshift = self._shift, self._offmask, self._wshift
        bad, wmask, c_mem = self._bad, self._wmask, self._c_mem
        exception = self._exception
        refill = self.refill_vector  # the kernel's; install_vectors() rebuilds these closures
        # ``detailed`` memory: each reference goes through the caches by physical address
        # (word base << wshift, plus the offset) and their stall is added to the hit cost.
        # A load's D-cache hit is tested inline (one list read); a miss calls the model.
        h = self.hierarchy
        dcache = None if h is None else h.dcache
        dtags = None if h is None else h.dcache.tags
        dl, dm = (0, 0) if h is None else (h.dcache.lshift, h.dcache.mask)
        hmiss = None if h is None else h.read_miss
        hwrite = None if h is None else h.write
        mwords = tlb.memory_words
        ADEL, ADES, MOD = Exc.ADEL, Exc.ADES, Exc.MOD

        wired, span, slots, slot_vpns = tlb.wired, tlb.entries - tlb.wired, tlb.slots, tlb.slot_vpns
        # Replacement: the R3000's Random register decrements every cycle (inline
        # below); the Alpha's TLB takes the next slot in turn (TLB.victim).
        victim = tlb.victim if tlb.round_robin else None

        # The kernel's refill handler ends with ``tlbwr``: it returns the entry
        # as the TLB's view holds it (the word base, less the memory size if
        # read-only) and the write is done here, inline, as TLB.write_random
        # would do it: a Python call less on every refill. A handler that
        # mapped the page itself (by upcall and system call) returns None.
        def miss(vpn: int, vaddr: int, write: bool) -> int | None:
            b = refill(vpn, vaddr, write)
            if b is None:
                return tlb.view.get(vpn)
            index = wired + (loop.now if h is None else loop.now - h.stall_cycles) % span if victim is None \
                else victim(loop.now)
            old = slots[index]
            if old is not None:
                del old[slot_vpns[index]]
            v = tlb.view
            v[vpn] = b
            slots[index] = v
            slot_vpns[index] = vpn
            return b

        def load(vaddr: int) -> int:
            """Load the word at ``vaddr`` through the TLB."""
            if vaddr & bad:
                return exception(ADEL, vaddr, False, 0)
            vpn = vaddr >> shift
            b = tlb.view.get(vpn)
            if b is None:  # TLB miss
                b = refill(vpn, vaddr, False)
                if b is None:
                    b = tlb.view.get(vpn)
                    while b is None:
                        if loop.now >= loop.deadline:  # a retried fault is a boundary too
                            loop.fire_due()
                            b = tlb.view.get(vpn)
                            continue
                        b = miss(vpn, vaddr, False)
                else:  # tlbwr, inlined (see miss)
                    index = wired + (loop.now if h is None else loop.now - h.stall_cycles) % span if victim is None \
                else victim(loop.now)
                    old = slots[index]
                    if old is not None:
                        del old[slot_vpns[index]]
                    view = tlb.view
                    view[vpn] = b
                    slots[index] = view
                    slot_vpns[index] = vpn
            now = loop.now + c_mem
            if dtags is not None:
                line = (((b if b >= 0 else b + mwords) << wshift) + (vaddr & offmask)) >> dl
                dcache.accesses += 1  # type: ignore[union-attr]
                if dtags[line & dm] != line:
                    now += hmiss(line)  # type: ignore[misc]
            loop.now = now
            v = words[b + ((vaddr & offmask) >> wshift)]  # b < 0 (read-only) indexes from the end
            if now >= loop.deadline:
                loop.fire_due()
            return v

        def store(vaddr: int, value: int) -> None:
            """Store ``value`` (taken modulo the word size) at ``vaddr``."""
            if vaddr & bad:
                exception(ADES, vaddr, True, value)
                return
            vpn = vaddr >> shift
            b = tlb.view.get(vpn)
            while b is None or b < 0:
                if loop.now >= loop.deadline:  # a retried fault is a boundary too
                    loop.fire_due()
                    b = tlb.view.get(vpn)
                    continue
                if b is None:
                    b = miss(vpn, vaddr, True)
                elif exception(MOD, vaddr, True, value):  # mapped read-only
                    return  # the handler skipped the store (advanced EPC past it)
                else:
                    b = tlb.view.get(vpn)
            now = loop.now + c_mem
            if hwrite is not None:
                now += hwrite((b << wshift) + (vaddr & offmask), loop.now)
            loop.now = now
            words[b + ((vaddr & offmask) >> wshift)] = value & wmask
            if now >= loop.deadline:
                loop.fire_due()

        self.load = load
        self.store = store

    def add(self, a: int, b: int) -> int:
        """MIPS ``add``: signed add that traps on overflow.

        On overflow the kernel's exception path runs; whatever the user's
        handler returns becomes the result.
        """
        r = a + b
        if r < self._smin or r > self._smax:
            return self._exception(_OV, 0, False, r)
        loop = self._loop
        loop.now += self._c_insn
        if loop.now >= loop.deadline:
            loop.fire_due()
        return r

    def compute(self, n: int) -> None:
        """Execute ``n`` ordinary instructions (user code declaring its work); under
        ``detailed`` memory they are fetched from the current address space's text
        (``MemoryHierarchy.user_text``), evicting the kernel lines in their sets."""
        loop = self._loop
        loop.now += n * self._c_insn
        h = self.hierarchy
        if h is not None:
            loop.now += h.user_text(self._utext + self._tlb.asid * self._ustride, n)
        if loop.now >= loop.deadline:
            loop.fire_due()

    def copy(self, dst: int, src: int, nwords: int) -> None:
        """Copy ``nwords`` words from ``src`` to ``dst`` (a user-mode copy loop).

        Both ranges are translated through the TLB page by page (faulting
        like any load or store), then moved as a block; charged ``copy_word``
        per word. Ranges must not overlap.
        """
        wb = 1 << self._wshift
        page = self._offmask + 1
        words = self._words
        loop = self._loop
        while nwords > 0:
            n = min(nwords, (page - (src & self._offmask)) // wb, (page - (dst & self._offmask)) // wb)
            self.load(src)  # translate (and fault in) the source page
            self.store(dst, self.load(dst) if n else 0)  # translate the destination page, writable
            view = self._tlb.view
            sb = view.get(src >> self._shift)
            db = view.get(dst >> self._shift)
            if sb is None or db is None:  # one page's refill (or an interrupt) evicted the other: again
                continue
            if db >= 0:  # else read-only, its handler skipped the store: so is the block
                si = (sb if sb >= 0 else sb + self._tlb.memory_words) + ((src & self._offmask) >> self._wshift)
                di = db + ((dst & self._offmask) >> self._wshift)
                words[di : di + n] = words[si : si + n]
                h = self.hierarchy
                if h is not None:  # the loop's loads, then its stores (issued a copy_word apart)
                    t = loop.now
                    loop.now += h.read_range(si << self._wshift, n * wb, t)
                    loop.now += h.write_range(di << self._wshift, n * wb, loop.now, wb, self._c_copy)
            loop.now += n * self._c_copy
            src += n * wb
            dst += n * wb
            nwords -= n
        if loop.now >= loop.deadline:
            loop.fire_due()

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """A procedure call within the current environment: charged ``proc_call``."""
        loop = self._loop
        loop.now += self._c_call
        if loop.now >= loop.deadline:
            loop.fire_due()
        return fn(*args)

    def mem_refs(self, n: int) -> None:
        """``n`` memory references to data the simulator keeps as Python objects
        (a library OS's page table, say): charged as references, not addressed."""
        loop = self._loop
        loop.now += n * self._c_mem
        if loop.now >= loop.deadline:
            loop.fire_due()

    def touch(self, footprint: Footprint, base: int = 0) -> None:
        """A kernel path's cache lines (caches.Footprint; its object-relative data at
        ``base``): under ``detailed`` memory their misses and write-buffer stalls are
        charged now; under ``ideal``, nothing. The one place a kernel path reaches the
        caches (the path still charges its own hits). Kernels on hot paths test
        ``cpu.hierarchy`` once and skip the call under ``ideal``."""
        h = self.hierarchy
        if h is not None:
            loop = self._loop
            loop.now += h.run(footprint, loop.now, base)

    def touch_range(self, paddr: int, nbytes: int, write: bool) -> None:
        """A kernel's loop over ``nbytes`` of physical memory from ``paddr`` (a pipe's
        buffer, copyin's source): its loads, or its stores issued ``reg_save`` apart,
        through the caches under ``detailed`` memory; nothing under ``ideal``."""
        h = self.hierarchy
        if h is not None and nbytes > 0:
            loop = self._loop
            if write:
                wb = 1 << self._wshift
                loop.now += h.write_range(paddr & -wb, nbytes, loop.now, wb, self._c_save)
            else:
                loop.now += h.read_range(paddr, nbytes, loop.now)

    def touch_words(self, indices: list[int], write: bool) -> None:
        """The kernel loading (or storing) the words of physical memory at ``indices``
        (copyin and copyout of user words), through the caches under ``detailed`` memory."""
        h = self.hierarchy
        if h is not None:
            loop = self._loop
            ws = self._wshift
            ref = h.write if write else h.read
            for i in indices:
                loop.now += ref(i << ws, loop.now)

    def kernel_image(self, offset: int = 0) -> KernelImage:
        """A fresh layout for a kernel's image (caches.KernelImage), in kseg0/KSEG above
        the frames the kernels hand out and the kernel stack's page; ``offset`` bytes
        further for a second image (a library OS's text, LIBRARY_IMAGE)."""
        return KernelImage(self._kstack + (self._offmask + 1) + offset, word=1 << self._wshift)

    def cycles(self) -> int:
        """The free-running cycle counter."""
        return self._loop.now

    # --------------------------------------------------------- exceptions

    def install_vectors(
        self, refill: RefillVector, exception: ExceptionVector, interrupt: InterruptVector
    ) -> None:
        """A kernel takes the machine: its TLB-refill, general and interrupt vectors.

        The refill vector is entered directly from ``load``/``store`` on a TLB
        miss (it must charge the hardware's trap entry itself). It returns the
        entry for its closing ``tlbwr`` (performed by the CPU), or None if it
        wrote the TLB some other way (or not at all: the access faults again).
        """
        self.refill_vector = refill
        self.exception_vector = exception
        self.interrupt_vector = interrupt
        self._build_fast_paths()

    def _exception(self, code: Exc, vaddr: int, write: bool, value: int) -> int:
        self._exc_counts[code] += 1
        self.cause = code
        self.badvaddr = vaddr
        self._loop.now += self._c_trap
        return self.exception_vector(code, vaddr, write, value)

    def raise_exception(self, code: Exc, vaddr: int = 0, value: int = 0) -> int:
        """Take exception ``code`` now (used for traps such as unknown system calls)."""
        return self._exception(code, vaddr, False, value)

    def interrupt(self, irq: int) -> None:
        """A device raises interrupt ``irq``; taken at once (we are at a boundary)."""
        self.interrupts += 1
        self._loop.now += self._c_trap + self._c_intr
        self.interrupt_vector(irq)

    # ---------------------------------------------------------- registers

    def save_registers(self, area: list[int], n: int = NREGS) -> None:
        """Store registers 0..n-1 into ``area``; charged n register saves."""
        area[:n] = self.regs[:n]
        h = self.hierarchy
        if h is not None:  # n stores to the kernel stack, through the write buffer
            self._loop.now += h.write_range(self._kstack, n << self._wshift, self._loop.now,
                                            1 << self._wshift, self._c_save)
        self._loop.now += n * self._c_save

    def restore_registers(self, area: list[int], n: int = NREGS) -> None:
        """Load registers 0..n-1 from ``area``; charged n register restores."""
        self.regs[:n] = area[:n]
        h = self.hierarchy
        if h is not None:  # n loads from the kernel stack
            self._loop.now += h.read_range(self._kstack, n << self._wshift, self._loop.now)
        self._loop.now += n * self._c_restore

    def statistics(self) -> CPUStats:
        counts = {Exc(i).name: n for i, n in enumerate(self._exc_counts) if n}
        return CPUStats(counts, self.interrupts, self.asid)
