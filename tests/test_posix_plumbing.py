"""Do ExOS and Unix's libraries share their user-level plumbing, written once in posix?

The kernels stay separate; what every system's process object spells the same way is
in exospin.posix: the binding of the machine's user-mode instructions
(``MachineBinding``: load, store, compute, marked as machine code for the audit) and the
mutex's context manager (``Mutex``). SPIN's libraries (spin/) still have their own.
"""

from __future__ import annotations

import pytest

from exospin import posix
from exospin.exos import proc as exos_proc
from exospin.exos import threads as exos_threads
from exospin.systems import boot
from exospin.unix import KMutex, UMutex, UnixProcess

MUTEXES = [exos_threads.Mutex, KMutex, UMutex]
PROCESSES = [exos_proc.ExOS, UnixProcess]


@pytest.mark.parametrize("cls", MUTEXES, ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_is_each_systems_mutex_a_posix_mutex_with_its_context_manager(cls):
    assert issubclass(cls, posix.Mutex)
    assert "__enter__" not in vars(cls) and "__exit__" not in vars(cls), "spelled out again"
    assert "acquire" in vars(cls) and "release" in vars(cls)


@pytest.mark.parametrize("cls", PROCESSES, ids=lambda c: c.__name__)
def test_do_the_process_objects_bind_the_machine_once(cls):
    for name in ("load", "store", "compute"):
        fn = getattr(cls, name)
        assert fn is getattr(posix.MachineBinding, name), f"{cls.__name__}.{name} spelled out again"
        assert fn.__code__ in posix.MACHINE_CODE


def test_does_with_release_the_mutex_when_the_block_raises():
    calls: list[str] = []

    class Recorded(posix.Mutex):
        def acquire(self) -> None:
            calls.append("acquire")

        def release(self) -> None:
            calls.append("release")

    m = Recorded()
    with pytest.raises(KeyError), m as held:
        assert held is m
        raise KeyError("inside the critical section")
    assert calls == ["acquire", "release"]


def test_does_a_mutex_that_defines_nothing_say_so():
    class Empty(posix.Mutex):
        pass

    with pytest.raises(NotImplementedError, match="Empty must define acquire"):
        with Empty():
            pass


@pytest.mark.parametrize("system", ["aegis", "unix"])
def test_does_posix_mutex_hand_out_a_posix_mutex_that_excludes(system):
    # two threads add to a shared word under the mutex, with a yield inside the
    # critical section: without exclusion one update would be lost
    s = boot(system, "ds5000", seed=0)
    seen: dict[str, object] = {}

    def main(argv: list[str]) -> int:
        m = posix.mutex()
        seen["mutex"] = m
        va = posix.mmap(1)

        def add() -> None:
            for _ in range(3):
                with m:
                    v = posix.load(va)
                    posix.thread_yield()
                    posix.store(va, v + 1)

        tids = [posix.thread_create(add) for _ in range(2)]
        for t in tids:
            posix.thread_join(t)
        return posix.load(va)

    pid = s.start(main, [], "mutex")
    s.run(until_us=2_000_000)
    assert isinstance(seen["mutex"], posix.Mutex)
    assert s.exit_status(pid) == 6
    s.shutdown()
