"""The inverted (hashed) page table ExOS added (Engler et al., section 7.2).

What this models
    A table whose size follows what is mapped, not the span of the address
    space: an array of hash buckets, each the head of a chain of entries
    (virtual page tag, PTE, link to the next). A virtual page's bucket is
    ``(vpn ^ (vpn >> bits)) & (buckets - 1)``, the fold of the high bits onto
    the low ones that keeps a contiguous region in distinct buckets while
    spreading regions far apart. A new entry goes at the head of its chain.
    The table doubles its buckets when it holds more entries than buckets,
    so chains stay about one entry long. This is a hashed page table keyed
    by virtual page (as on the PA-RISC and the PowerPC): it also holds the
    pages that are not resident (demand-zero, swapped), and aliases are two
    entries. A strictly inverted table (one entry per physical frame) would
    need a second structure for those, which ExOS' page table also serves.

Cost (what it does, through the CPU's primitives)
    * ``lookup``: the hash, ``HASH_INSNS`` instructions (shift, xor, mask,
      scale, add to the table's base); the bucket's head, one load; then per
      entry examined its tag, one load, and the comparison, one instruction;
      per link followed (to the next entry, or the end of the chain on a
      miss) one load; on a hit the PTE word, one load. A hit on the first
      entry is 6 instructions and 3 references, against the linear table's
      2 references.
    * ``enter`` (mmap's new pages): per page the hash, the head loaded, the
      new entry's tag, PTE and link stored, the head stored.
    * ``scan`` (fork's walk): every bucket's head, then each entry's tag,
      PTE and link.
    * doubling (whenever an insertion leaves more entries than buckets): each
      old head loaded; each entry hashed again, its tag and link loaded, its
      link and its new bucket's head loaded and stored.

    A range (``mprotect`` of 100 pages) is 100 independent lookups: hashing
    forgets that the pages are neighbours, which the linear table's
    consecutive entries remember. Where the linear table's charge is exact
    for today's ExOS (the index arithmetic is not charged there), the
    comparison in docs/exos.md says so.

Interface
    ``Inverted(mem_refs, compute, entries_per_page)``: a mutable mapping from
    virtual page number to PTE (raw operations, uncharged as the linear
    table's dict operations are, except a doubling; a dict indexes the
    entries for them, so that the library OS's bookkeeping in Python, such as
    exit's walk over its pages, is as quick as on the linear table; it
    iterates in the order pages were entered), plus the charged
    ``lookup(vpn)``, ``enter(first, ptes)`` and ``scan()``; ``place(touch_words,
    base_word)`` (``detailed`` memory: lookups and entries touch the bucket, tags,
    links and PTE through the caches; a doubling and ``scan`` are still charged
    as unaddressed references); ``empty()``,
    ``words()``, ``statistics()``.
"""

from __future__ import annotations

from collections.abc import Callable, ItemsView, Iterator, MutableMapping, ValuesView

from .pte import PTE
from .stats import PageTableStats

HASH_INSNS = 5  # srl, xor, and (the mask), sll (the entry's size), addu (the table's base)
BUCKET_REFS = 1  # load the chain's head
TAG_REFS = 1  # load an entry's virtual-page tag
COMPARE_INSNS = 1  # compare it with the page looked up (and branch)
LINK_REFS = 1  # load an entry's link to the next
PTE_REFS = 1  # load the PTE of the entry found
ENTER_REFS = 5  # load the head; store the entry's tag, PTE and link; store the head
GROW_REFS = 5  # per entry moved: tag and link loaded, the new head loaded, link and head stored
ENTRY_WORDS = 3  # tag, PTE, link
INITIAL_BUCKETS = 64  # a power of two; the table doubles from here
#: Under ``detailed`` memory (``place``): the table's words in physical memory, its buckets
#: then its entries (``ENTRY_WORDS`` each, in the order they were made), this many of each
#: before the layout wraps round (a table of more aliases words of the same region).
PLACED_BUCKETS = 4096
PLACED_ENTRIES = 4096
PLACED_WORDS = PLACED_BUCKETS + ENTRY_WORDS * PLACED_ENTRIES


class _Entry:
    __slots__ = ("next", "pte", "vpn", "slot")

    def __init__(self, vpn: int, pte: PTE, next: _Entry | None, slot: int) -> None:
        self.vpn = vpn
        self.pte = pte
        self.next = next
        self.slot = slot  # its place among the entries (``place``)


class Inverted(MutableMapping[int, PTE]):
    kind = "inverted"

    def __init__(self, mem_refs: Callable[[int], None], compute: Callable[[int], None],
                 entries_per_page: int) -> None:
        self._mem_refs = mem_refs
        self._compute = compute
        self._per_page = entries_per_page
        self._heads: list[_Entry | None] = [None] * INITIAL_BUCKETS
        self._bits = INITIAL_BUCKETS.bit_length() - 1
        # the simulator's, for the uncharged operations: vpn -> entry, and vpn -> PTE
        self._index: dict[int, _Entry] = {}
        self._ptes: dict[int, PTE] = {}
        self.lookups = 0
        self.examined = 0
        self.grows = 0
        self._made = 0  # entries made so far: the next one's slot
        #: ``detailed`` memory: the CPU's ``touch_words`` and the table's first word (``place``)
        self._touch: Callable[[list[int], bool], None] | None = None
        self._base = 0

    def place(self, touch_words: Callable[[list[int], bool], None], base_word: int) -> None:
        """Under ``detailed`` memory: the table lives at physical word ``base_word`` (its
        buckets, then its entries), and its charged lookups and entries load and store
        those words through the caches with ``touch_words`` (the CPU's), as the linear
        table's PTE is read through them by ExOS' handlers."""
        self._touch = touch_words
        self._base = base_word

    def _entry_word(self, e: _Entry, field: int) -> int:
        return self._base + PLACED_BUCKETS + (e.slot % PLACED_ENTRIES) * ENTRY_WORDS + field

    def _bucket(self, vpn: int) -> int:
        return (vpn ^ (vpn >> self._bits)) & (len(self._heads) - 1)

    # ------------------------------------------------------------ charged

    def lookup(self, vpn: int) -> PTE | None:
        """Hash ``vpn`` and walk its chain, charging every entry examined."""
        h = self._bucket(vpn)
        e = self._heads[h]
        k = 0
        touch = self._touch
        words = None if touch is None else [self._base + h % PLACED_BUCKETS]  # the head
        while e is not None:
            k += 1
            if words is not None:
                words.append(self._entry_word(e, 0))  # its tag
            if e.vpn == vpn:
                self._charge(k, BUCKET_REFS + k * TAG_REFS + (k - 1) * LINK_REFS + PTE_REFS)
                if touch is not None and words is not None:
                    words.append(self._entry_word(e, 1))  # the PTE
                    touch(words, False)
                return e.pte
            if words is not None:
                words.append(self._entry_word(e, 2))  # its link
            e = e.next
        self._charge(k, BUCKET_REFS + k * (TAG_REFS + LINK_REFS))
        if touch is not None and words is not None:
            touch(words, False)
        return None

    def _charge(self, examined: int, refs: int) -> None:
        self.lookups += 1
        self.examined += examined
        self._compute(HASH_INSNS + examined * COMPARE_INSNS)
        self._mem_refs(refs)

    def enter(self, first: int, ptes: list[PTE]) -> None:
        """New pages ``first``, ``first + 1``, ... (fresh addresses): each hashed and
        linked at the head of its chain."""
        for i, pte in enumerate(ptes):
            if first + i in self:
                raise ValueError(f"enter: page {first + i:#x} is already in the table")
            self[first + i] = pte
        n = len(ptes)
        self._compute(n * HASH_INSNS)
        self._mem_refs(n * ENTER_REFS)
        touch = self._touch
        if touch is not None:  # per page: the head loaded; the entry's words and the head stored
            heads = [self._base + self._bucket(first + i) % PLACED_BUCKETS for i in range(n)]
            touch(heads, False)
            stored: list[int] = []
            for i, h in enumerate(heads):
                e = self._index[first + i]
                stored += (self._entry_word(e, 0), self._entry_word(e, 1), self._entry_word(e, 2), h)
            touch(stored, True)

    def scan(self) -> Iterator[tuple[int, PTE]]:
        """Every entry, bucket by bucket. The caller does not add or remove entries."""
        mem_refs = self._mem_refs
        for head in self._heads:
            mem_refs(BUCKET_REFS)
            e = head
            while e is not None:
                mem_refs(TAG_REFS + PTE_REFS + LINK_REFS)
                yield e.vpn, e.pte
                e = e.next

    # -------------------------------------------------------- the mapping

    def __getitem__(self, vpn: int) -> PTE:
        return self._ptes[vpn]

    def get(self, vpn: int, default: PTE | None = None) -> PTE | None:  # type: ignore[override]
        return self._ptes.get(vpn, default)

    def items(self) -> ItemsView[int, PTE]:
        return self._ptes.items()

    def values(self) -> ValuesView[PTE]:
        return self._ptes.values()

    def __setitem__(self, vpn: int, pte: PTE) -> None:
        self._ptes[vpn] = pte
        e = self._index.get(vpn)
        if e is not None:
            e.pte = pte
            return
        h = self._bucket(vpn)
        self._heads[h] = self._index[vpn] = _Entry(vpn, pte, self._heads[h], self._made)
        self._made += 1
        if len(self._index) > len(self._heads):
            self._grow()

    def __delitem__(self, vpn: int) -> None:
        h = self._bucket(vpn)
        prev: _Entry | None = None
        e = self._heads[h]
        while e is not None:
            if e.vpn == vpn:
                if prev is None:
                    self._heads[h] = e.next
                else:
                    prev.next = e.next
                del self._index[vpn]
                del self._ptes[vpn]
                return
            prev, e = e, e.next
        raise KeyError(vpn)

    def __contains__(self, vpn: object) -> bool:
        return vpn in self._ptes

    def __iter__(self) -> Iterator[int]:
        return iter(self._ptes)

    def __len__(self) -> int:
        return len(self._index)

    def clear(self) -> None:
        self._heads = [None] * len(self._heads)
        self._index.clear()
        self._ptes.clear()

    def _grow(self) -> None:
        """Double the buckets and move every entry to its new chain (charged)."""
        old = self._heads
        self._heads = [None] * (2 * len(old))
        self._bits += 1
        moved = 0
        for head in old:
            e = head
            while e is not None:
                nxt = e.next
                h = self._bucket(e.vpn)
                e.next = self._heads[h]
                self._heads[h] = e
                moved += 1
                e = nxt
        self.grows += 1
        self._compute(moved * HASH_INSNS)
        self._mem_refs(len(old) * BUCKET_REFS + moved * GROW_REFS)

    # -------------------------------------------------------------- views

    def empty(self) -> Inverted:
        """A new, empty table of the same kind (a forked child's)."""
        t = Inverted(self._mem_refs, self._compute, self._per_page)
        if self._touch is not None:
            t.place(self._touch, self._base)
        return t

    def words(self) -> int:
        """The table's size in words: the buckets and the entries."""
        return len(self._heads) + ENTRY_WORDS * len(self._index)

    def chains(self) -> list[int]:
        """The length of every chain, bucket by bucket."""
        out = []
        for head in self._heads:
            n = 0
            e = head
            while e is not None:
                n += 1
                e = e.next
            out.append(n)
        return out

    def statistics(self) -> PageTableStats:
        return PageTableStats(self.kind, len(self._index), self.words(), self.lookups, self.examined,
                              longest_chain=max(self.chains(), default=0), buckets=len(self._heads),
                              grows=self.grows)
