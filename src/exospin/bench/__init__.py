"""Benchmark suites, the report and plots. Reads only ``statistics()`` and the clock.

``SUITES`` maps a suite name to (the system it measures, its runner); ``BASELINE_SUITES``
the faithful baselines (``ultrix``, ``osf1``), which ``bench`` runs and ``reproduce`` does not.
``run_suite(name, profile, quick)`` returns the ``--json`` document of docs/contracts.md.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from ..machine import get_profile
from . import aegis_suite, demux_suite, exos_suite, spin_suite, unix_suite
from .harness import BenchmarkError, Result, auditing, document, python_call_ns

#: suite name -> (system measured, runner(profile, quick, progress) -> results)
SUITES: dict[str, tuple[str, Callable[..., list[Result]]]] = {
    "aegis": ("aegis", aegis_suite.run),
    "exos": ("aegis", exos_suite.run),
    "spin": ("spin", spin_suite.run),
    "unix": ("unix", unix_suite.run),
    # the packet demultiplexers on their own: DPF (Aegis') and its baselines (net/)
    "demux": ("aegis", demux_suite.run),
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


#: suite name -> {benchmark: (the row it is compared with, or "python_call"; at most this
#: many times as long, wall-clock)}: the speed targets the issues set for our own Python
TARGETS: dict[str, dict[str, tuple[str, float]]] = {
    "aegis": {k: ("python_call", v) for k, v in aegis_suite.TARGETS.items()},
    "spin": spin_suite.TARGETS,
    "demux": demux_suite.TARGETS,
}

#: suite name -> {benchmark: why it has no target}: rows a target was decided against
UNTARGETED: dict[str, dict[str, str]] = {"spin": spin_suite.UNTARGETED}


class UnknownSuite(ValueError):
    """A suite name that is not in SUITES."""


def run_suite(
    name: str, profile: str = "ds5000", quick: bool = False, progress: Callable[[str], None] | None = None,
    audit: bool = False,
) -> dict[str, Any]:
    """Run one suite under one profile; its ``--json`` document. ``audit``: also weigh the
    system software's own Python (``py_cycles``, bench/audit.py)."""
    suites = all_suites()
    if name not in suites:
        raise UnknownSuite(f"unknown suite {name!r} (known: {', '.join(suites)})")
    get_profile(profile)  # a bad profile name fails before any work
    pycall = python_call_ns()
    with auditing() if audit else contextlib.nullcontext():
        results = suites[name][1](profile, quick=quick, progress=progress)
    return document(name, profile, pycall, results)


__all__ = ["BASELINE_PROFILES", "BASELINE_SUITES", "BenchmarkError", "Result", "SUITES", "TARGETS", "UNTARGETED", "UnknownSuite", "all_suites", "document", "python_call_ns", "run_suite"]
