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
    faithful fast equivalent is an index per ASID: ``view`` maps the virtual
    page numbers of the current ASID's valid entries to the word index of
    their frame. The D bit (write enable) is the sign: a read-only entry's
    word base is stored minus the size of memory in words, which Python's
    negative indexing of the word array maps back to the same frame, so a
    load uses either kind without a test, and a store that finds a negative
    entry takes the TLB-modified exception. The CPU makes one dict probe per
    access. A context switch
    selects the other ASID's view (``set_asid``) and flushes nothing, as on
    the R3000.

    ``slots`` and ``slot_vpns`` hold which key sits in each of the N entries
    (the view holding it and its page number: two lists rather than a list of
    pairs, so a refill builds and frees no tuple), so replacement evicts
    exactly one entry and the TLB never holds more than N. The Random
    register decrements once per cycle on the R3000, so the slot chosen by
    ``write_random`` is a function of the clock: deterministic, like the
    hardware.

Interface
    ``write_random(key, entry, now)``, ``write_index(i, key, entry)``,
    ``probe(key)``, ``invalidate(key)``, ``flush_asid(asid)``,
    ``set_asid(asid)``, ``view_of(asid)``, ``entries_map`` (key -> entry, for checkers),
    ``statistics()``. A key is ``vpn << 8 | asid``; an entry is
    ``(word_base, writable, pfn)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Entry = tuple[int, bool, int]  # (word_base, writable, pfn)


def tlb_key(vpn: int, asid: int) -> int:
    return vpn << 8 | asid


@dataclass(frozen=True, slots=True)
class TLBStats:
    entries: int
    valid: int
    writes: int
    invalidations: int


class TLB:
    """N entries; a per-ASID view for the CPU, ``slots`` for replacement."""

    __slots__ = (
        "entries", "wired", "slots", "slot_vpns", "words_per_frame", "_views",
        "view", "asid", "_random_span", "writes", "invalidations", "round_robin", "next_slot",
        "memory_words", "hierarchy",
    )

    def __init__(
        self, entries: int, wired: int, words_per_frame: int, memory_words: int, replacement: str = "random"
    ) -> None:
        if replacement not in ("random", "round_robin"):
            raise ValueError(f"unknown TLB replacement {replacement!r}")
        self.entries = entries
        self.wired = wired
        self.round_robin = replacement == "round_robin"
        #: read-only entries are stored as ``base - memory_words`` (see the module note)
        self.memory_words = memory_words
        self.next_slot = wired
        self.words_per_frame = words_per_frame
        #: each occupied slot names the view holding it (None: free) and, in
        #: ``slot_vpns``, its page number, so eviction needs no lookup
        self.slots: list[dict[int, int] | None] = [None] * entries
        self.slot_vpns: list[int] = [0] * entries
        self._views: dict[int, dict[int, int]] = {}
        #: the current ASID's view: vpn -> word base if writable, ~word base if read-only
        self.view: dict[int, int] = {}
        self.asid = 0
        self._random_span = entries - wired
        self.writes = 0
        self.invalidations = 0
        #: ``detailed`` memory: the caches, whose stall cycles the Random register does not
        #: count (it decrements once per run cycle; frozen while the pipeline stalls)
        self.hierarchy: Any = None
        self.set_asid(0)

    def set_asid(self, asid: int) -> None:
        """The CPU's EntryHi.ASID changed: matches now use ``asid``'s entries."""
        self.view = self.view_of(asid)
        self.asid = asid

    def view_of(self, asid: int) -> dict[int, int]:
        """``asid``'s view. It lives as long as the TLB (flushes clear it in place), so a
        kernel may keep it and load it with the ASID on a context switch."""
        v = self._views.get(asid)
        if v is None:
            v = self._views[asid] = {}
        return v

    def _slot_of(self, vpn: int, asid: int) -> int | None:
        v = self._views.get(asid)
        for i, s in enumerate(self.slots):
            if s is not None and s is v and self.slot_vpns[i] == vpn:
                return i
        return None

    def _asid_of(self, view: dict[int, int]) -> int:
        for asid, v in self._views.items():
            if v is view:
                return asid
        raise KeyError("a TLB slot names a view of no ASID")

    def write_index(self, index: int, key: int, entry: Entry) -> None:
        """``tlbwi``: write ``entry`` for ``key`` into slot ``index``."""
        vpn, asid = key >> 8, key & 0xFF
        v = self.view_of(asid)
        if vpn in v:  # never two entries for one key
            prev = self._slot_of(vpn, asid)
            if prev is not None:
                self.slots[prev] = None
        old = self.slots[index]
        if old is not None:
            del old[self.slot_vpns[index]]
        v[vpn] = entry[0] if entry[1] else entry[0] - self.memory_words
        self.slots[index] = v
        self.slot_vpns[index] = vpn
        self.writes += 1

    def write_random(self, key: int, entry: Entry, now: int) -> None:
        """``tlbwr``: write at the slot named by the Random register (or over
        the entry already matching ``key``).

        ``victim`` and ``write_index`` written out: this is the end of every
        ``tlb_write`` system call (each STLB-miss upcall), and calling them
        looked the ASID's view up twice and made two more Python calls.
        """
        vpn, asid = key >> 8, key & 0xFF
        v = self._views.get(asid)  # view_of(asid), inlined
        if v is None:
            v = self._views[asid] = {}
        slots = self.slots
        if vpn in v:  # over the entry already matching key: never two entries for one key
            index = self._slot_of(vpn, asid)
            assert index is not None
        else:
            if self.round_robin:
                index = self.victim(now)
            else:  # the Random register at cycle now (victim(), inlined)
                if self.hierarchy is not None:
                    now -= self.hierarchy.stall_cycles
                index = self.wired + now % self._random_span
            old = slots[index]
            if old is not None:
                del old[self.slot_vpns[index]]
        v[vpn] = entry[0] if entry[1] else entry[0] - self.memory_words
        slots[index] = v
        self.slot_vpns[index] = vpn
        self.writes += 1

    def victim(self, now: int) -> int:
        """The slot the next replacement writes: the Random register's value at
        cycle ``now`` (R3000), or the next slot in turn (round robin)."""
        if self.round_robin:
            i = self.next_slot
            self.next_slot = i + 1 if i + 1 < self.entries else self.wired
            return i
        if self.hierarchy is not None:
            now -= self.hierarchy.stall_cycles
        return self.wired + now % self._random_span

    def probe(self, key: int) -> Entry | None:
        """``tlbp``: the entry matching ``key``, if any."""
        v = self._views.get(key & 0xFF)
        if v is None:
            return None
        b = v.get(key >> 8)
        if b is None:
            return None
        writable = b >= 0
        base = b if writable else b + self.memory_words
        return (base, writable, base // self.words_per_frame)

    def invalidate(self, key: int) -> bool:
        vpn, asid = key >> 8, key & 0xFF
        v = self._views.get(asid)
        if v is None or vpn not in v:
            return False
        i = self._slot_of(vpn, asid)
        if i is not None:
            self.slots[i] = None
        del v[vpn]
        self.invalidations += 1
        return True

    def flush_asid(self, asid: int) -> int:
        """Invalidate every entry tagged with ``asid``; returns how many."""
        n = 0
        v = self._views.get(asid)
        for i, s in enumerate(self.slots):
            if s is not None and s is v:
                self.slots[i] = None
                n += 1
        if asid in self._views:  # clear in place: the CPU may be using this view
            self._views[asid].clear()
        self.invalidations += n
        return n

    @property
    def entries_map(self) -> dict[int, Entry]:
        """Every valid entry, key -> (word_base, writable, pfn) (for checkers; not fast)."""
        out: dict[int, Entry] = {}
        for s, vpn in zip(self.slots, self.slot_vpns, strict=True):
            if s is not None:
                key = vpn << 8 | self._asid_of(s)
                e = self.probe(key)
                assert e is not None
                out[key] = e
        return out

    def statistics(self) -> TLBStats:
        valid = sum(1 for s in self.slots if s is not None)
        return TLBStats(self.entries, valid, self.writes, self.invalidations)
