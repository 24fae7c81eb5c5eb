"""The core map: every physical frame, free or held, and how many mappings it has.

What this models
    The core map of a 4.3BSD/Ultrix kernel (``cmap``): one entry per physical
    frame saying whether it is free, what holds it (a user page, a shared
    segment, a kernel stack, a pipe buffer) and how many page-table entries
    map it, with a free list to allocate from.

Why it is built this way
    The reference count is what copy-on-write needs to know when a page is no
    longer shared (vm.py), and what the shutdown needs to say exactly what
    leaked. It is a module of its own because the kernel's state (core.py)
    holds one and the VM (vm.py) acts on it, and the VM already acts on the
    kernel: with the core map inside vm.py, the kernel's state and the VM
    would import each other.

Interface
    ``CoreMap(machine)``: ``alloc(kind, owner)`` (raises ``OutOfMemory``),
    ``ref(pfn)``, ``unref(pfn)``, ``used()``; ``refcnt``, ``kind``, ``owner``,
    ``free`` are read by the kernel's checks and statistics.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from ..machine import Machine


class OutOfMemory(Exception):
    """No free frame is left."""


class CoreMap:
    """Every physical frame: free, or who holds it and how many mappings it has."""

    def __init__(self, machine: Machine) -> None:
        n = machine.profile.memory_frames
        self.memory = machine.memory
        self.refcnt: list[int] = [0] * n
        self.kind: list[str] = [""] * n  # "" free; "user", "shm", "kstack", "pipe"
        self.owner: list[Any] = [None] * n  # for shm frames: the segment
        self.free: deque[int] = deque(range(n))

    def alloc(self, kind: str, owner: Any = None) -> int:
        if not self.free:
            raise OutOfMemory("no free frame")
        pfn = self.free.popleft()
        self.refcnt[pfn] = 1
        self.kind[pfn] = kind
        self.owner[pfn] = owner
        return pfn

    def ref(self, pfn: int) -> None:
        self.refcnt[pfn] += 1

    def unref(self, pfn: int) -> bool:
        """Drop one reference; free the frame when none is left. True if freed."""
        self.refcnt[pfn] -= 1
        if self.refcnt[pfn] > 0:
            return False
        self.kind[pfn] = ""
        self.owner[pfn] = None
        self.free.append(pfn)
        return True

    def used(self) -> int:
        return len(self.refcnt) - len(self.free)
