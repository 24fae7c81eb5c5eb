"""The Unix suite: the monolithic baseline under the same definitions as the other systems.

What this measures
    Every benchmark that has a meaning on a monolithic kernel, each a posix
    process on a freshly booted ``unix`` (``UnixSystem.start``), measured with
    the harness of posix_suite.py; the ipc_* and vm_* bodies are the very
    ones the ExOS suite runs. Each run checks from the kernel's
    ``statistics()`` that the loop took the path it is named after, and ends
    with every process exited and nothing leaked. Per operation:

    ===================  =========================================================
    null_procedure_call  a procedure call inside the process (cpu.call)
    null_syscall         getpid(): the generic system-call path, as the exokernel
                         paper timed Ultrix
    exc_overflow         a trapping add overflows: SIGFPE to the process's handler,
                         which returns a value; sigreturn
    exc_unaligned        an unaligned load: SIGBUS to the handler, which returns
                         the value; sigreturn
    exc_protection       a store to a read-only page: SIGSEGV to the posix fault
                         handler, which skips the store; sigreturn
    ipc_pipe             one word there and back over two pipes (exos_suite's body)
    ipc_shm              one word there and back through shared memory, waiting
                         with wait_word and waking with wake (system calls)
    ipc_lrpc             posix.rpc_call of a one-word echo: the best RPC this Unix
                         offers, a message to the server's kernel port with a
                         hand-off to its server thread and back (ipc.py)
    cross_as_call        the same call: on Unix a cross-address-space call *is*
                         that RPC; the row exists so that it sits next to SPIN's
    vm_*                 the Appel-Li set, through mprotect and SIGSEGV handlers
                         (exos_suite's bodies); vm_appel2 per page
    fork_join_kernel     thread_create of a null procedure and thread_join: kernel
                         threads (posix.thread_* on Unix)
    ping_pong_kernel     two kernel threads pass a turn under a kernel mutex and
                         condition variable (system calls); per round trip
    fork_join_user       the same with the user-level thread library (uthreads.py)
    ping_pong_user       the same with user-level threads, mutex and condition
    ===================  =========================================================

Why it is built this way
    Same bodies, same definitions, the other system's figures next to these
    without translation. Where Unix takes a different path for the same
    operation, the check says which: a protection fault is a signal and a
    sigreturn; the first store after the handler unprotects a page is one more
    exception, the kernel setting its modified bit (no hardware dirty bit).

Interface
    ``run(profile, quick, progress) -> list[Result]``; ``BENCHMARKS``; ``TARGET``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, cast

from .. import posix
from ..systems import boot
from . import posix_suite
from .harness import BenchmarkError, Result, Table, run_table
from .posix_suite import Target, expect, ops, require, run_posix

SYSTEM = "unix"


def _snapshot(system: Any, proc: Any) -> dict[str, int]:
    s = system.kernel.statistics()
    d = {k: v for k, v in dataclasses.asdict(s).items() if k != "by_syscall"}
    for name in system.kernel.sysnum:
        d[f"sys_{name}"] = s.by_syscall.get(name, 0)
    return d


def target(baseline: str | None = None) -> Target:
    """The lean ``unix`` (``baseline`` None), or a faithful baseline (``ultrix``, ``osf1``:
    unix/baseline.py) whose results carry the baseline's name as their system."""
    def make(profile: str) -> Any:
        return boot(SYSTEM, profile, baseline=baseline)

    return posix_suite.Target(
        baseline or SYSTEM, make, _snapshot,
        lambda system: {p.pid: p.name for p in system.kernel.procs.values() if p.state == "running"},
        lambda system: cast(dict[str, int], system.shutdown()),
        lambda system: dict(system.kernel.ended),
    )


TARGET = target()


def _me() -> Any:
    return posix._p()  # the UnixProcess: for the Unix-only calls (signal, uthreads)


def _no_syscalls(name: str, sh: dict[str, Any]) -> None:
    expect(name, sh, syscalls=0, exceptions=0)


# ------------------------------------------------------------- primitives


def _null_procedure_call(target: Target, profile: str, n: int) -> Result:
    def setup(sh: dict[str, Any]) -> Callable[[int], None]:
        call = _me().cpu.call

        def f() -> None:
            pass

        def loop(n: int) -> None:
            for _ in range(n):
                call(f)
        return loop

    res, sh = run_posix(target, profile, "null_procedure_call", n, setup)
    _no_syscalls("null_procedure_call", sh)
    return res


def _null_syscall(target: Target, profile: str, n: int) -> Result:
    def setup(sh: dict[str, Any]) -> Callable[[int], None]:
        getpid = posix.getpid

        def loop(n: int) -> None:
            for _ in range(n):
                getpid()
        return loop

    res, sh = run_posix(target, profile, "null_syscall", n, setup)
    expect("null_syscall", sh, syscalls=ops(n), sys_getpid=ops(n), exceptions=0)
    return res


def _signal_bench(target: Target, profile: str, n: int, name: str) -> Result:
    def setup(sh: dict[str, Any]) -> Callable[[int], None]:
        p = _me()
        cpu = p.cpu
        if name == "exc_overflow":
            p.signal(p.SIGFPE, lambda sig, vaddr, value: 0)
            add, big = cpu.add, (1 << (8 * posix.word_size() - 1)) - 1

            def overflow(n: int) -> None:
                for _ in range(n):
                    if add(big, 1) != 0:
                        raise BenchmarkError("exc_overflow: the handler's value was not used")
            return overflow
        a = posix.mmap(1)
        posix.store(a, 7)
        if name == "exc_unaligned":
            p.signal(p.SIGBUS, lambda sig, vaddr, value: 5)
            load = cpu.load

            def unaligned(n: int) -> None:
                for _ in range(n):
                    if load(a + 1) != 5:
                        raise BenchmarkError("exc_unaligned: the handler's value was not used")
            return unaligned
        posix.mprotect(a, 1, posix.PROT_READ)
        posix.load(a)  # bound read-only
        posix.on_fault(lambda vaddr, write: True)  # skip the store
        store = cpu.store

        def protection(n: int) -> None:
            for _ in range(n):
                store(a, 9)
        sh["verify"].append(lambda: require(name, posix.load(a) == 7, "a skipped store was done"))
        return protection

    res, sh = run_posix(target, profile, name, n, setup)
    k = ops(n)
    expect(name, sh, signals=k, sigreturns=k, exceptions=k, syscalls=k, page_faults=0)
    return res


def _exc_overflow(target: Target, profile: str, n: int) -> Result:
    return _signal_bench(target, profile, n, "exc_overflow")


def _exc_unaligned(target: Target, profile: str, n: int) -> Result:
    return _signal_bench(target, profile, n, "exc_unaligned")


def _exc_protection(target: Target, profile: str, n: int) -> Result:
    return _signal_bench(target, profile, n, "exc_protection")


# --------------------------------------------------------------------- IPC


def _ipc_pipe(target: Target, profile: str, n: int) -> Result:
    res, sh = posix_suite.ipc_pipe(target, profile, n)
    k = ops(n)
    expect("ipc_pipe", sh, sys_write=2 * k, sys_read=2 * k, exceptions=0)
    require("ipc_pipe", posix_suite.delta(sh, "sleeps") >= k, "the reader did not sleep each round trip")
    return res


def _ipc_shm(target: Target, profile: str, n: int) -> Result:
    res, sh = posix_suite.ipc_shm(target, profile, n)
    k = ops(n)
    expect("ipc_shm", sh, sys_wake=2 * k, exceptions=0, sys_read=0, sys_write=0)
    return res


def _rpc(target: Target, profile: str, n: int, name: str) -> Result:
    res, sh = posix_suite.ipc_lrpc(target, profile, n, name)
    k = ops(n)
    expect(name, sh, rpc_calls=k, sys_rpc_call=k, sys_rpc_reply_wait=k, exceptions=0)
    return res


def _ipc_lrpc(target: Target, profile: str, n: int) -> Result:
    return _rpc(target, profile, n, "ipc_lrpc")


def _cross_as_call(target: Target, profile: str, n: int) -> Result:
    return _rpc(target, profile, n, "cross_as_call")


# ---------------------------------------------------------------------- VM


checked = posix_suite.checked
# a signal whose handler unprotects the page, then the retried store's modified-bit fault
FAULT_THEN_MODIFIED = {"signals": 1, "sigreturns": 1, "mod_faults": 1, "exceptions": 2, "page_faults": 0}


def _vm_rows(target: Target) -> dict[str, Callable[[str, int], Result]]:
    return {
        "vm_dirty": checked(target, "vm_dirty", sys_dirty=1, exceptions=0),
        "vm_prot1": checked(target, "vm_prot1", sys_mprotect=1, exceptions=0, signals=0),
        "vm_prot100": checked(target, "vm_prot100", sys_mprotect=1, exceptions=0, signals=0),
        "vm_unprot100": checked(target, "vm_unprot100", sys_mprotect=1, exceptions=0, signals=0),
        "vm_trap": checked(target, "vm_trap", signals=1, sigreturns=1, exceptions=1, mod_faults=0),
        "vm_fault": checked(target, "vm_fault", **FAULT_THEN_MODIFIED),
        "vm_appel1": checked(target, "vm_appel1", **FAULT_THEN_MODIFIED),
        "vm_appel2": checked(target, "vm_appel2", per=100, **FAULT_THEN_MODIFIED),
    }


# ----------------------------------------------------------------- threads


def _kernel_api(sh: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    m = posix.mutex()
    return posix.thread_create, posix.thread_join, m, posix.condition(m)


def _user_api(sh: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    ut = _me().uthreads()
    sh["cleanup"].insert(0, ut.close)  # runs last
    m = ut.mutex()
    return ut.create, ut.join, m, ut.condition(m)


def _fork_join_kernel(target: Target, profile: str, n: int) -> Result:
    res, sh = posix_suite.fork_join(target, profile, n, "fork_join_kernel", lambda sh: _kernel_api(sh)[:2])
    k = ops(n)
    expect("fork_join_kernel", sh, threads_created=k, sys_thread_create=k, sys_thread_join=k)
    return res


def _ping_pong_kernel(target: Target, profile: str, n: int) -> Result:
    res, sh = posix_suite.ping_pong(target, profile, n, "ping_pong_kernel", _kernel_api)
    require("ping_pong_kernel", posix_suite.delta(sh, "context_switches") >= 2 * ops(n),
            "the two kernel threads did not switch twice per round trip")
    return res


def _decthreads(sh: dict[str, Any]) -> bool:
    """Were the user-level threads DECthreads (one kernel thread each: the osf1 baseline)?"""
    return getattr(sh["system"].kernel.baseline, "user_threads", None) == "decthreads"


def _fork_join_user(target: Target, profile: str, n: int) -> Result:
    res, sh = posix_suite.fork_join(target, profile, n, "fork_join_user", lambda sh: _user_api(sh)[:2])
    if _decthreads(sh):  # P-threads over Mach threads: a kernel thread created and joined each time
        k = ops(n)
        expect("fork_join_user", sh, threads_created=k, sys_thread_create=k, sys_thread_join=k)
        return res
    _no_syscalls("fork_join_user", sh)
    expect("fork_join_user", sh, threads_created=0)
    return res


def _ping_pong_user(target: Target, profile: str, n: int) -> Result:
    res, sh = posix_suite.ping_pong(target, profile, n, "ping_pong_user", _user_api)
    if _decthreads(sh):  # their synchronisation goes into the kernel
        require("ping_pong_user", posix_suite.delta(sh, "context_switches") >= 2 * ops(n),
                "the two P-threads did not switch kernel threads twice per round trip")
        return res
    _no_syscalls("ping_pong_user", sh)
    return res


#: (benchmark, runner(target, profile, n) or a VM row's name, iterations with --quick, without)
_ROWS: tuple[tuple[str, Any, int, int], ...] = (
    ("null_procedure_call", _null_procedure_call, 2_000, 50_000),
    ("null_syscall", _null_syscall, 2_000, 50_000),
    ("exc_overflow", _exc_overflow, 500, 10_000),
    ("exc_unaligned", _exc_unaligned, 500, 10_000),
    ("exc_protection", _exc_protection, 500, 10_000),
    ("ipc_pipe", _ipc_pipe, 100, 3_000),
    ("ipc_shm", _ipc_shm, 100, 3_000),
    ("ipc_lrpc", _ipc_lrpc, 300, 10_000),
    ("cross_as_call", _cross_as_call, 300, 10_000),
    ("vm_dirty", None, 1_000, 20_000),
    ("vm_prot1", None, 300, 5_000),
    ("vm_prot100", None, 5, 100),
    ("vm_unprot100", None, 5, 100),
    ("vm_trap", None, 300, 10_000),
    ("vm_fault", None, 300, 1_000),
    ("vm_appel1", None, 300, 5_000),
    ("vm_appel2", None, 3, 30),
    ("fork_join_kernel", _fork_join_kernel, 200, 3_000),
    ("ping_pong_kernel", _ping_pong_kernel, 200, 3_000),
    ("fork_join_user", _fork_join_user, 500, 10_000),
    ("ping_pong_user", _ping_pong_user, 500, 10_000),
)


def table(baseline: str | None = None) -> Table:
    """The suite's table on the lean kernel or on a faithful baseline (the same rows)."""
    t = target(baseline)
    vm = _vm_rows(t)
    return {name: (vm[name] if fn is None else functools.partial(fn, t), nq, nf) for name, fn, nq, nf in _ROWS}


#: name -> (runner, iterations with --quick, iterations without)
BENCHMARKS: Table = table()

# each row on the lean kernel as ``runner(profile, n)``, as the other suites' modules name theirs
null_procedure_call = BENCHMARKS["null_procedure_call"][0]
null_syscall = BENCHMARKS["null_syscall"][0]
exc_overflow = BENCHMARKS["exc_overflow"][0]
exc_unaligned = BENCHMARKS["exc_unaligned"][0]
exc_protection = BENCHMARKS["exc_protection"][0]
ipc_pipe = BENCHMARKS["ipc_pipe"][0]
ipc_shm = BENCHMARKS["ipc_shm"][0]
ipc_lrpc = BENCHMARKS["ipc_lrpc"][0]
cross_as_call = BENCHMARKS["cross_as_call"][0]
vm_dirty = BENCHMARKS["vm_dirty"][0]
vm_prot1 = BENCHMARKS["vm_prot1"][0]
vm_prot100 = BENCHMARKS["vm_prot100"][0]
vm_unprot100 = BENCHMARKS["vm_unprot100"][0]
vm_trap = BENCHMARKS["vm_trap"][0]
vm_fault = BENCHMARKS["vm_fault"][0]
vm_appel1 = BENCHMARKS["vm_appel1"][0]
vm_appel2 = BENCHMARKS["vm_appel2"][0]
fork_join_kernel = BENCHMARKS["fork_join_kernel"][0]
ping_pong_kernel = BENCHMARKS["ping_pong_kernel"][0]
fork_join_user = BENCHMARKS["fork_join_user"][0]
ping_pong_user = BENCHMARKS["ping_pong_user"][0]


def run(profile: str, quick: bool = False, progress: Callable[[str], None] | None = None,
        baseline: str | None = None) -> list[Result]:
    return run_table(BENCHMARKS if baseline is None else table(baseline), profile, quick, progress)


def run_ultrix(profile: str, quick: bool = False, progress: Callable[[str], None] | None = None) -> list[Result]:
    """The suite on the faithful Ultrix 4.2 baseline (``exospin bench ultrix``)."""
    return run(profile, quick, progress, baseline="ultrix")


def run_osf1(profile: str, quick: bool = False, progress: Callable[[str], None] | None = None) -> list[Result]:
    """The suite on the faithful DEC OSF/1 baseline (``exospin bench osf1``)."""
    return run(profile, quick, progress, baseline="osf1")
