"""``exospin demo aegis``: two library OSes side by side on one exokernel.

The story (every number in it is simulated time on the chosen profile):

* **editor** (cooperative library OS, two time slices) writes a document
  into 12 demand-zero pages, in an order drawn from the seed. Each first
  touch is a TLB miss upcalled to its library OS, which allocates a frame
  by number and asks Aegis for the binding. It checkpoints page 0 the
  Appel-Li way: write-protect it, and on the first store afterwards its
  own fault handler copies the page aside and unprotects it. It donates
  the rest of its slice to the hog with a directed yield, then asks it, by
  synchronous protected control transfer, how many pages it holds.
* **hog** (a library OS that ignores the kernel, one slice) fills 24 pages
  and keeps re-reading them.
* Then memory runs short: Aegis asks each to give frames back. The editor
  chooses its oldest pages, saves them to its swap area and frees them;
  its next touches page them back in and its checksum is unchanged. The
  hog ignores the request; at the deadline the abort protocol breaks its
  bindings, takes the frames, records them in its repossession vector and
  tells it; its data on those pages is gone and its checksum shows it.

Interface: ``DEMO`` (a ``demos.Demo``): ``DEMO.run(seed, profile, trace_path)
-> AegisReport``, ``DEMO.render(report, console)``; ``story(seed, profile,
trace) -> DemoRun`` is the story alone, on a live system.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ..aegis import AegisStats, EnvStats, Syscalls
from ..exos import MiniOS, MiniOSStats
from ..machine import MachineStats, Profile
from ..systems import System, boot
from .base import Demo, Ending, counters, finish, print_table, render_end

BASE = 0x0040_0000


@dataclass
class DemoRun:
    system: System
    account: list[tuple[int, int, str, str]]  # (cycles, env id, who, text)
    libos: dict[int, MiniOSStats] = field(default_factory=dict)
    envs: dict[int, EnvStats] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)


def story(seed: int = 0, profile: str = "ds5000", trace: bool = False) -> DemoRun:
    system = boot("aegis", profile, seed=seed, trace=trace)
    machine, kernel = system.machine, system.kernel
    page = machine.profile.page_size
    wb = machine.profile.word_bytes
    work = machine.profile.cycles_for_us(120)  # a unit of computation, the same time on any profile
    rng = random.Random(seed)  # the workload's choices; the machine has its own stream
    run = DemoRun(system, [])
    ids: dict[str, int] = {}

    def say(sys: Syscalls, text: str) -> None:
        eid = sys.env_id()
        run.account.append((machine.now, eid, run.names.get(eid, "?"), text))

    def checksum(os_: MiniOS, npages: int) -> int:
        return sum(os_.load(BASE + i * page + wb * (i % 7)) for i in range(npages)) & 0xFFFFFFFF

    def busy(os_: MiniOS, sys: Syscalls, n: int, rounds: int) -> tuple[int, MiniOSStats]:
        """Re-read the pages and compute for a while; then the checksum and the library OS's counts."""
        for _ in range(rounds):
            checksum(os_, n)
            sys.cpu.compute(work)
        return checksum(os_, n), os_.statistics()

    def editor(os_: MiniOS, sys: Syscalls) -> int:
        n = 12
        os_.map_region(BASE, n)
        order = list(range(n))
        rng.shuffle(order)
        for i in order:  # first touches: TLB misses upcalled to the library OS
            os_.store(BASE + i * page + wb * (i % 7), 1000 + i * i)
        say(sys, f"wrote 12 pages in order {order}: {os_.tlb_miss_upcalls} TLB-miss upcalls, "
                 f"{os_.demand_zero_fills} demand-zero frames")
        before = checksum(os_, n)
        say(sys, f"document checksum {before}")
        # Appel-Li concurrent checkpoint of page 0: protect, copy on first write.
        saved: list[int] = []

        def on_write(vaddr: int) -> None:
            saved.append(os_.load(vaddr & ~(page - 1)))
            os_.unprotect(vaddr)

        os_.on_protection(on_write)
        os_.protect(BASE)
        os_.store(BASE + 2 * wb, 42)
        say(sys, f"checkpoint: store to protected page 0 faulted; handler saved it and unprotected "
                 f"({os_.protection_faults} protection fault)")
        os_.store(BASE + 2 * wb, 0)  # undo, so the checksum is comparable
        sys.yield_(ids["hog"])  # donate the rest of this slice: the hog starts up
        held = sys.pct_sync(ids["hog"], 0)
        say(sys, f"asked hog by protected call: it holds {held} frames")
        after, st = busy(os_, sys, n, 40)  # memory pressure arrives meanwhile
        say(sys, f"after revocation: paged out {st.page_outs}, paged back in {st.page_ins}; "
                 f"checksum {after} ({'intact' if after == before else 'CHANGED'})")
        run.libos[sys.env_id()] = st
        return 0

    def hog(os_: MiniOS, sys: Syscalls) -> int:
        n = 24
        os_.map_region(BASE, n)
        sys.pct_register(0, lambda: len(os_.resident))
        for i in range(n):
            os_.store(BASE + i * page + wb * (i % 7), 7 * i + 1)
        before = checksum(os_, n)
        say(sys, f"filled 24 pages, checksum {before}")
        after, st = busy(os_, sys, n, 60)
        say(sys, f"ignored the revocation and lost {st.pages_lost} pages to the abort protocol: "
                 f"checksum {before} -> {after}")
        run.libos[sys.env_id()] = st
        return 0

    ids["editor"] = system.spawn(editor, "editor", slices=2)
    ids["hog"] = system.spawn(hog, "hog", slices=1, cooperative=False)
    run.names = {v: k for k, v in ids.items()}

    def memory_pressure() -> None:
        for name, n in (("editor", 4), ("hog", 8)):
            if ids[name] in kernel.envs:
                kernel.revoke(ids[name], n)

    machine.loop.schedule(machine.profile.cycles_for_us(3_000), memory_pressure)
    system.run()
    for eid in ids.values():
        run.envs[eid] = kernel.env_statistics(eid)
    run.account.extend((j.cycles, j.env, "aegis", j.text) for j in kernel.journal if j.kind != "stop")
    run.account.sort(key=lambda a: a[0])  # stable: same-cycle entries keep their order
    return run


def summary_rows(run: DemoRun) -> list[dict[str, Any]]:
    """One row per environment: what the kernel and its library OS counted."""
    rows = []
    for eid, es in run.envs.items():
        lib = run.libos.get(eid)
        rows.append({
            "env": f"{eid} {es.name}", "slices": es.slices_run, "exceptions": es.exceptions,
            "upcalls": es.upcalls,
            "TLB upcalls": lib.tlb_miss_upcalls if lib else "-",
            "paged out/in": f"{lib.page_outs}/{lib.page_ins}" if lib else "-",
            "repossessed": es.frames_repossessed, "fate": es.fate,
        })
    return rows


@dataclass(frozen=True)
class AegisReport:
    """What ``run`` saw: the story, the kernel's and the machine's counters before shutdown."""

    seed: int
    profile: Profile
    story: DemoRun
    rows: list[dict[str, Any]]  # summary_rows
    kernel: AegisStats
    machine: MachineStats
    end: Ending


def run(seed: int, profile: str, trace_path: Path | None) -> AegisReport:
    """Tell the story, read the counters, end the run (invariants, leaks, trace)."""
    s = story(seed=seed, profile=profile, trace=trace_path is not None)
    m = s.system.machine
    ks, ms = s.system.kernel.statistics(), m.statistics()
    return AegisReport(seed, m.profile, s, summary_rows(s), ks, ms, finish(s.system, trace_path))


def render(r: AegisReport, out: Console) -> None:
    """The account line by line, a table of the environments, the kernel's counters."""
    p = r.profile
    out.print(f"[bold]exospin demo aegis[/bold]: Aegis on {p.description}, seed {r.seed}")
    out.print("Two environments, each with its own library OS; 'editor' cooperates with the kernel, 'hog' does not.\n")
    for cycles, _eid, who, text in r.story.account:
        style = "dim" if who == "aegis" else "bold"
        out.print(f"[cyan]{p.us(cycles):10.1f} µs[/cyan]  [{style}]{who:<7}[/{style}] {text}", soft_wrap=True)
    out.print()
    t = Table(title="environments", header_style="bold")
    cols = [c for c in r.rows[0] if c != "fate"]
    for col in cols:
        t.add_column(col, justify="left" if col == "env" else "right")
    for row in r.rows:
        t.add_row(*(str(row[c]) for c in cols))
    print_table(out, t)
    for row in r.rows:
        out.print(f"  env {row['env']}: {row['fate']}")
    ks, ms = r.kernel, r.machine
    print_table(out, counters("kernel and machine", [
        ("simulated time", f"{ms.us:.1f} µs ({ms.cycles} cycles)"),
        ("exceptions dispatched to environments", ks.exceptions),
        ("upcalls (prologue, epilogue, revocation)", ks.upcalls),
        ("TLB refills from the STLB / STLB misses", f"{ks.stlb_hits} / {ks.stlb_misses}"),
        ("protected control transfers (sync)", ks.pct_sync),
        ("directed yields", ks.yields),
        ("context switches", ks.context_switches),
        ("timer interrupts", ms.cpu.interrupts),
        ("revocations asked / complied / aborted", f"{ks.revocations} / {ks.revocations_complied} / {ks.aborts}"),
        ("frames repossessed", ks.frames_repossessed),
    ]))
    render_end(r.end, out)


#: On the exokernel paper's DECstation; the seed orders the editor's first touches.
DEMO: Demo[AegisReport] = Demo("aegis", "ds5000", True, run, render)
