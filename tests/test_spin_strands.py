"""SPIN's strands and global scheduler, and its memory services, asked as questions."""

from __future__ import annotations

from typing import Any

import pytest

from exospin import posix
from exospin.apps import APPS
from exospin.machine import NREGS
from exospin.spin import PROT_READ, PROT_RW, RETRY, MemoryFault
from exospin.spin.strands import CALLEE_SAVED
from exospin.systems import boot


@pytest.fixture(params=["ds5000", "alpha3000"])
def spin(request: pytest.FixtureRequest) -> Any:
    s = boot("spin", request.param)
    yield s
    assert not s.kernel.check_invariants()
    leaked = s.shutdown()
    assert not any(leaked.values()), leaked


# ------------------------------------------------------------------ the scheduler


def test_do_two_busy_strands_of_one_priority_share_the_processor(spin: Any) -> None:
    k, cpu = spin.kernel, spin.machine.cpu
    order: list[str] = []

    def busy(name: str) -> str:
        for _ in range(40):
            cpu.compute(k.sched.quantum // 8)  # 40 x 1/8 quantum: five quanta each
            if not order or order[-1] != name:
                order.append(name)
        return name

    a = k.sched.create(busy, ("a",), "a")
    b = k.sched.create(busy, ("b",), "b")
    spin.run()
    assert a.result == "a" and b.result == "b"
    assert k.sched.preemptions >= 4
    assert order.count("a") >= 2 and order.count("b") >= 2  # they alternated, not one after the other


def test_does_a_higher_priority_strand_take_the_processor_when_unblocked(spin: Any) -> None:
    k = spin.kernel
    log: list[str] = []

    def urgent() -> None:
        log.append("urgent blocks")
        k.sched.block()
        log.append("urgent runs")

    def worker(u: Any) -> None:
        log.append("worker unblocks")
        k.sched.unblock(u)  # urgent outranks us: it runs before this call returns
        log.append("worker continues")

    u = k.sched.create(urgent, (), "urgent", priority=20)
    k.sched.create(worker, (u,), "worker", priority=10)
    spin.run()
    assert log == ["urgent blocks", "worker unblocks", "urgent runs", "worker continues"]


def test_is_the_top_ready_priority_right_as_queues_fill_and_empty(spin: Any) -> None:
    """The scheduler finds the top from a bitmap of non-empty queues (check_invariants
    compares both with the queues); asked with strands ready at three priorities."""
    k = spin.kernel
    seen: list[tuple[int, list[str]]] = []

    def body(name: str) -> None:
        seen.append((k.sched._top, k.check_invariants()))
        k.sched.yield_()
        seen.append((k.sched._top, k.check_invariants()))

    for name, prio in (("low", 3), ("mid", 12), ("mid2", 12), ("high", 30)):
        k.sched.create(body, (name,), name, priority=prio)
    assert k.sched._top == 30 and not k.check_invariants()
    spin.run()
    assert seen and all(not bad for _, bad in seen)
    assert k.sched._top == -1 and k.sched._nonempty == 0


def test_is_keeping_the_ready_bitmap_charged_as_the_kernel_code_it_stands_for(spin: Any) -> None:
    """Making ready: link + mark (+ a store when the top rises); a queue emptied: clear, and
    the search for the top only when other queues are still ready."""
    k, loop = spin.kernel, spin.machine.loop
    sc = k.sched
    ready = sc._c_create + sc._c_link + sc._c_mark

    picked: list[Any] = []

    def charged(fn: Any, *args: Any) -> int:
        t0 = loop.now
        r = fn(*args)
        if fn == sc._pick:
            picked.append(r)
        return loop.now - t0

    assert charged(sc.create, lambda: None, (), "a", 5) == ready + sc._c_raise_top
    assert charged(sc.create, lambda: None, (), "b", 5) == ready
    assert charged(sc.create, lambda: None, (), "c", 9) == ready + sc._c_raise_top
    assert charged(sc._pick) == sc._c_pick + sc._c_clear + sc._c_search  # 9 empties, 5 left
    assert charged(sc._pick) == sc._c_pick                              # 5 keeps one
    assert charged(sc._pick) == sc._c_pick + sc._c_clear                # the word is zero
    assert sc._top == -1 and sc._c_search > 0
    for strand in picked:  # back in line, to run and end
        sc._make_ready(strand)
    spin.run()
    assert not sc.strands


def test_does_a_run_stopped_by_its_time_limit_keep_the_ready_bitmap(spin: Any) -> None:
    """The time limit puts the running strand back first in its queue: the bitmap must say
    that queue is not empty, or the strand is never picked again."""
    k, cpu = spin.kernel, spin.machine.cpu
    done: list[str] = []

    def busy() -> None:
        for _ in range(4):
            cpu.compute(k.sched.quantum // 2)
        done.append("busy")

    k.sched.create(busy, (), "busy", priority=7)
    k.run(until=spin.machine.loop.now + k.sched.quantum // 4)
    assert not done and not k.check_invariants()
    assert k.sched._top == 7
    spin.run()
    assert done == ["busy"]


def test_does_join_wait_for_the_result_and_does_kill_wake_the_joiner(spin: Any) -> None:
    k = spin.kernel
    got: dict[str, Any] = {}

    def sleeper() -> int:
        k.sched.block()  # never unblocked
        return 1

    def waiter(s: Any) -> None:
        got["joined"] = k.sched.join(s)

    s = k.sched.create(sleeper, (), "sleeper")
    k.sched.create(waiter, (s,), "waiter")
    spin.run()
    assert "joined" not in got and k.sched.statistics().blocked == 2
    k.sched.kill(s, "test")
    spin.run()
    assert got == {"joined": None} and s.error == "test" and not k.sched.strands


def test_does_a_switch_save_every_register_only_when_the_strand_was_preempted(spin: Any) -> None:
    k, p = spin.kernel, spin.machine.profile
    saved: list[int] = []
    kc = k.sched.Checkpoint
    orig = k.sched._checkpoint

    def spy(s: Any) -> None:
        before = spin.machine.now
        orig(s)
        saved.append(spin.machine.now - before)

    k.dispatcher.uninstall(kc.intrinsic_handler)
    k.dispatcher.install(kc, spy)

    def blocker() -> None:
        k.sched.yield_()  # a call: callee-saved registers

    def busy() -> None:
        spin.machine.cpu.compute(2 * k.sched.quantum)  # preempted by the timer

    k.sched.create(blocker, (), "blocker")
    k.sched.create(busy, (), "busy")
    k.sched.create(busy, (), "busy2")
    spin.run()
    assert CALLEE_SAVED * p.reg_save in saved and NREGS * p.reg_save in saved


def test_is_a_spin_run_deterministic(spin: Any) -> None:
    def once() -> tuple[int, int, int | None]:
        s = boot("spin", spin.machine.profile.name, seed=3)
        pid = s.start(APPS["primes"], ["60"])
        s.run()
        out = (s.machine.now, s.kernel.sched.switches, s.exit_status(pid))
        s.shutdown()
        return out

    assert once() == once()


# ------------------------------------------------------------------ memory services


def test_does_page_not_present_let_a_handler_map_the_page(spin: Any) -> None:
    k, mem, cpu = spin.kernel, spin.kernel.memory, spin.machine.cpu
    ctx = mem.create("test")
    frames: list[Any] = []

    def not_present(c: Any, vaddr: int, write: bool) -> bool:
        f = mem.allocate()
        frames.append(f)
        mem.add_mapping(c, vaddr, f, PROT_RW)
        return True

    k.dispatcher.install(mem.PageNotPresent, not_present)
    va = 0x40000

    def user() -> int:
        cpu.store(va + 8, 7)
        return cpu.load(va + 8) + cpu.load(va)

    s = k.sched.create(user, (), "user", space=ctx)
    spin.run()
    assert s.result == 7 and len(frames) == 1 and mem.is_dirty(ctx, va)
    mem.destroy(ctx)
    mem.deallocate(frames[0])


def test_what_if_a_strand_touches_an_unmapped_page(spin: Any) -> None:
    k, mem, cpu = spin.kernel, spin.kernel.memory, spin.machine.cpu
    ctx = mem.create("bad")
    s = k.sched.create(lambda: cpu.load(0x50000), (), "victim", space=ctx)
    other = k.sched.create(lambda: 5, (), "bystander")
    spin.run()
    assert s.error is not None and "page not present" in s.error and other.result == 5
    mem.destroy(ctx)


def test_does_protecting_a_page_take_effect_on_the_next_store(spin: Any) -> None:
    k, mem, cpu = spin.kernel, spin.kernel.memory, spin.machine.cpu
    ctx = mem.create("p")
    f = mem.allocate()
    mem.add_mapping(ctx, 0x60000, f, PROT_RW)
    faults: list[int] = []

    def fault(c: Any, vaddr: int, write: bool) -> int:
        faults.append(vaddr)
        mem.protect(c, vaddr - vaddr % spin.machine.profile.page_size, 1, PROT_RW)
        return RETRY

    k.dispatcher.install(mem.ProtectionFault, fault)

    def user() -> int:
        cpu.store(0x60000, 1)  # in the TLB, writable
        mem.protect(ctx, 0x60000, 1, PROT_READ)  # (the kernel on our behalf)
        cpu.store(0x60004 if spin.machine.profile.word_bytes == 4 else 0x60008, 2)
        return cpu.load(0x60000)

    s = k.sched.create(user, (), "user", space=ctx)
    spin.run()
    assert s.result == 1 and len(faults) == 1
    mem.destroy(ctx)
    mem.deallocate(f)


def test_does_deallocating_a_frame_remove_its_mappings(spin: Any) -> None:
    mem = spin.kernel.memory
    a, b = mem.create("a"), mem.create("b")
    f = mem.allocate()
    mem.add_mapping(a, 0x10000, f, PROT_RW)
    mem.add_mapping(b, 0x20000, f, PROT_READ)
    mem.deallocate(f)
    assert mem.examine_mapping(a, 0x10000) is None and mem.examine_mapping(b, 0x20000) is None
    assert not spin.kernel.check_invariants()
    mem.destroy(a)
    mem.destroy(b)


@pytest.mark.parametrize("call, message", [
    (lambda m, c, f: m.add_mapping(c, 0x10001, f, PROT_RW), "not a page-aligned user address"),
    (lambda m, c, f: m.add_mapping(c, 0x8000_0000, f, PROT_RW), "not a page-aligned user address"),
    (lambda m, c, f: m.add_mapping(c, 0x10000, f, 7), "bad protection"),
    (lambda m, c, f: m.add_mapping(c, 0x10000, "frame 3", PROT_RW), "not a frame"),
    (lambda m, c, f: m.add_mapping("space", 0x10000, f, PROT_RW), "not an address space"),
    (lambda m, c, f: m.remove_mapping(c, 0x10000), "is not mapped"),
    (lambda m, c, f: m.va_allocate(c, 0), "positive int"),
    (lambda m, c, f: m.protect(c, 0x10000, -1, PROT_READ), "positive int"),
])
def test_do_bad_memory_requests_get_a_precise_error_and_change_nothing(spin: Any, call: Any, message: str) -> None:
    mem = spin.kernel.memory
    c, f = mem.create("x"), mem.allocate()
    before = mem.statistics()
    with pytest.raises(MemoryFault, match=message):
        call(mem, c, f)
    assert mem.statistics() == before
    mem.destroy(c)
    mem.deallocate(f)
    with pytest.raises(MemoryFault, match="deallocated"):
        mem.add_mapping(mem.create("y"), 0x10000, f, PROT_RW)
    mem.destroy(next(iter(mem.contexts.values())))


def test_does_reclaim_find_a_frame_when_memory_runs_out(spin: Any) -> None:
    k, mem = spin.kernel, spin.kernel.memory
    held = [mem.allocate() for _ in range(len(mem.free))]
    k.dispatcher.install(mem.Reclaim, lambda n: (mem.deallocate(held.pop()), 1)[1])
    f = mem.allocate()  # the handler gave one back
    assert mem.statistics().reclaims == 1
    k.dispatcher.uninstall(k.memory.Reclaim.handlers[-1])
    with pytest.raises(MemoryFault, match="out of physical frames"):
        mem.allocate()
    for x in [*held, f]:
        mem.deallocate(x)


def test_does_a_posix_program_see_its_pages_dirty_only_after_a_store(spin: Any) -> None:
    def prog(argv: list[str]) -> int:
        a = posix.mmap(2)
        posix.load(a)
        clean = posix.dirty(a)
        posix.store(a, 1)
        return 0 if (not clean and posix.dirty(a) and not posix.dirty(a + posix.page_size())) else 1

    pid = spin.start(prog)
    spin.run()
    assert spin.exit_status(pid) == 0
