"""The plots of ``exospin reproduce``: one PNG per table of the report.

Each plot is a grouped bar chart: one group per benchmark (the table's rows),
one bar per system (its columns), the height the simulated µs per operation
on a log scale (rows of one table span four orders of magnitude: a null
procedure call next to a page-fault round trip), each bar labelled with its
value. A system without a result for a benchmark gets no bar but a "—" at the
foot of the group, as in the table: absent, never zero. Wall-clock figures
are not plotted: they belong to our Python, not to the systems compared.

Drawn with matplotlib's object interface on the Agg canvas (no pyplot, no
global state, no display needed). A PNG written by Agg carries no date, so
the same results give the same file.

Interface
    ``plot_table(table, path)``; ``save(fig, path)`` and ``figure_main(...)``
    (the figure modules use them too); ``COLOURS``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .tables import MISSING, ResultTable, fmt_us

#: One colour per system, the same in every plot; other systems take the fallbacks in order.
COLOURS: dict[str, str] = {"aegis": "#1f77b4", "spin": "#2ca02c", "unix": "#7f7f7f"}
FALLBACK = ("#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def _colour(system: str, others: list[str]) -> str:
    if system in COLOURS:
        return COLOURS[system]
    return FALLBACK[others.index(system) % len(FALLBACK)]


def plot_table(table: ResultTable, path: Path) -> None:
    """Write ``table`` as a grouped, labelled, log-scale bar chart to ``path`` (PNG)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.transforms import blended_transform_factory

    rows, systems = table.rows, table.systems
    n, k = len(rows), len(systems)
    width = 0.8 / k
    fig = Figure(figsize=(max(6.0, 1.0 + n * (0.35 + 0.3 * k)), 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    foot = blended_transform_factory(ax.transData, ax.transAxes)
    others = [s for s in systems if s not in COLOURS]
    # a table of bandwidth rows is drawn in Mb/s (higher is better), any other in µs
    rate = bool(rows) and all(c.mbps is not None for r in rows for c in r.cells.values())

    def value(c: Any) -> float:
        return float(c.mbps) if rate else float(c.sim_us)

    values = [value(c) for r in rows for c in r.cells.values() if value(c) > 0]
    marks: list[tuple[float, float]] = []  # the papers' figures, beside the bar they compare with
    for j, system in enumerate(systems):
        xs: list[float] = []
        ys: list[float] = []
        for i, row in enumerate(rows):
            x = i - 0.4 + width * (j + 0.5)
            marks += [(x, v) for s, v in table.published_values.get(row.benchmark, ()) if s == system]
            cell = row.cells.get(system)
            if cell is None or value(cell) <= 0:  # absent (or unplottable on a log scale)
                ax.text(x, 0.01, MISSING, transform=foot, ha="center", va="bottom", fontsize=8, color="0.4")
                continue
            xs.append(x)
            ys.append(value(cell))
        bars = ax.bar(xs, ys, width, label=system, color=_colour(system, others))
        ax.bar_label(bars, labels=[f"{y:.3g}" if rate else fmt_us(y) for y in ys], rotation=90, fontsize=7,
                     padding=2)
    if marks:
        ax.scatter([x for x, _ in marks], [v for _, v in marks], marker="_", s=width * 900, color="black",
                   linewidths=2, zorder=3, label="published (paper)")
        values += [v for _, v in marks]
    ax.set_yscale("log")
    if values:  # room above the tallest bar for its label
        ax.set_ylim(min(values) / 3, max(values) * 12)
    ax.set_ylabel("simulated Mb/s achieved (log scale)" if rate else "simulated µs per operation (log scale)")
    ax.set_xticks(range(n), [r.benchmark for r in rows], rotation=35 if n > 3 else 0,
                  ha="right" if n > 3 else "center", fontsize=8)
    ax.set_xlim(-0.6, n - 0.4)
    ax.grid(axis="y", which="major", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_title(f"{table.title}\n{table.group.source}", fontsize=10)
    ax.legend(title="system", fontsize=8, title_fontsize=8, loc="upper left")
    save(fig, path)


def save(fig: Any, path: str | Path) -> Path:
    """Write ``fig`` as a PNG at ``path`` (its folder made if need be), at 100 dpi and
    with no software stamp, so that the same figure gives the same file."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100, metadata={"Software": None})
    return out


def figure_main(module: str, run: Callable[[], Any], table: Callable[[Any], str],
                plot: Callable[[Any, str], Path], argv: list[str] | None) -> int:
    """``python -m exospin.bench.<module> OUT.png``: run the experiment, print its table,
    draw its figure."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(f"usage: python -m exospin.bench.{module} OUT.png", file=sys.stderr)
        return 2
    result = run()
    out = plot(result, args[0])
    print(table(result))
    print(f"figure: {out}")
    return 0
