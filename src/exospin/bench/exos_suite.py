"""The ExOS benchmarks: IPC, the Appel-Li virtual-memory set, and a matrix multiply.

What this measures
    The library operating system of the exokernel paper (Engler et al.,
    section 6, tables 8-11) as applications see it: every benchmark but one
    is an ExOS process (``System.start``) that uses only :mod:`exospin.posix`,
    so the figures include everything ExOS does on the application's behalf.
    Each benchmark boots a fresh system, runs one operation in a loop with
    the harness of the Aegis suite (``Timer.warm_up``, ``Timer.measure``
    with an interleaved plain-Python-call baseline), and checks from the
    kernel's and ExOS' statistics that the loop took the path it is named
    after. Every run ends with every process exited and nothing leaked, in
    Aegis (frames, capabilities, slices, environments) or in ExOS' shared
    tables (processes, pipes, shared frames). Figures are per operation:

    ==================  ==========================================================
    ipc_pipe            one word there and back between two processes over two
                        pipes: the parent writes it, the child (blocked in read)
                        is woken, reads it and writes it back, the parent reads it
    ipc_shm             one word there and back through a segment both processes
                        shm_open: the client stores the request word and wakes the
                        server blocked in posix.wait_word on it; the server stores
                        the reply word and wakes the client the same way (a thread
                        blocked on the word, woken by asynchronous PCT)
    ipc_lrpc            posix.rpc_call of a one-word echo procedure the other
                        process registered: synchronous PCT there and back, the
                        caller saving its callee-saved registers around it
    ipc_lrpc_trusted    the same through ExOS.rpc_call_trusted (the caller trusts
                        the server to preserve registers and saves none)
    vm_dirty            posix.dirty() of one written page
    vm_prot1            mprotect(PROT_READ) of one resident, written page
    vm_prot100          mprotect(PROT_READ) of 100 such pages, per call
    vm_unprot100        mprotect(PROT_RW) of 100 read-only resident pages, per call
    vm_trap             from just before a store to a read-only page until the first
                        line of the application's fault handler (the rest of the
                        round trip, the handler returning "skip the store" and the
                        program resuming, is outside the figure)
    vm_fault            a store to a read-only page; the handler unprotects it; the
                        store is retried and completes
    vm_appel1           a store to a read-only page; the handler unprotects it and
                        protects another page (the next one to be stored to)
    vm_appel2           protect 100 pages in one call, then store to each; the
                        handler unprotects the faulting page. Per page
    matmul_exos         an N x N word matrix multiply as an ExOS process: mmap
                        three matrices (demand-zero), fill A and B, multiply into
                        C, munmap; every fault, frame zeroing and frame free timed
    matmul_bare         the same arithmetic in an environment whose pages were
                        allocated and bound (frame_alloc, tlb_write) before the
                        timing starts: no fault, no library OS, during the run
    ==================  ==========================================================

Why it is built this way
    Protection benchmarks store to read-only pages (write protection, the
    checkpointing and copy-on-write case, and the path the Aegis suite's
    exc_protection times). ExOS keeps the dirty bit in software; when the
    application's handler makes the faulting page writable, ExOS marks it
    dirty and binds it writable before the store is retried, so each fault
    of vm_fault, vm_appel1 and vm_appel2 is one exception (the checks count
    them).

    A benchmark that needs a fresh page per operation (prot1, prot100,
    unprot100, fault) uses distinct virtual pages that all alias one frame
    (posix.alias), each stored to once so it is resident and written:
    mprotect treats them like any resident page, and thousands of them cost
    one frame.

    vm_trap reads both clocks just before the store and again on the first
    line of the handler: the simulated clock costs nothing to read, so its
    figure is exactly the fault path; the wall figure includes one
    perf_counter_ns call. ExOS kills a process whose handler "does not fix"
    the same fault three times in a row, and counts a skipped store as not
    fixed (exos/vm.py, _user_fault), so the trap loop alternates between two
    words of the page.

    matmul: both runs do the same loads, stores and declared instructions
    (``compute(2)`` per multiply-add). The ExOS run's timed region includes
    mmap, the demand-zero faults (a TLB miss, an upcall to ExOS, frame_alloc,
    which zeroes the frame, tlb_write) and munmap (frame_free); the bare
    run's frame allocation, zeroing and binding happen before its timing
    starts. The comparison is therefore tilted against ExOS, which is the
    direction that makes "user-level VM costs nothing when unused" a safe
    claim. Both run in one time slice of 64 and pay the same timer
    interrupts, epilogues and prologues. Wall-clock figures differ more than
    simulated ones: the ExOS run reaches the CPU through posix (a context
    variable lookup per access), the bare run calls the CPU directly.

Interface
    ``run(profile, quick, progress) -> list[Result]``; ``BENCHMARKS``;
    ``MATMUL_N``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from itertools import islice
from typing import Any

from .. import posix
from ..machine import get_profile
from ..systems import System, boot
from .harness import REPEATS, BenchmarkError, Result, Timer, python_call_ns

SYSTEM = "aegis"
MATMUL_N = 40  # about 0.27 M simulated cycles on the ds5000, 0.53 M on the alpha3000
BARE_BASE = 0x0100_0000  # where the bare matrix multiply puts its matrices
SHM_KEY = "exospin.bench.ipc_shm"
APPEL1_PAGES = 8
RUN_CHUNK_US = 500_000.0  # simulated time per call of System.run while we wait for the end
SIM_LIMIT_US = 2_000_000.0  # a benchmark needs at most 0.2 s of simulated time: past this, it is stuck
WALL_LIMIT_S = 300.0  # the same, on our clock
BASELINE_MIN = 1_000  # fewer loop iterations than this make too short a Python-call baseline

Setup = Callable[[dict[str, Any]], Callable[[int], Any]]


# ------------------------------------------------------------------ harness


def _sim_clock(clock_hz: int) -> Callable[[], int]:
    """The simulated cycle counter, read through posix.time_us (exact: the µs are
    cycles * 1e6 / clock_hz in a double, far from rounding trouble)."""
    time_us = posix.time_us

    def cycles() -> int:
        return round(time_us() * clock_hz / 1e6)
    return cycles


def _snapshot(system: System, proc: Any) -> dict[str, int]:
    """The kernel's counters and the measuring process's ExOS counters."""
    d: dict[str, int] = dataclasses.asdict(system.kernel.statistics())
    vm = proc.vm
    d.update(user_faults=vm.user_faults, dirty_faults=vm.dirty_faults, tlb_miss_upcalls=vm.tlb_miss_upcalls,
             demand_zero_fills=vm.demand_zero_fills, wakeups=proc.wakeups)
    return d


def _drive(system: System, name: str) -> None:
    """Run the system until every environment has ended (a deadlock is an error, not a hang)."""
    m = system.machine
    t0, start = time.monotonic(), m.us(m.now)
    while system.kernel.envs:
        before = m.now
        system.run(until_us=m.us(m.now) + RUN_CHUNK_US)
        if m.now == before or m.us(m.now) - start > SIM_LIMIT_US or time.monotonic() - t0 > WALL_LIMIT_S:
            left = {e.id: e.name for e in system.kernel.envs.values()}
            system.shutdown()
            raise BenchmarkError(f"{name}: the benchmark did not finish; still running: {left}")


def _check_clean(system: System, name: str) -> None:
    ex = system.exos
    tables = {"processes": len(ex.procs), "pipes": len(ex.pipes), "shared frames": len(ex.sharers)}
    leaked = system.shutdown()
    if any(leaked.values()) or any(tables.values()):
        raise BenchmarkError(f"{name}: resources leaked: {leaked}, ExOS tables not empty: {tables}")


def _run(profile: str, name: str, n: int, setup: Setup, per: int = 1) -> tuple[Result, dict[str, Any]]:
    """Boot, start an ExOS process that runs ``setup`` (which may fork helpers and
    register ``cleanup`` and ``verify`` steps), measure its loop, end cleanly."""
    system = boot(SYSTEM, profile)
    prof = get_profile(profile)
    sh: dict[str, Any] = {"system": system, "cleanup": [], "verify": []}

    def main(argv: list[str]) -> int:
        try:
            proc = posix._p()  # the ExOS process: only to read its statistics
            sh["proc"] = proc
            loop = setup(sh)
            timer = Timer(_sim_clock(prof.clock_hz))
            timer.warm_up(loop, n)
            sh["before"] = _snapshot(system, proc)
            cycles, wall, call = timer.measure(loop, n, per)
            result = (cycles, wall, _baseline(call, n))
            sh["after"] = _snapshot(system, proc)
            for check in sh["verify"]:
                check()
            for fn in reversed(sh["cleanup"]):
                fn()
            sh["result"] = result
        except BaseException as e:
            sh["error"] = f"{type(e).__name__}: {e}"
            raise
        return 0

    pid = system.start(main, name=name)
    _drive(system, name)
    status = system.exit_status(pid)
    if "result" not in sh or status != 0:
        why = sh.get("error") or f"exit status {status}"
        deaths = dict(system.kernel.deaths)
        system.shutdown()
        raise BenchmarkError(f"{name}: the benchmark failed: {why} (environments: {deaths})")
    _check_clean(system, name)
    cycles, wall, call = sh["result"]
    return Result(name, SYSTEM, cycles, prof.us(cycles), wall, n * per, call), sh


def _baseline(call: float, n: int) -> float:
    """The plain-call baseline: Timer.measure's interleaved one, unless the loop ran so few
    times (matmul, vm_appel2) that a loop of that many calls is mostly timer overhead;
    then a longer loop of calls, measured right after the benchmark in the same process."""
    return call if n >= BASELINE_MIN else python_call_ns(20_000)


def _ops(n: int, per: int = 1) -> int:
    """How many operations the measured runs performed (warm-up excluded)."""
    return n * per * REPEATS


def _all_ops(n: int, per: int = 1) -> int:
    """Operations including the warm-up: how many fresh pages a benchmark consumes."""
    return (max(1, n // 10) + n * REPEATS) * per


def _delta(sh: dict[str, Any], key: str) -> int:
    return int(sh["after"][key] - sh["before"][key])


def _require(name: str, ok: bool, why: str) -> None:
    if not ok:
        raise BenchmarkError(f"{name}: {why}")


def _expect(name: str, sh: dict[str, Any], **counts: int) -> None:
    """Each named counter moved by exactly this much during the measured runs."""
    for key, want in counts.items():
        got = _delta(sh, key)
        _require(name, got == want, f"expected {want} {key} during the measured runs, saw {got}")


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
    posix.wait_word / posix.wake: ExOS blocks the thread on the word and the
    other side wakes it by protected control transfer; no pipe involved."""
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


def _woken_each_round_trip(name: str, sh: dict[str, Any], n: int) -> None:
    """Each round trip woke the sleeping side once or twice, by asynchronous PCT."""
    ops = _ops(n)
    wakes = _delta(sh, "pct_async")
    _require(name, ops <= wakes <= 2 * ops, f"expected one or two PCT wake-ups per round trip, saw {wakes} for {ops}")


def ipc_pipe(profile: str, n: int) -> Result:
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

    res, sh = _run(profile, "ipc_pipe", n, setup)
    _woken_each_round_trip("ipc_pipe", sh, n)
    _expect("ipc_pipe", sh, pct_sync=0)
    return res


def ipc_shm(profile: str, n: int) -> Result:
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

    res, sh = _run(profile, "ipc_shm", n, setup)
    _woken_each_round_trip("ipc_shm", sh, n)
    _expect("ipc_shm", sh, pct_sync=0, exceptions=0)
    return res


def _lrpc(profile: str, n: int, name: str, trusted: bool) -> Result:
    def setup(sh: dict[str, Any]) -> Callable[[int], None]:
        child, _, r = _helper(sh, _rpc_server)
        if posix.read(r, 1) != b"r":
            raise BenchmarkError(f"{name}: the server did not register its procedure")
        call = sh["proc"].rpc_call_trusted if trusted else posix.rpc_call

        def loop(n: int) -> None:
            for i in range(n):
                if call(child, 0, i) != i:
                    raise BenchmarkError(f"{name}: the reply is wrong")
        return loop

    res, sh = _run(profile, name, n, setup)
    _expect(name, sh, pct_sync=_ops(n), pct_async=0)
    return res


def ipc_lrpc(profile: str, n: int) -> Result:
    return _lrpc(profile, n, "ipc_lrpc", trusted=False)


def ipc_lrpc_trusted(profile: str, n: int) -> Result:
    return _lrpc(profile, n, "ipc_lrpc_trusted", trusted=True)


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
        _require(name, len(faults) == want,
                 f"{len(faults)} of {len(sample)} sampled pages refused a store; expected {want}")
    return verify


def vm_dirty(profile: str, n: int) -> Result:
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

    res, sh = _run(profile, "vm_dirty", n, setup)
    _require("vm_dirty", sh["answers"] == {True}, f"dirty() of a written page answered {sh['answers']}")
    _expect("vm_dirty", sh, exceptions=0)
    return res


def _mprotect_bench(profile: str, n: int, name: str, npages: int, prot: int) -> Result:
    def setup(sh: dict[str, Any]) -> Callable[[int], None]:
        pages = _written_pages(npages * _all_ops(n))
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

    res, sh = _run(profile, name, n, setup)
    _expect(name, sh, exceptions=0, user_faults=0)
    return res


def vm_prot1(profile: str, n: int) -> Result:
    return _mprotect_bench(profile, n, "vm_prot1", 1, posix.PROT_READ)


def vm_prot100(profile: str, n: int) -> Result:
    return _mprotect_bench(profile, n, "vm_prot100", 100, posix.PROT_READ)


def vm_unprot100(profile: str, n: int) -> Result:
    return _mprotect_bench(profile, n, "vm_unprot100", 100, posix.PROT_RW)


def vm_trap(profile: str, n: int) -> Result:
    hz = get_profile(profile).clock_hz

    def setup(sh: dict[str, Any]) -> Callable[[int], None]:
        wb = posix.word_size()
        a = posix.mmap(1)
        posix.store(a, 1)
        posix.mprotect(a, 1, posix.PROT_READ)
        addrs = (a, a + wb)  # two words: ExOS would take one word faulting 3 times as unfixed
        clock = _sim_clock(hz)
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

    res, sh = _run(profile, "vm_trap", n, setup)
    ops = _ops(n)
    _expect("vm_trap", sh, user_faults=ops, exceptions=ops, dirty_faults=0)
    measured = sh["runs"][-REPEATS:]
    cycles = sum(c for c, _ in measured) / ops
    wall = min(w for _, w in measured) / n
    return dataclasses.replace(res, sim_cycles=cycles, sim_us=get_profile(profile).us(cycles), wall_ns=wall)


def _unprotect_handler(mask: int) -> Callable[[int, bool], None]:
    mprotect = posix.mprotect

    def handler(vaddr: int, write: bool) -> None:
        mprotect(vaddr & mask, 1, posix.PROT_RW)
    return handler


def vm_fault(profile: str, n: int) -> Result:
    def setup(sh: dict[str, Any]) -> Callable[[int], None]:
        pages = _written_pages(_all_ops(n))
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

    res, sh = _run(profile, "vm_fault", n, setup)
    ops = _ops(n)
    # one protection fault, which the handler fixes (ExOS binds the page writable at once);
    # each page was bound long ago: the TLB refills it from the STLB first
    _expect("vm_fault", sh, user_faults=ops, dirty_faults=0, exceptions=ops, stlb_misses=0)
    return res


def vm_appel1(profile: str, n: int) -> Result:
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

    res, sh = _run(profile, "vm_appel1", n, setup)
    ops = _ops(n)
    _expect("vm_appel1", sh, user_faults=ops, dirty_faults=0, exceptions=ops)
    return res


def vm_appel2(profile: str, n: int) -> Result:
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

    res, sh = _run(profile, "vm_appel2", n, setup, per=npages)
    ops = _ops(n, npages)
    _expect("vm_appel2", sh, user_faults=ops, dirty_faults=0, exceptions=ops)
    return res


# ------------------------------------------------------------------ matmul


def _matmul_pages(profile: str) -> int:
    prof = get_profile(profile)
    return -(-3 * MATMUL_N * MATMUL_N * prof.word_bytes // prof.page_size)


def _matmul_expected() -> int:
    """The checksum of C = A B with A[i][k] = i + k + 1 and B[k][j] = (k * j) % 7 + 1."""
    n = MATMUL_N
    return sum(sum((i + k + 1) * ((k * j) % 7 + 1) for k in range(n)) for i in range(n) for j in range(n))


def _matmul(load: Callable[[int], int], store: Callable[[int, int], None], compute: Callable[[int], None],
            base: int, wb: int) -> int:
    """Fill A and B at ``base``, multiply into C after them; returns the sum of C's words."""
    n = MATMUL_N
    a, b, c = base, base + n * n * wb, base + 2 * n * n * wb
    for i in range(n):
        for k in range(n):
            store(a + (i * n + k) * wb, i + k + 1)
            store(b + (i * n + k) * wb, (i * k) % 7 + 1)
    total = 0
    for i in range(n):
        row = a + i * n * wb
        for j in range(n):
            col = b + j * wb
            acc = 0
            for k in range(n):
                acc += load(row + k * wb) * load(col + k * n * wb)
                compute(2)  # the multiply and the add
            store(c + (i * n + j) * wb, acc)
            total += acc
    return total


def matmul_exos(profile: str, n: int) -> Result:
    npages = _matmul_pages(profile)
    expected = _matmul_expected()

    def setup(sh: dict[str, Any]) -> Callable[[int], None]:
        wb = posix.word_size()
        load, store, compute, mmap, munmap = posix.load, posix.store, posix.compute, posix.mmap, posix.munmap

        def loop(n: int) -> None:
            for _ in range(n):
                base = mmap(npages)  # demand-zero: every page faults in during the multiply
                total = _matmul(load, store, compute, base, wb)
                munmap(base, npages)
                if total != expected:
                    raise BenchmarkError("matmul_exos: wrong product")
        return loop

    res, sh = _run(profile, "matmul_exos", n, setup)
    ops = _ops(n)
    _expect("matmul_exos", sh, demand_zero_fills=npages * ops, user_faults=0)
    return res


def matmul_bare(profile: str, n: int) -> Result:
    """The same multiply with every page allocated and bound before the timing starts."""
    name = "matmul_bare"
    npages = _matmul_pages(profile)
    expected = _matmul_expected()
    system = boot(SYSTEM, profile)
    prof = get_profile(profile)
    sh: dict[str, Any] = {}

    def bare(os_: Any, sys: Any) -> None:  # a MiniOS and Aegis' Syscalls (bench imports neither layer)
        page, wb = sys.page_size, sys.word_bytes
        caps = [sys.frame_alloc(pfn) for pfn in sys.free_frames()[:npages]]
        for i, cap in enumerate(caps):  # bound now: the kernel (and the library OS) manage nothing later
            sys.tlb_write(BARE_BASE + i * page, cap, True)
        # The library OS's page table stays empty: were a page ever missed in both the TLB and
        # the STLB, the refill would reach it and end the environment, failing the benchmark.
        cpu = sys.cpu

        def loop(n: int) -> None:
            for _ in range(n):
                if _matmul(cpu.load, cpu.store, cpu.compute, BARE_BASE, wb) != expected:
                    raise BenchmarkError("matmul_bare: wrong product")
        timer = Timer(cpu.cycles)
        timer.warm_up(loop, n)
        sh["before"] = dataclasses.asdict(system.kernel.statistics()) | {"upcalls_to_libos": os_.tlb_miss_upcalls}
        cycles, wall, call = timer.measure(loop, n)
        sh["after"] = dataclasses.asdict(system.kernel.statistics()) | {"upcalls_to_libos": os_.tlb_miss_upcalls}
        sh["result"] = (cycles, wall, _baseline(call, n))
        for cap in caps:
            sys.frame_free(cap)

    system.spawn(bare, name, slices=1)
    _drive(system, name)
    if "result" not in sh:
        deaths = dict(system.kernel.deaths)
        system.shutdown()
        raise BenchmarkError(f"{name}: the benchmark did not finish: {deaths}")
    _check_clean(system, name)
    _expect(name, sh, upcalls_to_libos=0, exceptions=0, stlb_misses=0)
    cycles, wall, call = sh["result"]
    return Result(name, SYSTEM, cycles, prof.us(cycles), wall, n, call)


# ------------------------------------------------------------------- suite

#: name -> (runner, iterations with --quick, iterations without)
BENCHMARKS: dict[str, tuple[Callable[[str, int], Result], int, int]] = {
    "ipc_pipe": (ipc_pipe, 100, 3_000),
    "ipc_shm": (ipc_shm, 100, 3_000),
    "ipc_lrpc": (ipc_lrpc, 500, 20_000),
    "ipc_lrpc_trusted": (ipc_lrpc_trusted, 500, 20_000),
    "vm_dirty": (vm_dirty, 2_000, 50_000),
    "vm_prot1": (vm_prot1, 300, 5_000),
    "vm_prot100": (vm_prot100, 5, 100),
    "vm_unprot100": (vm_unprot100, 5, 100),
    "vm_trap": (vm_trap, 500, 20_000),
    "vm_fault": (vm_fault, 300, 1_000),  # at most 4096 pages, so that all stay in the STLB
    "vm_appel1": (vm_appel1, 300, 10_000),
    "vm_appel2": (vm_appel2, 3, 50),
    "matmul_exos": (matmul_exos, 1, 3),
    "matmul_bare": (matmul_bare, 1, 3),
}


def run(profile: str, quick: bool = False, progress: Callable[[str], None] | None = None) -> list[Result]:
    out = []
    for name, (fn, n_quick, n_full) in BENCHMARKS.items():
        if progress is not None:
            progress(name)
        out.append(fn(profile, n_quick if quick else n_full))
    return out
