"""The SPIN paper's benchmarks on SPIN: system call, cross-address-space call, threads, IPC, VM.

What this measures (Bershad et al., SOSP 1995, section 5, tables 2 and 3)
    Every figure is per operation, on a freshly booted SPIN:

    ==========================  =================================================================
    null_syscall                a user program traps with system call 0; the null_syscall
                                extension's handler (behind its guard) returns at once
    cross_as_call               posix.rpc_call of a null procedure in another process: a trap,
                                the xas extension loads the server's address space, upcalls the
                                procedure there on the caller's strand, and returns
    fork_join_kernel            kthreads.fork of a null kernel thread and kthreads.join on it:
                                create a strand, schedule it, run it, end it, wake the joiner
    ping_pong_kernel            one round trip between two kernel threads taking turns under a
                                kthreads Mutex and Condition (each signals the other and blocks)
    fork_join_user_integrated   posix.thread_create + thread_join in a process: C-Threads
                                integrated with the kernel (each thread a strand, each operation
                                a system call)
    ping_pong_user_integrated   one round trip between two such threads (posix mutex/condition)
    fork_join_user_layered      cthreads.fork + join: the layered C-Threads library, threads
                                multiplexed on one strand with no kernel entry
    ping_pong_user_layered      one round trip between two layered threads
    ipc_*, vm_*                 the bodies of posix_suite.py, as on ExOS and Unix, through
                                the Unix extension, the Appel-Li extension and libunix
    ==========================  =================================================================

    Each benchmark checks from the kernel's statistics that it took the
    path it is named after (so many traps, strands created, switches), and
    that the system ends with nothing held.

Interface
    ``run(profile, quick, progress) -> list[Result]``; ``BENCHMARKS``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from .. import posix
from ..machine import get_profile
from ..spin import extensions as spin_extensions
from ..spin.cthreads import CThreads
from ..systems import SpinSystem, boot
from . import posix_suite
from .harness import BenchmarkError, Result, Table, Timer, run_table
from .posix_suite import delta, expect, ops, require, run_posix

SYSTEM = "spin"

#: the kernel side of the kernel-thread benchmarks: an extension linked against kthreads
KBENCH = '''
from spin.kthreads import Condition, Mutex, fork, join


def null():
    return 0


def fork_join(n):
    for i in range(n):
        join(fork(null, ()))


class Court:
    def __init__(self):
        self.mutex = Mutex()
        self.turned = Condition()
        self.turn = 0


def player(court, me, n):
    m = court.mutex
    for i in range(n):
        m.lock()
        while court.turn != me:
            court.turned.wait(m)
        court.turn = 1 - me
        court.turned.signal()
        m.unlock()
    return 0


def ping_pong(n):
    court = Court()
    a = fork(player, (court, 0, n))
    b = fork(player, (court, 1, n))
    join(a)
    join(b)
'''


def _snapshot(system: SpinSystem, proc: Any) -> dict[str, int]:
    """The kernel's counters, flattened (``scheduler.switches`` ...)."""
    out: dict[str, int] = {}

    def walk(prefix: str, obj: Any) -> None:
        for k, v in dataclasses.asdict(obj).items():
            if isinstance(v, dict):
                for k2, v2 in v.items():
                    if isinstance(v2, int):
                        out[f"{prefix}{k}.{k2}"] = v2
            elif isinstance(v, int):
                out[f"{prefix}{k}"] = v
    walk("", system.kernel.statistics())
    return out


def _deaths(system: SpinSystem) -> dict[int, str]:
    if system.unix is None:
        return {}
    return {pid: system.unix["message"](pid) for pid in system.unix["pids"]()}


TARGET = posix_suite.Target(
    SYSTEM, lambda profile: boot(SYSTEM, profile), _snapshot,
    lambda system: {s.id: s.name for s in system.kernel.sched.strands.values()},
    lambda system: system.shutdown(),
    _deaths,
)


# ----------------------------------------------------------------- traps and calls


def null_syscall(profile: str, n: int) -> Result:
    def setup(sh: dict[str, Any]) -> Callable[[int], Any]:
        k = sh["system"].kernel
        k.load(spin_extensions.source("null_syscall"), "null_syscall.py")
        trap = k.syscall

        def loop(n: int) -> None:
            for _ in range(n):
                trap(0)
        return loop

    res, sh = run_posix(TARGET, profile, "null_syscall", n, setup)
    expect("null_syscall", sh, syscalls=ops(n), **{"memory.protection_faults": 0})
    return res


def _null_procedure() -> int:
    return 0


def _server(w: int, r: int) -> int:
    posix.rpc_register(0, _null_procedure)
    posix.write(w, b"!")
    posix.read(r, 1)  # blocks until the client is done
    return 0


def cross_as_call(profile: str, n: int) -> Result:
    def setup(sh: dict[str, Any]) -> Callable[[int], Any]:
        ready_r, ready_w = posix.pipe()
        done_r, done_w = posix.pipe()
        pid = posix.fork(_server, ready_w, done_r)
        posix.read(ready_r, 1)
        call = posix.rpc_call

        def finish() -> None:
            posix.write(done_w, b"!")
            posix.wait(pid)
            for fd in (ready_r, ready_w, done_r, done_w):
                posix.close(fd)
        sh["cleanup"].append(finish)

        def loop(n: int) -> None:
            for _ in range(n):
                call(pid, 0)
        return loop

    res, sh = run_posix(TARGET, profile, "cross_as_call", n, setup)
    expect("cross_as_call", sh, syscalls=ops(n), **{"scheduler.switches": 0})
    return res


# ----------------------------------------------------------------- kernel threads


def _kernel_bench(profile: str, name: str, n: int, fn: str) -> dict[str, Any]:
    """Run the kbench extension's ``fn(n)`` in a kernel strand; measure it."""
    system = boot(SYSTEM, profile)
    k = system.kernel
    k.load(spin_extensions.source("kthreads"), "kthreads.py")
    d = k.load(KBENCH, "kbench.py")
    body = dict(d.exports["spin.kbench"])[fn]
    box: dict[str, Any] = {}

    def main() -> None:
        try:
            timer = Timer(lambda: system.machine.loop.now)
            timer.warm_up(body, n)
            box["before"] = _snapshot(system, None)
            box["result"] = timer.measure(body, n)
            box["py"] = timer.py_cycles(get_profile(profile))
            box["after"] = _snapshot(system, None)
        except Exception as e:
            box["error"] = f"{type(e).__name__}: {e}"

    # the loop runs in a kernel strand, whose domain budget is reset as it is scheduled
    k.sched.create(main, (), name, budget=d.budget)
    system.run()
    left = TARGET.running(system)
    leaked = system.shutdown()
    if "result" not in box or left:
        raise BenchmarkError(f"{name}: the benchmark failed: {box.get('error', 'no result')}; left: {left}")
    require(name, not any(leaked.values()), f"resources leaked: {leaked}")
    return box


def _kernel_result(name: str, profile: str, box: dict[str, Any], n: int) -> Result:
    cycles, wall, call = box["result"]
    ext = delta(box, "extension_cycles") / ops(n)
    return Result(name, SYSTEM, cycles, get_profile(profile).us(cycles), wall, n, call, ext, box["py"])


def fork_join_kernel(profile: str, n: int) -> Result:
    box = _kernel_bench(profile, "fork_join_kernel", n, "fork_join")
    expect("fork_join_kernel", box, **{"scheduler.strands_created": ops(n), "syscalls": 0})
    return _kernel_result("fork_join_kernel", profile, box, n)


def ping_pong_kernel(profile: str, n: int) -> Result:
    box = _kernel_bench(profile, "ping_pong_kernel", n, "ping_pong")
    require("ping_pong_kernel", delta(box, "scheduler.switches") >= 2 * ops(n),
            "the two kernel threads did not switch twice per round trip")
    expect("ping_pong_kernel", box, syscalls=0)
    return _kernel_result("ping_pong_kernel", profile, box, n)


# ----------------------------------------------------------------- user-level threads


def _integrated(sh: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    m = posix.mutex()
    return posix.thread_create, posix.thread_join, m, posix.condition(m)


def _layered(sh: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    system = sh["system"]
    ct = CThreads(system.machine.cpu, system.kernel.sched)
    m = ct.mutex()
    return ct.fork, ct.join, m, ct.condition(m)


def fork_join_user_integrated(profile: str, n: int) -> Result:
    name = "fork_join_user_integrated"
    res, sh = posix_suite.fork_join(TARGET, profile, n, name, lambda sh: _integrated(sh)[:2])
    expect(name, sh, **{"scheduler.strands_created": ops(n), "syscalls": 2 * ops(n)})
    return res


def ping_pong_user_integrated(profile: str, n: int) -> Result:
    name = "ping_pong_user_integrated"
    res, sh = posix_suite.ping_pong(TARGET, profile, n, name, _integrated)
    require(name, delta(sh, "scheduler.switches") >= 2 * ops(n),
            "the two threads did not switch twice per round trip")
    return res


def fork_join_user_layered(profile: str, n: int) -> Result:
    name = "fork_join_user_layered"
    res, sh = posix_suite.fork_join(TARGET, profile, n, name, lambda sh: _layered(sh)[:2])
    expect(name, sh, **{"syscalls": 0, "scheduler.strands_created": 0, "scheduler.switches": 0})
    return res


def ping_pong_user_layered(profile: str, n: int) -> Result:
    name = "ping_pong_user_layered"
    res, sh = posix_suite.ping_pong(TARGET, profile, n, name, _layered)
    expect(name, sh, **{"syscalls": 0, "scheduler.switches": 0})
    return res


# ----------------------------------------------------------------- IPC and the VM set


def ipc_pipe(profile: str, n: int) -> Result:
    res, sh = posix_suite.ipc_pipe(TARGET, profile, n)
    expect("ipc_pipe", sh, syscalls=4 * ops(n), **{"memory.protection_faults": 0})
    return res


def ipc_shm(profile: str, n: int) -> Result:
    res, sh = posix_suite.ipc_shm(TARGET, profile, n)
    expect("ipc_shm", sh, **{"memory.protection_faults": 0})
    require("ipc_shm", delta(sh, "syscalls") >= 2 * ops(n), "fewer than two wakes per round trip")
    return res


NO_FAULT = {"memory.protection_faults": 0}
ONE_FAULT = {"memory.protection_faults": 1}
checked = posix_suite.checked
ipc_lrpc = checked(TARGET, "ipc_lrpc", syscalls=1, **{"scheduler.switches": 0})
vm_dirty = checked(TARGET, "vm_dirty", syscalls=1, **NO_FAULT)
vm_prot1 = checked(TARGET, "vm_prot1", syscalls=1, **NO_FAULT)
vm_prot100 = checked(TARGET, "vm_prot100", syscalls=1, **NO_FAULT)
vm_unprot100 = checked(TARGET, "vm_unprot100", syscalls=1, **NO_FAULT)
vm_trap = checked(TARGET, "vm_trap", **ONE_FAULT)
vm_fault = checked(TARGET, "vm_fault", **ONE_FAULT)
vm_appel1 = checked(TARGET, "vm_appel1", **ONE_FAULT)
vm_appel2 = checked(TARGET, "vm_appel2", per=100, **ONE_FAULT)


#: name -> (function, iterations when quick, iterations in full)
BENCHMARKS: Table = {
    "null_syscall": (null_syscall, 2_000, 50_000),
    "cross_as_call": (cross_as_call, 1_000, 20_000),
    "ipc_pipe": (ipc_pipe, 100, 3_000),
    "ipc_shm": (ipc_shm, 100, 3_000),
    "ipc_lrpc": (ipc_lrpc, 300, 10_000),
    "vm_dirty": (vm_dirty, 1_000, 20_000),
    "vm_prot1": (vm_prot1, 300, 5_000),
    "vm_prot100": (vm_prot100, 5, 100),
    "vm_unprot100": (vm_unprot100, 5, 100),
    "vm_trap": (vm_trap, 300, 10_000),
    "vm_fault": (vm_fault, 300, 1_000),
    "vm_appel1": (vm_appel1, 300, 5_000),
    "vm_appel2": (vm_appel2, 3, 30),
    "fork_join_kernel": (fork_join_kernel, 500, 10_000),
    "ping_pong_kernel": (ping_pong_kernel, 500, 10_000),
    "fork_join_user_integrated": (fork_join_user_integrated, 500, 10_000),
    "ping_pong_user_integrated": (ping_pong_user_integrated, 500, 10_000),
    "fork_join_user_layered": (fork_join_user_layered, 500, 10_000),
    "ping_pong_user_layered": (ping_pong_user_layered, 500, 10_000),
}


def run(profile: str, quick: bool = False, progress: Callable[[str], None] | None = None) -> list[Result]:
    return run_table(BENCHMARKS, profile, quick, progress)
