"""MRU replacement: the page made resident most recently goes first.

The policy for an application that scans an array larger than its memory,
over and over: FIFO (and LRU) then evict each page just before it is needed
again and every access of the scan faults, while MRU keeps most of the array
resident and faults only on the part that does not fit. A database or a
garbage collector knows it runs such a loop; on a kernel that owns
replacement it cannot say so, on an exokernel it chooses this module.

FIFO's queue (and its charges), chosen from the tail.
"""

from __future__ import annotations

from collections.abc import Iterable

from .fifo import FIFO


class MRU(FIFO):
    def _candidates(self) -> Iterable[int]:
        """The newest first."""
        return reversed(self._q)
