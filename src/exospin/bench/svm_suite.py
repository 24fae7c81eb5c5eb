"""The shared-virtual-memory experiment (Li's IVY, as Appel and Li describe it), on every system.

What it measures
    One row per system, number of machines N (1, 2, 4) and work per grid
    point W: the Jacobi relaxation of apps/svm.py on a network of N machines
    of that system on one Ethernet (``systems.network``), one posix process
    per machine (ExOS on Aegis, SPIN's Unix personality, unix), sharing two
    grids of SIZE x SIZE words through the shared virtual memory (page p
    managed by node p mod N). Names: ``svm_jacobi_n{N}_w{W}``; W = 0 is the
    bare five-point stencil, W = 100 a relaxation a hundred instructions
    heavier per point.

    One operation is the measured phase (from the barrier after each node
    has written its own rows to the barrier after the last iteration), on
    node 0's clock: ``sim_us``; ``wall_ns`` our Python for the whole run.
    The experiment's own figures are in ``figures``, summed or averaged over
    the nodes and the measured phase: ``read_fault_us`` and
    ``write_fault_us`` (the mean time a fault handler took, µs),
    ``read_faults``, ``write_faults``, ``messages`` (protocol messages sent
    over the network, a page counted once), ``datagrams`` (the UDP datagrams
    they took: a 4 KB page is three), and ``speedup`` (the N = 1 row's time
    on the same system over this row's).

    What to expect, and why: a page fetch costs milliseconds on a 10 Mb/s
    Ethernet (a 4 KB page is 3.3 ms of wire time alone), while the bare
    stencil computes a node's share of an iteration in about as long: with W
    = 0 the network is the bottleneck and more machines are slower; with W =
    100 the computation dominates and the speed-up grows with N. SPIN's
    faults wait longer: a request reaching a node whose program computes is
    served at the computing thread's next quantum.

    Every run's result is checked against a sequential run in plain Python
    (apps/svm.reference); a wrong grid, a process that did not exit 0 or
    anything leaked is a BenchmarkError.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..apps.svm import jacobi, reference
from ..machine import get_profile
from ..spin.net import attach as spin_attach
from ..systems import network
from .harness import BenchmarkError, Result, python_call_ns

SYSTEMS = ("aegis", "spin", "unix")
MACHINES = (1, 2, 4)
#: instructions per grid point beyond the stencil's own: the bare stencil, and a heavier one
WORK = (0, 100)
#: the grid's side (words) and the iterations: SIZE rows of 4-byte words are 32 rows a
#: ds5000 page at 128; every node's block of rows is whole pages at N = 1, 2, 4
SIZE, QUICK_SIZE = 128, 64
ITERATIONS, QUICK_ITERATIONS = 8, 4
RUN_CHUNK_US = 1_000_000.0
SIM_LIMIT_US = 60_000_000.0  # a run needs far less simulated time: past this it is stuck


def name(machines: int, work: int) -> str:
    return f"svm_jacobi_n{machines}_w{work}"


def run_one(system: str, profile: str, machines: int, size: int, iterations: int, work: int,
            manager: str = "distributed") -> dict[Any, Any]:
    """One run: every node's figures (``out[i]``), node 0's result, checked; raises BenchmarkError."""
    row = name(machines, work)
    net = network([system] * machines, profile=profile)
    out: dict[Any, Any] = {}
    t0 = time.perf_counter_ns()
    try:
        if system == "spin":
            for s in net.systems:
                spin_attach(s)  # SPIN's stack is extensions, loaded on demand
        hosts = [str(s.iface.ip) for s in net.systems]
        prog = jacobi(hosts, size, iterations, out, manager, work=work)
        pids = [(s, s.start(prog, [str(i)], name=f"{row} {i}")) for i, s in enumerate(net.systems)]
        now = 0.0
        while any(s.exit_status(p) is None for s, p in pids):
            end = net.run(until_us=now + RUN_CHUNK_US)
            if end == now or end > SIM_LIMIT_US:
                raise BenchmarkError(f"{row} on {system}: did not finish (simulated {end:.0f} µs)")
            now = end
        bad = [(p, s.exit_status(p), out.get(i, {}).get("error"), [f.reason for f in s.failures()])
               for i, (s, p) in enumerate(pids) if s.exit_status(p) != 0]
        if bad:
            raise BenchmarkError(f"{row} on {system}: processes failed: {bad}")
    finally:
        held = net.shutdown()
    out["wall_ns"] = time.perf_counter_ns() - t0
    leaked = [h for h in held if any(h.values())]
    if leaked:
        raise BenchmarkError(f"{row} on {system}: resources leaked: {leaked}")
    if out.get("result") != reference(size, iterations):
        raise BenchmarkError(f"{row} on {system}: the grid differs from the sequential run's")
    return out


def figures(out: dict[Any, Any], machines: int) -> dict[str, float | int]:
    """The row's figures from every node's: fault times averaged over the faults, counts summed."""
    nodes = [out[i] for i in range(machines)]
    r = sum(f["read_faults"] for f in nodes)
    w = sum(f["write_faults"] for f in nodes)
    return {
        "read_fault_us": round(sum(f["read_fault_us"] * f["read_faults"] for f in nodes) / max(r, 1), 2),
        "write_fault_us": round(sum(f["write_fault_us"] * f["write_faults"] for f in nodes) / max(w, 1), 2),
        "read_faults": r, "write_faults": w,
        "messages": sum(f["messages"] for f in nodes), "datagrams": sum(f["datagrams"] for f in nodes),
    }


def run(profile: str, quick: bool = False, progress: Callable[[str], None] | None = None,
        systems: tuple[str, ...] = SYSTEMS, work_per_point: tuple[int, ...] = WORK) -> list[Result]:
    """Every row (of ``systems`` and ``work_per_point`` only, if given)."""
    size, iterations = (QUICK_SIZE, QUICK_ITERATIONS) if quick else (SIZE, ITERATIONS)
    hz = get_profile(profile).clock_hz
    call = python_call_ns(20_000)
    results: list[Result] = []
    for work in work_per_point:
        for system in systems:
            base = 0.0
            for machines in MACHINES:
                if progress is not None:
                    progress(f"{name(machines, work)} {system}")
                out = run_one(system, profile, machines, size, iterations, work)
                us = float(out[0]["elapsed_us"])
                base = base or us
                figs = figures(out, machines)
                figs["speedup"] = round(base / us, 4)
                results.append(Result(name(machines, work), system, us * hz / 1e6, us, float(out["wall_ns"]), 1,
                                      call, figures=figs))
    return results
