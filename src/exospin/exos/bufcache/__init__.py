"""Buffer-cache replacement for ExOS' library file system: small modules behind one interface.

What this models
    Application-controlled file caching (Cao, Felten and Li, "Implementation
    and performance of application-controlled file caching", OSDI 1994, and
    "A study of integrated prefetching and caching strategies", SIGMETRICS
    1995): the cache is shared by every process of the file system, the
    allocator decides *whose* block goes (LRU-SP: the owner of the least
    recently used block), and the owner's *manager* decides *which* of its
    blocks goes. ExOS lets each process pick its manager by name, as it picks
    its page-replacement policy (exos/paging/): ``lru`` (the block the
    allocator proposed, so all-``lru`` is global LRU), ``mru`` (its most
    recently used block: right for a scan larger than the cache), and
    ``lrusp`` (the application's hints through ``posix.fadvise``: blocks
    marked DONTNEED go next, files of lower priority before higher, a file
    marked SEQUENTIAL gives up its most recent block, others their least).

    The allocator (``SharedCache``) applies LRU-SP's two protections when a
    manager replaces some block B' other than the proposed B: **swapping**
    (B takes B''s place in the LRU list, so the manager's choice costs no
    other process a block) and **placeholders** (B' leaves a placeholder
    naming B; if B' is missed again, the manager chose wrongly, and the block
    replaced for it is B, its owner's, not the LRU block of someone else).

Cost
    A policy's bookkeeping is the library's memory references, charged
    through the ``mem_refs`` it is given (a list link moved, a hint
    recorded); the I/O its choices cause is charged where it happens.

Interface
    A manager is a class ``P(mem_refs)`` with ``add(block, file)`` (cached
    for us; ``file`` is the file's key, None for metadata), ``remove(block)``,
    ``referenced(block)``, ``choose(proposed) -> block`` (one of ours to
    replace, ``proposed`` being our least recently used), ``advise(file,
    blocks, advice, priority)`` (``blocks``: the range's cached blocks), and
    ``__contains__``, ``__len__``. ``POLICIES`` names them for
    ``System.start(..., cache=...)``; ``check(name)``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Protocol

from .lru import LRU, MRU
from .lrusp import AppHints
from .shared import CacheStats, SharedCache


class CachePolicy(Protocol):
    def __init__(self, mem_refs: Callable[[int], None]) -> None: ...
    def add(self, block: int, file: Hashable | None) -> None: ...
    def remove(self, block: int) -> None: ...
    def referenced(self, block: int) -> None: ...
    def choose(self, proposed: int) -> int: ...
    def advise(self, file: Hashable, blocks: Iterable[int], advice: int, priority: int | None) -> None: ...
    def __contains__(self, block: object) -> bool: ...
    def __len__(self) -> int: ...


POLICIES: dict[str, type[CachePolicy]] = {"lru": LRU, "mru": MRU, "lrusp": AppHints}


def check(name: object) -> None:
    """Refuse, by name, a manager that is not in ``POLICIES``."""
    if name not in POLICIES:
        raise ValueError(f"unknown buffer-cache policy {name!r} (known: {', '.join(POLICIES)})")


__all__ = ["LRU", "MRU", "POLICIES", "AppHints", "CachePolicy", "CacheStats", "SharedCache", "check"]
