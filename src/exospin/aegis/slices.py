"""The slice vector, the timer, protected control transfer and yield: who has the processor.

What this models
    Engler et al., section 5 (processor time slices, protected control
    transfers): the processor is a vector of time slices that the kernel
    visits round-robin; an environment owns the slices it allocated. At the
    start of one of its slices its prologue runs, at the timer interrupt its
    epilogue, with a bound on how long that may take: overrun is charged as
    excess time, paid back with whole slices, and repeated overrun destroys
    the environment. Directed yield donates the rest of a slice; a
    synchronous protected control transfer donates it until the callee
    replies, an asynchronous one for good.

Why it is built this way
    ``_transfer`` is the choke point of control flow: with ``run``
    (lifecycle.py) it is the only code that moves the processor between
    environments (a greenlet switch), and the callee's side of a protected
    control transfer is served inside it, on the callee's own stack; the
    switch is written out inline because a round trip passes through it
    twice. The slice vector keeps a successor link per slot (``succ``), so a
    slice switch reads one link instead of walking free slots; the links
    change only when slices are allocated or freed (``_set_slice``), charged
    per slot walked.

Interface (to the other layers and syscalls.py)
    ``_pick_slices``, ``_set_slice``, ``_give_slice``; ``_next_slice``,
    ``_effective``, ``_transfer(target, msg)``, ``_switch_to_next_slice()``;
    ``_env_body`` (the bottom of every environment's greenlet);
    ``_interrupt`` (the CPU's interrupt vector).
"""

from __future__ import annotations

from typing import Any

from ..machine import IRQ_TIMER
from . import param
from .caps import Rights
from .env import Environment
from .errors import BadSlice, EnvironmentKilled, ResourceExhausted
from .messages import PCT, RESUME_DONATED, RESUME_SLICE, RET, STOP
from .revocation import Revocation


class Slices(Revocation):
    """The slice vector, the timer and the transfers of the processor (see the module note)."""

    __slots__ = ()

    def _pick_slices(self, slices: int | list[int]) -> list[int]:
        if isinstance(slices, int):
            if slices < 0:
                raise ResourceExhausted(f"asked for {slices} time slices, "
                                        f"{sum(o is None for o in self.slices)} free")
            free: list[int] = []
            if slices:  # the lowest free positions: walk only until there are enough
                for i, o in enumerate(self.slices):
                    if o is None:
                        free.append(i)
                        if len(free) == slices:
                            return free
                raise ResourceExhausted(f"asked for {slices} time slices, {len(free)} free")
            return free
        for i, pos in enumerate(slices):
            if type(pos) is not int or not (0 <= pos < param.NSLICES) or self.slices[pos] is not None or pos in slices[:i]:
                raise BadSlice(f"time slice {pos!r} is out of range, taken, or listed twice")
        return list(slices)

    def _set_slice(self, pos: int, owner: Environment | None) -> int:
        """Record ``owner`` (None: free) for slice ``pos`` and relink the successors;
        returns how many slots it walked (``Costs.relink`` each).

        Only the links of ``pos``'s predecessors change, back to the previous owned
        slot (that one included): the kernel walks back from ``pos``, reading each
        slot's owner and rewriting its link, and stops there. If no other slot is
        owned the walk goes round the whole ring (every link then names ``pos``, or
        none)."""
        slices, succ = self.slices, self.succ
        was = slices[pos] is not None
        slices[pos] = owner
        if was == (owner is not None):
            return 0  # owned before and after (or free): no link changes
        if owner is not None:
            new = pos
        else:  # the slots that led to pos now lead where pos led; nowhere if pos was the last
            new = succ[pos] if succ[pos] != pos else -1
        last = len(slices) - 1
        i = pos
        walked = 0
        while True:
            i = i - 1 if i else last
            walked += 1
            succ[i] = new
            if i == pos or slices[i] is not None:
                return walked

    def _give_slice(self, env: Environment, pos: int) -> None:
        self._set_slice(pos, env)
        env.slices.append(pos)
        self.caps.mint("slice", pos, Rights.ALL)

    # --------------------------------------------------- the slice vector

    def _next_slice(self) -> tuple[Environment, int] | None:
        """Advance the slice vector to the next owned slice; return (runner, quantum).
        One link read (``succ``) finds it, however many free slots lie between."""
        succ, slices = self.succ, self.slices
        pos = self.slice_pos
        first_asleep = -1
        while True:
            pos = succ[pos] if pos >= 0 else succ[-1]  # before the first switch: from slot 0
            if pos < 0 or pos == first_asleep:
                return None  # no slice is owned (or every owner sleeps)
            self.slice_pos = pos
            owner = slices[pos]
            assert owner is not None
            if owner.asleep:  # waits for a packet (netcalls.sleep): its slice passes
                if first_asleep < 0:
                    first_asleep = pos
                continue
            if owner.excess >= self.quantum:  # pays back overrun with a whole slice
                owner.excess -= self.quantum
                owner.slices_lost += 1
                self.note(owner, "excess", f"env {owner.id} loses slice {pos} to excess time")
                continue
            q = self.quantum - owner.excess
            owner.excess = 0
            owner.slices_run += 1
            self.loop.now += self.c.slice_switch
            if self._touch is not None:
                self._touch(self.fp.slice_switch, self.fp.env(owner.id))
            self._slice_start = self.loop.now
            return self._effective(owner), q

    @staticmethod
    def _effective(env: Environment) -> Environment:
        """Who runs in ``env``'s time: follow synchronous-PCT donations."""
        while env.donated_to is not None:
            env = env.donated_to
        return env

    def _switch_bookkeeping(self, target: Environment) -> None:
        """Make ``target`` the running environment (the root's side of a switch)."""
        if self.tracer is not None:
            self._trace_run_end()
        self.current = target
        self._set_asid(target.asid)
        self.context_switches += 1

    def _trace_run_end(self) -> None:
        prev = self.current
        now = self.loop.now
        if self.tracer is not None and prev is not None and now > self._run_start:
            self.tracer.span(f"slice {self.slice_pos}", "cpu", prev.id, self._run_start, now)
        self._run_start = now

    def _close_run(self) -> None:
        if self.tracer is not None:
            self._trace_run_end()

    # ----------------------------------------- transfers of the processor

    def _transfer(self, target: Environment | None, msg: Any) -> Any:
        """Switch the processor from the current environment to ``target``.

        Returns the message that resumes the caller: RESUME_SLICE,
        RESUME_DONATED, or a (RET|FAIL, value) reply. Protected calls into
        the caller that arrive meanwhile are served here, on its own stack.
        A ``target`` of None hands the processor back to ``run()``'s caller.

        This and ``run`` are the only places the processor changes hands;
        the switch and the PCT service are written out inline because a
        protected control transfer is two passes through here.
        """
        me: Environment = self.current  # type: ignore[assignment]
        tracer = self.tracer
        tlb = self.tlb
        while True:
            if me.dying:
                raise EnvironmentKilled(me.id)
            if target is None:
                self._close_run()
                self.current = None
                msg = self._root.switch(STOP)
            elif target is not me:
                if tracer is not None:
                    self._trace_run_end()
                self.current = target
                # load EntryHi.ASID (TLB.set_asid, inlined: twice per PCT round trip)
                tlb.asid = target.asid
                tlb.view = target.tlb_view
                self.context_switches += 1
                msg = target.g.switch(msg)
            # We run again; whoever switched to us made us current.
            if type(msg) is tuple and msg[0] is PCT:
                _, caller, fn, args, sync = msg
                if tracer is not None:
                    tracer.instant("pct-entry", "pct", me.id, self.loop.now, caller=caller.id, sync=sync)
                # A call back from the environment we wait for: we run now, so our
                # slices are ours until it is served (else _effective would cycle).
                waiting = me.donated_to
                me.donated_to = None
                try:
                    result = fn(*args)
                except Exception as exc:  # the entry failed: the callee dies here, not in the code it interrupted
                    self._kill_current(me, f"died: {type(exc).__name__}: {exc}")
                if waiting is not None:
                    if waiting.dying:
                        me.pct_failure = f"env {waiting.id} died during the call: {self.deaths.get(waiting.id)}"
                    else:
                        me.donated_to = waiting
                if sync and not caller.dying:  # the reply is a protected control transfer back
                    self.loop.now += self._c_pct
                    target, msg = caller, (RET, result)
                else:  # asynchronous, or the caller died: we keep the rest of the slice (or our callee does)
                    target, msg = self._effective(me), RESUME_DONATED
                continue
            if msg is RESUME_SLICE:
                self._on_slice_start(me)
            return msg

    def _env_body(self, msg: Any) -> Any:
        """The bottom of every environment's greenlet."""
        me = self.current
        assert me is not None
        if type(msg) is tuple and msg[0] is PCT:  # called before it ever ran: serve, then wait
            msg = self._transfer(me, msg)
        elif msg is RESUME_SLICE:
            self._on_slice_start(me)
        return me.main(self.syscalls)

    def _on_slice_start(self, me: Environment) -> None:
        """Upcalls due at the start of one of ``me``'s slices: prologue, then pending ones."""
        pro = me.handlers.get("prologue")
        if pro is not None:
            self._upcall(me, "prologue", pro)
        while me.pending:
            kind, arg = me.pending.pop(0)
            h = me.handlers.get(kind)
            if h is not None:
                self._upcall(me, kind, h, arg)

    # --------------------------------------------------- slices and timer

    def _interrupt(self, irq: int) -> None:
        if irq == IRQ_TIMER:
            self._slice_end()
            return
        h = self.irq_handlers.get(irq)
        if h is not None:
            h(irq)

    def _slice_end(self) -> None:
        """The timer fired: the running environment's epilogue, then the next slice."""
        env = self.current
        if env is None:  # idle in the root: nothing to preempt
            return
        self._check_revocation_satisfied(env)
        epi = env.handlers.get("epilogue")
        if epi is not None:
            t0 = self.loop.now
            env.in_epilogue = True
            env.epilogue_preempted = False
            guard = self.loop.schedule(t0 + self.epilogue_bound, self._epilogue_overrun, env)
            try:
                self._upcall(env, "epilogue", epi)
            finally:
                env.in_epilogue = False
                guard.cancel()
            if env.epilogue_preempted:
                return  # already descheduled by force; we are in a new slice now
            env.strikes = 0
        self._switch_to_next_slice()

    def _epilogue_overrun(self, env: Environment) -> None:
        """An epilogue ran past its bound: charge it, deschedule it, maybe destroy it."""
        if not env.in_epilogue or env.dying:
            return
        self.epilogue_overruns += 1
        env.strikes += 1
        env.excess += self.epilogue_bound
        self.note(env, "overrun", f"env {env.id} epilogue overran its bound (strike {env.strikes})")
        if env.strikes >= param.MAX_STRIKES:
            self.deaths[env.id] = f"destroyed: epilogue overran {env.strikes} times"
            env.dying = True
            raise EnvironmentKilled(env.id)
        env.epilogue_preempted = True
        if self.current is env:
            self._switch_to_next_slice()

    def _switch_to_next_slice(self) -> None:
        """End the current slice now and give the processor to the next slice's runner."""
        nxt = self._next_slice()
        if nxt is None:  # nobody owns a slice: the run is over
            self._transfer(None, STOP)
            return
        env, q = nxt
        self.m.timer.arm(q)
        me = self.current
        if env is me:
            assert me is not None
            self._on_slice_start(me)
            return
        msg = self._transfer(env, RESUME_SLICE)
        # We were resumed: a slice start (prologue done in _transfer), or
        # a donation; nothing else can wake a context parked here.
        assert msg is RESUME_SLICE or msg is RESUME_DONATED, msg
