"""Concurrent checkpointing (Appel and Li, ASPLOS 1991), against stop-and-copy.

What this is
    A program that mutates a heap of ``pages`` pages (one store into a
    pseudo-random page, then ``work`` instructions of computation, ``writes``
    times over) is checkpointed once while it runs: every dirty page of the
    heap is copied into a second region, so that the copy is the heap as it
    was at one instant.

    * **stop-and-copy**: the mutator stops and copies every dirty page, then
      goes on. Its pause is the whole copy.
    * **concurrent** (Appel and Li's section 3.2): the checkpointer
      write-protects the dirty pages (one ``mprotect`` per run of them) and
      the mutator goes on at once; a copier thread copies one page at a time,
      unprotecting each as it goes, and a write fault on a page not yet copied
      copies that page first, unprotects it, and the store is retried. The
      mutator yields to the copier after each of its stores that did not
      fault while the checkpoint is in progress (so on a uniprocessor the copy
      advances at about one page per store, whatever the thread package's
      preemption, and no store waits for two page copies), and a mutex
      keeps a page from being copied twice or while it is half copied.

    Every copy moves every word of the page through ``posix.load`` and
    ``posix.store``, as a bcopy does, so each system is charged its own cost
    of touching memory; the protection changes and faults are each system's
    own (ExOS: its library's page table and Aegis' exception path; SPIN: an
    extension on the protection fault through its Unix personality; unix:
    ``mprotect`` and a SIGSEGV handler).

    What the program measures, from the simulated clock (``posix.time_us``):
    the longest interval between two consecutive stores of the mutator (its
    longest *pause*), the mean interval outside the checkpoint (what a store
    and its work cost), the time from the checkpoint's start until the copy
    is complete, and the whole run. It then checks, outside the measured
    interval, that the copy holds exactly the heap's contents at the
    checkpoint's instant.

Interface
    ``checkpointer(mode, pages, writes, work, out) -> program``: a posix
    program (``main(argv) -> int``) that writes its figures into the dict
    ``out`` (keys of :class:`Figures`) and returns 0 if the checkpoint is
    exact, 1 if not. ``MODES``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from .. import posix

MODES = ("stop", "concurrent")

#: How the mutator and the copier share the processor while a concurrent checkpoint runs:
#: each runs for at least this long (µs of simulated time, checked after each store and
#: each page) and then yields to the other, on every system alike; a thread package that
#: also preempts (ExOS' round-robin library scheduler) interleaves them more finely still. A choice, not a measurement (a hundredth of 4.3BSD's 100 ms round-robin
#: quantum): long enough that a slice copies a few pages, short enough that the pause stays
#: far below a stop-and-copy of any but the smallest heap.
SLICE_US = 1000.0

_A, _C, _M = 1103515245, 12345, 1 << 31  # the C library's rand(): a pseudo-random page per store


@dataclass(frozen=True)
class Figures:
    """What one checkpointed run measured (µs of simulated time, counts)."""

    mode: str
    pages: int
    writes: int
    work: int
    pause_max_us: float  # the longest interval between two consecutive stores of the mutator
    store_us: float  # the mean interval between two stores outside the checkpoint
    checkpoint_us: float  # from the checkpoint's start until every page is copied
    total_us: float  # the mutator's whole run, checkpoint included
    copied: int  # pages copied
    by_fault: int  # of those, copied by the write-fault handler (concurrent only)
    exact: bool  # the copy is the heap at the checkpoint's instant


def checkpointer(mode: str, pages: int, writes: int, work: int, out: dict[str, Any],
                 slice_us: float = SLICE_US) -> Callable[[list[str]], int]:
    """The program: ``mode`` one of :data:`MODES`; a checkpoint after a quarter of ``writes``."""
    if mode not in MODES:
        raise ValueError(f"unknown checkpoint mode {mode!r} (known: {', '.join(MODES)})")
    if pages < 1 or writes < 4 or work < 0:
        raise ValueError(f"need pages >= 1, writes >= 4, work >= 0 (not {pages}, {writes}, {work})")

    def main(argv: list[str]) -> int:
        page = posix.page_size()
        word = posix.word_size()
        words = page // word
        heap = posix.mmap(pages)
        copy = posix.mmap(pages)
        for p in range(pages):  # every page written once: all are dirty at the checkpoint
            posix.store(heap + p * page, p)
        copied = [False] * pages
        lock = posix.mutex()
        state = {"by_fault": 0, "done": 0, "active": False}

        def copy_page(p: int) -> None:
            """Copy page ``p`` if it is not yet copied, then let the mutator write it again."""
            with lock:
                if copied[p]:
                    return
                src, dst = heap + p * page, copy + p * page
                for off in range(0, words * word, word):
                    posix.store(dst + off, posix.load(src + off))
                copied[p] = True
                state["done"] += 1
                if mode == "concurrent":
                    posix.mprotect(src, 1, posix.PROT_RW)

        def on_fault(vaddr: int, write: bool) -> None:
            p = (vaddr - heap) // page
            if not (0 <= p < pages) or not write or not state["active"]:
                raise RuntimeError(f"checkpoint: an unexpected fault at {vaddr:#x} (write={write})")
            if not copied[p]:
                state["by_fault"] += 1
            copy_page(p)  # (or wait for the copier to finish it); the store is then retried

        def copier(dirty: list[int]) -> int:
            turn = posix.time_us()
            for p in dirty:
                copy_page(p)
                now = posix.time_us()
                if now - turn >= slice_us:  # its slice is over: the mutator's turn
                    posix.thread_yield()
                    turn = posix.time_us()
            return 0

        if mode == "concurrent":
            posix.on_fault(on_fault)
        expect: dict[int, int] = {p: p for p in range(pages)}  # page -> its first word, as the mutator wrote it
        snapshot: dict[int, int] = {}
        at = writes // 4
        seed = 1
        t0 = last = posix.time_us()
        pause = 0.0
        outside = 0.0
        outside_n = 0
        ck_start = ck_end = 0.0
        tid = None
        turn = t0
        for k in range(writes):
            if k == at:  # the checkpoint begins
                ck_start = posix.time_us()
                dirty = [p for p in range(pages) if posix.dirty(heap + p * page)]
                snapshot = {p: expect[p] for p in dirty}
                if mode == "stop":
                    for p in dirty:
                        copy_page(p)
                    ck_end = posix.time_us()
                else:
                    state["active"] = True
                    i = 0
                    while i < len(dirty):  # one mprotect per run of consecutive dirty pages
                        j = i
                        while j + 1 < len(dirty) and dirty[j + 1] == dirty[j] + 1:
                            j += 1
                        posix.mprotect(heap + dirty[i] * page, j - i + 1, posix.PROT_READ)
                        i = j + 1
                    tid = posix.thread_create(copier, dirty)
                    turn = posix.time_us()
            seed = (seed * _A + _C) % _M
            p = seed % pages
            posix.store(heap + p * page, 1000 + k)
            expect[p] = 1000 + k
            posix.compute(work)
            now = posix.time_us()
            gap = now - last
            last = now
            pause = max(pause, gap)
            if state["active"]:
                if state["done"] == len(snapshot):
                    state["active"] = False
                    ck_end = now
                elif now - turn >= slice_us:  # the mutator's slice is over: the copier's turn
                    posix.thread_yield()  # (the next store's interval holds the copier's slice)
                    turn = posix.time_us()
            elif k != at:
                outside += gap
                outside_n += 1
        if tid is not None:
            posix.thread_join(tid)
            if state["active"]:  # the copy finished after the mutator's last store
                state["active"] = False
                ck_end = posix.time_us()
        total = posix.time_us() - t0
        # the check, outside every measured interval: the copy is the heap at the instant
        exact = all(posix.load(copy + p * page) == v for p, v in snapshot.items()) and all(copied[p] for p in snapshot)
        out.update(asdict(Figures(
            mode, pages, writes, work, round(pause, 4), round(outside / max(outside_n, 1), 4),
            round(ck_end - ck_start, 4), round(total, 4), state["done"], state["by_fault"], exact)))
        return 0 if exact else 1

    main.__name__ = f"checkpoint_{mode}"
    return main


__all__ = ["MODES", "Figures", "checkpointer"]
