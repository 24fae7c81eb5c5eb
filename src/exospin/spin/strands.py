"""Strands and the global scheduler: SPIN's schedulable contexts.

What this models
    SPIN's ``Strand`` interface and its global scheduler (Bershad et al.,
    SOSP 1995, section 4.2; spincore/src/strands). A strand is a
    schedulable context with no kernel state but a name: what a thread *is*
    (its registers, its stack, its user-level state) belongs to the thread
    package that made it. The kernel raises four events:

    * ``Block(s)`` and ``Unblock(s)``: a thread package tells the scheduler a
      strand cannot or can again run. Their intrinsic handlers are the
      global scheduler; an application scheduler may stack handlers on them;
    * ``Checkpoint(s)``: ``s`` is being descheduled: save its state;
    * ``Resume(s)``: ``s`` is being scheduled: restore it.

    The intrinsic Checkpoint/Resume handlers save and restore the machine
    registers a switch must preserve: all of them when the strand was
    preempted by an interrupt (it was stopped anywhere), only the
    callee-saved ones when it gave up the processor by a call (the calling
    standard says the caller already saved the rest). A thread package
    installs its own handlers, guarded on its strands (an equality guard on
    the package: one lookup, whatever the number of packages), to save what
    it adds.

    The global scheduler is round-robin within priority, preemptive: the
    interval timer ends a quantum, and a strand made ready at a higher
    priority than the running one takes the processor at once.

Why it is built this way
    Each strand runs on its own greenlet, so code running in a strand
    (application code in user mode, or an extension's handler that blocks
    inside a system call) may stop anywhere and continue later, unmodified.
    The scheduler's ``_switch`` is the one place the processor changes hands
    (Aegis' ``_transfer`` plays the same role): it raises Checkpoint and
    Resume, loads the address space (the ASID) and switches greenlets.
    ``run()`` is the idle loop: it runs on the greenlet that booted the
    kernel and gets the processor when no strand is ready.

    Budgets are per activation of a domain on one stack (verifier.Budget):
    ``_switch`` suspends the activations in progress on the strand it takes
    off the processor (``_suspend``: each budget's depth and ticks left) and
    ``_enter`` gives a strand its own back (``_restore``), so strands entering
    the same domain each have their own activation and a strand blocked in a
    handler holds nobody else's budget. A handler of the scheduler's own
    events may not end the strand it runs on (``exit`` refuses, ``kill``
    defers to the strand's next run): a switch or a strand's end is never
    left half done.

    A user-level thread package may run its threads on greenlets of their
    own inside a strand (spin/cthreads.py). The scheduler records which
    greenlet was running when the strand lost the processor and resumes
    that one; a kill is thrown there. Two rules make such a strand end
    cleanly: the package's greenlets descend from the strand's first
    greenlet (its *base*, which runs the strand's function), so a StrandExit
    that ends one of them reaches the base and unwinds the strand's
    function; and the package registers an unwind hook (``on_unwind``),
    which the base runs when that function is over, however it ended,
    before the scheduler finishes the strand: there the package unwinds its
    threads still suspended. The hook is simulator machinery, not a kernel
    service: it stands for a strand's stacks going away with it.

Interface
    ``Scheduler(machine, dispatcher)``; ``create(fn, args, name, priority,
    space, package) -> Strand``; ``current``; ``block()`` (the current
    strand), ``unblock(s)``; ``yield_()``; ``exit(value)``; ``kill(s, why)``;
    ``join(s)``; ``on_unwind(fn)``; ``run(until)``; events ``Block``, ``Unblock``,
    ``Checkpoint``, ``Resume``; ``statistics()``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from greenlet import getcurrent, greenlet

from ..machine import NREGS, Machine
from ..verifier import BudgetExceeded
from .dispatcher import Dispatcher, Event

#: Registers the Alpha calling standard makes callee-saved: s0-s5, fp, ra, sp
#: (Digital, "Calling Standard for AXP Systems", 1994, table 2-1). A strand that
#: blocks by a call needs only these preserved; the MIPS o32 set (s0-s8, sp, ra)
#: is 11, close enough that one constant serves both profiles.
CALLEE_SAVED = 9
#: Priorities 0 (lowest) to NPRIO-1; user strands start at DEFAULT_PRIORITY.
NPRIO = 32
DEFAULT_PRIORITY = 16
#: The scheduling quantum (simulated µs); DEC OSF/1's default was 10 ms.
QUANTUM_US = 10_000.0

READY, RUNNING, BLOCKED, DONE = "ready", "running", "blocked", "done"


class StrandExit(BaseException):
    """Unwinds a strand that exits or is killed. Not an ``Exception``: verified code
    cannot catch it (it may not name ``BaseException``), so a kill always completes."""


class Strand:
    """A schedulable context: a name, a priority, the address space it runs in.

    Extensions see read-only properties; the fields are the kernel's.
    """

    __slots__ = ("_id", "_name", "_priority", "_state", "_g", "_base", "_fn", "_args", "_space",
                 "_result", "_error", "_regs", "_preempted", "_joiners", "_package", "_sched", "_budget",
                 "_unwinders", "_own", "_held", "_doomed", "_faulted")

    def __init__(self, sched: Scheduler, sid: int, fn: Callable[..., Any], args: tuple[Any, ...],
                 name: str, priority: int, space: Any, package: Any) -> None:
        self._sched = sched
        self._id = sid
        self._name = name
        self._priority = priority
        self._state = READY
        self._fn = fn
        self._args = args
        self._space = space
        self._result: Any = None
        self._error: str | None = None
        self._regs: list[int] = [0] * NREGS
        self._preempted = False
        self._joiners: list[Strand] = []
        self._package = package
        self._budget: Any = None  # its package's domain's budget (refreshed when scheduled, if idle)
        #: the budget of the domain whose code ``fn`` is: the strand's body is one activation
        #: of that domain, for its life (None: ``fn`` is not verified code, e.g. a user program)
        self._own: Any = None
        #: the activations in progress on this strand while it is off the processor:
        #: (budget, depth, ticks left) each (None: none)
        self._held: list[tuple[Any, int, int]] | None = None
        #: killed while the scheduler was switching it: it unwinds as soon as it runs
        self._doomed = False
        #: its function raised or overran its budget (it was not killed or exited)
        self._faulted = False
        self._unwinders: list[Callable[[], Any]] | None = None  # on_unwind hooks
        # _base runs the strand's function; _g is where the strand stands (the greenlet to
        # resume): _base, or a thread package's greenlet descending from it
        self._g = self._base = greenlet(self._body, parent=sched.root)

    @property
    def id(self) -> int:
        return self._id

    @property
    def name(self) -> str:
        return self._name

    @property
    def priority(self) -> int:
        return self._priority

    @property
    def state(self) -> str:
        return self._state

    @property
    def space(self) -> Any:
        """The address space (a Translation context) it runs in; None: the kernel's."""
        return self._space

    @property
    def package(self) -> Any:
        """The thread package that made it (what its Checkpoint/Resume handlers guard on)."""
        return self._package

    @property
    def done(self) -> bool:
        return self._state is DONE

    @property
    def result(self) -> Any:
        return self._result

    @property
    def error(self) -> str | None:
        """Why it was killed (None if it returned)."""
        return self._error

    def _body(self, *unused: Any) -> Any:
        s = self._sched
        try:
            try:
                own = self._own
                if self._doomed:  # killed before it ever ran (while the scheduler entered it)
                    raise StrandExit()
                if own is None:
                    self._result = self._fn(*self._args)
                else:  # the body is one activation of its code's domain (Budget.enter)
                    own.enter()
                    try:
                        self._result = self._fn(*self._args)
                    finally:
                        own.leave()
            finally:
                if self._unwinders is not None:
                    self._unwind()
        except StrandExit:
            pass
        except (Exception, BudgetExceeded) as e:  # its code failed: it ends, the kernel goes on
            self._error = f"{type(e).__name__}: {e}"
            self._faulted = True
            s.log.append((self._name, self._error))
        s._finish(self)
        return None

    def _unwind(self) -> None:
        """The strand's function is over: run its unwind hooks, newest first, each once."""
        hooks, self._unwinders = self._unwinders, None
        assert hooks is not None
        for fn in reversed(hooks):
            fn()

    def __repr__(self) -> str:
        return f"<Strand {self._id} {self._name!r} {self._state}>"


@dataclass(frozen=True, slots=True)
class SchedulerStats:
    strands_created: int
    strands_live: int
    ready: int
    blocked: int
    switches: int
    preemptions: int
    blocks: int
    unblocks: int


class Scheduler:
    """The global scheduler: round-robin within priority, preemptive."""

    def __init__(self, machine: Machine, dispatcher: Dispatcher) -> None:
        #: ``detailed`` memory: the paths' lines and the CPU's touch (set by Spin; None: ideal)
        self.fp: Any = None
        self.touch: Callable[[Any, int], None] | None = None
        self.m = machine
        self.loop = machine.loop
        self.cpu = machine.cpu
        self.tlb = machine.tlb
        p = machine.profile
        self.root = getcurrent()
        self.quantum = p.cycles_for_us(QUANTUM_US)
        self.ready: list[deque[Strand]] = [deque() for _ in range(NPRIO)]
        self._top = -1  # highest priority with a ready strand (-1: none)
        # bit p set: ready[p] is not empty; the top is its highest bit, found from the word
        # instead of by walking down the levels
        self._nonempty = 0
        self.current: Strand | None = None
        self.strands: dict[int, Strand] = {}
        self._next_id = 1
        self.log: list[tuple[str, str]] = []
        # what a switch costs the kernel itself: find the next strand (load the top, the
        # queue head and its successor, unlink it) and load the new ASID
        self._c_pick = 3 * p.mem_ref + 2 * p.insn
        self._c_asid = p.insn
        # the ready queues are doubly linked. A strand made ready is linked at the tail
        # (load the tail; store its forward link and the queue's tail) and its priority's
        # bit set in the word of non-empty queues (load, shift, or, store) and compared with
        # the top (one more store when it is higher)
        self._c_link = 3 * p.mem_ref
        self._c_mark = 2 * p.mem_ref + 3 * p.insn
        self._c_raise_top = p.mem_ref
        # a strand taken out of the middle of its queue (blocked or killed while ready):
        # load both neighbours, store both links
        self._c_unlink = 4 * p.mem_ref
        # a queue that empties: clear its bit (load, shift, bic, store), test the word for
        # zero (no strand left: the top is none) and store the top; with bits left, the
        # highest is found by a five-step binary search over the 32-bit word (shift, test,
        # branch each; neither the R3000 nor the 21064 counts leading zeros)
        self._c_clear = 3 * p.mem_ref + 3 * p.insn
        self._c_search = 15 * p.insn
        # the sums the hot paths add (made ready; made ready raising the top; a queue emptied
        # with others still ready)
        self._c_ready = self._c_link + self._c_mark
        self._c_ready_top = self._c_ready + self._c_raise_top
        self._c_clear_search = self._c_clear + self._c_search
        # a new strand: a descriptor and a stack off the kernel's free lists (a load and a
        # store each), the descriptor's fields and initial context written (4 stores); then
        # it is made ready (the link and the mark above)
        self._c_create = 8 * p.mem_ref
        # an ended strand: descriptor and stack back on their free lists
        self._c_destroy = 4 * p.mem_ref
        self._c_save_all = NREGS * p.reg_save
        self._c_restore_all = NREGS * p.reg_restore
        self._c_save = CALLEE_SAVED * p.reg_save
        self._c_restore = CALLEE_SAVED * p.reg_restore
        self.switches = self.preemptions = self.blocks = self.unblocks = self.created = 0
        d = dispatcher
        self.Block = d.define(Event("Strand.Block", (Strand,), None, self._block))
        self.Unblock = d.define(Event("Strand.Unblock", (Strand,), None, self._unblock))
        self.Checkpoint = d.define(Event("Strand.Checkpoint", (Strand,), None, self._checkpoint))
        self.Resume = d.define(Event("Strand.Resume", (Strand,), None, self._resume))
        self._on_exit: list[Callable[[Strand], Any]] = []
        #: the budgets of the loaded domains (the kernel keeps the list): a switch suspends
        #: the activations of those in progress on the strand it takes off the processor
        self.budgets: list[Any] = []
        self._depths: list[tuple[Any, Any]] = []  # (depth cell, budget) of each, for _suspend
        #: >0 while the scheduler raises its own events (Checkpoint, Resume, Exit, the
        #: joiners' Unblock): a handler there may not end the strand it runs on (see ``exit``)
        self._internal = 0
        self.tracer = machine.tracer
        self._traced: Strand | None = None  # the strand whose run the trace is timing
        self._run_start = 0

    # ------------------------------------------------------------ creation

    def create(self, fn: Callable[..., Any], args: tuple[Any, ...] = (), name: str = "",
               priority: int = DEFAULT_PRIORITY, space: Any = None, package: Any = None,
               budget: Any = None, own: Any = None) -> Strand:
        """A new strand, ready to run ``fn(*args)`` in address space ``space``. ``budget``:
        that of the domain whose code the strand calls without entering it (its thread
        package's library code, or a benchmark's loop): such code is bounded by the
        scheduler, so that budget is restored whenever the strand is scheduled or starts a
        quantum, unless an activation of its domain is in progress on the strand. ``own``:
        the budget of the domain whose code ``fn`` is; the strand's body is then one
        activation of that domain (Budget.enter), which a switch suspends and resumes with
        what it had left, like every activation on the strand (``_suspend``)."""
        if not isinstance(priority, int) or not 0 <= priority < NPRIO:
            raise ValueError(f"strand priority must be an int in 0..{NPRIO - 1}, not {priority!r}")
        if not callable(fn):
            raise TypeError(f"a strand runs a function, not {type(fn).__name__}")
        sid = self._next_id
        self._next_id += 1
        s = Strand(self, sid, fn, tuple(args), name or f"strand {sid}", priority, space, package)
        s._budget = budget
        s._own = own
        self.strands[sid] = s
        self.created += 1
        self.loop.now += self._c_create
        self._make_ready(s)
        return s

    def on_exit(self, fn: Callable[[Strand], Any]) -> None:
        """Call ``fn(strand)`` whenever a strand ends (kernel services clean up here)."""
        self._on_exit.append(fn)

    # ------------------------------------------------------------ the events' intrinsic handlers

    def _block(self, s: Strand) -> None:
        """Block(s): ``s`` cannot run; if it is the current strand, switch away."""
        if s._state is DONE:
            return
        self.blocks += 1
        if s._state is READY:
            self._unqueue(s)
        s._state = BLOCKED
        if s is self.current:
            self._switch(self._pick(), False)

    def _unblock(self, s: Strand) -> None:
        """Unblock(s): ``s`` may run again; a higher priority than the runner's preempts it
        (not a strand that is ending and waking its joiners: it would never come back to
        wake the rest and finish; ``_finish`` picks the next strand anyway)."""
        if s._state is not BLOCKED:
            return
        self.unblocks += 1
        self._make_ready(s)
        cur = self.current
        if (cur is not None and cur._state is RUNNING and s._priority > cur._priority
                and getcurrent() is not self.root):
            self._requeue_current()
            self._switch(self._pick(), False)

    def _checkpoint(self, s: Strand) -> None:
        """Save what a switch must preserve: every register if it was preempted."""
        self.loop.now += self._c_save_all if s._preempted else self._c_save
        if self.touch is not None:
            self.touch(self.fp.checkpoint_all if s._preempted else self.fp.checkpoint, self.fp.strand(s._id))

    def _resume(self, s: Strand) -> None:
        self.loop.now += self._c_restore_all if s._preempted else self._c_restore
        if self.touch is not None:
            self.touch(self.fp.resume_all if s._preempted else self.fp.resume, self.fp.strand(s._id))
        s._preempted = False

    # ------------------------------------------------------------ what strands call

    def block(self) -> None:
        """Block the current strand until someone unblocks it."""
        cur = self._running()
        self.Block.raise_(cur)

    def unblock(self, s: Strand) -> None:
        if not isinstance(s, Strand):
            raise TypeError(f"unblock takes a strand, not {type(s).__name__}")
        self.Unblock.raise_(s)

    def yield_(self) -> None:
        """Give the processor to the next ready strand of the same or higher priority."""
        cur = self._running()
        nxt = self._pick_at_least(cur._priority)
        if nxt is not None:
            self._make_ready(cur)
            self._switch(nxt, False)

    def exit(self, value: Any = None) -> None:
        """End the current strand with ``value``. Refused (RuntimeError) inside the scheduler's
        own events (Checkpoint, Resume, Exit and the joiners' Unblock): unwinding there would
        leave a switch or a strand's end half done."""
        cur = self._running()
        if self._internal:
            raise RuntimeError("Strand.exit: not allowed in a handler of the scheduler's own events "
                               "(Checkpoint, Resume, Exit)")
        cur._result = value
        raise StrandExit()

    def kill(self, s: Strand, why: str) -> None:
        """End ``s`` (any strand): it unwinds where it stands; its joiners wake."""
        if s._state is DONE:
            return
        s._error = why
        self.log.append((s._name, why))
        if s is self.current and getcurrent() is not self.root:
            if self._internal:  # in a switch or a strand's end: it unwinds when it next runs
                s._doomed = True
                return
            raise StrandExit()
        if s._state is READY and s in self.ready[s._priority]:  # (not if a switch picked it)
            self._unqueue(s)
        base = s._base
        if base:  # started: unwind its stack (its finally clauses run) where it stands
            s._state = DONE
            base.parent = getcurrent()  # the unwinding ends in the base, which then returns here
            g = s._g
            mine = self._suspend()  # its activations unwind, not ours
            self._restore(s._held)
            s._held = None
            try:
                (g if not g.dead else base).throw(StrandExit())
            finally:
                self._suspend()
                self._restore(mine)
        else:
            s._state = DONE
        if s._id in self.strands:
            self._finish_bookkeeping(s)

    def on_unwind(self, fn: Callable[[], Any]) -> None:
        """Call ``fn()`` when the current strand's function is over (it returned, raised,
        exited or was killed), on the strand's base greenlet, before the strand ends: its
        joiners have not woken yet and ``on_exit`` has not run. For a user-level thread
        package that runs threads on greenlets of their own inside the strand, descending
        from its base: ``fn`` unwinds those still suspended. Hooks run newest first, once."""
        cur = self._running()
        if cur._unwinders is None:
            cur._unwinders = []
        cur._unwinders.append(fn)

    def join(self, s: Strand) -> Any:
        """Wait for ``s`` to end; returns its result."""
        cur = self._running()
        while s._state is not DONE:
            s._joiners.append(cur)
            self.Block.raise_(cur)
        return s._result

    def _running(self) -> Strand:
        cur = self.current
        if cur is None or getcurrent() is self.root:
            raise RuntimeError("not called from a running strand")
        return cur

    # ------------------------------------------------------------ queues

    def _enqueue(self, s: Strand, front: bool = False) -> bool:
        """Put ``s`` on its ready queue (``front``: first in line), its bit set and the top
        kept; True if the top rose. Charges nothing: its callers do."""
        s._state = READY
        p = s._priority
        if front:
            self.ready[p].appendleft(s)
        else:
            self.ready[p].append(s)
        self._nonempty |= 1 << p
        if p > self._top:
            self._top = p
            return True
        return False

    def _make_ready(self, s: Strand) -> None:
        self.loop.now += self._c_ready_top if self._enqueue(s) else self._c_ready

    def _requeue_current(self) -> None:
        cur = self.current
        if cur is not None and cur._state is RUNNING:
            self._make_ready(cur)

    def _unqueue(self, s: Strand) -> None:
        p = s._priority
        q = self.ready[p]
        q.remove(s)
        self.loop.now += self._c_unlink
        if not q:
            self._emptied(p)

    def _emptied(self, p: int) -> None:
        """Ready queue ``p`` became empty: clear its bit; the top is the highest bit left."""
        left = self._nonempty & ~(1 << p)
        self._nonempty = left
        self._top = left.bit_length() - 1
        self.loop.now += self._c_clear_search if left else self._c_clear

    def _pick(self) -> Strand | None:
        """Take the next strand to run off the ready queues (None: idle)."""
        t = self._top
        if t < 0:
            return None
        q = self.ready[t]
        s = q.popleft()
        if not q:
            self._emptied(t)
        self.loop.now += self._c_pick
        return s

    def _pick_at_least(self, prio: int) -> Strand | None:
        return self._pick() if self._top >= prio else None

    # ------------------------------------------------------------ switching

    def _switch(self, nxt: Strand | None, preempted: bool) -> None:
        """Give the processor from the current strand to ``nxt`` (None: the idle loop).

        Runs on the current strand's greenlet and returns when it runs again.
        """
        cur = self.current
        if cur is not None and cur._state is not DONE:
            cur._preempted = preempted
            # where the strand stands: a user-level thread package may run its threads
            # on greenlets of their own inside the strand
            cur._g = getcurrent()
            cur._held = self._suspend()
            ev = self.Checkpoint
            if len(ev.handlers) == 1:  # its intrinsic handler only: no extension code runs
                ev.raise_(cur)
            else:
                self._internal += 1
                try:
                    ev.raise_(cur)
                finally:
                    self._internal -= 1
            if cur._doomed and cur._state is BLOCKED:  # killed by its Checkpoint: it must run to end
                self._make_ready(cur)
            while nxt is not None and nxt._state is DONE:  # the strand picked was killed meanwhile
                nxt = self._pick()
        self.switches += 1
        if nxt is None:
            self.current = None
            if self.tracer is not None:
                self._trace_end(None)
            self.root.switch()
        else:
            self._enter(nxt)
            nxt._g.switch()
        # we run again: whoever switched to us made us current
        me = self.current
        if me is not None and (me._state is DONE or me._doomed):  # killed while it was away
            raise StrandExit()

    def _trace_end(self, nxt: Strand | None) -> None:
        """Close the trace span of the strand that had the processor; open ``nxt``'s."""
        t = self._traced
        now = self.loop.now
        if t is not None and self.tracer is not None and now > self._run_start:
            self.tracer.span(t._name, "strand", t._id, self._run_start, now)
        self._traced, self._run_start = nxt, now

    def _enter(self, s: Strand) -> None:
        """Make ``s`` the running strand: its address space, its state (Resume)."""
        if self.tracer is not None:
            self._trace_end(s)
        self.current = s
        s._state = RUNNING
        space = s._space
        self.loop.now += self._c_asid
        held = s._held
        if held is not None:
            s._held = None
            self._restore(held)
        b = s._budget
        if b is not None and not b.depth_cell.cell_contents:
            b.reset()
        if space is None:
            self.tlb.set_asid(0)
        else:
            tlb = self.tlb
            tlb.asid = space._asid
            tlb.view = space._view
        ev = self.Resume
        if len(ev.handlers) == 1:  # its intrinsic handler only: no extension code runs
            ev.raise_(s)
        else:
            self._internal += 1
            try:
                ev.raise_(s)
            finally:
                self._internal -= 1

    def preempt(self) -> None:
        """The timer interrupt: end the running strand's quantum (taken on its greenlet)."""
        cur = self.current
        self.m.timer.arm(self.quantum)
        if cur is None or getcurrent() is self.root:
            return
        b = cur._budget
        if b is not None and not b.depth_cell.cell_contents:
            b.reset()
        nxt = self._pick_at_least(cur._priority)
        if nxt is None:
            return
        self.preemptions += 1
        self._make_ready(cur)
        self._switch(nxt, True)

    def _suspend(self) -> list[tuple[Any, int, int]] | None:
        """Take the activations in progress on the running stack off it: each budget's
        (depth, ticks left), its depth then 0 (None: there were none). Budgets are per
        activation of a domain on one stack: another strand entering the domain starts an
        activation of its own, and this one continues where it stood (``_restore``)."""
        held = None
        for dc, b in self._depths:
            depth = dc.cell_contents
            if depth:
                if held is None:
                    held = []
                held.append((b, depth, b.cell.cell_contents))
                dc.cell_contents = 0
        return held

    def add_budget(self, b: Any) -> None:
        """A loaded domain's budget: its activations are suspended at switches."""
        if b not in self.budgets:
            self.budgets.append(b)
            self._depths.append((b.depth_cell, b))

    def remove_budget(self, b: Any) -> None:
        if b in self.budgets:
            self.budgets.remove(b)
            self._depths = [(dc, x) for dc, x in self._depths if x is not b]

    @staticmethod
    def _restore(held: list[tuple[Any, int, int]] | None) -> None:
        """Put back what ``_suspend`` took: the activations continue with what they had left."""
        if held is not None:
            for b, depth, left in held:
                b.depth_cell.cell_contents = depth
                b.cell.cell_contents = left

    def stop(self) -> None:
        """The run's time limit: hand the processor back to the idle loop, the running
        strand first in line when the run goes on."""
        cur = self.current
        if cur is None or getcurrent() is self.root:
            return
        self._enqueue(cur, front=True)  # the run's limit is the simulator's: nothing is charged
        self._switch(None, True)

    def _finish(self, s: Strand) -> None:
        """``s``'s function is over (on its own greenlet): clean up, wake joiners, switch away."""
        if s._id in self.strands:
            self._finish_bookkeeping(s)
        if self.current is s:
            nxt = self._pick()
            self.switches += 1
            if nxt is None:
                self.current = None
                if self.tracer is not None:
                    self._trace_end(None)
            else:
                self._enter(nxt)
                getcurrent().parent = nxt._g  # our greenlet ends by switching to the next strand

    def _finish_bookkeeping(self, s: Strand) -> None:
        s._state = DONE
        self.loop.now += self._c_destroy
        if self.tracer is not None:
            self.tracer.instant("end" if s._error is None else "killed", "strand", s._id, self.loop.now,
                                why=s._error or "returned")
        del self.strands[s._id]
        self._internal += 1
        try:
            for fn in self._on_exit:
                fn(s)
            for j in s._joiners:
                self.Unblock.raise_(j)
        finally:
            self._internal -= 1
        s._joiners.clear()

    # ------------------------------------------------------------ the idle loop

    def run(self, until: int | None = None) -> int:
        """Run strands until none is ready and nothing is pending (or the clock reaches
        ``until``). Called from the booting greenlet; returns the clock."""
        if getcurrent() is not self.root:
            raise RuntimeError("Scheduler.run() must be called from the greenlet that booted SPIN")
        loop = self.loop
        self.m.timer.arm(self.quantum)
        mine = self._suspend()  # (the boot code's own activations, if it runs inside one)
        try:
            while until is None or loop.now < until:
                nxt = self._pick()
                if nxt is None:
                    if not self.strands or not self._idle(until):
                        break
                    continue
                self.switches += 1
                self._enter(nxt)
                nxt._g.switch()
                self.current = None
        finally:
            self.m.timer.cancel()
            self._restore(mine)
        return loop.now

    def _idle(self, until: int | None) -> bool:
        """No strand is ready: skip to the next event (a wake-up). False: none will come."""
        loop = self.loop
        loop._reset_deadline()
        nxt = loop.deadline
        timer = self.m.timer.expires_at
        # only the scheduler's own timer is pending: nothing can ever wake a blocked strand
        if loop.pending() <= (1 if timer is not None else 0):
            return False
        if until is not None and nxt > until:
            loop.now = until
            return False
        return loop.skip_to_next()

    def statistics(self) -> SchedulerStats:
        ready = sum(len(q) for q in self.ready)
        blocked = sum(1 for s in self.strands.values() if s._state is BLOCKED)
        return SchedulerStats(self.created, len(self.strands), ready, blocked, self.switches,
                              self.preemptions, self.blocks, self.unblocks)
