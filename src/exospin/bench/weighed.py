"""The weighed clock: every system's own Python advances the simulated clock as it runs.

What this models
    The charged clock (the default) holds what each kernel's author charged
    by hand: the hardware primitives they counted. Code the author did not
    count (a table lookup, a call between the kernel's own functions, the
    bookkeeping around a trap) costs nothing, so a system whose author
    counted less looks faster. Under the weighed clock, every line of system
    software that runs also advances the clock by its weight under the
    verifier's cost model of compiled code, the audit's (bench/audit.py: a
    call is a procedure call, an attribute or item access a memory
    reference, an arithmetic, comparison or branch an instruction, priced by
    the machine's profile). The same rule applies to every system: Aegis,
    ExOS, the Unix kernel and its libc, SPIN's kernel, extensions and
    generated dispatch code, and the posix binding (``audit.in_scope``).
    Applications and the machine itself are not weighed: applications
    declare their work (``compute``, loads and stores), and the machine's
    costs are the profile's.

    Weighed time is charged on top of the charged time. The two overlap
    where an author charged a data-structure walk (``mem_refs``) whose Python
    is weighed too: the weighed clock is an upper bound of that part, the
    charged clock a lower bound of the rest.

Why it is built this way
    * ``sys.settrace``, as the audit: a code object is weighed once from its
      bytecode (``audit.weigh``), priced in cycles for the profile once, and
      each line event adds its run's cycles to the clock: one dict probe and
      one addition per line.
    * The charge is added to ``now`` without firing events: the trace
      function must not switch greenlets or run kernel code (Python does not
      trace inside a trace function, so a timer interrupt taken there would
      run unweighed). The next primitive the code charges fires whatever
      fell due, as between two instructions.
    * Which clock: the machine built last (``CPU.ON_BUILD``). Every suite of
      ``WEIGHABLE`` boots one machine per benchmark and runs it alone; a
      world of several machines would charge only the last, so the other
      suites are refused under the weighed clock.
    * Deterministic: the weights depend only on the bytecode (one CPython
      version) and the lines executed, which depend only on the seed and
      the inputs, as the charged primitives do. The same run gives the same
      clock, bit for bit (tests/bench/test_weighed.py).

Interface
    ``CLOCKS`` (``charged``, ``weighed``); ``WEIGHABLE``; ``check_clock(name)``;
    ``WeighedClock(profile, scope=in_scope)`` (a context manager: within,
    every machine built is on the weighed clock; ``lines`` counts the line
    events charged, ``cycles`` the cycles added).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import CodeType, FrameType, TracebackType
from typing import Any

from ..machine import CPU, get_profile
from .audit import in_scope, unpack, weigh

CLOCKS = ("charged", "weighed")
#: the suites that run one machine at a time (the weighed clock charges the last one built)
WEIGHABLE = frozenset({"aegis", "exos", "spin", "unix", "demux"})


class _NoClock:
    """The clock charged before any machine is built: nothing reads it."""

    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now = 0


def check_clock(name: object) -> str:
    if name not in CLOCKS:
        raise ValueError(f"unknown clock {name!r} (known: {', '.join(CLOCKS)})")
    return str(name)


class WeighedClock:
    """Within: the system software's Python advances the clock of the machine built last."""

    def __init__(self, profile: str, scope: Callable[[CodeType], bool] = in_scope) -> None:
        p = get_profile(profile)
        self._price = (p.proc_call, p.mem_ref, p.insn)
        self._profile = p.name
        self._scope = scope
        self._tracers: dict[CodeType, Any] = {}
        self._loop: Any = _NoClock()
        self._saved: Any = None
        self.lines = 0
        self.cycles = 0

    def _built(self, cpu: CPU) -> None:
        if cpu.profile_costs != self._price:
            raise ValueError(f"the weighed clock was set up for {self._profile}; "
                             f"a machine of another profile was built")
        self._loop = cpu.loop

    def _tracer(self, code: CodeType) -> Any:
        try:
            return self._tracers[code]
        except KeyError:
            pass
        local = None
        if self._scope(code):
            call, mem, insn = self._price
            priced: dict[int, int] = {}
            for offset, packed in weigh(code).items():
                ops = unpack(packed)
                c = int(ops.calls * call + ops.mem_refs * mem + ops.insns * insn)
                if c:
                    priced[offset] = c
            if priced:  # a code object with nothing to weigh gets no line events at all
                local = self._line_tracer(priced)
        self._tracers[code] = local
        return local

    def _line_tracer(self, priced: dict[int, int]) -> Any:
        me = self
        get = priced.get

        def local(frame: FrameType, event: str, arg: Any) -> Any:
            if event == "line":
                c = get(frame.f_lasti)
                if c:
                    me._loop.now += c
                    me.cycles += c
                    me.lines += 1
            return local
        return local

    def _global(self, frame: FrameType, event: str, arg: Any) -> Any:
        return self._tracer(frame.f_code)

    def __enter__(self) -> WeighedClock:
        if sys.gettrace() is not None:
            raise RuntimeError("the weighed clock needs the trace hook, which is in use "
                               "(--audit, a debugger or coverage)")
        CPU.ON_BUILD.append(self._built)
        self._saved = sys.gettrace()
        sys.settrace(self._global)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        sys.settrace(self._saved)
        CPU.ON_BUILD.remove(self._built)


__all__ = ["CLOCKS", "WEIGHABLE", "WeighedClock", "check_clock"]
