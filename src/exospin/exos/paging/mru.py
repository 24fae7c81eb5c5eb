"""MRU replacement: the page made resident most recently goes first.

The policy for an application that scans an array larger than its memory,
over and over: FIFO (and LRU) then evict each page just before it is needed
again and every access of the scan faults, while MRU keeps most of the array
resident and faults only on the part that does not fit. A database or a
garbage collector knows it runs such a loop; on a kernel that owns
replacement it cannot say so, on an exokernel it chooses this module.

Kept as FIFO keeps its queue (same charges), chosen from the tail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from .fifo import EXAMINE_REFS, LINK_REFS


class MRU:
    def __init__(self, mem_refs: Callable[[int], None]) -> None:
        self._q: dict[int, None] = {}
        self._mem_refs = mem_refs

    def add(self, vpn: int) -> None:
        self._q[vpn] = None
        self._mem_refs(LINK_REFS)

    def remove(self, vpn: int) -> None:
        del self._q[vpn]
        self._mem_refs(LINK_REFS)

    def referenced(self, vpn: int) -> None:
        """MRU orders by arrival, as FIFO does; references are not seen."""

    def choose(self, n: int, evictable: Callable[[int], bool],
               unbind: Callable[[int], None]) -> list[int]:
        out: list[int] = []
        looked = 0
        for vpn in reversed(self._q):
            if len(out) == n:
                break
            looked += 1
            if evictable(vpn):
                out.append(vpn)
        self._mem_refs(looked * EXAMINE_REFS)
        return out

    def __contains__(self, vpn: object) -> bool:
        return vpn in self._q

    def __iter__(self) -> Iterator[int]:
        return iter(self._q)

    def __len__(self) -> int:
        return len(self._q)
