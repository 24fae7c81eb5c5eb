"""The posix benchmarks: one body per benchmark, run on any system that starts posix processes.

What this is
    The bodies of the IPC, Appel-Li virtual-memory and thread benchmarks,
    written against :mod:`exospin.posix` only, and the harness that runs one
    as a process of a booted system (``system.start``), measures its loop with
    ``Timer`` (warm-up, three runs, an interleaved plain-Python-call baseline)
    and ends the run with every process exited and nothing leaked. Each
    system's suite (exos_suite.py for Aegis with ExOS, unix_suite.py) calls
    these with a :class:`Target` that says how to boot the system and read
    its counters, then checks from those counters that the loop took the path
    the benchmark is named after. The definitions (what one operation is) are
    in exos_suite.py's table and apply unchanged to every system.

    The thread benchmarks take the thread interface as arguments (create,
    join, mutex, condition), so one body measures kernel threads
    (``posix.thread_*`` on Unix) or a user-level library:

    =================  ==========================================================
    fork_join          create a thread running a null procedure and join it
    ping_pong          two threads hand a turn back and forth under one mutex
                       and condition variable; one operation is a round trip
                       (signal the other and wait until it signals back)
    =================  ==========================================================

Interface
    ``Target``; ``run_posix(target, profile, name, n, setup, per)``; the
    bodies ``ipc_pipe``, ``ipc_shm``, ``ipc_lrpc``, ``vm_dirty``, ``vm_prot1``,
    ``vm_prot100``, ``vm_unprot100``, ``vm_trap``, ``vm_fault``, ``vm_appel1``,
    ``vm_appel2``, ``fork_join``, ``ping_pong``, each ``(target, profile, n) ->
    (Result, shared dict)``; ``checked(target, name, per, **per_op)`` (a body and
    its exact counter checks as one runner); the check helpers ``expect``,
    ``require``, ``delta``, ``ops``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from .. import posix
from ..machine import get_profile
from .harness import REPEATS, BenchmarkError, Result, Timer, python_call_ns

SHM_KEY = "exospin.bench.ipc_shm"
APPEL1_PAGES = 8
RUN_CHUNK_US = 500_000.0  # simulated time per call of System.run while we wait for the end
SIM_LIMIT_US = 2_000_000.0  # a benchmark needs at most 0.2 s of simulated time: past this, it is stuck
WALL_LIMIT_S = 300.0  # the same, on our clock
BASELINE_MIN = 1_000  # fewer loop iterations than this make too short a Python-call baseline

Setup = Callable[[dict[str, Any]], Callable[[int], Any]]


@dataclass(frozen=True)
class Target:
    """How to run posix benchmarks on one system."""

    system: str  # the name results carry
    boot: Callable[[str], Any]  # profile -> a booted system with start/run/exit_status/shutdown
    snapshot: Callable[[Any, Any], dict[str, int]]  # (system, process) -> counters
    running: Callable[[Any], dict[int, str]]  # system -> what is still running (id -> name)
    leftovers: Callable[[Any], dict[str, int]]  # shut the system down; what is left (all 0 if clean)
    deaths: Callable[[Any], Any]  # system -> how its processes ended (for error messages)
    #: options of ``system.start`` for the measuring process (ExOS: ``page_table="inverted"``)
    start_options: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------ harness


def sim_clock(clock_hz: int) -> Callable[[], int]:
    """The simulated cycle counter, read through posix.time_us (exact: the µs are
    cycles * 1e6 / clock_hz in a double, far from rounding trouble)."""
    time_us = posix.time_us

    def cycles() -> int:
        return round(time_us() * clock_hz / 1e6)
    return cycles


def _drive(target: Target, system: Any, name: str) -> None:
    """Run the system until every process has ended (a deadlock is an error, not a hang)."""
    m = system.machine
    t0, start = time.monotonic(), m.us(m.now)
    while target.running(system):
        before = m.now
        system.run(until_us=m.us(m.now) + RUN_CHUNK_US, report=False)  # a failure is a BenchmarkError
        if m.now == before or m.us(m.now) - start > SIM_LIMIT_US or time.monotonic() - t0 > WALL_LIMIT_S:
            left = target.running(system)
            target.leftovers(system)
            raise BenchmarkError(f"{name}: the benchmark did not finish; still running: {left}")


def _check_clean(target: Target, system: Any, name: str) -> None:
    leaked = target.leftovers(system)
    if any(leaked.values()):
        raise BenchmarkError(f"{name}: resources leaked: {leaked}")


def run_posix(target: Target, profile: str, name: str, n: int, setup: Setup,
              per: int = 1) -> tuple[Result, dict[str, Any]]:
    """Boot, start a process that runs ``setup`` (which may fork helpers and register
    ``cleanup`` and ``verify`` steps), measure its loop, end cleanly."""
    system = target.boot(profile)
    prof = get_profile(profile)
    sh: dict[str, Any] = {"system": system, "cleanup": [], "verify": []}

    def main(argv: list[str]) -> int:
        try:
            proc = posix._p()  # the process: only to read its statistics
            sh["proc"] = proc
            loop = setup(sh)
            timer = Timer(sim_clock(prof.clock_hz))
            timer.warm_up(loop, n)
            sh["before"] = target.snapshot(system, proc)
            cycles, wall, call = timer.measure(loop, n, per)
            result = (cycles, wall, baseline(call, n), timer.py_cycles(prof))
            sh["after"] = target.snapshot(system, proc)
            for check in sh["verify"]:
                check()
            for fn in reversed(sh["cleanup"]):
                fn()
            sh["result"] = result
        except BaseException as e:
            sh["error"] = f"{type(e).__name__}: {e}"
            raise
        return 0

    pid = system.start(main, name=name, **target.start_options)
    _drive(target, system, name)
    status = system.exit_status(pid)
    if "result" not in sh or status != 0:
        why = sh.get("error") or f"exit status {status}"
        deaths = target.deaths(system)
        target.leftovers(system)
        raise BenchmarkError(f"{name}: the benchmark failed: {why} (processes: {deaths})")
    _check_clean(target, system, name)
    cycles, wall, call, py = sh["result"]
    ext = None
    if "extension_cycles" in sh["after"]:  # SPIN: its extensions' own code, measured
        ext = delta(sh, "extension_cycles") / ops(n, per)
    return Result(name, target.system, cycles, prof.us(cycles), wall, n * per, call, ext, py), sh


def baseline(call: float, n: int) -> float:
    """The plain-call baseline: Timer.measure's interleaved one, unless the loop ran so few
    times (matmul, vm_appel2) that a loop of that many calls is mostly timer overhead;
    then a longer loop of calls, measured right after the benchmark in the same process."""
    return call if n >= BASELINE_MIN else python_call_ns(20_000)


def ops(n: int, per: int = 1) -> int:
    """How many operations the measured runs performed (warm-up excluded)."""
    return n * per * REPEATS


def all_ops(n: int, per: int = 1) -> int:
    """Operations including the warm-up: how many fresh pages a benchmark consumes."""
    return (max(1, n // 10) + n * REPEATS) * per


def delta(sh: dict[str, Any], key: str) -> int:
    return int(sh["after"][key] - sh["before"][key])


def require(name: str, ok: bool, why: str) -> None:
    if not ok:
        raise BenchmarkError(f"{name}: {why}")


def expect(name: str, sh: dict[str, Any], **counts: int) -> None:
    """Each named counter moved by exactly this much during the measured runs."""
    for key, want in counts.items():
        got = delta(sh, key)
        require(name, got == want, f"expected {want} {key} during the measured runs, saw {got}")


def checked(target: Target, name: str, per: int = 1, **per_op: int) -> Callable[[str, int], Result]:
    """The runner ``(profile, n) -> Result`` of the body ``name`` on ``target`` that then
    checks each named counter moved by exactly ``per_op[key]`` per operation (``per``
    operations per loop iteration): the common shape of a suite's path check."""
    body = globals()[name]

    def run(profile: str, n: int) -> Result:
        res, sh = body(target, profile, n)
        k = ops(n, per)
        expect(name, sh, **{key: m * k for key, m in per_op.items()})
        return res  # type: ignore[no-any-return]
    run.__name__ = name
    return run


def _close_all(fds: tuple[int, ...]) -> None:
    for fd in fds:
        posix.close(fd)


# --------------------------------------------------------------------- IPC


def _echo_child(r: int, w: int, *unused: int) -> int:
    """ipc_pipe's other process: read a word, write it back, until end of file."""
    _close_all(unused)
    wb = posix.word_size()
    while True:
        word = posix.read(r, wb)
        if not word:
            break
        posix.write(w, word)
    _close_all((r, w))
    return 0


SHM_STOP = 0xFFFFFFFF  # the request word that ends the server


def _shm_server(key: str, r: int, w: int, *unused: int) -> int:
    """ipc_shm's other process: wait on the request word, answer with the reply word.

    The segment holds [request, reply, client pid]. Waiting and waking are
    posix.wait_word / posix.wake; no pipe involved."""
    _close_all(unused)
    wb = posix.word_size()
    seg = posix.shm_open(key, 1)
    posix.write(w, b"s")  # mapped: the client may start
    last = 0
    while (req := posix.wait_word(seg, last)) != SHM_STOP:
        last = req
        posix.store(seg + wb, req)
        posix.wake(posix.load(seg + 2 * wb))
    _close_all((r, w))
    return 0


def _echo(word: int) -> int:
    return word


def _rpc_server(r: int, w: int, *unused: int) -> int:
    """ipc_lrpc's other process: offer the echo procedure, then sleep until told to end."""
    _close_all(unused)
    posix.rpc_register(0, _echo)
    posix.write(w, b"r")  # registered
    posix.read(r, 1)  # end of file when the client is done; calls arrive meanwhile
    _close_all((r, w))
    return 0


def _helper(sh: dict[str, Any], fn: Callable[..., int], *args: Any) -> tuple[int, int, int]:
    """Fork a helper process with two pipes; returns (child pid, our write fd, our read fd)
    and registers the cleanup that ends it (end of file) and reaps it."""
    r1, w1 = posix.pipe()  # us -> child
    r2, w2 = posix.pipe()  # child -> us
    child = posix.fork(fn, *args, r1, w2, w1, r2)
    _close_all((r1, w2))

    def cleanup() -> None:
        posix.close(w1)
        _, status = posix.wait(child)
        posix.close(r2)
        if status != 0:
            raise BenchmarkError(f"the helper process {child} exited with status {status}")
    sh["cleanup"].append(cleanup)
    return child, w1, r2


def ipc_pipe(target: Target, profile: str, n: int) -> tuple[Result, dict[str, Any]]:
    def setup(sh: dict[str, Any]) -> Callable[[int], None]:
        wb = posix.word_size()
        _, w, r = _helper(sh, _echo_child)
        words = [(0x5A5A0000 + i).to_bytes(wb, "little") for i in range(256)]
        write, read = posix.write, posix.read

        def loop(n: int) -> None:
            for i in range(n):
                word = words[i & 255]
                write(w, word)
                if read(r, wb) != word:
                    raise BenchmarkError("ipc_pipe: the word came back wrong")
        return loop

    return run_posix(target, profile, "ipc_pipe", n, setup)


def ipc_shm(target: Target, profile: str, n: int) -> tuple[Result, dict[str, Any]]:
    def setup(sh: dict[str, Any]) -> Callable[[int], None]:
        wb = posix.word_size()
        seg = posix.shm_open(SHM_KEY, 1)
        posix.store(seg + 2 * wb, posix.getpid())
        server, w, r = _helper(sh, _shm_server, SHM_KEY)
        if posix.read(r, 1) != b"s":
            raise BenchmarkError("ipc_shm: the server did not map the segment")
        load, store, wait_word, wake = posix.load, posix.store, posix.wait_word, posix.wake

        def stop() -> None:
            store(seg, SHM_STOP)
            wake(server)
        sh["cleanup"].append(stop)  # cleanups run last-in first: stop the server before reaping it

        def loop(n: int) -> None:
            for i in range(n):
                word = 0x5A5A0000 + (i & 0xFFFF)
                prev = load(seg + wb)
                store(seg, word)  # the request
                wake(server)
                if wait_word(seg + wb, prev) != word:  # sleep until the reply word changes
                    raise BenchmarkError("ipc_shm: the reply word is wrong")
        return loop

    return run_posix(target, profile, "ipc_shm", n, setup)


def ipc_lrpc(target: Target, profile: str, n: int, name: str = "ipc_lrpc",
             call: Callable[[Any], Callable[..., Any]] | None = None) -> tuple[Result, dict[str, Any]]:
    """rpc_call of a one-word echo procedure the other process registered. ``call`` picks
    the calling function from the process object (default: posix.rpc_call)."""
    def setup(sh: dict[str, Any]) -> Callable[[int], None]:
        child, _, r = _helper(sh, _rpc_server)
        if posix.read(r, 1) != b"r":
            raise BenchmarkError(f"{name}: the server did not register its procedure")
        rpc = call(sh["proc"]) if call is not None else posix.rpc_call

        def loop(n: int) -> None:
            for i in range(n):
                if rpc(child, 0, i) != i:
                    raise BenchmarkError(f"{name}: the reply is wrong")
        return loop

    return run_posix(target, profile, name, n, setup)


# ---------------------------------------------------------------------- VM


def _written_pages(count: int) -> list[int]:
    """``count`` distinct resident, written pages at consecutive addresses, all
    aliases of one frame (so that thousands cost one frame)."""
    first = posix.mmap(1)
    posix.store(first, 1)
    pages = [posix.alias(first) for _ in range(count)]
    page = posix.page_size()
    if pages != [pages[0] + i * page for i in range(count)]:
        raise BenchmarkError("alias() did not hand out consecutive pages")
    for p in pages:
        posix.store(p, 1)  # resident, dirty and writable
    return pages


def _check_protection(name: str, pages: list[int], writable: bool) -> Callable[[], None]:
    """A verify step: stores to a sample of ``pages`` fault (or not) as expected."""
    def verify() -> None:
        faults: list[int] = []

        def count(vaddr: int, write: bool) -> bool:
            faults.append(vaddr)
            return True  # skip the store
        sample = pages[:: max(1, len(pages) // 64)]
        wb = posix.word_size()
        posix.on_fault(count)
        for p in sample:
            posix.load(p)  # bind it (read-only if protected): ExOS can skip a store only then
            posix.store(p + wb, 2)
        posix.on_fault(None)
        want = 0 if writable else len(sample)
        require(name, len(faults) == want,
                 f"{len(faults)} of {len(sample)} sampled pages refused a store; expected {want}")
    return verify


def vm_dirty(target: Target, profile: str, n: int) -> tuple[Result, dict[str, Any]]:
    def setup(sh: dict[str, Any]) -> Callable[[int], None]:
        a = posix.mmap(1)
        posix.store(a, 1)
        dirty = posix.dirty
        answers: set[bool] = set()
        sh["answers"] = answers

        def loop(n: int) -> None:
            d = False
            for _ in range(n):
                d = dirty(a)
            answers.add(d)
        return loop

    res, sh = run_posix(target, profile, "vm_dirty", n, setup)
    require("vm_dirty", sh["answers"] == {True}, f"dirty() of a written page answered {sh['answers']}")
    return res, sh


def _mprotect_bench(target: Target, profile: str, n: int, name: str, npages: int,
                    prot: int) -> tuple[Result, dict[str, Any]]:
    def setup(sh: dict[str, Any]) -> Callable[[int], None]:
        pages = _written_pages(npages * all_ops(n))
        if prot == posix.PROT_RW:  # unprotect: the pages start read-only
            posix.mprotect(pages[0], len(pages), posix.PROT_READ)
        starts = iter(pages[::npages])
        mprotect = posix.mprotect
        used: list[int] = []

        def loop(n: int) -> None:
            done = 0
            for p in islice(starts, n):
                mprotect(p, npages, prot)
                done += 1
            if done != n:
                raise BenchmarkError(f"{name}: ran out of fresh pages")
            used.append(n)

        def verify() -> None:  # the pages the measured runs changed (after the warm-up's)
            _check_protection(name, pages[npages * used[0]:], prot == posix.PROT_RW)()
        sh["verify"].append(verify)
        return loop

    return run_posix(target, profile, name, n, setup)


def vm_prot1(target: Target, profile: str, n: int) -> tuple[Result, dict[str, Any]]:
    return _mprotect_bench(target, profile, n, "vm_prot1", 1, posix.PROT_READ)


def vm_prot100(target: Target, profile: str, n: int) -> tuple[Result, dict[str, Any]]:
    return _mprotect_bench(target, profile, n, "vm_prot100", 100, posix.PROT_READ)


def vm_unprot100(target: Target, profile: str, n: int) -> tuple[Result, dict[str, Any]]:
    return _mprotect_bench(target, profile, n, "vm_unprot100", 100, posix.PROT_RW)


def vm_trap(target: Target, profile: str, n: int) -> tuple[Result, dict[str, Any]]:
    hz = get_profile(profile).clock_hz

    def setup(sh: dict[str, Any]) -> Callable[[int], None]:
        wb = posix.word_size()
        a = posix.mmap(1)
        posix.store(a, 1)
        posix.mprotect(a, 1, posix.PROT_READ)
        addrs = (a, a + wb)  # two words: ExOS would take one word faulting 3 times as unfixed
        clock = sim_clock(hz)
        now = time.perf_counter_ns
        start = [0, 0]  # simulated cycles, wall ns, just before the store
        acc = [0, 0]  # this loop call's totals up to the handler's first line
        runs: list[tuple[int, int]] = []
        sh["runs"] = runs

        def handler(vaddr: int, write: bool) -> bool:
            t = now()
            c = clock()
            acc[0] += c - start[0]
            acc[1] += t - start[1]
            return True  # skip the store
        posix.on_fault(handler)
        store = posix.store

        def loop(n: int) -> None:
            acc[0] = acc[1] = 0
            for i in range(n):
                addr = addrs[i & 1]
                start[0] = clock()
                start[1] = now()
                store(addr, i)
            runs.append((acc[0], acc[1]))
        return loop

    res, sh = run_posix(target, profile, "vm_trap", n, setup)
    measured = sh["runs"][-REPEATS:]
    cycles = sum(c for c, _ in measured) / ops(n)
    wall = min(w for _, w in measured) / n
    return dataclasses.replace(res, sim_cycles=cycles, sim_us=get_profile(profile).us(cycles), wall_ns=wall), sh


def _unprotect_handler(mask: int) -> Callable[[int, bool], None]:
    mprotect = posix.mprotect

    def handler(vaddr: int, write: bool) -> None:
        mprotect(vaddr & mask, 1, posix.PROT_RW)
    return handler


def vm_fault(target: Target, profile: str, n: int) -> tuple[Result, dict[str, Any]]:
    def setup(sh: dict[str, Any]) -> Callable[[int], None]:
        pages = _written_pages(all_ops(n))
        posix.mprotect(pages[0], len(pages), posix.PROT_READ)
        posix.on_fault(_unprotect_handler(-posix.page_size()))
        fresh = iter(pages)
        store = posix.store

        def loop(n: int) -> None:
            done = 0
            for p in islice(fresh, n):
                store(p, 2)
                done += 1
            if done != n:
                raise BenchmarkError("vm_fault: ran out of fresh pages")
        return loop

    return run_posix(target, profile, "vm_fault", n, setup)


def vm_appel1(target: Target, profile: str, n: int) -> tuple[Result, dict[str, Any]]:
    def setup(sh: dict[str, Any]) -> Callable[[int], None]:
        page = posix.page_size()
        base = posix.mmap(APPEL1_PAGES)
        pages = [base + i * page for i in range(APPEL1_PAGES)]
        for p in pages:
            posix.store(p, 1)
        after = {p: pages[(i + 1) % APPEL1_PAGES] for i, p in enumerate(pages)}
        mprotect, mask = posix.mprotect, -page

        def handler(vaddr: int, write: bool) -> None:
            p = vaddr & mask
            mprotect(p, 1, posix.PROT_RW)
            mprotect(after[p], 1, posix.PROT_READ)  # the next page the program stores to
        posix.mprotect(pages[0], 1, posix.PROT_READ)
        posix.on_fault(handler)
        store = posix.store
        cur = [0]

        def loop(n: int) -> None:
            i = cur[0]
            for _ in range(n):
                store(pages[i], 2)
                i = (i + 1) % APPEL1_PAGES
            cur[0] = i
        return loop

    return run_posix(target, profile, "vm_appel1", n, setup)


def vm_appel2(target: Target, profile: str, n: int) -> tuple[Result, dict[str, Any]]:
    npages = 100

    def setup(sh: dict[str, Any]) -> Callable[[int], None]:
        page = posix.page_size()
        base = posix.mmap(npages)
        pages = [base + i * page for i in range(npages)]
        for p in pages:
            posix.store(p, 1)
        posix.on_fault(_unprotect_handler(-page))
        mprotect, store, read_only = posix.mprotect, posix.store, posix.PROT_READ

        def loop(n: int) -> None:
            for _ in range(n):
                mprotect(base, npages, read_only)
                for p in pages:
                    store(p, 2)
        return loop

    return run_posix(target, profile, "vm_appel2", n, setup, per=npages)


# ----------------------------------------------------------------- threads


def fork_join(target: Target, profile: str, n: int, name: str,
              api: Callable[[dict[str, Any]], tuple[Callable[..., Any], Callable[[Any], Any]]],
              ) -> tuple[Result, dict[str, Any]]:
    """Create a thread running a null procedure and join it. ``api(sh)`` returns the
    (create, join) pair to measure, from inside the process."""
    def null() -> int:
        return 7

    def setup(sh: dict[str, Any]) -> Callable[[int], None]:
        create, join = api(sh)

        def loop(n: int) -> None:
            for _ in range(n):
                if join(create(null)) != 7:
                    raise BenchmarkError(f"{name}: the thread's result is wrong")
        return loop

    return run_posix(target, profile, name, n, setup)


def ping_pong(target: Target, profile: str, n: int, name: str,
              api: Callable[[dict[str, Any]], tuple[Callable[..., Any], Callable[[Any], Any], Any, Any]],
              ) -> tuple[Result, dict[str, Any]]:
    """Two threads pass a turn back and forth: signal the other, wait until it signals
    back. ``api(sh)`` returns (create, join, mutex, condition) from inside the process."""
    def setup(sh: dict[str, Any]) -> Callable[[int], None]:
        create, join, m, c = api(sh)
        turn = [0]  # 0: the measuring thread's turn; 1: the partner's; 2: stop

        def partner() -> int:
            rounds = 0
            with m:
                while True:
                    while turn[0] == 0:
                        c.wait()
                    if turn[0] == 2:
                        return rounds
                    turn[0] = 0
                    rounds += 1
                    c.signal()

        tid = create(partner)

        def stop() -> None:
            with m:
                turn[0] = 2
                c.signal()
            join(tid)
        sh["cleanup"].append(stop)

        def loop(n: int) -> None:
            with m:
                for _ in range(n):
                    turn[0] = 1
                    c.signal()
                    while turn[0] != 0:
                        c.wait()
        return loop

    return run_posix(target, profile, name, n, setup)
