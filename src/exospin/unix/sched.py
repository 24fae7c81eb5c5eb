"""The scheduler: the run queue, sleep and wakeup on wait channels, swtch, the timer.

What this models
    The process-scheduling half of a 4.3BSD/Ultrix kernel (kern_synch.c and
    hardclock): kernel threads run round robin from one run queue, with a
    quantum ended by the timer interrupt; a thread that must wait sleeps on a
    wait channel (any value) until someone calls ``wakeup`` on it, which makes
    every sleeper on that channel runnable.

Why it is built this way
    Each kernel thread is a greenlet, and ``_swtch`` (with ``run`` and
    ``_resume``) is the only code that switches between them, charging a
    context switch: the callee-saved registers to and from the PCBs and the
    run-queue operations. The kernel is not preemptible: the timer interrupt
    is taken at the next user load, store or compute, and preempts there
    (``_interrupt``).

Interface
    ``run(until)``; to the other layers and subsystems ``sleep(chan)``,
    ``wakeup(chan, front)``, ``yield_()``, ``_make_runnable(t, front)``,
    ``_swtch()``; ``_interrupt`` (the CPU's interrupt vector).
"""

from __future__ import annotations

from typing import Any

from greenlet import getcurrent

from ..machine import IRQ_TIMER
from .proc import RUNNABLE, RUNNING, SLEEPING, Thread, ThreadKilled
from .usercopy import UserCopy


class Scheduler(UserCopy):
    """The run queue, sleep and wakeup, the timer (see the module note)."""

    def run(self, until: int | None = None) -> int:
        """Run threads until none can run (or the clock reaches ``until``); returns the clock."""
        if getcurrent() is not self._root:
            raise RuntimeError("Unix.run() must be called from the greenlet that created the kernel")
        stop = self.loop.schedule(until, self._stop) if until is not None else None
        self._stopping = False
        try:
            while not self._stopping:
                t = self.runq.popleft() if self.runq else None
                if t is None:
                    self.m.timer.cancel()
                    self._armed = False
                    if not self.sleepq or self.loop.pending() <= 0 or not self.loop.skip_to_next():
                        # nothing left to run, or nothing left that could wake a sleeper (on a
                        # network, the world's horizon is a background event: waiting for it
                        # here would keep the machine busy for ever; the world wakes it when
                        # a frame is due)
                        break
                    continue
                self._resume(t)
        finally:
            if stop is not None:
                stop.cancel()
            self._stopping = False
        self.m.timer.cancel()
        self._armed = False
        return self.loop.now

    def _resume(self, t: Thread) -> None:
        """From the root: give the processor to ``t`` until control comes back here."""
        self.loop.now += self.c.switch
        if self.bc is not None:
            self.bc.charge("swtch")
        if self.touch is not None:
            self.touch(self.fp.switch_in, self.fp.pcb(t))
        self.current = t
        t.state = RUNNING
        self.tlb.set_asid(t.proc.asid)
        self.context_switches += 1
        if not self._armed:
            self.m.timer.arm(self.quantum)
            self._armed = True
        assert t.g is not None
        t.g.switch()

    def _stop(self) -> None:
        self._stopping = True
        t = self.current
        if t is not None and getcurrent() is not self._root:
            t.state = RUNNABLE
            self.runq.appendleft(t)  # it goes on first when run() is called again
            t.g = getcurrent()
            self.current = None
            self._root.switch()

    def _make_runnable(self, t: Thread, front: bool = False) -> None:
        t.state = RUNNABLE
        if front:
            self.runq.appendleft(t)
        else:
            self.runq.append(t)

    def _swtch(self) -> None:
        """Give up the processor (the caller has queued or put us to sleep); returns when
        someone switches back to us."""
        me = self.current
        assert me is not None
        me.g = getcurrent()
        nxt = self.runq.popleft() if self.runq else None
        if nxt is None:
            self.current = None
            self._root.switch()  # idle: the root waits; its _resume charges the switch to whoever runs
        elif nxt is not me:
            self.loop.now += self.c.switch
            if self.bc is not None:  # swtch's run-queue scan and resume (baseline.py)
                self.bc.charge("swtch")
            if self.touch is not None:
                self.touch(self.fp.switch_out, self.fp.pcb(me))
                self.touch(self.fp.switch_in, self.fp.pcb(nxt))
            self.current = nxt
            nxt.state = RUNNING
            self.tlb.set_asid(nxt.proc.asid)
            self.context_switches += 1
            assert nxt.g is not None
            nxt.g.switch()
        else:
            self.current = me
        me.state = RUNNING

    def sleep(self, chan: Any) -> None:
        """Block the current thread on ``chan`` until ``wakeup(chan)``."""
        t = self.current
        assert t is not None
        self.loop.now += self.c.sleep
        if self.bc is not None:
            self.bc.charge("sleep")
        self.sleeps += 1
        t.state = SLEEPING
        t.chan = chan
        self.sleepq.setdefault(chan, []).append(t)
        self._swtch()
        if t.killed:
            raise ThreadKilled()

    def wakeup(self, chan: Any, front: bool = False) -> int:
        """Make every thread sleeping on ``chan`` runnable (``front``: next to run, for a
        hand-off). Returns how many."""
        bc = self.bc
        self.loop.now += self.c.wakeup
        if bc is not None:  # wakeup()'s hash and chain walk (baseline.py)
            bc.charge("wakeup")
        q = self.sleepq.pop(chan, None)
        if not q:
            return 0
        for t in q:
            t.chan = None
            self.loop.now += self.c.wake_one
            if bc is not None:
                bc.charge("wake_one")
            self._make_runnable(t, front)
        self.wakeups += len(q)
        return len(q)

    def yield_(self) -> None:
        t = self.current
        assert t is not None
        if self.runq:
            self._make_runnable(t)
            self._swtch()

    # ------------------------------------------------------- interrupts

    def _interrupt(self, irq: int) -> None:
        """The timer (the CPU charged the trap and the acknowledge): hardclock; at the end
        of the quantum the running thread goes to the back of the run queue. Another
        device's interrupt (a NIC's) goes to its handler and leaves the timer as it is."""
        self.interrupts += 1
        if irq != IRQ_TIMER:
            h = self.irq_handlers.get(irq)
            if h is not None:
                h(irq)
            return
        self._armed = False
        t = self.current
        if irq != IRQ_TIMER or t is None or getcurrent() is self._root:
            return
        loop = self.loop
        loop.now += self.c.entry + self.c.hardclock
        if self.touch is not None:
            self.touch(self.fp.interrupt, self.fp.trapframe(t))
        self.m.timer.arm(self.quantum)
        self._armed = True
        if self.runq and t.state == RUNNING:
            self.preemptions += 1
            self._make_runnable(t)
            self._swtch()
        loop.now += self.c.exit_checks + self.c.leave
