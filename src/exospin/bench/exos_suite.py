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
    vm_*_inverted       vm_dirty, vm_prot1, vm_prot100, vm_unprot100, vm_trap,
                        vm_appel1 and vm_appel2 again, the process started with
                        ``page_table="inverted"`` (exos/pagetable/): the paper's
                        table 13 (section 7.2), ExOS' two page-table structures
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

    The inverted rows run the same bodies with the same counter checks, and
    also check that the process's table was the inverted one and that it made
    exactly the lookups the path needs (``PT_LOOKUPS``): a lookup per page
    changed, one per fault, and the handler's own mprotects. They come last in
    the table, so the rows before them are run exactly as before.

Interface
    ``run(profile, quick, progress) -> list[Result]``; ``BENCHMARKS``;
    ``MATMUL_N``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from .. import posix
from ..machine import get_profile
from ..systems import System, boot
from . import posix_suite
from .harness import BenchmarkError, Result, Table, Timer, run_table

SYSTEM = "aegis"
MATMUL_N = 40  # about 0.27 M simulated cycles on the ds5000, 0.53 M on the alpha3000
BARE_BASE = 0x0100_0000  # where the bare matrix multiply puts its matrices


# ------------------------------------------------------------------ harness


def _snapshot(system: System, proc: Any) -> dict[str, int]:
    """The kernel's counters and the measuring process's ExOS counters."""
    d: dict[str, int] = dataclasses.asdict(system.kernel.statistics())
    vm = proc.vm
    d.update(user_faults=vm.user_faults, dirty_faults=vm.dirty_faults, tlb_miss_upcalls=vm.tlb_miss_upcalls,
             demand_zero_fills=vm.demand_zero_fills, wakeups=proc.wakeups, pt_lookups=vm.pt.lookups)
    return d


def _leftovers(system: System) -> dict[str, int]:
    """Shut down; what Aegis still holds, and what ExOS' shared tables still list."""
    ex = system.exos
    tables = {"processes": len(ex.procs), "pipes": len(ex.pipes), "shared frames": len(ex.sharers)}
    return system.shutdown() | tables


#: The posix benchmarks (posix_suite.py) on Aegis with ExOS processes.
TARGET = posix_suite.Target(
    SYSTEM, lambda profile: boot(SYSTEM, profile), _snapshot,
    lambda system: {e.id: e.name for e in system.kernel.envs.values()},
    _leftovers, lambda system: dict(system.kernel.deaths),
)


def _drive(system: System, name: str) -> None:
    posix_suite._drive(TARGET, system, name)


def _check_clean(system: System, name: str) -> None:
    posix_suite._check_clean(TARGET, system, name)


_baseline, _ops, _all_ops = posix_suite.baseline, posix_suite.ops, posix_suite.all_ops
_require, _expect, _delta = posix_suite.require, posix_suite.expect, posix_suite.delta


def _woken_each_round_trip(name: str, sh: dict[str, Any], n: int) -> None:
    """Each round trip woke the sleeping side once or twice, by asynchronous PCT."""
    ops = _ops(n)
    wakes = _delta(sh, "pct_async")
    _require(name, ops <= wakes <= 2 * ops, f"expected one or two PCT wake-ups per round trip, saw {wakes} for {ops}")


# --------------------------------------------------------------------- IPC


def ipc_pipe(profile: str, n: int) -> Result:
    res, sh = posix_suite.ipc_pipe(TARGET, profile, n)
    _woken_each_round_trip("ipc_pipe", sh, n)
    _expect("ipc_pipe", sh, pct_sync=0)
    return res


def ipc_shm(profile: str, n: int) -> Result:
    res, sh = posix_suite.ipc_shm(TARGET, profile, n)
    _woken_each_round_trip("ipc_shm", sh, n)
    _expect("ipc_shm", sh, pct_sync=0, exceptions=0)
    return res


def _lrpc(profile: str, n: int, name: str, trusted: bool) -> Result:
    res, sh = posix_suite.ipc_lrpc(TARGET, profile, n, name,
                                   (lambda proc: proc.rpc_call_trusted) if trusted else None)
    _expect(name, sh, pct_sync=_ops(n), pct_async=0)
    return res


def ipc_lrpc(profile: str, n: int) -> Result:
    return _lrpc(profile, n, "ipc_lrpc", trusted=False)


def ipc_lrpc_trusted(profile: str, n: int) -> Result:
    return _lrpc(profile, n, "ipc_lrpc_trusted", trusted=True)


# ---------------------------------------------------------------------- VM


#: name -> (operations per loop iteration, each counter's change per operation)
VM_CHECKS: dict[str, tuple[int, dict[str, int]]] = {
    "vm_dirty": (1, dict(exceptions=0)),
    "vm_prot1": (1, dict(exceptions=0, user_faults=0)),
    "vm_prot100": (1, dict(exceptions=0, user_faults=0)),
    "vm_unprot100": (1, dict(exceptions=0, user_faults=0)),
    "vm_trap": (1, dict(user_faults=1, exceptions=1, dirty_faults=0)),
    # one protection fault, which the handler fixes (ExOS binds the page writable at once);
    # each page was bound long ago: the TLB refills it from the STLB first
    "vm_fault": (1, dict(user_faults=1, dirty_faults=0, exceptions=1, stlb_misses=0)),
    "vm_appel1": (1, dict(user_faults=1, dirty_faults=0, exceptions=1)),
    "vm_appel2": (100, dict(user_faults=1, dirty_faults=0, exceptions=1)),
}
#: page-table lookups per operation: each page mprotect changes, the protection fault's
#: walk, and the mprotects of the fault handler (appel1: unprotect this page, protect the
#: next; appel2, per page: its share of the protect, the fault, the unprotect)
PT_LOOKUPS = {"vm_dirty": 1, "vm_prot1": 1, "vm_prot100": 100, "vm_unprot100": 100, "vm_trap": 1,
              "vm_appel1": 3, "vm_appel2": 3}
vm_dirty, vm_prot1, vm_prot100, vm_unprot100, vm_trap, vm_fault, vm_appel1, vm_appel2 = (
    posix_suite.checked(TARGET, name, per, **checks) for name, (per, checks) in VM_CHECKS.items())

#: the same benchmarks on the inverted page table (the paper's table 13)
INVERTED = dataclasses.replace(TARGET, start_options={"page_table": "inverted"})


def _on_inverted(name: str) -> Callable[[str, int], Result]:
    """The runner of ``name`` in a process on the inverted page table, as ``{name}_inverted``,
    with ``name``'s checks, the table's kind and its lookups checked too."""
    per, checks = VM_CHECKS[name]
    body = getattr(posix_suite, name)
    row = f"{name}_inverted"

    def run(profile: str, n: int) -> Result:
        try:
            res, sh = body(INVERTED, profile, n)
            kind = sh["proc"].vm.pt.kind
            _require(name, kind == "inverted", f"the process ran on the {kind} page table")
            _expect(name, sh, **{key: m * _ops(n, per) for key, m in (checks | {"pt_lookups": PT_LOOKUPS[name]}).items()})
        except BenchmarkError as e:
            raise BenchmarkError(f"{row}: {e}") from e
        return dataclasses.replace(res, benchmark=row)
    run.__name__ = row
    return run


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

    res, sh = posix_suite.run_posix(TARGET, profile, "matmul_exos", n, setup)
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
        caps = [sys.frame_alloc(pfn) for pfn in sys.free_frames(npages)]
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
        sh["result"] = (cycles, wall, _baseline(call, n), timer.py_cycles(prof))
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
    cycles, wall, call, py = sh["result"]
    return Result(name, SYSTEM, cycles, prof.us(cycles), wall, n, call, py_cycles=py)


# ------------------------------------------------------------------- suite

#: name -> (runner, iterations with --quick, iterations without)
BENCHMARKS: Table = {
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
    "vm_dirty_inverted": (_on_inverted("vm_dirty"), 2_000, 50_000),
    "vm_prot1_inverted": (_on_inverted("vm_prot1"), 300, 5_000),
    "vm_prot100_inverted": (_on_inverted("vm_prot100"), 5, 100),
    "vm_unprot100_inverted": (_on_inverted("vm_unprot100"), 5, 100),
    "vm_trap_inverted": (_on_inverted("vm_trap"), 500, 20_000),
    "vm_appel1_inverted": (_on_inverted("vm_appel1"), 300, 10_000),
    "vm_appel2_inverted": (_on_inverted("vm_appel2"), 3, 50),
}


def run(profile: str, quick: bool = False, progress: Callable[[str], None] | None = None) -> list[Result]:
    return run_table(BENCHMARKS, profile, quick, progress)
