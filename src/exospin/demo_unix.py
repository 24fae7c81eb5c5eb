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

Interface: ``run_demo(seed, profile, trace) -> UnixDemo``; the CLI prints it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from . import posix
from .demo_exos import N, _init
from .systems import UnixSystem, boot

CHECKPOINT_PAGES = 5


@dataclass
class UnixDemo:
    system: UnixSystem
    init: int
    checkpointer: int
    stray: int
    account: list[tuple[int, int, str]]
    expected_sum: int


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


def run_demo(seed: int = 0, profile: str = "ds5000", trace: bool = False) -> UnixDemo:
    system: UnixSystem = boot("unix", profile, seed=seed, trace=trace)
    edit = random.Random(seed).randrange(4)  # which page the second reader edits
    init = system.start(_init, [str(edit)], "init")
    checkpointer = system.start(_checkpointer, [], "checkpointer")
    stray = system.start(_stray, [], "stray")
    system.run()
    account = sorted(system.kernel.journal, key=lambda a: a[0])
    expected = sum(x * x for x in range(2, N + 1, 2)) % 256
    return UnixDemo(system, init, checkpointer, stray, account, expected)
