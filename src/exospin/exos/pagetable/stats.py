"""The statistics record every page table returns (a leaf module: the tables import it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PageTableStats:
    kind: str  # "linear" or "inverted"
    entries: int  # pages mapped
    words: int  # the table's size in memory words
    lookups: int  # charged lookups (faults, dirty, mprotect, alias)
    #: entries those lookups examined (the linear table examines one per lookup)
    entries_examined: int
    longest_chain: int  # the inverted table's longest hash chain now (0: linear)
    buckets: int  # the inverted table's hash buckets (0: linear)
    grows: int  # times the inverted table doubled its buckets
