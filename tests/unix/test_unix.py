"""Unix, the monolithic baseline: its kernel paths asked as questions.

Each test boots a fresh Unix, runs posix programs (through ``start``) and
reads the kernel's ``statistics()``; at teardown every system is shut down
and must have leaked nothing and kept every invariant (U1-U5, docs/unix.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest

from exospin import posix
from exospin.apps import APPS
from exospin.systems import UnixSystem, boot
from exospin.unix import NUMBERS, SIGBUS, SIGFPE, UnixProcess, UnixStats
from exospin.unix import param as uparam

Factory = Callable[..., UnixSystem]


@pytest.fixture
def unix() -> Iterator[Factory]:
    booted: list[UnixSystem] = []

    def factory(profile: str = "ds5000", seed: int = 0) -> UnixSystem:
        s = boot("unix", profile, seed=seed)
        booted.append(s)
        return cast(UnixSystem, s)

    yield factory
    for s in booted:
        left = s.shutdown()
        assert left == {"frames": 0, "processes": 0, "threads": 0, "pipes": 0}, left
        assert s.kernel.check_invariants() == []
        assert s.machine.tlb.statistics().valid == 0


def run(s: UnixSystem, program: Callable[..., Any], argv: list[str] | None = None) -> int | None:
    pid = s.start(program, argv or [], getattr(program, "__name__", "p"))
    s.run(until_us=2_000_000)
    return s.exit_status(pid)


def me() -> UnixProcess:
    return cast(UnixProcess, posix._p())


def stats(s: UnixSystem) -> UnixStats:
    return s.kernel.statistics()


# ------------------------------------------------------------- the system-call path


def test_does_getpid_take_the_whole_generic_path(unix: Factory) -> None:
    """Trap, the full trap frame saved and restored, dispatch through the table."""
    s = unix()
    p = s.machine.profile
    out: dict[str, int] = {}

    def prog(argv: list[str]) -> int:
        posix.getpid()
        c0 = s.machine.now
        pid = posix.getpid()
        out["cycles"] = s.machine.now - c0
        return 0 if pid == me().pid else 1

    assert run(s, prog) == 0
    frame = uparam.TRAPFRAME_WORDS
    least = p.trap_entry + frame * (p.reg_save + p.reg_restore) + p.trap_return
    assert out["cycles"] >= least
    assert stats(s).by_syscall["getpid"] == 2
    assert s.machine.cpu.statistics().exceptions["SYS"] == stats(s).syscalls


def test_what_if_a_system_call_number_or_argument_count_is_wrong(unix: Factory) -> None:
    def prog(argv: list[str]) -> int:
        p = me()
        with pytest.raises(posix.PosixError, match="ENOSYS"):
            p._sys(999)
        with pytest.raises(posix.PosixError, match="EINVAL"):
            p._sys(NUMBERS["getpid"], 1, 2)
        return 0

    assert run(unix(), prog) == 0


@pytest.mark.parametrize("call, errno", [
    (lambda: posix.mmap(0), "EINVAL"),
    (lambda: posix.mmap(1, 7), "EINVAL"),
    (lambda: posix.mmap("x"), "EINVAL"),  # type: ignore[arg-type]
    (lambda: posix.munmap(0x1000_0001, 1), "EINVAL"),
    (lambda: posix.mprotect(0x5000_0000, 1, posix.PROT_READ), "EINVAL"),
    (lambda: posix.mprotect(0x1000_0000, -1, posix.PROT_READ), "EINVAL"),
    (lambda: posix.alias(0x5000_0000), "EINVAL"),
    (lambda: posix.alias(0x9000_0000), "EFAULT"),
    (lambda: posix.dirty(-4), "EFAULT"),
    (lambda: posix.read(7, 1), "EBADF"),
    (lambda: posix.write(7, b"x"), "EBADF"),
    (lambda: posix.close("0"), "EBADF"),  # type: ignore[arg-type]
    (lambda: posix.shm_open("", 1), "EINVAL"),
    (lambda: posix.shm_open("k", 0), "EINVAL"),
    (lambda: posix.wait_word(0x9000_0000, 0), "EFAULT"),
    (lambda: posix.wait_word(0x5000_0000, 0), "EFAULT"),
    (lambda: posix.wait_word(0x1000_0002, 0), "EFAULT"),
    (lambda: posix.wake(12345), "ESRCH"),
    (lambda: posix.rpc_call(12345, 0), "ESRCH"),
    (lambda: posix.rpc_register(99, lambda: 0), "EINVAL"),
    (lambda: posix.rpc_register(0, 5), "EINVAL"),  # type: ignore[arg-type]
    (lambda: posix.thread_join(999), "ESRCH"),
    (lambda: posix.wait(0), "EINVAL"),
    (lambda: posix.exec(5, []), "EINVAL"),  # type: ignore[arg-type]
    (lambda: posix.fork(5), "EINVAL"),  # type: ignore[arg-type]
    (lambda: posix.exit("x"), "EINVAL"),  # type: ignore[arg-type]
    (lambda: me()._sys(NUMBERS["sigreturn"], 0x1234), "EINVAL"),
    (lambda: me()._sys(NUMBERS["sigaction"], 3, None), "EINVAL"),
    (lambda: me()._sys(NUMBERS["mutex_unlock"], 77), "EINVAL"),
])
def test_what_if_you_pass_ridiculous_arguments_to_system_calls(
    unix: Factory, call: Callable[[], Any], errno: str
) -> None:
    """Each call fails with its errno and a message, and changes nothing in the kernel."""
    s = unix()
    seen: dict[str, Any] = {}

    def state() -> tuple[Any, ...]:
        p = s.kernel.procs[me().pid]
        return (sorted((v, e.pfn, e.prot, e.cow, e.modified) for v, e in p.pt.items()), sorted(p.fds),
                p.next_va, s.kernel.frames.used(), len(s.kernel.pipes), sorted(p.sigtramp), len(s.kernel.procs))

    def prog(argv: list[str]) -> int:
        a = posix.mmap(1)
        posix.store(a, 1)
        before = state()
        try:
            call()
        except posix.PosixError as e:
            seen["errno"], seen["msg"] = e.errno, str(e)
        seen["same"] = state() == before
        return 0

    assert run(s, prog) == 0
    assert seen["errno"] == errno, seen
    assert seen["same"] and len(seen["msg"]) > len(errno) + 5


# ----------------------------------------------------------------- virtual memory


def test_is_memory_demand_zero_and_refilled_from_the_kernels_page_table(unix: Factory) -> None:
    s = unix()

    def prog(argv: list[str]) -> int:
        n = 100  # more pages than the TLB holds: the second pass misses and is refilled
        a = posix.mmap(n)
        zero = [posix.load(a + i * posix.page_size()) for i in range(n)]
        again = [posix.load(a + i * posix.page_size()) for i in range(n)]
        return 0 if zero == again == [0] * n else 1

    assert run(s, prog) == 0
    st = stats(s)
    assert st.demand_zero == st.page_faults == 100 and st.tlb_refills > 0


def test_does_the_first_store_to_a_clean_page_set_the_modified_bit_with_one_fault(unix: Factory) -> None:
    s = unix()
    out: dict[str, Any] = {}

    def prog(argv: list[str]) -> int:
        a = posix.mmap(1)
        posix.load(a)  # resident, clean: mapped read-only
        out["clean"] = posix.dirty(a)
        m0 = stats(s).mod_faults
        posix.store(a, 5)
        out["mod_faults"] = stats(s).mod_faults - m0
        out["dirty"] = posix.dirty(a)
        return 0

    assert run(s, prog) == 0
    assert out == {"clean": False, "mod_faults": 1, "dirty": True}


def test_is_fork_copy_on_write_and_copies_only_what_is_written(unix: Factory) -> None:
    s = unix()
    seen: dict[str, int] = {}

    def child(addr: int, npages: int) -> int:
        posix.store(addr, 1)
        return posix.load(addr + (npages - 1) * posix.page_size())

    def prog(argv: list[str]) -> int:
        n = 16
        a = posix.mmap(n)
        for i in range(n):
            posix.store(a + i * posix.page_size(), i)
        before = stats(s).cow_copies
        pid = posix.fork(child, a, n)
        _, status = posix.wait(pid)
        seen["copies"] = stats(s).cow_copies - before
        posix.store(a, 99)  # ours alone again: no copy
        seen["after"] = stats(s).cow_copies - before
        return status

    assert run(s, prog) == 15
    assert seen == {"copies": 1, "after": 1}
    assert stats(s).cow_reclaims >= 1


def test_is_an_aliased_frame_freed_when_its_last_mapping_goes(unix: Factory) -> None:
    s = unix()
    held: dict[str, int] = {}

    def prog(argv: list[str]) -> int:
        a = posix.mmap(1)
        posix.store(a, 5)
        b = posix.alias(a)
        held["both"] = stats(s).frames_used
        posix.munmap(a, 1)
        held["alias"] = stats(s).frames_used
        value = posix.load(b)
        posix.munmap(b, 1)
        held["none"] = stats(s).frames_used
        return value

    assert run(s, prog) == 5
    assert held["both"] == held["alias"] == held["none"] + 1


# ------------------------------------------------------------------------- signals


def test_is_a_protection_fault_a_signal_with_a_frame_copied_out_and_back(unix: Factory) -> None:
    s = unix()
    out: dict[str, Any] = {}

    def prog(argv: list[str]) -> int:
        pg = posix.page_size()
        a = posix.mmap(1)
        posix.store(a, 1)
        posix.mprotect(a, 1, posix.PROT_READ)

        def handler(vaddr: int, write: bool) -> None:
            out["in_handler"] = (vaddr, write)
            posix.mprotect(vaddr - vaddr % pg, 1, posix.PROT_RW)

        posix.on_fault(handler)
        st0 = stats(s)
        posix.store(a, 2)
        st1 = stats(s)
        out["signals"] = st1.signals - st0.signals
        out["sigreturns"] = st1.sigreturns - st0.sigreturns
        out["words_out"] = st1.copyout_words - st0.copyout_words
        out["words_in"] = st1.copyin_words - st0.copyin_words
        return posix.load(a)

    assert run(s, prog) == 2
    assert out["signals"] == out["sigreturns"] == 1
    assert out["words_out"] == out["words_in"] == uparam.SIGFRAME_WORDS


def test_does_the_frame_hold_the_saved_context_and_does_sigreturn_restore_it(unix: Factory) -> None:
    s = unix()
    out: dict[str, Any] = {}

    def prog(argv: list[str]) -> int:
        cpu = s.machine.cpu
        a = posix.mmap(1, posix.PROT_READ)
        cpu.regs[16] = 0x1234  # s0, as the program left it
        wb = posix.word_size()

        def handler(vaddr: int, write: bool) -> bool:
            t = s.kernel.current
            assert t is not None
            frame = t.sig_sp
            out["magic"] = posix.load(frame)
            out["s0"] = posix.load(frame + (uparam.SIGFRAME_HEADER + 15) * wb)
            cpu.regs[16] = 0xDEAD  # the handler clobbers s0
            return True

        posix.on_fault(handler)
        posix.store(a, 1)
        out["after"] = cpu.regs[16]
        return 0

    assert run(s, prog) == 0
    assert out == {"magic": uparam.SIGFRAME_MAGIC, "s0": 0x1234, "after": 0x1234}


def test_what_if_a_handler_corrupts_its_signal_frame(unix: Factory) -> None:
    """sigreturn refuses a frame that would return to kernel mode: EINVAL, and the
    handler's error ends the process."""
    s = unix()

    def prog(argv: list[str]) -> int:
        a = posix.mmap(1, posix.PROT_READ)
        wb = posix.word_size()

        def handler(vaddr: int, write: bool) -> None:
            t = s.kernel.current
            assert t is not None
            posix.store(t.sig_sp + (uparam.SIGFRAME_HEADER + 31) * wb, 0)  # the saved status register
        posix.on_fault(handler)
        posix.store(a, 1)
        return 0

    assert run(s, prog) == 1
    assert any("the frame would return to kernel mode" in text for _, _, text in s.kernel.journal)


def test_do_overflow_and_unaligned_access_reach_their_handlers(unix: Factory) -> None:
    s = unix()

    def prog(argv: list[str]) -> int:
        p = me()
        big = (1 << (8 * posix.word_size() - 1)) - 1
        p.signal(SIGFPE, lambda sig, vaddr, value: -7)
        r1 = s.machine.cpu.add(big, 1)
        a = posix.mmap(1)
        posix.store(a, 3)
        p.signal(SIGBUS, lambda sig, vaddr, value: 42)
        r2 = posix.load(a + 1)
        return 0 if (r1, r2) == (-7, 42) else 1

    assert run(s, prog) == 0
    assert stats(s).signals == 2


def test_what_if_there_is_no_handler_for_an_overflow(unix: Factory) -> None:
    s = unix()
    pid = s.start(lambda argv: s.machine.cpu.add((1 << 31) - 1, 1) and 0, [])
    s.run()
    assert s.exit_status(pid) == 128 + SIGFPE


def test_does_a_dying_process_take_only_itself_down(unix: Factory) -> None:
    s = unix()
    good = s.start(APPS["pingpong"], ["30"])
    bad = s.start(APPS["faultevilhandler"], [])
    s.run()
    assert (s.exit_status(good), s.exit_status(bad)) == (0, 139)
    assert any("fault inside the fault handler" in text for _, pid, text in s.kernel.journal if pid == bad)


# --------------------------------------------------------------------- threads


def test_do_kernel_threads_run_and_join(unix: Factory) -> None:
    s = unix()

    def prog(argv: list[str]) -> int:
        tids = [posix.thread_create(lambda k: k * k, k) for k in range(5)]
        return sum(posix.thread_join(t) for t in tids)

    assert run(s, prog) == 30
    assert stats(s).threads_created == 6


def test_does_a_condition_variable_pass_the_turn_between_kernel_threads(unix: Factory) -> None:
    def prog(argv: list[str]) -> int:
        m = posix.mutex()
        c = posix.condition(m)
        turn = [0]
        log: list[int] = []

        def player(me_: int) -> None:
            for _ in range(5):
                with m:
                    while turn[0] != me_:
                        c.wait()
                    log.append(me_)
                    turn[0] = 1 - me_
                    c.signal()

        ts = [posix.thread_create(player, i) for i in (0, 1)]
        for t in ts:
            posix.thread_join(t)
        return 0 if log == [0, 1] * 5 else 1

    assert run(unix(), prog) == 0


def test_do_user_level_threads_switch_without_system_calls(unix: Factory) -> None:
    s = unix()
    out: dict[str, int] = {}

    def prog(argv: list[str]) -> int:
        ut = me().uthreads()
        m = ut.mutex()
        c = ut.condition(m)
        turn = [0]
        log: list[int] = []

        def player(me_: int) -> int:
            for _ in range(4):
                with m:
                    while turn[0] != me_:
                        c.wait()
                    log.append(me_)
                    turn[0] = 1 - me_
                    c.signal()
            return me_

        calls = stats(s).syscalls
        ts = [ut.create(player, i) for i in (0, 1)]
        results = [ut.join(t) for t in ts]
        out["syscalls"] = stats(s).syscalls - calls
        ut.close()
        return 0 if log == [0, 1] * 4 and results == [0, 1] else 1

    assert run(s, prog) == 0
    assert out["syscalls"] == 0


def test_does_the_timer_preempt_a_thread_that_never_blocks(unix: Factory) -> None:
    s = unix()

    def spin() -> int:
        while True:
            posix.compute(10_000)

    def prog(argv: list[str]) -> int:
        pid = posix.fork(spin)
        posix.compute(2_000_000)  # several quanta: the child runs meanwhile, we still finish
        return 0 if pid > 0 else 1

    pid = s.start(prog)
    s.run(until_us=300_000)
    assert s.exit_status(pid) == 0
    assert stats(s).preemptions >= 2


# ----------------------------------------------------------------- determinism


def test_does_the_same_seed_give_the_same_final_clock(unix: Factory) -> None:
    clocks = []
    for _ in range(2):
        s = unix(seed=7)
        s.start(APPS["primes"], ["60"])
        s.start(APPS["forktree"], [])
        clocks.append((s.run(), stats(s)))
    assert clocks[0] == clocks[1]


def test_what_if_rpc_calls_reach_a_server_that_exits(unix: Factory) -> None:
    def server() -> int:
        posix.rpc_register(0, lambda x: x + 1)
        posix.compute(1_000_000)  # past a quantum: its server thread gets the processor
        return 0

    def prog(argv: list[str]) -> int:
        pid = posix.fork(server)
        first = posix.rpc_call(pid, 0, 1)
        posix.wait(pid)
        with pytest.raises(posix.PosixError, match="ESRCH"):
            posix.rpc_call(pid, 0, 1)
        return first

    assert run(unix(), prog) == 2


def test_does_exec_end_the_other_threads_and_keep_the_descriptors(unix: Factory) -> None:
    s = unix()
    out: dict[str, Any] = {}

    def newprog(argv: list[str]) -> int:
        fd = int(argv[0])
        posix.write(fd, b"hi")  # the descriptor survived exec
        out["threads"] = len(s.kernel.procs[posix.getpid()].threads)
        return 0

    def prog(argv: list[str]) -> int:
        r, w = posix.pipe()
        posix.thread_create(lambda: posix.read(r, 1))  # blocks for ever
        posix.thread_yield()
        posix.exec(newprog, [str(w)])
        return 1

    assert run(s, prog) == 0
    assert out["threads"] == 1


def test_is_an_idle_kernel_done_when_every_thread_sleeps_for_ever(unix: Factory) -> None:
    """A deadlock ends run() at once (with no event pending that could wake anyone)."""
    s = unix()

    def prog(argv: list[str]) -> int:
        r, w = posix.pipe()
        posix.read(r, 1)  # we hold the write end: no one will ever write
        return 0

    pid = s.start(prog)
    assert s.run() < 1_000
    assert s.exit_status(pid) is None  # still asleep; the shutdown ends it
