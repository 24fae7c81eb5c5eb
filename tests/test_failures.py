"""A failing application says so, on every system that runs posix programs.

A ``main`` that raises, reads a closed descriptor or passes a negative size
crashes: after ``run()`` the system reports it on stderr (pid, program, the
exception and the traceback inside the application, not the simulator's
frames), ``run(check=True)`` raises ``ProgramFailed`` with the same, and
``exit_status`` says 1. A process that exits with 3 has exited: its status
is 3 and nothing is reported. A process the system kills (a store to a
read-only page with no handler) is reported as killed, without a traceback.
Each test runs on Aegis with ExOS, on SPIN with its Unix personality and on
the monolithic Unix, and ends with a clean shutdown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from exospin import posix
from exospin.posix import Failure, ProgramFailed
from exospin.systems import boot

SYSTEMS = ["aegis", "spin", "unix"]
HERE = __file__
RUN_US = 200_000  # far more than any program here needs

Factory = Callable[[], Any]


@pytest.fixture(params=SYSTEMS)
def make(request: pytest.FixtureRequest) -> Iterator[Factory]:
    booted: list[Any] = []

    def factory() -> Any:
        s = boot(request.param)
        booted.append(s)
        return s

    yield factory
    for s in booted:
        left = s.shutdown()
        assert not any(left.values()), left
        assert s.kernel.check_invariants() == []


# ------------------------------------------------------------- the programs


def lookup(table: dict[str, int]) -> int:
    return table["missing"]


def raiser(argv: list[str]) -> int:
    return lookup({})


def closed_fd(argv: list[str]) -> int:
    r, w = posix.pipe()
    posix.close(r)
    return len(posix.read(r, 4))


def negative_size(argv: list[str]) -> int:
    r, w = posix.pipe()
    return len(posix.read(r, -1))


def exits_3(argv: list[str]) -> int:
    posix.exit(3)
    return 0


def stray(argv: list[str]) -> int:
    posix.store(posix.mmap(1, posix.PROT_READ), 1)  # no handler: the system ends it
    return 0


def broken_child() -> int:
    raise ValueError("the child broke")


def parent(argv: list[str]) -> int:
    pid = posix.fork(broken_child)
    return 0 if posix.wait(pid) == (pid, 1) else 5


CRASHES = [  # program, the report's exception line, the application's line in this file
    (raiser, "KeyError: 'missing'", 'return table["missing"]'),
    (closed_fd, "PosixError: EBADF: read: ", "return len(posix.read(r, 4))"),
    (negative_size, "PosixError: EINVAL: read: ", "return len(posix.read(r, -1))"),
]


# ------------------------------------------------------------------- tests


@pytest.mark.parametrize("program, exception, line", CRASHES, ids=[c[0].__name__ for c in CRASHES])
def test_does_a_crash_show_its_pid_program_exception_and_traceback(
        make: Factory, capsys: pytest.CaptureFixture[str], program: Any, exception: str, line: str) -> None:
    s = make()
    pid = s.start(program, [])
    s.run(until_us=RUN_US)
    err = capsys.readouterr().err
    assert s.exit_status(pid) == 1
    head, *rest = err.splitlines()
    assert head.startswith(f"exospin: pid {pid} ({program.__name__}) crashed: {exception}")
    assert head.endswith("(exit status 1)")
    assert rest[0] == "Traceback (most recent call last):"
    assert f'File "{HERE}", line ' in err and f"in {program.__name__}" in err
    assert line in err
    assert "src/exospin/" not in err, "a simulator frame in the application's traceback"
    [f] = s.failures()
    assert (f.pid, f.program, f.status, f.kind) == (pid, program.__name__, 1, "crashed")
    assert all(fr.filename == HERE for fr in f.traceback)


def test_is_a_helper_functions_frame_in_the_traceback(make: Factory) -> None:
    s = make()
    s.start(raiser, [])
    s.run(until_us=RUN_US, report=False)
    [f] = s.failures()
    assert [fr.name for fr in f.traceback] == ["raiser", "lookup"]


def test_is_exit_3_a_normal_end_with_its_status(make: Factory, capsys: pytest.CaptureFixture[str]) -> None:
    s = make()
    pid = s.start(exits_3, [])
    s.run(until_us=RUN_US, check=True)  # an exit is not a failure: no ProgramFailed
    assert s.exit_status(pid) == 3
    assert capsys.readouterr().err == ""
    assert s.failures() == []


def test_does_check_raise_program_failed_with_every_failure(make: Factory, capsys: pytest.CaptureFixture[str]) -> None:
    s = make()
    pids = [s.start(p, []) for p, _, _ in CRASHES]
    ok = s.start(exits_3, [])
    with pytest.raises(ProgramFailed) as info:
        s.run(until_us=RUN_US, check=True)
    failed = info.value.failures
    assert [f.pid for f in failed] == pids and ok not in [f.pid for f in failed]
    assert all(isinstance(f, Failure) for f in failed)
    text = str(info.value)
    assert text.startswith("3 processes failed:\n")
    for (program, exception, line), pid in zip(CRASHES, pids, strict=True):
        assert f"pid {pid} ({program.__name__}) crashed: {exception}" in text and line in text
    assert capsys.readouterr().err == "", "check=True raises instead of printing"


def test_is_a_kill_reported_without_a_traceback(make: Factory, capsys: pytest.CaptureFixture[str]) -> None:
    s = make()
    pid = s.start(stray, [])
    s.run(until_us=RUN_US)
    err = capsys.readouterr().err
    assert s.exit_status(pid) == 139
    assert err.startswith(f"exospin: pid {pid} (stray) killed")
    assert err.rstrip("\n").endswith("(exit status 139)") and err.count("\n") == 1
    assert "Traceback" not in err
    [f] = s.failures()
    assert f.kind == "killed" and f.exception is None and not f.traceback


def test_is_a_forked_childs_crash_reported_under_its_own_pid(make: Factory, capsys: pytest.CaptureFixture[str]) -> None:
    s = make()
    pid = s.start(parent, [])
    s.run(until_us=RUN_US)
    assert s.exit_status(pid) == 0  # the parent waited for it: the parent is fine
    [f] = s.failures()
    assert f.pid != pid and f.program == "broken_child" and f.reason == "ValueError: the child broke"
    err = capsys.readouterr().err
    assert err.startswith(f"exospin: pid {f.pid} (broken_child) crashed: ValueError: the child broke")
    assert 'raise ValueError("the child broke")' in err


def test_do_report_false_and_expect_keep_quiet(make: Factory, capsys: pytest.CaptureFixture[str]) -> None:
    s = make()
    s.start(raiser, [])
    s.run(until_us=RUN_US, report=False, check=False)
    assert capsys.readouterr().err == "" and len(s.failures()) == 1
    meant = s.start(stray, [])
    other = s.start(raiser, [])
    with pytest.raises(ProgramFailed) as info:
        s.run(until_us=RUN_US, check=True, expect={meant})
    assert [f.pid for f in info.value.failures] == [other]
    assert {f.pid for f in s.failures()[1:]} == {meant, other}  # expected, but still a failure on record


def test_is_each_failure_reported_once(make: Factory, capsys: pytest.CaptureFixture[str]) -> None:
    s = make()
    s.start(raiser, [])
    s.run(until_us=RUN_US)
    assert "crashed" in capsys.readouterr().err
    s.start(exits_3, [])
    s.run(until_us=RUN_US, check=True)  # the earlier crash is not raised again
    assert capsys.readouterr().err == ""


def test_is_the_report_the_same_on_every_run() -> None:
    def report(name: str) -> str:
        s = boot(name)
        for p in (raiser, closed_fd, negative_size, stray, parent):
            s.start(p, [])
        s.run(until_us=RUN_US, report=False)
        s.shutdown()
        return posix.format_failures(s.failures())

    for name in SYSTEMS:
        assert report(name) == report(name)


def test_does_a_system_crash_keep_its_frames() -> None:
    """An exception with no frame of the application began in the system: all frames stay."""
    try:
        posix.read(0, 1)  # no process: the binding raises inside posix
    except posix.PosixError as e:
        assert e.__traceback__ is not None
        inside = e.with_traceback(e.__traceback__.tb_next)  # without this test's frame
        f = Failure.crash(1, "p", inside)
    assert f.traceback and all(fr.filename.endswith("posix.py") for fr in f.traceback)


def broken_thread() -> None:
    raise OSError("the thread broke")


def threaded(argv: list[str]) -> int:
    posix.thread_join(posix.thread_create(broken_thread))
    return 4


def after_exec(argv: list[str]) -> int:
    raise RuntimeError(f"exec'd with {argv}")


def execs(argv: list[str]) -> int:
    posix.exec(after_exec, ["x"])
    return 0


def test_does_a_threads_exception_end_and_report_its_process(make: Factory) -> None:
    s = make()
    pid = s.start(threaded, [])
    s.run(until_us=RUN_US, report=False)
    assert s.exit_status(pid) == 1  # not 4: the process ended with its thread
    [f] = s.failures()
    assert (f.pid, f.reason) == (pid, "OSError: the thread broke")
    assert [fr.name for fr in f.traceback][-1] == "broken_thread"


def test_is_a_crash_after_exec_reported_under_the_new_program(make: Factory) -> None:
    s = make()
    pid = s.start(execs, [])
    s.run(until_us=RUN_US, report=False)
    [f] = s.failures()
    assert (f.pid, f.program, f.reason) == (pid, "after_exec", "RuntimeError: exec'd with ['x']")


@pytest.mark.parametrize("options", [{"check": 1}, {"report": "no"}, {"expect": 3}, {"expect": "3"},
                                     {"expect": [1.5]}])
def test_are_bad_run_options_refused_before_anything_runs(make: Factory, options: dict[str, Any]) -> None:
    s = make()
    s.start(raiser, [])
    before = s.machine.now
    with pytest.raises(TypeError, match="^run: "):
        s.run(until_us=RUN_US, **options)
    assert s.machine.now == before and s.failures() == []


def touch(vaddr: int) -> None:
    posix.store(vaddr, 1)  # a read-only page, no handler


def faulting_thread(argv: list[str]) -> int:
    posix.thread_join(posix.thread_create(touch, posix.mmap(1, posix.PROT_READ)))
    return 4


def test_does_a_fault_in_a_thread_kill_and_report_its_process(make: Factory) -> None:
    s = make()
    pid = s.start(faulting_thread, [])
    s.run(until_us=RUN_US, report=False)
    assert s.exit_status(pid) == 139  # not 4: a fault the process does not handle ends it
    [f] = s.failures()
    assert (f.pid, f.program, f.kind, f.status) == (pid, "faulting_thread", "killed", 139)


def sys_exits(argv: list[str]) -> int:
    import sys
    if argv == ["thread"]:
        posix.thread_join(posix.thread_create(sys.exit, 6))
    if argv == ["handler"]:
        posix.on_fault(lambda vaddr, write: sys.exit(7))
        posix.store(posix.mmap(1, posix.PROT_READ), 1)
    sys.exit("no status, a message" if argv == ["message"] else 5)


@pytest.mark.parametrize("how, status", [([], 5), (["thread"], 6), (["handler"], 7), (["message"], 1)])
def test_is_sys_exit_in_an_application_its_exit(make: Factory, how: list[str], status: int) -> None:
    """sys.exit(n) ends the process with n, as in Python, not the simulator; a message is a crash."""
    s = make()
    pid = s.start(sys_exits, how)
    s.run(until_us=RUN_US, report=False)
    assert s.exit_status(pid) == status
    if how == ["message"]:
        [f] = s.failures()
        assert f.reason == "SystemExit: no status, a message" and f.traceback[-1].name == "sys_exits"
    else:
        assert s.failures() == []
