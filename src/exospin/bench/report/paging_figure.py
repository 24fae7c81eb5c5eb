"""Application-chosen page replacement in ExOS: no policy is best for every program.

The story
    On an exokernel the kernel decides how many frames an environment holds;
    which pages to keep is the library OS's decision, and the application may
    choose the library OS's policy (exos/paging/). This module runs one ExOS
    process per (workload, policy, resident-set limit): it maps ``PAGES``
    pages, writes every one, and then makes ``ACCESSES`` loads in the
    workload's order under ``max_resident`` pages, counting the page-ins
    (each a page copied back from the library OS's swap area) and the
    simulated time of the loads. Three access patterns, three different
    answers:

    * ``scan``: page 0, 1, ..., PAGES-1, round and round. FIFO and Clock
      evict each page just before its turn comes again: every access
      faults. MRU keeps most of the array and faults only on what does not
      fit (a database's or a garbage collector's sequential pass).
    * ``hot/cold``: 80% of the loads go to a fifth of the pages. Clock, which
      sees a page used again (a TLB miss after it unbound the page), keeps
      the hot ones; FIFO throws them out in turn. MRU happens to do well: the
      page paged in last is usually a cold one.
    * ``phases``: a working set of a third of the pages that moves every
      250 loads. MRU clings to the pages of the first phase and thrashes on
      every later one; FIFO and Clock follow the program.

    The loads are the same on every run (a seeded generator); the system is
    deterministic, so the table and the figure are too.

Run
    ``python -m exospin.bench.report.paging_figure docs/figures/paging.png`` writes
    the figure and prints the table of docs/exos.md.

Interface
    ``run(profile, pages, accesses, limits) -> dict``; ``plot(result, path)``;
    ``table(result) -> str``; ``main(argv)``.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from ... import posix
from ...systems import PAGING as POLICIES
from ...systems import boot
from .plots import figure_main, save

PROFILE = "ds5000"
PAGES = 48  # the process's array, in pages
ACCESSES = 2000  # loads after the array is written
LIMITS = (16, 24, 32, 40, 47)  # max_resident, in pages
TABLE_LIMIT = 32  # the column of docs/exos.md's table
SEED = 1  # the access pattern's generator
WORKLOADS = ("scan", "hot/cold", "phases")
HOT_SHARE = 0.8  # hot/cold: the share of loads that go to the hot fifth
PHASE_LOADS = 250  # phases: loads before the working set moves


def accesses(workload: str, pages: int, n: int, seed: int = SEED) -> list[int]:
    """The page each of ``n`` loads touches, in order."""
    rng = random.Random(seed)
    if workload == "scan":
        return [i % pages for i in range(n)]
    if workload == "hot/cold":
        hot = max(1, pages // 5)
        return [rng.randrange(hot) if rng.random() < HOT_SHARE else rng.randrange(hot, pages)
                for _ in range(n)]
    if workload == "phases":
        w = max(1, pages // 3)
        return [(i // PHASE_LOADS) * 7 % (pages - w + 1) + rng.randrange(w) for i in range(n)]
    raise ValueError(f"unknown workload {workload!r} (known: {', '.join(WORKLOADS)})")


def measure(profile: str, workload: str, paging: str, limit: int, pages: int = PAGES,
            n: int = ACCESSES) -> dict[str, Any]:
    """One run: page-ins, TLB-miss upcalls and simulated µs of the loads, and whether
    every load read what was written."""
    seq = accesses(workload, pages, n)
    system = boot("aegis", profile)
    box: dict[str, Any] = {}

    def program(argv: list[str]) -> int:
        ps = posix.page_size()
        base = posix.mmap(pages)
        for i in range(pages):
            posix.store(base + i * ps, i + 1)
        vm: Any = posix._p().vm  # type: ignore[attr-defined]  # ExOS' counters, to read only
        before, t0 = vm.statistics(), posix.time_us()
        total = 0
        for i in seq:
            total += posix.load(base + i * ps)
        box["us"] = posix.time_us() - t0
        after = vm.statistics()
        box["intact"] = total == sum(i + 1 for i in seq)
        box["page_ins"] = after.page_ins - before.page_ins
        box["upcalls"] = after.tlb_miss_upcalls - before.tlb_miss_upcalls
        box["resident"] = after.pages_resident
        return 0

    pid = system.start(program, [], f"paging-{paging}", paging=paging, max_resident=limit)
    system.run()
    status, left = system.exit_status(pid), system.shutdown()
    if status != 0 or any(left.values()) or not box.get("intact"):
        raise RuntimeError(f"{workload}/{paging}/{limit}: status {status}, left {left}, {box}")
    return box


def run(profile: str = PROFILE, pages: int = PAGES, n: int = ACCESSES,
        limits: tuple[int, ...] = LIMITS) -> dict[str, Any]:
    """``{"profile", "pages", "accesses", "limits", "runs": {workload: {policy: [run per
    limit]}}}``, each run as ``measure`` returns it."""
    runs = {w: {p: [measure(profile, w, p, lim, pages, n) for lim in limits] for p in POLICIES}
            for w in WORKLOADS}
    return {"profile": profile, "pages": pages, "accesses": n, "limits": list(limits), "runs": runs}


def table(result: dict[str, Any], limit: int = TABLE_LIMIT) -> str:
    """Page-ins (and simulated ms of the loads) per workload and policy at one limit."""
    k = result["limits"].index(limit)
    policies = list(POLICIES)
    rows = ["| workload | " + " | ".join(policies) + " |", "|---|" + "--:|" * len(policies)]
    for w, by in result["runs"].items():
        cells = [f"{by[p][k]['page_ins']:,} ({by[p][k]['us'] / 1000:.1f} ms)" for p in policies]
        rows.append(f"| {w} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def plot(result: dict[str, Any], path: str | Path) -> Path:
    """Page-ins against the resident-set limit, one panel per workload, a line per policy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    style = {"fifo": ("tab:gray", "s--"), "clock": ("tab:blue", "o-"), "mru": ("tab:orange", "^-")}
    fig, axes = plt.subplots(1, len(result["runs"]), figsize=(12, 4), constrained_layout=True)
    for ax, (w, by) in zip(axes, result["runs"].items(), strict=True):
        for p, rs in by.items():
            color, fmt = style.get(p, (None, "o-"))
            ax.plot(result["limits"], [r["page_ins"] for r in rs], fmt, color=color, linewidth=2,
                    label=p)
        ax.set_ylim(bottom=0)
        ax.set_title(w)
        ax.set_xlabel(f"resident-set limit (pages of {result['pages']})")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9)
    axes[0].set_ylabel(f"page-ins in {result['accesses']:,} loads")
    fig.suptitle(f"ExOS page replacement chosen by the application ({result['profile']}): "
                 "the best policy depends on the program", fontsize=10)
    out = save(fig, path)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    return figure_main("paging_figure", run, table, plot, argv)


if __name__ == "__main__":
    raise SystemExit(main())
