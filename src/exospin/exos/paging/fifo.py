"""FIFO replacement: the page resident longest goes first (ExOS' default).

The resident pages are a queue in the order they became resident, kept as an
insertion-ordered dict so that a page leaving from the middle (unmapped,
freed, lost) is unlinked in one step. Charged as a doubly linked list: a link
at the tail or an unlink is 2 memory references; choosing looks at pages from
the head, 1 reference each, until it has ``n`` that may go.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

LINK_REFS = 2  # store the new tail's link and the old tail's next
EXAMINE_REFS = 1  # load a queue entry


class FIFO:
    def __init__(self, mem_refs: Callable[[int], None]) -> None:
        self._q: dict[int, Any] = {}  # in arrival order (a subclass may keep a value per page)
        self._mem_refs = mem_refs

    def add(self, vpn: int) -> None:
        self._q[vpn] = None
        self._mem_refs(LINK_REFS)

    def remove(self, vpn: int) -> None:
        del self._q[vpn]
        self._mem_refs(LINK_REFS)

    def referenced(self, vpn: int) -> None:
        """FIFO ignores references."""

    def choose(self, n: int, evictable: Callable[[int], bool],
               unbind: Callable[[int], None]) -> list[int]:
        out: list[int] = []
        looked = 0
        for vpn in self._candidates():
            if len(out) == n:
                break
            looked += 1
            if evictable(vpn):
                out.append(vpn)
        self._mem_refs(looked * EXAMINE_REFS)
        return out

    def _candidates(self) -> Iterable[int]:
        """The pages in the order ``choose`` considers them: the oldest first."""
        return self._q

    def __contains__(self, vpn: object) -> bool:
        return vpn in self._q

    def __iter__(self) -> Iterator[int]:
        return iter(self._q)

    def __len__(self) -> int:
        return len(self._q)
