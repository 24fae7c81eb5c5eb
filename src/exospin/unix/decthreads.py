"""DECthreads: OSF/1's P-threads, one Mach kernel thread per thread, synchronising in the kernel.

What this models
    The user-level thread package of DEC OSF/1 that the SPIN paper timed as
    OSF/1's "user" threads: DECthreads (P-threads, POSIX 1003.4a draft 4) as
    a library over Mach kernel threads, one kernel thread per P-thread, whose
    blocking synchronisation goes into the kernel. Creating a thread runs the
    library's ``pthread_create`` (attributes, a cached stack and TCB) and
    then the kernel's thread creation; joining, locking and waiting run the
    library's part and then a system call (thread_join, mutex_lock,
    cond_wait...). The library's part is a count of its work from the
    ``osf1`` baseline (baseline.py: ``pthread_create``, ``pthread_join``,
    ``pthread_sync``), executed as user instructions, loads, stores and calls.

Why it is built this way
    Same interface as the user-level library (uthreads.py), so the same
    programs run on either, with the same results: ``UnixProcess.uthreads()``
    returns this on a kernel booted with the ``osf1`` baseline, the lean
    package elsewhere. Unlike uthreads, the threads are real kernel threads:
    they are scheduled and preempted by the kernel, and a blocking system
    call blocks only the thread that made it.

Interface
    ``DECThreads(proc, baseline)``: ``create(fn, *args) -> tid``, ``join(tid)``,
    ``yield_()``, ``mutex()``, ``condition(m)``, ``close()``, ``statistics()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from .. import posix
from ..machine import CPU
from .baseline import Baseline, Work
from .uthreads import UThreadStats


class _KSync(Protocol):  # libc's KMutex and KCondition (not imported: libc imports this module)
    def acquire(self) -> None: ...
    def release(self) -> None: ...


class _KCond(Protocol):
    def wait(self) -> None: ...
    def signal(self) -> None: ...
    def broadcast(self) -> None: ...


class _Proc(Protocol):  # libc's UnixProcess: what DECthreads calls of it
    cpu: CPU

    def thread_create(self, fn: Callable[..., Any], *args: Any) -> int: ...
    def thread_join(self, tid: int) -> Any: ...
    def thread_yield(self) -> None: ...
    def mutex(self) -> Any: ...
    def condition(self, mutex: Any) -> Any: ...


def _noop() -> None:
    pass


class DECThreads:
    """P-threads of one process over its kernel threads (see the module note)."""

    def __init__(self, proc: _Proc, baseline: Baseline) -> None:
        self.proc = proc
        self.cpu = proc.cpu
        steps = baseline.steps
        self._create, self._join, self._sync = steps["pthread_create"], steps["pthread_join"], steps["pthread_sync"]
        self.tids: list[int] = []
        self.joined: set[int] = set()
        self.created = 0

    def _work(self, w: Work) -> None:
        """The library's own part of an operation, run as user code."""
        cpu = self.cpu
        cpu.compute(w.insns)
        cpu.mem_refs(w.loads + w.stores)
        for _ in range(w.calls):
            cpu.call(_noop)

    def create(self, fn: Callable[..., Any], *args: Any) -> int:
        if not callable(fn):
            raise posix.PosixError("EINVAL", f"pthread_create: fn must be callable, not {type(fn).__name__}")
        self._work(self._create)
        tid = self.proc.thread_create(fn, *args)
        self.tids.append(tid)
        self.created += 1
        return tid

    def join(self, tid: int) -> Any:
        self._work(self._join)
        result = self.proc.thread_join(tid)
        self.joined.add(tid)
        return result

    def yield_(self) -> None:
        self.proc.thread_yield()

    def mutex(self) -> PMutex:
        return PMutex(self, self.proc.mutex())

    def condition(self, m: PMutex) -> PCondition:
        if not isinstance(m, PMutex):
            raise posix.PosixError("EINVAL", f"condition: {m!r} is not a mutex of this thread package")
        return PCondition(self, self.proc.condition(m.k))

    def close(self) -> None:
        """Nothing to unwind: the threads are kernel threads, ended with the process."""

    def statistics(self) -> UThreadStats:
        return UThreadStats(self.created, 0, len(self.tids) - len(self.joined))


class PMutex(posix.Mutex):
    """A DECthreads mutex: the library's state word, then the kernel's lock."""

    def __init__(self, th: DECThreads, k: _KSync) -> None:
        self.th = th
        self.k = k

    def acquire(self) -> None:
        self.th._work(self.th._sync)
        self.k.acquire()

    def release(self) -> None:
        self.th._work(self.th._sync)
        self.k.release()


class PCondition:
    """A DECthreads condition variable: the library's part, then the kernel's."""

    def __init__(self, th: DECThreads, k: _KCond) -> None:
        self.th = th
        self.k = k

    def wait(self) -> None:
        self.th._work(self.th._sync)
        self.k.wait()

    def signal(self) -> None:
        self.th._work(self.th._sync)
        self.k.signal()

    def broadcast(self) -> None:
        self.th._work(self.th._sync)
        self.k.broadcast()
