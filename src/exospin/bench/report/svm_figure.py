"""The shared-virtual-memory experiment's figure and table (bench/svm_suite.py; docs/apps.md).

Run
    ``python -m exospin.bench.report.svm_figure docs/figures/svm.png`` runs the suite on
    ds5000, prints the table of docs/apps.md and writes the figure: the speed-up against
    the number of machines, per system and work per point.

Interface
    ``plot(rows, path)`` (rows: the suite's ``--json`` results); ``main(argv)``.
"""

from __future__ import annotations

from typing import Any

from ..svm_suite import MACHINES, SYSTEMS, WORK, run


def plot(results: list[dict[str, Any]], path: str) -> None:
    """Speed-up against machines, one line per system and work per point; from ``--json`` rows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    for work, style in zip(WORK, ("--", "-"), strict=True):
        for system in SYSTEMS:
            pts = sorted((int(r["benchmark"].split("_n")[1].split("_")[0]), r["figures"]["speedup"])
                         for r in results if r["system"] == system and r["benchmark"].endswith(f"_w{work}"))
            if pts:
                ax.plot(*zip(*pts, strict=True), style, marker="o", label=f"{system}, W = {work}")
    ax.plot(MACHINES, MACHINES, ":", color="grey", label="linear")
    ax.set_xticks(MACHINES)
    ax.set_xlabel("machines")
    ax.set_ylabel("speed-up over one machine")
    ax.set_title("Shared virtual memory: a Jacobi relaxation on a 10 Mb/s Ethernet")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """``python -m exospin.bench.report.svm_figure FIGURE.png [PROFILE]``: run the suite, print
    its rows as a markdown table (docs/apps.md) and write the figure."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    profile = args[1] if len(args) > 1 else "ds5000"
    rows = [r.as_dict() for r in run(profile)]
    print("| row | system | measured phase (µs) | speed-up | read fault (µs) | write fault (µs) | faults r/w "
          "| messages (datagrams) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        f = r["figures"]
        print(f"| `{r['benchmark']}` | {r['system']} | {r['sim_us']:.0f} | {f['speedup']:.2f} | "
              f"{f['read_fault_us']:.0f} | {f['write_fault_us']:.0f} | {f['read_faults']}/{f['write_faults']} | "
              f"{f['messages']} ({f['datagrams']}) |")
    if args:
        plot(rows, args[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
