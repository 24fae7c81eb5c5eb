"""The checkpointing experiment's figure and table (bench/checkpoint_suite.py; docs/apps.md).

Run
    ``python -m exospin.bench.report.checkpoint_figure docs/figures/checkpoint.png`` runs
    the suite on ds5000, prints the table of docs/apps.md and writes the figure: the
    program's longest pause against the heap's size, per system and mode.

Interface
    ``plot(rows, path, work)`` (rows: the suite's ``--json`` results); ``main(argv)``.
"""

from __future__ import annotations

from typing import Any

from ..checkpoint_suite import SYSTEMS, WORK, run


def plot(results: list[dict[str, Any]], path: str, work: int = WORK[0]) -> None:
    """The experiment's figure: the longest pause (log scale) against the heap's size, for
    each system and mode, at ``work`` instructions per store; from ``--json`` rows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    for system in SYSTEMS:
        for mode, style in (("stop", "-"), ("concurrent", "--")):
            pts = sorted((int(r["benchmark"].split("_p")[1].split("_")[0]), r["figures"]["pause_max_us"] / 1000)
                         for r in results if r["system"] == system and r["benchmark"].startswith(f"ckpt_{mode}_")
                         and r["benchmark"].endswith(f"_w{work}"))
            if pts:
                ax.plot(*zip(*pts, strict=True), style, marker="o", label=f"{system} {mode}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("heap (pages)")
    ax.set_ylabel("longest pause (ms, simulated)")
    ax.set_title(f"Checkpointing: the program's longest pause ({work} instructions per store)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """``python -m exospin.bench.report.checkpoint_figure FIGURE.png [PROFILE]``: run the suite, print
    its rows as a markdown table (docs/apps.md) and write the figure."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    profile = args[1] if len(args) > 1 else "ds5000"
    rows = [r.as_dict() for r in run(profile)]
    print("| row | system | whole run (µs) | longest pause (µs) | checkpoint (µs) | pages by fault |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        f = r["figures"]
        print(f"| `{r['benchmark']}` | {r['system']} | {r['sim_us']:.0f} | {f['pause_max_us']:.0f} | "
              f"{f['checkpoint_us']:.0f} | {f['by_fault']}/{f['copied']} |")
    if args:
        plot(rows, args[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
