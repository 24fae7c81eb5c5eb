"""Protected control transfer: synchronous and asynchronous calls between environments."""

from __future__ import annotations

import pytest

from exospin.aegis import SLICE_US, BadEnvironment, CalleeDied


def quantum(system) -> int:
    return system.machine.profile.cycles_for_us(SLICE_US)


def server(entries, then=None):
    """An environment that registers ``entries`` and then idles (yielding)."""
    def main(sys):
        for i, fn in entries.items():
            sys.pct_register(i, fn(sys) if then == "bind" else fn)
        while True:
            sys.cpu.compute(10)
            sys.yield_()
    return main


def test_does_pct_sync_return_the_callees_value_and_charge_simulated_time(system):
    k = system.kernel
    srv = k.create_env(server({0: lambda x, y: x * y}), "server", 1)
    out = {}

    def client(sys):
        sys.yield_()  # let the server register its entry
        t0 = sys.cpu.cycles()
        out["value"] = sys.pct_sync(srv, 0, 6, 7)
        out["cycles"] = sys.cpu.cycles() - t0

    k.create_env(client, "client", 1)
    system.run(until_us=2_000)
    assert out["value"] == 42
    assert out["cycles"] >= 2 * k.c.pct  # the call and the reply are both transfers
    assert k.statistics().pct_sync == 1


def test_does_the_callee_run_in_its_own_environment(system):
    k = system.kernel
    seen = {}

    def who(sys):
        return lambda: (sys.env_id(), system.machine.tlb.asid)

    srv = k.create_env(server({0: who}, then="bind"), "server", 1)

    def client(sys):
        sys.yield_()
        seen["callee"] = sys.pct_sync(srv, 0)
        seen["caller"] = (sys.env_id(), system.machine.tlb.asid)

    cli = k.create_env(client, "client", 1)
    system.run(until_us=2_000)
    assert seen["callee"] == (srv, k.envs[srv].asid)
    assert seen["caller"][0] == cli and seen["caller"][1] != seen["callee"][1]


def test_does_pct_async_run_the_callee_and_resume_the_caller_at_its_next_slice(system):
    k = system.kernel
    order: list[str] = []
    srv = k.create_env(server({0: lambda tag: order.append(f"entry {tag}")}), "server", 1)

    def client(sys):
        sys.yield_()
        order.append("call")
        sys.pct_async(srv, 0, "x")
        order.append("back")

    k.create_env(client, "client", 1)
    system.run(until_us=3_000)
    assert order == ["call", "entry x", "back"]
    assert k.statistics().pct_async == 1


def test_what_if_the_callee_raises_during_a_synchronous_call(system):
    k = system.kernel
    srv = k.create_env(server({0: lambda: 1 // 0}), "server", 1)
    out = {}
    bystander: list[str] = []

    def client(sys):
        sys.yield_()
        with pytest.raises(CalleeDied, match=r"env 1 died during the call: died: ZeroDivisionError") as info:
            sys.pct_sync(srv, 0)
        out["error"] = str(info.value)

    k.create_env(client, "client", 1)
    k.create_env(lambda sys: [sys.yield_() for _ in range(3)] and bystander.append("done"), "bystander", 1)
    system.run()
    assert "error" in out
    assert k.deaths[srv] == "died: ZeroDivisionError: integer division or modulo by zero"
    assert bystander == ["done"]


def test_what_if_a_preempted_callee_is_called_and_its_entry_raises(system):
    # The entry runs on top of the callee's interrupted code; its exception must
    # kill the callee, not unwind into that code (which might catch it and live
    # on, leaving the caller waiting for ever).
    k = system.kernel
    caught: list[str] = []
    out: dict[str, str] = {}

    def callee(sys):
        sys.pct_register(0, lambda: 1 // 0)
        try:
            for _ in range(100):
                sys.cpu.compute(1_000)  # preempted in here; the call arrives meanwhile
        except ZeroDivisionError as e:
            caught.append(str(e))
        while True:
            sys.cpu.compute(1_000)
            sys.yield_()

    srv = k.create_env(callee, "callee", 1)

    def caller(sys):
        try:
            sys.pct_sync(srv, 0)
        except CalleeDied as e:
            out["error"] = str(e)

    k.create_env(caller, "caller", 1)
    system.run(until_us=20_000)
    assert caught == []
    assert out == {"error": "pct_sync: env 1 died during the call: died: ZeroDivisionError: integer division or modulo by zero"}


def test_what_if_two_callers_wait_on_a_callee_that_dies(system):
    # The callee is preempted in the middle of serving the first caller, the
    # second caller calls it too, then it dies: both must hear about it.
    k = system.kernel
    ids: dict[str, int] = {}
    out: dict[str, str] = {}

    def slow(tag):
        k.cpu.compute(3 * quantum(system))
        if tag == "B":
            raise RuntimeError("gave up")
        return tag

    ids["S"] = k.create_env(server({0: slow}), "server", 1)

    def client(tag):
        def main(sys):
            sys.cpu.compute(10)
            sys.yield_()
            try:
                out[tag] = sys.pct_sync(ids["S"], 0, tag)
            except CalleeDied as e:
                out[tag] = str(e)
        return main

    k.create_env(client("A"), "A", 1)
    k.create_env(client("B"), "B", 1)
    system.run(until_us=50_000)
    assert out == {
        "A": "pct_sync: env 1 died during the call: died: RuntimeError: gave up",
        "B": "pct_sync: env 1 died during the call: died: RuntimeError: gave up",
    }


def test_what_if_the_callee_destroys_its_caller_during_the_call(system):
    k = system.kernel
    log: list[object] = []

    def parent(sys):
        box = {}

        def entry():
            sys.env_destroy(box["cap"])  # the caller is waiting for our reply
            log.append("destroyed the caller")
            return 1

        box["me"] = sys.env_id()
        sys.pct_register(0, entry)

        def child(csys):
            log.append(csys.pct_sync(box["me"], 0))  # never returns: it dies first

        eid, box["cap"] = sys.env_create(child, "child")
        sys.slice_alloc(5, box["cap"])
        for _ in range(3):
            sys.cpu.compute(10)
            sys.yield_()
        log.append(("parent still", sys.env_id(), system.kernel.current.id))

    p = k.create_env(parent, "parent", 1)
    system.run()
    assert log == ["destroyed the caller", ("parent still", p, p)]
    assert k.deaths == {2: f"destroyed by env {p}", p: "exited"}


def test_can_a_callee_call_its_caller_back_across_a_slice_boundary(system):
    # A calls B; B calls A back; A's entry runs past the end of the slice.
    # Who runs in whose slice must not go round in a circle.
    k = system.kernel
    ids: dict[str, int] = {}
    out: dict[str, str] = {}

    def a(sys):
        def callback():
            sys.cpu.compute(3 * quantum(system))
            return "a"

        sys.pct_register(0, callback)
        sys.cpu.compute(10)
        sys.yield_()
        out["A"] = sys.pct_sync(ids["B"], 0)

    def b(sys):
        sys.pct_register(0, lambda: sys.pct_sync(ids["A"], 0) + "b")
        while True:
            sys.cpu.compute(10)
            sys.yield_()

    ids["A"] = k.create_env(a, "A", 1)
    ids["B"] = k.create_env(b, "B", 1)
    system.run(until_us=20_000)
    assert out == {"A": "ab"}


def test_what_if_a_third_environment_calls_one_that_is_blocked_in_its_own_call(system):
    # A is waiting for C; B calls A. Serving B on top of A's wait would let C's
    # reply arrive in the middle of B's call: the kernel refuses instead.
    k = system.kernel
    ids: dict[str, int] = {}
    out: dict[str, object] = {}

    def c(sys):
        def slow():
            sys.cpu.compute(3 * quantum(system))
            return "c"

        sys.pct_register(0, slow)
        while True:
            sys.cpu.compute(10)
            sys.yield_()

    def a(sys):
        sys.pct_register(0, lambda: "a")
        sys.cpu.compute(10)
        sys.yield_()
        out["A"] = sys.pct_sync(ids["C"], 0)

    def b(sys):
        sys.cpu.compute(10)
        sys.yield_()
        with pytest.raises(BadEnvironment, match=r"pct_sync: env 2 is blocked in a synchronous call of its own"):
            sys.pct_sync(ids["A"], 0)
        with pytest.raises(BadEnvironment, match=r"pct_async: env 2 is blocked"):
            sys.pct_async(ids["A"], 0)
        out["B"] = "refused"

    ids["C"] = k.create_env(c, "C", 1)
    ids["A"] = k.create_env(a, "A", 1)
    ids["B"] = k.create_env(b, "B", 1)
    system.run(until_us=20_000)
    assert out == {"A": "c", "B": "refused"}
    assert k.deaths.get(ids["A"]) == "exited"


def test_can_a_pct_loop_starve_everyone_else(system):
    # A client calling a server in a tight loop used to keep the timer from
    # ever firing: no one else ran and run(until) never returned.
    k = system.kernel
    srv = k.create_env(server({0: lambda n: n + 1}), "server", 1)
    calls = [0]
    others: list[int] = []

    def client(sys):
        sys.yield_()
        n = 0
        while True:
            n = sys.pct_sync(srv, 0, n)
            calls[0] = n

    k.create_env(client, "client", 1)
    def other(sys):
        sys.yield_()  # from the second round on, the client is looping
        others.append(calls[0])

    k.create_env(other, "other", 1)
    system.run(until_us=3_000)
    assert others and calls[0] > others[0] > 0


def test_is_a_protected_call_donating_slices_until_it_replies(system):
    # The caller owns three slices, the callee one; while the call is in
    # progress every slice of the caller runs the callee.
    k = system.kernel
    log: list[int] = []

    def work():
        for _ in range(40):
            k.cpu.compute(quantum(system) // 10)
            log.append(k.slice_pos)
        return "done"

    srv = k.create_env(server({0: work}), "server", [0])
    out = {}

    def client(sys):
        sys.yield_()
        out["r"] = sys.pct_sync(srv, 0)

    k.create_env(client, "client", [1, 2, 3])
    system.run(until_us=50_000)
    assert out == {"r": "done"}
    assert {1, 2, 3} <= set(log)  # the callee ran in the caller's slices
