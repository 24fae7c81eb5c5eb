"""The decomposition (issue 17, item 6): how much of each win is the architecture, how much the baseline.

What this computes
    For every row of both papers' tables, from a ``reproduce --baselines``
    document: the extensible system's time (Aegis/ExOS on ``ds5000``, SPIN on
    ``alpha3000``), the lean ``unix``'s, the faithful baseline's (``ultrix``,
    ``osf1``), and the paper's own figures where we have them. The ratio
    the paper reports is extensible / baseline; it factors exactly into

        ext / faithful  =  (ext / lean)  x  (lean / faithful)
                           architecture     the baseline's implementation

    so ``architecture`` is the ratio the design alone gives against a good
    monolithic kernel, ``implementation`` what the real baseline's longer
    paths add, and ``architecture_share`` the architecture's part of the whole
    win measured on a log scale (log(ext/lean) / log(ext/faithful)): 1 when
    the lean kernel is as slow as the faithful one, 0 when the whole win is
    the baseline's.

Why it is built this way
    The paper figures are data with their provenance (``papers.PAPER_ROWS``): "issue 17"
    for the ones issue 17 quotes, "recalled" for ones taken from memory of the
    papers (no copy is at hand; each should be checked against the paper),
    None where we do not have one. They are only ever shown beside our
    figures, never used to compute or tune one.

Interface
    ``PAPER_ROWS``; ``decomposition(doc) -> list[dict]`` (the document's
    ``decomposition`` field); ``rich_decomposition(rows, profile)``,
    ``markdown_decomposition(rows, plots)``; ``plot_decomposition(rows, profile, path)``
    (one figure per paper: per row, the three ratios and the paper's, log scale).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.table import Table

from .papers import PAPER_ROWS as PAPER_ROWS
from .papers import PaperRow as PaperRow
from .plots import save

#: The faithful baseline of each paper's machine.
BASELINE_OF: Mapping[str, str] = {"ds5000": "ultrix", "alpha3000": "osf1"}


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b <= 0 else a / b


def _us(doc: Mapping[str, Any]) -> dict[tuple[str, str, str], float]:
    """(profile, system, benchmark) -> simulated µs, first report kept (as reproduce.merge)."""
    out: dict[tuple[str, str, str], float] = {}
    for run in doc.get("runs", []):
        for r in run.get("results", []):
            out.setdefault((run["profile"], r["system"], r["benchmark"]), float(r["sim_us"]))
    return out


def decomposition(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One entry per paper row whose profile the document ran and whose lean and faithful
    figures it has: the figures, the three ratios, and the split of the win."""
    us = _us(doc)
    rows: list[dict[str, Any]] = []
    for pr in PAPER_ROWS:
        faithful_sys = BASELINE_OF[pr.profile]
        lean = us.get((pr.profile, "unix", pr.benchmark))
        faithful = us.get((pr.profile, faithful_sys, pr.benchmark))
        if lean is None or faithful is None:
            continue
        ext = us.get((pr.profile, pr.extensible, pr.ext_benchmark))
        arch, impl = _ratio(ext, lean), _ratio(lean, faithful)
        total = _ratio(ext, faithful)
        share = None
        if arch is not None and total is not None and total > 0 and arch > 0 and abs(math.log(total)) > 1e-6:
            share = math.log(arch) / math.log(total)
        rows.append({
            "profile": pr.profile, "benchmark": pr.benchmark, "extensible": pr.extensible,
            "ext_benchmark": pr.ext_benchmark, "baseline": faithful_sys,
            "ext_us": ext, "lean_us": lean, "faithful_us": faithful,
            "paper_ext_us": pr.paper_ext_us, "paper_baseline_us": pr.paper_baseline_us, "paper_source": pr.source,
            "architecture": arch, "implementation": impl, "ratio": total,
            "paper_ratio": _ratio(pr.paper_ext_us, pr.paper_baseline_us), "architecture_share": share,
        })
    return rows


def _f(x: float | None, digits: int = 2) -> str:
    if x is None:
        return "—"
    return f"{x:.{digits}f}" if abs(x) < 100 else f"{x:.0f}"


_HEADER = ("benchmark", "ext µs", "lean µs", "faithful µs", "paper ext µs", "paper base µs",
           "ext÷lean", "lean÷faithful", "ext÷faithful", "paper ratio", "arch share", "paper figures")


def _cells(r: Mapping[str, Any]) -> tuple[str, ...]:
    name = r["benchmark"] if r["ext_benchmark"] == r["benchmark"] else f"{r['benchmark']} ({r['ext_benchmark']})"
    share = r["architecture_share"]
    return (name, _f(r["ext_us"]), _f(r["lean_us"]), _f(r["faithful_us"]), _f(r["paper_ext_us"], 1),
            _f(r["paper_baseline_us"], 1), _f(r["architecture"]), _f(r["implementation"]), _f(r["ratio"]),
            _f(r["paper_ratio"]), "—" if share is None else f"{100 * share:.0f}%", r["paper_source"] or "—")


CAPTION = ("ext÷faithful = (ext÷lean) × (lean÷faithful): the architecture's ratio against a good monolithic "
           "kernel times what the real baseline's longer paths add; arch share is the architecture's part of "
           "the win on a log scale. Paper figures: 'issue 17' as quoted there, 'recalled' from memory of the "
           "paper (check against it), — where we have none; they are shown, never used.")


def rich_decomposition(rows: list[dict[str, Any]], profile: str) -> Table | None:
    mine = [r for r in rows if r["profile"] == profile]
    if not mine:
        return None
    t = Table(title=f"Decomposition on {profile}: {mine[0]['extensible']} against lean unix and "
                    f"{mine[0]['baseline']}", header_style="bold")
    for col in _HEADER:
        t.add_column(col, justify="left" if col in ("benchmark", "paper figures") else "right")
    for r in mine:
        t.add_row(*_cells(r))
    return t


def markdown_decomposition(rows: list[dict[str, Any]], plots: Mapping[str, str] | None = None) -> list[str]:
    """The decomposition's tables, one per profile (each with its figure if ``plots`` maps
    the profile to a relative path)."""
    lines: list[str] = []
    for profile in dict.fromkeys(r["profile"] for r in rows):
        mine = [r for r in rows if r["profile"] == profile]
        lines += [f"### Decomposition on {profile}: {mine[0]['extensible']} against lean unix and "
                  f"{mine[0]['baseline']}", ""]
        if plots and profile in plots:
            lines += [f"![decomposition on {profile}]({plots[profile]})", ""]
        lines += ["| " + " | ".join(_HEADER) + " |",
                  "|" + "|".join(":--" if c in ("benchmark", "paper figures") else "--:" for c in _HEADER) + "|"]
        lines += ["| " + " | ".join(_cells(r)) + " |" for r in mine]
        lines += ["", CAPTION, ""]
    return lines


#: the bars of the figure: (field, label, colour)
_BARS = (("architecture", "ext ÷ lean unix (architecture)", "#1f77b4"),
         ("implementation", "lean ÷ faithful (the baseline)", "#ff7f0e"),
         ("ratio", "ext ÷ faithful (ours)", "#2ca02c"),
         ("paper_ratio", "paper's ratio", "#7f7f7f"))


def plot_decomposition(rows: list[dict[str, Any]], profile: str, path: Path) -> bool:
    """Write the profile's decomposition as a grouped log-scale bar chart; False if it has no rows."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    mine = [r for r in rows if r["profile"] == profile]
    if not mine:
        return False
    n, k = len(mine), len(_BARS)
    width = 0.8 / k
    fig = Figure(figsize=(max(6.0, 1.0 + n * 1.1), 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for j, (key, label, colour) in enumerate(_BARS):
        xs = [i - 0.4 + width * (j + 0.5) for i, r in enumerate(mine) if r[key] is not None and r[key] > 0]
        ys = [r[key] for r in mine if r[key] is not None and r[key] > 0]
        ax.bar(xs, ys, width, label=label, color=colour)
    ax.axhline(1.0, color="0.3", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_ylabel("ratio (log scale; below 1: the first is faster)")
    names = [r["ext_benchmark"] for r in mine]
    ax.set_xticks(range(n), names, rotation=35, ha="right", fontsize=8)
    ax.set_xlim(-0.6, n - 0.4)
    ax.grid(axis="y", which="major", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_title(f"{mine[0]['extensible']} on {profile}: the ratio to {mine[0]['baseline']} = "
                 "architecture × the baseline's implementation", fontsize=10)
    fig.legend(fontsize=8, loc="outside lower center", ncols=len(_BARS))
    save(fig, path)
    return True
