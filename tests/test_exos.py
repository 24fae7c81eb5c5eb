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


@pytest.mark.parametrize("profile", ["ds5000", "alpha3000"])
@pytest.mark.parametrize("app, status", [
    ("faultalloc", 0),  # a handler that allocates on fault: every page reads back its note
    ("faultdie", 3),  # a handler that exits: the status it chose
    ("faultbadhandler", 1),  # a handler that raises: only its process dies
    ("faultevilhandler", 139),  # a handler that writes kernel memory: only its process dies
    ("forktree", 0),  # 15 processes, each branch reported once
    ("pingpong", 0),  # a counter passed over two pipes
    ("primes", 0),  # the sieve as a chain of processes over pipes
    ("spawn", 0),  # fork + exec, the parent's memory untouched
])
def test_does_each_acceptance_program_end_as_it_should(
    exos: Callable[..., System], app: str, status: int, profile: str
) -> None:
    assert run(exos(profile), APPS[app]) == status


def test_what_if_a_bad_handler_faults_in_one_process_while_others_run(exos: Callable[..., System]) -> None:
    s = exos()
    good = s.start(APPS["primes"], ["40"])
    bad = s.start(APPS["faultbadhandler"], [])
    evil = s.start(APPS["faultevilhandler"], [])
    s.run()
    assert (s.exit_status(good), s.exit_status(bad), s.exit_status(evil)) == (0, 1, 139)


# -------------------------------------------------------------------------- processes


def test_does_a_forked_child_see_a_copy_not_the_parents_memory(exos: Callable[..., System]) -> None:
    def child(addr: int) -> int:
        seen = posix.load(addr)
        posix.store(addr, 99)
        return seen

    def parent(argv: list[str]) -> int:
        a = posix.mmap(1)
        posix.store(a, 41)
        pid = posix.fork(child, a)
        _, seen = posix.wait(pid)
        return 0 if seen == 41 and posix.load(a) == 41 else 1

    assert run(exos(), parent) == 0


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


def test_what_if_a_parent_exits_before_its_child_has_copied_anything(exos: Callable[..., System]) -> None:
    """The frames the child still maps are handed to it, not freed under it."""
    out: dict[str, int] = {}

    def child(addr: int) -> int:
        posix.compute(200_000)  # outlive the parent
        out["child_sees"] = posix.load(addr)
        posix.store(addr, 5)  # its own now
        return 0

    def parent(argv: list[str]) -> int:
        a = posix.mmap(2)
        posix.store(a, 1234)
        posix.fork(child, a)
        return 0  # exit at once, without waiting

    run(exos(), parent)
    assert out["child_sees"] == 1234


def test_does_exec_replace_the_address_space_and_keep_the_pid(exos: Callable[..., System]) -> None:
    seen: dict[str, Any] = {}

    def newprog(argv: list[str]) -> int:
        seen["pid"] = posix.getpid()
        seen["argv"] = argv
        return 0

    def prog(argv: list[str]) -> int:
        seen["before"] = posix.getpid()
        posix.store(posix.mmap(1), 1)
        posix.exec(newprog, ["x"])
        return 1

    assert run(exos(), prog) == 0
    assert seen == {"before": seen["pid"], "pid": seen["before"], "argv": ["x"]}


def test_what_if_wait_is_called_with_no_children(exos: Callable[..., System]) -> None:
    def prog(argv: list[str]) -> int:
        with pytest.raises(posix.PosixError, match="ECHILD"):
            posix.wait()
        return 0

    assert run(exos(), prog) == 0


def test_what_if_fork_runs_out_of_environments(exos: Callable[..., System]) -> None:
    """Past the kernel's limit fork says EAGAIN; the children that exist still finish."""
    def sleeper() -> int:
        posix.compute(10_000)
        return 0

    def prog(argv: list[str]) -> int:
        kids = []
        with pytest.raises(posix.PosixError, match="EAGAIN"):
            for _ in range(100):
                kids.append(posix.fork(sleeper))
        for k in kids:
            assert posix.wait(k) == (k, 0)
        return len(kids)

    assert run(exos(), prog) == 62  # 63 environments, one is us


def test_what_if_a_copy_on_write_fault_finds_no_free_frame(exos: Callable[..., System]) -> None:
    """The writer dies with a message; its parent and the kernel go on; nothing leaks."""
    s = exos()
    nframes = s.machine.profile.memory_frames

    def writer(addr: int, npages: int) -> int:
        for i in range(npages):
            posix.store(addr + i * posix.page_size(), 1)  # a copy each: memory runs out
        return 0

    def prog(argv: list[str]) -> int:
        n = nframes // 2 + 50
        a = posix.mmap(n)
        for i in range(n):
            posix.store(a + i * posix.page_size(), 7)
        pid = posix.fork(writer, a, n)
        _, status = posix.wait(pid)
        return 0 if status != 0 and posix.load(a) == 7 else 1

    assert run(s, prog) == 0


# -------------------------------------------------------------------------------- IPC


def test_what_if_a_pipe_is_written_after_its_reader_exited(exos: Callable[..., System]) -> None:
    def reader(r: int, w: int) -> int:
        posix.close(w)
        posix.read(r, 1)
        return 0  # exits, closing the read end

    def prog(argv: list[str]) -> int:
        r, w = posix.pipe()
        pid = posix.fork(reader, r, w)
        posix.close(r)
        posix.write(w, b"x")
        posix.wait(pid)
        try:
            posix.write(w, b"more")
        except posix.PosixError as e:
            return 0 if e.errno == "EPIPE" else 2
        return 1

    assert run(exos(), prog) == 0


def test_does_a_pipe_carry_more_than_its_buffer_holds(exos: Callable[..., System]) -> None:
    def producer(w: int, r: int, n: int) -> int:
        posix.close(r)
        posix.write(w, bytes(i % 251 for i in range(n)))
        return 0

    def prog(argv: list[str]) -> int:
        n = 3 * posix.page_size() + 17  # several times the ring
        r, w = posix.pipe()
        pid = posix.fork(producer, w, r, n)
        posix.close(w)
        got = b""
        while chunk := posix.read(r, 1000):
            got += chunk
        posix.wait(pid)
        return 0 if got == bytes(i % 251 for i in range(n)) else 1

    assert run(exos(), prog) == 0


def test_do_bad_descriptors_get_ebadf(exos: Callable[..., System]) -> None:
    def prog(argv: list[str]) -> int:
        r, w = posix.pipe()
        for call in (lambda: posix.read(w, 1), lambda: posix.write(r, b"x"), lambda: posix.close(42)):
            with pytest.raises(posix.PosixError, match="EBADF"):
                call()
        return 0

    assert run(exos(), prog) == 0


def test_do_two_processes_see_each_others_stores_in_shared_memory(exos: Callable[..., System]) -> None:
    def child() -> int:
        a = posix.shm_open("board", 2)
        while posix.load(a) != 1:
            posix.thread_yield()
            posix.compute(100)
        posix.store(a + posix.page_size(), 77)
        return 0

    def prog(argv: list[str]) -> int:
        a = posix.shm_open("board", 2)
        pid = posix.fork(child)
        posix.store(a, 1)
        posix.wait(pid)
        return posix.load(a + posix.page_size())

    assert run(exos(), prog) == 77


def test_does_lrpc_return_the_servers_answer(exos: Callable[..., System]) -> None:
    def server() -> int:
        posix.rpc_register(0, lambda x: x * 3)
        posix.compute(500_000)  # stay alive while the client calls
        return 0

    def prog(argv: list[str]) -> int:
        pid = posix.fork(server)
        posix.compute(20_000)  # let it register
        answers = [posix.rpc_call(pid, 0, i) for i in range(5)]
        posix.wait(pid)
        return 0 if answers == [0, 3, 6, 9, 12] else 1

    assert run(exos(), prog) == 0


# --------------------------------------------------------------------- virtual memory


def test_do_the_appel_li_primitives_work_without_signals(exos: Callable[..., System]) -> None:
    def prog(argv: list[str]) -> int:
        pg = posix.page_size()
        a = posix.mmap(4)
        posix.store(a, 1)
        assert posix.dirty(a) and not posix.dirty(a + pg)
        posix.mprotect(a, 4, posix.PROT_READ)
        assert not posix.dirty(a)  # dirty since it was last made read-only
        faults: list[int] = []

        def handler(vaddr: int, write: bool) -> None:
            faults.append(vaddr)
            posix.mprotect(vaddr - vaddr % pg, 1, posix.PROT_RW)

        posix.on_fault(handler)
        for i in range(4):
            posix.store(a + i * pg, 10 + i)  # each faults once, the handler unprotects
        assert faults == [a + i * pg for i in range(4)]
        b = posix.alias(a)
        posix.store(b, 55)  # the same frame at two addresses
        return 0 if posix.load(a) == 55 else 1

    assert run(exos(), prog) == 0


def test_what_if_a_fault_handler_does_not_fix_the_fault(exos: Callable[..., System]) -> None:
    s = exos()
    pid = s.start(lambda argv: (posix.on_fault(lambda v, w: None), posix.load(posix.mmap(1, posix.PROT_NONE)))[0], [])
    s.run()
    assert s.exit_status(pid) == 139


def test_what_if_an_unhandled_fault_happens(exos: Callable[..., System]) -> None:
    s = exos()
    pid = s.start(lambda argv: posix.store(posix.mmap(1, posix.PROT_READ), 1), [])
    s.run()
    assert s.exit_status(pid) == 139


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


def test_can_a_handler_skip_the_same_store_again_and_again(exos: Callable[..., System]) -> None:
    def prog(argv: list[str]) -> int:
        a = posix.mmap(1, posix.PROT_READ)  # never bound yet: the first store is a TLB miss
        posix.on_fault(lambda vaddr, write: True)
        for _ in range(10):
            posix.store(a, 1)  # skipped every time, never "unfixed"
        return posix.load(a)

    assert run(exos(), prog) == 0


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


def test_do_wait_word_and_wake_pass_a_word_through_shared_memory(exos: Callable[..., System]) -> None:
    def child(parent: int) -> int:
        a = posix.shm_open("mailbox", 1)
        got = posix.wait_word(a, 0)  # blocks until the parent stores
        posix.store(a + posix.word_size(), got + 1)
        posix.wake(parent)
        return 0

    def prog(argv: list[str]) -> int:
        a = posix.shm_open("mailbox", 1)
        pid = posix.fork(child, posix.getpid())
        posix.compute(5_000)  # the child is asleep on the word by now
        posix.store(a, 41)
        posix.wake(pid)
        reply = posix.wait_word(a + posix.word_size(), 0)
        posix.wait(pid)
        with pytest.raises(posix.PosixError, match="ESRCH"):
            posix.wake(999)
        return reply

    assert run(exos(), prog) == 42
