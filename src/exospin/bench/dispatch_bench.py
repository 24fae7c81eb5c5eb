"""The SPIN dispatch micro-benchmarks (Bershad et al., SOSP 1995, section 5; docs/contracts.md).

Definitions (per operation):

=====================  ============================================================
dispatch_h{H}_a{A}     raise an event of A arguments with H handlers, each behind
                       one predicate guard on the first argument (a function
                       from a verified extension, SPIN's case); exactly one
                       guard holds. With A = 0 the guards test a constant, and
                       H = 1 holds.
dispatch_call_a{A}     the plain procedure call with A arguments (the floor)
dispatch_eq_h{H}       raise an event of one argument with H handlers guarded by
                       ``Eq(0, port)`` for H different ports (the dispatcher's index)
=====================  ============================================================

The dispatcher runs on its own (no booted system): it advances a clock
object's ``now`` (its ``clock=`` parameter, as the SPIN kernel passes the
machine's event loop) that the Timer reads, with the costs of the profile. The
check after each loop reads ``statistics()``: every raise ran exactly one
handler, and the eq rows evaluated no guard but one index lookup.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..machine import get_profile
from ..spin import Dispatcher, Domain, Eq, Event
from .harness import BenchmarkError, Result, Timer, measure_together

SYSTEM = "spin"
HANDLERS = (1, 5, 10, 50)
ARGS = (0, 1, 5)


class _Clock:
    """The simulated clock the dispatcher advances (as the machine's event loop is)."""

    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now = 0


def _handler(*args: Any) -> int:
    return 1


def _fn(a: int) -> Callable[..., Any]:
    """A handler of exactly ``a`` arguments (arity is checked at installation)."""
    names = ", ".join(f"x{i}" for i in range(a))
    ns: dict[str, Any] = {}
    exec(f"def handler({names}):\n    return 1\n", ns)
    return ns["handler"]  # type: ignore[no-any-return]


def _guard(a: int, k: int, hit: int) -> Callable[..., bool]:
    """The guard as an extension supplies it: from a verified extension's domain, as every
    guard an extension installs on a SPIN event is."""
    names = ", ".join(f"x{i}" for i in range(a))
    test = f"x0 == {k}" if a else f"{k} == {hit}"
    d = Domain.create(f"def guard({names}):\n    return {test}\n", "guard.py")
    return d.exports["guard"]["guard"]  # type: ignore[no-any-return]


class _Row:
    """One row set up to be measured: its own clock and dispatcher, and the loop."""

    def __init__(self, name: str, profile: str, n: int,
                 build: Callable[[Dispatcher], Callable[[int], Any]],
                 check: Callable[[Any, Any], None] | None, per_call: int = 0) -> None:
        """``per_call``: simulated cycles each operation costs outside the dispatcher (the
        plain call rows: one procedure call, which never reaches the dispatcher's charge)."""
        self.name, self.check, self.per_call = name, check, per_call
        self.prof = get_profile(profile)
        clock = _Clock()
        self.d = Dispatcher(clock=clock, profile=self.prof)
        self.loop = build(self.d)
        self.timer = Timer(lambda: clock.now)
        self.timer.warm_up(self.loop, n)
        self.before = self.d.statistics()
        self.n = n

    def result(self, measured: tuple[float, float, float]) -> Result:
        cycles, wall, call = measured
        if self.check is not None:
            self.check(self.before, self.d.statistics())
        cycles += self.per_call
        return Result(self.name, SYSTEM, cycles, self.prof.us(cycles), wall,
                      self.n * self.timer.repeats, call, py_cycles=self.timer.py_cycles(self.prof))


def _measure(*rows: _Row) -> list[Result]:
    """Measure rows round by round (harness.measure_together): a target compares
    dispatch_h1_a{A} with dispatch_call_a{A}, so the two see the machine in the same state."""
    n = rows[0].n
    measured = measure_together([(r.timer, r.loop) for r in rows], n)
    return [r.result(m) for r, m in zip(rows, measured, strict=True)]


def _args(a: int, hit: int) -> tuple[int, ...]:
    return (hit,) + (0,) * (a - 1) if a else ()


def _loop(f: Callable[..., Any], args: tuple[int, ...]) -> Callable[[int], None]:
    names = ", ".join(map(str, args))
    ns: dict[str, Any] = {"f": f}
    exec(f"def loop(n):\n    for _ in range(n):\n        f({names})\n", ns)
    return ns["loop"]  # type: ignore[no-any-return]


def _one_each(before: Any, after: Any, raises: int, index: bool) -> None:
    r = after.raises - before.raises
    if r != raises or after.handlers_run - before.handlers_run != r:
        raise BenchmarkError(f"expected {raises} raises each running one handler, got {after}")
    if index and (after.guards_evaluated != before.guards_evaluated
                  or after.index_lookups - before.index_lookups != r):
        raise BenchmarkError("the eq benchmark did not take the indexed path")


def run(profile: str, quick: bool = False, progress: Callable[[str], None] | None = None) -> list[Result]:
    n = 5_000 if quick else 50_000
    reps = Timer(int).repeats
    total = n * reps + max(1, n // 10)
    out: list[Result] = []

    def note(name: str) -> None:
        if progress is not None:
            progress(name)

    calls: dict[int, Result] = {}
    guarded: dict[tuple[int, int], Result] = {}

    def call_row(a: int) -> _Row:
        def build(d: Dispatcher) -> Callable[[int], Any]:
            return _loop(_fn(a), _args(a, 0))
        return _Row(f"dispatch_call_a{a}", profile, n, build, None,
                    per_call=get_profile(profile).proc_call)

    def guarded_row(h: int, a: int) -> _Row:
        hit = h - 1

        def build(d: Dispatcher) -> Callable[[int], Any]:
            ev = Event(f"bench{a}", (int,) * a, int)
            for k in range(h):
                d.install(ev, _fn(a), guards=[_guard(a, k, hit)])
            return _loop(ev.raise_, _args(a, hit))
        return _Row(f"dispatch_h{h}_a{a}", profile, n, build,
                    lambda b, x: _one_each(b, x, total - max(1, n // 10), False))

    for a in ARGS:  # each plain call with the one-handler row compared with it
        note(f"dispatch_call_a{a}")
        calls[a], guarded[1, a] = _measure(call_row(a), guarded_row(1, a))
    for h in HANDLERS[1:]:
        for a in ARGS:
            note(f"dispatch_h{h}_a{a}")
            [guarded[h, a]] = _measure(guarded_row(h, a))
    out += [calls[a] for a in ARGS]
    out += [guarded[h, a] for h in HANDLERS for a in ARGS]

    def eq_row(h: int) -> _Row:
        def build(d: Dispatcher) -> Callable[[int], Any]:
            ev = Event("packet", (int,), int)
            for port in range(h):
                d.install(ev, _fn(1), guards=[Eq(0, port)])
            return _loop(ev.raise_, (h - 1,))
        return _Row(f"dispatch_eq_h{h}", profile, n, build,
                    lambda b, x: _one_each(b, x, total - max(1, n // 10), True))

    eq: dict[int, Result] = {}
    first, last = HANDLERS[0], HANDLERS[-1]
    note(f"dispatch_eq_h{first}")  # the fewest handlers with the most (a target compares them)
    eq[first], eq[last] = _measure(eq_row(first), eq_row(last))
    for h in HANDLERS[1:-1]:
        note(f"dispatch_eq_h{h}")
        [eq[h]] = _measure(eq_row(h))
    out += [eq[h] for h in HANDLERS]
    return out
