"""The processor as a vector of time slices: round robin, prologue and epilogue, yields."""

from __future__ import annotations

import pytest

from exospin.aegis import SLICE_US
from exospin.aegis.param import EPILOGUE_BOUND_US, MAX_STRIKES


def quantum(system) -> int:
    return system.machine.profile.cycles_for_us(SLICE_US)


def busy(system, tag, log, slices_worth, extra=None):
    """An environment that computes for ``slices_worth`` quanta, logging each prologue."""
    def main(sys):
        sys.set_handler("prologue", lambda: log.append((tag, system.kernel.slice_pos)))
        if extra is not None:
            extra(sys)
        for _ in range(slices_worth * 10):
            sys.cpu.compute(quantum(system) // 10)
    return main


def test_are_time_slices_visited_round_robin_by_position(system):
    log: list[tuple[str, int]] = []
    k = system.kernel
    k.create_env(busy(system, "A", log, 4), "A", [0, 2])
    k.create_env(busy(system, "B", log, 2), "B", [1])
    k.create_env(busy(system, "C", log, 2), "C", [3])
    system.run()
    # A prologue runs at the start of every slice after the handler is installed
    # (so not in each environment's first slice, in which it installs it).
    assert log[:7] == [("A", 2), ("A", 0), ("B", 1), ("A", 2), ("C", 3), ("A", 0), ("B", 1)]


def test_do_contiguous_slices_run_back_to_back(system):
    log: list[tuple[str, int]] = []
    k = system.kernel
    k.create_env(busy(system, "A", log, 4), "A", [4, 5])
    k.create_env(busy(system, "B", log, 2), "B", [6])
    system.run()
    assert log[:5] == [("A", 5), ("A", 4), ("A", 5), ("B", 6), ("A", 4)]


def test_do_prologue_and_epilogue_upcalls_happen_at_slice_boundaries(system):
    calls: list[str] = []

    def main(sys):
        sys.set_handler("prologue", lambda: calls.append("pro"))
        sys.set_handler("epilogue", lambda: calls.append("epi"))
        for _ in range(30):
            sys.cpu.compute(quantum(system) // 10)

    other: list[str] = []
    system.kernel.create_env(main, "timed", 1)
    system.kernel.create_env(lambda sys: other.append("ran"), "other", 1)
    system.run()
    assert calls[:4] == ["epi", "pro", "epi", "pro"]  # each slice ends with an epilogue
    assert calls.count("epi") >= 2 and other == ["ran"]
    assert system.kernel.statistics().upcalls >= len(calls)


def test_what_if_an_epilogue_keeps_overrunning_its_bound(system):
    bound = system.machine.profile.cycles_for_us(EPILOGUE_BOUND_US)
    k = system.kernel
    finished: list[str] = []

    def hog(sys):
        sys.set_handler("epilogue", lambda: sys.cpu.compute(3 * bound))
        while True:
            sys.cpu.compute(1000)

    def polite(sys):
        for _ in range(8 * 10):
            sys.cpu.compute(quantum(system) // 10)
        finished.append("polite")

    a = k.create_env(hog, "hog", 1)
    k.create_env(polite, "polite", 1)
    system.run()
    assert k.deaths[a] == f"destroyed: epilogue overran {MAX_STRIKES} times"
    assert finished == ["polite"]
    assert k.statistics().epilogue_overruns == MAX_STRIKES
    assert k.env_statistics(a).strikes == MAX_STRIKES
    overruns = [j for j in k.journal if j.kind == "overrun" and j.env == a]
    assert len(overruns) == MAX_STRIKES


def test_is_a_single_overrun_forgiven_after_a_prompt_epilogue(system):
    bound = system.machine.profile.cycles_for_us(EPILOGUE_BOUND_US)
    k = system.kernel
    count = [0]

    def sometimes_slow():
        count[0] += 1
        if count[0] % 2 == 1:  # every other epilogue overruns
            system.kernel.cpu.compute(2 * bound)

    def main(sys):
        sys.set_handler("epilogue", sometimes_slow)
        for _ in range(8 * 10):
            sys.cpu.compute(quantum(system) // 10)

    a = k.create_env(main, "uneven", 1)
    k.create_env(lambda sys: [sys.cpu.compute(1000) for _ in range(200)], "other", 1)
    system.run()
    assert k.deaths[a] == "exited"  # strikes reset by each prompt epilogue
    assert k.statistics().epilogue_overruns >= 2


def test_does_a_yield_hand_the_processor_to_the_next_slice(system):
    order: list[str] = []

    def a(sys):
        order.append("a1")
        sys.yield_()
        order.append("a2")

    def b(sys):
        order.append("b1")
        sys.yield_()
        order.append("b2")

    system.kernel.create_env(a, "a", 1)
    system.kernel.create_env(b, "b", 1)
    system.run()
    assert order == ["a1", "b1", "a2", "b2"]
    assert system.kernel.statistics().yields == 2


def test_does_a_directed_yield_run_the_named_environment_next(system):
    order: list[str] = []
    ids: dict[str, int] = {}

    def a(sys):
        order.append("a")
        sys.yield_(ids["c"])  # skip b's turn: c runs in the rest of our slice
        order.append("a again")

    def b(sys):
        order.append("b")

    def c(sys):
        order.append("c")
        sys.yield_()
        order.append("c again")

    ids["a"] = system.kernel.create_env(a, "a", 1)
    ids["b"] = system.kernel.create_env(b, "b", 1)
    ids["c"] = system.kernel.create_env(c, "c", 1)
    system.run()
    assert order[:2] == ["a", "c"]
    assert order.index("c") < order.index("b")


def test_can_environments_that_only_yield_stop_a_run_with_a_time_limit(system):
    # A server idling with yield_() in a loop used to keep the timer (and the
    # run limit) from ever firing.
    def idler(sys):
        while True:
            sys.yield_()

    system.kernel.create_env(idler, "idler", 1)
    system.kernel.create_env(idler, "idler2", 1)
    assert system.run(until_us=2_000) == pytest.approx(2_000, rel=0.01)


def test_can_two_environments_yielding_to_each_other_starve_a_third(system):
    ids: dict[str, int] = {}
    third: list[int] = []

    def ping(sys):
        while True:
            sys.yield_(ids["pong"])

    def pong(sys):
        while True:
            sys.yield_(ids["ping"])

    ids["ping"] = system.kernel.create_env(ping, "ping", 1)
    ids["pong"] = system.kernel.create_env(pong, "pong", 1)
    system.kernel.create_env(lambda sys: third.append(system.machine.now), "third", 1)
    system.run(until_us=3_000)
    assert third, "the third environment never got its slice"
    assert third[0] < 3 * quantum(system)  # its slice is the third: the ping-pong was preempted


def test_does_an_environment_with_excess_time_lose_slices(system):
    bound = system.machine.profile.cycles_for_us(EPILOGUE_BOUND_US)
    k = system.kernel
    count = [0]

    def slow_twice():
        count[0] += 1
        if count[0] <= 2:  # two overruns, then prompt: survives, but pays
            k.cpu.compute(40 * bound)

    def main(sys):
        sys.set_handler("epilogue", slow_twice)
        for _ in range(40):
            sys.cpu.compute(quantum(system) // 4)

    a = k.create_env(main, "payer", 1)
    k.create_env(lambda sys: [sys.cpu.compute(1000) for _ in range(300)], "other", 1)
    system.run()
    assert k.deaths[a] == "exited"
    assert k.env_statistics(a).excess_cycles == 0
    assert k.statistics().epilogue_overruns == 2


def test_can_a_loop_of_ordinary_system_calls_be_preempted(system):
    """An environment that only allocates and frees frames still loses the processor."""
    k = system.kernel
    done = {}

    def hog(sys):
        while not done.get("other"):
            sys.frame_free(sys.frame_alloc(77))  # no yield, no memory access

    def other(sys):
        done["other"] = True

    k.create_env(hog, "hog", 1)
    k.create_env(other, "other", 1)
    system.run(until_us=50_000)
    assert done.get("other")


def test_do_the_successor_links_follow_allocation_and_freeing(system):
    """A switch reads one link to the next owned slice (Aegis.succ); allocating and freeing
    a slice walks back to the previous owned slice, rewriting the links that change, and
    pays a load and a store (Costs.relink) for each slot it walks."""
    k = system.kernel
    got: dict[str, object] = {}

    def main(sys):
        got["after_create"] = list(k.succ)
        now = k.loop.now
        cap = sys.slice_alloc(40)
        got["alloc_cycles"] = k.loop.now - now
        got["after_alloc"] = list(k.succ)
        sys.slice_free(cap)
        got["after_free"] = list(k.succ)

    k.create_env(main, "A", [3, 10])
    system.run()
    n = len(k.slices)
    two = got["after_create"]
    assert [two[i] for i in (0, 3, 5, 10, 11, n - 1)] == [3, 10, 10, 3, 3, 3]
    three = got["after_alloc"]
    assert three[10] == 40 and three[39] == 40 and three[40] == 3 and three[3] == 10
    changed = sum(a != b for a, b in zip(two, three, strict=True))
    assert changed == 30  # slots 10..39 now lead to 40
    p = system.machine.profile
    assert got["alloc_cycles"] == k.c.syscall + 2 * p.mem_ref + changed * k.c.relink
    assert got["after_free"] == two
    assert k.succ == [-1] * n  # the environment ended: nothing is owned


def test_does_relinking_walk_only_back_to_the_previous_owned_slice(system):
    """Allocate and free slices in a scrambled order: after each call the links are exact
    (check_invariants recomputes them), and the call paid for the slots from the slice
    back to the previous owned one, not for the whole vector."""
    k = system.kernel
    n = len(k.slices)
    got: dict[str, object] = {"bad": [], "paid": []}

    def walk_back(pos: int) -> int:  # slots from pos - 1 back to the previous owned slice
        for d in range(1, n + 1):
            if d == n or k.slices[(pos - d) % n] is not None:
                return d
        raise AssertionError

    def main(sys):
        caps = {}
        order = [(7 * i + 3) % n for i in range(n)]  # every slot once, scrambled
        for pos in order[:40] + order[40:] + order[:40]:
            if pos in caps:
                want = walk_back(pos) if sum(o is not None for o in k.slices) > 1 else n
                now = k.loop.now
                sys.slice_free(caps.pop(pos))
                spent = k.loop.now - now
                got["paid"].append((spent - k.c.syscall - k.c.cap_check - system.machine.profile.mem_ref,
                                    want * k.c.relink))
            elif k.slices[pos] is None:
                want = walk_back(pos)
                now = k.loop.now
                caps[pos] = sys.slice_alloc(pos)
                got["paid"].append((k.loop.now - now - k.c.syscall - 2 * system.machine.profile.mem_ref,
                                    want * k.c.relink))
            got["bad"] += k.check_invariants()
        for cap in caps.values():
            sys.slice_free(cap)

    k.create_env(main, "A", [0])
    system.run()
    assert got["bad"] == []
    assert len(got["paid"]) > 2 * n - 40
    assert all(paid == want for paid, want in got["paid"]), [pw for pw in got["paid"] if pw[0] != pw[1]][:5]
    assert max(w for _, w in got["paid"]) < n * k.c.relink  # slot 0 stays owned: never the whole ring
