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

from collections.abc import Callable

from .fifo import EXAMINE_REFS, FIFO, LINK_REFS

BIT_REFS = 1  # store a reference bit


class Clock(FIFO):
    """FIFO's queue as the ring (the hand at the front), each page's value its bit."""

    def add(self, vpn: int) -> None:
        self._q[vpn] = True
        self._mem_refs(LINK_REFS + BIT_REFS)

    def referenced(self, vpn: int) -> None:
        if vpn in self._q and not self._q[vpn]:
            self._q[vpn] = True
            self._mem_refs(BIT_REFS)

    def choose(self, n: int, evictable: Callable[[int], bool],
               unbind: Callable[[int], None]) -> list[int]:
        ring = self._q
        out: list[int] = []
        # at most two turns: after one, every page the hand passed has its bit clear
        for _ in range(2 * len(ring)):
            if len(out) == n or len(out) == len(ring):
                break
            vpn = next(iter(ring))
            bit = ring.pop(vpn)
            self._mem_refs(EXAMINE_REFS + LINK_REFS)
            if vpn in out or not evictable(vpn):
                ring[vpn] = bit  # to the back as it was: it may not go, so no second chance used
                continue
            ring[vpn] = False  # to the back, its bit clear
            if bit:
                self._mem_refs(BIT_REFS)
                unbind(vpn)  # its next access will be seen
                continue
            out.append(vpn)
        return out
