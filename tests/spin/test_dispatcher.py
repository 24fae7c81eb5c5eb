"""Questions about SPIN's event dispatcher (exospin.spin.dispatcher)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exospin.machine import get_profile
from exospin.spin import (
    After,
    Before,
    Costs,
    Decision,
    Dispatcher,
    Eq,
    Event,
    First,
    NoHandler,
    Refused,
    TypeMismatch,
)
from exospin.verifier import verify


def ev1(**kw: Any) -> Event:
    return Event("e", (int,), int, **kw)


def test_does_an_event_with_only_its_intrinsic_handler_raise_as_a_plain_call():
    def intrinsic(x: int) -> int:
        return x + 1
    d = Dispatcher()
    e = d.define(Event("inc", (int,), int, intrinsic=intrinsic))
    assert e.raise_ is intrinsic
    assert e.raise_(1) == 2 and d.raise_(e, 2) == 3


def test_does_a_guard_that_returns_false_skip_the_handler():
    d = Dispatcher()
    e = ev1(default=lambda x: -1)
    d.install(e, lambda x: x * 10, guards=[lambda x: x > 0])
    assert e.raise_(3) == 30
    assert e.raise_(-3) == -1
    s = d.statistics()
    assert s.raises == 2 and s.handlers_run == 1 and s.guards_evaluated == 2


def test_does_a_handler_run_only_when_all_its_guards_hold():
    d = Dispatcher()
    e = Event("e", (int, int), int, default=lambda a, b: 0)
    d.install(e, lambda a, b: 1, guards=[Eq(0, 1), lambda a, b: b > 5])
    assert e.raise_(1, 6) == 1
    assert e.raise_(1, 5) == 0
    assert e.raise_(2, 6) == 0


def test_is_the_closure_passed_as_an_extra_first_argument():
    d = Dispatcher()
    e = ev1()
    d.install(e, lambda c, x: c + x, closure=100)
    assert e.raise_(1) == 101


def test_are_types_checked_at_installation():
    d = Dispatcher()
    e = ev1()
    with pytest.raises(TypeMismatch):
        d.install(e, lambda: 0)  # arity
    with pytest.raises(TypeMismatch):
        d.install(e, lambda x: 0, closure=1)  # the closure takes a slot

    def wants_str(x: str) -> int:
        return 0
    with pytest.raises(TypeMismatch):
        d.install(e, wants_str)
    with pytest.raises(TypeMismatch):
        d.install(e, lambda x: 0, guards=[Eq(3, 0)])
    with pytest.raises(TypeMismatch):
        d.install(e, lambda x: 0, guards=[lambda a, b: True])
    assert d.statistics().installs == 0


def test_can_the_authority_refuse_an_installation():
    class NoOne:
        def on_install(self, event, handler, installer):
            raise PermissionError(f"{installer} may not")
    d = Dispatcher()
    e = ev1(authority=NoOne())
    with pytest.raises(Refused):
        d.install(e, lambda x: 0, installer="mallory")
    assert e.handlers == () and d.statistics().refusals == 1


def test_can_the_authority_impose_a_guard():
    class OwnSpace:
        def on_install(self, event, handler, installer):
            return Decision(guards=(Eq(0, installer),))
    d = Dispatcher()
    e = ev1(authority=OwnSpace(), default=lambda x: None)
    d.install(e, lambda x: "a", installer=1)
    d.install(e, lambda x: "b", installer=2)
    assert e.raise_(1) == "a" and e.raise_(2) == "b" and e.raise_(3) is None


def test_can_the_authority_impose_an_order():
    class Front:
        def on_install(self, event, handler, installer):
            return Decision(order=First) if installer == "kernel" else None
    d = Dispatcher()
    e = ev1(authority=Front(), result_handler=list)
    d.install(e, lambda x: "user", installer="user")
    d.install(e, lambda x: "kernel", installer="kernel")
    assert e.raise_(0) == ["kernel", "user"]


def test_do_first_last_before_and_after_order_the_handlers():
    d = Dispatcher()
    e = ev1(result_handler=list)
    b = d.install(e, lambda x: "b")
    d.install(e, lambda x: "a", order=First)
    d.install(e, lambda x: "z")
    d.install(e, lambda x: "b-", order=Before(b))
    d.install(e, lambda x: "b+", order=After(b))
    assert e.raise_(0) == ["a", "b-", "b", "b+", "z"]


def test_does_cancel_stop_the_handlers_after_it():
    d = Dispatcher()
    e = ev1(result_handler=list)
    d.install(e, lambda x: 1)
    d.install(e, lambda x: 2, cancel=True, guards=[lambda x: x > 0])
    d.install(e, lambda x: 3)
    assert e.raise_(1) == [1, 2]
    assert e.raise_(0) == [1, 3]


def test_does_a_result_handler_combine_many_results():
    d = Dispatcher()
    e = Event("fault", (int,), bool, result_handler=any)
    d.install(e, lambda x: False)
    d.install(e, lambda x: x == 7)
    assert e.raise_(7) is True and e.raise_(6) is False


def test_is_one_result_returned_as_is_and_no_handler_an_error_at_the_raise_point():
    d = Dispatcher()
    e = ev1()
    h = d.install(e, lambda x: x)
    assert e.raise_(5) == 5
    d.uninstall(h)
    with pytest.raises(NoHandler):
        e.raise_(5)
    e2 = ev1(default=lambda x: "default")
    d.install(e2, lambda x: 1, guards=[lambda x: False])
    assert e2.raise_(0) == "default"


def test_does_an_asynchronous_handler_run_later_in_order():
    d = Dispatcher()
    seen: list[Any] = []
    e = ev1(default=lambda x: None)
    d.install(e, lambda x: seen.append(("a", x)), asynchronous=True)
    d.install(e, lambda x: seen.append(("b", x)), asynchronous=True)
    e.raise_(1)
    e.raise_(2)
    assert seen == [] and d.statistics().pending == 4
    assert d.run_pending() == 4
    assert seen == [("a", 1), ("b", 1), ("a", 2), ("b", 2)]


def test_does_an_asynchronous_event_return_at_once_and_run_at_run_pending():
    d = Dispatcher()
    seen: list[int] = []
    e = d.define(Event("tick", (int,), None, asynchronous=True))
    d.install(e, seen.append)
    assert e.raise_(1) is None and seen == []
    d.run_pending()
    assert seen == [1]


RUNAWAY = """
def handler(x):
    while True:
        pass
"""


def test_is_a_runaway_verified_handler_terminated_and_the_default_result_returned():
    v = verify(RUNAWAY, "runaway.py", budget=1000)
    d = Dispatcher()
    e = ev1(default=lambda x: "default")
    h = d.install(e, v.exports["handler"], budget=v.budget)
    assert e.raise_(1) == "default"
    assert not h.installed and e.handlers == ()
    s = d.statistics()
    assert s.terminated == 1 and "budget" in d.log[0][2]
    assert e.raise_(1) == "default"  # it stays gone


def test_do_the_other_handlers_results_survive_a_terminated_handler():
    v = verify(RUNAWAY, "runaway.py", budget=100)
    d = Dispatcher()
    e = ev1()
    d.install(e, lambda x: "ok")
    d.install(e, v.exports["handler"], budget=v.budget)
    assert e.raise_(0) == "ok"
    assert len(e.handlers) == 1


def test_is_a_raising_handler_removed_and_the_others_unaffected():
    d = Dispatcher()
    e = ev1(result_handler=list)

    def bad(x: int) -> int:
        raise ValueError("oops")
    d.install(e, lambda x: 1)
    d.install(e, bad)
    d.install(e, lambda x: 3)
    assert e.raise_(0) == [1, 3]
    assert len(e.handlers) == 2
    assert d.statistics().terminated == 1 and "ValueError: oops" in d.log[0][2]


@pytest.mark.parametrize("shape", ["one", "indexed"])
def test_is_a_raising_handler_removed_on_the_compiled_paths_too(shape):
    d = Dispatcher()
    e = ev1(default=lambda x: "default")

    def bad(x: int) -> int:
        return 1 // 0
    guards = [Eq(0, 1)] if shape == "indexed" else [lambda x: True]
    d.install(e, bad, guards=guards)
    assert e.raise_(1) == "default"
    assert e.handlers == () and d.statistics().terminated == 1


def test_does_an_install_during_a_raise_leave_that_raise_alone():
    d = Dispatcher()
    e = ev1(result_handler=list)

    def installer(x: int) -> str:
        d.install(e, lambda x: "late")
        return "first"
    d.install(e, installer)
    d.install(e, lambda x: "second")
    assert e.raise_(0) == ["first", "second"]
    assert e.raise_(0)[:2] == ["first", "second"] and "late" in e.raise_(0)


def test_are_costs_charged_from_the_profile():
    p = get_profile("alpha3000")
    c = Costs.from_profile(p)
    assert c.raise_ == p.proc_call + p.mem_ref and c.guard == p.mem_ref + 2 * p.insn
    charged: list[int] = []
    d = Dispatcher(charge=charged.append, profile=p)
    e = ev1(default=lambda x: 0)
    d.install(e, lambda x: 1, guards=[lambda x: x > 0])
    e.raise_(1)
    e.raise_(0)
    assert charged == [c.raise_ + c.guard + c.handler, c.raise_ + c.guard, c.handler]
    charged.clear()
    f = ev1()
    for port in range(5):
        d.install(f, lambda x: x, guards=[Eq(0, port)])
    f.raise_(3)
    assert charged == [c.raise_ + c.index + c.handler]
    assert d.statistics().index_lookups == 1


def test_is_an_equality_indexed_raise_independent_of_the_number_of_handlers():
    d = Dispatcher()
    e = ev1()
    for port in range(50):
        d.install(e, lambda x, port=port: port, guards=[Eq(0, port)])
    before = d.statistics()
    assert e.raise_(49) == 49
    after = d.statistics()
    assert after.guards_evaluated == before.guards_evaluated
    assert after.index_lookups - before.index_lookups == 1


# ------------------------------------------------------------------ index == linear

def linear(handlers: list[tuple[list[Any], int]], args: tuple[int, int]) -> list[int]:
    """The reference: every handler in order, every guard evaluated."""
    return [r for guards, r in handlers
            if all((args[g.index] == g.value) if isinstance(g, Eq) else g(*args) for g in guards)]


guard_st = st.one_of(
    st.builds(Eq, st.integers(0, 1), st.integers(0, 3)),
    st.sampled_from([lambda a, b: a < 2, lambda a, b: b % 2 == 0]),
)
handlers_st = st.lists(st.tuples(st.lists(guard_st, max_size=3), st.integers()), max_size=8)


@settings(max_examples=150, deadline=None)
@given(handlers_st, st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=1, max_size=6),
       st.booleans())
def test_does_the_equality_index_give_the_same_results_as_linear_evaluation(hs, calls, closure):
    d = Dispatcher()
    e = Event("e", (int, int), int, result_handler=list, default=lambda a, b: [])
    for guards, r in hs:
        if closure:
            d.install(e, lambda c, a, b: c, closure=r, guards=guards)
        else:
            d.install(e, lambda a, b, r=r: r, guards=guards)
    for args in calls:
        got = e.raise_(*args)
        want = linear(hs, args)
        assert (got if isinstance(got, list) else [got]) == want


def test_does_statistics_count_installs_and_uninstalls():
    d = Dispatcher()
    e = ev1(default=lambda x: 0)
    h = d.install(e, lambda x: 1)
    d.uninstall(h)
    d.uninstall(h)  # twice is harmless
    s = d.statistics()
    assert s.installs == 1 and s.uninstalls == 1 and e.handlers == ()


# ------------------------------------------------------------------ compiled guards, clock, budgets

PURE_GUARDS = """
def positive(x):
    return x > 0


def calls(x):
    return abs(x) > 0


def divides(x):
    return 10 // x > 1
"""


def test_is_a_verified_pure_guard_compiled_inline_and_a_calling_one_called():
    from exospin.verifier import expression
    v = verify(PURE_GUARDS, "guards.py")
    assert expression(v.exports["positive"]) is not None
    assert expression(v.exports["calls"]) is None  # a call: not proved pure, so called
    d = Dispatcher()
    e = ev1(default=lambda x: "no")
    d.install(e, lambda x: "yes", guards=[v.exports["positive"]])
    assert "positive" not in e.raise_.__globals__ and e.raise_(2) == "yes" and e.raise_(0) == "no"
    f = ev1(default=lambda x: "no")
    d.install(f, lambda x: "yes", guards=[v.exports["calls"]])
    assert f.raise_(-1) == "yes" and f.raise_(0) == "no"


def test_is_a_raising_inline_guard_terminated_and_counted_like_a_called_one():
    v = verify(PURE_GUARDS, "guards.py")
    p = get_profile("alpha3000")
    c = Costs.from_profile(p)
    charged: list[int] = []
    d = Dispatcher(charge=charged.append, profile=p)
    e = ev1(default=lambda x: "default")
    h = d.install(e, lambda x: 1, guards=[lambda x: True, v.exports["divides"]])
    assert e.raise_(0) == "default"  # 10 // 0 in the second guard
    assert not h.installed and "ZeroDivisionError" in d.log[0][2]
    assert charged == [c.raise_ + 2 * c.guard, c.handler]
    s = d.statistics()
    assert s.raises == 1 and s.handlers_run == 0 and s.guards_evaluated == 2 and s.terminated == 1


@pytest.mark.parametrize("handlers", [1, 3])
def test_are_the_statistics_exact_on_the_compiled_paths(handlers):
    v = verify(PURE_GUARDS, "guards.py")
    d = Dispatcher()
    e = ev1(default=lambda x: 0, result_handler=sum)
    for _ in range(handlers):
        d.install(e, lambda x: 1, guards=[v.exports["positive"], lambda x: x % 2 == 0])
    results = [e.raise_(x) for x in (-1, 1, 2, 4)]
    assert results == [0, 0, handlers, handlers]
    s = d.statistics()
    # -1: one guard each; 1: two each; 2 and 4: two each, and the handlers run
    assert s.raises == 4 and s.handlers_run == 2 * handlers and s.guards_evaluated == 7 * handlers


def test_does_a_clock_receive_the_same_cycles_as_a_charge_hook():
    class Clock:
        now = 0
    p = get_profile("alpha3000")
    charged: list[int] = []
    clock = Clock()
    for d in (Dispatcher(charge=charged.append, profile=p), Dispatcher(clock=clock, profile=p)):
        e = ev1(default=lambda x: 0, result_handler=sum)
        d.install(e, lambda x: 1, guards=[lambda x: x > 0])
        e.raise_(1)
        e.raise_(0)
        d.install(e, lambda x: 2)
        e.raise_(1)
    assert clock.now == sum(charged) > 0
    with pytest.raises(ValueError):
        Dispatcher(charge=charged.append, clock=clock)


def test_is_the_budget_reset_before_each_call_on_the_compiled_paths():
    v = verify("""
def spend(x):
    for _ in range(x):
        pass
    return x
""", "spend.py", budget=50)
    b = v.budget
    d = Dispatcher()
    e = ev1(default=lambda x: "killed")
    h = d.install(e, v.exports["spend"], budget=b)
    for _ in range(5):  # 41 ticks each (entry, 40 loops): only a reset before each call lets all run
        assert e.raise_(40) == 40
        assert b.remaining == 50 - 41
    assert e.raise_(60) == "killed" and not h.installed


def test_does_cancel_stop_the_straight_line_code_only_when_the_handler_ran():
    d = Dispatcher()
    e = ev1(result_handler=list)

    def bad(x: int) -> int:
        raise ValueError("gone")
    d.install(e, lambda x: 1)
    d.install(e, bad, cancel=True)  # terminated: its cancel does not apply
    d.install(e, lambda x: 3)
    assert e.raise_(0) == [1, 3]
    assert e.raise_(0) == [1, 3]


def test_can_trusted_kernel_code_mark_a_guard_pure():
    from exospin.verifier import expression, pure

    @pure
    def port_is(x: int) -> bool:
        return x == 7
    assert expression(port_is) is not None
    with pytest.raises(ValueError):
        pure(print)
    with pytest.raises(ValueError):
        pure(test_can_trusted_kernel_code_mark_a_guard_pure)  # not a single return
    d = Dispatcher()
    e = ev1(default=lambda x: None)
    d.install(e, lambda x: "seven", guards=[port_is])
    assert e.raise_(7) == "seven" and e.raise_(8) is None


def test_does_installing_more_handlers_of_one_shape_compile_nothing_more():
    """The generated raise function's text holds no handler or port: an indexed event
    that gains handlers reuses its compiled code (SPIN's installation cost grew with them)."""
    from exospin.spin.dispatcher import _compiled

    d = Dispatcher()
    ev = Event("packet", (int,), int)
    d.install(ev, lambda p: p, guards=[Eq(0, 0)])
    d.install(ev, lambda p: p, guards=[Eq(0, 1)])
    misses = _compiled.cache_info().misses
    for port in range(2, 52):
        d.install(ev, lambda p, port=port: port, guards=[Eq(0, port)])
    assert _compiled.cache_info().misses == misses
    assert [ev.raise_(p) for p in (0, 1, 7, 51)] == [0, 1, 7, 51]  # each its own handler
    assert d.statistics().index_lookups == 4
