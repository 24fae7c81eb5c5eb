"""The kernel's invariants, checked from its state.

What this models
    What must hold of Aegis between any two operations, as far as the
    kernel's state can show it (docs/invariants.md: I1-I4, I6, I9, I12):
    every binding in the TLB, the software TLB and the guaranteed mappings
    names a frame its environment holds a live capability for, with the
    rights it grants (secure bindings, Engler et al., section 3); each
    frame has one owner, and the owner table and the environments agree; no
    capability outlives its frame; each slice is held by a live environment
    that knows it; the ASIDs are partitioned between the free, the dirty and
    the held ones; the slice vector's successor links are right.

Why it is built this way
    A function over the state (core.py), not a layer of the kernel: it reads
    everything and changes nothing, and the tests call it after every
    operation (``Aegis.check_invariants``). It recomputes each property the
    slow, obvious way rather than trusting the kernel's own bookkeeping.

Interface
    ``check(kernel) -> list[str]``: one line per violation, naming the
    invariant; empty when all hold.
"""

from __future__ import annotations

from typing import Any

from .caps import Rights
from .core import Core


def check(k: Core) -> list[str]:
    """Every invariant of docs/invariants.md that can be checked from the state of kernel ``k``."""
    bad: list[str] = []
    owned: dict[int, int] = {}
    for eid, env in k.envs.items():
        for pfn in env.frames:
            if pfn in owned:
                bad.append(f"I2: frame {pfn} listed by env {owned[pfn]} and env {eid}")
            owned[pfn] = eid
            if k.frame_owner[pfn] != eid:
                bad.append(f"I2: env {eid} lists frame {pfn}, owner table says {k.frame_owner[pfn]}")
        if not env.reserved <= set(env.frames):
            bad.append(f"I6: env {eid} reserves frames it does not own")
    kernel_frames = set(k.net.kernel_frames) if k.net is not None else set()
    if k.xn is not None:  # XN's scratch frame and the buffer-cache registry's frames (xn.py)
        kernel_frames |= k.xn.frames
        bad.extend(k.xn.check())
    for pfn, o in enumerate(k.frame_owner):
        if o == -1 and pfn in kernel_frames:  # the NIC driver's receive buffers (netdrv.py)
            continue
        if o and pfn not in owned:
            bad.append(f"I2: frame {pfn} owned by {o} in the table but by no environment")

    if k.net is not None:  # I35: a packet filter or ring belongs to a live environment
        for r in k.net.rings.values():
            if r.owner not in k.envs:
                bad.append(f"I35: packet ring {r.id} belongs to dead env {r.owner}")
        for f in k.net.dpf.filters:
            if f.owner not in k.envs or k.net.by_filter.get(f.fid) is None:
                bad.append(f"I35: packet filter {f} has no live owner or ring")

    dirty = set(k.dirty_asids)

    def check_binding(where: str, key: int, e: Any) -> None:
        pfn = e[2]
        env = k.by_asid.get(key & 0xFF)
        if env is None:
            if where == "STLB" and key & 0xFF in dirty:
                return  # a destroyed environment's, unreachable until the scrub clears it
            bad.append(f"I1: {where} entry for dead ASID {key & 0xFF}")
            return
        if not k.frame_owner[pfn]:
            bad.append(f"I1: {where} maps free frame {pfn} for env {env.id}")
            return
        cap = k.frame_bindings[pfn].get(key)
        if cap is None or not k.caps.genuine(cap) or cap.resource != pfn:
            bad.append(f"I1: {where} maps frame {pfn} for env {env.id} with no live capability")
            return
        if e[1] and not cap.rights & Rights.WRITE:
            bad.append(f"I1: {where} maps frame {pfn} writable for env {env.id} without WRITE")

    for key, e in k.tlb.entries_map.items():
        check_binding("TLB", key, e)
    for key, e in k.stlb.items():
        check_binding("STLB", key, e)
    for env in k.envs.values():
        for key, e in env.guaranteed.items():
            check_binding("guaranteed", key, e)
    for cap in k.caps.live:
        if cap.kind == "frame" and not k.frame_owner[cap.resource]:
            bad.append(f"I3: live capability for free frame {cap.resource}")
    for pos, holder in enumerate(k.slices):
        if holder is not None and (holder.id not in k.envs or pos not in holder.slices):
            bad.append(f"I4: slice {pos} owned by a dead or unaware environment")
    free = k.free_asids
    if sorted(free + k.dirty_asids + list(k.by_asid)) != list(range(1, 1 << k.m.profile.asid_bits)) or any(
        free[(i - 1) // 2] > free[i] for i in range(1, len(free))
    ):
        bad.append("I9: the free ASIDs (a heap), the dirty ones and the environments' ASIDs do not "
                   "partition the ASIDs")
    named = {key & 0xFF for key, _ in k.stlb.items()}
    if named & set(free):
        bad.append(f"I9: STLB slots name free ASIDs {sorted(named & set(free))}")
    n = len(k.slices)
    for i in range(n):  # the successor links, recomputed the slow way
        nxt = next((j % n for j in range(i + 1, i + n + 1) if k.slices[j % n] is not None), -1)
        if k.succ[i] != nxt:
            bad.append(f"I12: slot {i} links to slice {k.succ[i]}, the next owned one is {nxt}")
    return bad
