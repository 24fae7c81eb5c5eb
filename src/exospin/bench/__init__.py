"""Benchmark suites, the report and plots. Reads only ``statistics()`` and the clock.

``SUITES`` maps a suite name to (the system it measures, its runner); ``BASELINE_SUITES``
the faithful baselines (``ultrix``, ``osf1``), which ``bench`` runs and ``reproduce`` runs
beside the lean unix unless told ``--no-baselines``.
``run_suite(name, profile, quick)`` returns the ``--json`` document of docs/contracts.md.
``NETWORKED`` names the suites that run networks (they take ``pcap``); ``REPRODUCE_OPTIONS``
the options ``reproduce`` gives a suite.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..machine import get_profile
from . import (
    aegis_suite,
    checkpoint_suite,
    db_suite,
    demux_suite,
    exos_suite,
    fs_suite,
    net_suite,
    spin_suite,
    svm_suite,
    unix_suite,
)
from .harness import BenchmarkError, Result, auditing, document, python_call_ns
from .weighed import CLOCKS, WEIGHABLE, WeighedClock, check_clock

#: suite name -> (system measured, runner(profile, quick, progress) -> results)
SUITES: dict[str, tuple[str, Callable[..., list[Result]]]] = {
    "aegis": ("aegis", aegis_suite.run),
    "exos": ("aegis", exos_suite.run),
    "spin": ("spin", spin_suite.run),
    "unix": ("unix", unix_suite.run),
    # the packet demultiplexers on their own: DPF (Aegis') and its baselines (net/)
    "demux": ("aegis", demux_suite.run),
    # the applications (issue 19): concurrent checkpointing against stop-and-copy, every system
    "checkpoint": ("aegis, spin, unix", checkpoint_suite.run),
    # shared virtual memory (Li's IVY) across 1, 2 and 4 machines of one system: a Jacobi relaxation
    "svm": ("aegis, spin, unix", svm_suite.run),
    # two or three machines of one system on a link: UDP round trips, bandwidth,
    # forwarding, ASHs; and the demux rows with the targets (docs/net.md)
    "net": ("aegis, spin, unix", net_suite.run),
    # the file systems on the disk (issue 18): unix' FFS, SPIN's SFS, ExOS' library file system
    "fs": ("aegis, spin, unix", fs_suite.run),
    # the applications (issue 19): SQLite in each system's file system, LRU against the database's policy
    "db": ("aegis, spin, unix", db_suite.run),
}

#: the faithful baselines beside the lean unix (unix/baseline.py): the unix suite's rows on
#: Ultrix 4.2's and DEC OSF/1's code paths. Not in SUITES, so ``reproduce`` runs what it ran.
BASELINE_SUITES: dict[str, tuple[str, Callable[..., list[Result]]]] = {
    "ultrix": ("ultrix", unix_suite.run_ultrix),
    "osf1": ("osf1", unix_suite.run_osf1),
}
#: the machine each faithful baseline's paper measured it on (``reproduce --baselines`` runs it there)
BASELINE_PROFILES: dict[str, str] = {"ultrix": "ds5000", "osf1": "alpha3000"}


def all_suites() -> dict[str, tuple[str, Callable[..., list[Result]]]]:
    """Every suite ``bench`` and ``run_suite`` know: SUITES, then the baselines'."""
    return {**SUITES, **BASELINE_SUITES}


#: suites whose rows run on networks: ``run_suite(..., pcap=FILE)`` writes their captures
NETWORKED = frozenset({"net"})

#: suite -> options ``reproduce`` runs it with: reproduce has the demux suite of its own,
#: so the net suite leaves its demux rows to it (no row reported twice)
REPRODUCE_OPTIONS: dict[str, dict[str, Any]] = {"net": {"demux": False}}

#: suite name -> {benchmark: (the row it is compared with, or "python_call"; at most this
#: many times as long, wall-clock)}: the speed targets the issues set for our own Python
TARGETS: dict[str, dict[str, tuple[str, float]]] = {
    "aegis": {k: ("python_call", v) for k, v in aegis_suite.TARGETS.items()},
    "spin": spin_suite.TARGETS,
    "demux": demux_suite.TARGETS,
    "net": net_suite.TARGETS,
}

#: suite name -> {benchmark: why it has no target}: rows a target was decided against
UNTARGETED: dict[str, dict[str, str]] = {"spin": spin_suite.UNTARGETED}


class UnknownSuite(ValueError):
    """A suite name that is not in SUITES."""


def run_suite(
    name: str, profile: str = "ds5000", quick: bool = False, progress: Callable[[str], None] | None = None,
    audit: bool = False, pcap: str | Path | None = None, options: dict[str, Any] | None = None,
    clock: str = "charged",
) -> dict[str, Any]:
    """Run one suite under one profile; its ``--json`` document. ``audit``: also weigh the
    system software's own Python (``py_cycles``, bench/audit.py). ``pcap`` (a suite of
    ``NETWORKED`` only): write each network row's capture (net_suite.pcap_name).
    ``options``: passed to the suite's runner (``REPRODUCE_OPTIONS``). ``clock``: ``charged``
    (the default) or ``weighed``, where that Python advances the clock too (bench/weighed.py;
    the document then says ``"clock": "weighed"``)."""
    suites = all_suites()
    if name not in suites:
        raise UnknownSuite(f"unknown suite {name!r} (known: {', '.join(suites)})")
    if pcap is not None and name not in NETWORKED:
        raise ValueError(f"suite {name} runs no network: there is nothing to capture")
    get_profile(profile)  # a bad profile name fails before any work
    weighed = check_clock(clock) == "weighed"
    if weighed and audit:
        raise ValueError("--audit and the weighed clock both weigh the system's Python: choose one")
    if weighed and name not in WEIGHABLE:
        raise ValueError(f"the weighed clock supports the suites that run one machine at a time and were "
                         f"checked under it ({', '.join(sorted(WEIGHABLE))}), not {name!r}")
    extra = dict(options or {})
    if pcap is not None:
        extra["pcap"] = pcap
    pycall = python_call_ns()
    with auditing() if audit else contextlib.nullcontext(), \
            WeighedClock(profile) if weighed else contextlib.nullcontext():
        results = suites[name][1](profile, quick=quick, progress=progress, **extra)
    doc = document(name, profile, pycall, results)
    if name == "net" and extra.get("demux", True):  # the targets, on both clocks
        doc["targets"] = net_suite.last_targets()
    if weighed:
        doc["clock"] = "weighed"
    return doc


__all__ = ["BASELINE_PROFILES", "BASELINE_SUITES", "CLOCKS", "NETWORKED", "REPRODUCE_OPTIONS", "WEIGHABLE", "BenchmarkError", "Result", "SUITES", "TARGETS",
           "UNTARGETED", "UnknownSuite", "all_suites", "document", "python_call_ns", "run_suite"]
