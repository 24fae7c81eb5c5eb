"""The linear page table: ExOS' original structure (Engler et al., section 7.2).

What this models
    A two-level table indexed by the virtual page number, as ExOS had it
    first: a directory whose entries point at pages of page-table entries,
    one entry per virtual page of each second-level page. A lookup is two
    dependent loads (the directory entry, then the PTE); entering a new page
    stores its PTE. The simulator keeps the entries in a dict (a lookup by
    key is what indexing does), and charges what the hardware would have
    done:

    * ``lookup``: ``PT_WALK_REFS`` (2) memory references;
    * ``enter`` (mmap's new pages): one store per page;
    * ``scan`` (fork's walk over every entry): ``PT_WALK_REFS`` per entry.

    These are exactly the charges ExOS made before the page table became a
    choice, at the same places, so a process on the linear table runs as it
    did (every figure of ``bench exos`` is unchanged). The index arithmetic
    (a shift and a mask per level) is not charged, as it was not before.

Space
    A second-level page exists for every range of ``entries_per_page``
    virtual pages that holds a mapping; ``words()`` counts the directory and
    those pages. A sparse address space (a page here, a page 4 MB further)
    pays a whole second-level page per mapping: the case the inverted table
    is for.

Interface
    ``Linear(mem_refs, compute, entries_per_page)``: a ``dict`` from virtual
    page number to PTE (the raw, uncharged operations are the dict's), plus
    the charged ``lookup(vpn)``, ``enter(first, ptes)`` and ``scan()``;
    ``empty()``, ``words()``, ``statistics()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from .pte import PTE
from .stats import PageTableStats

PT_WALK_REFS = 2  # a two-level page table: directory entry, then page-table entry
ENTER_REFS = 1  # store the new page's PTE (its second-level page is there)


class Linear(dict[int, PTE]):
    kind = "linear"

    def __init__(self, mem_refs: Callable[[int], None], compute: Callable[[int], None],
                 entries_per_page: int) -> None:
        super().__init__()
        self._mem_refs = mem_refs
        self._compute = compute
        self._per_page = entries_per_page
        self.lookups = 0

    def lookup(self, vpn: int) -> PTE | None:
        """Walk the table for ``vpn``: the directory entry, then the PTE."""
        self._mem_refs(PT_WALK_REFS)
        self.lookups += 1
        return self.get(vpn)

    def enter(self, first: int, ptes: list[PTE]) -> None:
        """New pages ``first``, ``first + 1``, ... (fresh addresses): one PTE store each."""
        for i, pte in enumerate(ptes):
            self[first + i] = pte
        self._mem_refs(len(ptes) * ENTER_REFS)

    def scan(self) -> Iterator[tuple[int, PTE]]:
        """Every entry, each walked as a lookup. The caller does not add or remove entries."""
        mem_refs = self._mem_refs
        for vpn, pte in self.items():
            mem_refs(PT_WALK_REFS)
            yield vpn, pte

    def empty(self) -> Linear:
        """A new, empty table of the same kind (a forked child's)."""
        return Linear(self._mem_refs, self._compute, self._per_page)

    def words(self) -> int:
        """The table's size in words: the directory and each second-level page in use."""
        per = self._per_page
        return per * (1 + len({vpn // per for vpn in self}))

    def statistics(self) -> PageTableStats:
        return PageTableStats(self.kind, len(self), self.words(), self.lookups,
                              entries_examined=self.lookups, longest_chain=0, buckets=0, grows=0)
