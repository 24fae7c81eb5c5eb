"""The processor: register file, user-mode instructions, exception and interrupt entry.

What this models
    A MIPS-like CPU with the parts an exokernel exposes (Kane & Heinrich,
    ch. 5-6): 32 general registers, the coprocessor-0 registers that
    describe an exception (Cause, EPC, BadVAddr), the current address-space
    identifier, and three entry points a kernel installs:

    * ``refill_vector(key, vaddr, write)``: the TLB-refill vector (on the
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
    ``mem_refs(n)``, ``cycles()`` for user code; ``interrupt(irq)`` for devices;
    ``save_registers(area, n)``/``restore_registers(area, n)`` for kernels
    and library OSes; ``statistics()``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .events import EventLoop
    from .memory import PhysicalMemory
    from .profiles import Profile
    from .tlb import TLB, Entry

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


class MachineCheck(RuntimeError):
    """The hardware had nowhere to go: no kernel vector was installed."""


@dataclass(frozen=True, slots=True)
class CPUStats:
    exceptions: Mapping[str, int]
    tlb_refills: int
    interrupts: int
    asid: int


RefillVector = Callable[[int, int, bool], "Entry | None"]
ExceptionVector = Callable[[Exc, int, bool, int], int]
InterruptVector = Callable[[int], None]


def _no_vector(*args: object) -> int:
    raise MachineCheck("exception taken with no kernel vector installed")


class CPU:
    """One processor. Attributes read on hot paths are plain slots."""

    __slots__ = (
        "regs", "epc", "cause", "badvaddr", "asid", "kernel_mode",
        "refill_vector", "exception_vector", "interrupt_vector",
        "_loop", "_tlbmap", "_words", "_shift", "_offmask", "_wshift", "_bad",
        "_wmask", "_smin", "_smax", "_c_mem", "_c_insn", "_c_trap", "_c_intr",
        "_c_save", "_c_restore", "_exc_counts", "refills", "interrupts",
    )

    def __init__(self, loop: EventLoop, profile: Profile, memory: PhysicalMemory, tlb: TLB) -> None:
        self.regs: list[int] = [0] * NREGS
        self.epc = 0
        self.cause = 0
        self.badvaddr = 0
        self.asid = 0
        self.kernel_mode = True
        self.refill_vector: RefillVector = _no_vector
        self.exception_vector: ExceptionVector = _no_vector
        self.interrupt_vector: InterruptVector = _no_vector
        self._loop = loop
        self._tlbmap = tlb.map
        self._words = memory.words
        self._shift = profile.page_size.bit_length() - 1
        self._offmask = profile.page_size - 1
        self._wshift = profile.word_bytes.bit_length() - 1
        # One AND finds every bad user address: negative, >= 2 GB, or unaligned.
        self._bad = ~((USER_TOP - 1) & ~(profile.word_bytes - 1))
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
        self._exc_counts: Counter[str] = Counter()
        self.refills = 0
        self.interrupts = 0

    # ----------------------------------------------------------- user mode

    def load(self, vaddr: int) -> int:
        """Load the word at ``vaddr`` through the TLB."""
        if vaddr & self._bad:
            return self._exception(Exc.ADEL, vaddr, False, 0)
        key = (vaddr >> self._shift) << 8 | self.asid
        e = self._tlbmap.get(key)
        while e is None:
            e = self._refill(key, vaddr, False)
        loop = self._loop
        loop.now += self._c_mem
        v = self._words[e[0] + ((vaddr & self._offmask) >> self._wshift)]
        if loop.now >= loop.deadline:
            loop.fire_due()
        return v

    def store(self, vaddr: int, value: int) -> None:
        """Store ``value`` (taken modulo the word size) at ``vaddr``."""
        if vaddr & self._bad:
            self._exception(Exc.ADES, vaddr, True, value)
            return
        key = (vaddr >> self._shift) << 8 | self.asid
        e = self._tlbmap.get(key)
        while e is None or not e[1]:
            if e is None:
                e = self._refill(key, vaddr, True)
            else:  # mapped read-only: TLB modified exception
                self._exception(Exc.MOD, vaddr, True, value)
                e = self._tlbmap.get(key)
        loop = self._loop
        loop.now += self._c_mem
        self._words[e[0] + ((vaddr & self._offmask) >> self._wshift)] = value & self._wmask
        if loop.now >= loop.deadline:
            loop.fire_due()

    def add(self, a: int, b: int) -> int:
        """MIPS ``add``: signed add that traps on overflow.

        On overflow the kernel's exception path runs; whatever the user's
        handler returns becomes the result.
        """
        r = a + b
        if r < self._smin or r > self._smax:
            return self._exception(Exc.OV, 0, False, r)
        loop = self._loop
        loop.now += self._c_insn
        if loop.now >= loop.deadline:
            loop.fire_due()
        return r

    def compute(self, n: int) -> None:
        """Execute ``n`` ordinary instructions (user code declaring its work)."""
        loop = self._loop
        loop.now += n * self._c_insn
        if loop.now >= loop.deadline:
            loop.fire_due()

    def mem_refs(self, n: int) -> None:
        """``n`` memory references to data the simulator keeps as Python objects
        (a library OS's page table, say): charged as references, not addressed."""
        loop = self._loop
        loop.now += n * self._c_mem
        if loop.now >= loop.deadline:
            loop.fire_due()

    def cycles(self) -> int:
        """The free-running cycle counter."""
        return self._loop.now

    # --------------------------------------------------------- exceptions

    def _refill(self, key: int, vaddr: int, write: bool) -> Entry | None:
        self.refills += 1
        self.badvaddr = vaddr
        self._loop.now += self._c_trap
        self.refill_vector(key, vaddr, write)
        return self._tlbmap.get(key)

    def _exception(self, code: Exc, vaddr: int, write: bool, value: int) -> int:
        self._exc_counts[code.name] += 1
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
        self._loop.now += n * self._c_save

    def restore_registers(self, area: list[int], n: int = NREGS) -> None:
        """Load registers 0..n-1 from ``area``; charged n register restores."""
        self.regs[:n] = area[:n]
        self._loop.now += n * self._c_restore

    def statistics(self) -> CPUStats:
        return CPUStats(dict(self._exc_counts), self.refills, self.interrupts, self.asid)
