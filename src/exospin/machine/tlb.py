"""The translation lookaside buffer: a small, software-loaded TLB like the R3000's.

What this models
    The MIPS R3000 TLB (Kane & Heinrich, ch. 6): 64 fully associative
    entries, each mapping (virtual page, address-space identifier) to a
    physical frame with a "dirty" bit that is really a write-enable. There
    is no hardware page-table walker: a miss raises an exception and
    *software* writes the entry (``tlbwr`` at the slot named by the Random
    register, or ``tlbwi`` at a chosen index). The low ``wired`` slots are
    never chosen by Random, so a kernel can keep entries there.

Why it is built this way
    Hardware matches all entries at once; a dict from key to entry is the
    faithful equivalent (no linear scan). ``slots`` keeps which key sits in
    which of the N entries so replacement evicts exactly one. The Random
    register decrements once per cycle on the R3000, so the slot chosen by
    ``write_random`` is a function of the clock: deterministic, like the
    hardware. Entries are tuples ``(word_base, writable, pfn)``; the CPU
    indexes memory with ``word_base`` directly.

    A key is ``vpn << 8 | asid``: the ASID is part of every match, so a
    context switch changes the CPU's ASID and flushes nothing.

Interface
    ``map`` (read by the CPU), ``write_random(key, entry, now)``,
    ``write_index(i, key, entry)``, ``probe(key)``, ``invalidate(key)``,
    ``flush_asid(asid)``, ``statistics()``.
"""

from __future__ import annotations

from dataclasses import dataclass

Entry = tuple[int, bool, int]  # (word_base, writable, pfn)


def tlb_key(vpn: int, asid: int) -> int:
    return vpn << 8 | asid


@dataclass(frozen=True, slots=True)
class TLBStats:
    entries: int
    valid: int
    writes: int
    evictions: int
    invalidations: int


class TLB:
    """N entries; ``map`` is the associative match, ``slots`` the entry array."""

    def __init__(self, entries: int, wired: int) -> None:
        self.entries = entries
        self.wired = wired
        self.map: dict[int, Entry] = {}
        self.slots: list[int | None] = [None] * entries
        self._slot_of: dict[int, int] = {}
        self._random_span = entries - wired
        self.writes = 0
        self.evictions = 0
        self.invalidations = 0

    def write_index(self, index: int, key: int, entry: Entry) -> None:
        """``tlbwi``: write ``entry`` for ``key`` into slot ``index``."""
        slots = self.slots
        old = slots[index]
        if old is not None and old != key:
            del self.map[old]
            del self._slot_of[old]
            self.evictions += 1
        prev = self._slot_of.get(key)
        if prev is not None and prev != index:  # never two entries for one key
            slots[prev] = None
        slots[index] = key
        self._slot_of[key] = index
        self.map[key] = entry
        self.writes += 1

    def write_random(self, key: int, entry: Entry, now: int) -> None:
        """``tlbwr``: write at the slot named by the Random register."""
        index = self._slot_of.get(key)
        if index is None:
            index = self.wired + now % self._random_span
        self.write_index(index, key, entry)

    def probe(self, key: int) -> Entry | None:
        """``tlbp``: the entry matching ``key``, if any."""
        return self.map.get(key)

    def invalidate(self, key: int) -> bool:
        index = self._slot_of.pop(key, None)
        if index is None:
            return False
        self.slots[index] = None
        del self.map[key]
        self.invalidations += 1
        return True

    def flush_asid(self, asid: int) -> int:
        """Invalidate every entry tagged with ``asid``; returns how many."""
        victims = [k for k in self.map if k & 0xFF == asid]
        for k in victims:
            self.invalidate(k)
        return len(victims)

    def statistics(self) -> TLBStats:
        return TLBStats(self.entries, len(self.map), self.writes, self.evictions, self.invalidations)
