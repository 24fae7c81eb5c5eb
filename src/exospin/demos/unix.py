"""``exospin demo unix``: the same story as ``demo exos``, told by a monolithic kernel, plus signals.

The story (simulated time on the chosen profile):

* **init** writes a four-page document and forks two **readers**. The kernel
  shares every resident page copy-on-write; the reader that edits one page
  takes one protection fault, and the kernel copies that page: one copy.
* init builds the pipeline **producer | filter | consumer** over two pipes.
  Every byte is copied into a kernel buffer by ``write`` and out of it by
  ``read``; a reader with nothing to read sleeps in the kernel until the
  writer's ``wakeup``.
* A **checkpointer** write-protects its pages and catches the faults in a
  SIGSEGV handler: each fault is a signal whose frame the kernel copies out
  to the stack and, at ``sigreturn``, back in. Then a **stray** process stores
  to a read-only page with no handler: it alone dies, with status 139.
* The process table, the pipes and the copy-on-write bookkeeping are the
  kernel's; the programs are the posix ones that run on ExOS unchanged.

Interface: ``DEMO`` (a ``demos.Demo``): ``DEMO.run(seed, profile, trace_path)
-> UnixReport``, ``DEMO.render(report, console)``; ``story(seed, profile,
trace) -> UnixDemo`` is the story alone, on a live system.

Its default machine is the DECstation of the exokernel paper, whose Ultrix
is the monolithic kernel this one stands for there, so that ``demo unix``
and ``demo exos`` tell the same story on the same machine by default.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from .. import posix
from ..machine import Profile
from ..systems import UnixSystem, boot
from ..unix import UnixStats
from .base import Demo, Ending, counters, finish, pid_account, print_table, render_end
from .exos import N, _init

CHECKPOINT_PAGES = 5


@dataclass
class UnixDemo:
    system: UnixSystem
    init: int
    checkpointer: int
    stray: int
    account: list[tuple[int, int, str]]
    expected_sum: int
    edited: int  # the page the second reader edits, drawn from the seed


def _checkpointer(argv: list[str]) -> int:
    """Write-protect every page, catch each first store in a handler (a signal), unprotect."""
    pg = posix.page_size()
    base = posix.mmap(CHECKPOINT_PAGES)
    for i in range(CHECKPOINT_PAGES):
        posix.store(base + i * pg, i)
    posix.mprotect(base, CHECKPOINT_PAGES, posix.PROT_READ)  # "checkpoint": protect it all
    saved: list[int] = []

    def handler(vaddr: int, write: bool) -> None:
        page = vaddr - vaddr % pg
        saved.append(posix.load(page))  # copy the old contents before the first write
        posix.mprotect(page, 1, posix.PROT_RW)

    posix.on_fault(handler)
    for i in range(CHECKPOINT_PAGES):
        posix.store(base + i * pg, 100 + i)
    ok = saved == list(range(CHECKPOINT_PAGES)) and all(
        posix.load(base + i * pg) == 100 + i for i in range(CHECKPOINT_PAGES))
    return 0 if ok else 1


def _stray(argv: list[str]) -> int:
    posix.store(posix.mmap(1, posix.PROT_READ), 1)  # no handler: SIGSEGV ends it
    return 0


def story(seed: int = 0, profile: str = "ds5000", trace: bool = False) -> UnixDemo:
    system: UnixSystem = boot("unix", profile, seed=seed, trace=trace)
    edit = random.Random(seed).randrange(4)  # which page the second reader edits
    init = system.start(_init, [str(edit)], "init")
    checkpointer = system.start(_checkpointer, [], "checkpointer")
    stray = system.start(_stray, [], "stray")
    system.run(expect={stray})  # its SIGSEGV is the story's, not a failure to report
    account = sorted(system.kernel.journal, key=lambda a: a[0])
    expected = sum(x * x for x in range(2, N + 1, 2)) % 256
    return UnixDemo(system, init, checkpointer, stray, account, expected, edit)


@dataclass(frozen=True)
class UnixReport:
    """What ``run`` saw: the story, the exit statuses and the kernel's counters before shutdown."""

    seed: int
    profile: Profile
    story: UnixDemo
    now: int  # the clock at the end of the story, in cycles
    kernel: UnixStats
    statuses: list[int | None]  # init, the checkpointer, the stray process
    end: Ending


def run(seed: int, profile: str, trace_path: Path | None) -> UnixReport:
    """Tell the story, read the counters and exit statuses, end the run."""
    d = story(seed=seed, profile=profile, trace=trace_path is not None)
    m = d.system.machine
    ks = d.system.kernel.statistics()
    st = [d.system.exit_status(p) for p in (d.init, d.checkpointer, d.stray)]
    end = finish(d.system, trace_path, ok=st == [0, 0, 139], why=f"exit statuses {st};",
                 held="frame, process, thread and pipe")
    return UnixReport(seed, m.profile, d, m.now, ks, st, end)


def render(r: UnixReport, out: Console) -> None:
    """The processes' journal, the kernel's counters, the exit statuses and the pipeline's answer."""
    p, d, ks = r.profile, r.story, r.kernel
    out.print(f"[bold]exospin demo unix[/bold]: a monolithic Unix kernel on {p.description}, seed {r.seed}")
    out.print("init forks two readers of a copy-on-write document, then producer | filter | consumer over pipes; "
              "a checkpointer catches its faults as signals; a stray process faults with no handler.\n")
    pid_account(out, p, d.account)
    calls = ", ".join(f"{n} {c}" for n, c in sorted(ks.by_syscall.items(), key=lambda x: -x[1])[:6])
    print_table(out, counters("what the kernel did", [
        ("simulated time", f"{p.us(r.now):.1f} µs"),
        ("system calls (the most frequent)", f"{ks.syscalls} ({calls})"),
        ("TLB refills from the page tables / page faults", f"{ks.tlb_refills} / {ks.page_faults}"),
        ("demand-zero pages / copy-on-write copies / modified-bit faults",
         f"{ks.demand_zero} / {ks.cow_copies} / {ks.mod_faults}"),
        ("signals delivered / sigreturns", f"{ks.signals} / {ks.sigreturns}"),
        ("words copied in / out (pipes, signal frames)", f"{ks.copyin_words} / {ks.copyout_words}"),
        ("sleeps / wakeups", f"{ks.sleeps} / {ks.wakeups}"),
        ("context switches / preemptions", f"{ks.context_switches} / {ks.preemptions}"),
    ]))
    st = r.statuses
    cons = [line for line in d.account if line[2].startswith("exit") and line[2] != "exit 0"
            and line[1] not in (d.init, d.checkpointer, d.stray)]
    out.print(f"init exited with {st[0]}, the checkpointer with {st[1]}, the stray process with {st[2]}; "
              f"the consumer's sum modulo 256 should be {d.expected_sum}: {cons[-1][2] if cons else '?'}")
    render_end(r.end, out)


#: On the exokernel paper's DECstation (its Ultrix is this kernel's role there), like demo exos;
#: the seed picks the page the second reader edits.
DEMO: Demo[UnixReport] = Demo("unix", "ds5000", True, run, render)
