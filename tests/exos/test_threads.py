"""ExOS threads: scheduling policies, synchronisation under preemption, and how threads end.

Every program here is a posix program run as an ExOS process on a fresh
Aegis. At each slice start the prologue preempts the running thread if
another can run, so code that spans slice boundaries really interleaves.
At teardown every system is shut down and must give back every frame,
capability, slice and environment, with the kernel's invariants intact.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from exospin import posix
from exospin.bench.report import stride_figure
from exospin.systems import System

NOTHING_LEFT = {"frames": 0, "capabilities": 0, "slices": 0, "environments": 0}
LIMIT_US = 5_000_000.0  # safety net on simulated time for every run; all end long before
SLICE_CYCLES = 12_500  # one 500 µs slice on ds5000 (25 MHz)
POLICIES = ["round_robin", "stride"]




def run(system: System, program: Callable[[list[str]], Any], policy: str = "round_robin") -> int | None:
    pid = system.start(program, [], getattr(program, "__name__", "p"), policy=policy)
    system.run(until_us=LIMIT_US)
    return system.exit_status(pid)


# ------------------------------------------------------------------- policies


@pytest.fixture(scope="module")
def figure() -> dict[str, Any]:
    return stride_figure.run()  # 3:2:1 tickets, 600 slices, under stride and round robin


def test_do_stride_shares_match_tickets_within_a_few_percent(figure: dict[str, Any]) -> None:
    assert figure["ratios"] == [3, 2, 1]
    res = figure["stride"]
    for asked, got, work in zip(figure["requested"], res["measured"], res["measured_work"], strict=True):
        assert abs(got - asked) / asked < 0.02, (asked, got)
        assert abs(work - asked) / asked < 0.02, (asked, work)  # the threads' own count agrees
    assert res["preemptions"] >= 500, "the shares must come from hundreds of slices"
    # and it is settled: every 6 ms window after the first 10 is within 8% of the tickets' share
    for i, asked in enumerate(figure["requested"]):
        for got in res["windows"]["share"][i][10:]:
            assert abs(got - asked) / asked < 0.08, (i, asked, got)


def test_does_round_robin_give_equal_shares(figure: dict[str, Any]) -> None:
    for got in figure["round_robin"]["measured"]:
        assert abs(got - 1 / 3) < 0.01, figure["round_robin"]["measured"]


def test_does_the_figure_module_draw_a_png(figure: dict[str, Any], tmp_path: Any) -> None:
    out = stride_figure.plot(figure, tmp_path / "fig" / "stride.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = stride_figure.table(figure).splitlines()
    assert rows[0] == "| thread | tickets | requested | stride (measured) | round robin (measured) |"
    # one row per thread, the shares as measured, to three places (the first thread asked for half)
    assert rows[2].startswith("| 1 | 3 | 0.500 | 0.49") or rows[2].startswith("| 1 | 3 | 0.500 | 0.50")
    assert len(rows) == 2 + len(figure["requested"])


def test_does_a_thread_that_slept_come_back_without_flooding_the_others(exos: Callable[..., System]) -> None:
    # Three equal threads; the third waits on a condition for the first 50 ms. When it
    # wakes it must share the processor at once, not run alone until its pass catches up.
    s = exos()
    done: list[list[float]] = [[], [], []]

    def program(argv: list[str]) -> int:
        start = posix.time_us()
        wake, end = start + 50_000, start + 100_000
        m = posix.mutex()
        cv = posix.condition(m)
        flag = [False]

        def busy(i: int, signal_at: float | None) -> None:
            while posix.time_us() < end:
                posix.compute(500)
                done[i].append(posix.time_us() - start)
                if signal_at is not None and posix.time_us() >= signal_at and not flag[0]:
                    with m:
                        flag[0] = True
                        cv.signal()

        def sleeper() -> None:
            with m:
                while not flag[0]:
                    cv.wait()
            busy(2, None)

        p: Any = posix._p()
        tids = [p.thread_create_tickets(1, busy, 0, wake), p.thread_create_tickets(1, busy, 1, None),
                p.thread_create_tickets(1, sleeper)]
        for t in tids:
            posix.thread_join(t)
        return 0

    assert run(s, program, "stride") == 0
    assert not [t for t in done[2] if t < 50_000], "the sleeper ran before it was woken"
    for lo in range(52_000, 100_000, 8_000):  # every 8 ms window after the wake-up
        counts = [sum(1 for t in d if lo <= t < lo + 8_000) for d in done]
        assert min(counts) >= 0.25 * sum(counts), (lo, counts)


# ------------------------------------------------------------- synchronisation


def _counter_program(threads: int, increments: int, locked: bool, box: dict[str, Any]) -> Callable[[list[str]], int]:
    """Threads add 1 to a word of simulated memory: load, compute across a slice boundary, store.

    ``box["interleaved"]`` counts the increments during which another thread ran
    (the simulated clock moved on by more than the increment's own work). A
    bystander thread that only computes keeps another thread runnable at every
    slice start, so a thread holding the mutex is preempted too.
    """
    box["interleaved"] = 0

    def program(argv: list[str]) -> int:
        addr = posix.mmap(1)
        m = posix.mutex()
        work_us = (SLICE_CYCLES // 3) / 25  # ds5000: 25 cycles per µs

        def adder() -> None:
            for _ in range(increments):
                if locked:
                    m.acquire()
                v = posix.load(addr)
                t = posix.time_us()
                posix.compute(SLICE_CYCLES // 3)  # a third of a slice between read and write
                if posix.time_us() - t > 2 * work_us:
                    box["interleaved"] += 1
                posix.store(addr, v + 1)
                if locked:
                    m.release()
                posix.compute(SLICE_CYCLES // 4)  # work outside the critical section

        stop = [False]

        def bystander() -> None:
            while not stop[0]:
                posix.compute(1000)

        by = posix.thread_create(bystander)
        tids = [posix.thread_create(adder) for _ in range(threads)]
        for t in tids:
            posix.thread_join(t)
        stop[0] = True
        posix.thread_join(by)
        box["count"] = posix.load(addr)
        box["threads"] = posix._p().threads.statistics()  # type: ignore[attr-defined]
        return 0

    return program


@pytest.mark.parametrize("policy", POLICIES)
def test_does_a_mutex_give_mutual_exclusion_under_preemption(exos: Callable[..., System], policy: str) -> None:
    box: dict[str, Any] = {}
    assert run(exos(), _counter_program(4, 30, True, box), policy) == 0
    assert box["count"] == 4 * 30
    assert box["interleaved"] >= 10, "other threads must have run inside critical sections"


@pytest.mark.parametrize("policy", POLICIES)
def test_without_the_mutex_are_increments_lost(exos: Callable[..., System], policy: str) -> None:
    box: dict[str, Any] = {}
    assert run(exos(), _counter_program(4, 30, False, box), policy) == 0
    assert box["count"] < 4 * 30, "no update was lost: then preemption is not real"
    assert box["interleaved"] >= 10


@pytest.mark.parametrize("policy", POLICIES)
def test_do_condition_variables_make_a_bounded_buffer(exos: Callable[..., System], policy: str) -> None:
    slots, items = 4, 60
    box: dict[str, Any] = {"waits_full": 0, "waits_empty": 0}

    def program(argv: list[str]) -> int:
        buf = posix.mmap(1)  # words 0..slots-1: the ring; slots: count; slots+1: in; slots+2: out
        wb = posix.word_size()
        count, head, tail = buf + slots * wb, buf + (slots + 1) * wb, buf + (slots + 2) * wb
        m = posix.mutex()
        not_full, not_empty = posix.condition(m), posix.condition(m)

        def producer() -> None:
            for x in range(1, items + 1):
                posix.compute(SLICE_CYCLES // 5)  # make the item
                with m:
                    while posix.load(count) == slots:
                        box["waits_full"] += 1
                        not_full.wait()
                    i = posix.load(head)
                    posix.store(buf + i * wb, x)
                    posix.store(head, (i + 1) % slots)
                    posix.store(count, posix.load(count) + 1)
                    not_empty.signal()

        def consumer(pace: int) -> list[int]:
            posix.compute(SLICE_CYCLES * 3)  # start late: the producer fills the buffer and waits
            got = []
            for _ in range(items // 2):
                with m:
                    while posix.load(count) == 0:
                        box["waits_empty"] += 1
                        not_empty.wait()
                    i = posix.load(tail)
                    got.append(posix.load(buf + i * wb))
                    posix.compute(SLICE_CYCLES // 7)  # holding the lock across a boundary, sometimes
                    posix.store(tail, (i + 1) % slots)
                    posix.store(count, posix.load(count) - 1)
                    not_full.signal()
                posix.compute(pace)  # use the item
            return got

        p = posix.thread_create(producer)
        c1 = posix.thread_create(consumer, SLICE_CYCLES // 50)  # then faster than it: they wait
        c2 = posix.thread_create(consumer, SLICE_CYCLES // 20)
        a, b = posix.thread_join(c1), posix.thread_join(c2)
        posix.thread_join(p)
        box["a"], box["b"] = a, b
        return 0

    assert run(exos(), program, policy) == 0
    a, b = box["a"], box["b"]
    assert sorted(a + b) == list(range(1, items + 1)), "every item consumed exactly once"
    assert a == sorted(a) and b == sorted(b), "each consumer sees items in the order made"
    assert box["waits_full"] > 0 and box["waits_empty"] > 0, "both conditions were waited on"


# ------------------------------------------------------------- how threads end


def test_does_thread_join_return_the_threads_value(exos: Callable[..., System]) -> None:
    box: dict[str, Any] = {}

    def square(x: int) -> int:
        posix.compute(SLICE_CYCLES * 2)  # spans slices: join really waits
        return x * x

    def quick() -> tuple[str, int]:
        return ("done", 7)

    def program(argv: list[str]) -> int:
        tids = [posix.thread_create(square, n) for n in range(1, 6)]
        q = posix.thread_create(quick)
        posix.compute(SLICE_CYCLES * 3)  # quick is finished by now: joining it still gives its value
        box["quick"] = posix.thread_join(q)
        box["squares"] = [posix.thread_join(t) for t in tids]
        box["again"] = posix.thread_join(tids[0])  # a second join: the same value
        try:
            posix.thread_join(999)
        except posix.PosixError as e:
            box["errno"] = e.errno
        return 0

    assert run(exos(), program) == 0
    assert box == {"quick": ("done", 7), "squares": [1, 4, 9, 16, 25], "again": 1, "errno": "ESRCH"}


def test_does_creating_and_joining_a_thread_cost_the_same_after_thousands(exos: Callable[..., System]) -> None:
    # The scheduler looks only at threads that have not ended (Threads.live) and pays for
    # those: an ended thread stays joinable, but no later scheduling decision walks it.
    box: dict[str, Any] = {}

    def null() -> int:
        return 7

    def rounds(n: int) -> int:
        t0 = posix._p().cpu.cycles()  # type: ignore[attr-defined]
        for _ in range(n):
            assert posix.thread_join(posix.thread_create(null)) == 7
        return posix._p().cpu.cycles() - t0  # type: ignore[attr-defined]

    def program(argv: list[str]) -> int:
        th = posix._p().threads  # type: ignore[attr-defined]
        box["first"] = rounds(50)
        rounds(2_000)
        box["later"] = rounds(50)
        box["threads"], box["live"] = len(th.threads), sorted(th.live)
        box["live_ok"] = th.live == {tid: t for tid, t in th.threads.items() if not t.done}
        return 0

    assert run(exos(), program) == 0
    assert box["threads"] == 2_101 and box["live"] == [1] and box["live_ok"]  # only main is live
    assert box["later"] == box["first"], "each thread ever created made later ones dearer"


def test_does_a_thread_that_raises_kill_only_its_process(exos: Callable[..., System]) -> None:
    s = exos()
    box: dict[str, Any] = {}

    def forever() -> None:
        while True:
            posix.compute(1000)

    def doomed(argv: list[str]) -> int:
        posix.thread_create(forever)  # must not keep the process alive

        def bad() -> None:
            posix.compute(SLICE_CYCLES * 3)
            raise ValueError("thread went wrong")

        posix.thread_join(posix.thread_create(bad))
        box["after"] = True  # never reached
        return 0

    def good(argv: list[str]) -> int:
        total = 0

        def part(n: int) -> int:
            posix.compute(SLICE_CYCLES * 4)
            return n

        tids = [posix.thread_create(part, n) for n in range(5)]
        total = sum(posix.thread_join(t) for t in tids)
        return 0 if total == 10 else 1

    bad_pid = s.start(doomed, [], "doomed", policy="stride")
    entry = s.exos.procs[bad_pid]
    good_pid = s.start(good, [], "good")
    s.run(until_us=LIMIT_US)
    assert s.exit_status(bad_pid) == 1
    assert entry.message == "died: ValueError: thread went wrong"
    assert "after" not in box
    assert s.exit_status(good_pid) == 0
    assert s.machine.us(s.machine.loop.now) < LIMIT_US / 10, "the looping thread was stopped with its process"


@pytest.mark.parametrize("policy", POLICIES)
def test_does_exit_from_a_non_main_thread_end_the_whole_process(exos: Callable[..., System], policy: str) -> None:
    s = exos()
    box: dict[str, Any] = {"after_exit": False}

    def program(argv: list[str]) -> int:
        def spinner() -> None:
            while True:
                posix.compute(1000)

        def quitter() -> None:
            posix.compute(SLICE_CYCLES * 3)
            posix.exit(7)
            box["after_exit"] = True

        posix.thread_create(spinner)
        posix.thread_create(quitter)
        while True:  # the main thread never ends by itself
            posix.compute(1000)

    assert run(s, program, policy) == 7
    assert not box["after_exit"]
    assert s.machine.us(s.machine.loop.now) < 100_000, "exit ended the process at once"


def test_do_threaded_processes_leak_nothing(exos: Callable[..., System]) -> None:
    s = exos()
    box: dict[str, Any] = {}
    for policy in POLICIES:
        s.start(_counter_program(3, 10, True, box), [], f"counter-{policy}", policy=policy)
    s.run(until_us=LIMIT_US)
    assert s.kernel.check_invariants() == []
    assert s.shutdown() == NOTHING_LEFT
    assert s.kernel.check_invariants() == []
