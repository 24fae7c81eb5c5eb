"""The software TLB: a large cache of secure bindings in front of the hardware TLB.

What this models
    Aegis' STLB (Engler et al., section 5.3): the R3000's 64-entry TLB is
    too small, so Aegis keeps a direct-mapped table of thousands of
    (virtual page, ASID) -> (frame, writable) translations that it has
    already authorised. On a TLB miss the kernel looks here first and, on a
    hit, writes the hardware TLB and returns, without involving the library
    OS. Only on an STLB miss is the environment's own TLB-miss handler
    upcalled.

Why it is built this way
    Direct-mapped, as in Aegis: one probe, one tag compare, no chains. The
    index mixes the ASID into the page number so that environments using
    the same virtual addresses do not collide slot for slot. Tags and
    values are two parallel lists so a probe is two list reads. Entries are
    the same tuples the hardware TLB holds.

    What we simplified: Aegis' STLB lived in kernel memory and its probe
    cost memory references; the kernel charges those references on the
    refill path (a tag and an entry: two), rather than this module.

Interface
    ``lookup(key)``, ``insert(key, entry)``, ``remove(key, pfn)``,
    ``flush_asid(asid)``, ``items()``, ``statistics()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..machine import Entry


@dataclass(frozen=True, slots=True)
class STLBStats:
    entries: int
    valid: int
    hits: int
    misses: int
    inserts: int
    evictions: int


class STLB:
    def __init__(self, entries: int) -> None:
        assert entries & (entries - 1) == 0, "STLB size must be a power of two"
        self.entries = entries
        self.mask = entries - 1
        self.tags: list[int] = [-1] * entries
        self.vals: list[Entry | None] = [None] * entries
        self.hits = 0
        self.misses = 0
        self.inserts = 0
        self.evictions = 0

    def index(self, key: int) -> int:
        # key = vpn << 8 | asid; spread ASIDs across the table.
        return ((key >> 8) ^ ((key & 0xFF) * 0x9E5)) & self.mask

    def lookup(self, key: int) -> Entry | None:
        i = ((key >> 8) ^ ((key & 0xFF) * 0x9E5)) & self.mask
        if self.tags[i] == key:
            self.hits += 1
            return self.vals[i]
        self.misses += 1
        return None

    def insert(self, key: int, entry: Entry) -> None:
        i = ((key >> 8) ^ ((key & 0xFF) * 0x9E5)) & self.mask
        if self.tags[i] != -1 and self.tags[i] != key:
            self.evictions += 1
        self.tags[i] = key
        self.vals[i] = entry
        self.inserts += 1

    def remove(self, key: int, pfn: int | None = None) -> bool:
        """Drop ``key`` (only if it maps ``pfn``, when given)."""
        i = ((key >> 8) ^ ((key & 0xFF) * 0x9E5)) & self.mask
        v = self.vals[i]
        if self.tags[i] == key and v is not None and (pfn is None or v[2] == pfn):
            self.tags[i] = -1
            self.vals[i] = None
            return True
        return False

    def flush_asid(self, asid: int) -> int:
        n = 0
        for i, t in enumerate(self.tags):
            if t != -1 and t & 0xFF == asid:
                self.tags[i] = -1
                self.vals[i] = None
                n += 1
        return n

    def items(self) -> Iterator[tuple[int, Entry]]:
        for t, v in zip(self.tags, self.vals):
            if t != -1 and v is not None:
                yield t, v

    def statistics(self) -> STLBStats:
        valid = sum(1 for t in self.tags if t != -1)
        return STLBStats(self.entries, valid, self.hits, self.misses, self.inserts, self.evictions)
