"""The SPIN dispatch micro-benchmarks (Bershad et al., SOSP 1995, section 5; CONTRACTS.md).

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
from .harness import BenchmarkError, Result, Timer

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


def _measure(name: str, profile: str, n: int, build: Callable[[Dispatcher], Callable[[int], Any]],
             check: Callable[[Any, Any], None] | None, per_call: int = 0) -> Result:
    """``per_call``: simulated cycles each operation costs outside the dispatcher (the plain
    call rows: one procedure call, which never reaches the dispatcher's charge hook)."""
    prof = get_profile(profile)
    clock = _Clock()
    d = Dispatcher(clock=clock, profile=prof)
    loop = build(d)
    timer = Timer(lambda: clock.now)
    timer.warm_up(loop, n)
    before = d.statistics()
    cycles, wall, call = timer.measure(loop, n)
    if check is not None:
        check(before, d.statistics())
    cycles += per_call
    return Result(name, SYSTEM, cycles, prof.us(cycles), wall, n * timer.repeats, call,
                  py_cycles=timer.py_cycles(prof))


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

    for a in ARGS:
        name = f"dispatch_call_a{a}"
        note(name)

        def build_call(d: Dispatcher, a: int = a) -> Callable[[int], Any]:
            return _loop(_fn(a), _args(a, 0))
        out.append(_measure(name, profile, n, build_call, None, per_call=get_profile(profile).proc_call))
    for h in HANDLERS:
        for a in ARGS:
            name = f"dispatch_h{h}_a{a}"
            note(name)
            hit = h - 1

            def build(d: Dispatcher, h: int = h, a: int = a, hit: int = hit) -> Callable[[int], Any]:
                ev = Event(f"bench{a}", (int,) * a, int)
                for k in range(h):
                    d.install(ev, _fn(a), guards=[_guard(a, k, hit)])
                return _loop(ev.raise_, _args(a, hit))
            out.append(_measure(name, profile, n, build,
                                lambda b, x: _one_each(b, x, total - max(1, n // 10), False)))
    for h in HANDLERS:
        name = f"dispatch_eq_h{h}"
        note(name)

        def build_eq(d: Dispatcher, h: int = h) -> Callable[[int], Any]:
            ev = Event("packet", (int,), int)
            for port in range(h):
                d.install(ev, _fn(1), guards=[Eq(0, port)])
            return _loop(ev.raise_, (h - 1,))
        out.append(_measure(name, profile, n, build_eq,
                            lambda b, x: _one_each(b, x, total - max(1, n // 10), True)))
    return out
