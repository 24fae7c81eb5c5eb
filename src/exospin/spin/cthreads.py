"""Layered C-Threads: a user-level thread package over one kernel-scheduled strand.

What this models
    The "layered" C-Threads of the SPIN paper (Bershad et al., SOSP 1995,
    section 5.2, table 3): Mach's C-Threads interface (fork, join, yield,
    mutex, condition) implemented as a user-level library over a kernel
    thread. The kernel sees one strand; the library switches among its
    threads without entering the kernel, saving and restoring the
    callee-saved registers of the calling standard (a switch is a call),
    charged as the register moves they are.

    The other form, "integrated" C-Threads, needs no library of its own on
    SPIN: every thread is a strand and every operation a system call to the
    Unix extension (posix.thread_create / thread_join, libunix's Mutex and
    Condition), so the kernel's global scheduler schedules them.

Why it is built this way
    Each user-level thread is a greenlet inside the strand; the first
    thread is the strand's own first greenlet (its base) and every other
    thread's greenlet is a child of it. The kernel may preempt the strand
    while any of them runs; the scheduler records which greenlet was running
    and resumes that one (strands.py). A library thread that blocks in the
    kernel blocks the whole strand, which is what layering means.

    When the strand ends (its first thread returns, or any thread raises,
    exits or is killed, by itself or by another strand) every thread ends
    with it, as a process's threads end with the process:

    * a StrandExit thrown or raised in a thread other than the first ends
      that thread's greenlet and, as it is the base's child, is raised in
      the first thread where it waits, which unwinds the strand's function;
    * the library registered an unwind hook with the scheduler
      (``Scheduler.on_unwind``), which the base runs once that function is
      over: it throws StrandExit into every thread still suspended, in the
      order they were forked, so their finally clauses run once; a thread
      that never ran just ends. A thread being unwound that tries to switch
      to another (join, wait, yield) gets StrandExit again: no thread runs
      on after its strand has ended.

    The unwinding is not charged: no thread of the library runs again, so
    there are no registers to save or restore (on a real machine the
    threads' stacks just go away with the strand; a thread's record and
    stack are not charged back to the free lists when it returns either).
    What the threads' finally clauses do is charged as they do it.

Interface
    ``CThreads(cpu, sched)`` (inside the strand); ``fork(fn, *args) ->
    CThread``; ``join(t)``; ``yield_()``; ``mutex()``; ``condition(m)``;
    ``statistics()``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from greenlet import getcurrent, greenlet

from ..machine import CPU
from .strands import CALLEE_SAVED, Scheduler, StrandExit


class CThreadsError(RuntimeError):
    """Misuse of the library (a deadlock, unlocking a free mutex)."""


class CThread:
    __slots__ = ("g", "done", "result", "joiners", "regs")

    def __init__(self, g: greenlet | None) -> None:
        self.g = g
        self.done = False
        self.result: Any = None
        self.joiners: list[CThread] = []
        self.regs = [0] * CALLEE_SAVED


@dataclass(frozen=True, slots=True)
class CThreadsStats:
    forks: int
    switches: int
    live: int
    unwound: int  # threads ended by their strand's end, not by returning


class CThreads:
    """One package instance per strand that uses it (create it inside the strand: it
    registers its unwind hook with ``sched`` for the running strand)."""

    def __init__(self, cpu: CPU, sched: Scheduler) -> None:
        self.cpu = cpu
        self.main = CThread(getcurrent())
        self.current = self.main
        self.ready: deque[CThread] = deque()
        self.forks = self.switches = self.unwound = 0
        self.live = 1
        # the threads that have not returned, in the order they were forked (the first too)
        self._threads: dict[CThread, None] = {self.main: None}
        self._ending = False  # the strand has ended: the threads left are being unwound
        sched.on_unwind(self._unwind)

    # -- switching

    def _switch(self, nxt: CThread) -> None:
        """Save our callee-saved registers, load ``nxt``'s, continue it."""
        cur = self.current
        cpu = self.cpu
        cpu.save_registers(cur.regs, CALLEE_SAVED)
        cpu.mem_refs(2)  # dequeue the next thread, store the current one
        cpu.restore_registers(nxt.regs, CALLEE_SAVED)
        self.switches += 1
        self.current = nxt
        assert nxt.g is not None
        nxt.g.switch()

    def _next(self) -> CThread:
        if self._ending:  # a thread being unwound may not hand the processor to another
            raise StrandExit()
        if not self.ready:
            raise CThreadsError("deadlock: every C-Thread is waiting")
        return self.ready.popleft()

    def _block(self) -> None:
        self._switch(self._next())

    # -- the interface

    def fork(self, fn: Callable[..., Any], *args: Any) -> CThread:
        """A new thread running ``fn(*args)``; it runs when the forker yields or blocks."""
        t = CThread(None)

        def body(*unused: Any) -> None:  # started by a switch, or by the previous thread's end (None)
            t.result = fn(*args)
            t.done = True
            self.live -= 1
            self._threads.pop(t, None)
            for j in t.joiners:
                self.ready.append(j)
            t.joiners.clear()
            nxt = self._next()
            self.cpu.restore_registers(nxt.regs, CALLEE_SAVED)
            self.switches += 1
            self.current = nxt
            assert nxt.g is not None
            getcurrent().parent = nxt.g  # ending, this greenlet switches to the next thread

        # a child of the first thread's greenlet, whoever forks it: a thread that ends makes its
        # greenlet a child of the next one's, which must not descend from it
        t.g = greenlet(body, parent=self.main.g)
        self.cpu.mem_refs(4)  # a thread record and its stack from the library's free lists
        self.forks += 1
        self.live += 1
        self._threads[t] = None
        self.ready.append(t)
        return t

    def join(self, t: CThread) -> Any:
        """Wait for ``t`` to end; its result."""
        while not t.done:
            t.joiners.append(self.current)
            self._block()
        return t.result

    def yield_(self) -> None:
        if self.ready:
            self.ready.append(self.current)
            self._block()

    def mutex(self) -> Mutex:
        return Mutex(self)

    def condition(self, mutex: Mutex) -> Condition:
        return Condition(self, mutex)

    def statistics(self) -> CThreadsStats:
        return CThreadsStats(self.forks, self.switches, self.live, self.unwound)

    # -- the strand's end

    def _unwind(self) -> None:
        """The unwind hook: the strand's function is over; end every thread left (not charged:
        see the module's docstring)."""
        self._ending = True
        self.ready.clear()
        here = getcurrent()  # the strand's base: the first thread's greenlet
        threads = self._threads
        while threads:  # (a finally clause might fork: those end here too)
            t = next(iter(threads))
            del threads[t]
            g = t.g
            assert g is not None
            if g is not here:
                self.unwound += 1
                if not g.dead:
                    self.current = t
                    g.parent = here  # its end comes back here
                    try:
                        g.throw(StrandExit())
                    except BaseException:  # noqa: S110 - StrandExit, or what a finally clause raised: it is gone
                        pass
            t.done = True
        self.current = self.main
        self.live = 0


class Mutex:
    __slots__ = ("_ct", "locked", "waiting")

    def __init__(self, ct: CThreads) -> None:
        self._ct = ct
        self.locked = False
        self.waiting: deque[CThread] = deque()

    def acquire(self) -> None:
        while self.locked:
            self.waiting.append(self._ct.current)
            self._ct._block()
        self.locked = True

    def release(self) -> None:
        if not self.locked:
            raise CThreadsError("release of a mutex that is not locked")
        self.locked = False
        if self.waiting:
            self._ct.ready.append(self.waiting.popleft())

    def __enter__(self) -> Mutex:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Condition:
    __slots__ = ("_ct", "mutex", "waiting")

    def __init__(self, ct: CThreads, mutex: Mutex) -> None:
        self._ct = ct
        self.mutex = mutex
        self.waiting: deque[CThread] = deque()

    def wait(self) -> None:
        self.waiting.append(self._ct.current)
        self.mutex.release()
        self._ct._block()
        self.mutex.acquire()

    def signal(self) -> None:
        if self.waiting:
            self._ct.ready.append(self.waiting.popleft())

    def broadcast(self) -> None:
        while self.waiting:
            self._ct.ready.append(self.waiting.popleft())
