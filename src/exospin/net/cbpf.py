"""Classic BPF: tcpdump expressions compiled by libpcap, run by our interpreter.

What this models
    The BSD Packet Filter (McCanne & Jacobson, USENIX 1993), the other
    comparison point of DPF: a filter is a program for a small accumulator
    machine (A, X, sixteen scratch words M[]) that a kernel interprets on
    every packet, one program per endpoint. Programs come from tcpdump
    expressions compiled by libpcap (``tcpdump('udp dst port 7000')``,
    through the pcapy-ng binding), as ``(code, jt, jf, k)`` tuples.

Why it is built this way
    * The full classic instruction set: ``ld``/``ldh``/``ldb`` with
      ``#k``, ``[k]``, ``[x + k]``, ``len`` and ``M[k]``; ``ldx`` with
      ``#k``, ``len``, ``M[k]`` and ``4*([k]&0xf)`` (msh); ``st``/``stx``;
      the ALU (add, sub, mul, div, mod, and, or, xor, lsh, rsh, neg) on
      ``#k`` or X; ``ja``, ``jeq``, ``jgt``, ``jge``, ``jset``; ``ret #k``
      and ``ret a``; ``tax``/``txa``. Arithmetic is on 32-bit unsigned
      words.
    * The kernel's safety rules, checked once at load (:func:`check`, as
      Linux's ``bpf_check_classic`` and libpcap's ``bpf_validate`` do):
      1..``MAX_INSNS`` instructions, known opcodes only, jumps forward and
      inside the program (so every run terminates, in at most as many
      steps as instructions), scratch indices below 16, no division by a
      constant zero, shifts by a constant below 32, and the last
      instruction a ``ret``. At run time a load outside the packet and a
      division by X = 0 end the program with 0 (reject), as in the
      kernels. Scratch memory starts zeroed (Linux instead refuses a
      program that may read a slot before writing it). A shift by X of 32
      or more gives 0.
    * The interpreter pre-decodes each instruction into an operation
      number and counts, per instruction executed, the work of a C
      interpreter's fetch, dispatch and execute (atoms.py).

Interface
    ``tcpdump(expr, snaplen=65535) -> list[Insn]``; ``check(insns) -> tuple[Insn, ...]``
    (raises :class:`BPFError`); ``p = Program(insns)``; ``p.run(packet) -> (result,
    work)`` (result 0: reject; else the number of bytes to accept);
    ``BPFDemux`` (``insert(owner, program)``, ``delete``, ``demux``, ``statistics``):
    one program per endpoint, tried in turn.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

from .atoms import work

#: The longest program accepted (Linux's BPF_MAXINSNS).
MAX_INSNS = 4096
#: Scratch memory words (BPF_MEMWORDS).
MEMWORDS = 16
_U32 = 0xFFFFFFFF

# instruction classes, sizes, modes, operations and sources of classic BPF (bpf.h)
LD, LDX, ST, STX, ALU, JMP, RET, MISC = range(8)
W, H, B = 0x00, 0x08, 0x10
IMM, ABS, IND, MEM, LEN, MSH = 0x00, 0x20, 0x40, 0x60, 0x80, 0xA0
ADD, SUB, MUL, DIV, OR, AND, LSH, RSH, NEG, MOD, XOR = (0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60,
                                                         0x70, 0x80, 0x90, 0xA0)
JA, JEQ, JGT, JGE, JSET = 0x00, 0x10, 0x20, 0x30, 0x40
K, X = 0x00, 0x08
RET_A = 0x10
TAX, TXA = 0x00, 0x80

_SIZES = {W: 4, H: 2, B: 1}
_ALU_OPS = (ADD, SUB, MUL, DIV, OR, AND, LSH, RSH, NEG, MOD, XOR)


class BPFError(ValueError):
    """A program refused at load (or a tcpdump expression libpcap could not compile)."""


class Insn(NamedTuple):
    code: int
    jt: int
    jf: int
    k: int


def tcpdump(expr: str, snaplen: int = 65535) -> list[Insn]:
    """The cBPF program libpcap compiles for ``expr`` on Ethernet (optimised)."""
    import pcapy

    try:
        prog = pcapy.compile(pcapy.DLT_EN10MB, snaplen, expr, 1, 0xFFFFFFFF)
    except pcapy.PcapError as e:
        raise BPFError(f"tcpdump expression {expr!r}: {e}") from None
    return [Insn(*i) for i in prog.get_bpf()]


def _valid_code(code: int) -> bool:
    cls = code & 0x07
    if cls == LD:
        size, mode = code & 0x18, code & 0xE0
        if code & ~0xF8:
            return False
        if mode in (ABS, IND):
            return size in _SIZES
        return mode in (IMM, MEM, LEN) and size == W
    if cls == LDX:
        return code in (LDX | W | IMM, LDX | W | MEM, LDX | W | LEN, LDX | B | MSH)
    if cls in (ST, STX):
        return code == cls
    if cls == ALU:
        op, src = code & 0xF0, code & 0x08
        if code & ~0xFF or op not in _ALU_OPS:
            return False
        return src == K if op == NEG else True
    if cls == JMP:
        op = code & 0xF0
        if code & ~0xFF or op not in (JA, JEQ, JGT, JGE, JSET):
            return False
        return code == JMP | JA if op == JA else True
    if cls == RET:
        return code in (RET | K, RET | RET_A)
    return code in (MISC | TAX, MISC | TXA)


def check(insns: Iterable[tuple[int, int, int, int]]) -> tuple[Insn, ...]:
    """The program, checked against the kernel's rules; BPFError names the first breach."""
    prog: list[Insn] = []
    for pc, i in enumerate(insns):
        if not isinstance(i, (tuple, list)) or len(i) != 4:
            raise BPFError(f"instruction {pc} ({i!r}) is not a (code, jt, jf, k) tuple")
        if not all(type(v) is int for v in i):
            raise BPFError(f"instruction {pc} ({i!r}): fields must be ints")
        prog.append(Insn(*i))
    n = len(prog)
    if not 1 <= n <= MAX_INSNS:
        raise BPFError(f"a program has 1..{MAX_INSNS} instructions, not {n}")
    for pc, (code, jt, jf, k) in enumerate(prog):
        where = f"instruction {pc} ({code:#06x}, {jt}, {jf}, {k:#x})"
        if not (0 <= code <= 0xFFFF and 0 <= jt <= 255 and 0 <= jf <= 255 and 0 <= k <= _U32):
            raise BPFError(f"{where}: a field is out of range (code 16 bits, jt/jf 8, k 32)")
        if not _valid_code(code):
            raise BPFError(f"{where}: unknown opcode {code:#06x}")
        cls = code & 0x07
        if cls == JMP:
            if code == JMP | JA:
                if pc + 1 + k >= n:
                    raise BPFError(f"{where}: jump to {pc + 1 + k} is past the end ({n} instructions)")
            elif pc + 1 + max(jt, jf) >= n:
                raise BPFError(f"{where}: jump to {pc + 1 + max(jt, jf)} is past the end ({n} instructions)")
        elif (cls in (ST, STX) or code in (LD | W | MEM, LDX | W | MEM)) and k >= MEMWORDS:
            raise BPFError(f"{where}: scratch word {k} does not exist (0..{MEMWORDS - 1})")
        elif cls == ALU and code & 0x08 == K:
            op = code & 0xF0
            if op in (DIV, MOD) and k == 0:
                raise BPFError(f"{where}: division by the constant 0")
            if op in (LSH, RSH) and k >= 32:
                raise BPFError(f"{where}: shift by {k} (a 32-bit word shifts by 0..31)")
    if prog[-1].code & 0x07 != RET:
        raise BPFError(f"the last instruction ({n - 1}) must be a ret, so that every path ends")
    return tuple(prog)


# pre-decoded operations, most frequent first in the interpreter's chain
(_LDH, _LDB, _JEQ, _RETK, _JSET, _MSH, _LDHI, _LDW, _LDBI, _LDWI, _JGT, _JGE, _JA,
 _RETA, _LDIMM, _LDLEN, _LDMEM, _LDXIMM, _LDXLEN, _LDXMEM, _ST, _STX, _TAX, _TXA,
 _ALUK, _ALUX) = range(26)

_FETCH = work(3, 2)  # fetch 2 words, load the jump-table entry; index and jump
_LOAD = work(1, 2)  # bound (compare, branch), load
_STEP = {
    _LDH: _FETCH + _LOAD, _LDB: _FETCH + _LOAD, _LDW: _FETCH + _LOAD,
    _LDHI: _FETCH + _LOAD + work(0, 1), _LDBI: _FETCH + _LOAD + work(0, 1),
    _LDWI: _FETCH + _LOAD + work(0, 1), _MSH: _FETCH + _LOAD + work(0, 2),
    _JEQ: _FETCH + work(0, 1), _JGT: _FETCH + work(0, 1), _JGE: _FETCH + work(0, 1),
    _JSET: _FETCH + work(0, 2), _JA: _FETCH + work(0, 1), _RETK: _FETCH, _RETA: _FETCH,
    _LDIMM: _FETCH + work(0, 1), _LDLEN: _FETCH + work(1, 0), _LDMEM: _FETCH + work(1, 0),
    _LDXIMM: _FETCH + work(0, 1), _LDXLEN: _FETCH + work(1, 0), _LDXMEM: _FETCH + work(1, 0),
    _ST: _FETCH + work(1, 0), _STX: _FETCH + work(1, 0), _TAX: _FETCH + work(0, 1),
    _TXA: _FETCH + work(0, 1), _ALUK: _FETCH + work(0, 1), _ALUX: _FETCH + work(0, 1),
}


def _decode(i: Insn) -> tuple[int, int, int, int, int]:
    """(operation, jt, jf, k, cost): the ALU rows keep their op in jt."""
    code, jt, jf, k = i
    cls = code & 0x07
    op: int
    if cls == LD:
        mode, size = code & 0xE0, code & 0x18
        op = {(ABS, H): _LDH, (ABS, B): _LDB, (ABS, W): _LDW, (IND, H): _LDHI, (IND, B): _LDBI,
              (IND, W): _LDWI, (IMM, W): _LDIMM, (LEN, W): _LDLEN, (MEM, W): _LDMEM}[mode, size]
    elif cls == LDX:
        op = {LDX | W | IMM: _LDXIMM, LDX | W | LEN: _LDXLEN, LDX | W | MEM: _LDXMEM,
              LDX | B | MSH: _MSH}[code]
    elif cls == ST:
        op = _ST
    elif cls == STX:
        op = _STX
    elif cls == ALU:
        op = _ALUX if code & 0x08 else _ALUK
        jt = code & 0xF0
    elif cls == JMP:
        jop = code & 0xF0
        if jop == JA:
            op, jt = _JA, k
        else:
            op = {JEQ: _JEQ, JGT: _JGT, JGE: _JGE, JSET: _JSET}[jop]
            if code & 0x08:  # compare with X: keep the source in k's place
                op, k = op + 100, 0
    elif cls == RET:
        op = _RETA if code & RET_A else _RETK
    else:
        op = _TXA if code & 0x80 else _TAX
    return op, jt, jf, k, _STEP[op % 100]


def _alu(op: int, a: int, v: int) -> int | None:
    """A op v on 32-bit words; None for a division by zero (the program rejects)."""
    if op == ADD:
        return (a + v) & _U32
    if op == SUB:
        return (a - v) & _U32
    if op == MUL:
        return (a * v) & _U32
    if op == DIV:
        return None if v == 0 else a // v
    if op == MOD:
        return None if v == 0 else a % v
    if op == AND:
        return a & v
    if op == OR:
        return a | v
    if op == XOR:
        return a ^ v
    if op == LSH:
        return (a << v) & _U32 if v < 32 else 0
    if op == RSH:
        return a >> v if v < 32 else 0
    return (-a) & _U32  # NEG


class Program:
    """A checked cBPF program and its interpreter."""

    __slots__ = ("insns", "_code")

    def __init__(self, insns: Iterable[tuple[int, int, int, int]]) -> None:
        self.insns = check(insns)
        self._code = tuple(_decode(i) for i in self.insns)

    def run(self, p: bytes) -> tuple[int, int]:
        """(the program's result: 0 rejects, else bytes to accept; the work done)."""
        code = self._code
        n = len(p)
        a = x = 0
        mem: list[int] | None = None
        pc = 0
        w = 0
        while True:
            op, jt, jf, k, cost = code[pc]
            w += cost
            pc += 1
            if op == _LDH:
                if k + 2 > n:
                    return 0, w
                a = p[k] << 8 | p[k + 1]
            elif op == _LDB:
                if k + 1 > n:
                    return 0, w
                a = p[k]
            elif op == _JEQ:
                pc += jt if a == k else jf
            elif op == _RETK:
                return k, w
            elif op == _JSET:
                pc += jt if a & k else jf
            elif op == _MSH:
                if k + 1 > n:
                    return 0, w
                x = (p[k] & 0x0F) << 2
            elif op == _LDHI or op == _LDBI or op == _LDWI:
                o = x + k
                size = 2 if op == _LDHI else 1 if op == _LDBI else 4
                if o + size > n:
                    return 0, w
                a = int.from_bytes(p[o:o + size], "big")
            elif op == _LDW:
                if k + 4 > n:
                    return 0, w
                a = int.from_bytes(p[k:k + 4], "big")
            elif op == _JGT:
                pc += jt if a > k else jf
            elif op == _JGE:
                pc += jt if a >= k else jf
            elif op == _JA:
                pc += jt
            elif op == _RETA:
                return a, w
            elif op == _LDIMM:
                a = k
            elif op == _LDLEN:
                a = n
            elif op == _LDXIMM:
                x = k
            elif op == _LDXLEN:
                x = n
            elif op == _LDMEM or op == _LDXMEM or op == _ST or op == _STX:
                if mem is None:
                    mem = [0] * MEMWORDS
                if op == _LDMEM:
                    a = mem[k]
                elif op == _LDXMEM:
                    x = mem[k]
                elif op == _ST:
                    mem[k] = a
                else:
                    mem[k] = x
            elif op == _TAX:
                x = a
            elif op == _TXA:
                a = x
            elif op == _ALUK or op == _ALUX:
                r = _alu(jt, a, k if op == _ALUK else x)
                if r is None:
                    return 0, w
                a = r
            elif op == _JEQ + 100:
                pc += jt if a == x else jf
            elif op == _JGT + 100:
                pc += jt if a > x else jf
            elif op == _JGE + 100:
                pc += jt if a >= x else jf
            else:  # _JSET + 100
                pc += jt if a & x else jf


@dataclass(frozen=True, slots=True)
class BPFDemuxStats:
    programs: int
    inserts: int
    deletes: int


@dataclass(frozen=True, slots=True, eq=False)
class Endpoint:
    """An installed program and its owner (what ``BPFDemux.demux`` returns)."""

    owner: Hashable
    program: Program


class BPFDemux:
    """One cBPF program per endpoint, each run in turn until one accepts (a BSD
    kernel with a BPF descriptor per socket). Overlap is not checked: BPF never did."""

    def __init__(self) -> None:
        self._list: list[Endpoint] = []
        self._inserts = self._deletes = 0

    def insert(self, owner: Hashable, program: Program | Iterable[tuple[int, int, int, int]]) -> Endpoint:
        e = Endpoint(owner, program if isinstance(program, Program) else Program(program))
        self._list.append(e)
        self._inserts += 1
        return e

    def delete(self, e: Endpoint) -> None:
        if e not in self._list:
            raise BPFError("endpoint is not installed here")
        self._list.remove(e)
        self._deletes += 1

    def demux(self, p: bytes) -> tuple[Endpoint | None, int]:
        w = 0
        for e in self._list:
            r, k = e.program.run(p)
            w += k
            if r:
                return e, w
        return None, w

    def statistics(self) -> BPFDemuxStats:
        return BPFDemuxStats(len(self._list), self._inserts, self._deletes)
