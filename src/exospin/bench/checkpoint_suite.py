"""The checkpointing experiment (Appel and Li): concurrent against stop-and-copy, on every system.

What it measures
    One row per system, mode, heap size and write rate: the program of
    apps/checkpoint.py runs as a posix process (ExOS on Aegis, SPIN's Unix
    personality, unix), mutating a heap of ``pages`` pages with ``8 * pages``
    stores into pseudo-random pages, ``work`` instructions of computation
    after each (the write rate falls as ``work`` grows), and is checkpointed
    once after a quarter of its stores. Names: ``ckpt_{mode}_p{pages}_w{work}``
    with mode ``stop`` or ``concurrent``.

    One operation is the whole run: ``sim_us`` is the mutator's total time,
    checkpoint included; ``wall_ns`` our Python for the run (one run: a
    noisy figure). The experiment's own figures are in ``figures``:
    ``pause_max_us`` (the longest interval between two consecutive stores:
    what the program sees as its pause), ``checkpoint_us`` (from the
    checkpoint's start until the last page is copied), ``store_us`` (a store
    and its work, outside the checkpoint), ``copied`` and ``by_fault`` (pages
    copied, and of them by the write-fault handler), ``exact``.

    What to expect, and why: stop-and-copy pauses for the whole copy, which
    grows with the heap; the concurrent checkpoint's pause is about one of
    the copier's slices (apps/checkpoint.py, ``SLICE_US``) whatever the heap,
    and its total time is higher by the protection changes and the faults
    (more of them as the write rate rises), each system's own cost of those.

    Every run's checkpoint is checked exact (BenchmarkError otherwise), and
    each process must exit 0 with nothing leaked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..apps.checkpoint import MODES, checkpointer
from ..machine import get_profile
from .harness import BenchmarkError, Result, python_call_ns

SYSTEMS = ("aegis", "spin", "unix")
PAGES, QUICK_PAGES = (16, 64, 256), (16, 64)
#: instructions of computation after each store: a high and a low write rate
WORK = (200, 2000)
SIM_LIMIT_US = 10_000_000.0  # a run needs well under 10 s of simulated time: past this, it is stuck


def _run(system: str, profile: str, mode: str, pages: int, work: int) -> Result:
    from ..systems import boot  # systems imports every kernel: only when a run starts

    out: dict[str, Any] = {}
    s = boot(system, profile)
    t0 = time.perf_counter_ns()
    pid = s.start(checkpointer(mode, pages, 8 * pages, work, out), name="checkpoint")
    s.run(until_us=SIM_LIMIT_US, report=False)
    wall = time.perf_counter_ns() - t0
    status = s.exit_status(pid)
    left = s.shutdown()
    name = f"ckpt_{mode}_p{pages}_w{work}"
    if status != 0 or not out.get("exact"):
        raise BenchmarkError(f"{name} on {system}: the checkpoint is not exact (exit status {status}, {out})")
    if any(left.values()):
        raise BenchmarkError(f"{name} on {system}: left behind {left}")
    hz = get_profile(profile).clock_hz
    total = float(out["total_us"])
    figures = {k: out[k] for k in ("pause_max_us", "checkpoint_us", "store_us", "copied", "by_fault")}
    return Result(name, system, total * hz / 1e6, total, float(wall), 1, python_call_ns(20_000), figures=figures)


def run(profile: str, quick: bool = False, progress: Callable[[str], None] | None = None) -> list[Result]:
    results: list[Result] = []
    for pages in QUICK_PAGES if quick else PAGES:
        for work in WORK:
            for mode in MODES:
                if progress is not None:
                    progress(f"ckpt_{mode}_p{pages}_w{work}")
                results.extend(_run(system, profile, mode, pages, work) for system in SYSTEMS)
    return results

