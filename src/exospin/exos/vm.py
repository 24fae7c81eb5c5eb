"""ExOS virtual memory: protections, copy-on-write, dirty bits and user-level faults.

What this models
    ExOS' address spaces (Engler et al., section 6.2; Kaashoek et al.,
    1997). Everything here is library code; Aegis only checks each binding:

    * pages are demand-zero; each has a protection (none, read, read-write);
    * the R3000 has no dirty bit, so ExOS keeps one in software: a clean
      page is mapped read-only, and its first store faults once, marks it
      dirty and maps it writable;
    * copy-on-write after fork: both processes map the frame read-only; the
      first store copies it (or, if nobody else still maps it, just takes it
      back writable);
    * the Appel-Li primitives go straight to the application: a fault the
      protection forbids calls the process's own handler (no signal frame,
      no kernel crossing beyond the exception itself), which may change the
      protection and have the access retried, or skip a store;
    * ``alias`` maps one frame at a second address.

Why it is built this way
    It extends the minimal library OS (page table, demand-zero, swap on
    revocation) rather than repeating it. Frames shared between processes
    (copy-on-write, shared memory, pipes) are counted in the shared segment
    (shared.py), so that an exiting process hands each one still in use to
    another process instead of freeing it under them.

Interface
    ``AddressSpace(sys, shared, pid, paging="fifo", max_resident=None, page_table="linear")``;
    ``mmap``, ``munmap``, ``mprotect``, ``dirty``, ``alias``, ``on_fault``; ``fork_copy(child_pid)`` and
    ``adopt(pt)`` for fork; ``release()`` at exit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..aegis import BadCapability, Capability, Rights, Syscalls
from .minimal import PTE, MiniOS
from .pagetable import PageTable
from .shared import ExOSShared

PROT_NONE, PROT_READ, PROT_WRITE = 0, 1, 2
PROT_RW = PROT_READ | PROT_WRITE

MMAP_BASE = 0x1000_0000  # where mmap hands out address space
SCRATCH = 0x7F00_0000  # a window ExOS maps a frame at while it copies into it
MAX_REPEATED_FAULTS = 3  # the same fault, unfixed by the handler, this often: the process dies

FaultHandler = Callable[[int, bool], Any]


class SegmentationFault(Exception):
    """An access the process is not allowed, with no handler to deal with it."""


class AddressSpace(MiniOS):
    """One ExOS process's virtual memory."""

    def __init__(self, sys: Syscalls, shared: ExOSShared, pid: int, paging: str = "fifo",
                 max_resident: int | None = None, page_table: str = "linear") -> None:
        super().__init__(sys, cooperative=True, paging=paging, max_resident=max_resident,
                         page_table=page_table)
        self.shared = shared
        self.pid = pid
        self.fault_handler: FaultHandler | None = None
        self.next_va = MMAP_BASE
        self._last_fault: tuple[int, bool] | None = None
        self._in_handler = False
        self._fault_repeats = 0
        sys.set_handler("address_error", self._address_error)
        self.cow_copies = 0
        self.cow_reclaims = 0
        self.dirty_faults = 0
        self.user_faults = 0

    # ------------------------------------------------------------ regions

    def mmap(self, npages: int, prot: int = PROT_RW) -> int:
        if type(npages) is not int or npages <= 0:
            raise ValueError(f"mmap: npages must be a positive int, not {npages!r}")
        va = self.next_va
        self.next_va += npages * self.page
        self.pt.enter(va >> self._shift, [PTE(None, False, prot=prot) for _ in range(npages)])
        return va

    def map_shared(self, caps: list[Capability]) -> int:
        """Map frames shared with other processes (a pipe's buffer, a segment) at fresh
        addresses, read-write, never copy-on-write; returns the first address. The caller
        has recorded the sharing in the shared segment."""
        va = self.next_va
        self.next_va += len(caps) * self.page
        first = va >> self._shift
        for i, cap in enumerate(caps):
            self.pt[first + i] = PTE(cap, False, prot=PROT_RW, shared=True, dirty=True)
            self.resident.add(first + i)
        return va

    def munmap(self, vaddr: int, npages: int) -> None:
        first = vaddr >> self._shift
        for vpn in range(first, first + npages):
            pte = self.pt.pop(vpn, None)
            if pte is not None:
                self._drop(vpn, pte)

    def mprotect(self, vaddr: int, npages: int, prot: int) -> None:
        """Set the protection of ``npages`` pages; resident ones are rebound at once."""
        first = vaddr >> self._shift
        lookup = self.pt.lookup
        for vpn in range(first, first + npages):
            pte = lookup(vpn)
            if pte is None:
                raise ValueError(f"mprotect: page {vpn << self._shift:#x} is not mapped")
            pte.prot = prot
            if pte.cap is None:
                continue
            base = vpn << self._shift
            if prot == PROT_NONE:
                self.sys.tlb_unmap(base)
            else:
                if not prot & PROT_WRITE:
                    pte.dirty = False  # dirty means "written since it was last made read-only"
                self._bind(vpn, pte)

    def on_fault(self, handler: FaultHandler | None) -> None:
        self.fault_handler = handler

    def dirty(self, vaddr: int) -> bool:
        pte = self.pt.lookup(vaddr >> self._shift)
        return bool(pte is not None and pte.dirty)

    def alias(self, vaddr: int) -> int:
        """Map the frame under ``vaddr`` at a fresh address as well; returns it."""
        vpn = vaddr >> self._shift
        pte = self.pt.lookup(vpn)
        if pte is None:
            raise ValueError(f"alias: page {vaddr:#x} is not mapped")
        if pte.cap is None:
            self._make_resident(vpn, pte)
        assert pte.cap is not None
        new = self.next_va
        self.next_va += self.page
        self.pt[new >> self._shift] = PTE(pte.cap, False, prot=pte.prot, alias_of=vpn)
        pte.aliased = True
        return new

    # ----------------------------------------------------------- bindings

    def _writable_now(self, pte: PTE) -> bool:
        return bool(pte.prot & PROT_WRITE) and not pte.cow and pte.dirty

    def _bind(self, vpn: int, pte: PTE) -> None:
        pte.writable = self._writable_now(pte)
        self.sys.tlb_write(vpn << self._shift, pte.cap, pte.writable)  # type: ignore[arg-type]

    def _drop(self, vpn: int, pte: PTE) -> None:
        """Forget page ``vpn``: unbind it and free or unshare its frame."""
        if pte.cap is None:
            return
        self.sys.tlb_unmap(vpn << self._shift)
        if vpn in self.resident:
            self.resident.remove(vpn)
        cap, pte.cap = pte.cap, None
        if (pte.alias_of is not None or pte.aliased) and self._still_aliased(cap, vpn):
            return  # another page of ours still maps the frame
        self._let_go(cap)

    def _still_aliased(self, cap: Capability, vpn: int) -> bool:
        return any(p.cap is not None and p.cap.resource == cap.resource for v, p in self.pt.items() if v != vpn)

    def _owns(self, cap: Capability) -> bool:
        """Do we own this frame? A shared frame's owner is recorded in the shared
        segment; a private frame is ours if our capability says OWNER."""
        owner = self.shared.owner.get(cap.resource)
        return owner == self.pid if owner is not None else bool(cap.rights & Rights.OWNER)

    def _let_go(self, cap: Capability) -> None:
        """We stop using this frame: free it if we own it and nobody else maps it;
        if we own it and others still map it, hand it to one of them."""
        sh = self.shared
        pfn = cap.resource
        mine = self._owns(cap)
        others = sh.unshare(pfn, self.pid)
        self.cpu.mem_refs(2)  # the sharing record
        if not mine:
            return
        owner_cap = sh.caps.get(pfn, cap)
        if others:
            heir = min(sh.sharers[pfn])
            self.sys.frame_transfer(owner_cap, sh.procs[heir].env)
            sh.owner[pfn] = heir
        else:
            sh.owner.pop(pfn, None)
            sh.caps.pop(pfn, None)
            self.sys.frame_free(owner_cap)

    def share_frame(self, cap: Capability, with_pid: int) -> Capability:
        """Start sharing a frame we hold with process ``with_pid``; returns the
        capability to give it (read and write, never OWNER)."""
        sh = self.shared
        pfn = cap.resource
        if pfn not in sh.owner:  # first sharing of a private frame: record who owns it
            sh.owner[pfn] = self.pid
            sh.caps[pfn] = cap
        sh.share(pfn, self.pid)
        sh.share(pfn, with_pid)
        self.cpu.mem_refs(3)
        return self.sys.cap_derive(sh.caps[pfn], Rights.READ | Rights.WRITE)

    def _evictable(self, vpn: int) -> bool:
        """Only private frames are paged out: a frame others map (copy-on-write,
        shared memory, a pipe) is not ours alone to give back."""
        pte = self.pt[vpn]
        if pte.cap is None or pte.shared or pte.cow or pte.alias_of is not None or pte.aliased:
            return False
        return pte.cap.resource not in self.shared.sharers

    # ------------------------------------------------------------ faults

    def _user_fault(self, vaddr: int, write: bool) -> bool | None:
        """An access the protection forbids: the process's handler, or the end of it."""
        self.user_faults += 1
        if self.fault_handler is None:
            what = "store to" if write else "load from"
            self.die(f"segmentation fault: {what} {vaddr:#x} ({self._describe(vaddr)})")
            return None
        if self._last_fault == (vaddr, write):
            self._fault_repeats += 1
            if self._fault_repeats >= MAX_REPEATED_FAULTS:
                self.die(f"fault handler did not fix the fault at {vaddr:#x} "
                         f"({self._fault_repeats} times in a row)")
        else:
            self._last_fault, self._fault_repeats = (vaddr, write), 0
        if self._in_handler:
            what = "store to" if write else "load from"
            self.die(f"fault inside the fault handler: {what} {vaddr:#x} ({self._describe(vaddr)})")
        self._in_handler = True
        try:
            skip = self.fault_handler(vaddr, write)
        finally:
            self._in_handler = False
        if skip is True:
            self._last_fault = None  # skipping the store is a way of dealing with the fault
            return True
        return None

    def _address_error(self, vaddr: int, write: bool, value: int) -> int:
        """An unaligned access, or one into the kernel's segment: the process dies."""
        what = "store to" if write else "load from"
        why = "the kernel's segment" if vaddr >= 0x8000_0000 or vaddr < 0 else "an unaligned address"
        self.die(f"bus error: {what} {vaddr:#x} ({why})")
        return 0

    def _describe(self, vaddr: int) -> str:
        pte = self.pt.get(vaddr >> self._shift)
        if pte is None:
            return "not mapped"
        return {PROT_NONE: "page is PROT_NONE", PROT_READ: "page is read-only"}.get(pte.prot, "allowed?")

    def _tlb_miss(self, vaddr: int, write: bool) -> None:
        self.tlb_miss_upcalls += 1
        vpn = vaddr >> self._shift
        pte = self.pt.lookup(vpn)
        if pte is None or not pte.prot & PROT_READ:
            self._user_fault(vaddr, write)
            return
        # A store to a read-only page is bound read-only here; the retried store then
        # takes the protection fault, where the handler may also skip it.
        self._last_fault = None
        if pte.cap is None:
            self._make_resident(vpn, pte)
        else:
            self.resident.referenced(vpn)
        if write and not pte.cow and pte.prot & PROT_WRITE:
            pte.dirty = True
        try:
            self._bind(vpn, pte)
        except BadCapability:  # the frame is gone (repossessed, or its owner destroyed)
            self._repossessed(self.sys.repossession_vector())
            if pte.cap is not None:  # not in the vector: its owner died; the data is lost
                self.shared.unshare(pte.cap.resource, self.pid)
                pte.cap, pte.cow = None, False
                if vpn in self.resident:
                    self.resident.remove(vpn)
                self.lost.append(vpn)

    def _protection(self, vaddr: int) -> bool | None:
        """A store hit a read-only binding: dirty-bit, copy-on-write, or a user fault."""
        self.protection_faults += 1
        vpn = vaddr >> self._shift
        pte = self.pt.lookup(vpn)
        if pte is None or not pte.prot & PROT_WRITE:
            skip = self._user_fault(vaddr, True)
            pte = self.pt.get(vpn)
            if skip is None and pte is not None and pte.prot & PROT_WRITE and pte.cap is not None and not pte.cow:
                pte.dirty = True  # the handler unprotected it for this very store
                self._bind(vpn, pte)
            return skip
        self._last_fault = None
        if pte.cow:
            self._copy_on_write(vpn, pte)
        else:
            self.dirty_faults += 1
        pte.dirty = True
        self._bind(vpn, pte)
        return None

    def _copy_on_write(self, vpn: int, pte: PTE) -> None:
        sh = self.shared
        old = pte.cap
        assert old is not None
        pfn = old.resource
        pte.cow = False
        if len(sh.sharers.get(pfn, ())) <= 1 and self._owns(old):
            self.cow_reclaims += 1  # nobody else maps it any more: it is ours again
            sh.unshare(pfn, self.pid)
            sh.owner.pop(pfn, None)
            pte.cap = sh.caps.pop(pfn, old)
            return
        new = self._grab_frame()
        self.sys.tlb_write(SCRATCH, new, True)
        self.cpu.copy(SCRATCH, vpn << self._shift, self.page // self.sys.word_bytes)
        self.sys.tlb_unmap(SCRATCH)
        pte.cap = new
        self.cow_copies += 1
        self._let_go(old)

    # --------------------------------------------------------------- fork

    def fork_copy(self, child_pid: int) -> PageTable:
        """The child's page table, of our kind: resident pages shared copy-on-write
        (shared-memory pages stay shared), the others copied as they are (demand-zero,
        swapped)."""
        child = self.pt.empty()
        for vpn, pte in self.pt.scan():
            if pte.cap is None:
                child[vpn] = PTE(None, False, swapped=pte.swapped, prot=pte.prot)
                continue
            cow = not pte.shared and bool(pte.prot & PROT_WRITE)
            given = self.share_frame(pte.cap, child_pid)
            if cow and not pte.cow:
                pte.cow = True
                if pte.writable:
                    self._bind(vpn, pte)  # downgrade our own binding to read-only
            child[vpn] = PTE(given, False, prot=pte.prot, cow=cow, dirty=pte.dirty, shared=pte.shared)
        return child

    def adopt(self, pt: PageTable, next_va: int) -> None:
        """Take a page table made by ``fork_copy`` (the child's side of fork)."""
        self.pt = pt
        self.next_va = next_va
        for v, p in pt.items():
            if p.cap is not None:
                self.resident.add(v)

    def release(self) -> None:
        """At exit: let go of every frame, handing shared ones to a process still using them."""
        for vpn, pte in list(self.pt.items()):
            if pte.cap is not None:
                try:
                    self._drop(vpn, pte)
                except BadCapability:
                    pass  # repossessed meanwhile: nothing to give back
        self.pt.clear()

    def forget(self) -> None:
        """We are being destroyed (the kernel takes our frames): drop our sharing
        records without a system call, so the shared segment stays true."""
        sh = self.shared
        for pte in self.pt.values():
            if pte.cap is not None:
                pfn = pte.cap.resource
                sh.unshare(pfn, self.pid)
                if sh.owner.get(pfn) == self.pid:
                    del sh.owner[pfn]
                    sh.caps.pop(pfn, None)
        self.pt.clear()

    def statistics_extra(self) -> dict[str, int]:
        return {"cow_copies": self.cow_copies, "cow_reclaims": self.cow_reclaims,
                "dirty_faults": self.dirty_faults, "user_faults": self.user_faults}
