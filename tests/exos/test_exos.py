"""ExOS: processes, virtual memory and IPC in user space, asked as questions.

Every test runs posix programs as ExOS processes on a fresh Aegis and, at
teardown, checks that every frame, capability, slice and environment came
back and that the kernel's invariants hold.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from exospin import posix
from exospin.aegis import BadCapability, BadFrame, Capability, Rights
from exospin.apps import APPS
from exospin.systems import System


def run(system: System, program: Callable[..., Any], argv: list[str] | None = None) -> int | None:
    pid = system.start(program, argv or [], getattr(program, "__name__", "p"))
    system.run(until_us=2_000_000)
    return system.exit_status(pid)


# ------------------------------------------------------------------ the named questions


# -------------------------------------------------------------------------- processes


def test_is_fork_copy_on_write_rather_than_eager(exos: Callable[..., System]) -> None:
    counts: dict[str, int] = {}

    def child(addr: int, npages: int) -> int:
        posix.store(addr, 1)  # one page written: one copy
        return posix.load(addr + (npages - 1) * posix.page_size())

    def parent(argv: list[str]) -> int:
        n = 16
        a = posix.mmap(n)
        for i in range(n):
            posix.store(a + i * posix.page_size(), i)
        pid = posix.fork(child, a, n)
        _, status = posix.wait(pid)
        p = posix._p()
        counts["parent_copies"] = p.vm.cow_copies  # type: ignore[attr-defined]
        return status

    s = exos()
    assert run(s, parent) == 15
    assert counts["parent_copies"] == 0  # the parent copied nothing: its pages came back as its own


def test_what_if_the_kernel_revokes_frames_from_an_exos_process(exos: Callable[..., System]) -> None:
    """ExOS pages out private pages of its own choosing; the data survives."""
    s = exos()

    def prog(argv: list[str]) -> int:
        n = 20
        a = posix.mmap(n)
        for i in range(n):
            posix.store(a + i * posix.page_size(), i + 1)
        posix.compute(2_000_000)  # the revocation comes meanwhile
        return 0 if [posix.load(a + i * posix.page_size()) for i in range(n)] == list(range(1, n + 1)) else 1

    pid = s.start(prog)
    s.machine.loop.schedule(s.machine.profile.cycles_for_us(1000), lambda: s.kernel.revoke(s.started[pid], 6))
    s.run()
    assert s.exit_status(pid) == 0
    st = s.kernel.statistics()
    assert (st.revocations, st.revocations_complied, st.aborts) == (1, 1, 0)


# ------------------------------------------------------------ two library OSes at once


def test_do_exos_and_physos_share_one_aegis_without_touching_each_others_frames(
    exos: Callable[..., System],
) -> None:
    s = exos()
    pid = s.start(APPS["primes"], ["60"])
    out: dict[str, Any] = {}

    def phys(os_: Any, sys: Any) -> int:
        addrs = os_.alloc(4)
        for i, a in enumerate(addrs):
            os_.store(a, i + 100)
        sys.yield_()
        theirs = [p for p, o in enumerate(s.kernel.frame_owner) if o and o != sys.env_id()]
        out["theirs"] = len(theirs)
        with pytest.raises(BadFrame):
            sys.frame_alloc(theirs[0])
        with pytest.raises(BadCapability):
            sys.tlb_write(0x10_0000, Capability("frame", theirs[0], Rights.ALL), True)
        out["mine"] = [os_.load(a) for a in addrs]
        os_.load(theirs[0] * sys.page_size)  # not its frame: PhysOS ends it
        return 0

    eid = s.spawn(phys, "physos", libos="physos")
    s.run()
    assert s.exit_status(pid) == 0
    assert out["theirs"] > 0 and out["mine"] == [100, 101, 102, 103]
    assert "does not hold" in s.kernel.final_stats[eid].fate


def test_what_if_a_fault_happens_inside_the_fault_handler(exos: Callable[..., System]) -> None:
    """The process ends with a message naming the fault; the kernel and others go on."""
    s = exos()

    def prog(argv: list[str]) -> int:
        bad = posix.mmap(1, posix.PROT_NONE)
        posix.on_fault(lambda vaddr, write: posix.load(bad))  # the handler faults on the same page
        posix.load(bad)
        return 0

    pid = s.start(prog)
    other = s.start(APPS["pingpong"], [])
    s.run()
    assert s.exit_status(pid) == 139 and s.exit_status(other) == 0
    assert any("fault inside the fault handler" in text for _, p, text in s.exos.journal if p == pid)


def test_does_unprotecting_in_the_handler_cost_exactly_one_fault(exos: Callable[..., System]) -> None:
    s = exos()
    seen: dict[str, int] = {}

    def prog(argv: list[str]) -> int:
        pg = posix.page_size()
        a = posix.mmap(1)
        posix.store(a, 1)
        posix.mprotect(a, 1, posix.PROT_READ)
        posix.on_fault(lambda vaddr, write: posix.mprotect(vaddr - vaddr % pg, 1, posix.PROT_RW))
        before = s.kernel.statistics().exceptions
        posix.store(a, 2)
        seen["exceptions"] = s.kernel.statistics().exceptions - before
        return posix.load(a)

    assert run(s, prog) == 2
    assert seen["exceptions"] == 1


def test_is_an_aliased_frame_freed_when_its_last_mapping_goes(exos: Callable[..., System]) -> None:
    s = exos()
    held: dict[str, int] = {}

    def prog(argv: list[str]) -> int:
        a = posix.mmap(1)
        posix.store(a, 5)
        b = posix.alias(a)
        held["with_both"] = s.kernel.statistics().frames_owned
        posix.munmap(a, 1)
        held["with_alias"] = s.kernel.statistics().frames_owned
        value = posix.load(b)
        posix.munmap(b, 1)
        held["with_none"] = s.kernel.statistics().frames_owned
        return value

    assert run(s, prog) == 5
    assert held["with_both"] == held["with_alias"] == held["with_none"] + 1


def test_what_if_the_system_shuts_down_while_threads_are_blocked(exos: Callable[..., System]) -> None:
    """Every thread of every process is unwound; the fixture checks nothing is left."""
    s = exos()

    def prog(argv: list[str]) -> int:
        m = posix.mutex()
        c = posix.condition(m)

        def waiter() -> None:
            with m:
                c.wait()  # never signalled

        def spinner() -> None:
            while True:
                posix.compute(1000)

        ts = [posix.thread_create(waiter) for _ in range(3)] + [posix.thread_create(spinner)]
        r, _ = posix.pipe()
        posix.fork(lambda: posix.read(r, 1))  # blocks for ever
        posix.thread_join(ts[0])
        return 0

    s.start(prog)
    s.run(until_us=20_000)
    assert len(s.kernel.envs) == 2  # both still running when the run stops


