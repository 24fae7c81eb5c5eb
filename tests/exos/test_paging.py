"""Page replacement in the library OS: which pages ExOS gives up is its policy's choice."""

from __future__ import annotations

from typing import Any

import pytest

from exospin import posix
from exospin.exos.paging import FIFO, MRU, POLICIES, Clock
from exospin.systems import boot


class Refs:
    """Counts the memory references a policy charges."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, n: int) -> None:
        self.n += n


def filled(cls: type, vpns: list[int]) -> tuple[Any, Refs]:
    refs = Refs()
    p = cls(refs)
    for v in vpns:
        p.add(v)
    return p, refs


def test_does_fifo_give_up_the_oldest_pages_that_may_go() -> None:
    p, refs = filled(FIFO, [5, 1, 9, 3])
    assert refs.n == 4 * 2  # a link each
    assert p.choose(2, lambda v: v != 1, lambda v: None) == [5, 9]
    p.remove(5)
    assert list(p) == [1, 9, 3] and 5 not in p and len(p) == 3


def test_does_mru_give_up_the_newest_pages_first() -> None:
    p, _ = filled(MRU, [5, 1, 9, 3])
    assert p.choose(3, lambda v: v != 9, lambda v: None) == [3, 1, 5]


def test_does_clock_give_a_second_chance_and_make_the_next_access_visible() -> None:
    p, refs = filled(Clock, [1, 2, 3, 4])
    unbound: list[int] = []
    # every bit is set (pages arrive referenced): the hand clears them all, unbinding
    # each, and comes round to the first
    assert p.choose(1, lambda v: True, unbound.append) == [1]
    assert unbound == [1, 2, 3, 4]
    p.remove(1)
    p.referenced(3)  # a TLB miss on page 3: used again since the hand passed
    unbound.clear()
    assert p.choose(2, lambda v: True, unbound.append) == [2, 4]
    assert unbound == [3]  # 3 got its second chance
    before = refs.n
    p.referenced(3)  # the hand cleared its bit: set it (one store)
    p.referenced(3)  # already set: nothing to store
    assert refs.n == before + 1


def test_does_clock_stop_when_nothing_may_go() -> None:
    p, _ = filled(Clock, [1, 2, 3])
    assert p.choose(2, lambda v: False, lambda v: None) == []
    assert sorted(p) == [1, 2, 3]


def test_does_clock_leave_the_bit_of_a_page_that_may_not_go() -> None:
    """A pinned page passed by the hand keeps its bit: its second chance is not used up,
    and it is not unbound (its uses would go unseen otherwise)."""
    p, _ = filled(Clock, [1, 2, 3])
    unbound: list[int] = []
    assert p.choose(1, lambda v: v != 2, unbound.append) == [1]
    assert unbound == [1, 3]
    assert p.choose(1, lambda v: True, unbound.append) == [3]  # 2's bit was kept: it goes round


def scan_program(pages: int, rounds: int, box: dict[str, Any]):
    def program(argv: list[str]) -> int:
        ps = posix.page_size()
        base = posix.mmap(pages)
        for i in range(pages):
            posix.store(base + i * ps, 1000 + i)
        vm: Any = posix._p().vm  # type: ignore[attr-defined]  # ExOS' own statistics
        before = vm.statistics()
        total = sum(posix.load(base + i * ps) for _ in range(rounds) for i in range(pages))
        after = vm.statistics()
        box["ok"] = total == rounds * sum(1000 + i for i in range(pages))
        box["page_ins"] = after.page_ins - before.page_ins
        box["resident"] = after.pages_resident
        box["evictions"] = after.self_evictions

        def child() -> int:  # inherits the library OS: its policy and its limit
            c: Any = posix._p().vm  # type: ignore[attr-defined]
            box["child"] = (c.paging, c.max_resident)
            return 0
        posix.wait(posix.fork(child))
        return 0
    return program


@pytest.mark.parametrize("paging", sorted(POLICIES))
def test_does_a_resident_limit_hold_with_the_data_intact(paging: str) -> None:
    system = boot("aegis")
    box: dict[str, Any] = {}
    pid = system.start(scan_program(12, 3, box), [], "scan", paging=paging, max_resident=8)
    system.run()
    assert system.exit_status(pid) == 0
    assert box["ok"] and box["resident"] <= 8 and box["evictions"] > 0
    assert box["child"] == (paging, 8)
    assert not any(system.shutdown().values())


def test_does_mru_beat_fifo_on_a_scan_larger_than_memory() -> None:
    """Scanning 12 pages round and round in 8 frames: FIFO evicts each page just
    before its turn comes again, so every access faults; MRU keeps most of them."""
    got = {}
    for paging in ("fifo", "mru"):
        system = boot("aegis")
        box: dict[str, Any] = {}
        system.start(scan_program(12, 4, box), [], "scan", paging=paging, max_resident=8)
        system.run()
        got[paging] = box["page_ins"]
    assert got["fifo"] == 4 * 12  # every access of every round
    assert got["mru"] < got["fifo"] / 2


def test_is_a_bad_policy_or_limit_refused_with_a_message() -> None:
    system = boot("aegis")
    with pytest.raises(ValueError, match="unknown page-replacement policy 'lru'.*fifo"):
        system.start(lambda argv: 0, [], paging="lru")
    for bad in (0, -3, 2.5, "8"):
        with pytest.raises(ValueError, match="max_resident must be a positive int"):
            system.start(lambda argv: 0, [], max_resident=bad)  # type: ignore[arg-type]
    assert system.exos.procs == {}  # nothing was started


def test_does_each_workload_of_the_figure_favour_a_different_policy() -> None:
    """docs/exos.md's experiment, smaller: 24 pages, 600 loads, 12 resident."""
    from exospin.bench.report import paging_figure as fig

    got = {w: {p: fig.measure("ds5000", w, p, 12, pages=24, n=600) for p in POLICIES}
           for w in fig.WORKLOADS}
    assert all(r["intact"] and r["resident"] <= 12 for by in got.values() for r in by.values())
    ins = {w: {p: r["page_ins"] for p, r in by.items()} for w, by in got.items()}
    assert ins["scan"]["fifo"] == ins["scan"]["clock"] == 600 and ins["scan"]["mru"] < 400
    assert ins["hot/cold"]["clock"] < ins["hot/cold"]["fifo"]
    assert ins["phases"]["mru"] > 4 * max(ins["phases"]["fifo"], ins["phases"]["clock"])
    # Clock's knowing costs upcalls: more TLB-miss upcalls than FIFO for the same page-ins
    assert got["scan"]["clock"]["upcalls"] >= got["scan"]["fifo"]["upcalls"]


def test_is_the_figure_drawn_with_a_table(tmp_path) -> None:
    from exospin.bench.report import paging_figure as fig

    result = fig.run(pages=12, n=120, limits=(6, 9))
    assert fig.table(result, 9).splitlines()[0] == "| workload | fifo | clock | mru |"
    out = fig.plot(result, tmp_path / "paging.png")
    assert out.stat().st_size > 10_000
