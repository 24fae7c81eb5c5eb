"""Round robin: runnable threads in turn, in the order they were created."""

from __future__ import annotations


class RoundRobin:
    def __init__(self) -> None:
        self.order: list[int] = []
        self.last = -1

    def add(self, tid: int, tickets: int = 1) -> None:
        self.order.append(tid)

    def remove(self, tid: int) -> None:
        i = self.order.index(tid)
        if tid == self.last:  # the turn passes to its successor, not back to the front
            self.last = self.order[i - 1] if i > 0 and len(self.order) > 1 else -1
        self.order.pop(i)

    def pick(self, runnable: set[int]) -> int | None:
        if not runnable:
            return None
        n = len(self.order)
        start = self.order.index(self.last) + 1 if self.last in self.order else 0
        for i in range(n):
            tid = self.order[(start + i) % n]
            if tid in runnable:
                self.last = tid
                return tid
        return None

    def charge(self, tid: int, cycles: int) -> None:
        pass
