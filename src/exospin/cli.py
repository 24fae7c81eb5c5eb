"""The ``exospin`` command line (shapes in docs/contracts.md).

    exospin --version
    exospin info [--profile NAME] [--json]
    exospin demo SYSTEM [--seed N] [--profile NAME] [--trace FILE] [--disk FILE] [--pcap FILE]   (profile: the demo's paper's machine)
    exospin bench SUITE [--profile NAME] [--json] [--out DIR] [--quick] [--audit] [--clock charged|weighed] [--pcap FILE]
    exospin reproduce [--out DIR] [--json] [--quick] [--audit]
    (demo, bench and reproduce also take --memory ideal|detailed: docs/memory.md;
    bench and reproduce --clock charged|weighed: docs/results.md)
    exospin spin check FILE...

Exit status: 0 success; 1 the command ran and found a problem; 2 bad usage.
Errors are one readable line on stderr; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console
from rich.table import Table

from . import __version__
from .machine import MEMORY_MODELS, PROFILES, get_profile, memory_model
from .terminal import print_table

#: Systems named by docs/contracts.md, and the demos that exist so far.
DEMOS = ("aegis", "exos", "spin", "unix", "net")
PLANNED: dict[str, str] = {}


class UsageError(Exception):
    """Bad usage: exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage dump
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="exospin", description="An extensible-kernel laboratory: Aegis/ExOS, SPIN and Unix on one simulated machine.")
    p.add_argument("--version", action="version", version=f"exospin {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    info = sub.add_parser("info", help="the machine profiles, their primitive costs and sources, the systems")
    info.add_argument("--profile", choices=list(PROFILES), help="only this profile")
    info.add_argument("--json", action="store_true", help="one JSON document on stdout")

    demo = sub.add_parser("demo", help="boot a system and watch it work")
    demo.add_argument("system", metavar="SYSTEM", help="aegis, exos, spin, unix or net")
    demo.add_argument("--seed", type=int, help="seed of the story (default 0); refused by a demo with no randomness (spin)")
    demo.add_argument("--profile", choices=list(PROFILES),
                      help="machine (default: the demo's paper's: ds5000 for aegis, exos and unix; alpha3000 for spin)")
    demo.add_argument("--trace", metavar="FILE", help="write a Chrome/Perfetto trace-event file")
    demo.add_argument("--disk", metavar="FILE", help="the disk's image file, for a demo that uses a disk "
                      "(none does yet: every demo refuses it)")
    demo.add_argument("--pcap", metavar="FILE", help="write the frames the network carried as a pcap file "
                      "(tcpdump -r FILE); for a demo with a network (net)")

    bench = sub.add_parser("bench", help="run a benchmark suite")
    bench.add_argument("suite", metavar="SUITE", help="aegis, exos, spin, unix, demux, net, fs, checkpoint, db or svm; "
                       "ultrix or osf1 (the unix suite on the faithful Ultrix 4.2 or DEC OSF/1 paths)")
    bench.add_argument("--profile", choices=list(PROFILES), default="ds5000")
    bench.add_argument("--json", action="store_true", help="one JSON document on stdout")
    bench.add_argument("--out", metavar="DIR", help="also write the JSON document into DIR")
    bench.add_argument("--quick", action="store_true", help="fewer iterations")
    bench.add_argument("--audit", action="store_true",
                       help="also weigh the system software's own Python per operation (py cycles)")
    bench.add_argument("--pcap", metavar="FILE", help="a suite that runs networks (net): write what each row's "
                       "link carried, one pcap file per row, FILE's name with the row and system (docs/net.md)")
    bench.add_argument("--clock", choices=("charged", "weighed"), default="charged",
                       help="charged: what each kernel charges (default); weighed: every system's own "
                            "Python advances the clock too (docs/results.md)")

    repro = sub.add_parser("reproduce", help="every suite, every system, both profiles: the papers' tables")
    repro.add_argument("--out", metavar="DIR", help="write report.md, results.json and the plots (PNG) into DIR")
    repro.add_argument("--json", action="store_true", help="one JSON document on stdout (progress stays on stderr)")
    repro.add_argument("--quick", action="store_true", help="fewer iterations (under a minute)")
    repro.add_argument("--audit", action="store_true",
                       help="also weigh each system's own Python and compare the systems both ways")
    repro.add_argument("--baselines", action=argparse.BooleanOptionalAction, default=True,
                       help="run the faithful baselines (ultrix on ds5000, osf1 on alpha3000) beside the lean unix "
                            "and split each ratio into the architecture's part and the baseline's (the default; "
                            "--no-baselines leaves them out)")
    repro.add_argument("--clock", choices=("charged", "weighed"), default="charged",
                       help="charged (default) or weighed: every system's own Python on the clock")

    for cmd in (demo, bench, repro):
        cmd.add_argument("--memory", choices=MEMORY_MODELS, default="ideal",
                         help="ideal: every reference hits the cache (default); detailed: the profile's "
                              "caches and write buffer (docs/memory.md)")

    spin = sub.add_parser("spin", help="SPIN tools: check an extension with the verifier")
    spin_sub = spin.add_subparsers(dest="spin_command", metavar="SPIN_COMMAND", parser_class=_Parser)
    check = spin_sub.add_parser("check", help="verify extension source files (docs/verifier.md)")
    check.add_argument("files", nargs="+", metavar="FILE", help="Python source of an extension")
    return p


# ---------------------------------------------------------- output paths
# One rule for every option that names where output goes (--trace FILE, --out DIR): it is
# checked before any work starts, a folder that does not exist is made, and a path that
# cannot be written is bad usage (one line, exit 2), not a failure after the run.


def _cannot(option: str, path: Path, e: OSError) -> UsageError:
    return UsageError(f"{option}: cannot write {path}: {e.strerror or e}")


def _make_folder(option: str, d: Path) -> None:
    """Make ``d`` and its parents; a file standing where a folder must be is named."""
    for p in (d, *d.parents):
        if p.exists():
            if not p.is_dir():
                raise UsageError(f"{option}: {p} exists and is not a directory")
            break
    d.mkdir(parents=True, exist_ok=True)


def output_dir(option: str, name: str) -> Path:
    """The folder ``name`` given to ``option``: made if missing, proven writable."""
    d = Path(name)
    try:
        _make_folder(option, d)
        with tempfile.TemporaryFile(dir=d):  # can a file be made in it?
            pass
    except OSError as e:
        raise _cannot(option, d, e) from None
    return d


def output_file(option: str, name: str) -> Path:
    """The file ``name`` given to ``option``: its folder made if missing, the file proven
    writable (opened for appending, so nothing is lost; removed again if it was new)."""
    f = Path(name)
    if f.is_dir():
        raise UsageError(f"{option}: {name} is a directory")
    existed = f.exists()
    try:
        _make_folder(option, f.parent)
        with f.open("a"):
            pass
        if not existed:
            f.unlink()
    except OSError as e:
        raise _cannot(option, f, e) from None
    return f


# ------------------------------------------------------------------- info


def _profile_doc(name: str) -> dict[str, Any]:
    p = get_profile(name)
    return {
        "description": p.description, "clock_hz": p.clock_hz, "page_size": p.page_size,
        "word_bytes": p.word_bytes, "memory_frames": p.memory_frames,
        "tlb_entries": p.tlb_entries, "tlb_wired": p.tlb_wired,
        "costs": {k: {"cycles": c.cycles, "unit": c.unit, "source": c.source} for k, c in p.costs.items()},
    }


def cmd_info(args: argparse.Namespace, out: Console) -> int:
    from .systems import SYSTEMS

    names = [args.profile] if args.profile else list(PROFILES)
    if args.json:
        doc = {"exospin": __version__, "systems": SYSTEMS, "profiles": {n: _profile_doc(n) for n in names}}
        print(json.dumps(doc, indent=2))
        return 0
    out.print(f"[bold]exospin {__version__}[/bold]: an extensible-kernel laboratory")
    for s, what in SYSTEMS.items():
        out.print(f"  system [cyan]{s}[/cyan]: {what}")
    for s, issue in PLANNED.items():
        out.print(f"  system [dim]{s}[/dim]: not built yet ({issue})")
    for n in names:
        p = get_profile(n)
        out.print()
        out.print(f"[bold]{p.name}[/bold]: {p.description}")
        out.print(f"  clock {p.clock_hz / 1e6:g} MHz, {p.memory_frames} frames of {p.page_size} bytes, "
                  f"TLB {p.tlb_entries} entries ({p.tlb_wired} wired), {p.word_bytes}-byte words")
        t = Table(show_header=True, header_style="bold")
        t.add_column("primitive")
        t.add_column("cost", justify="right")
        t.add_column("unit")
        t.add_column("source")
        for k, c in p.costs.items():
            t.add_row(k, str(c.cycles), c.unit, c.source)
        print_table(out, t)
    return 0


# ------------------------------------------------------------------- demo


def cmd_demo(args: argparse.Namespace, out: Console) -> int:
    """Look the demo up (demos/), run it, render its report; 1 if it did not end clean."""
    if args.system not in DEMOS:
        if args.system in PLANNED:
            raise UsageError(f"system {args.system!r} is not built yet ({PLANNED[args.system]}); available: {', '.join(DEMOS)}")
        raise UsageError(f"unknown system {args.system!r} (available: {', '.join(DEMOS)})")
    from .demos import DEMOS as demos

    demo = demos[args.system]
    if args.seed is not None and not demo.seeded:
        raise UsageError(f"--seed: demo {demo.name} draws nothing at random, so a seed would change nothing")
    if args.disk is not None:  # machine/disk.py's image; the storage demo (issue 18) will take it
        raise UsageError(f"--disk: demo {demo.name} uses no disk, so an image would change nothing")
    if args.pcap is not None and demo.capture is None:
        raise UsageError(f"--pcap: demo {demo.name} has no network, so there is nothing to capture")
    trace = output_file("--trace", args.trace) if args.trace else None
    pcap = output_file("--pcap", args.pcap) if args.pcap else None
    profile = args.profile or demo.profile  # the machine of the demo's paper
    if pcap is not None and demo.capture is not None:
        report = demo.capture(profile, trace, pcap)
    else:
        report = demo.run(0 if args.seed is None else args.seed, profile, trace)
    demo.render(report, out)
    return 0 if report.end.clean else 1


# ------------------------------------------------------------------ bench


def _check_clock(args: argparse.Namespace, suite: str | None) -> None:
    """--clock weighed: not with --audit (both weigh the Python), and only for a suite of one machine."""
    from .bench import WEIGHABLE

    if args.clock != "weighed":
        return
    if args.audit:
        raise UsageError("--audit and --clock weighed both weigh the system software's Python: choose one")
    if suite is not None and suite not in WEIGHABLE:
        raise UsageError(f"--clock weighed: suite {suite!r} is not one the weighed clock supports "
                         f"(weighable: {', '.join(sorted(WEIGHABLE))})")


def cmd_bench(args: argparse.Namespace, out: Console) -> int:
    from .bench import NETWORKED, TARGETS, UNTARGETED, all_suites, run_suite

    SUITES = all_suites()  # noqa: N806 - the table of every suite bench knows

    if args.suite not in SUITES:
        raise UsageError(f"unknown suite {args.suite!r} (available: {', '.join(SUITES)})")
    if args.pcap is not None and args.suite not in NETWORKED:
        raise UsageError(f"--pcap: suite {args.suite} runs no network, so a capture would hold nothing "
                         f"(networked suites: {', '.join(sorted(NETWORKED))})")
    pcap = output_file("--pcap", args.pcap) if args.pcap else None
    _check_clock(args, args.suite)
    out_dir = output_dir("--out", args.out) if args.out else None
    err = Console(stderr=True)
    label = f"bench {args.suite} on {args.profile}"
    if err.is_terminal:
        with err.status(f"{label}...") as status:
            doc = run_suite(args.suite, args.profile, quick=args.quick, audit=args.audit, pcap=pcap, clock=args.clock,
                            progress=lambda name: status.update(f"{label}: {name}"))
    else:  # a pipe or a log: one plain line, not a spinner nobody sees
        print(f"{label}...", file=sys.stderr, flush=True)
        doc = run_suite(args.suite, args.profile, quick=args.quick, audit=args.audit, pcap=pcap, clock=args.clock)
    if out_dir is not None:
        (out_dir / f"bench-{args.suite}-{args.profile}.json").write_text(json.dumps(doc, indent=2))
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    pc = doc["python_call_ns"]
    t = Table(title=f"bench {args.suite} on {args.profile} (system {SUITES[args.suite][0]})", header_style="bold")
    ext = any("ext_cycles" in r for r in doc["results"])  # SPIN: its extensions' own code
    py = any("py_cycles" in r for r in doc["results"])  # --audit: all the system's own Python
    mbps = any("mbps" in r for r in doc["results"])  # bench net: the bandwidth rows
    several = len({r["system"] for r in doc["results"]}) > 1  # a suite over several systems: say whose row
    figs: list[str] = []  # an experiment's own figures (checkpoint: the pause, ...), in the rows' order
    for r in doc["results"]:
        figs.extend(k for k in r.get("figures", {}) if k not in figs)
    cols = ("benchmark", *(("system",) if several else ()), "sim cycles", *(("ext cycles",) if ext else ()),
            *(("py cycles",) if py else ()), "sim µs", *(("Mb/s",) if mbps else ()), *figs, "wall ns",
            "× Python call", "target")
    for col in cols:
        t.add_column(col, justify="left" if col == "benchmark" else "right")
    rows = {r["benchmark"]: r for r in doc["results"]}
    targets = TARGETS.get(args.suite, {})
    for r in doc["results"]:
        ratio = r["wall_ns"] / (r.get("python_call_ns") or pc)
        mark = ""
        if r["benchmark"] in targets:
            base, limit = targets[r["benchmark"]]
            against = r.get("python_call_ns") or pc if base == "python_call" else rows[base]["wall_ns"]
            what = "" if base == "python_call" else " " + base.removeprefix("dispatch_")
            ok = r["wall_ns"] / against <= limit
            mark = f"≤ {limit:g}×{what} " + ("[green]ok[/green]" if ok else "[red]over[/red]")
        elif r["benchmark"] in UNTARGETED.get(args.suite, {}):
            mark = f"[dim]{UNTARGETED[args.suite][r['benchmark']]}[/dim]"
        extra = tuple(f"{r[k]:.1f}" if k in r else "" for k, on in (("ext_cycles", ext), ("py_cycles", py)) if on)
        rate = (f"{r['mbps']:.2f}" if "mbps" in r else "",) if mbps else ()
        fv = r.get("figures", {})
        t.add_row(r["benchmark"], *((r["system"],) if several else ()), f"{r['sim_cycles']:.1f}", *extra,
                  f"{r['sim_us']:.3f}", *rate, *(f"{fv[k]:g}" if k in fv else "" for k in figs),
                  f"{r['wall_ns']:.0f}", f"{ratio:.1f}", mark)
    print_table(out, t)
    for g in doc.get("targets", []):  # bench net: the issue's targets on both clocks, in this run
        def holds(ok: bool) -> str:
            return "[green]holds[/green]" if ok else "[red]does not hold[/red]"
        out.print(f"target {g['benchmark']} ≤ {g['limit']:g} × {g['against']}: simulated {g['sim_ratio']:.3g}× "
                  f"{holds(g['sim_holds'])}; wall-clock {g['wall_ratio']:.3g}× {holds(g['wall_holds'])}")
    if ext:
        out.print("ext cycles: what the extensions' own code costs under the verifier's static model "
                  "(docs/verifier.md), measured per operation and not included in sim cycles.")
    if py:
        out.print("py cycles: what all the system software's own Python costs under the same model "
                  "(bench/audit.py), measured on one of the repeats per operation and not included in "
                  "sim cycles; the wall time is the best of the other repeats.")
    out.print(f"A plain Python call took {pc:.1f} ns in this run (each ratio uses a call measured next to "
              "its own benchmark); wall-clock figures are noisy, simulated ones are exact.")
    return 0


# -------------------------------------------------------------- reproduce


def cmd_reproduce(args: argparse.Namespace, out: Console) -> int:
    """Run every suite under both profiles; tables on stdout, progress on stderr, files in --out."""
    import time

    from rich.markup import escape
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    _check_clock(args, None)

    from .bench import BASELINE_PROFILES, SUITES
    from .bench.report import decompose
    from .bench.report import reproduce as rp

    out_dir = output_dir("--out", args.out) if args.out else None
    err = Console(stderr=True, highlight=False)
    t0 = time.monotonic()
    total = len(SUITES) * len(rp.PROFILES) + (len(BASELINE_PROFILES) if args.baselines and "unix" in SUITES else 0)
    started = [0]
    if err.is_terminal:
        columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn())
        # a light refresh thread: it runs beside the timed loops
        with Progress(*columns, console=err, transient=True, refresh_per_second=4) as bar:
            task = bar.add_task("reproduce", total=total)

            def progress(suite: str, profile: str, benchmark: str | None) -> None:
                if benchmark is None:
                    if started[0]:
                        bar.advance(task)
                    started[0] += 1
                bar.update(task, description=f"suite [cyan]{suite}[/cyan] on [cyan]{profile}[/cyan]: "
                                             f"{benchmark or '...'}")

            doc = rp.run_all(quick=args.quick, progress=progress, reraise=args.debug, audit=args.audit,
                             clock=args.clock, baselines=None if args.baselines else False)
            bar.update(task, completed=total)
    else:  # a pipe or a log: one plain line per suite, not a bar nobody sees

        def line(suite: str, profile: str, benchmark: str | None) -> None:
            if benchmark is None:
                started[0] += 1
                print(f"reproduce {started[0]}/{total}: suite {suite} on {profile}...", file=sys.stderr, flush=True)

        doc = rp.run_all(quick=args.quick, progress=line, reraise=args.debug, audit=args.audit,
                         clock=args.clock, baselines=None if args.baselines else False)
    seconds = time.monotonic() - t0
    if out_dir is not None:
        rp.write_outputs(doc, out_dir)
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        for table in rp.build_tables(doc):
            print_table(out, rp.rich_table(table))
            out.print(f"[dim]{escape(rp.caption(table))}[/dim]\n")
        for profile in rp.profiles_of(doc):
            audited = rp.rich_audit(doc, profile)
            if audited is not None:
                print_table(out, audited)
                out.print(f"[dim]{escape(rp.AUDIT_CAPTION)}[/dim]\n")
        for profile in rp.profiles_of(doc):
            split = decompose.rich_decomposition(doc.get("decomposition", []), profile)
            if split is not None:
                print_table(out, split)
                out.print(f"[dim]{escape(decompose.CAPTION)}[/dim]\n")
        for f in doc["failed"]:
            out.print(f"[red]suite {escape(f['suite'])} failed on {f['profile']}[/red]: {escape(f['error'])}",
                      soft_wrap=True)
        calls = [r["python_call_ns"] for r in doc["runs"]]
        if calls:
            out.print(f"A plain Python call took {min(calls):.1f}–{max(calls):.1f} ns in these runs (each wall "
                      "ratio uses the call measured next to its benchmark); wall-clock figures are noisy, "
                      "simulated ones are exact.")
    done = f"reproduce: {len(doc['runs'])} runs, {len(doc['failed'])} failed, in {seconds:.1f} s"
    err.print(done + (f"; report, results and plots in {out_dir}" if out_dir is not None else ""), soft_wrap=True)
    return 1 if doc["failed"] else 0


# ------------------------------------------------------------------- spin


def cmd_spin(args: argparse.Namespace, out: Console) -> int:
    """``spin check FILE...``: per file, in order, ``FILE: ok``, one linter-style line per
    violation, or (on stderr) one error line if it cannot be read; the others are still
    checked. Exit 2 if a file could not be read, else 1 if one was rejected, else 0."""
    from .verifier import check

    if args.spin_command != "check":
        raise UsageError("no spin command given (try: exospin spin check FILE...)")
    unreadable = rejected = False
    for name in args.files:
        try:
            source = Path(name).read_text(encoding="utf-8")
        except FileNotFoundError:
            why = "no such file"
        except IsADirectoryError:
            why = "is a directory"
        except (OSError, UnicodeDecodeError) as e:
            why = f"cannot read: {e.strerror if isinstance(e, OSError) and e.strerror else e}"
        else:
            found = check(source, name)
            rejected = rejected or bool(found)
            for line in [v.format(name) for v in found] or [f"{name}: ok"]:
                print(line, flush=True)
            continue
        unreadable = True
        print(f"exospin: error: spin check: {name}: {why}", file=sys.stderr, flush=True)
    return 2 if unreadable else 1 if rejected else 0


# ------------------------------------------------------------------- main


COMMANDS = {"info": cmd_info, "demo": cmd_demo, "bench": cmd_bench, "reproduce": cmd_reproduce, "spin": cmd_spin}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    def fail(line: str) -> None:  # exactly one line on stderr, never wrapped
        print(line.replace("\n", " "), file=sys.stderr)

    try:
        args = _parser().parse_args(argv)
        if args.command is None:
            raise UsageError("no command given (try: exospin info, exospin demo aegis, exospin bench aegis)")
        with memory_model(getattr(args, "memory", "ideal")):  # the machines every boot builds
            return COMMANDS[args.command](args, Console(highlight=False))
    except UsageError as e:
        if debug:
            raise
        fail(f"exospin: error: {e}")
        return 2
    except KeyboardInterrupt:
        fail("exospin: interrupted")
        return 130
    except SystemExit:
        raise
    except BaseException as e:  # an unexpected failure (BudgetExceeded too): one line, unless --debug
        if debug:
            raise
        fail(f"exospin: {type(e).__name__}: {e} (run with --debug for the traceback)")
        return 1


if __name__ == "__main__":
    sys.exit(main())
