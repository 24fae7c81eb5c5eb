"""The SPIN suite: linked calls, traps, threads and the event dispatcher.

Rows: ``in_kernel_call`` (a null call from one dynamically linked domain into
another, spin_calls.py); the system call, the cross-address-space call and
the thread benchmarks in kernel and user space (spin_threads.py); and the
dispatch set (dispatch_call_a{A}, dispatch_h{H}_a{A}, dispatch_eq_h{H};
dispatch_bench.py).

The targets of issue 4 compare rows with each other, not with a plain call:
dispatch_h1_a{A} <= 3 x dispatch_call_a{A} for A = 1 and 5, dispatch_eq_h50
<= 2 x dispatch_eq_h1, in_kernel_call <= 1.5 x a plain Python call. The a0
row is measured and shown without a target: its guard has no argument to
test (docs/spin.md, "Why a0 has no target").
"""

from __future__ import annotations

from collections.abc import Callable

from . import dispatch_bench, spin_calls, spin_threads
from .harness import Result

#: Targets of issue 4 for our own speed: row -> (the row it is compared with, at most this
#: many times its wall-clock time); "python_call" is the plain call measured next to it.
TARGETS: dict[str, tuple[str, float]] = {
    "in_kernel_call": ("python_call", 1.5),
    # not a0: an argument-free guard is a constant (docs/spin.md, "Why a0 has no target")
    **{f"dispatch_h1_a{a}": (f"dispatch_call_a{a}", 3.0) for a in (1, 5)},
    "dispatch_eq_h50": ("dispatch_eq_h1", 2.0),
}

#: Rows shown without a target, and why (in the target column of ``exospin bench spin``).
UNTARGETED: dict[str, str] = {
    "dispatch_h1_a0": "none: no argument to guard",
}


def run(profile: str, quick: bool = False, progress: Callable[[str], None] | None = None) -> list[Result]:
    if progress is not None:
        progress("in_kernel_call")
    out = [spin_calls.in_kernel_call(profile, 20_000 if quick else 200_000)]
    out += spin_threads.run(profile, quick=quick, progress=progress)
    out += dispatch_bench.run(profile, quick=quick, progress=progress)
    return out
