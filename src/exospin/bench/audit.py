"""The Python audit: the system software's own Python per operation, all three systems alike.

What this measures
    The simulated clock holds what each kernel charges by hand: the hardware
    primitives its author counted (traps, saved registers, TLB writes, words
    copied, table entries walked). The Python that implements the kernel does
    more than that -- bookkeeping, lookups, calls between its own functions --
    and none of that is on the clock. SPIN's extensions are the exception that
    shows it: their code is weighed by the verifier's static model
    (``ext_cycles``), and Unix's and ExOS' equivalent code was not weighed at
    all. The audit weighs, for every system alike, every piece of system
    software that runs during an operation: Aegis, ExOS, the Unix kernel and
    its libc, SPIN's kernel, its shipped extensions and its generated dispatch
    code, and the posix binding. Applications, the benchmark's own loops and
    extensions, the machine (hardware, whose costs are the profile's) and the
    verifier's budget hook are not system software here.

The model
    The verifier's (``verifier.OpCosts``; docs/verifier.md): a call is a procedure
    call, an attribute or item read or written a memory reference, an
    arithmetic, comparison or branch an instruction; local names are
    registers and constants immediates. Here it is applied to the bytecode
    that runs: ``CALL`` is a call; ``LOAD_ATTR``, ``STORE_SUBSCR`` and the like
    are memory references, as is each element a tuple, list, set or dict
    display builds or an unpacking takes apart; ``BINARY_OP``, ``COMPARE_OP``,
    unary operations, conditional and unconditional jumps and ``FOR_ITER``
    are instructions. The budget ticks the verifier inserts into extensions
    are not counted: they are the instrument, not the extension.

How
    ``sys.settrace`` during one of the timed repeats (Timer.measure; the
    others give the wall time, which tracing would distort). A code object is
    weighed once, from its bytecode, and each line event adds the weight of
    the instructions from where it entered the line to the line's end or its
    first unconditional jump or return. A line holding both arms of a choice
    (``x if c else y``, ``a and b``) is counted whole: an upper bound, exact
    for the straight-line lines that are nearly all of the code. Frames
    suspended in greenlets when the audit starts are traced from their next
    line. The three counts are kept apart (packed into one integer, so that a
    line event costs one addition) and priced per profile at the end. The
    simulated clock is not touched: ``sim_cycles`` is the same with and
    without the audit.

Why bytecode rather than source
    The dispatcher's raise functions are generated and have no file, the
    verifier rewrites extensions, and comprehensions and lambdas are code
    objects of their own with their own line events. The bytecode is what
    runs, for all of them alike. It depends on the CPython version (3.11,
    3.12 and 3.13 compile some lines a little differently), so audit figures
    are compared within one Python.

Interface
    ``Audit(scope=in_scope, by_line=False)`` (``start()``, ``stop() -> Ops``,
    ``lines()``: where the operations went); ``Ops`` (calls, memory
    references and instructions, ``per(n)``, ``cycles(profile)``);
    ``weigh(code)`` (packed weights; ``unpack``); ``in_scope(code)``.
"""

from __future__ import annotations

import dis
import gc
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

import greenlet

from .. import posix
from ..machine import Profile
from ..spin import extensions as spin_extensions
from ..verifier import HOOK, HOOK_N
from ..verifier.bounded import hidden_kind

#: the counts are packed into one integer: instructions, memory references << SHIFT,
#: calls << 2 * SHIFT (each count stays far below 2 ** SHIFT)
SHIFT = 64
_MASK = (1 << SHIFT) - 1
INSN, MEM, CALL = 1, 1 << SHIFT, 1 << (2 * SHIFT)

_CALLS = frozenset({"CALL", "CALL_FUNCTION_EX", "CALL_KW"})
_MEM = frozenset({"LOAD_ATTR", "STORE_ATTR", "DELETE_ATTR", "LOAD_METHOD", "LOAD_SUPER_ATTR",
                  "BINARY_SUBSCR", "STORE_SUBSCR", "DELETE_SUBSCR", "BINARY_SLICE", "STORE_SLICE"})
#: element-wise memory references: building a display of n elements, unpacking n
_MEM_N = frozenset({"BUILD_TUPLE", "BUILD_LIST", "BUILD_SET", "BUILD_MAP", "BUILD_CONST_KEY_MAP",
                    "UNPACK_SEQUENCE"})
_INSN = frozenset({"BINARY_OP", "COMPARE_OP", "IS_OP", "CONTAINS_OP", "UNARY_NEGATIVE",
                   "UNARY_NOT", "UNARY_INVERT", "UNARY_POSITIVE", "FOR_ITER",
                   "JUMP_IF_FALSE_OR_POP", "JUMP_IF_TRUE_OR_POP"})
#: a line's run of instructions ends here (control does not fall through)
_ENDS = frozenset({"RETURN_VALUE", "RETURN_CONST", "RAISE_VARARGS", "RERAISE", "JUMP_FORWARD",
                   "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT", "JUMP", "JUMP_NO_INTERRUPT"})


def _cost(ins: dis.Instruction) -> int:
    op = ins.opname
    if op in _CALLS:
        return CALL
    if op in _MEM:
        return MEM
    if op in _MEM_N:
        return MEM * (ins.arg or 0)
    if op in _INSN or op.startswith("POP_JUMP") or (op in _ENDS and op.startswith("JUMP")):
        return INSN
    return 0


def weigh(code: CodeType) -> dict[int, int]:
    """Offset of each instruction -> the packed counts of the run of instructions from it
    to its line's end, or to the first unconditional jump, return or raise."""
    ins = list(dis.get_instructions(code))
    out: dict[int, int] = {}
    run = 0
    line = None
    skip = 0  # a budget tick: LOAD_GLOBAL __budget__ ... CALL, not the extension's work
    costs = []
    depth = 0  # the value stack's depth, along the instructions (for the checked calls)
    checked: dict[int, str] = {}  # stack slot of a checked operator's function -> its kind
    for i in ins:
        c = _cost(i)
        if i.opname in ("LOAD_GLOBAL", "LOAD_NAME") and i.argval in (HOOK, HOOK_N):
            skip += 1
        elif c == CALL and skip:
            skip -= 1
            c = 0
        effect = dis.stack_effect(i.opcode, i.arg if i.opcode >= dis.HAVE_ARGUMENT else None)
        if c == CALL and checked:  # a checked operator (verifier/bounded.py) costs what it stands for
            # the call's result replaces its function: a function loaded at or above that slot
            done = [checked.pop(k) for k in sorted(checked) if k >= depth + effect - 1]
            if done:
                n = 0 if i.opname == "CALL_FUNCTION_EX" else (i.arg or 0)
                c = {"op": INSN, "display": MEM * n, "method": MEM + CALL, "store": MEM, "load": MEM}.get(done[-1], 0)
        if i.opname in ("LOAD_GLOBAL", "LOAD_NAME") and isinstance(i.argval, str):
            kind = hidden_kind(i.argval)
            if kind is not None:
                checked[depth + effect - 1] = kind
        depth += effect
        costs.append(c)
    for i, c in zip(reversed(ins), reversed(costs), strict=True):
        ln = i.positions.lineno if i.positions is not None else None
        if ln != line or i.opname in _ENDS:
            run = 0  # a new line, or control leaves here: the next instruction's run is apart
        run += c
        line = ln
        out[i.offset] = run
    return out


#: the packages of system software, by the package's layout (bench may not import them all)
_PACKAGE = Path(posix.__file__).resolve().parent
_DIRS = tuple(f"{_PACKAGE / name}/" for name in ("aegis", "exos", "unix", "spin"))
_FILES = frozenset({str(Path(posix.__file__).resolve())}
                   | {f"{name}.py" for name in spin_extensions.names()}
                   | {str(spin_extensions.path(name)) for name in spin_extensions.names()})
_GENERATED = ("<dispatch ", "<unresolved ")


def in_scope(code: CodeType) -> bool:
    """Is this code system software (see the module note)?"""
    f = code.co_filename
    return (f.startswith(_DIRS) or f in _FILES or f.startswith(_GENERATED)) and code not in posix.MACHINE_CODE


@dataclass(frozen=True, slots=True)
class Ops:
    """Operations counted by the audit (per operation after ``per``)."""

    calls: float
    mem_refs: float
    insns: float

    def per(self, n: int) -> Ops:
        return Ops(self.calls / n, self.mem_refs / n, self.insns / n)

    def cycles(self, p: Profile) -> float:
        return self.calls * p.proc_call + self.mem_refs * p.mem_ref + self.insns * p.insn


class Audit:
    """Counts the system software's operations between ``start()`` and ``stop()``.

    ``scope``: which code counts (default ``in_scope``: exospin's system software; a
    user auditing a library-OS policy of their own passes a predicate that adds it).
    ``by_line``: also keep the counts per source line (``lines()``; slower)."""

    def __init__(self, scope: Callable[[CodeType], bool] = in_scope, by_line: bool = False) -> None:
        self._scope = scope
        self._weights: dict[CodeType, Any] = {}  # code -> its local tracer, or None
        self._total = 0
        self._live = False
        self._saved: Any = None
        self._by_line: dict[tuple[str, int, str], int] | None = {} if by_line else None

    def _tracer(self, code: CodeType) -> Any:
        try:
            return self._weights[code]
        except KeyError:
            pass
        local = None
        if self._scope(code):
            w = weigh(code)
            audit = self
            lines = self._by_line
            if lines is None:
                def local(frame: FrameType, event: str, arg: Any) -> Any:
                    if event == "line" and audit._live:
                        audit._total += w.get(frame.f_lasti, 0)
                    return local
            else:
                where, name = code.co_filename, code.co_name

                def local(frame: FrameType, event: str, arg: Any) -> Any:
                    if event == "line" and audit._live:
                        c = w.get(frame.f_lasti, 0)
                        audit._total += c
                        key = (where, frame.f_lineno, name)
                        lines[key] = lines.get(key, 0) + c
                    return local
        self._weights[code] = local
        return local

    def _global(self, frame: FrameType, event: str, arg: Any) -> Any:
        return self._tracer(frame.f_code)

    def start(self) -> None:
        if self._live:
            raise RuntimeError("the audit is already running")
        self._total = 0
        self._live = True
        self._saved = sys.gettrace()
        # frames already running (up this stack and in suspended greenlets) are traced
        # from their next line; new frames get the tracer from the 'call' event
        stacks: list[FrameType | None] = [sys._getframe(1)]
        stacks += [g.gr_frame for g in gc.get_objects()
                   if isinstance(g, greenlet.greenlet) and g.gr_frame is not None]
        for f in stacks:
            while f is not None:
                t = self._tracer(f.f_code)
                if t is not None:
                    f.f_trace = t
                f = f.f_back
        sys.settrace(self._global)

    def stop(self) -> Ops:
        sys.settrace(self._saved)
        self._live = False
        return unpack(self._total)

    def lines(self, profile: Profile | None = None) -> list[tuple[tuple[str, int, str], Ops]]:
        """With ``by_line``: ((file, line, function), operations) of every line counted since
        the audit was made; the dearest first under ``profile``, else most calls first."""
        if self._by_line is None:
            raise RuntimeError("Audit(by_line=True) keeps the counts per line")
        out = [(k, unpack(v)) for k, v in self._by_line.items()]
        if profile is None:
            out.sort(key=lambda kv: (-kv[1].calls, -kv[1].mem_refs, -kv[1].insns, kv[0]))
        else:
            out.sort(key=lambda kv: (-kv[1].cycles(profile), kv[0]))
        return out


def unpack(t: int) -> Ops:
    """The counts of a packed weight or total (see ``SHIFT``)."""
    return Ops(t >> (2 * SHIFT), (t >> SHIFT) & _MASK, t & _MASK)
