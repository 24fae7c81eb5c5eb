"""cBPF -> DPF: a tcpdump expression installed as DPF filters, when it is a conjunction.

What this models
    The bridge the issue asks for between the two filter languages: a user
    writes ``udp dst port 7000`` as for tcpdump, libpcap compiles it to a
    classic BPF program (cbpf.py), and where that program only loads packet
    fields and compares them with constants, it becomes DPF filters
    (atoms.py) that the kernel merges into its trie (dpf.py) like any other.

Why it is built this way
    * Symbolic execution, one path at a time. A cBPF program is a DAG
      (jumps go forward), so its paths from the first instruction to a
      ``ret`` are finite. The translator walks each, keeping A, X and the
      scratch words as symbolic values: a constant, a packet field
      ``(load(off, len) & mask) >> rsh`` (``and #k`` narrows the mask, ``rsh
      #k`` shifts), or the IP header length ``4*([k]&0xf)`` that ``ldxb``
      puts in X. Each conditional jump adds a condition to the path. A path
      that ends in ``ret #k`` with k > 0 accepts: its conditions are one
      DPF filter. The expression's filters are the accepting paths' (``udp
      dst port 53`` has two: IPv6 and IPv4), all installed for one owner.
    * What a condition becomes. ``jeq`` taken, and ``jset`` not taken (the
      bits all clear), are atoms. ``jset`` taken on a single bit is an atom
      (that bit set). ``jeq`` not taken is a negation, and so is ``jset``
      taken on several bits: kept only when the path's atoms already decide
      it (``[12:2] != 0x86dd`` on a path that requires ``[12:2] == 0x800``), and
      dropped then. A path whose atoms contradict one another, or a negation,
      is one no packet takes, and is left out.
    * Indirect loads. ``ld [x + k]`` with X the header length ``4*([o]&0xf)``
      becomes, after DPF's ``Shift(o, 1, 0x0f, 2)``, an atom at offset k;
      with X a constant c, an atom at c + k. Conditions are a conjunction, so
      the order of tests does not matter to what a filter accepts: the
      filter lists the absolute atoms first, then the shift and the atoms
      after it. One shift per path (IP in IP would need two: refused).
    * Bounds. A cBPF load past the packet's end rejects the packet; a DPF
      atom past the end does not hold. Every load on a path therefore
      becomes a condition too: implied by an atom on the same or later bytes,
      else added as a length atom (mask 0).
    * Refusals. A path that accepts but needs something a conjunction of
      atoms cannot say is refused with the reason and the instruction: a
      negation its atoms do not decide (``not udp``), a range test (``jgt``,
      ``jge``: ``portrange``, ``greater``), the packet's length (``len``),
      arithmetic on a field other than ``and`` and ``rsh`` by a constant, an
      index that is not a header length, ``ret a`` of a field, two
      different shifts on one path, more than ``MAX_PATHS`` accepting paths
      or a filter of more than ``MAX_TESTS`` tests. A path that rejects may
      do anything: it adds no filter.

Interface
    ``translate(insns) -> tuple[tuple[Test, ...], ...]`` (raises
    :class:`Untranslatable`; ``BPFError`` for a program cbpf.check refuses);
    ``from_tcpdump(expr)``; ``install(demux, owner, filters) -> list[Filter]``
    (into a DPF or Interpreted: every filter or, on a refusal, none).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple, Protocol

from .atoms import Atom, Filter, FilterError, Shift, Test, check_filter, contradict
from .cbpf import (
    ABS,
    ADD,
    ALU,
    AND,
    DIV,
    IMM,
    IND,
    JA,
    JEQ,
    JGE,
    JGT,
    JSET,
    LD,
    LDX,
    LSH,
    MEM,
    MISC,
    MOD,
    MSH,
    MUL,
    NEG,
    OR,
    RET,
    RET_A,
    RSH,
    ST,
    STX,
    SUB,
    TXA,
    XOR,
    Insn,
    check,
    tcpdump,
)

#: The most accepting paths one program may have (each becomes a filter).
MAX_PATHS = 64
#: The most instructions walked over all paths before giving up.
MAX_STEPS = 100_000

_SIZES = {0x00: 4, 0x08: 2, 0x10: 1}
_ALU_NAMES = {ADD: "add", SUB: "sub", MUL: "mul", DIV: "div", OR: "or", AND: "and", LSH: "lsh",
              RSH: "rsh", NEG: "neg", MOD: "mod", XOR: "xor"}
_U32 = 0xFFFFFFFF


class Untranslatable(FilterError):
    """A cBPF program with an accepting path that is not a conjunction of DPF atoms."""


@dataclass(frozen=True, slots=True)
class _Const:
    v: int


@dataclass(frozen=True, slots=True)
class _Field:
    """``(load(base + off, length) & mask) >> rsh``; seg 0 absolute, 1 after the shift."""

    seg: int
    off: int
    length: int
    mask: int
    rsh: int


@dataclass(frozen=True, slots=True)
class _HeaderLen:
    """X = 4 * (p[off] & 0xf): what DPF's Shift(off, 1, 0x0f, 2) adds to the base."""

    off: int


@dataclass(frozen=True, slots=True)
class _Opaque:
    """A value no atom can test; ``why`` says what it is."""

    why: str


_Value = _Const | _Field | _HeaderLen | _Opaque


class _Path(NamedTuple):
    """One path's state so far (a NamedTuple: ``_replace`` is the walk's hot operation)."""

    a: _Value
    x: _Value
    mem: tuple[_Value, ...]
    atoms: tuple[tuple[int, Atom], ...]  # (seg, atom) in program order
    negations: tuple[tuple[int, Atom, int], ...]  # (seg, atom that must NOT hold, pc)
    reads: tuple[tuple[int, int, int], ...]  # (seg, offset, length) of every load
    shift: int | None  # the header-length offset of the path's shift
    taint: str | None  # why an accept on this path cannot be a filter


def _where(pc: int, i: Insn) -> str:
    return f"instruction {pc} ({i.code:#06x}, {i.jt}, {i.jf}, {i.k:#x})"


def _field_atom(f: _Field, v: int) -> Atom | None:
    """The atom ``f == v``, or None if no packet can satisfy it."""
    mask = f.mask & ~((1 << f.rsh) - 1)
    value = v << f.rsh
    if value & ~mask:
        return None
    return Atom(f.off, f.length, mask, value)


def _known(atoms: Iterable[tuple[int, Atom]], seg: int, a: Atom) -> int | None:
    """The value of ``load & a.mask`` at a's place if the atoms of ``seg`` decide every bit."""
    bits: dict[int, tuple[int, int]] = {}  # byte -> (known bits, their value)
    for s, b in atoms:
        if s != seg:
            continue
        for i in range(b.length):
            sh = 8 * (b.length - 1 - i)
            m, v = (b.mask >> sh) & 0xFF, (b.value >> sh) & 0xFF
            km, kv = bits.get(b.offset + i, (0, 0))
            bits[b.offset + i] = (km | m, kv | (v & m))
    out = 0
    for i in range(a.length):
        sh = 8 * (a.length - 1 - i)
        need = (a.mask >> sh) & 0xFF
        km, kv = bits.get(a.offset + i, (0, 0))
        if need & ~km:
            return None
        out |= (kv & need) << sh
    return out


class _Walk:
    def __init__(self, prog: Sequence[Insn]) -> None:
        self.prog = prog
        self.steps = 0
        #: accepting paths: (path, its open negations (seg, atom, pc), the ret's pc)
        self.paths: list[tuple[_Path, tuple[tuple[int, Atom, int], ...], int]] = []

    def run(self) -> tuple[tuple[Test, ...], ...]:
        start = _Path(_Const(0), _Const(0), (_Const(0),) * 16, (), (), (), None, None)
        stack = [(0, start)]
        while stack:
            pc, path = stack.pop()
            stack.extend(reversed(self.step(pc, path)))
        return self.resolve()

    def load(self, path: _Path, pc: int, i: Insn, size: int, mode: int) -> tuple[_Path, _Value]:
        if mode == ABS:
            return path._replace(reads=(*path.reads, (0, i.k, size))), _Field(0, i.k, size, (1 << 8 * size) - 1, 0)
        x = path.x  # IND
        if type(x) is _Const:
            off = (x.v + i.k) & _U32
            return path._replace(reads=(*path.reads, (0, off, size))), _Field(0, off, size, (1 << 8 * size) - 1, 0)
        if type(x) is _HeaderLen:
            if path.shift is not None and path.shift != x.off:
                return path._replace(taint=f"{_where(pc, i)}: a second header-length shift (4*([{x.off}]&0xf) "
                                                f"after 4*([{path.shift}]&0xf)); a DPF filter has one per path"), \
                    _Opaque("a load through a second shift")
            p = path._replace(shift=x.off, reads=(*path.reads, (1, i.k, size)))
            return p, _Field(1, i.k, size, (1 << 8 * size) - 1, 0)
        why = x.why if type(x) is _Opaque else "a field"
        return path._replace(taint=f"{_where(pc, i)}: an indirect load indexed by {why}, not by a "
                                   "header length 4*([k]&0xf) or a constant"), _Opaque("an indirect load")

    def step(self, pc: int, path: _Path) -> list[tuple[int, _Path]]:
        """Follow one path from ``pc`` to its next branch (or its end); the successors."""
        prog = self.prog
        while True:
            self.steps += 1
            if self.steps > MAX_STEPS:
                raise Untranslatable(f"the program has too many paths to walk ({MAX_STEPS} steps)")
            i = prog[pc]
            cls = i.code & 0x07
            if cls == LD:
                mode, size = i.code & 0xE0, _SIZES.get(i.code & 0x18, 4)
                if mode in (ABS, IND):
                    path, a = self.load(path, pc, i, size, mode)
                elif mode == IMM:
                    a = _Const(i.k)
                elif mode == MEM:
                    a = path.mem[i.k]
                else:  # LEN
                    a = _Opaque(f"the packet's length ({_where(pc, i)}); DPF atoms test bytes, not lengths")
                path = path._replace(a=a)
            elif cls == LDX:
                mode = i.code & 0xE0
                x: _Value
                if mode == IMM:
                    x = _Const(i.k)
                elif mode == MEM:
                    x = path.mem[i.k]
                elif mode == MSH:
                    path = path._replace(reads=(*path.reads, (0, i.k, 1)))
                    x = _HeaderLen(i.k)
                else:  # LEN
                    x = _Opaque(f"the packet's length ({_where(pc, i)})")
                path = path._replace(x=x)
            elif cls in (ST, STX):
                mem = list(path.mem)
                mem[i.k] = path.a if cls == ST else path.x
                path = path._replace(mem=tuple(mem))
            elif cls == ALU:
                path = path._replace(a=self.alu(path, pc, i))
            elif cls == MISC:
                if i.code & 0xF8 == TXA:
                    a = path.x
                    if type(a) is _HeaderLen:
                        a = _Opaque(f"the header length as a value ({_where(pc, i)})")
                    path = path._replace(a=a)
                else:  # TAX
                    path = path._replace(x=path.a)
            elif cls == RET:
                if i.code & RET_A:
                    a = path.a
                    if type(a) is not _Const:
                        if path.taint is None:
                            path = path._replace(taint=f"{_where(pc, i)}: returns the accumulator, "
                                                       "which depends on the packet")
                        self.accept(path, pc)
                        return []
                    k = a.v
                else:
                    k = i.k
                if k:
                    self.accept(path, pc)
                return []
            else:  # JMP
                op = i.code & 0xF0
                if op == JA:
                    pc += 1 + i.k
                    continue
                return self.branch(pc, i, path, op)
            pc += 1

    def alu(self, path: _Path, pc: int, i: Insn) -> _Value:
        op = i.code & 0xF0
        a = path.a
        if op == NEG:
            src: _Value = _Const(0)
        elif i.code & 0x08:
            src = path.x
        else:
            src = _Const(i.k)
        if type(a) is _Const and type(src) is _Const:
            from .cbpf import _alu
            r = _alu(op, a.v, src.v)
            return _Opaque(f"a division by zero ({_where(pc, i)})") if r is None else _Const(r)
        if type(a) is _Field and type(src) is _Const:
            if op == AND:
                return replace(a, mask=a.mask & ((src.v << a.rsh) & ((1 << 8 * a.length) - 1)))
            if op == RSH:
                return replace(a, rsh=min(a.rsh + src.v, 32))
        if type(a) is _Opaque:
            return a
        what = "the header length" if type(a) is _HeaderLen else "a packet field"
        return _Opaque(f"arithmetic ({_ALU_NAMES.get(op, hex(op))}) on {what} ({_where(pc, i)}); "
                       "atoms allow only 'and' and 'rsh' by a constant")

    def branch(self, pc: int, i: Insn, path: _Path, op: int) -> list[tuple[int, _Path]]:
        yes, no = pc + 1 + i.jt, pc + 1 + i.jf
        if yes == no:  # both ways lead to the same place: the test decides nothing
            return [(yes, path)]
        a = path.a
        src: _Value = path.x if i.code & 0x08 else _Const(i.k)
        if type(src) is _HeaderLen:
            src = _Opaque("the header length")
        if type(a) is _Const and type(src) is _Const:
            taken = {JEQ: a.v == src.v, JGT: a.v > src.v, JGE: a.v >= src.v, JSET: bool(a.v & src.v)}[op]
            return [(yes if taken else no, path)]
        if type(a) is _Field and type(src) is _Const and op in (JEQ, JSET):
            return self.field_branch(pc, i, path, a, src.v, op, yes, no)
        # anything else is no atom: both ways carry the reason (it matters only if they accept)
        if type(a) is _Opaque:
            why = a.why
        elif type(src) is _Opaque:
            why = f"a compare with {src.why} ({_where(pc, i)})"
        elif type(a) is _HeaderLen:
            why = f"a test of the header length itself ({_where(pc, i)})"
        else:
            name = {JGT: ">", JGE: ">=", JEQ: "==", JSET: "&"}[op]
            why = f"a range test ({name} {i.k:#x}) on a packet field ({_where(pc, i)}); atoms test equality"
            if type(src) is not _Const:
                why = f"a compare of a packet field with X ({_where(pc, i)})"
        tainted = path if path.taint is not None else path._replace(taint=why)
        return [(yes, tainted), (no, tainted)]

    def field_branch(self, pc: int, i: Insn, path: _Path, f: _Field, k: int, op: int,
                     yes: int, no: int) -> list[tuple[int, _Path]]:
        out: list[tuple[int, _Path]] = []
        if op == JEQ:
            atom = _field_atom(f, k)
            if atom is None:  # never equal: only the false branch, with nothing learnt
                return [(no, path)]
            out.append((yes, self.add(path, f.seg, atom)))
            out.append((no, path._replace(negations=(*path.negations, (f.seg, atom, pc)))))
        else:  # JSET: ((load & mask) >> rsh) & k != 0
            bits = f.mask & ((k << f.rsh) & ((1 << 8 * f.length) - 1)) & ~((1 << f.rsh) - 1)
            if not bits:
                return [(no, path)]
            clear = Atom(f.off, f.length, bits, 0)
            if bits & (bits - 1) == 0:  # one bit: set is an atom too
                out.append((yes, self.add(path, f.seg, Atom(f.off, f.length, bits, bits))))
            else:
                out.append((yes, path._replace(negations=(*path.negations, (f.seg, clear, pc)))))
            out.append((no, self.add(path, f.seg, clear)))
        return [(t, p) for t, p in out if p is not None]

    def add(self, path: _Path, seg: int, atom: Atom) -> _Path:
        return path._replace(atoms=(*path.atoms, (seg, atom)))

    def accept(self, path: _Path, pc: int) -> None:
        """Record an accepting path: its filter and the negations its atoms leave open."""
        if path.taint is not None:
            raise Untranslatable(f"accepting path (ret at instruction {pc}) is not a conjunction of "
                                 f"atoms: {path.taint}")
        for s, a in path.atoms:  # a path no packet takes adds no filter
            if any(s == t and contradict(a, b) for t, b in path.atoms):
                return
        open_: list[tuple[int, Atom, int]] = []
        for seg, neg, npc in path.negations:
            v = _known(path.atoms, seg, neg)
            if v == neg.value:
                return  # the path requires the atom to fail and to hold: no packet
            if v is None:
                open_.append((seg, neg, npc))
        if len(self.paths) >= MAX_PATHS:
            raise Untranslatable(f"the program has more than {MAX_PATHS} accepting paths")
        self.paths.append((path, tuple(open_), pc))

    def resolve(self) -> tuple[tuple[Test, ...], ...]:
        """The accepting paths' filters. A path with an open negation not-c stands for
        its atoms alone if the packets those atoms and c take are all taken by a filter
        already known to be exact or covered (``host h``: src != h and dst == h becomes
        dst == h, since src == h and dst == h is inside the path src == h); repeated until
        nothing changes. A path still open is refused."""
        done: list[tuple[_Path, tuple[Test, ...]]] = []
        waiting = []
        for path, open_, pc in self.paths:
            if open_:
                waiting.append((path, open_, pc))
            else:
                done.append((path, self.filter(path, pc)))
        changed = True
        while waiting and changed:
            changed = False
            for item in list(waiting):
                path, open_, pc = item
                if all(any(_covers(q, path, seg, neg) for q, _ in done) for seg, neg, _ in open_):
                    waiting.remove(item)
                    done.append((path, self.filter(path, pc)))
                    changed = True
        if waiting:
            path, open_, pc = waiting[0]
            seg, neg, npc = next((s, n, c) for s, n, c in open_
                                 if not any(_covers(q, path, s, n) for q, _ in done))
            side = " (after the header-length shift)" if seg else ""
            raise Untranslatable(
                f"accepting path (ret at instruction {pc}) is not a conjunction of atoms: "
                f"{_where(npc, self.prog[npc])}: it needs not ({neg}){side}, a negation that neither "
                "its own atoms decide nor another accepting path covers")
        seen: dict[tuple[Test, ...], None] = {}
        for _, f in done:
            seen.setdefault(f, None)
        return tuple(seen)

    def filter(self, path: _Path, pc: int) -> tuple[Test, ...]:
        """The path's atoms as one DPF filter: absolute atoms, then the shift and the rest."""
        tests: list[Test] = []
        for seg in (0, 1):
            atoms = [a for s, a in path.atoms if s == seg]
            reads = [(o, n) for s, o, n in path.reads if s == seg]
            if seg == 1:
                if not atoms and not reads:
                    break
                assert path.shift is not None
                tests.append(Shift(path.shift, 1, 0x0F, 2))
            for a in atoms:
                if a not in tests:
                    tests.append(a)
            covered = max((a.offset + a.length for a in atoms), default=0)
            far = max(reads, key=lambda r: r[0] + r[1], default=None)
            if far is not None and far[0] + far[1] > covered:
                tests.append(Atom(far[0], far[1], 0, 0))  # the load must be inside the packet
        try:
            return check_filter(tests)
        except FilterError as e:
            raise Untranslatable(f"accepting path (ret at instruction {pc}): {e}") from None


def _reach(path: _Path, seg: int) -> int:
    """How far into segment ``seg`` the path's loads reach (bytes)."""
    return max((o + n for s, o, n in path.reads if s == seg), default=0)


def _covers(q: _Path, b: _Path, seg: int, c: Atom) -> bool:
    """Does every packet satisfying b's atoms and c satisfy q's atoms and loads?"""
    if q.shift is not None and any(s == 1 for s, _ in q.atoms) and q.shift != b.shift:
        return False
    facts = (*b.atoms, (seg, c))
    for s, a in q.atoms:
        if _known(facts, s, a) != a.value:
            return False
    for s in (0, 1):
        need = _reach(q, s)
        have = max([_reach(b, s)] + [a.offset + a.length for t, a in facts if t == s])
        if need > have:
            return False
    return True


def translate(insns: Iterable[tuple[int, int, int, int]]) -> tuple[tuple[Test, ...], ...]:
    """The DPF filters equivalent to a cBPF program, one per accepting path (in the
    order the walk finds them). Empty if no packet is accepted. Raises Untranslatable
    with the reason and instruction when an accepting path is not a conjunction of atoms."""
    return _Walk(check(insns)).run()


def from_tcpdump(expr: str) -> tuple[tuple[Test, ...], ...]:
    """``translate(tcpdump(expr))``, with the expression named in a refusal."""
    try:
        return translate(tcpdump(expr))
    except Untranslatable as e:
        raise Untranslatable(f"tcpdump expression {expr!r}: {e}") from None


class _Demux(Protocol):
    def insert(self, owner: Hashable, tests: Iterable[Test]) -> Filter: ...
    def delete(self, f: Filter) -> None: ...


def install(demux: _Demux, owner: Hashable, filters: Iterable[Iterable[Test]]) -> list[Filter]:
    """Install every filter for ``owner`` (a translated expression's paths) or none: if
    one is refused, those already installed are deleted and the refusal raised."""
    done: list[Filter] = []
    try:
        for tests in filters:
            done.append(demux.insert(owner, tests))
    except FilterError:
        for f in reversed(done):
            demux.delete(f)
        raise
    return done


__all__ = ["MAX_PATHS", "MAX_STEPS", "Untranslatable", "from_tcpdump", "install", "translate"]
