"""A pthreads-like user-level thread library: many threads on one kernel thread.

What this models
    The user-level thread packages of the early 1990s (FastThreads, the
    CThreads and P-threads libraries measured on DEC OSF/1 in the SPIN paper,
    section 5.1): threads, mutexes and condition variables implemented
    entirely in the application's address space, multiplexed on the kernel
    thread that created them. A switch between them saves and restores the
    callee-saved registers in user space; no system call is made. A thread
    that makes a blocking system call blocks all of them (the classic
    many-to-one limitation), and the kernel's timer preempts the kernel
    thread, not the user threads: they switch only when one blocks, yields
    or ends.

Why it is built this way
    A user thread is a greenlet whose parent is the kernel thread's own
    greenlet. The kernel saves whichever greenlet was running when it
    preempts the kernel thread and resumes that one, so user threads need no
    help from it. A finished thread hands the processor straight to the next
    ready one (it sets its greenlet's parent to that thread's before it
    returns).

Interface
    ``UThreads(cpu, bind)`` on the calling kernel thread: ``create(fn, *args)
    -> tid``, ``join(tid)``, ``yield_()``, ``mutex()``, ``condition(m)``,
    ``close()`` (ends every thread still suspended; call it before the kernel
    thread ends), ``statistics()``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from greenlet import GreenletExit, getcurrent, greenlet

from .. import posix
from ..machine import CPU
from .param import CALLEE_SAVED

_DEADLOCK = object()


@dataclass(eq=False)
class UThread:
    tid: int
    g: Any
    done: bool = False
    result: Any = None
    joiners: list[UThread] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class UThreadStats:
    created: int
    switches: int
    live: int


class UThreads:
    """The user-level threads of one kernel thread (which becomes thread 0)."""

    def __init__(self, cpu: CPU, bind: Callable[[], None] = lambda: None) -> None:
        self.cpu = cpu
        self._bind = bind
        self.main = UThread(0, getcurrent())
        self.current = self.main
        self.ready: deque[UThread] = deque()
        self.threads: dict[int, UThread] = {0: self.main}
        self.area = [0] * 32  # the save area of the thread switched out
        self._next = 1
        self.created = 0
        self.switches = 0

    def _switch(self, to: UThread) -> Any:
        cpu = self.cpu
        cpu.save_registers(self.area, CALLEE_SAVED)
        cpu.restore_registers(self.area, CALLEE_SAVED)
        self.current = to
        self.switches += 1
        return to.g.switch()

    def create(self, fn: Callable[..., Any], *args: Any) -> int:
        """A new thread running ``fn(*args)``, ready to run (it runs when we block or yield)."""
        t = UThread(self._next, None)
        self._next += 1

        def body() -> Any:
            self._bind()
            try:
                t.result = fn(*args)
            except GreenletExit:
                t.done = True
                return None  # closed: nothing more to charge or to run
            t.done = True
            self.ready.extend(t.joiners)
            t.joiners.clear()
            nxt = self.ready.popleft() if self.ready else None
            self.cpu.restore_registers(self.area, CALLEE_SAVED)
            self.switches += 1
            self.current = nxt if nxt is not None else self.main
            getcurrent().parent = self.current.g  # returning resumes it
            return None if nxt is not None else _DEADLOCK

        t.g = greenlet(body, parent=self.main.g)
        self.threads[t.tid] = t
        self.ready.append(t)
        self.created += 1
        self.cpu.mem_refs(4)  # the thread control block, the ready queue
        return t.tid

    def _block(self) -> None:
        """The current thread waits (it has put itself on some queue)."""
        self.cpu.mem_refs(2)
        nxt = self.ready.popleft() if self.ready else None
        if nxt is None:
            raise RuntimeError("deadlock: every user-level thread is blocked")
        if self._switch(nxt) is _DEADLOCK:
            raise RuntimeError("deadlock: every user-level thread is blocked")

    def yield_(self) -> None:
        if self.ready:
            self.ready.append(self.current)
            self._block()

    def join(self, tid: int) -> Any:
        t = self.threads.get(tid)
        if t is None or t is self.current:
            raise ValueError(f"no thread {tid!r} to join")
        while not t.done:
            t.joiners.append(self.current)
            self._block()
        del self.threads[tid]
        return t.result

    def mutex(self) -> UMutex:
        return UMutex(self)

    def condition(self, m: UMutex) -> UCondition:
        return UCondition(self, m)

    def close(self) -> None:
        """End every thread that has not finished (GreenletExit runs no more of their code)."""
        for t in list(self.threads.values()):
            if t is not self.main and not t.done and t.g:
                t.g.parent = getcurrent()
                t.g.throw(GreenletExit)
            t.done = True
        self.ready.clear()
        self.current = self.main

    def statistics(self) -> UThreadStats:
        return UThreadStats(self.created, self.switches, sum(1 for t in self.threads.values() if not t.done))


class UMutex(posix.Mutex):
    """A mutex of user threads: a queue of waiters in user space (``with m:`` from posix.Mutex)."""

    def __init__(self, th: UThreads) -> None:
        self._th = th
        self.owner: UThread | None = None
        self.waiters: deque[UThread] = deque()

    def acquire(self) -> None:
        th = self._th
        th.cpu.mem_refs(1)
        while self.owner is not None:
            self.waiters.append(th.current)
            th._block()
        self.owner = th.current

    def release(self) -> None:
        th = self._th
        if self.owner is not th.current:
            raise RuntimeError("release of a mutex this thread does not hold")
        self.owner = None
        th.cpu.mem_refs(1)
        if self.waiters:
            th.ready.append(self.waiters.popleft())


class UCondition:
    def __init__(self, th: UThreads, m: UMutex) -> None:
        self._th = th
        self.mutex = m
        self.waiters: deque[UThread] = deque()

    def wait(self) -> None:
        th = self._th
        self.waiters.append(th.current)
        self.mutex.release()
        th._block()
        self.mutex.acquire()

    def signal(self) -> None:
        self._th.cpu.mem_refs(1)
        if self.waiters:
            self._th.ready.append(self.waiters.popleft())

    def broadcast(self) -> None:
        self._th.cpu.mem_refs(1)
        self._th.ready.extend(self.waiters)
        self.waiters.clear()
