"""The benchmark harness: two clocks for every operation.

What this is
    The instrument behind ``exospin bench``. A benchmark runs a loop of one
    operation inside an environment of a booted system and reports, per
    operation:

    * ``sim_cycles`` / ``sim_us``: simulated time under the profile, read
      from the machine's clock around the loop (deterministic);
    * ``wall_ns``: the real time our Python took, the best of a few runs
      (noisy; only meaningful next to ``python_call_ns``, a plain Python
      function call measured the same way in the same run).

Why it is built this way
    Both loops have the same shape (``for _ in range(n): op()``), so the
    ratio ``wall_ns / python_call_ns`` is what a reader can compare across
    machines. A benchmark also checks, from ``statistics()``, that it
    measured the path it claims to (every access of tlb_refill_stlb really
    missed the TLB and hit the STLB, say) and fails loudly otherwise: a
    figure for the wrong path is worse than none.

Interface
    ``python_call_ns(n)``; ``Timer`` (use inside an environment:
    ``t.measure(loop, n)``); ``Result``; ``document(suite, profile, results)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from types import CodeType
from typing import Any

from .. import __version__
from ..machine import Profile
from .audit import Audit, Ops, in_scope

REPEATS = 3


class BenchmarkError(RuntimeError):
    """A benchmark did not measure the path it claims to."""


@dataclass(frozen=True, slots=True)
class Result:
    benchmark: str
    system: str
    sim_cycles: float
    sim_us: float
    wall_ns: float
    iterations: int
    #: a plain Python call measured interleaved with this benchmark's own runs
    python_call_ns: float = 0.0
    #: SPIN: cycles per operation of the extensions' own code under the verifier's static
    #: cost model, measured, not in ``sim_cycles`` (verifier.OpCosts; docs/verifier.md)
    ext_cycles: float | None = None
    #: with ``--audit``: cycles per operation of all the system software's own Python
    #: under the same model, measured, not in ``sim_cycles`` (bench/audit.py)
    py_cycles: float | None = None
    #: a bandwidth row (bench net): the payload bits per simulated µs achieved (Mb/s)
    mbps: float | None = None
    #: an experiment's own figures beside its time (the checkpointing pause, ...): name ->
    #: number, in the units the suite's docstring gives
    figures: dict[str, float | int] | None = None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["figures"] is None:
            del d["figures"]
        for key in ("ext_cycles", "py_cycles", "mbps"):
            if d[key] is None:
                del d[key]
            else:
                d[key] = round(d[key], 2)
        d["sim_cycles"] = round(self.sim_cycles, 2)
        d["sim_us"] = round(self.sim_us, 4)
        d["wall_ns"] = round(self.wall_ns, 1)
        d["python_call_ns"] = round(self.python_call_ns, 2)
        return d


def _noop() -> None:
    pass


def _call_loop(n: int) -> float:
    f = _noop
    t0 = time.perf_counter_ns()
    for _ in range(n):
        f()
    return (time.perf_counter_ns() - t0) / n


def python_call_ns(n: int = 200_000) -> float:
    """A plain Python function call, in ns: the unit our wall-clock figures are read in."""
    return min(_call_loop(n) for _ in range(REPEATS + 2))


#: the audit Timer.measure runs on its last repeat, if any (``auditing()``)
_audit: Audit | None = None


@contextmanager
def auditing(scope: Callable[[CodeType], bool] = in_scope, by_line: bool = False) -> Iterator[Audit]:
    """Within: every Timer.measure audits the system software's Python (bench/audit.py);
    ``scope`` chooses which code counts. Yields the Audit (``lines()`` with ``by_line``)."""
    global _audit
    before, _audit = _audit, Audit(scope, by_line)
    try:
        yield _audit
    finally:
        _audit = before


class Timer:
    """Measures a loop on both clocks. ``cycles`` reads the simulated clock.

    Under ``auditing()``, the last repeat runs under the audit (and does not count
    for the wall time): ``py`` then holds the operations counted, per operation."""

    def __init__(self, cycles: Callable[[], int], repeats: int = REPEATS) -> None:
        self._cycles = cycles
        self.repeats = repeats
        self.py: Ops | None = None

    def py_cycles(self, profile: Profile) -> float | None:
        """The audited Python's cycles per operation under ``profile``; None if not audited."""
        return None if self.py is None else self.py.cycles(profile)

    @staticmethod
    def warm_up(loop: Callable[[int], Any], n: int) -> None:
        """Run the loop briefly: first-touch faults and Python's caches out of the way."""
        loop(max(1, n // 10))

    def measure(self, loop: Callable[[int], Any], n: int, per: int = 1) -> tuple[float, float, float]:
        """Run ``loop(n)`` (which performs ``n * per`` operations) ``repeats`` times (call
        ``warm_up`` first), each run next to a loop of ``n`` plain Python calls, so that both
        see the machine in the same state. Returns (simulated cycles per operation, best wall
        ns per operation, best ns per plain call)."""
        return measure_together([(self, loop)], n, per)[0]


def measure_together(runs: Sequence[tuple[Timer, Callable[[int], Any]]], n: int,
                     per: int = 1) -> list[tuple[float, float, float]]:
    """``Timer.measure`` for several loops at once, round by round: each round runs every
    loop once, in order, so that loops whose times are compared with each other (a target
    that is a ratio of two rows) see the machine in the same state instead of minutes
    apart. The timers must agree on ``repeats``. One (sim, best, call) per loop."""
    repeats = runs[0][0].repeats
    if any(t.repeats != repeats for t, _ in runs):
        raise ValueError("measure_together: the timers must have the same repeats")
    ops = n * per
    sim = [0] * len(runs)
    best = [float("inf")] * len(runs)
    call = [float("inf")] * len(runs)
    audit = _audit if repeats > 1 else None
    for i in range(repeats):
        traced = audit if i == repeats - 1 else None
        for k, (timer, loop) in enumerate(runs):
            call[k] = min(call[k], _call_loop(n))
            if traced is not None:
                traced.start()
            c0 = timer._cycles()
            t0 = time.perf_counter_ns()
            loop(n)
            t1 = time.perf_counter_ns()
            sim[k] += timer._cycles() - c0
            if traced is not None:
                timer.py = traced.stop().per(ops)
            else:
                best[k] = min(best[k], (t1 - t0) / ops)
    return [(sim[k] / (ops * repeats), best[k], call[k]) for k in range(len(runs))]


#: A suite's table: name -> (runner(profile, n), iterations with --quick, iterations without)
Table = dict[str, tuple[Callable[[str, int], Result], int, int]]


def run_table(table: Table, profile: str, quick: bool = False,
              progress: Callable[[str], None] | None = None) -> list[Result]:
    """Run every row of a suite's table in order, naming each to ``progress`` first."""
    out = []
    for name, (fn, n_quick, n_full) in table.items():
        if progress is not None:
            progress(name)
        out.append(fn(profile, n_quick if quick else n_full))
    return out


def document(suite: str, profile: str, pycall: float, results: list[Result]) -> dict[str, Any]:
    """The ``--json`` document of one suite under one profile (see docs/contracts.md)."""
    return {
        "exospin": __version__,
        "suite": suite,
        "profile": profile,
        "python_call_ns": round(pycall, 2),
        "results": [r.as_dict() for r in results],
    }
