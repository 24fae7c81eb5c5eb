"""The SPIN suite, as far as SPIN is built: linked calls and the event dispatcher.

Rows: ``in_kernel_call`` (a null call from one dynamically linked domain into
another, spin_calls.py) and the dispatch set (dispatch_call_a{A},
dispatch_h{H}_a{A}, dispatch_eq_h{H}; dispatch_bench.py). The rest of the
SPIN paper's benchmarks (system call, cross-address-space call, threads, the
VM set) arrive with the SPIN kernel; until then they are absent from this
suite, not zero (CONTRACTS.md).

The targets of issue 4 compare rows with each other, not with a plain call:
dispatch_h1_a{A} <= 3 x dispatch_call_a{A}, dispatch_eq_h50 <= 2 x
dispatch_eq_h1, in_kernel_call <= 1.5 x a plain Python call.
"""

from __future__ import annotations

from collections.abc import Callable

from . import dispatch_bench, spin_calls
from .harness import Result


def run(profile: str, quick: bool = False, progress: Callable[[str], None] | None = None) -> list[Result]:
    if progress is not None:
        progress("in_kernel_call")
    out = [spin_calls.in_kernel_call(profile, 20_000 if quick else 200_000)]
    out += dispatch_bench.run(profile, quick=quick, progress=progress)
    return out
