"""Thread-scheduling policies for ExOS: small modules behind one interface.

A policy sees threads come and go and picks which runnable one runs next;
the mechanism (switching, blocking, preemption at slice starts) is in
``exos/threads.py``. Add a policy by writing a module with a class that has
these four methods.
"""

from __future__ import annotations

from typing import Protocol

from .round_robin import RoundRobin
from .stride import Stride


class Policy(Protocol):
    def add(self, tid: int, tickets: int) -> None: ...
    def remove(self, tid: int) -> None: ...
    def pick(self, runnable: set[int]) -> int | None: ...
    def charge(self, tid: int, cycles: int) -> None: ...


POLICIES = {"round_robin": RoundRobin, "stride": Stride}

__all__ = ["POLICIES", "Policy", "RoundRobin", "Stride"]
