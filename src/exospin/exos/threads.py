"""ExOS threads: user-level threads scheduled inside the environment's own slices.

What this models
    The exokernel's claim that scheduling within an application is the
    application's business (Engler et al., section 7.1): Aegis gives an
    environment time slices and upcalls at their start and end; how the
    slice is divided among the threads of a process is decided here, by a
    policy behind one small interface (``exos/sched``): round robin by
    default, or stride scheduling for proportional shares.

Why it is built this way
    A thread is a greenlet descending from the environment's first greenlet,
    which runs the scheduler loop. A thread that blocks (on a pipe, a child,
    a mutex) records a predicate and switches to the scheduler. The
    scheduler runs the policy's pick among the threads whose predicate
    holds. It looks only at the threads that have not ended (``live``): an
    ended thread stays in ``threads`` for ``join``, but no later scheduling
    decision walks it or pays for it. When none can run, the process gives
    up the processor (``yield_``) until its next slice or a wake-up by
    protected control transfer. At each slice start the prologue preempts
    the running thread if another is runnable, so a policy sees every
    slice. The kernel saves whichever thread was running when the process
    lost the processor, and resumes that one. A switch between threads
    saves the callee-saved registers of the one leaving and restores those
    of the one chosen, charged as the register moves they are.

Interface
    ``Threads(sys, bind, policy)``; ``run(fn, *args)`` (the main thread; the
    scheduler loop); ``spawn(fn, *args, tickets=1) -> tid``; ``join(tid)``;
    ``block(predicate)``; ``yield_()``; ``preempt()``; ``Mutex``,
    ``Condition``; ``statistics()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from greenlet import GreenletExit, getcurrent, greenlet

from .. import posix
from ..aegis import Syscalls
from .sched import Policy, RoundRobin

SCHED_REFS = 2  # memory references per thread the scheduler looks at
#: registers a thread switch saves and restores: the callee-saved ones of the calling
#: standard (s0-s8, gp, sp, ra), since a switch is a procedure call (as Unix' user threads)
CALLEE_SAVED = 12


@dataclass(eq=False)
class Thread:
    tid: int
    g: greenlet
    done: bool = False
    result: Any = None
    blocked_on: Callable[[], bool] | None = None
    cycles: int = 0  # processor time it has used
    runs: int = 0
    regs: list[int] = field(default_factory=lambda: [0] * CALLEE_SAVED)  # saved while it is off


@dataclass(frozen=True, slots=True)
class ThreadStats:
    threads: int
    switches: int
    idles: int
    preemptions: int


class Threads:
    """The thread package and scheduler of one process."""

    def __init__(self, sys: Syscalls, bind: Callable[[], None], policy: Policy | None = None) -> None:
        self.sys = sys
        self.cpu = sys.cpu
        self._bind = bind  # makes the current greenlet see this process (posix context)
        self.policy: Policy = policy if policy is not None else RoundRobin()
        #: every thread of the process, by id (join finds a finished thread's result here)
        self.threads: dict[int, Thread] = {}
        #: the threads that have not ended: all the scheduler looks at (and pays for)
        self.live: dict[int, Thread] = {}
        self.current: Thread | None = None
        self.base: greenlet | None = None
        self._next = 1
        self.switches = 0
        self.idles = 0
        #: what the scheduler does when no thread can run: give up the processor until a
        #: wake-up or our next slice (the network stack sleeps instead, netstack.py)
        self.idle: Callable[[], Any] = sys.yield_
        self._mark = 0  # when the running thread last got the processor
        self._used = 0  # processor time of the running thread in earlier slices of this turn
        self.preemptions = 0

    # --------------------------------------------------------- creation

    def spawn(self, fn: Callable[..., Any], *args: Any, tickets: int = 1) -> int:
        tid = self._next
        self._next += 1
        t = Thread(tid, None)  # type: ignore[arg-type]

        def body() -> None:
            self._bind()
            try:
                t.result = fn(*args)
            finally:
                t.done = True

        t.g = greenlet(body, parent=self.base)
        self.threads[tid] = t
        self.live[tid] = t
        self.policy.add(tid, tickets)
        self.cpu.mem_refs(4)  # thread control block
        return tid

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` as the main thread and schedule until it ends; its result.

        Other threads still running when the main thread ends are stopped,
        as when a process exits.
        """
        self.base = getcurrent()
        set_context = self.sys.set_context
        main = self.threads[self.spawn(fn, *args)]
        try:
            while not main.done:
                live = self.live
                runnable = {tid for tid, t in live.items() if t.blocked_on is None or t.blocked_on()}
                self.cpu.mem_refs(SCHED_REFS * len(live))
                tid = self.policy.pick(runnable)
                if tid is None:
                    self.idles += 1
                    self.idle()  # nothing to run: sleep until a wake-up or our next slice
                    continue
                t = self.threads[tid]
                t.blocked_on = None
                self.current = t
                self._mark, self._used = self.cpu.cycles(), 0
                t.runs += 1
                self.switches += 1
                set_context(t.g)  # if we lose the processor, the kernel resumes this thread
                self.cpu.restore_registers(t.regs, CALLEE_SAVED)
                t.g.switch()  # until it blocks, yields or ends (a raise comes out here)
                set_context(self.base)
                used = self._used + self.cpu.cycles() - self._mark  # only our own slices count
                t.cycles += used
                self.policy.charge(tid, used)
                self.current = None
                if t.done:
                    del self.live[tid]
                    self.policy.remove(tid)
        except BaseException:
            self._stop_all()
            raise
        finally:
            if not self.base.dead:
                self.sys.set_context(self.base)
        self._stop_all()
        return main.result

    def _stop_all(self) -> None:
        for t in list(self.threads.values()):
            if not t.done and t.g and not t.g.dead:
                try:
                    t.g.throw(GreenletExit)
                except BaseException:  # noqa: S110 - a dying thread may raise anything; it is gone either way
                    pass
            t.done = True
        self.live.clear()
        self.current = None

    # ---------------------------------------------------------- control

    def _to_scheduler(self) -> None:
        assert self.base is not None
        if getcurrent() is self.base:
            raise RuntimeError("the scheduler itself cannot block")
        t = self.current
        if t is not None:
            self.cpu.save_registers(t.regs, CALLEE_SAVED)
        self.base.switch()  # the scheduler declares the next context to the kernel

    def block(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` holds (checked by the scheduler)."""
        if predicate():
            return
        t = self.current
        assert t is not None
        t.blocked_on = predicate
        self._to_scheduler()

    def yield_(self) -> None:
        if self.current is not None:
            self._to_scheduler()

    def slice_ended(self) -> None:
        """The process loses the processor (epilogue): close the running thread's account."""
        if self.current is not None:
            self._used += self.cpu.cycles() - self._mark

    def slice_started(self) -> None:
        """The process has the processor again (prologue): reopen it."""
        self._mark = self.cpu.cycles()

    def preempt(self) -> None:
        """At a slice start: let the policy choose again if another thread could run."""
        t = self.current
        if t is None or getcurrent() is not t.g:
            return
        looked = 0
        others = False
        for o in self.live.values():  # as the scheduler looks: SCHED_REFS per thread, until one can run
            looked += 1
            if o is not t and (o.blocked_on is None or o.blocked_on()):
                others = True
                break
        self.cpu.mem_refs(SCHED_REFS * looked)
        if others:
            self.preemptions += 1
            self._to_scheduler()

    def join(self, tid: int) -> Any:
        t = self.threads.get(tid)
        if t is None:
            raise KeyError(tid)
        self.block(lambda: t.done)
        return t.result

    def statistics(self) -> ThreadStats:
        return ThreadStats(len(self.threads), self.switches, self.idles, self.preemptions)


class Mutex(posix.Mutex):
    """A blocking mutex for ExOS threads (no kernel involvement); ``with m:`` from posix.Mutex."""

    def __init__(self, threads: Threads) -> None:
        self._threads = threads
        self.owner: Thread | None = None

    def acquire(self) -> None:
        th = self._threads
        th.cpu.mem_refs(1)
        th.block(lambda: self.owner is None)
        self.owner = th.current

    def release(self) -> None:
        if self.owner is not self._threads.current:
            raise RuntimeError("release of a mutex this thread does not hold")
        self.owner = None
        self._threads.cpu.mem_refs(1)


class Condition:
    """A condition variable on a Mutex: wait(), signal(), broadcast()."""

    def __init__(self, threads: Threads, mutex: Mutex) -> None:
        self._threads = threads
        self.mutex = mutex
        self._waiters: list[list[bool]] = []

    def wait(self) -> None:
        flag = [False]
        self._waiters.append(flag)
        self.mutex.release()
        self._threads.block(lambda: flag[0])
        self.mutex.acquire()

    def signal(self) -> None:
        if self._waiters:
            self._waiters.pop(0)[0] = True

    def broadcast(self) -> None:
        for f in self._waiters:
            f[0] = True
        self._waiters.clear()
