"""Virtual memory: page tables kept by the kernel, demand-zero pages, copy-on-write.

What this models
    The machine-independent VM of a 4.3BSD/Ultrix kernel on a machine with a
    software-loaded TLB (the MIPS R3000; the Alpha 21064's PALcode refill is
    the same idea): every process has a page table *in the kernel*; a TLB
    miss is refilled by the kernel from it; pages are demand-zero; fork shares
    every private writable page copy-on-write; the kernel keeps a modified
    bit per page by mapping clean pages read-only and taking one "TLB
    modified" exception on the first store (pmax trap.c, T_TLB_MOD), as it
    must on a TLB with no hardware dirty bit.

Why it is built this way
    The core map counts, per frame, the page-table entries that map it (and
    says whether the kernel holds it for itself: a kernel stack, a pipe
    buffer), so copy-on-write knows when a page is no longer shared and can
    simply be made writable again, and the shutdown can say exactly what
    leaked. Page tables are Python dicts standing for two-level tables: every
    walk is charged the two memory references of one.

    What we simplified: no paging to disk, no pageout daemon; a page table's
    own pages are not counted as frames.

Interface
    Functions on a process's address space, each charging what it does
    through the kernel's state ``k`` (core.Core): ``mmap``, ``munmap``,
    ``mprotect``, ``alias``, ``make_resident``, ``fork_copy``, ``release``,
    ``tlb_update``, ``writable_now``, ``user_word``. The core map they act on
    is coremap.py's (``CoreMap``, ``OutOfMemory``, also importable from here).
"""

from __future__ import annotations

from ..machine import tlb_key
from .core import Core
from .coremap import CoreMap as CoreMap  # re-exported: the core map was defined here
from .coremap import OutOfMemory as OutOfMemory
from .proc import PROT_NONE, PROT_READ, PROT_WRITE, PTE, Proc, SysError

# ------------------------------------------------------------------ mappings


def writable_now(pte: PTE) -> bool:
    """May the TLB hold this page writable? Only if the protection allows it, it is not
    shared copy-on-write, and it is already modified (else the first store must tell us)."""
    return bool(pte.prot & PROT_WRITE) and not pte.cow and pte.modified


def tlb_update(k: Core, p: Proc, vpn: int, pte: PTE | None) -> None:
    """Make the TLB agree with ``pte`` for page ``vpn`` of ``p``: probe; if an entry is
    there, rewrite it (or invalidate it, for a page no longer accessible)."""
    tlb = k.tlb
    key = tlb_key(vpn, p.asid)
    k.loop.now += k.c.tlb_probe
    if tlb.probe(key) is None:
        return
    k.loop.now += k.c.tlb_write
    if pte is None or pte.pfn < 0 or not pte.prot & PROT_READ:
        tlb.invalidate(key)
    else:
        tlb.write_random(key, (pte.pfn * k.words_per_frame, writable_now(pte), pte.pfn), k.loop.now)


def make_resident(k: Core, p: Proc, pte: PTE) -> None:
    """Demand-zero: give ``pte`` a fresh zeroed frame (raises OutOfMemory)."""
    pfn = k.frames.alloc("user")
    k.memory.zero(pfn)
    k.loop.now += k.c.frame_alloc + k.c.frame_zero
    pte.pfn = pfn
    k.demand_zero += 1


def break_cow(k: Core, p: Proc, pte: PTE) -> None:
    """The first store to a copy-on-write page: copy it, unless nobody else maps it."""
    old = pte.pfn
    pte.cow = False
    k.loop.now += k.c.mem_ref  # the core map's reference count
    if k.frames.refcnt[old] == 1:
        k.cow_reclaims += 1  # the others let go: it is ours again, no copy
        return
    new = k.frames.alloc("user")
    k.memory.copy(new, old)
    k.loop.now += k.c.frame_alloc + k.c.frame_copy
    k.frames.unref(old)
    pte.pfn = new
    k.cow_copies += 1
    p.cow_copies += 1


def drop(k: Core, p: Proc, vpn: int, pte: PTE) -> None:
    """Forget one resident page of ``p``: its TLB entry, then its frame reference."""
    if pte.pfn < 0:
        return
    tlb_update(k, p, vpn, None)
    k.loop.now += k.c.frame_free
    k.frames.unref(pte.pfn)
    pte.pfn = -1


def mmap(k: Core, p: Proc, npages: int, prot: int) -> int:
    va = p.next_va
    p.next_va += npages * k.page
    first = va >> k.page_shift
    for vpn in range(first, first + npages):
        p.pt[vpn] = PTE(prot=prot)
    k.loop.now += npages * k.c.pte_store
    return va


def pages(k: Core, p: Proc, call: str, vaddr: int, npages: int, must_exist: bool) -> range:
    """The page numbers of a (checked) range, or SysError before anything changes."""
    if type(vaddr) is not int or vaddr < 0 or vaddr & (k.page - 1):
        raise SysError("EINVAL", f"{call}: address {vaddr!r} is not a page-aligned user address")
    if type(npages) is not int or npages <= 0:
        raise SysError("EINVAL", f"{call}: npages must be a positive int, not {npages!r}")
    if vaddr + npages * k.page > k.user_top:
        raise SysError("EINVAL", f"{call}: {npages} pages from {vaddr:#x} run past the user address space")
    first = vaddr >> k.page_shift
    r = range(first, first + npages)
    if must_exist:
        for vpn in r:
            k.loop.now += k.c.walk
            if vpn not in p.pt:
                raise SysError("EINVAL", f"{call}: page {vpn << k.page_shift:#x} is not mapped")
    return r


def munmap(k: Core, p: Proc, r: range) -> None:
    for vpn in r:
        k.loop.now += k.c.walk
        pte = p.pt.pop(vpn, None)
        if pte is not None:
            drop(k, p, vpn, pte)


def mprotect(k: Core, p: Proc, r: range, prot: int) -> None:
    if k.bc is not None:  # Ultrix's segment checks and vtopte per page; OSF/1's vm_map_protect and pmap_protect
        k.bc.charge("mprotect")
        k.bc.charge("prot_page", len(r))
    for vpn in r:
        pte = p.pt[vpn]  # walked by pages()
        pte.prot = prot
        if not prot & PROT_WRITE:
            pte.modified = False  # dirty(): "written since it was last protected"
        k.loop.now += k.c.pte_store
        if k.touch is not None:
            k.touch(k.fp.pte_store, k.fp.pte(p, vpn))
        if pte.pfn >= 0:
            tlb_update(k, p, vpn, pte)


def alias(k: Core, p: Proc, vpn: int) -> int:
    pte = p.pt[vpn]
    if pte.pfn < 0:
        make_resident(k, p, pte)
    va = p.next_va
    p.next_va += k.page
    p.pt[va >> k.page_shift] = PTE(pte.pfn, pte.prot, pte.cow, pte.modified, pte.shared)
    k.frames.ref(pte.pfn)
    k.loop.now += k.c.pte_store + k.c.mem_ref
    return va


def fork_copy(k: Core, parent: Proc, child: Proc) -> int:
    """The child's page table: resident private writable pages shared copy-on-write,
    shared-memory pages shared, the rest copied as they are. Returns pages shared."""
    shared = 0
    for vpn, pte in parent.pt.items():
        k.loop.now += k.c.walk + k.c.pte_store
        if pte.pfn < 0:
            child.pt[vpn] = PTE(-1, pte.prot)
            continue
        k.frames.ref(pte.pfn)
        k.loop.now += k.c.mem_ref
        shared += 1
        if not pte.shared and pte.prot & PROT_WRITE and not pte.cow:
            was_writable = writable_now(pte)
            pte.cow = True
            if was_writable:
                tlb_update(k, parent, vpn, pte)  # downgrade our own entry to read-only
        child.pt[vpn] = PTE(pte.pfn, pte.prot, pte.cow, pte.modified, pte.shared)
    child.next_va = parent.next_va
    return shared


def release(k: Core, p: Proc) -> None:
    """At exit or exec: let go of every page, then flush the ASID from the TLB."""
    for pte in p.pt.values():
        k.loop.now += k.c.walk
        if pte.pfn >= 0:
            k.loop.now += k.c.frame_free
            k.frames.unref(pte.pfn)
            pte.pfn = -1
    p.pt.clear()
    n = k.tlb.flush_asid(p.asid)
    k.loop.now += k.tlb.entries * k.c.tlb_probe + n * k.c.tlb_write  # read every entry, clear ours


def user_word(k: Core, p: Proc, vaddr: int, write: bool) -> int:
    """The index in physical memory of the user word at ``vaddr``, for copyin (write
    False) or copyout (write True): walks the page table, fills a demand-zero page,
    breaks copy-on-write, as a kernel's copyout faulting on the page would. Raises
    SysError EFAULT for an address the process may not access that way."""
    if type(vaddr) is not int or vaddr < 0 or vaddr >= k.user_top or vaddr % k.word_bytes:
        raise SysError("EFAULT", f"bad address {vaddr!r}")
    k.loop.now += k.c.walk
    vpn = vaddr >> k.page_shift
    pte = p.pt.get(vpn)
    need = PROT_WRITE if write else PROT_READ
    if pte is None or not pte.prot & need:
        raise SysError("EFAULT", f"address {vaddr:#x} is not {'writable' if write else 'readable'}")
    if pte.pfn < 0:
        make_resident(k, p, pte)
    if write:
        if pte.cow:
            break_cow(k, p, pte)
            tlb_update(k, p, vpn, pte)
        if not pte.modified:
            pte.modified = True
            tlb_update(k, p, vpn, pte)
    return pte.pfn * k.words_per_frame + ((vaddr & (k.page - 1)) >> k.word_shift)


__all__ = ["CoreMap", "OutOfMemory", "PROT_NONE"]
