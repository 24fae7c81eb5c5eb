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
    the same virtual addresses do not collide slot for slot. A slot holds
    the hardware TLB entry extended with its tag, so a probe is one list
    read and a tag compare, and a hit hands the CPU the entry to write. The
    tag is the key's page number and ASID, kept apart, so the refill path
    builds no key (in Python, a shift and an or that allocate on every
    refill); it compares the page alone, which the index makes enough (see
    ``stlb_index``).

    What we simplified: Aegis' STLB lived in kernel memory and its probe
    cost memory references; the kernel charges those references on the
    refill path (a tag and an entry: two), rather than this module.

Interface
    ``lookup(key)``, ``insert(key, entry)``, ``remove(key, pfn)``,
    ``flush_asid(asid)``, ``flush_asids(asids)``, ``items()``, ``statistics()``; ``slots`` and
    ``mask`` are read directly by the kernel's refill path.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator
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


#: One slot: the TLB entry, the tag (page number and ASID of the key it is cached
#: under), and the entry encoded as the TLB's view holds it (word base, less the
#: memory size if read-only).
Slot = tuple[int, bool, int, int, int, int]  # (word_base, writable, pfn, vpn, asid, encoded)

#: An empty slot: no page number is -1, so a probe needs no None test.
EMPTY: Slot = (0, False, -1, -1, -1, 0)

_ASID = operator.itemgetter(4)  # a slot's ASID


def stlb_index(vpn: int, asid: int, mask: int) -> int:
    """The slot of (vpn, asid): page number mixed with a multiple of the ASID.

    0x9E5 is odd, so ``asid * 0x9E5`` is one-to-one modulo the table size (a
    power of two, at least 256: more than any 8-bit ASID), and one page has a
    different slot under each ASID. A slot that holds the probed page therefore
    holds it for the probed ASID: as in a hardware cache, the index stands for
    part of the tag, and the kernel's refill path compares the page alone.
    """
    return (vpn ^ (asid * 0x9E5)) & mask


class STLB:
    """Direct-mapped: ``slots[i]`` is EMPTY or a TLB entry extended with its tag."""

    def __init__(self, entries: int, memory_words: int) -> None:
        assert entries & (entries - 1) == 0, "STLB size must be a power of two"
        assert entries >= 256, "the index must tell every 8-bit ASID apart (stlb_index)"
        self.entries = entries
        self.mask = entries - 1
        self.memory_words = memory_words
        self.slots: list[Slot] = [EMPTY] * entries
        # Hits and misses are counted by the kernel's refill path (see exceptions.py);
        # lookup() below counts its own.
        self.hits = 0
        self.misses = 0
        self.inserts = 0
        self.evictions = 0

    def lookup(self, key: int) -> Entry | None:
        vpn, asid = key >> 8, key & 0xFF
        s = self.slots[stlb_index(vpn, asid, self.mask)]
        if s[3] == vpn and s[4] == asid:
            self.hits += 1
            return s[:3]  # type: ignore[return-value]
        self.misses += 1
        return None

    def insert(self, key: int, entry: Entry) -> None:
        vpn, asid = key >> 8, key & 0xFF
        i = (vpn ^ (asid * 0x9E5)) & self.mask  # stlb_index(), inlined: every tlb_write inserts
        old = self.slots[i]
        if old[3] != -1 and (old[3] != vpn or old[4] != asid):
            self.evictions += 1
        base, writable, pfn = entry
        self.slots[i] = (base, writable, pfn, vpn, asid, base if writable else base - self.memory_words)
        self.inserts += 1

    def remove(self, key: int, pfn: int | None = None) -> bool:
        """Drop ``key`` (only if it maps ``pfn``, when given)."""
        vpn, asid = key >> 8, key & 0xFF
        i = stlb_index(vpn, asid, self.mask)
        s = self.slots[i]
        if s[3] == vpn and s[4] == asid and (pfn is None or s[2] == pfn):
            self.slots[i] = EMPTY
            return True
        return False

    def flush_asid(self, asid: int) -> int:
        """Empty every slot of ``asid`` (an empty slot's ASID is -1); returns how many."""
        return self.flush_asids((asid,))

    def flush_asids(self, asids: Iterable[int]) -> int:
        """Empty every slot of any of ``asids``, in one pass over the slots; returns how many.

        The slots' ASIDs are gathered and searched by ``list.index``, so the walk over
        all the slots runs in C and Python touches only the slots it empties (a Python
        loop over 4,096 slots was 17% of a short ExOS program's time)."""
        tags = list(map(_ASID, self.slots))
        slots = self.slots
        n = 0
        for asid in asids:
            i = -1
            try:
                while True:
                    i = tags.index(asid, i + 1)
                    slots[i] = EMPTY
                    n += 1
            except ValueError:
                pass
        return n

    def items(self) -> Iterator[tuple[int, Entry]]:
        for s in self.slots:
            if s[3] != -1:
                yield s[3] << 8 | s[4], (s[0], s[1], s[2])

    def statistics(self, hits: int = 0, misses: int = 0) -> STLBStats:
        """Counters; the kernel adds the hits and misses its refill path counted."""
        valid = sum(1 for s in self.slots if s[3] != -1)
        return STLBStats(
            self.entries, valid, self.hits + hits, self.misses + misses, self.inserts, self.evictions
        )
