"""``exospin reproduce``: every suite, every system, both machines, in the papers' layout.

The story
    Both SOSP 1995 papers argue by comparison: the exokernel paper times
    Aegis and ExOS against Ultrix on a DECstation 5000/125, the SPIN paper
    times SPIN against DEC OSF/1 on a DEC 3000/400. This module runs every
    suite of ``SUITES`` under both profiles (``ds5000``, ``alpha3000``),
    merges the results of one profile into one matrix (benchmark x system),
    and cuts it into tables a reader of the papers recognises: rows are
    benchmarks, columns are systems, each cell the simulated µs per
    operation, with the ratio to the monolithic baseline (``unix``) when the
    baseline has that row, and our wall-clock ns next to a plain Python call.

Why it is built this way
    * Generic. Nothing here names a suite: a suite registered in ``SUITES``
      is run, its rows land in the tables by benchmark name, and its system
      gets a column. A benchmark whose name no table claims goes into an
      "other" table, so nothing is dropped.
    * Tables are chosen by benchmark name (``GROUPS``, fnmatch patterns),
      the same on both profiles. A benchmark may sit in two tables when both
      papers report it (``null_syscall`` is a primitive of the exokernel
      paper and a row of SPIN's protected-communication table).
    * A system that cannot run a benchmark has no result for it: the cell is
      "—", never zero, and the plot has no bar there.
    * Everything renders from the JSON document (``document``), so a saved
      ``results.json`` can be re-rendered and tests can feed synthetic ones.
      The report contains no date and no host name: run twice, it differs
      only in wall-clock numbers.
    * A suite that fails (``BenchmarkError``: it did not measure the path it
      claims to) is recorded in ``failed`` with its message; the others go on.

Interface
    ``run_all(quick, progress, reraise, audit=False, baselines=None) -> dict`` (the ``--json`` document);
    ``build_tables(doc) -> list[ResultTable]``; ``rich_table(t)``; with ``--audit``,
    ``audit_rows(doc, profile)``, ``rich_audit`` and ``markdown_audit``;
    ``markdown_report(doc, tables, plots)``; ``write_outputs(doc, dir)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.table import Table

from ... import __version__
from ...machine import get_profile
from .. import BASELINE_PROFILES, REPRODUCE_OPTIONS, SUITES, WEIGHABLE, run_suite
from ..harness import BenchmarkError
from .decompose import decomposition, markdown_decomposition, plot_decomposition
from .papers import PUBLISHED, published_text
from .plots import plot_table
from .tables import BASELINE, MISSING, Cell, Group, ResultTable, Row, fmt_us

#: The profiles reproduce runs, in order, and whose paper each one is.
PROFILES: dict[str, str] = {
    "ds5000": "Engler, Kaashoek and O'Toole, SOSP 1995 (Aegis/ExOS against Ultrix 4.2)",
    "alpha3000": "Bershad et al., SOSP 1995 (SPIN against DEC OSF/1)",
}
#: Column order for the systems we know; any other system follows, alphabetically.
SYSTEM_ORDER = ("aegis", "spin", "unix")

#: progress(suite, profile, benchmark): benchmark is None when a suite starts.
Progress = Callable[[str, str, str | None], None]


GROUPS: tuple[Group, ...] = (
    Group("primitives", "Kernel primitives", "exokernel paper §6: Aegis vs the Ultrix-role unix",
          ("null_procedure_call", "null_syscall", "exc_*", "tlb_refill_*", "pct_*", "yield")),
    Group("ipc", "IPC, one-word round trip", "exokernel paper §6: ExOS on Aegis, and SPIN's Unix extension, vs unix",
          ("ipc_*",)),
    Group("vm", "Virtual memory: the Appel-Li set and a matrix multiply",
          "both papers: ExOS (exokernel §6), SPIN (table 4) vs unix", ("vm_*", "matmul_*")),
    Group("calls", "Protected communication", "SPIN paper §5, table 2: SPIN vs the OSF/1-role unix",
          ("in_kernel_call", "null_syscall", "cross_as_call")),
    Group("threads", "Thread management", "SPIN paper §5, table 3: kernel and user-level threads",
          ("fork_join_*", "ping_pong_*")),
    Group("dispatch", "Event dispatch", "SPIN paper §5 and Pardyak & Bershad, OSDI 1996",
          ("dispatch_*",)),
    Group("demux", "Packet demultiplexing, one frame among N filters",
          "DPF paper (Engler & Kaashoek, SIGCOMM 1996) §5: DPF vs an MPF-style interpreter and cBPF",
          ("demux_*",)),
    Group("net_rtt", "UDP round trip between two machines",
          "SPIN paper §5.3, table 5 (SPIN's in-kernel echo vs OSF/1) and the exokernel paper's ASHs: "
          "posix echo on every system, in-kernel echo (SPIN), ASH (ExOS)",
          ("udp_rtt_*", "kernel_echo_rtt_*", "ash_rtt_*")),
    Group("net_bandwidth", "UDP bandwidth, one way, 1,472-byte datagrams",
          "SPIN paper §5.3, table 5: posix sender and receiver on every system", ("udp_bandwidth_*",)),
    Group("net_forward", "Forwarding round trip: client, forwarder, server",
          "SPIN paper §5.3, table 6: SPIN's forwarder in the kernel, a posix process on unix and ExOS",
          ("forward_rtt_*",)),
    Group("fs", "File systems on the disk: per operation (block I/Os: `figures`)",
          "Kaashoek et al., SOSP 1997 (XN, C-FFS) and Cao, Felten & Li (application-controlled caching)",
          ("fs_*", "cao_*")),
    Group("checkpoint", "Checkpointing a running program: the whole run (its longest pause: `figures`)",
          "Appel & Li, ASPLOS 1991 §3: concurrent checkpointing vs stop-and-copy, on every system",
          ("ckpt_*",)),
    Group("db", "A database on the file system: the whole scan-and-lookup mix (disk I/Os: `figures`)",
          "Stonebraker, CACM 1981 (the database's own buffer policy) and Cao, Felten & Li: SQLite in each "
          "system's files, LRU against scan pages replaced first and index pages kept",
          ("sqlite_*",)),
    Group("svm", "Shared virtual memory: a Jacobi relaxation's measured phase (faults, messages, speed-up: `figures`)",
          "Li & Hudak, TOCS 1989 (IVY) and Appel & Li, ASPLOS 1991 §4: 1, 2, 4 machines of every system",
          ("svm_*",)),
)
OTHER = Group("other", "Other benchmarks", "rows no table above claims", ("*",))


# ------------------------------------------------------------------- running


def run_all(quick: bool = False, progress: Progress | None = None, reraise: bool = False,
            suites: Iterable[str] | None = None, profiles: Iterable[str] = tuple(PROFILES),
            audit: bool = False, clock: str = "charged", baselines: bool | None = None) -> dict[str, Any]:
    """Run every suite under every profile; the ``reproduce --json`` document.
    ``baselines``: also each faithful baseline on its paper's machine (``ultrix`` on
    ds5000, ``osf1`` on alpha3000), and the document's ``decomposition`` (decompose.py);
    by default (None) whenever the lean ``unix`` suite runs, whose rows they stand beside
    (about 15% more time for ``reproduce``: two more runs of the unix suite).

    A suite that raises ``BenchmarkError`` is recorded in ``failed`` and the
    run goes on; so is any other exception, unless ``reraise`` (``--debug``).
    ``audit``: weigh the system software's own Python too (``py_cycles``). ``clock``:
    ``charged`` or ``weighed`` (bench/weighed.py); the document says which when weighed."""
    runs: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    profiles = tuple(profiles)
    names = list(SUITES) if suites is None else list(suites)
    if clock == "weighed":  # the suites of several machines cannot be weighed (bench/weighed.py): left out
        names = [n for n in names if n in WEIGHABLE]
    if baselines is None:
        baselines = "unix" in names
    for profile in profiles:
        extra = [b for b, p in BASELINE_PROFILES.items() if p == profile] if baselines else []
        for suite in names + extra:
            if progress is not None:
                progress(suite, profile, None)
            try:
                runs.append(run_suite(suite, profile, quick=quick, progress=_relay(progress, suite, profile),
                                      audit=audit, options=REPRODUCE_OPTIONS.get(suite), clock=clock))
            except BenchmarkError as e:
                failed.append({"suite": suite, "profile": profile, "error": str(e)})
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as e:  # also what extensions may not catch (BudgetExceeded)
                if reraise:
                    raise
                failed.append({"suite": suite, "profile": profile, "error": f"{type(e).__name__}: {e}"})
    doc = document(runs, failed, quick, profiles)
    if clock == "weighed":
        doc["clock"] = "weighed"
    if baselines:
        doc["decomposition"] = decomposition(doc)
    return doc


def _relay(progress: Progress | None, suite: str, profile: str) -> Callable[[str], None] | None:
    """run_suite's progress(benchmark), relayed as progress(suite, profile, benchmark)."""
    if progress is None:
        return None
    report = progress

    def note(benchmark: str) -> None:
        report(suite, profile, benchmark)
    return note


def document(runs: list[dict[str, Any]], failed: list[dict[str, str]], quick: bool,
             profiles: Iterable[str] = tuple(PROFILES)) -> dict[str, Any]:
    """The ``--json`` document: docs/contracts.md's ``runs`` shape, plus ``quick``, the
    ``profiles`` run and the ``failed`` suites (empty when all went well)."""
    return {"exospin": __version__, "quick": quick, "profiles": list(profiles), "runs": runs, "failed": failed}


# -------------------------------------------------------------------- tables


def _system_key(system: str) -> tuple[int, str]:
    return (SYSTEM_ORDER.index(system) if system in SYSTEM_ORDER else len(SYSTEM_ORDER), system)


def merge(doc: Mapping[str, Any], profile: str) -> tuple[list[str], dict[str, dict[str, Cell]], list[str]]:
    """Every result of ``profile`` across the runs: (benchmarks in first-seen order,
    benchmark -> system -> cell, notes). If two suites report the same benchmark for the
    same system, the first is kept and a note says so."""
    order: list[str] = []
    cells: dict[str, dict[str, Cell]] = {}
    notes: list[str] = []
    for run in doc.get("runs", []):
        if run.get("profile") != profile:
            continue
        for r in run.get("results", []):
            name, system = r["benchmark"], r["system"]
            if name not in cells:
                order.append(name)
                cells[name] = {}
            if system in cells[name]:
                notes.append(f"{name} on {system} reported by suites {cells[name][system].suite} and "
                             f"{run['suite']}; the first is shown")
                continue
            call = r.get("python_call_ns") or run.get("python_call_ns") or 0.0
            py = r.get("py_cycles")
            mbps = r.get("mbps")
            cells[name][system] = Cell(float(r["sim_us"]), float(r["sim_cycles"]), float(r["wall_ns"]),
                                       float(call), run["suite"], None if py is None else float(py),
                                       None if mbps is None else float(mbps))
    return order, cells, notes


def profiles_of(doc: Mapping[str, Any]) -> list[str]:
    """The profiles of the document, in its order (``profiles``, else order of the runs)."""
    seen = list(doc.get("profiles") or [])
    for run in doc.get("runs", []):
        if run.get("profile") not in seen:
            seen.append(run["profile"])
    return seen


def build_tables(doc: Mapping[str, Any]) -> list[ResultTable]:
    """The tables of the report, per profile in ``GROUPS`` order, then "other"; empty
    tables are left out. Columns are the systems that have a row in the table."""
    tables: list[ResultTable] = []
    for profile in profiles_of(doc):
        order, cells, _ = merge(doc, profile)
        claimed: set[str] = set()
        for group in (*GROUPS, OTHER):
            names = [b for b in order if group.claims(b) and (group is not OTHER or b not in claimed)]
            claimed.update(names)
            if not names:
                continue
            systems = sorted({s for b in names for s in cells[b]}, key=_system_key)
            rows = tuple(Row(b, dict(cells[b])) for b in names)
            published = {b: t for b in names if (t := published_text(b)) is not None}
            values = {b: tuple((p.system, float(p.value)) for p in PUBLISHED[b]) for b in published}
            tables.append(ResultTable(profile, group, tuple(systems), rows, published, values))
    return tables


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One benchmark under ``--audit``: per system (charged cycles, its own Python's cycles)."""

    benchmark: str
    cycles: Mapping[str, tuple[float, float]]

    def order(self, total: bool) -> list[str]:
        """The systems, cheapest first, by charged cycles or (``total``) charged + Python."""
        return sorted(self.cycles, key=lambda s: (sum(self.cycles[s]) if total else self.cycles[s][0], s))

    @property
    def same_order(self) -> bool | None:
        """Do the systems rank the same both ways? None with fewer than two systems."""
        return None if len(self.cycles) < 2 else self.order(False) == self.order(True)


def audit_rows(doc: Mapping[str, Any], profile: str) -> tuple[list[str], list[AuditRow]]:
    """The audited benchmarks of ``profile`` that more than one system runs (a comparison),
    in first-seen order, with the systems that have them."""
    order, cells, _ = merge(doc, profile)
    rows = []
    for b in order:
        c = {s: (cell.sim_cycles, cell.py_cycles) for s, cell in cells[b].items() if cell.py_cycles is not None}
        if len(c) > 1:
            rows.append(AuditRow(b, c))
    systems = sorted({s for r in rows for s in r.cycles}, key=_system_key)
    return systems, rows


AUDIT_CAPTION = (
    "Simulated cycles per operation: charged (what each kernel charges by hand, as in the tables above) "
    "+ its own Python (what all its system software's Python costs under the verifier's model, measured "
    "by --audit and not charged) = both. Charged alone is a lower bound of a system's cost, both an upper "
    "bound; 'same order' says whether the systems rank the same under either.")


def audit_cell(row: AuditRow, system: str) -> str:
    if system not in row.cycles:
        return MISSING
    sim, py = row.cycles[system]
    return f"{sim:,.0f} + {py:,.0f} = {sim + py:,.0f}"


def _same(row: AuditRow) -> str:
    same = row.same_order
    return MISSING if same is None else "yes" if same else "no: " + " < ".join(row.order(True))


def rich_audit(doc: Mapping[str, Any], profile: str) -> Table | None:
    """The terminal table of ``--audit`` for one profile, or None if nothing was audited."""
    systems, rows = audit_rows(doc, profile)
    if not rows:
        return None
    table = Table(title=f"[bold]The systems' own Python on {profile}[/bold]", header_style="bold",
                  title_justify="left")
    for col in ("benchmark", *systems, "same order"):
        table.add_column(col, justify="left" if col == "benchmark" else "right")
    for r in rows:
        table.add_row(r.benchmark, *(audit_cell(r, s) for s in systems), _same(r))
    return table


def markdown_audit(doc: Mapping[str, Any], profile: str) -> list[str]:
    """The report's ``--audit`` section for one profile (no lines if nothing was audited)."""
    systems, rows = audit_rows(doc, profile)
    if not rows:
        return []
    out = ["", f"### The systems' own Python on {profile}", "", AUDIT_CAPTION, "",
           "| benchmark | " + " | ".join(f"{s} cycles" for s in systems) + " | same order |",
           "| :-- | " + " | ".join("--:" for _ in systems) + " | :-- |"]
    for r in rows:
        out.append(f"| `{r.benchmark}` | " + " | ".join(audit_cell(r, s) for s in systems) + f" | {_same(r)} |")
    return out


# ---------------------------------------------------------------- formatting

def fmt_ratio(r: float) -> str:
    return f"{r:.3g}×"


def fmt_wall(c: Cell) -> str:
    x = c.wall_x
    times = "" if x is None else f" ({x:.1f}× call)" if x < 100 else f" ({x:,.0f}× call)"
    return f"{c.wall_ns:,.0f} ns{times}"


def sim_text(row: Row, system: str) -> str:
    """The simulated cell: ``2.12`` or ``2.12 (0.21×)``, or "—" when the system has no result."""
    c = row.cells.get(system)
    if c is None:
        return MISSING
    r = row.ratio(system)
    rate = "" if c.mbps is None else f"{c.mbps:.3g} Mb/s, "
    return rate + fmt_us(c.sim_us) + ("" if r is None else f" ({fmt_ratio(r)})")


def wall_text(row: Row, system: str) -> str:
    c = row.cells.get(system)
    return MISSING if c is None else fmt_wall(c)


def caption(t: ResultTable) -> str:
    base = any(BASELINE in r.cells for r in t.rows)
    ratio = (f"in brackets, the time ÷ {BASELINE}'s on the same row (below 1: faster than the baseline)"
             if base else f"no ratio: {BASELINE} has no row in this table")
    papers = (" Published: the paper's own figure on its machine, a comparison only (bench/report/papers.py; "
              "'?': transcribed less surely)." if t.published else "")
    rate = " Bandwidth rows: Mb/s achieved, then µs per datagram." if any(
        c.mbps is not None for r in t.rows for c in r.cells.values()) else ""
    return (f"{t.group.source}. Simulated µs per operation; {ratio}; under it (terminal) or beside it "
            f"(report), our wall-clock ns and × a plain Python call; {MISSING}: the system cannot run it."
            + rate + papers)


def rich_table(t: ResultTable) -> Table:
    """The terminal table: one column per system, each cell simulated µs (ratio) over wall ns
    (× a plain call). Print ``caption(t)`` under it."""
    table = Table(title=f"[bold]{t.title}[/bold]", header_style="bold", title_justify="left")
    table.add_column("benchmark")
    for s in t.systems:
        table.add_column(s, justify="right")
    if t.published:
        table.add_column("published", justify="right")
    for row in t.rows:
        cells = []
        for s in t.systems:
            if s not in row.cells:
                cells.append(MISSING)
            else:
                c, r = row.cells[s], row.ratio(s)
                ratio = "" if r is None else f" ({fmt_ratio(r)})"
                x = c.wall_x
                wall = f"{c.wall_ns:,.0f} ns" + ("" if x is None else f" {x:.1f}×" if x < 10 else f" {x:,.0f}×")
                rate = "" if c.mbps is None else f"{c.mbps:.3g} Mb/s\n"
                cells.append(f"{rate}{fmt_us(c.sim_us)} µs{ratio}\n[dim]{wall}[/dim]")
        if t.published:
            cells.append(t.published.get(row.benchmark, MISSING).replace("; ", "\n"))
        table.add_row(row.benchmark, *cells)
    return table


def markdown_table(t: ResultTable) -> str:
    """A Markdown table: per system, a simulated-µs column and a wall-clock column."""
    head = ["benchmark"]
    for s in t.systems:
        head += [f"{s} µs", f"{s} wall"]
    if t.published:
        head.append("published")
    align = [":--"] + ["--:"] * (len(head) - 1)
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join(align) + " |"]
    for row in t.rows:
        cells = [f"`{row.benchmark}`"]
        for s in t.systems:
            cells += [sim_text(row, s), wall_text(row, s)]
        if t.published:
            cells.append(t.published.get(row.benchmark, MISSING))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _profile_line(name: str) -> str:
    try:
        desc = get_profile(name).description
    except Exception:  # a document from elsewhere may name a profile we do not know
        desc = "unknown profile"
    return f"{desc}; {PROFILES.get(name, 'not one of the papers’ machines')}"


def markdown_report(doc: Mapping[str, Any], tables: list[ResultTable], plots: Mapping[str, str] | None = None,
                    split_plots: Mapping[str, str] | None = None) -> str:
    """The report: how to read it, the runs, failures, then per profile its tables (each
    with its plot, if ``plots`` maps the table's slug to a relative path)."""
    plots = plots or {}
    quick = " --quick" if doc.get("quick") else ""
    out = [
        "# exospin reproduce",
        "",
        f"exospin {doc.get('exospin', '?')}, `exospin reproduce{quick}`"
        + (" (quick: fewer iterations per benchmark)." if quick else "."),
        "",
        "How to read it:",
        "",
        "- Rows are benchmarks, columns systems, as in the papers. *µs* is simulated time per",
        "  operation under the machine profile: deterministic, the same on every run and host.",
        f"- In brackets after a time: that time ÷ the `{BASELINE}` baseline's on the same row, when",
        f"  `{BASELINE}` has the row (below 1: faster than the monolithic kernel).",
        "- *wall* is what our Python took per operation, in ns, and as a multiple of a plain",
        "  Python function call measured next to it in the same run: real, noisy, host-dependent.",
        f"- {MISSING}: the system cannot run that benchmark (absent, never zero).",
        "",
        "## Runs",
        "",
        "| suite | profile | systems | benchmarks | plain Python call |",
        "| :-- | :-- | :-- | --: | --: |",
    ]
    for run in doc.get("runs", []):
        systems = ", ".join(sorted({r["system"] for r in run.get("results", [])}, key=_system_key))
        out.append(f"| {run['suite']} | {run['profile']} | {systems or MISSING} | {len(run.get('results', []))} "
                   f"| {run.get('python_call_ns', 0):.1f} ns |")
    for f in doc.get("failed", []):
        out.append(f"| {f['suite']} | {f['profile']} | **failed** | 0 | {MISSING} |")
    if doc.get("failed"):
        out += ["", "## Failed suites", ""]
        out += [f"- `{f['suite']}` on `{f['profile']}`: {f['error']}" for f in doc["failed"]]
    for profile in profiles_of(doc):
        out += ["", f"## {profile}", "", _profile_line(profile) + "."]
        notes = merge(doc, profile)[2]
        out += [f"\nNote: {n}." for n in notes]
        for t in (t for t in tables if t.profile == profile):
            out += ["", f"### {t.title}", "", caption(t), ""]
            if t.slug in plots:
                out += [f"![{t.title}]({plots[t.slug]})", ""]
            out.append(markdown_table(t))
        out += markdown_audit(doc, profile)
    if doc.get("decomposition"):
        out += ["", "## The decomposition: architecture and baseline", ""]
        out += markdown_decomposition(doc["decomposition"], split_plots)
    return "\n".join(out) + "\n"


# -------------------------------------------------------------------- output


def write_outputs(doc: Mapping[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write ``results.json``, one PNG per table and ``report.md`` (linking the plots) into
    ``out_dir``, which must exist. Returns what was written, by name."""
    tables = build_tables(doc)
    written: dict[str, Path] = {}
    results = out_dir / "results.json"
    results.write_text(json.dumps(doc, indent=2) + "\n")
    written["results.json"] = results
    plots: dict[str, str] = {}
    for t in tables:
        path = out_dir / f"{t.slug}.png"
        plot_table(t, path)
        plots[t.slug] = path.name
        written[path.name] = path
    split_plots: dict[str, str] = {}
    for profile in profiles_of(doc):  # with --baselines: one figure per paper
        path = out_dir / f"decomposition-{profile}.png"
        if plot_decomposition(doc.get("decomposition") or [], profile, path):
            split_plots[profile] = path.name
            written[path.name] = path
    report = out_dir / "report.md"
    report.write_text(markdown_report(doc, tables, plots, split_plots))
    written["report.md"] = report
    return written


__all__ = [
    "AUDIT_CAPTION", "BASELINE", "GROUPS", "OTHER", "PROFILES", "AuditRow", "Cell", "Group", "ResultTable",
    "Row", "audit_rows", "build_tables", "document", "markdown_audit", "markdown_report", "markdown_table",
    "merge", "rich_audit", "rich_table", "run_all", "write_outputs",
]
