"""``exospin demo exos``: processes, copy-on-write fork and a pipeline, all in user space.

The story (simulated time on the chosen profile):

* **init** writes a four-page document into its own memory and forks two
  **readers**. Fork shares every resident page copy-on-write: nothing is
  copied. Each reader checks the whole document; the second also edits one
  page, which costs exactly one copy-on-write fault and one page copy, and
  init's document does not change.
* init then builds a three-stage pipeline over pipes: a **producer** writes
  the numbers 1..N, a **filter** passes on the squares of the even ones, a
  **consumer** adds them up and exits with the sum modulo 256. Each pipe is
  a ring buffer in one shared frame; a reader with nothing to read sleeps,
  and the writer wakes it by protected control transfer.
* Last, the same **scanner** runs three times, each a process started with
  a page-replacement policy of its choosing (``exos/paging/``): it sweeps
  12 pages four times with at most 8 resident. FIFO and Clock evict each
  page just before its turn comes again; MRU keeps most of them. The kernel
  only said how many frames; which ones was the library OS's choice.
* Every process is an Aegis environment. The process table, the pipes and
  the copy-on-write bookkeeping are ExOS data in user space: the kernel
  sees only environments, frames, capabilities and bindings.

Interface: ``DEMO`` (a ``demos.Demo``): ``DEMO.run(seed, profile, trace_path)
-> ExosReport``, ``DEMO.render(report, console)``; ``story(seed, profile,
trace) -> ExosDemo`` is the story alone, on a live system. Its ``_init`` and ``N``
are shared with ``demos.unix``, which tells the same story.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from .. import posix
from ..aegis import AegisStats
from ..machine import Profile
from ..systems import System, boot
from .base import Demo, Ending, counters, finish, pid_account, print_table, render_end

N = 40  # numbers through the pipeline


@dataclass
class ExosDemo:
    system: System
    init: int
    account: list[tuple[int, int, str]]
    expected_sum: int
    scanners: list[int]  # pids, one per page-replacement policy (PAGING)
    edited: int  # the page the second reader edits, drawn from the seed


def _reader(doc: int, pages: int, edit: int) -> int:
    pg, wb = posix.page_size(), posix.word_size()
    ok = all(posix.load(doc + i * pg + wb * (i % 5)) == 1000 + i for i in range(pages))
    if edit >= 0:
        posix.store(doc + edit * pg + wb * (edit % 5), 4242)  # one copy-on-write fault
        ok = ok and posix.load(doc + edit * pg + wb * (edit % 5)) == 4242
    return 0 if ok else 1


def _producer(w: int, stale: list[int], n: int) -> int:
    for fd in stale:
        posix.close(fd)
    for i in range(1, n + 1):
        posix.write(w, i.to_bytes(4, "little"))
    return 0


def _filter(r: int, w: int, stale: list[int]) -> int:
    for fd in stale:
        posix.close(fd)
    while b := posix.read(r, 4):
        x = int.from_bytes(b, "little")
        if x % 2 == 0:
            posix.write(w, (x * x).to_bytes(4, "little"))
    return 0


def _consumer(r: int, stale: list[int]) -> int:
    for fd in stale:
        posix.close(fd)
    total = 0
    while b := posix.read(r, 4):
        total += int.from_bytes(b, "little")
    return total % 256


def _init(argv: list[str]) -> int:
    pages = 4
    edit = int(argv[0])
    pg, wb = posix.page_size(), posix.word_size()
    doc = posix.mmap(pages)
    for i in range(pages):
        posix.store(doc + i * pg + wb * (i % 5), 1000 + i)
    readers = [posix.fork(_reader, doc, pages, -1), posix.fork(_reader, doc, pages, edit)]
    statuses = [posix.wait(p)[1] for p in readers]
    intact = all(posix.load(doc + i * pg + wb * (i % 5)) == 1000 + i for i in range(pages))
    a_r, a_w = posix.pipe()
    b_r, b_w = posix.pipe()
    stages = [
        posix.fork(_producer, a_w, [a_r, b_r, b_w], N),
        posix.fork(_filter, a_r, b_w, [a_w, b_r]),
        posix.fork(_consumer, b_r, [a_r, a_w, b_w]),
    ]
    for fd in (a_r, a_w, b_r, b_w):
        posix.close(fd)
    results = [posix.wait(p)[1] for p in stages]
    posix.store(doc, results[2])  # the consumer's answer, for the account
    return 0 if statuses == [0, 0] and intact and results[:2] == [0, 0] else 1


SCAN_PAGES, SCAN_ROUNDS, SCAN_LIMIT = 12, 4, 8
PAGING = ("fifo", "clock", "mru")


def _scanner(argv: list[str]) -> int:
    """Sweep SCAN_PAGES pages SCAN_ROUNDS times; 0 if every load read what was stored."""
    pg = posix.page_size()
    base = posix.mmap(SCAN_PAGES)
    for i in range(SCAN_PAGES):
        posix.store(base + i * pg, i + 1)
    total = sum(posix.load(base + i * pg) for _ in range(SCAN_ROUNDS) for i in range(SCAN_PAGES))
    return 0 if total == SCAN_ROUNDS * SCAN_PAGES * (SCAN_PAGES + 1) // 2 else 1



def story(seed: int = 0, profile: str = "ds5000", trace: bool = False) -> ExosDemo:
    system = boot("aegis", profile, seed=seed, trace=trace)
    edit = random.Random(seed).randrange(4)  # which page the second reader edits
    init = system.start(_init, [str(edit)], "init")
    system.run()
    scanners = [system.start(_scanner, [], f"scan-{p}", paging=p, max_resident=SCAN_LIMIT)
                for p in PAGING]
    system.run()
    account = sorted(system.exos.journal, key=lambda a: a[0])
    expected = sum(x * x for x in range(2, N + 1, 2)) % 256
    return ExosDemo(system, init, account, expected, scanners, edit)


@dataclass(frozen=True)
class ExosReport:
    """What ``run`` saw: the story, the exit statuses and the kernel's counters before shutdown."""

    seed: int
    profile: Profile
    story: ExosDemo
    now: int  # the clock at the end of the story, in cycles
    kernel: AegisStats
    init_status: int | None
    scan_statuses: list[int | None]
    end: Ending


def run(seed: int, profile: str, trace_path: Path | None) -> ExosReport:
    """Tell the story, read the counters and exit statuses, end the run."""
    d = story(seed=seed, profile=profile, trace=trace_path is not None)
    m = d.system.machine
    status = d.system.exit_status(d.init)
    scans = [d.system.exit_status(pid) for pid in d.scanners]
    ks = d.system.kernel.statistics()
    end = finish(d.system, trace_path, ok=status == 0 and scans == [0] * len(scans),
                 why=f"init exited with {status}, the scanners with {scans};")
    return ExosReport(seed, m.profile, d, m.now, ks, status, scans, end)


def render(r: ExosReport, out: Console) -> None:
    """The processes' journal, the kernel's counters, the pipeline's answer."""
    p, d = r.profile, r.story
    out.print(f"[bold]exospin demo exos[/bold]: ExOS processes on Aegis, on {p.description}, seed {r.seed}")
    out.print("init forks two readers of a copy-on-write document, then a pipeline producer | filter | consumer; "
              "then one scanner per page-replacement policy sweeps 12 pages with 8 resident.\n")
    pid_account(out, p, d.account)
    ks = r.kernel
    print_table(out, counters("what the kernel saw", [
        ("simulated time", f"{p.us(r.now):.1f} µs"),
        ("environments created (one per process)", ks.envs_created),
        ("exceptions dispatched (TLB misses, protection faults)", ks.exceptions),
        ("TLB refills from the STLB / STLB misses", f"{ks.stlb_hits} / {ks.stlb_misses}"),
        ("asynchronous PCTs (pipe and exit wake-ups)", ks.pct_async),
        ("directed and plain yields", ks.yields),
        ("context switches", ks.context_switches),
    ]))
    cons = [line for line in d.account
            if line[2].startswith("exit") and line[1] != d.init and line[1] not in d.scanners]
    out.print(f"init exited with status {r.init_status}; the consumer's sum modulo 256 should be "
              f"{d.expected_sum}: {cons[-1][2] if cons else '?'}")
    render_end(r.end, out)


#: On the exokernel paper's DECstation; the seed picks the page the second reader edits.
DEMO: Demo[ExosReport] = Demo("exos", "ds5000", True, run, render)
