"""Page-table structures for the library OS: small modules behind one interface.

What this models
    The exokernel paper's section 7.2: because the page table is the library
    OS's, an application may pick the structure that fits its address space.
    ExOS first had a linear (two-level) table; the paper then added an
    inverted one, and measured the Appel-Li set on both (its table 13). Each
    ExOS process picks one when it starts, and its children inherit it:

        system.start(main, argv, page_table="inverted")

    ``linear`` (the default) is fast to walk and cheap over a range of
    neighbouring pages, but its size follows the span of the address space;
    ``inverted`` (a hashed table) follows what is mapped, and pays a hash and
    a chain walk on every lookup, page by page over a range.

Interface
    A table is a class ``T(mem_refs, compute, entries_per_page)``: a mutable
    mapping from virtual page number to PTE whose own operations are
    uncharged bookkeeping (as ExOS' accesses to its table were before; the
    charged ones are explicit), plus

    * ``lookup(vpn) -> PTE | None``: a walk a fault, ``dirty``, ``mprotect``
      or ``alias`` makes, charged through ``mem_refs`` and ``compute``;
    * ``enter(first, ptes)``: mmap's new pages, charged;
    * ``scan()``: every ``(vpn, PTE)``, charged (fork copies the table);
    * ``empty()`` (a table of the same kind), ``words()`` (its size),
      ``statistics() -> PageTableStats``.

    ``TABLES`` names them for ``System.start(..., page_table=...)``;
    ``check(page_table)``.
"""

from __future__ import annotations

from collections.abc import Callable, ItemsView, Iterator, ValuesView
from typing import Protocol, overload

from .inverted import Inverted
from .linear import Linear
from .pte import PTE
from .stats import PageTableStats


class PageTable(Protocol):
    kind: str

    # the mapping (uncharged bookkeeping)
    def __getitem__(self, vpn: int) -> PTE: ...
    def __setitem__(self, vpn: int, pte: PTE) -> None: ...
    def __delitem__(self, vpn: int) -> None: ...
    def __contains__(self, vpn: object) -> bool: ...
    def __iter__(self) -> Iterator[int]: ...
    def __len__(self) -> int: ...
    def get(self, vpn: int) -> PTE | None: ...
    @overload
    def pop(self, vpn: int) -> PTE: ...
    @overload
    def pop(self, vpn: int, default: None) -> PTE | None: ...
    def items(self) -> ItemsView[int, PTE]: ...
    def values(self) -> ValuesView[PTE]: ...
    def setdefault(self, vpn: int, default: PTE) -> PTE: ...
    def clear(self) -> None: ...

    # charged

    def __init__(self, mem_refs: Callable[[int], None], compute: Callable[[int], None],
                 entries_per_page: int) -> None: ...
    def lookup(self, vpn: int) -> PTE | None: ...
    def enter(self, first: int, ptes: list[PTE]) -> None: ...
    def scan(self) -> Iterator[tuple[int, PTE]]: ...
    def empty(self) -> PageTable: ...
    def words(self) -> int: ...
    def statistics(self) -> PageTableStats: ...


TABLES: dict[str, type[PageTable]] = {"linear": Linear, "inverted": Inverted}


def check(page_table: object) -> None:
    """Refuse, by name, a page table that is not in ``TABLES``."""
    if page_table not in TABLES:
        raise ValueError(f"unknown page table {page_table!r} (known: {', '.join(TABLES)})")


__all__ = ["PTE", "TABLES", "Inverted", "Linear", "PageTable", "PageTableStats", "check"]
