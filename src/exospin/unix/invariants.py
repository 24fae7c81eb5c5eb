"""The Unix kernel's invariants (U1-U5 of docs/unix.md), checked from its state.

What this models
    What must hold of the kernel between any two operations: each frame's
    reference count is the number of page-table entries, kernel stacks and
    pipe buffers that hold it (U1), and a frame is free exactly when that is
    zero (U2); the TLB maps only what the page tables allow (U3); the process
    and thread tables, ASIDs and run queue agree (U4); each pipe's reader and
    writer counts are its descriptors (U5).

Why it is built this way
    A function over the state (core.py), not a layer of the kernel: it reads
    everything and changes nothing, and recomputes each property the slow,
    obvious way rather than trusting the kernel's bookkeeping. The tests call
    it through ``Unix.check_invariants``.

Interface
    ``check(kernel) -> list[str]``: one line per violation, naming the
    invariant; empty when all hold.
"""

from __future__ import annotations

from .core import Core
from .proc import PROT_READ, RUNNABLE, File, Proc
from .vm import writable_now


def check(k: Core) -> list[str]:
    """U1-U5 of docs/unix.md, read off the state of kernel ``k``; one line per violation."""
    bad: list[str] = []
    refs = [0] * len(k.frames.refcnt)
    for p in k.procs.values():
        for pte in p.pt.values():
            if pte.pfn >= 0:
                refs[pte.pfn] += 1
    for t in k.threads.values():
        if t.kstack >= 0:
            refs[t.kstack] += 1
    for pipe in k.pipes.values():
        refs[pipe.pfn] += 1
    net = k.net
    if net is not None:  # the mbuf pool's pages and the driver's buffers (inet.py)
        for pfn in net.pool.pages + (net.ifp.pages if net.ifp is not None else []):
            refs[pfn] += 1
    free = set(k.frames.free)
    for pfn, n in enumerate(k.frames.refcnt):
        if n != refs[pfn]:
            bad.append(f"U1: frame {pfn} has reference count {n} but {refs[pfn]} references")
        if (pfn in free) != (n == 0):
            bad.append(f"U2: frame {pfn} is {'free' if pfn in free else 'in use'} with {n} references")
    by_asid: dict[int, Proc] = {}
    for p in k.procs.values():
        if p.state != "running":
            if p.pt or p.threads or p.fds:
                bad.append(f"U4: zombie {p.pid} still holds pages, threads or descriptors")
            continue
        if p.asid in by_asid:
            bad.append(f"U4: pids {by_asid[p.asid].pid} and {p.pid} share ASID {p.asid}")
        by_asid[p.asid] = p
    for key, e in k.tlb.entries_map.items():
        vpn, asid = key >> 8, key & 0xFF
        owner = by_asid.get(asid)
        entry = owner.pt.get(vpn) if owner is not None else None
        if entry is None or entry.pfn != e[2] or not entry.prot & PROT_READ:
            bad.append(f"U3: TLB maps page {vpn:#x} of ASID {asid} to frame {e[2]}, the page table does not")
        elif e[1] and not writable_now(entry):
            bad.append(f"U3: TLB maps page {vpn:#x} of ASID {asid} writable, the page table does not allow it")
    for t in k.runq:
        if t.state != RUNNABLE or t.proc.state != "running":
            bad.append(f"U4: {t} is on the run queue but {t.state}")
    for t in k.threads.values():
        if not t.done and t not in t.proc.threads:
            bad.append(f"U4: {t} is live but not in its process")
    counts: dict[int, list[int]] = {}
    for p in k.procs.values():
        for f in p.fds.values():
            if not isinstance(f, File):
                continue  # a socket
            c = counts.setdefault(f.pipe.id, [0, 0])
            c[0 if f.end == "r" else 1] += 1
    for pid_, pipe in k.pipes.items():
        c = counts.get(pid_, [0, 0])
        if [pipe.readers, pipe.writers] != c:
            bad.append(f"U5: pipe {pid_} counts {pipe.readers} readers, {pipe.writers} writers; "
                       f"descriptors say {c[0]}, {c[1]}")
    return bad
