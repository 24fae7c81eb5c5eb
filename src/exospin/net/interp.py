"""The interpreted demultiplexer: every filter tried in turn (MPF/CSPF style).

What this models
    The baseline DPF was measured against (Engler & Kaashoek, SIGCOMM 1996,
    section 5): the CMU/Stanford packet filter and its successor MPF keep
    one filter program per endpoint and, for each packet, interpret the
    filters one after the other until one accepts. Each atom is fetched
    from memory and decoded every time; nothing is shared between filters,
    so the cost grows with the number of filters installed.

Why it is built this way
    The same atom format and the same overlap rule as the DPF trie
    (atoms.py, dpf.py), so the two accept exactly the same packets and the
    benchmarks compare only the demultiplexing method. The loop is written
    as a good interpreter would be in Python (atoms pre-decoded into
    tuples, a local per counter); the work it counts is what an
    interpreter in C does per atom and per filter (atoms.py).

Interface
    ``m = Interpreted()``; ``m.insert(owner, tests) -> Filter``; ``m.delete(f)``;
    ``m.demux(packet) -> (Filter | None, work)``; ``m.filters``; ``m.statistics()``.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass

from .atoms import Atom, Filter, FilterError, Overlap, Test, check_filter, work
from .dpf import DPF

#: per filter tried: load its pointer and atom count, loop
FILTER_COST = work(2, 1)
#: per atom: fetch four fields, bound (add, compare), dispatch on length, load, mask,
#: compare, loop
ATOM_COST = work(5, 6)
#: per shift: fetch, bound, dispatch, load, mask, shift, add, loop
SHIFT_COST = work(5, 7)
#: an accept: load the owner
ACCEPT_COST = work(1, 0)


@dataclass(frozen=True, slots=True)
class InterpretedStats:
    filters: int
    inserts: int
    deletes: int
    refusals: int


class Interpreted:
    """A list of filters, each interpreted in turn on every packet."""

    def __init__(self) -> None:
        # the overlap rule is DPF's; a private trie applies it (and stays in step)
        self._rule = DPF(rule_only=True)
        self._mine: dict[int, Filter] = {}  # rule's fid -> our filter
        self._list: list[tuple[Filter, tuple[tuple[int, int, int, int, bool], ...]]] = []
        self._next = 1
        self._inserts = self._deletes = self._refusals = 0

    @property
    def filters(self) -> tuple[Filter, ...]:
        return tuple(f for f, _ in self._list)

    def insert(self, owner: Hashable, tests: Iterable[Test]) -> Filter:
        """Install a filter at the end of the list (checked as DPF checks it)."""
        try:
            checked = check_filter(tests)
            shadow = self._rule.insert(owner, checked)
        except (FilterError, Overlap):
            self._refusals += 1
            raise
        f = Filter(self._next, owner, checked)
        self._next += 1
        self._mine[shadow.fid] = f
        code = tuple((t.offset, t.length, t.mask, t.value if isinstance(t, Atom) else t.shift,
                      type(t) is not Atom) for t in checked)
        self._list.append((f, code))
        self._inserts += 1
        return f

    def delete(self, f: Filter) -> None:
        for i, (g, _) in enumerate(self._list):
            if g is f:
                del self._list[i]
                break
        else:
            raise FilterError(f"filter {f} is not installed here")
        for shadow in self._rule.filters:
            if self._mine[shadow.fid] is f:
                self._rule.delete(shadow)
                del self._mine[shadow.fid]
                break
        self._deletes += 1

    def demux(self, p: bytes) -> tuple[Filter | None, int]:
        """Try each filter in installation order; the first that accepts, and the work."""
        n = len(p)
        k = 0
        for f, code in self._list:
            k += FILTER_COST
            base = 0
            for off, length, mask, value, shift in code:
                o = base + off
                if o + length > n:
                    k += SHIFT_COST if shift else ATOM_COST
                    break
                if length == 1:
                    x = p[o]
                elif length == 2:
                    x = p[o] << 8 | p[o + 1]
                else:
                    x = p[o] << 24 | p[o + 1] << 16 | p[o + 2] << 8 | p[o + 3]
                if shift:
                    k += SHIFT_COST
                    base += (x & mask) << value
                    continue
                k += ATOM_COST
                if x & mask != value:
                    break
            else:
                return f, k + ACCEPT_COST
        return None, k

    def statistics(self) -> InterpretedStats:
        return InterpretedStats(len(self._list), self._inserts, self._deletes, self._refusals)
