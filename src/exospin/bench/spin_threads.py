"""The SPIN paper's kernel-path benchmarks: system call, cross-address-space call, threads.

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
    ping_pong_kernel            one hand-off between two kernel threads taking turns under a
                                kthreads Mutex and Condition: signal the other, block
    fork_join_user_integrated   posix.thread_create + thread_join in a process: C-Threads
                                integrated with the kernel (each thread a strand, each operation
                                a system call)
    ping_pong_user_integrated   one hand-off between two such threads (posix mutex/condition)
    fork_join_user_layered      cthreads.fork + join: the layered C-Threads library, threads
                                multiplexed on one strand with no kernel entry
    ping_pong_user_layered      one hand-off between two layered threads
    ==========================  =================================================================

    Each benchmark checks from the kernel's statistics that it took the
    path it is named after (so many traps, strands created, switches), and
    that the system ends with nothing held.

Interface
    ``run(profile, quick, progress) -> list[Result]``; ``BENCHMARKS``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .. import posix
from ..machine import get_profile
from ..spin import extensions as spin_extensions
from ..spin.cthreads import CThreads
from ..systems import SpinSystem, boot
from .harness import REPEATS, BenchmarkError, Result, Timer

SYSTEM = "spin"
SIM_LIMIT_US = 5_000_000.0
WALL_LIMIT_S = 300.0

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


def _ops(n: int, per: int = 1) -> int:
    return n * per * REPEATS


def _require(name: str, ok: bool, why: str) -> None:
    if not ok:
        raise BenchmarkError(f"{name}: {why}")


def _finish(system: SpinSystem, name: str, box: dict[str, Any]) -> None:
    """Run until everything has ended; then check it measured and nothing is held."""
    m = system.machine
    t0 = time.monotonic()
    while system.kernel.sched.strands:
        before = m.now
        system.run(until_us=m.us(m.now) + 500_000.0)
        if m.now == before or m.us(m.now) > SIM_LIMIT_US or time.monotonic() - t0 > WALL_LIMIT_S:
            left = [s.name for s in system.kernel.sched.strands.values()]
            system.shutdown()
            raise BenchmarkError(f"{name}: the benchmark did not finish; strands left: {left}")
    if "result" not in box:
        system.shutdown()
        raise BenchmarkError(f"{name}: the benchmark failed: {box.get('error', 'no result')}")
    leaked = system.shutdown()
    _require(name, not any(leaked.values()), f"resources leaked: {leaked}")


def _measure(system: SpinSystem, loop: Callable[[int], Any], n: int, per: int, box: dict[str, Any]) -> None:
    k = system.kernel
    timer = Timer(lambda: system.machine.loop.now)
    timer.warm_up(loop, n)
    before = k.statistics()
    box["result"] = timer.measure(loop, n, per)
    box["stats"] = (before, k.statistics())


def _delta(box: dict[str, Any], path: str) -> int:
    a, b = box["stats"]
    for part in path.split("."):
        a, b = getattr(a, part), getattr(b, part)
    return int(b - a)


def _result(name: str, profile: str, box: dict[str, Any], n: int, per: int) -> Result:
    cycles, wall, call = box["result"]
    return Result(name, SYSTEM, cycles, get_profile(profile).us(cycles), wall, n * per, call)


def _posix_bench(profile: str, name: str, n: int, per: int,
                 setup: Callable[[SpinSystem, dict[str, Any]], Callable[[int], Any]]) -> dict[str, Any]:
    """Run ``setup``'s loop in a Unix process on SPIN and measure it."""
    system = boot(SYSTEM, profile)
    box: dict[str, Any] = {"cleanup": []}

    def main(argv: list[str]) -> int:
        try:
            loop = setup(system, box)
            _measure(system, loop, n, per, box)
            for fn in box["cleanup"]:
                fn()
        except Exception as e:
            box["error"] = f"{type(e).__name__}: {e}"
            raise
        return 0

    system.start(main, name=name)
    _finish(system, name, box)
    return box


# ----------------------------------------------------------------- traps and calls


def null_syscall(profile: str, n: int) -> Result:
    def setup(system: SpinSystem, box: dict[str, Any]) -> Callable[[int], Any]:
        system.kernel.load(spin_extensions.source("null_syscall"), "null_syscall.py")
        trap = system.kernel.syscall

        def loop(k: int) -> None:
            for _ in range(k):
                trap(0)
        return loop

    box = _posix_bench(profile, "null_syscall", n, 1, setup)
    _require("null_syscall", _delta(box, "syscalls") == _ops(n), "not one trap per operation")
    return _result("null_syscall", profile, box, n, 1)


def _null_procedure() -> int:
    return 0


def _server(w: int, r: int) -> int:
    posix.rpc_register(0, _null_procedure)
    posix.write(w, b"!")
    posix.read(r, 1)  # blocks until the client is done
    return 0


def cross_as_call(profile: str, n: int) -> Result:
    def setup(system: SpinSystem, box: dict[str, Any]) -> Callable[[int], Any]:
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
        box["cleanup"].append(finish)

        def loop(k: int) -> None:
            for _ in range(k):
                call(pid, 0)
        return loop

    box = _posix_bench(profile, "cross_as_call", n, 1, setup)
    _require("cross_as_call", _delta(box, "syscalls") == _ops(n), "not one trap per call")
    _require("cross_as_call", _delta(box, "scheduler.switches") == 0, "a call switched strands")
    return _result("cross_as_call", profile, box, n, 1)


# ----------------------------------------------------------------- kernel threads


def _kernel_bench(profile: str, name: str, n: int, per: int, fn: str) -> dict[str, Any]:
    system = boot(SYSTEM, profile)
    k = system.kernel
    k.load(spin_extensions.source("kthreads"), "kthreads.py")
    d = k.load(KBENCH, "kbench.py")
    body = dict(d.exports["spin.kbench"])[fn]
    box: dict[str, Any] = {}

    def main() -> None:
        try:
            _measure(system, body, n, per, box)
        except Exception as e:
            box["error"] = f"{type(e).__name__}: {e}"

    # the loop runs in a kernel strand, whose domain budget is reset as it is scheduled
    s = k.sched.create(main, (), name)
    s._budget = d.budget
    _finish(system, name, box)
    return box


def fork_join_kernel(profile: str, n: int) -> Result:
    box = _kernel_bench(profile, "fork_join_kernel", n, 1, "fork_join")
    _require("fork_join_kernel", _delta(box, "scheduler.strands_created") == _ops(n),
             "not one strand per fork")
    return _result("fork_join_kernel", profile, box, n, 1)


def ping_pong_kernel(profile: str, n: int) -> Result:
    box = _kernel_bench(profile, "ping_pong_kernel", n, 2, "ping_pong")
    _require("ping_pong_kernel", _delta(box, "scheduler.switches") >= _ops(n, 2),
             "fewer switches than hand-offs")
    return _result("ping_pong_kernel", profile, box, n, 2)


# ----------------------------------------------------------------- user-level threads


def _null_thread() -> int:
    return 0


def fork_join_user_integrated(profile: str, n: int) -> Result:
    def setup(system: SpinSystem, box: dict[str, Any]) -> Callable[[int], Any]:
        create, join = posix.thread_create, posix.thread_join

        def loop(k: int) -> None:
            for _ in range(k):
                join(create(_null_thread))
        return loop

    box = _posix_bench(profile, "fork_join_user_integrated", n, 1, setup)
    _require("fork_join_user_integrated", _delta(box, "scheduler.strands_created") == _ops(n),
             "not one strand per thread")
    return _result("fork_join_user_integrated", profile, box, n, 1)


def _posix_player(state: dict[str, Any], me: int, n: int) -> int:
    m, c = state["mutex"], state["cond"]
    for _ in range(n):
        with m:
            while state["turn"] != me:
                c.wait()
            state["turn"] = 1 - me
            c.signal()
    return 0


def ping_pong_user_integrated(profile: str, n: int) -> Result:
    def setup(system: SpinSystem, box: dict[str, Any]) -> Callable[[int], Any]:
        def loop(k: int) -> None:
            m = posix.mutex()
            state = {"mutex": m, "cond": posix.condition(m), "turn": 0}
            a = posix.thread_create(_posix_player, state, 0, k)
            b = posix.thread_create(_posix_player, state, 1, k)
            posix.thread_join(a)
            posix.thread_join(b)
        return loop

    box = _posix_bench(profile, "ping_pong_user_integrated", n, 2, setup)
    _require("ping_pong_user_integrated", _delta(box, "scheduler.switches") >= _ops(n, 2),
             "fewer switches than hand-offs")
    return _result("ping_pong_user_integrated", profile, box, n, 2)


def fork_join_user_layered(profile: str, n: int) -> Result:
    def setup(system: SpinSystem, box: dict[str, Any]) -> Callable[[int], Any]:
        ct = CThreads(system.machine.cpu)
        box["ct"] = ct

        def loop(k: int) -> None:
            for _ in range(k):
                ct.join(ct.fork(_null_thread))
        return loop

    box = _posix_bench(profile, "fork_join_user_layered", n, 1, setup)
    _require("fork_join_user_layered", _delta(box, "syscalls") == 0, "the layered package trapped")
    _require("fork_join_user_layered", box["ct"].forks >= _ops(n), "not one thread per fork")
    return _result("fork_join_user_layered", profile, box, n, 1)


def _layered_player(ct: CThreads, state: dict[str, Any], me: int, n: int) -> int:
    m, c = state["mutex"], state["cond"]
    for _ in range(n):
        with m:
            while state["turn"] != me:
                c.wait()
            state["turn"] = 1 - me
            c.signal()
    return 0


def ping_pong_user_layered(profile: str, n: int) -> Result:
    def setup(system: SpinSystem, box: dict[str, Any]) -> Callable[[int], Any]:
        ct = CThreads(system.machine.cpu)
        box["ct"] = ct

        def loop(k: int) -> None:
            m = ct.mutex()
            state = {"mutex": m, "cond": ct.condition(m), "turn": 0}
            a = ct.fork(_layered_player, ct, state, 0, k)
            b = ct.fork(_layered_player, ct, state, 1, k)
            ct.join(a)
            ct.join(b)
        return loop

    box = _posix_bench(profile, "ping_pong_user_layered", n, 2, setup)
    _require("ping_pong_user_layered", _delta(box, "syscalls") == 0, "the layered package trapped")
    return _result("ping_pong_user_layered", profile, box, n, 2)


#: name -> (function, iterations when quick, iterations in full)
BENCHMARKS: dict[str, tuple[Callable[[str, int], Result], int, int]] = {
    "null_syscall": (null_syscall, 2_000, 50_000),
    "cross_as_call": (cross_as_call, 1_000, 20_000),
    "fork_join_kernel": (fork_join_kernel, 500, 10_000),
    "ping_pong_kernel": (ping_pong_kernel, 500, 10_000),
    "fork_join_user_integrated": (fork_join_user_integrated, 500, 10_000),
    "ping_pong_user_integrated": (ping_pong_user_integrated, 500, 10_000),
    "fork_join_user_layered": (fork_join_user_layered, 500, 10_000),
    "ping_pong_user_layered": (ping_pong_user_layered, 500, 10_000),
}


def run(profile: str, quick: bool = False, progress: Callable[[str], None] | None = None) -> list[Result]:
    out = []
    for name, (fn, n_quick, n_full) in BENCHMARKS.items():
        if progress is not None:
            progress(name)
        out.append(fn(profile, n_quick if quick else n_full))
    return out
