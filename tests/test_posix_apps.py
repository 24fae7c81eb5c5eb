"""The applications and the posix named questions, on every system.

Each test is a question about processes, memory or IPC, asked with a posix
program, and runs once per system (``SYSTEMS``): Aegis with ExOS, SPIN with
its Unix extension, and the monolithic Unix, lean and as the faithful Ultrix
and OSF/1 baselines (``BASELINES``: the same programs, the same results). Only ``exospin.posix`` and the system's
``start/run/exit_status/shutdown/statistics`` are used; at teardown every
system is shut down and must have leaked nothing, kept every invariant and
left no TLB entry behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from exospin import posix
from exospin.apps import APPS
from exospin.systems import boot

SYSTEMS = ["aegis", "spin", "unix"]
#: the faithful baselines (unix/baseline.py) must run every program the lean unix runs, with
#: the same results: each is "unix:BASELINE" here, booted as boot("unix", baseline=...)
BASELINES = ["unix:ultrix", "unix:osf1"]

Factory = Callable[..., Any]


def assert_clean(s: Any) -> None:
    left = s.shutdown()
    if s.name == "aegis":  # ExOS' shared tables, in user space
        assert not s.exos.sharers and not s.exos.owner, "sharing records outlived the processes"
    assert not any(left.values()), left
    assert s.kernel.check_invariants() == []
    assert s.machine.tlb.statistics().valid == 0, "TLB entries outlived their processes"


@pytest.fixture(params=SYSTEMS + BASELINES)
def make(request: pytest.FixtureRequest) -> Iterator[Factory]:
    """A factory ``make(profile="ds5000", seed=0)`` of booted systems of the parametrised name."""
    booted: list[Any] = []
    name, _, baseline = request.param.partition(":")

    def factory(profile: str = "ds5000", seed: int = 0) -> Any:
        s = boot(name, profile, seed=seed, baseline=baseline or None)
        booted.append(s)
        return s

    yield factory
    for s in booted:
        assert_clean(s)


def run(system: Any, program: Callable[..., Any], argv: list[str] | None = None) -> int | None:
    pid = system.start(program, argv or [], getattr(program, "__name__", "p"))
    system.run(until_us=2_000_000)
    return system.exit_status(pid)  # type: ignore[no-any-return]


@pytest.mark.parametrize("profile", ["ds5000", "alpha3000"])
@pytest.mark.parametrize("app, status", [
    ("faultalloc", 0), ("faultdie", 3), ("faultbadhandler", 1), ("faultevilhandler", 139),
    ("forktree", 0), ("pingpong", 0), ("primes", 0), ("spawn", 0),
])
def test_does_each_acceptance_program_end_as_it_should(make: Factory, app: str, status: int, profile: str) -> None:
    assert run(make(profile), APPS[app]) == status


def test_what_if_a_bad_handler_faults_in_one_process_while_others_run(make: Factory) -> None:
    s = make()
    good = s.start(APPS["primes"], ["40"])
    bad = s.start(APPS["faultbadhandler"], [])
    evil = s.start(APPS["faultevilhandler"], [])
    s.run()
    assert (s.exit_status(good), s.exit_status(bad), s.exit_status(evil)) == (0, 1, 139)


def test_does_a_forked_child_see_a_copy_not_the_parents_memory(make: Factory) -> None:
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

    assert run(make(), parent) == 0


def test_what_if_a_parent_exits_before_its_child_has_copied_anything(make: Factory) -> None:
    out: dict[str, int] = {}

    def child(addr: int) -> int:
        posix.compute(200_000)
        out["child_sees"] = posix.load(addr)
        posix.store(addr, 5)
        return 0

    def parent(argv: list[str]) -> int:
        a = posix.mmap(2)
        posix.store(a, 1234)
        posix.fork(child, a)
        return 0

    run(make(), parent)
    assert out["child_sees"] == 1234


def test_does_exec_replace_the_address_space_and_keep_the_pid(make: Factory) -> None:
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

    assert run(make(), prog) == 0
    assert seen == {"before": seen["pid"], "pid": seen["before"], "argv": ["x"]}


def test_what_if_wait_is_called_with_no_children(make: Factory) -> None:
    def prog(argv: list[str]) -> int:
        with pytest.raises(posix.PosixError, match="ECHILD"):
            posix.wait()
        return 0

    assert run(make(), prog) == 0


def test_what_if_fork_runs_out_of_processes(make: Factory) -> None:
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

    s = make()
    # each system has its own limit: ExOS and Unix, 63 address-space identifiers (one is
    # us); SPIN's Unix extension, 64 processes
    assert run(s, prog) == {"aegis": 62, "unix": 62, "spin": 63}[s.name]


def test_what_if_a_copy_on_write_fault_finds_no_free_frame(make: Factory) -> None:
    s = make()
    nframes = s.machine.profile.memory_frames

    def writer(addr: int, npages: int) -> int:
        for i in range(npages):
            posix.store(addr + i * posix.page_size(), 1)
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


def test_what_if_a_pipe_is_written_after_its_reader_exited(make: Factory) -> None:
    def reader(r: int, w: int) -> int:
        posix.close(w)
        posix.read(r, 1)
        return 0

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

    assert run(make(), prog) == 0


def test_does_a_pipe_carry_more_than_its_buffer_holds(make: Factory) -> None:
    def producer(w: int, r: int, n: int) -> int:
        posix.close(r)
        posix.write(w, bytes(i % 251 for i in range(n)))
        return 0

    def prog(argv: list[str]) -> int:
        n = 3 * posix.page_size() + 17
        r, w = posix.pipe()
        pid = posix.fork(producer, w, r, n)
        posix.close(w)
        got = b""
        while chunk := posix.read(r, 1000):
            got += chunk
        posix.wait(pid)
        return 0 if got == bytes(i % 251 for i in range(n)) else 1

    assert run(make(), prog) == 0


def test_do_bad_descriptors_get_ebadf(make: Factory) -> None:
    def prog(argv: list[str]) -> int:
        r, w = posix.pipe()
        for call in (lambda: posix.read(w, 1), lambda: posix.write(r, b"x"), lambda: posix.close(42)):
            with pytest.raises(posix.PosixError, match="EBADF"):
                call()
        return 0

    assert run(make(), prog) == 0


def test_do_two_processes_see_each_others_stores_in_shared_memory(make: Factory) -> None:
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

    assert run(make(), prog) == 77


def test_does_lrpc_return_the_servers_answer(make: Factory) -> None:
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

    assert run(make(), prog) == 0


def test_do_the_appel_li_primitives_work(make: Factory) -> None:
    def prog(argv: list[str]) -> int:
        pg = posix.page_size()
        a = posix.mmap(4)
        posix.store(a, 1)
        assert posix.dirty(a) and not posix.dirty(a + pg)
        posix.mprotect(a, 4, posix.PROT_READ)
        assert not posix.dirty(a)
        faults: list[int] = []

        def handler(vaddr: int, write: bool) -> None:
            faults.append(vaddr)
            posix.mprotect(vaddr - vaddr % pg, 1, posix.PROT_RW)

        posix.on_fault(handler)
        for i in range(4):
            posix.store(a + i * pg, 10 + i)
        assert faults == [a + i * pg for i in range(4)]
        b = posix.alias(a)
        posix.store(b, 55)
        return 0 if posix.load(a) == 55 else 1

    assert run(make(), prog) == 0


def test_what_if_a_fault_handler_does_not_fix_the_fault(make: Factory) -> None:
    s = make()
    pid = s.start(lambda argv: (posix.on_fault(lambda v, w: None), posix.load(posix.mmap(1, posix.PROT_NONE)))[0], [])
    s.run()
    assert s.exit_status(pid) == 139


def test_what_if_an_unhandled_fault_happens(make: Factory) -> None:
    s = make()
    pid = s.start(lambda argv: posix.store(posix.mmap(1, posix.PROT_READ), 1), [])
    s.run()
    assert s.exit_status(pid) == 139


def test_what_if_a_fault_happens_inside_the_fault_handler(make: Factory) -> None:
    s = make()

    def prog(argv: list[str]) -> int:
        bad = posix.mmap(1, posix.PROT_NONE)
        posix.on_fault(lambda vaddr, write: posix.load(bad))
        posix.load(bad)
        return 0

    pid = s.start(prog)
    other = s.start(APPS["pingpong"], [])
    s.run()
    assert s.exit_status(pid) == 139 and s.exit_status(other) == 0


def test_can_a_handler_skip_the_same_store_again_and_again(make: Factory) -> None:
    def prog(argv: list[str]) -> int:
        a = posix.mmap(1, posix.PROT_READ)
        posix.on_fault(lambda vaddr, write: True)
        for _ in range(10):
            posix.store(a, 1)
        return posix.load(a)

    assert run(make(), prog) == 0


def test_what_if_the_system_shuts_down_while_threads_are_blocked(make: Factory) -> None:
    s = make()

    def prog(argv: list[str]) -> int:
        m = posix.mutex()
        c = posix.condition(m)

        def waiter() -> None:
            with m:
                c.wait()

        def spinner() -> None:
            while True:
                posix.compute(1000)

        ts = [posix.thread_create(waiter) for _ in range(3)] + [posix.thread_create(spinner)]
        r, _ = posix.pipe()
        posix.fork(lambda: posix.read(r, 1))
        posix.thread_join(ts[0])
        return 0

    s.start(prog)
    s.run(until_us=20_000)


def test_do_wait_word_and_wake_pass_a_word_through_shared_memory(make: Factory) -> None:
    def child(parent: int) -> int:
        a = posix.shm_open("mailbox", 1)
        got = posix.wait_word(a, 0)
        posix.store(a + posix.word_size(), got + 1)
        posix.wake(parent)
        return 0

    def prog(argv: list[str]) -> int:
        a = posix.shm_open("mailbox", 1)
        pid = posix.fork(child, posix.getpid())
        posix.compute(5_000)
        posix.store(a, 41)
        posix.wake(pid)
        reply = posix.wait_word(a + posix.word_size(), 0)
        posix.wait(pid)
        with pytest.raises(posix.PosixError, match="ESRCH"):
            posix.wake(999)
        return reply

    assert run(make(), prog) == 42


def test_do_threads_share_memory_and_return_their_results(make: Factory) -> None:
    def prog(argv: list[str]) -> int:
        a = posix.mmap(1)
        m = posix.mutex()

        def add(k: int) -> int:
            for _ in range(5):
                with m:
                    posix.store(a, posix.load(a) + k)
                posix.thread_yield()
            return k * 10

        tids = [posix.thread_create(add, k) for k in (1, 2, 3)]
        results = [posix.thread_join(t) for t in tids]
        return 0 if results == [10, 20, 30] and posix.load(a) == 30 else 1

    assert run(make(), prog) == 0
