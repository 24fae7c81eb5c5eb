"""DPF: every installed filter merged into one trie, compiled to Python code.

What this models
    Dynamic Packet Filters (Engler & Kaashoek, SIGCOMM 1996), the packet
    demultiplexer of the exokernel: filters are conjunctions of atoms
    (atoms.py); the kernel merges all of them into one trie, so that a test
    common to many filters (the Ethernet type, the IP protocol) is made
    once per packet, and where many filters test the same field against
    different values (the UDP port of each connection) the trie holds a
    hash table, one probe instead of one compare per filter. The trie is
    compiled to code at each insert and delete, so a demux runs no
    interpreter: demultiplexing time depends on the distinct fields tested,
    not on the number of filters.

Why it is built this way
    * The trie. A node holds its out-going edges, each a test (an Atom or a
      Shift, relative to the node's base) leading to a child, and the
      filters that end at it. Inserting a filter walks its tests from the
      root, sharing every edge that is already there. A packet may satisfy
      several edges of a node (tests on different fields): they are tried
      in insertion order, the edges of one field together at the place of
      its first (at most one of them holds), and a child that fails falls
      through to the next edge, so the compiled code is nested ``if``
      statements with no backtracking machinery. Children are tried before the filters
      ending at a node (the longer, more specific filter first).
    * Hash tables. At least ``HASH_MIN`` edges of a node that test the same
      field (offset, length, mask) with different values are mutually
      exclusive: the compiled code loads the field once and looks it up in
      a dict from value to the filter (a leaf) or to the compiled code of
      the sub-trie. Fewer than ``HASH_MIN`` are compared in line.
    * Compiled once per shape. The generated source holds offsets, lengths,
      masks and costs, never a value, an owner or a filter: those are names
      bound in the generated code's globals. Its compilation is cached by
      text (as spin/dispatcher.py caches its raise functions), so the 1,000th
      connection filter on the same port field changes a dict and compiles
      nothing. ``demux`` is swapped in one assignment: a demux in progress
      keeps the code it started with.
    * Overlap. An owner may only receive what its own filters claim, so a
      filter is refused if some packet could satisfy both it and a filter
      of another owner. The rule, exact for filters without shifts: two
      filters are *disjoint* when an atom of one and an atom of the other
      at the same position (the same shifts before them) require a bit both
      masks cover to differ; a new filter is refused (:class:`Overlap`)
      unless it is disjoint from every other owner's filter. With shifts
      this is conservative: bytes reached through different shifts are not
      compared, so a filter may be refused that no packet could confuse,
      never the other way round. The check walks the trie with the new
      filter and prunes every edge its atoms contradict (one dict lookup
      where the new filter tests the hashed field), so installing the N-th
      connection filter does not compare it with N - 1 others. Filters of
      one owner may overlap; a packet then goes to the first in trie order.
    * Byte compares. An atom whose mask is all ones is compiled as a compare
      of the packet's bytes with the value's (``p[12:14] == v0``), and a
      hashed field of full mask is looked up by its bytes: a slice past the
      packet's end is shorter, so it is unequal (finds no key) and needs no
      separate bounds test. Other atoms load the field as an int after a
      bounds test. The packet must be ``bytes`` (hashable slices).
    * Counting, not charging. Each test the compiled code makes adds its
      cost in primitives to a local (atoms.py), returned with the verdict;
      the caller charges its clock.

Interface
    ``d = DPF(rule_only=False)``; ``d.insert(owner, tests) -> Filter`` (raises FilterError or
    Overlap; nothing changes then); ``d.delete(filter)``; ``d.demux(packet)
    -> (Filter | None, work)``; ``d.filters``; ``d.source()`` (the generated
    code, for reading); ``d.shape()`` (the trie, for reading); ``d.statistics()``.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from .atoms import Atom, Filter, FilterError, Overlap, Shift, Test, check_filter, contradict, work

#: Edges of one node on the same field from which the compiled code hashes the field
#: instead of comparing it with each value in turn.
HASH_MIN = 4

Field = tuple[int, int, int]  # (offset, length, mask) of an atom
Demux = Callable[[bytes], tuple[Filter | None, int]]

_FULL = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFFFFFF}


def _atom_cost(a: Atom) -> int:
    return work(1, 2 + (a.mask != _FULL[a.length]))


_SHIFT_COST = work(1, 4)
_ACCEPT_COST = work(1, 0)


def _hash_cost(mask: int, length: int) -> int:
    return work(1, 1 + (mask != _FULL[length]), 1)


class _Node:
    """A trie node: edges in insertion order, the same atoms grouped by field, the
    filters ending here."""

    __slots__ = ("edges", "fields", "order", "accepts")

    def __init__(self) -> None:
        self.edges: dict[Test, _Node] = {}
        self.fields: dict[Field, dict[int, _Node]] = {}
        #: what the compiled code tries, in order: each shift, and each field (all its
        #: values together, at the place of its first edge)
        self.order: dict[Shift | Field, None] = {}
        self.accepts: list[Filter] = []

    def child(self, t: Test) -> _Node:
        node = self.edges.get(t)
        if node is None:
            node = self.edges[t] = _Node()
            if type(t) is Atom:
                key = (t.offset, t.length, t.mask)
                self.fields.setdefault(key, {})[t.value] = node
                self.order.setdefault(key, None)
            else:
                assert type(t) is Shift
                self.order[t] = None
        return node

    def drop(self, t: Test) -> None:
        del self.edges[t]
        if type(t) is Atom:
            key = (t.offset, t.length, t.mask)
            vals = self.fields[key]
            del vals[t.value]
            if not vals:
                del self.fields[key]
                del self.order[key]
        else:
            assert type(t) is Shift
            del self.order[t]


@dataclass(frozen=True, slots=True)
class DPFStats:
    filters: int
    owners: int
    nodes: int  # trie nodes, the root included
    hash_tables: int  # nodes' fields compiled as a hash lookup
    inserts: int
    deletes: int
    refusals: int  # inserts refused: bad filter or overlap
    rebuilds: int  # compilations of the trie (one per insert or delete)
    sources_compiled: int  # generated texts compiled (the rest came from the shape cache)


def _reject(p: bytes) -> tuple[Filter | None, int]:
    """The demux of an empty trie: no test made."""
    return None, 0


class DPF:
    """The merged, compiled packet-filter trie."""

    def __init__(self, rule_only: bool = False) -> None:
        """``rule_only``: keep the trie and apply its checks and overlap rule, but never
        compile it (``demux`` rejects every packet): how the interpreted baseline applies
        DPF's rule without paying for code it never runs."""
        self._rule_only = rule_only
        self._root = _Node()
        self._filters: dict[int, Filter] = {}
        self._next = 1
        self._inserts = self._deletes = self._refusals = self._rebuilds = self._compiled = 0
        self._hashes = 0
        self._src: list[str] = []
        #: the compiled demultiplexer: ``demux(packet) -> (filter or None, work)``
        self.demux: Demux = _reject

    # -- installing

    @property
    def filters(self) -> tuple[Filter, ...]:
        """The installed filters, in installation order."""
        return tuple(self._filters.values())

    def insert(self, owner: Hashable, tests: Iterable[Test]) -> Filter:
        """Install a filter for ``owner``: checked, merged into the trie, recompiled.
        Raises FilterError (a bad test) or Overlap (another owner's filter accepts a
        packet this one would); the trie is then unchanged."""
        try:
            checked = check_filter(tests)
            other = self._overlap(owner, checked)
        except FilterError:
            self._refusals += 1
            raise
        if other is not None:
            self._refusals += 1
            shown = " and ".join(map(str, checked))
            raise Overlap(f"filter ({shown}) of {owner!r} overlaps filter {other}: some packet "
                          "satisfies both (no atom of one contradicts an atom of the other at the "
                          "same position), so it would take traffic that owner claims")
        f = Filter(self._next, owner, checked)
        self._next += 1
        node = self._root
        for t in checked:
            node = node.child(t)
        node.accepts.append(f)
        self._filters[f.fid] = f
        self._inserts += 1
        self._rebuild()
        return f

    def delete(self, f: Filter) -> None:
        """Remove an installed filter; nodes no other filter uses are freed."""
        if self._filters.get(f.fid) is not f:
            raise FilterError(f"filter {f} is not installed here")
        path = [self._root]
        for t in f.tests:
            path.append(path[-1].edges[t])
        path[-1].accepts.remove(f)
        for i in range(len(f.tests) - 1, -1, -1):
            node = path[i + 1]
            if node.edges or node.accepts:
                break
            path[i].drop(f.tests[i])
        del self._filters[f.fid]
        self._deletes += 1
        self._rebuild()

    def _overlap(self, owner: Hashable, tests: tuple[Test, ...]) -> Filter | None:
        """The first filter of another owner that some packet could satisfy together
        with ``tests`` (see the module's rule), or None."""
        # the new filter's atoms by segment (the tuple of shifts before them)
        by_seg: dict[tuple[Shift, ...], list[Atom]] = {}
        exact: dict[tuple[tuple[Shift, ...], Field], int] = {}
        seg: tuple[Shift, ...] = ()
        for t in tests:
            if type(t) is Shift:
                seg = (*seg, t)
            elif type(t) is Atom:
                by_seg.setdefault(seg, []).append(t)
                if t.mask:
                    exact[seg, (t.offset, t.length, t.mask)] = t.value

        def walk(node: _Node, seg: tuple[Shift, ...]) -> Filter | None:
            for f in node.accepts:
                if f.owner != owner:
                    return f
            mine = by_seg.get(seg, ())
            for t, child in node.edges.items():
                if type(t) is Shift:
                    found = walk(child, (*seg, t))
                    if found is not None:
                        return found
            for field, vals in node.fields.items():
                v = exact.get((seg, field))
                if v is not None:  # the new filter tests this very field: one value can hold
                    hit = vals.get(v)
                    candidates = [] if hit is None else [(Atom(*field, v), hit)]
                else:
                    candidates = [(Atom(*field, value), c) for value, c in vals.items()]
                for a, c in candidates:
                    if not any(contradict(a, b) for b in mine):
                        found = walk(c, seg)
                        if found is not None:
                            return found
            return None

        return walk(self._root, ())

    # -- compiling

    def _rebuild(self) -> None:
        self._rebuilds += 1
        self._hashes = 0
        self._src = []
        if not self._filters or self._rule_only:
            self.demux = _reject
            return
        self.demux = self._compile(self._root, 0, "demux")

    def _compile(self, node: _Node, depth: int, name: str) -> Any:
        """Generate, compile and bind the code of the sub-trie at ``node`` (base depth
        ``depth``: the shifts above it). The root's function takes the packet; a
        sub-trie's takes (p, n, b1..b_depth) and returns (filter or None, work)."""
        env: dict[str, Any] = {}
        body: list[str] = []
        self._emit(node, depth, 8, body, env)
        bases = "".join(f", b{i}" for i in range(1, depth + 1))
        if name == "demux":
            head = ["    def demux(p):", "        n = len(p)", "        k = 0"]
        else:
            head = [f"    def sub(p, n{bases}):", "        k = 0"]
        src = "\n".join(["def make():", *head, *body, "        return None, k",
                         f"    return {name}", ""])
        self._src.append(src)
        before = _compiled.cache_info().misses
        code = _compiled(src)
        self._compiled += _compiled.cache_info().misses - before
        ns: dict[str, Any] = dict(env)
        exec(code, ns)
        return ns["make"]()

    def _emit(self, node: _Node, depth: int, ind: int, out: list[str], env: dict[str, Any]) -> None:
        pad = " " * ind
        base = "" if depth == 0 else f"b{depth} + "
        for key in node.order:
            if type(key) is Shift:
                t = key
                load = _load(base, t.offset, t.length)
                nb = f"b{depth + 1}"
                shifted = f"(({load} & {t.mask:#x}) << {t.shift})"
                out += [pad + f"k += {_SHIFT_COST}", pad + f"if n > {base}{t.offset + t.length - 1}:",
                        pad + f"    {nb} = " + (f"b{depth} + {shifted}" if depth else shifted)]
                self._emit(node.edges[t], depth + 1, ind + 4, out, env)
                continue
            assert type(key) is tuple
            off, length, mask = key
            vals = node.fields[key]
            end = off + length - 1
            full = mask == _FULL[length]
            if len(vals) < HASH_MIN:  # compared in line, one value after the other
                for value, child in vals.items():
                    v = f"v{len(env)}"
                    if full:  # the bytes themselves: a slice past the end is shorter, so unequal
                        env[v] = value.to_bytes(length, "big")
                        cond = f"{_slice(base, off, length)} == {v}"
                    elif mask:
                        env[v] = value
                        cond = f"n > {base}{end} and {_masked(_load(base, off, length), mask, length)} == {v}"
                    else:
                        cond = f"n > {base}{end}"
                    out += [pad + f"k += {_atom_cost(Atom(off, length, mask, value))}", pad + f"if {cond}:"]
                    self._emit(child, depth, ind + 4, out, env)
                continue
            self._hashes += 1
            # keys: the field's bytes when the mask is full (see below), else its int
            size = length if full else 0
            leaves: dict[int | bytes, Filter] = {}
            subs: dict[int | bytes, Any] = {}
            for value, c in vals.items():
                k = value.to_bytes(size, "big") if size else value
                if c.edges:
                    subs[k] = self._compile(c, depth, "sub")
                else:
                    leaves[k] = c.accepts[0]
            j = len(env)
            out.append(pad + f"k += {_hash_cost(mask, length)}")
            if full:  # keyed by the field's bytes: a slice past the end is shorter, no key
                inner = pad
                out.append(inner + f"x = {_slice(base, off, length)}")
            else:
                inner = pad + "    "
                out += [pad + f"if n > {base}{end}:",
                        inner + f"x = {_masked(_load(base, off, length), mask, length)}"]
            if leaves:
                env[f"L{j}"] = leaves.get
                out += [inner + f"r = L{j}(x)", inner + "if r is not None:",
                        inner + f"    return r, k + {_ACCEPT_COST}"]
            if subs:
                env[f"S{j}"] = subs.get
                args = "".join(f", b{i}" for i in range(1, depth + 1))
                out += [inner + f"s = S{j}(x)", inner + "if s is not None:",
                        inner + f"    r, w = s(p, n{args})", inner + "    k += w",
                        inner + "    if r is not None:", inner + "        return r, k"]
        if node.accepts:
            f = f"F{len(env)}"
            env[f] = node.accepts[0]
            out.append(pad + f"return {f}, k + {_ACCEPT_COST}")
        # every node but an empty root has an edge or a filter, so no block is left empty

    # -- reading

    def source(self) -> str:
        """The generated code of the current trie (the sub-tries first, then the root)."""
        return "\n".join(self._src)

    def shape(self) -> list[str]:
        """The trie, one line per edge, indented by depth: each test once however many
        filters share it, a field of ``HASH_MIN`` values or more marked as one hash
        lookup, and the filters ending at a node (for reading: ``exospin demo net``)."""
        lines: list[str] = []

        def walk(node: _Node, ind: str) -> None:
            for key in node.order:
                if type(key) is Shift:
                    lines.append(f"{ind}{key}")
                    walk(node.edges[key], ind + "  ")
                    continue
                assert type(key) is tuple
                vals = node.fields[key]
                if len(vals) >= HASH_MIN:
                    off, length, mask = key
                    field = f"[{off}:{length}]" + ("" if mask == _FULL[length] else f" & {mask:#x}")
                    lines.append(f"{ind}one hash lookup on {field}: {len(vals)} values")
                for value, child in vals.items():
                    lines.append(f"{ind}{Atom(*key, value)}")
                    walk(child, ind + "  ")
            for f in node.accepts:
                lines.append(f"{ind}-> filter #{f.fid}, owner {f.owner!r}")

        walk(self._root, "")
        return lines

    def statistics(self) -> DPFStats:
        def count(n: _Node) -> int:
            return 1 + sum(count(c) for c in n.edges.values())
        return DPFStats(len(self._filters), len({f.owner for f in self._filters.values()}),
                        count(self._root), self._hashes, self._inserts, self._deletes,
                        self._refusals, self._rebuilds, self._compiled)


def _load(base: str, off: int, length: int) -> str:
    """The expression loading ``length`` bytes at ``base + off``, network byte order."""
    if length == 1:
        return f"p[{base}{off}]"
    if length == 2:
        return f"(p[{base}{off}] << 8 | p[{base}{off + 1}])"
    return (f"(p[{base}{off}] << 24 | p[{base}{off + 1}] << 16 | p[{base}{off + 2}] << 8 "
            f"| p[{base}{off + 3}])")


def _slice(base: str, off: int, length: int) -> str:
    """The expression slicing ``length`` bytes at ``base + off`` (shorter past the end)."""
    return f"p[{base}{off}:{base}{off + length}]"


def _masked(load: str, mask: int, length: int) -> str:
    return load if mask == _FULL[length] else f"({load} & {mask:#x})"


@functools.lru_cache(maxsize=512)
def _compiled(src: str) -> types.CodeType:
    """``compile`` for generated demux code, cached by its text: the text holds no value,
    owner or filter, so a trie whose filters change but not its shape (one more
    connection on the hashed port field) reuses the code."""
    return compile(src, "<dpf>", "exec")
