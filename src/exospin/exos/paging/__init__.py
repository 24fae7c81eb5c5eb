"""Page-replacement policies for the library OS: small modules behind one interface.

What this models
    The exokernel's claim about memory (Engler et al., section 2 and 6): the
    kernel decides only *how many* frames an environment holds (it may revoke
    some); *which* pages to give up is the library OS's decision, and so the
    application's. ExOS keeps the set of its resident pages in one of these
    policies, and asks it for victims in two places: when Aegis revokes frames
    (``MiniOS._revoke``), and when a process that runs under a resident-set
    limit (``max_resident``) touches one page more than the limit allows
    (``MiniOS._make_resident``: ExOS pages out one of its own first).

What a library OS can see
    On this machine (as on the R3000) there is no reference bit: an access
    that hits the TLB, or the kernel's STLB, is invisible to the library OS.
    What it sees is a TLB-miss upcall, and it can make the next access to a
    page visible by removing the page's binding (``tlb_unmap``), which costs
    a system call now and an upcall on that next access. ``Clock`` pays that
    price to approximate LRU; ``FIFO`` and ``MRU`` look only at the order in
    which pages became resident.

Cost
    A policy's bookkeeping is the library OS's own memory references, charged
    through the ``mem_refs`` it is given (the CPU's): a queue link or unlink,
    a reference bit set or tested. The page-outs and page-ins they cause
    (a page copied to the swap area and back, word by word) are charged where
    they happen, in ``MiniOS``.

Interface
    A policy is a class ``P(mem_refs)`` with ``add(vpn)`` (became resident),
    ``remove(vpn)`` (no longer resident), ``referenced(vpn)`` (a TLB miss on a
    resident page), ``choose(n, evictable, unbind) -> list[int]`` (up to ``n``
    victims for which ``evictable(vpn)`` holds; ``unbind(vpn)`` makes the next
    access to a page visible), and ``__contains__``, ``__iter__`` (in the
    order the policy keeps), ``__len__``. ``POLICIES`` names them for
    ``System.start(..., paging=...)``; ``check(paging, max_resident)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from .clock import Clock
from .fifo import FIFO
from .mru import MRU


class Replacement(Protocol):
    def __init__(self, mem_refs: Callable[[int], None]) -> None: ...
    def add(self, vpn: int) -> None: ...
    def remove(self, vpn: int) -> None: ...
    def referenced(self, vpn: int) -> None: ...
    def choose(self, n: int, evictable: Callable[[int], bool],
               unbind: Callable[[int], None]) -> list[int]: ...
    def __contains__(self, vpn: object) -> bool: ...
    def __iter__(self) -> Iterator[int]: ...
    def __len__(self) -> int: ...


POLICIES: dict[str, type[Replacement]] = {"fifo": FIFO, "clock": Clock, "mru": MRU}


def check(paging: object, max_resident: object) -> None:
    """Refuse, by name, a policy that is not in ``POLICIES`` or a limit that is not a
    positive int (or None: no limit)."""
    if paging not in POLICIES:
        raise ValueError(f"unknown page-replacement policy {paging!r} (known: {', '.join(POLICIES)})")
    if max_resident is not None and (type(max_resident) is not int or max_resident < 1):
        raise ValueError(f"max_resident must be a positive int or None, not {max_resident!r}")


__all__ = ["FIFO", "MRU", "POLICIES", "Clock", "Replacement", "check"]
