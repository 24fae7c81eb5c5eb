"""Packet-filter atoms, their checks, and what a demultiplexer's work costs.

What this models
    The filter language of DPF (Engler & Kaashoek, SIGCOMM 1996): a filter
    is a conjunction of *atoms*. An :class:`Atom` ``(offset, length, mask,
    value)`` loads ``length`` bytes (1, 2 or 4, network byte order) at
    ``offset``, masks them, and holds when the result equals ``value``. A
    :class:`Shift` ``(offset, length, mask, shift)`` is DPF's answer to
    variable-length headers: it loads a field, masks it, shifts it left and
    adds it to the *base* that the offsets of every later atom are relative
    to (the IP header length: ``Shift(14, 1, 0x0f, 2)``). An atom or shift
    that reads past the packet's end does not hold, so a filter never
    accepts a packet too short for it. An atom of mask 0 tests nothing but
    the length ("the packet has at least offset + length bytes").

Why it is built this way
    All three engines (the DPF trie, the interpreted demux, cBPF) work on
    frame bytes and nothing else, so the kernel that adopts them (Aegis;
    later SPIN's and unix's input paths) decides who may install what. A
    filter is checked once, when it is installed, with a readable error for
    each bad atom; nothing is left behind by a refused one.

    The engines do not charge a clock: they *count* what a demux did in
    hardware primitives (memory references, simple instructions, hash
    probes) and return the count with the verdict; the caller charges
    ``DemuxCosts.cycles(work)`` under its machine profile. The count is one
    int, three fields packed (``work(m, i, p)``), so that the compiled DPF
    code pays one addition per test.

    Cost of each step, in primitives (an estimate from the code a C
    implementation executes, MIPS or Alpha, cache hits; DPF section 4):

    * a compiled atom: bounds check (1 insn), load (1 mem_ref), mask (1
      insn, if the mask is not all ones), compare and branch (1 insn);
    * a compiled shift: bounds (1), load (1 mem_ref), mask, shift, add (3);
    * a compiled hash test: the load and bounds of an atom, then one probe
      (mask the key to a bucket, load the bucket, load and compare its key:
      ``DemuxCosts.probe`` = 2 mem_ref + 2 insn);
    * an accept: load the filter's owner (1 mem_ref);
    * an interpreted atom (MPF/CSPF style, interp.py): fetch its four
      fields (4 mem_ref), compute and check the bound (2 insn), dispatch on
      the length (1), load (1 mem_ref), mask and compare (2), loop (1);
      each filter tried: load its pointer and atom count (2 mem_ref), loop
      (1 insn);
    * a cBPF instruction (cbpf.py): fetch (2 mem_ref: opcode and jumps in
      one word, k in another), dispatch through a jump table (1 mem_ref, 2
      insn), then its own work (a packet load: bound 2 insn + 1 mem_ref).

    Every demux call costs one procedure call besides (``DemuxCosts.call``).

Interface
    ``Atom``, ``Shift``, ``Test = Atom | Shift``; ``check_filter(tests) ->
    tuple`` (raises :class:`FilterError`); ``Filter`` (what an engine
    returns for a match: ``owner``, ``fid``, ``tests``); ``work(mem, insns,
    probes)``, ``unpack(work) -> (mem, insns, probes)``;
    ``DemuxCosts.from_profile(p).cycles(work)``.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass

from ..machine import Profile

#: The field widths an atom may load, in bytes (a byte, a halfword, a word).
LENGTHS = (1, 2, 4)
#: The largest offset an atom may name: an IPv4 datagram's maximum length.
MAX_OFFSET = 65535
#: The most tests (atoms and shifts) one filter may hold: bounds the trie's depth
#: and the generated code's nesting.
MAX_TESTS = 32
#: The largest left shift a Shift may apply (header lengths in 32-bit words use 2).
MAX_SHIFT = 8


class FilterError(ValueError):
    """A filter that cannot be installed: a bad atom, or one that can never match."""


class Overlap(FilterError):
    """A filter that would receive packets another owner's filter receives."""


@dataclass(frozen=True, slots=True)
class Atom:
    """``(load(base + offset, length) & mask) == value``."""

    offset: int
    length: int
    mask: int
    value: int

    def __str__(self) -> str:
        full = (1 << (8 * self.length)) - 1
        field = f"[{self.offset}:{self.length}]"
        if self.mask == 0:
            return f"len >= {self.offset + self.length}"
        if self.mask != full:
            field += f" & {self.mask:#x}"
        return f"{field} == {self.value:#x}"


@dataclass(frozen=True, slots=True)
class Shift:
    """``base += (load(base + offset, length) & mask) << shift`` for the atoms after it."""

    offset: int
    length: int
    mask: int
    shift: int

    def __str__(self) -> str:
        return f"base += ([{self.offset}:{self.length}] & {self.mask:#x}) << {self.shift}"


Test = Atom | Shift


@dataclass(frozen=True, slots=True, eq=False)
class Filter:
    """An installed filter: what an engine returns when a packet matches it.

    Compared by identity: two installations of the same tests are two filters."""

    fid: int
    owner: Hashable
    tests: tuple[Test, ...]

    def __str__(self) -> str:
        return f"#{self.fid} of {self.owner!r}: " + " and ".join(map(str, self.tests))

    def __repr__(self) -> str:
        return f"<Filter {self}>"


def _check_field(kind: str, i: int, t: Test) -> None:
    where = f"{kind} {i} ({t!r})"
    for name in ("offset", "length", "mask"):
        if type(getattr(t, name)) is not int:
            raise FilterError(f"{where}: {name} must be an int")
    if t.length not in LENGTHS:
        raise FilterError(f"{where}: length must be one of {LENGTHS} bytes, not {t.length}")
    if not 0 <= t.offset <= MAX_OFFSET - t.length:
        raise FilterError(f"{where}: offset must be in 0..{MAX_OFFSET - t.length}, not {t.offset}")
    full = (1 << (8 * t.length)) - 1
    if not 0 <= t.mask <= full:
        raise FilterError(f"{where}: mask {t.mask:#x} does not fit in {t.length} byte(s)")


def check_filter(tests: Iterable[Test]) -> tuple[Test, ...]:
    """The tests of a filter, checked: every field well-formed, at most MAX_TESTS, and
    satisfiable (no two atoms at the same position require different bits). Raises
    :class:`FilterError` naming the first bad test."""
    out = tuple(tests)
    if not out:
        raise FilterError("a filter needs at least one atom (an empty filter would take every packet)")
    if len(out) > MAX_TESTS:
        raise FilterError(f"a filter may hold at most {MAX_TESTS} atoms and shifts, not {len(out)}")
    for i, t in enumerate(out):
        if type(t) is Atom:
            _check_field("atom", i, t)
            if type(t.value) is not int:
                raise FilterError(f"atom {i} ({t!r}): value must be an int")
            if t.value & ~t.mask:
                raise FilterError(f"atom {i} ({t}): value {t.value:#x} has bits outside mask "
                                  f"{t.mask:#x}, so it can never match")
        elif type(t) is Shift:
            _check_field("shift", i, t)
            if type(t.shift) is not int or not 0 <= t.shift <= MAX_SHIFT:
                raise FilterError(f"shift {i} ({t!r}): shift must be an int in 0..{MAX_SHIFT}")
        else:
            raise FilterError(f"test {i} is a {type(t).__name__}, not an Atom or a Shift")
    if type(out[-1]) is Shift:
        raise FilterError("the last test is a shift: it moves the base for no atom")
    seen: list[tuple[int, Atom, int]] = []  # (segment, atom, index)
    seg = 0
    for i, t in enumerate(out):
        if type(t) is Shift:
            seg += 1
            continue
        assert type(t) is Atom
        for s, other, j in seen:
            if s == seg and contradict(t, other):
                raise FilterError(f"atoms {j} ({other}) and {i} ({t}) require different bits of the "
                                  "same bytes, so the filter can never match")
        seen.append((seg, t, i))
    return out


def _bytes(a: Atom) -> dict[int, tuple[int, int]]:
    """The atom as per-byte constraints: absolute byte -> (mask, value)."""
    out = {}
    for i in range(a.length):
        sh = 8 * (a.length - 1 - i)
        out[a.offset + i] = ((a.mask >> sh) & 0xFF, (a.value >> sh) & 0xFF)
    return out


def contradict(a: Atom, b: Atom) -> bool:
    """Can no packet satisfy both atoms (same base)? True when some byte both test must
    have a bit both masks cover set differently."""
    if a.offset + a.length <= b.offset or b.offset + b.length <= a.offset:
        return False
    if a.offset == b.offset and a.length == b.length:
        return bool((a.value ^ b.value) & a.mask & b.mask)
    bb = _bytes(b)
    for pos, (m, v) in _bytes(a).items():
        if pos in bb:
            m2, v2 = bb[pos]
            if (v ^ v2) & m & m2:
                return True
    return False


# ------------------------------------------------------------------ work and its cost

#: bits of each field in a packed work count (mem_refs | insns | probes)
_FIELD = 20
_MASK = (1 << _FIELD) - 1


def work(mem: int, insns: int, probes: int = 0) -> int:
    """Memory references, simple instructions and hash probes packed into one int."""
    return mem | (insns << _FIELD) | (probes << (2 * _FIELD))


def unpack(w: int) -> tuple[int, int, int]:
    """``work(...)`` back into (memory references, instructions, hash probes)."""
    return w & _MASK, (w >> _FIELD) & _MASK, w >> (2 * _FIELD)


@dataclass(frozen=True, slots=True)
class DemuxCosts:
    """Cycles of a demux under a machine profile, from its primitives."""

    #: one memory reference (a cache hit)
    mem_ref: int
    #: one simple instruction (ALU op, compare and branch)
    insn: int
    #: one hash probe: mask the key to a bucket (1 insn), load the bucket (1 mem_ref),
    #: load its key and compare (1 mem_ref, 1 insn)
    probe: int
    #: the call into the demultiplexer and its return
    call: int

    @classmethod
    def from_profile(cls, p: Profile) -> DemuxCosts:
        return cls(mem_ref=p.mem_ref, insn=p.insn, probe=2 * p.mem_ref + 2 * p.insn, call=p.proc_call)

    def cycles(self, w: int) -> int:
        """The cycles of one demux that did ``w`` (a packed work count), call included."""
        return (self.call + (w & _MASK) * self.mem_ref + ((w >> _FIELD) & _MASK) * self.insn
                + (w >> (2 * _FIELD)) * self.probe)
