"""Stride scheduling in ExOS: processor shares follow tickets (Engler et al., section 7.1).

The story
    Aegis gives an environment time slices; how a process divides them among
    its threads is the library OS's business. The exokernel paper makes the
    point with a stride scheduler written at application level: three
    threads holding tickets in the ratio 3:2:1 receive the processor in the
    ratio 3:2:1. This module repeats that experiment on exospin.

    One ExOS process runs with ``policy="stride"``. Its main thread creates
    one thread per ratio, with that many tickets, and joins them. Each
    thread does the same thing: ``posix.compute(CHUNK_INSTRUCTIONS)`` in a
    loop until a common deadline ``slices`` time slices away, and notes the
    simulated time at which each chunk completes. Nothing else runs, so the
    threads compete only with each other; the prologue upcall preempts the
    running thread at every slice start, and the policy picks the next.

    What is measured, per thread:

    * its processor time, ``Thread.cycles`` of ``exos/threads.py``: the
      cycles between the scheduler switching to it and it coming back;
    * its work, chunks completed, in windows of ``WINDOW_SLICES`` slices:
      the share of the chunks completed in a window that are this thread's,
      and the same share counted from the start (the cumulative share,
      which converges on the requested share).

    The same program under ``policy="round_robin"`` is the contrast: the
    tickets are ignored and every thread gets a third.

Run
    ``python -m exospin.bench.report.stride_figure docs/figures/stride.png`` writes
    the figure and prints the table of docs/exos.md. The run is
    deterministic: the same profile and parameters give the same numbers.

Interface
    ``run(profile, ratios, slices) -> dict``; ``plot(result, path)``;
    ``table(result) -> str``; ``main(argv)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ... import posix
from ...systems import boot
from .plots import figure_main, save

SEED = 0  # machine seed (this experiment draws no random numbers; kept for the record)
PROFILE = "ds5000"  # DECstation 5000/125, as in the exokernel paper
RATIOS = (3, 2, 1)  # tickets per thread, as in the paper's figure
SLICES = 600  # how long the threads compute, in Aegis time slices (of 500 µs: 300 ms)
CHUNK_INSTRUCTIONS = 500  # instructions per posix.compute call (20 µs on ds5000: 25 per slice)
WINDOW_SLICES = 12  # width of one measurement window, in time slices (6 ms)
POLICIES = ("stride", "round_robin")
RUN_LIMIT_US = 60_000_000.0  # a safety net on simulated time, µs; the run ends long before


def _measure(profile: str, ratios: tuple[int, ...], slices: int, policy: str) -> dict[str, Any]:
    """Run the threads under ``policy``; their processor time, work, and per-window shares."""
    system = boot("aegis", profile, seed=SEED)
    hz = system.machine.profile.clock_hz
    slice_cycles = system.kernel.quantum  # the length of a time slice, as the timer is armed
    slice_us = slice_cycles * 1e6 / hz
    duration_us = slices * slice_us
    box: dict[str, Any] = {}
    done: list[list[int]] = [[] for _ in ratios]  # per thread: cycle at which each chunk ended

    def worker(i: int, end_us: float) -> int:
        mine = done[i]
        while posix.time_us() < end_us:
            posix.compute(CHUNK_INSTRUCTIONS)
            mine.append(round(posix.time_us() * hz / 1e6))
        return len(mine)

    def program(argv: list[str]) -> int:
        p: Any = posix._p()  # the ExOS process: thread_create_tickets is not in the portable API
        start = posix.time_us()
        end = start + duration_us
        tids = [p.thread_create_tickets(r, worker, i, end) for i, r in enumerate(ratios)]
        box["start_cycles"] = round(start * hz / 1e6)
        box["chunks"] = [posix.thread_join(t) for t in tids]
        box["cycles"] = [p.threads.threads[t].cycles for t in tids]
        box["threads"] = p.threads.statistics()
        return 0

    pid = system.start(program, [], f"stride-figure-{policy}", policy=policy)
    system.run(until_us=RUN_LIMIT_US)
    status = system.exit_status(pid)
    left = system.shutdown()
    if status != 0 or any(left.values()) or "cycles" not in box:
        raise RuntimeError(f"the {policy} run failed: status {status}, left {left}")

    total = sum(box["cycles"])
    measured = [c / total for c in box["cycles"]]
    work = [len(d) for d in done]
    measured_work = [w / sum(work) for w in work]

    # windows: chunks completed by each thread in [a, a + width), from the common start
    width = WINDOW_SLICES * slice_cycles
    t0 = box["start_cycles"]
    nwin = -(-slices // WINDOW_SLICES)
    counts = [[0] * nwin for _ in ratios]
    for i, d in enumerate(done):
        for c in d:
            counts[i][min((c - t0) // width, nwin - 1)] += 1
    share: list[list[float]] = [[] for _ in ratios]
    cumulative: list[list[float]] = [[] for _ in ratios]
    run_total = [0] * len(ratios)
    for w in range(nwin):
        in_win = sum(counts[i][w] for i in range(len(ratios)))
        for i in range(len(ratios)):
            run_total[i] += counts[i][w]
        so_far = sum(run_total)
        for i in range(len(ratios)):
            share[i].append(counts[i][w] / in_win if in_win else 0.0)
            cumulative[i].append(run_total[i] / so_far if so_far else 0.0)
    t_ms = [(w + 1) * WINDOW_SLICES * slice_us / 1000 for w in range(nwin)]

    # the share since the start, at the end of every slice: how fast it settles
    per_slice = [[0] * slices for _ in ratios]
    for i, d in enumerate(done):
        for c in d:
            per_slice[i][min((c - t0) // slice_cycles, slices - 1)] += 1
    since_start: list[list[float]] = [[] for _ in ratios]
    run_total = [0] * len(ratios)
    for k in range(slices):
        for i in range(len(ratios)):
            run_total[i] += per_slice[i][k]
        so_far = sum(run_total)
        for i in range(len(ratios)):
            since_start[i].append(run_total[i] / so_far if so_far else 0.0)
    stats = box["threads"]
    return {
        "slice_us": slice_us,
        "measured": measured,  # from Thread.cycles
        "measured_work": measured_work,  # from chunks completed
        "cycles": box["cycles"],
        "chunks": work,
        "windows": {"t_ms": t_ms, "share": share, "cumulative": cumulative},
        "slices": {"t_ms": [(k + 1) * slice_us / 1000 for k in range(slices)], "cumulative": since_start},
        "switches": stats.switches,
        "preemptions": stats.preemptions,
    }


def run(profile: str = PROFILE, ratios: tuple[int, ...] = RATIOS, slices: int = SLICES) -> dict[str, Any]:
    """Requested versus measured processor shares under stride and under round robin.

    Returns ``{"profile", "ratios", "slices", "window_ms", "requested", "stride":
    {...}, "round_robin": {...}}``; each policy's entry has ``slice_us``,
    ``measured`` (shares of ``Thread.cycles``), ``measured_work``, ``cycles``, ``chunks`` and
    ``windows`` (``t_ms`` at each window's end, and per thread the ``share``
    in that window and the ``cumulative`` share since the start), and
    ``slices`` (the same ``cumulative`` share at the end of every slice).
    """
    if not ratios or any(type(r) is not int or r < 1 for r in ratios):
        raise ValueError(f"ratios must be positive integers (tickets), not {ratios!r}")
    if slices < WINDOW_SLICES:
        raise ValueError(f"slices must be at least one window ({WINDOW_SLICES}), not {slices}")
    out: dict[str, Any] = {
        "profile": profile, "ratios": list(ratios), "slices": slices,
        "requested": [r / sum(ratios) for r in ratios],
    }
    for policy in POLICIES:
        out[policy] = _measure(profile, tuple(ratios), slices, policy)
    out["window_ms"] = WINDOW_SLICES * out["stride"]["slice_us"] / 1000
    return out


def table(result: dict[str, Any]) -> str:
    """The requested and measured shares as a Markdown table."""
    rows = ["| thread | tickets | requested | stride (measured) | round robin (measured) |",
            "|---|---|---|---|---|"]
    for i, r in enumerate(result["ratios"]):
        rows.append(f"| {i + 1} | {r} | {result['requested'][i]:.3f} | "
                    f"{result['stride']['measured'][i]:.3f} | {result['round_robin']['measured'][i]:.3f} |")
    return "\n".join(rows)


def plot(result: dict[str, Any], path: str | Path) -> Path:
    """Draw measured share over time per thread, requested shares dashed; stride and round robin.

    Solid lines: each thread's share since the start, at every slice end (a
    logarithmic time axis, so the first slices, where one slice is a large
    part of the total, are visible). Dots: its share in each window.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), sharey=True, constrained_layout=True)
    titles = {"stride": "policy=\"stride\": shares follow tickets",
              "round_robin": "policy=\"round_robin\": tickets ignored"}
    for ax, policy in zip(axes, POLICIES, strict=True):
        res = result[policy]
        for i, r in enumerate(result["ratios"]):
            c = colors[i % len(colors)]
            ax.axhline(result["requested"][i], color=c, linestyle="--", linewidth=1.2)
            ax.plot(res["slices"]["t_ms"], res["slices"]["cumulative"][i], color=c, linewidth=2,
                    label=f"thread {i + 1}: {r} ticket{'s' if r != 1 else ''} "
                          f"(asked {result['requested'][i]:.3f}, got {res['measured'][i]:.3f})")
            ax.plot(res["windows"]["t_ms"], res["windows"]["share"][i], "o", color=c, markersize=2.5,
                    alpha=0.5)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_title(titles[policy])
        ax.set_xlabel("simulated time since the threads started (ms, log scale)")
        ax.set_xlim(res["slices"]["t_ms"][0], res["slices"]["t_ms"][-1])
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3, which="both")
        ax.legend(loc="upper right", fontsize=8)
    axes[0].set_ylabel("share of the process's processor time")
    fig.suptitle(f"Stride scheduling in ExOS ({result['profile']}, one process, "
                 f"{result['slices']} slices): solid = share since start, "
                 f"dots = share per {result['window_ms']:g} ms window, dashed = requested (tickets)",
                 fontsize=9.5)
    out = save(fig, path)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    return figure_main("stride_figure", run, table, plot, argv)


if __name__ == "__main__":
    raise SystemExit(main())
