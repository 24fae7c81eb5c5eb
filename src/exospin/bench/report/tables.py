"""The tables of the report, as data: what ``reproduce`` builds and ``plots`` draws.

What this is
    A table of ``exospin reproduce`` (:class:`ResultTable`) is one
    :class:`Group` of benchmarks under one machine profile: its rows
    (:class:`Row`) are benchmarks, and each row holds one :class:`Cell` per
    system that ran it. ``BASELINE`` is the system a row's ratios are to;
    ``MISSING`` is what stands where a system has no result; ``fmt_us``
    writes a simulated time the same way in a table and on a bar.

Why it is a module of its own
    ``reproduce`` builds and renders the tables and ``plots`` draws them:
    both need these definitions, and neither needs the other's, so the two
    import this leaf module (it imports nothing of exospin) instead of each
    other.

Interface
    ``Group``, ``Cell``, ``Row``, ``ResultTable``; ``BASELINE``, ``MISSING``, ``fmt_us``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

#: The monolithic kernel both papers compare against; ratios are to it.
BASELINE = "unix"
#: What a cell without a result shows: absent, never zero.
MISSING = "—"


@dataclass(frozen=True, slots=True)
class Group:
    """A table of the report: the benchmarks whose names match ``patterns``."""

    key: str
    title: str
    source: str  # which paper's comparison this is
    patterns: tuple[str, ...]

    def claims(self, benchmark: str) -> bool:
        return any(fnmatchcase(benchmark, p) for p in self.patterns)


@dataclass(frozen=True, slots=True)
class Cell:
    """One system's result for one benchmark under one profile."""

    sim_us: float
    sim_cycles: float
    wall_ns: float
    python_call_ns: float  # the plain call measured next to this benchmark (or in its run)
    suite: str
    py_cycles: float | None = None  # with --audit: the system software's own Python (bench/audit.py)
    mbps: float | None = None  # a bandwidth row (bench net): payload Mb/s achieved

    @property
    def wall_x(self) -> float | None:
        """Wall-clock time as a multiple of a plain Python call."""
        return self.wall_ns / self.python_call_ns if self.python_call_ns > 0 else None


@dataclass(frozen=True, slots=True)
class Row:
    benchmark: str
    cells: Mapping[str, Cell]

    def ratio(self, system: str) -> float | None:
        """Simulated time of ``system`` / the baseline's, when the baseline has this row."""
        base = self.cells.get(BASELINE)
        mine = self.cells.get(system)
        if system == BASELINE or base is None or mine is None or base.sim_us <= 0:
            return None
        return mine.sim_us / base.sim_us


@dataclass(frozen=True, slots=True)
class ResultTable:
    profile: str
    group: Group
    systems: tuple[str, ...]
    rows: tuple[Row, ...]
    #: benchmark -> the papers' published figures for it, as text (bench/report/papers.py)
    published: Mapping[str, str] = field(default_factory=dict)
    #: benchmark -> [(our system the figure stands beside, value)], for the plot's markers
    published_values: Mapping[str, tuple[tuple[str, float], ...]] = field(default_factory=dict)

    @property
    def slug(self) -> str:
        """File-name stem of this table's plot: ``reproduce-{profile}-{group}``."""
        return f"reproduce-{self.profile}-{self.group.key}"

    @property
    def title(self) -> str:
        return f"{self.group.title} on {self.profile}"


def fmt_us(x: float) -> str:
    """Simulated µs, about four significant figures."""
    return f"{x:,.0f}" if x >= 1000 else f"{x:.4g}"


__all__ = ["BASELINE", "MISSING", "Cell", "Group", "ResultTable", "Row", "fmt_us"]
