"""Clock (second chance): an approximation of LRU a library OS can build itself.

Pages sit on a ring with a reference bit, set when the page becomes
resident. To choose a victim the hand goes round: a page whose bit is set
gets a second chance (the bit is cleared and the page goes to the back),
the first page whose bit is clear goes. The machine keeps no reference bit
(nor did the R3000), so the bit is the library OS's own: clearing it also
removes the page's binding from the TLB and the STLB (``unbind``, one
``tlb_unmap`` system call), so that the next access misses, reaches the
library OS's TLB-miss handler, and sets the bit again (``referenced``).
Exactly the price of knowing: a system call per page passed over, an upcall
per page used again.

Charged as FIFO's queue plus the bit: set (1 store), tested (with the
entry's load, 1 reference), cleared (1 store).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from .fifo import EXAMINE_REFS, LINK_REFS

BIT_REFS = 1  # store a reference bit


class Clock:
    def __init__(self, mem_refs: Callable[[int], None]) -> None:
        self._ring: dict[int, bool] = {}  # vpn -> referenced; the hand is at the front
        self._mem_refs = mem_refs

    def add(self, vpn: int) -> None:
        self._ring[vpn] = True
        self._mem_refs(LINK_REFS + BIT_REFS)

    def remove(self, vpn: int) -> None:
        del self._ring[vpn]
        self._mem_refs(LINK_REFS)

    def referenced(self, vpn: int) -> None:
        if vpn in self._ring and not self._ring[vpn]:
            self._ring[vpn] = True
            self._mem_refs(BIT_REFS)

    def choose(self, n: int, evictable: Callable[[int], bool],
               unbind: Callable[[int], None]) -> list[int]:
        ring = self._ring
        out: list[int] = []
        # at most two turns: after one, every page the hand passed has its bit clear
        for _ in range(2 * len(ring)):
            if len(out) == n or len(out) == len(ring):
                break
            vpn = next(iter(ring))
            bit = ring.pop(vpn)
            ring[vpn] = False  # to the back, its bit clear
            self._mem_refs(EXAMINE_REFS + LINK_REFS)
            if vpn in out or not evictable(vpn):
                continue
            if bit:
                self._mem_refs(BIT_REFS)
                unbind(vpn)  # its next access will be seen
                continue
            out.append(vpn)
        return out

    def __contains__(self, vpn: object) -> bool:
        return vpn in self._ring

    def __iter__(self) -> Iterator[int]:
        return iter(self._ring)

    def __len__(self) -> int:
        return len(self._ring)
