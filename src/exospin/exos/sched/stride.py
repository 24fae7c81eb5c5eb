"""Stride scheduling (Waldspurger & Weihl, 1995): proportional shares, deterministically.

Each thread holds tickets; its stride is STRIDE1 / tickets. The runnable
thread with the smallest pass runs; when it has run, its pass advances by
its stride scaled by the time it used. Over time each thread gets a share of
the processor proportional to its tickets, with error bounded by one
quantum, and no randomness (unlike lottery scheduling). The exokernel paper
(section 7.1) builds exactly this at application level on Aegis, to show a
library OS can choose its own scheduler. Ties go to the lower thread id.
"""

from __future__ import annotations

STRIDE1 = 1 << 20


class Stride:
    def __init__(self, quantum: int = 1) -> None:
        self.tickets: dict[int, int] = {}
        self.pass_: dict[int, float] = {}
        self.quantum = quantum  # cycles that count as one unit of use
        self.floor = 0.0  # pass of the last thread picked; never decreases

    def add(self, tid: int, tickets: int = 1) -> None:
        if tickets < 1:
            raise ValueError(f"a thread needs at least one ticket, not {tickets}")
        self.tickets[tid] = tickets
        # join at the current pass, so a newcomer neither starves nor floods others
        self.pass_[tid] = self.floor

    def remove(self, tid: int) -> None:
        self.tickets.pop(tid, None)
        self.pass_.pop(tid, None)

    def pick(self, runnable: set[int]) -> int | None:
        best = None
        floor = self.floor
        for tid in runnable:
            if tid in self.pass_:
                if self.pass_[tid] < floor:  # back from blocking: no credit for the time away
                    self.pass_[tid] = floor
                if best is None or (self.pass_[tid], tid) < (self.pass_[best], best):
                    best = tid
        if best is not None:
            self.floor = self.pass_[best]
        return best

    def charge(self, tid: int, cycles: int) -> None:
        if tid in self.pass_:
            self.pass_[tid] += (STRIDE1 / self.tickets[tid]) * max(cycles, 1) / self.quantum
