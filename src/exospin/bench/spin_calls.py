"""SPIN's in-kernel call: a call from one linked domain into another's exported procedure.

Story
    SPIN's claim (Bershad et al., SOSP 1995, section 5, table 2) is that once
    an extension is linked, crossing into another domain costs a procedure
    call: protection was checked by the compiler and at link time, not per
    call. Here a *callee* extension exports ``null`` under ``spin.Bench``; a
    *caller* extension does ``from spin.Bench import null`` and, after
    ``resolve``, holds the callee's function itself in its namespace.

What is measured (per operation: one call into the callee's ``null``)
    * ``sim_cycles``: one ``proc_call`` of the profile. A linked call is a
      procedure call and nothing else; there is no kernel on the path.
    * ``wall_ns``: the caller's verified loop makes ten calls per iteration,
      so its budget tick (one per loop iteration, docs/verifier.md) is spread
      over ten calls, as the harness's plain loop spreads its ``for`` over
      one. Read it next to ``python_call_ns``, and next to
      ``same_shape_plain_ns``: the caller's source run as plain Python
      (unverified, no budget) calling a plain function, the same loop shape,
      so the difference is what verification and linking add.

The benchmark checks from ``statistics()`` that both domains are resolved,
the caller against the callee, and that no call was refused.
"""

from __future__ import annotations

import time
from typing import Any

from ..machine import get_profile
from ..spin import Domain, resolve
from .harness import REPEATS, BenchmarkError, Result, Timer

SYSTEM = "spin"
UNROLL = 10  # calls per iteration of the caller's loop

CALLEE = """
def null():
    return None
"""

CALLER = """
from spin.Bench import null


def calls(n):
    for i in range(n):
        null()
        null()
        null()
        null()
        null()
        null()
        null()
        null()
        null()
        null()
"""


#: caller iterations per activation: 10 calls and the loop each, well within one budget
CHUNK = 1000


def in_kernel_call(profile: str, n: int) -> Result:
    """``n`` calls from a linked caller domain into the callee's exported null procedure."""
    prof = get_profile(profile)
    callee = Domain.create(CALLEE, "callee.py", interface="spin.Bench")
    caller = Domain.create(CALLER, "caller.py")
    resolve(callee, caller)
    calls = caller.entry("caller.calls", caller.exports["caller"]["calls"])  # as the kernel enters it
    iterations = max(1, n // UNROLL)
    clock = [0]

    def loop(k: int) -> None:
        # One activation of the caller per CHUNK iterations: a domain's budget is per
        # activation (docs/invariants.md), and a whole run would outlast it.
        for start in range(0, k, CHUNK):
            calls(min(CHUNK, k - start))
        clock[0] += k * UNROLL * prof.proc_call  # each linked call is a procedure call

    timer = Timer(lambda: clock[0])
    timer.warm_up(loop, iterations)
    cycles, wall, call = timer.measure(loop, iterations, per=UNROLL)
    s = caller.statistics()
    if not s.resolved or s.sources != ("callee",) or s.refused_calls or not callee.resolved:
        raise BenchmarkError(f"in_kernel_call did not run linked domains: {s}")
    return Result("in_kernel_call", SYSTEM, cycles, prof.us(cycles), wall,
                  iterations * UNROLL, call, py_cycles=timer.py_cycles(prof))


def same_shape_plain_ns(n: int) -> float:
    """Best ns per call of the caller's loop run as plain Python against a plain ``null``."""
    def null() -> None:
        return None

    namespace: dict[str, Any] = {"null": null}
    exec(CALLER.replace("from spin.Bench import null", ""), namespace)
    calls = namespace["calls"]
    iterations = max(1, n // UNROLL)
    calls(iterations // 10 or 1)
    best = float("inf")
    for _ in range(REPEATS + 2):
        t0 = time.perf_counter_ns()
        calls(iterations)
        best = min(best, (time.perf_counter_ns() - t0) / (iterations * UNROLL))
    return best
