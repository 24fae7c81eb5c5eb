"""SPIN's memory services: PhysAddr, VirtAddr, Translation, and their events.

What this models
    SPIN's memory interfaces (Bershad et al., SOSP 1995, section 4.1;
    spincore/src/memory). The kernel offers three fine-grained services and
    no address-space model: Unix address spaces, copy-on-write and the
    Appel-Li primitives are extensions built from them.

    * ``PhysAddr``: ``allocate()`` a frame (zeroed) and ``deallocate`` it;
      when no frame is free the ``Reclaim(count)`` event asks the handlers
      to give frames back (each returns how many it freed), then the
      allocation is retried. A frame is a capability: an object whose frame
      number the holder cannot read or change, only pass to the kernel.
    * ``VirtAddr``: ``allocate(ctx, npages)`` / ``deallocate`` ranges of an
      address space's virtual addresses.
    * ``Translation``: ``create()`` / ``destroy(ctx)`` an address space (a
      context with its ASID and page table); ``add_mapping(ctx, vaddr,
      frame, prot)``, ``remove_mapping``, ``examine_mapping`` (the
      protection, or None), ``protect(ctx, vaddr, npages, prot)``,
      ``is_dirty``. Events: ``PageNotPresent(ctx, vaddr, write)`` on a
      reference to an unmapped page (a handler maps it and returns True),
      ``ProtectionFault(ctx, vaddr, write)`` on a reference its protection
      forbids (a handler returns ``RETRY`` after fixing it, or ``SKIP`` to
      skip a store), and ``BadAddress(ctx, vaddr, write)`` when nothing
      made the reference good. The default of each ends the strand.

Why it is built this way
    The kernel keeps each context's page table and refills the software
    TLB from it (the DEC OSF/1 PALcode walks page tables; on the R3000 the
    kernel's refill handler does): a refill costs the trap, two loads of the
    walk and the TLB write. The modified bit is kept in software, as the
    Alpha's fault-on-write bits were used: a writable page is entered
    read-only until its first store, which marks it dirty.

    Every mapping of a frame is recorded with the frame, so deallocating a
    frame removes its mappings first: no address space can keep a reference
    to a frame that was given to someone else.

Interface
    ``Memory(machine, dispatcher, sched)`` with ``physaddr``, ``virtaddr``
    and ``translation`` (the interfaces' members, as exported to extensions),
    ``refill`` and ``exception`` (the CPU's vectors), ``statistics()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..machine import NREGS, Exc, Machine
from .dispatcher import Dispatcher, Event

if TYPE_CHECKING:
    from .strands import Scheduler

PROT_NONE, PROT_READ, PROT_WRITE = 0, 1, 2
PROT_RW = PROT_READ | PROT_WRITE
#: What a ProtectionFault handler returns (0: not handled).
RETRY, SKIP = 1, 2
#: Frames the kernel keeps for itself (its text, data and page tables).
KERNEL_FRAMES = 16
#: The first user virtual page (page 0 stays unmapped: null references fault).
FIRST_USER_PAGE = 16
#: Address-space identifiers the TLB tags entries with (8 bits; 0 is the kernel's).
MAX_ASID = 255


class MemoryFault(Exception):
    """A memory service refused a request (bad argument, no frame, bad address)."""


class Frame:
    """PhysAddr.T: a physical frame, held as an unforgeable reference."""

    __slots__ = ("_pfn", "_live", "_maps")

    def __init__(self, pfn: int) -> None:
        self._pfn = pfn
        self._live = True
        self._maps: set[tuple[Context, int]] = set()

    @property
    def live(self) -> bool:
        return self._live

    def __repr__(self) -> str:
        return "<Frame>"  # the number stays the kernel's


class Context:
    """Translation.T: an address space, its ASID and page table (vpn -> [frame, prot, dirty])."""

    __slots__ = ("_asid", "_view", "_pt", "_live", "_free", "_next", "_name")

    def __init__(self, asid: int, view: dict[int, int], name: str) -> None:
        self._asid = asid
        self._view = view
        self._pt: dict[int, list[Any]] = {}
        self._live = True
        self._free: list[tuple[int, int]] = []  # VirtAddr: freed (vpn, npages) ranges
        self._next = FIRST_USER_PAGE
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    def live(self) -> bool:
        return self._live

    @property
    def mapped(self) -> int:
        return len(self._pt)

    def __repr__(self) -> str:
        return f"<Context {self._name!r}>"


_MOD = Exc.MOD  # read once: an Enum class attribute costs about two plain calls (3.11)

@dataclass(frozen=True, slots=True)
class MemoryStats:
    frames_free: int
    frames_allocated: int
    contexts: int
    mappings: int
    refills: int
    pages_not_present: int
    protection_faults: int
    bad_addresses: int
    reclaims: int


def _fault_result(results: list[Any]) -> Any:
    """Many ProtectionFault/PageNotPresent handlers ran: the first that handled it wins."""
    for r in results:
        if r:
            return r
    return 0


class Memory:
    def __init__(self, machine: Machine, dispatcher: Dispatcher, sched: Scheduler) -> None:
        #: ``detailed`` memory: the paths' lines and the CPU's touch (set by Spin; None: ideal)
        self.fp: Any = None
        self.touch: Callable[[Any, int], None] | None = None
        self.m = machine
        self.loop = machine.loop
        self.tlb = machine.tlb
        self.mem = machine.memory
        self.sched = sched
        p = machine.profile
        self.page_shift = p.page_size.bit_length() - 1
        self.page_size = p.page_size
        self.wpf = p.page_size // p.word_bytes
        self.nwords = self.tlb.memory_words
        self.free: list[int] = list(range(machine.memory.nframes - 1, KERNEL_FRAMES - 1, -1))
        self.contexts: dict[int, Context] = {}
        self._asids = list(range(MAX_ASID, 0, -1))
        # costs, from what each path does
        self._c_refill = p.trap_entry + 2 * p.mem_ref + p.trap_return  # walk: root, PTE (the CPU writes the TLB)
        self._c_map = 2 * p.mem_ref + p.insn  # write a PTE (and the frame's reverse map)
        self._c_unmap = 2 * p.mem_ref + p.tlb_probe  # clear a PTE, probe the TLB for the entry
        self._c_inval = p.tlb_write  # write the probed entry invalid
        self._c_examine = 2 * p.mem_ref
        self._c_alloc = 3 * p.mem_ref  # pop the free list
        self._c_zero = self.wpf * p.mem_ref  # one store per word
        self._c_copy = self.wpf * p.copy_word
        self._c_fault = NREGS * (p.reg_save + p.reg_restore) + p.trap_return  # full state: a fault stops code anywhere
        self._c_dirty = 2 * p.mem_ref + p.tlb_write + p.trap_return
        self.refills = self.not_present = self.prot_faults = self.bad = self.reclaims = 0
        d = dispatcher
        self.Reclaim = d.define(Event("PhysAddr.Reclaim", (int,), int, default=lambda n: 0,
                                      result_handler=sum))
        self.PageNotPresent = d.define(Event(
            "Translation.PageNotPresent", (Context, int, bool), bool, default=lambda c, v, w: False,
            result_handler=_fault_result))
        self.ProtectionFault = d.define(Event(
            "Translation.ProtectionFault", (Context, int, bool), int, default=lambda c, v, w: 0,
            result_handler=_fault_result))
        self.BadAddress = d.define(Event(
            "Translation.BadAddress", (Context, int, bool), None, default=lambda c, v, w: None))
        self.physaddr = {"allocate": self.allocate, "deallocate": self.deallocate,
                         "copy": self.copy, "Reclaim": self.Reclaim}
        self.virtaddr = {"allocate": self.va_allocate, "deallocate": self.va_deallocate,
                         "inherit": self.va_inherit}
        self.translation = {
            "create": self.create, "destroy": self.destroy, "add_mapping": self.add_mapping,
            "remove_mapping": self.remove_mapping, "examine_mapping": self.examine_mapping,
            "protect": self.protect, "is_dirty": self.is_dirty, "frame_of": self.frame_of,
            "PageNotPresent": self.PageNotPresent, "ProtectionFault": self.ProtectionFault,
            "BadAddress": self.BadAddress,
        }

    # ------------------------------------------------------------ PhysAddr

    def allocate(self) -> Frame:
        """A zeroed frame. Raises MemoryFault when none is free even after Reclaim."""
        loop = self.loop
        loop.now += self._c_alloc
        if not self.free:
            self.reclaims += 1
            self.Reclaim.raise_(1)
            if not self.free:
                raise MemoryFault("PhysAddr.allocate: out of physical frames")
        pfn = self.free.pop()
        loop.now += self._c_zero
        self.mem.zero(pfn)
        return Frame(pfn)

    def deallocate(self, frame: Frame) -> None:
        """Give ``frame`` back; every mapping of it is removed first."""
        self._frame(frame, "PhysAddr.deallocate")
        for ctx, vpn in list(frame._maps):
            self._unmap(ctx, vpn)
        frame._live = False
        self.loop.now += self._c_alloc
        self.free.append(frame._pfn)

    def copy(self, dst: Frame, src: Frame) -> None:
        """Copy ``src``'s contents into ``dst`` (copy-on-write's copy)."""
        self._frame(dst, "PhysAddr.copy")
        self._frame(src, "PhysAddr.copy")
        self.loop.now += self._c_copy
        self.mem.copy(dst._pfn, src._pfn)

    @staticmethod
    def _frame(frame: Any, who: str) -> Frame:
        if not isinstance(frame, Frame):
            raise MemoryFault(f"{who}: not a frame: {type(frame).__name__}")
        if not frame._live:
            raise MemoryFault(f"{who}: the frame was deallocated")
        return frame

    # ------------------------------------------------------------ VirtAddr

    def va_allocate(self, ctx: Context, npages: int) -> int:
        """The address of ``npages`` unused, contiguous pages of ``ctx``."""
        self._ctx(ctx, "VirtAddr.allocate")
        if not isinstance(npages, int) or npages <= 0:
            raise MemoryFault(f"VirtAddr.allocate: npages must be a positive int, not {npages!r}")
        self.loop.now += self._c_examine
        for i, (vpn, n) in enumerate(ctx._free):
            if n >= npages:
                if n == npages:
                    del ctx._free[i]
                else:
                    ctx._free[i] = (vpn + npages, n - npages)
                return vpn << self.page_shift
        vpn = ctx._next
        if (vpn + npages) << self.page_shift > 0x7FFF_0000:
            raise MemoryFault("VirtAddr.allocate: address space exhausted")
        ctx._next = vpn + npages
        return vpn << self.page_shift

    def va_inherit(self, child: Context, parent: Context) -> None:
        """Allocate in ``child`` every range allocated in ``parent`` (fork's address space)."""
        self._ctx(child, "VirtAddr.inherit")
        self._ctx(parent, "VirtAddr.inherit")
        self.loop.now += self._c_examine
        child._next = parent._next
        child._free = list(parent._free)

    def va_deallocate(self, ctx: Context, vaddr: int, npages: int) -> None:
        self._ctx(ctx, "VirtAddr.deallocate")
        vpn = self._vpn(vaddr, "VirtAddr.deallocate")
        if not isinstance(npages, int) or npages <= 0 or vpn + npages > ctx._next:
            raise MemoryFault(f"VirtAddr.deallocate: bad range of {npages!r} pages at {vaddr:#x}")
        self.loop.now += self._c_examine
        ctx._free.append((vpn, npages))

    # ------------------------------------------------------------ Translation

    def create(self, name: str = "") -> Context:
        """A new, empty address space."""
        if not self._asids:
            raise MemoryFault("Translation.create: no address-space identifier left")
        asid = self._asids.pop()
        ctx = Context(asid, self.tlb.view_of(asid), name or f"space {asid}")
        self.contexts[asid] = ctx
        self.loop.now += self._c_map
        return ctx

    def destroy(self, ctx: Context) -> None:
        """Remove every mapping of ``ctx`` and retire it (its frames stay their holders')."""
        self._ctx(ctx, "Translation.destroy")
        for vpn in list(ctx._pt):
            self._unmap(ctx, vpn)
        self.tlb.flush_asid(ctx._asid)
        ctx._live = False
        del self.contexts[ctx._asid]
        self._asids.append(ctx._asid)

    def add_mapping(self, ctx: Context, vaddr: int, frame: Frame, prot: int) -> None:
        """Map page ``vaddr`` of ``ctx`` to ``frame`` with ``prot`` (replacing any mapping)."""
        self._ctx(ctx, "Translation.add_mapping")
        vpn = self._vpn(vaddr, "Translation.add_mapping")
        self._frame(frame, "Translation.add_mapping")
        self._prot(prot, "Translation.add_mapping")
        if vpn in ctx._pt:
            self._unmap(ctx, vpn)
        self.loop.now += self._c_map
        ctx._pt[vpn] = [frame, prot, False]
        frame._maps.add((ctx, vpn))

    def remove_mapping(self, ctx: Context, vaddr: int) -> None:
        self._ctx(ctx, "Translation.remove_mapping")
        vpn = self._vpn(vaddr, "Translation.remove_mapping")
        if vpn not in ctx._pt:
            raise MemoryFault(f"Translation.remove_mapping: {vaddr:#x} is not mapped")
        self._unmap(ctx, vpn)

    def examine_mapping(self, ctx: Context, vaddr: int) -> int | None:
        """The protection of page ``vaddr`` (PROT_*), or None if it is not mapped."""
        self._ctx(ctx, "Translation.examine_mapping")
        e = ctx._pt.get(self._vpn(vaddr, "Translation.examine_mapping"))
        self.loop.now += self._c_examine
        return None if e is None else e[1]

    def frame_of(self, ctx: Context, vaddr: int) -> Frame | None:
        """The frame mapped at page ``vaddr`` (to share or copy it), or None."""
        self._ctx(ctx, "Translation.frame_of")
        e = ctx._pt.get(self._vpn(vaddr, "Translation.frame_of"))
        self.loop.now += self._c_examine
        return None if e is None else e[0]

    def is_dirty(self, ctx: Context, vaddr: int) -> bool:
        """Has page ``vaddr`` been written since it was mapped or last protected?"""
        self._ctx(ctx, "Translation.is_dirty")
        vpn = self._vpn(vaddr, "Translation.is_dirty")
        e = ctx._pt.get(vpn)
        self.loop.now += self._c_examine
        if self.touch is not None:  # ``detailed`` memory: the PTE through the caches
            self.touch(self.fp.examine, self.fp.pte(ctx._asid, vpn))
        return bool(e is not None and e[2])

    def protect(self, ctx: Context, vaddr: int, npages: int, prot: int) -> int:
        """Set the protection of the mapped pages among ``npages`` from ``vaddr``; clears their
        modified bits. Returns how many were mapped."""
        self._ctx(ctx, "Translation.protect")
        vpn = self._vpn(vaddr, "Translation.protect")
        self._prot(prot, "Translation.protect")
        if not isinstance(npages, int) or npages <= 0:
            raise MemoryFault(f"Translation.protect: npages must be a positive int, not {npages!r}")
        pt, view, asid = ctx._pt, ctx._view, ctx._asid
        loop, tlb = self.loop, self.tlb
        c_pte, c_inval = self._c_unmap, self._c_inval
        touch = self.touch  # ``detailed`` memory: each PTE through the caches
        n = 0
        for v in range(vpn, vpn + npages):
            e = pt.get(v)
            loop.now += c_pte
            if touch is not None:
                touch(self.fp.protect, self.fp.pte(asid, v))
            if e is None:
                continue
            e[1] = prot
            e[2] = False
            n += 1
            if v in view:  # the TLB holds the old rights: invalidate them
                loop.now += c_inval
                tlb.invalidate(v << 8 | asid)
        return n

    def _unmap(self, ctx: Context, vpn: int) -> None:
        e = ctx._pt.pop(vpn)
        e[0]._maps.discard((ctx, vpn))
        self.loop.now += self._c_unmap
        if vpn in ctx._view:
            self.loop.now += self._c_inval
            self.tlb.invalidate(vpn << 8 | ctx._asid)

    # ------------------------------------------------------------ argument checks

    def _ctx(self, ctx: Any, who: str) -> Context:
        if not isinstance(ctx, Context):
            raise MemoryFault(f"{who}: not an address space: {type(ctx).__name__}")
        if not ctx._live:
            raise MemoryFault(f"{who}: the address space was destroyed")
        return ctx

    def _vpn(self, vaddr: Any, who: str) -> int:
        if not isinstance(vaddr, int) or vaddr < 0 or vaddr >= 0x8000_0000 or vaddr & (self.page_size - 1):
            raise MemoryFault(f"{who}: not a page-aligned user address: {vaddr!r}")
        return vaddr >> self.page_shift

    @staticmethod
    def _prot(prot: Any, who: str) -> None:
        if not isinstance(prot, int) or prot & ~PROT_RW:
            raise MemoryFault(f"{who}: bad protection {prot!r} (PROT_NONE, PROT_READ, PROT_RW)")

    # ------------------------------------------------------------ the CPU's vectors

    def _space(self) -> Context:
        ctx = self.contexts.get(self.tlb.asid)
        if ctx is None:  # a kernel strand touched user memory
            raise MemoryFault("a reference to user memory outside any address space")
        return ctx

    def refill(self, vpn: int, vaddr: int, write: bool) -> int | None:
        """The TLB-refill vector: walk the current context's page table."""
        self.refills += 1
        self.loop.now += self._c_refill
        ctx = self._space()
        if self.touch is not None:
            self.touch(self.fp.root, self.fp.space(ctx._asid))
            self.touch(self.fp.refill, self.fp.pte(ctx._asid, vpn))
        e = ctx._pt.get(vpn)
        if e is None:
            self.not_present += 1
            self.loop.now += self._c_fault
            if self.touch is not None:
                self._touch_fault()
            if not self.PageNotPresent.raise_(ctx, vaddr & ~(self.page_size - 1), write):
                self._bad(ctx, vaddr, write, "page not present")
            return None  # the handler mapped it: the access retries and refills
        prot = e[1]
        if not prot & PROT_READ:
            self._protection(ctx, vaddr, write)
            return None
        b = e[0]._pfn * self.wpf
        if prot & PROT_WRITE and (write or e[2]):
            e[2] = True
            return b
        return b - self.nwords  # read-only (or clean: the first store marks it dirty)

    def exception(self, code: Exc, vaddr: int, write: bool, value: int) -> int:
        """The general vector: protection faults and bad addresses."""
        ctx = self._space()
        if code is _MOD:
            vpn = vaddr >> self.page_shift
            e = ctx._pt.get(vpn)
            if e is not None and e[1] & PROT_WRITE:  # first store to a clean writable page
                self.loop.now += self._c_dirty
                e[2] = True
                self.tlb.invalidate(vpn << 8 | ctx._asid)
                return 0  # retried: the refill enters it writable
            return self._protection(ctx, vaddr, write)
        self._bad(ctx, vaddr, write, f"{code.name} exception")
        return 0

    def _touch_fault(self) -> None:
        """The fault entry's lines: every register into the current strand's save area."""
        cur = self.sched.current
        assert self.touch is not None
        self.touch(self.fp.fault, self.fp.strand(0 if cur is None else cur._id))

    def _protection(self, ctx: Context, vaddr: int, write: bool) -> int:
        self.prot_faults += 1
        self.loop.now += self._c_fault
        if self.touch is not None:
            self._touch_fault()
        r = self.ProtectionFault.raise_(ctx, vaddr, write)
        if r == SKIP:
            return 1
        if r == RETRY:
            return 0
        self._bad(ctx, vaddr, write, "protection fault")
        return 0

    def _bad(self, ctx: Context, vaddr: int, write: bool, why: str) -> None:
        self.bad += 1
        self.BadAddress.raise_(ctx, vaddr, write)
        # a BadAddress handler that returns has not ended the strand: the default does
        self._bad_address(ctx, vaddr, write, why)

    def _bad_address(self, ctx: Context, vaddr: int, write: bool, why: str = "bad address") -> None:
        s = self.sched.current
        if s is None:
            raise MemoryFault(f"{why} at {vaddr:#x} outside any strand")
        self.sched.kill(s, f"{why}: {'store to' if write else 'load from'} {vaddr:#x} in {ctx.name}")

    def statistics(self) -> MemoryStats:
        nframes = self.m.memory.nframes - KERNEL_FRAMES
        maps = sum(len(c._pt) for c in self.contexts.values())
        return MemoryStats(len(self.free), nframes - len(self.free), len(self.contexts), maps,
                           self.refills, self.not_present, self.prot_faults, self.bad, self.reclaims)
