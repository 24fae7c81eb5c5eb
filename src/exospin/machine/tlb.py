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
    Hardware matches all entries at once against the current ASID. The
    faithful fast equivalent is an index per ASID: ``rview`` maps the
    virtual page numbers of the current ASID's valid entries to the word
    index of their frame, and ``wview`` holds the writable ones. The CPU
    makes one dict probe per access: a miss in ``rview`` is a TLB miss, a
    miss in ``wview`` on a store that hit ``rview`` is a TLB-modified
    exception. A context switch selects the other ASID's views
    (``set_asid``) and flushes nothing, as on the R3000.

    ``slots`` holds which key sits in each of the N entries, so replacement
    evicts exactly one entry and the TLB never holds more than N. The Random
    register decrements once per cycle on the R3000, so the slot chosen by
    ``write_random`` is a function of the clock: deterministic, like the
    hardware.

Interface
    ``write_random(key, entry, now)``, ``write_index(i, key, entry)``,
    ``probe(key)``, ``invalidate(key)``, ``flush_asid(asid)``,
    ``set_asid(asid)``, ``entries_map`` (key -> entry, for checkers),
    ``statistics()``. A key is ``vpn << 8 | asid``; an entry is
    ``(word_base, writable, pfn)``.
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
    invalidations: int


Slot = tuple[dict[int, int], dict[int, int], int, int]  # (rview, wview, vpn, asid)


class TLB:
    """N entries; per-ASID views for the CPU, ``slots`` for replacement."""

    __slots__ = (
        "entries", "wired", "slots", "words_per_frame", "_r", "_w",
        "rview", "wview", "asid", "_random_span", "writes", "invalidations",
    )

    def __init__(self, entries: int, wired: int, words_per_frame: int) -> None:
        self.entries = entries
        self.wired = wired
        self.words_per_frame = words_per_frame
        #: each occupied slot names the views holding it, so eviction needs no lookup
        self.slots: list[Slot | None] = [None] * entries
        self._r: dict[int, dict[int, int]] = {}
        self._w: dict[int, dict[int, int]] = {}
        self.rview: dict[int, int] = {}
        self.wview: dict[int, int] = {}
        self.asid = 0
        self._random_span = entries - wired
        self.writes = 0
        self.invalidations = 0
        self.set_asid(0)

    def set_asid(self, asid: int) -> None:
        """The CPU's EntryHi.ASID changed: matches now use ``asid``'s entries."""
        r = self._r.get(asid)
        if r is None:
            r = self._r[asid] = {}
            self._w[asid] = {}
        self.rview = r
        self.wview = self._w[asid]
        self.asid = asid

    def _views(self, asid: int) -> tuple[dict[int, int], dict[int, int]]:
        r = self._r.get(asid)
        if r is None:
            r = self._r[asid] = {}
            self._w[asid] = {}
        return r, self._w[asid]

    def _slot_of(self, vpn: int, asid: int) -> int | None:
        for i, s in enumerate(self.slots):
            if s is not None and s[2] == vpn and s[3] == asid:
                return i
        return None

    def write_index(self, index: int, key: int, entry: Entry) -> None:
        """``tlbwi``: write ``entry`` for ``key`` into slot ``index``."""
        vpn, asid = key >> 8, key & 0xFF
        r, w = self._views(asid)
        if vpn in r:  # never two entries for one key
            prev = self._slot_of(vpn, asid)
            if prev is not None:
                self.slots[prev] = None
        old = self.slots[index]
        if old is not None:
            del old[0][old[2]]
            old[1].pop(old[2], None)
        r[vpn] = entry[0]
        if entry[1]:
            w[vpn] = entry[0]
        else:
            w.pop(vpn, None)
        self.slots[index] = (r, w, vpn, asid)
        self.writes += 1

    def write_random(self, key: int, entry: Entry, now: int) -> None:
        """``tlbwr``: write at the slot named by the Random register (or over
        the entry already matching ``key``)."""
        vpn, asid = key >> 8, key & 0xFF
        if vpn in self._views(asid)[0]:
            index = self._slot_of(vpn, asid)
            assert index is not None
        else:
            index = self.wired + now % self._random_span
        self.write_index(index, key, entry)

    def refill(self, vpn: int, base: int, writable: bool, now: int) -> None:
        """``tlbwr`` of a page that just missed for the current ASID.

        The fast case of write_random: a page that missed is known not to be
        present. (The CPU's miss path performs the same write inline.)
        """
        index = self.wired + now % self._random_span
        slots = self.slots
        old = slots[index]
        if old is not None:
            del old[0][old[2]]
            old[1].pop(old[2], None)
        r = self.rview
        w = self.wview
        r[vpn] = base
        if writable:
            w[vpn] = base
        elif vpn in w:
            del w[vpn]
        slots[index] = (r, w, vpn, self.asid)
        self.writes += 1

    def probe(self, key: int) -> Entry | None:
        """``tlbp``: the entry matching ``key``, if any."""
        vpn, asid = key >> 8, key & 0xFF
        r = self._r.get(asid)
        if r is None or vpn not in r:
            return None
        base = r[vpn]
        return (base, vpn in self._w[asid], base // self.words_per_frame)

    def invalidate(self, key: int) -> bool:
        vpn, asid = key >> 8, key & 0xFF
        r = self._r.get(asid)
        if r is None or vpn not in r:
            return False
        i = self._slot_of(vpn, asid)
        if i is not None:
            self.slots[i] = None
        del r[vpn]
        self._w[asid].pop(vpn, None)
        self.invalidations += 1
        return True

    def flush_asid(self, asid: int) -> int:
        """Invalidate every entry tagged with ``asid``; returns how many."""
        n = 0
        for i, s in enumerate(self.slots):
            if s is not None and s[3] == asid:
                self.slots[i] = None
                n += 1
        if asid in self._r:  # clear in place: the CPU may be using these views
            self._r[asid].clear()
            self._w[asid].clear()
        self.invalidations += n
        return n

    @property
    def entries_map(self) -> dict[int, Entry]:
        """Every valid entry, key -> (word_base, writable, pfn) (for checkers; not fast)."""
        out: dict[int, Entry] = {}
        for s in self.slots:
            if s is not None:
                r, w, vpn, asid = s
                base = r[vpn]
                out[vpn << 8 | asid] = (base, vpn in w, base // self.words_per_frame)
        return out

    def statistics(self) -> TLBStats:
        valid = sum(1 for s in self.slots if s is not None)
        return TLBStats(self.entries, valid, self.writes, self.invalidations)
