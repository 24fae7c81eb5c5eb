"""The portable interface on every system: the same posix programs, the same answers.

Each test is a question about processes, memory or IPC, asked with a posix
program; the ``posix_system`` fixture runs it once per system that runs
posix programs (Aegis with ExOS, SPIN with its Unix extension, ...), and
at teardown checks that the system's invariants hold and nothing leaked.
The questions of the ExOS issue (after MIT's JOS lab) are here; what is
particular to one system stays in that system's tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from exospin import posix
from exospin.apps import APPS


def run(system: Any, program: Callable[..., Any], argv: list[str] | None = None) -> int | None:
    pid = system.start(program, argv or [], getattr(program, "__name__", "p"))
    system.run(until_us=2_000_000)
    return system.exit_status(pid)


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
    posix_system: Callable[..., Any], app: str, status: int, profile: str
) -> None:
    assert run(posix_system(profile), APPS[app]) == status


def test_what_if_a_bad_handler_faults_in_one_process_while_others_run(posix_system: Callable[..., Any]) -> None:
    s = posix_system()
    good = s.start(APPS["primes"], ["40"])
    bad = s.start(APPS["faultbadhandler"], [])
    evil = s.start(APPS["faultevilhandler"], [])
    s.run()
    assert (s.exit_status(good), s.exit_status(bad), s.exit_status(evil)) == (0, 1, 139)


def test_does_a_forked_child_see_a_copy_not_the_parents_memory(posix_system: Callable[..., Any]) -> None:
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

    assert run(posix_system(), parent) == 0


def test_what_if_a_parent_exits_before_its_child_has_copied_anything(posix_system: Callable[..., Any]) -> None:
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

    run(posix_system(), parent)
    assert out["child_sees"] == 1234


def test_does_exec_replace_the_address_space_and_keep_the_pid(posix_system: Callable[..., Any]) -> None:
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

    assert run(posix_system(), prog) == 0
    assert seen == {"before": seen["pid"], "pid": seen["before"], "argv": ["x"]}


def test_what_if_wait_is_called_with_no_children(posix_system: Callable[..., Any]) -> None:
    def prog(argv: list[str]) -> int:
        with pytest.raises(posix.PosixError, match="ECHILD"):
            posix.wait()
        return 0

    assert run(posix_system(), prog) == 0


def test_what_if_a_copy_on_write_fault_finds_no_free_frame(posix_system: Callable[..., Any]) -> None:
    """The writer dies with a message; its parent and the kernel go on; nothing leaks."""
    s = posix_system()
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


def test_what_if_a_pipe_is_written_after_its_reader_exited(posix_system: Callable[..., Any]) -> None:
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

    assert run(posix_system(), prog) == 0


def test_does_a_pipe_carry_more_than_its_buffer_holds(posix_system: Callable[..., Any]) -> None:
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

    assert run(posix_system(), prog) == 0


def test_do_bad_descriptors_get_ebadf(posix_system: Callable[..., Any]) -> None:
    def prog(argv: list[str]) -> int:
        r, w = posix.pipe()
        for call in (lambda: posix.read(w, 1), lambda: posix.write(r, b"x"), lambda: posix.close(42)):
            with pytest.raises(posix.PosixError, match="EBADF"):
                call()
        return 0

    assert run(posix_system(), prog) == 0


def test_do_two_processes_see_each_others_stores_in_shared_memory(posix_system: Callable[..., Any]) -> None:
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

    assert run(posix_system(), prog) == 77


def test_does_lrpc_return_the_servers_answer(posix_system: Callable[..., Any]) -> None:
    def server(w: int) -> int:
        posix.rpc_register(0, lambda x: x * 3)
        posix.write(w, b"ready")
        posix.compute(500_000)  # stay alive while the client calls
        return 0

    def prog(argv: list[str]) -> int:
        r, w = posix.pipe()
        pid = posix.fork(server, w)
        posix.read(r, 5)  # it has registered
        answers = [posix.rpc_call(pid, 0, i) for i in range(5)]
        posix.wait(pid)
        return 0 if answers == [0, 3, 6, 9, 12] else 1

    assert run(posix_system(), prog) == 0


def test_do_the_appel_li_primitives_work_without_signals(posix_system: Callable[..., Any]) -> None:
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

    assert run(posix_system(), prog) == 0


def test_what_if_a_fault_handler_does_not_fix_the_fault(posix_system: Callable[..., Any]) -> None:
    s = posix_system()
    pid = s.start(lambda argv: (posix.on_fault(lambda v, w: None), posix.load(posix.mmap(1, posix.PROT_NONE)))[0], [])
    s.run()
    assert s.exit_status(pid) == 139


def test_what_if_an_unhandled_fault_happens(posix_system: Callable[..., Any]) -> None:
    s = posix_system()
    pid = s.start(lambda argv: posix.store(posix.mmap(1, posix.PROT_READ), 1), [])
    s.run()
    assert s.exit_status(pid) == 139


def test_can_a_handler_skip_the_same_store_again_and_again(posix_system: Callable[..., Any]) -> None:
    def prog(argv: list[str]) -> int:
        a = posix.mmap(1, posix.PROT_READ)  # never bound yet: the first store is a TLB miss
        posix.on_fault(lambda vaddr, write: True)
        for _ in range(10):
            posix.store(a, 1)  # skipped every time, never "unfixed"
        return posix.load(a)

    assert run(posix_system(), prog) == 0


def test_do_wait_word_and_wake_pass_a_word_through_shared_memory(posix_system: Callable[..., Any]) -> None:
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

    assert run(posix_system(), prog) == 42
