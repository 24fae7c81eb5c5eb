"""A minimal library OS: page table, TLB-miss and fault handling, epilogue, revocation.

What this models
    The smallest library operating system that makes an Aegis environment
    useful (Engler et al., section 6): everything Aegis refuses to decide
    is decided here, in user space, by untrusted code.

    * Virtual memory: a page table of its own (virtual page -> frame
      capability), regions that are demand-zero, and a TLB-miss handler that
      walks the table and asks Aegis for the binding (``tlb_write``).
    * Faults: an application may install an Appel-Li style handler for
      protection faults; without one a fault ends the environment with a
      message naming the address.
    * The processor: the epilogue saves the 32 registers in the library OS's
      own save area and the prologue restores them.
    * Revocation: when the kernel asks for N frames the library OS chooses
      which (its page-replacement policy decides: ``exos/paging/``, the
      oldest pages by default), copies them to its swap area, unmaps and
      frees them; a later touch pages them back in. After an abort it reads
      the repossession vector and forgets the pages it lost.
    * A resident-set limit of its own (``max_resident``): touching one page
      more than the limit first pages one out, chosen by the same policy.

Why it is built this way
    It is the foundation's test bed and the benchmarks' library OS; ExOS
    proper (processes, fork, IPC) is built on the same mechanisms in its own
    modules. The page table is one of ``exos/pagetable/`` (the linear
    two-level table by default, whose walk is charged as its two memory
    references; or the inverted one), chosen per process. Frames are chosen
    by name from the kernel's exposed free list, lowest number first.

Interface
    ``MiniOS(sys, cooperative=True, paging="fifo", max_resident=None, page_table="linear")``;
    ``map_region(vaddr, npages)``;
    ``load``/``store``; ``on_protection(fn)``; ``protect(vaddr)``,
    ``unprotect(vaddr)``; ``statistics()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..aegis import BadFrame, Capability, Syscalls
from .pagetable import PTE as PTE  # the entry, defined with the tables
from .pagetable import TABLES, Inverted, PageTable
from .pagetable import check as check_page_table
from .pagetable.inverted import PLACED_WORDS
from .pagetable.linear import PT_WALK_REFS as PT_WALK_REFS  # the linear table's walk
from .paging import POLICIES, Replacement
from .paging import check as check_paging

FREE_BATCH = 32  # free frames read from Aegis' exposed bitmap at a time (the lowest)


#: where the library's image starts, past the kernel's (machine/cpu.kernel_image): one
#: copy of ExOS' text for every process, as a shared library's text is one copy in memory
LIBRARY_IMAGE = 4 << 20
#: second-level page-table pages of the library's page tables, hashed by (env, index)
PT_PAGES = 256
#: inverted page tables laid out in the library's image (one per environment, by id modulo this)
INVERTED_TABLES = 16


class _LibraryFootprints:
    """The cache lines of ExOS' handlers that Aegis upcalls into (docs/memory.md): as for
    the kernels' paths, the text of what the handler counts (its page-table walk's loads,
    the decode of the faulting address: shift, mask, index, test; the call of tlb_write)
    and the page-table entry it reads (``pte(env, vpn)``); the protection change's store."""

    __slots__ = ("tlb_miss", "set_writable", "tlb_miss_text", "set_writable_text", "_pt", "_inv", "_page",
                 "_ptes", "_pshift", "_w")

    def __init__(self, sys: Syscalls) -> None:
        w = self._w = sys.word_bytes
        self._page = sys.page_size
        img = sys.cpu.kernel_image(LIBRARY_IMAGE)
        self._pt = img.region("ptpages", PT_PAGES * sys.page_size)
        self._ptes = sys.page_size // w
        self._pshift = self._ptes.bit_length() - 1
        self.tlb_miss = img.path("exos_tlb_miss", 4 + PT_WALK_REFS + 2, obj_reads=(0,))
        self.set_writable = img.path("exos_set_writable", 4 + PT_WALK_REFS + 2, obj_reads=(0,), obj_writes=(0,))
        # the same handlers' text alone, for a process on the inverted table, whose lookup
        # touches its own bucket, tags, links and PTE (pagetable.Inverted.place)
        self.tlb_miss_text = img.path("exos_tlb_miss", 4 + PT_WALK_REFS + 2)
        self.set_writable_text = img.path("exos_set_writable", 4 + PT_WALK_REFS + 2)
        self._inv = img.region("inverted", PLACED_WORDS * w, INVERTED_TABLES)

    def inverted(self, env: int) -> int:
        """The physical address of environment ``env``'s inverted page table."""
        return self._inv + (env % INVERTED_TABLES) * PLACED_WORDS * self._w

    def pte(self, env: int, vpn: int) -> int:
        page = (env * 64 + (vpn >> self._pshift)) % PT_PAGES
        return self._pt + page * self._page + (vpn & (self._ptes - 1)) * self._w


@dataclass(frozen=True, slots=True)
class MiniOSStats:
    pages_mapped: int
    pages_resident: int
    frames_held: int
    tlb_miss_upcalls: int
    demand_zero_fills: int
    page_ins: int
    page_outs: int
    protection_faults: int
    pages_lost: int
    epilogues: int
    #: pages paged out to stay within ``max_resident`` (the others answered revocations)
    self_evictions: int


class MiniOS:
    """One environment's library OS."""

    def __init__(self, sys: Syscalls, cooperative: bool = True, paging: str = "fifo",
                 max_resident: int | None = None, page_table: str = "linear") -> None:
        check_paging(paging, max_resident)
        check_page_table(page_table)
        self.sys = sys
        self.cpu = sys.cpu
        self.cooperative = cooperative
        self.page = sys.page_size
        self._shift = sys.page_size.bit_length() - 1
        #: the page table (exos/pagetable/): virtual page -> PTE
        self.pt: PageTable = TABLES[page_table](self.cpu.mem_refs, self.cpu.compute,
                                                sys.page_size // sys.word_bytes)
        self.paging = paging
        self.max_resident = max_resident
        #: the resident pages, kept by the page-replacement policy (exos/paging/)
        self.resident: Replacement = POLICIES[paging](self.cpu.mem_refs)
        self.self_evictions = 0
        self.save_area = [0] * 32
        self._free_hint: list[int] = []
        self._prot_handler: Callable[[int], bool | None] | None = None
        self.lost: list[int] = []
        self.tlb_miss_upcalls = 0
        self.demand_zero_fills = 0
        self.page_ins = 0
        self.page_outs = 0
        self.protection_faults = 0
        self.epilogues = 0
        for kind, fn in (
            ("tlb_miss", self._tlb_miss),
            ("protection", self._protection),
            ("epilogue", self._epilogue),
            ("prologue", self._prologue),
            ("revoke", self._revoke),
            ("repossessed", self._repossessed),
        ):
            sys.set_handler(kind, fn)
        self.load = self.cpu.load
        self.store = self.cpu.store
        # ``detailed`` memory: the handlers' cache lines (_LibraryFootprints); None under ideal
        self._touch = None if self.cpu.hierarchy is None else self.cpu.touch
        self._fp = _LibraryFootprints(sys) if self._touch is not None else None
        self._inverted = isinstance(self.pt, Inverted)
        if self._fp is not None and isinstance(self.pt, Inverted):
            self.pt.place(self.cpu.touch_words, self._fp.inverted(sys.env_id()) // sys.word_bytes)

    # ------------------------------------------------------------ memory

    def map_region(self, vaddr: int, npages: int, writable: bool = True) -> None:
        """Declare ``npages`` demand-zero pages from ``vaddr`` (frames come on first touch)."""
        if vaddr & (self.page - 1):
            raise ValueError(f"map_region: {vaddr:#x} is not page-aligned")
        for i in range(npages):
            self.pt.setdefault((vaddr >> self._shift) + i, PTE(None, writable))

    def _grab_frame(self) -> Capability:
        while True:
            if not self._free_hint:
                self._free_hint = self.sys.free_frames(FREE_BATCH)[::-1]  # lowest last: pop() takes it
                if not self._free_hint:
                    raise MemoryError("no free physical frame")
            pfn = self._free_hint.pop()
            try:
                return self.sys.frame_alloc(pfn)
            except BadFrame:  # someone took it since we read the free list
                continue

    def _make_resident(self, vpn: int, pte: PTE) -> None:
        if self.max_resident is not None and len(self.resident) >= self.max_resident:
            self._make_room()
        cap = self._grab_frame()
        pte.cap = cap
        self.resident.add(vpn)
        base = vpn << self._shift
        if pte.swapped is not None:  # page in: copy the saved words back
            self.sys.tlb_write(base, cap, True)
            wb = self.sys.word_bytes
            words = pte.swapped
            for off in range(0, self.page, wb):
                w = int.from_bytes(words[off : off + wb], "little")
                if w:
                    self.store(base + off, w)
            pte.swapped = None
            self.page_ins += 1
        else:
            self.demand_zero_fills += 1  # Aegis zeroed the frame when it was allocated

    def die(self, message: str) -> None:
        """End the environment with ``message`` (a library OS above may do more first)."""
        self.sys.exit(message)

    # ------------------------------------------------------------ handlers

    def _tlb_miss(self, vaddr: int, write: bool) -> None:
        self.tlb_miss_upcalls += 1
        vpn = vaddr >> self._shift
        if self._touch is not None:
            assert self._fp is not None
            if self._inverted:
                self._touch(self._fp.tlb_miss_text)
            else:
                self._touch(self._fp.tlb_miss, self._fp.pte(self.sys.env_id(), vpn))
        pte = self.pt.lookup(vpn)
        if pte is None:
            self.die(f"segmentation fault at {vaddr:#x}: page not mapped")
            return
        if pte.cap is None:
            self._make_resident(vpn, pte)
        else:
            self.resident.referenced(vpn)
        self.sys.tlb_write(vpn << self._shift, pte.cap, pte.writable)  # type: ignore[arg-type]

    def _protection(self, vaddr: int) -> bool | None:
        self.protection_faults += 1
        if self._prot_handler is None:
            self.die(f"protection fault at {vaddr:#x}: store to a read-only page")
            return None
        return self._prot_handler(vaddr)

    def _epilogue(self) -> None:
        self.epilogues += 1
        self.cpu.save_registers(self.save_area)

    def _prologue(self) -> None:
        self.cpu.restore_registers(self.save_area)

    def _revoke(self, nframes: int) -> None:
        if not self.cooperative:
            return  # ignore the kernel: the abort protocol will come
        for vpn in self.resident.choose(nframes, self._evictable, self._unbind):
            self.page_out(vpn)

    def _make_room(self) -> None:
        """At the resident-set limit: page out enough pages to make room for one more (one,
        unless a forked child started over the limit), as the policy chooses; fewer if not
        enough may go (shared or copy-on-write pages), and the limit then gives way."""
        assert self.max_resident is not None
        n = len(self.resident) - self.max_resident + 1
        for vpn in self.resident.choose(n, self._evictable, self._unbind):
            self.page_out(vpn)
            self.self_evictions += 1

    def _unbind(self, vpn: int) -> None:
        """Remove page ``vpn``'s binding, so that its next access reaches our TLB-miss
        handler (how a library OS sees references on a machine without reference bits)."""
        self.sys.tlb_unmap(vpn << self._shift)

    def _evictable(self, vpn: int) -> bool:
        """May this page be paged out (to answer a revocation, or to make room)?"""
        return self.pt[vpn].cap is not None

    def page_out(self, vpn: int) -> None:
        """Copy page ``vpn`` to the swap area, unmap it and free its frame."""
        pte = self.pt[vpn]
        base = vpn << self._shift
        wb = self.sys.word_bytes
        out = bytearray(self.page)
        for off in range(0, self.page, wb):
            out[off : off + wb] = self.load(base + off).to_bytes(wb, "little")
        pte.swapped = bytes(out)
        self.sys.tlb_unmap(base)
        cap = pte.cap
        pte.cap = None
        self.resident.remove(vpn)
        self.sys.frame_free(cap)  # type: ignore[arg-type]
        self.page_outs += 1

    def _repossessed(self, pfns: list[int]) -> None:
        taken = set(pfns)
        for vpn in list(self.resident):
            pte = self.pt[vpn]
            if pte.cap is not None and pte.cap.resource in taken:
                pte.cap = None  # contents are gone: it will be demand-zero again
                self.resident.remove(vpn)
                self.lost.append(vpn)
        self.sys.repossession_vector()  # read and clear the kernel's record

    # ------------------------------------------------------ Appel-Li hooks

    def on_protection(self, fn: Callable[[int], bool | None] | None) -> None:
        """Call ``fn(vaddr)`` on a store to a protected page: it unprotects the
        page (the store is retried) or returns True (the store is skipped)."""
        self._prot_handler = fn

    def protect(self, vaddr: int) -> None:
        """Make the page at ``vaddr`` read-only."""
        self._set_writable(vaddr, False)

    def unprotect(self, vaddr: int) -> None:
        """Make the page at ``vaddr`` writable again."""
        self._set_writable(vaddr, True)

    def _set_writable(self, vaddr: int, writable: bool) -> None:
        vpn = vaddr >> self._shift
        pte = self.pt.lookup(vpn)
        if pte is None:
            raise KeyError(f"page {vaddr:#x} is not mapped")
        pte.writable = writable
        if self._touch is not None:
            assert self._fp is not None
            if self._inverted:
                self._touch(self._fp.set_writable_text)
            else:
                self._touch(self._fp.set_writable, self._fp.pte(self.sys.env_id(), vpn))
        if pte.cap is not None:
            self.sys.tlb_write(vpn << self._shift, pte.cap, writable)

    def statistics(self) -> MiniOSStats:
        return MiniOSStats(
            pages_mapped=len(self.pt),
            pages_resident=len(self.resident),
            frames_held=sum(1 for p in self.pt.values() if p.cap is not None),
            tlb_miss_upcalls=self.tlb_miss_upcalls,
            demand_zero_fills=self.demand_zero_fills,
            page_ins=self.page_ins,
            page_outs=self.page_outs,
            protection_faults=self.protection_faults,
            pages_lost=len(self.lost),
            epilogues=self.epilogues,
            self_evictions=self.self_evictions,
        )
