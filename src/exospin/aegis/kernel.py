"""Aegis, the exokernel: secure multiplexing of the machine and nothing else.

What this models
    The kernel of Engler, Kaashoek and O'Toole (SOSP 1995), sections 3-5.
    It owns no abstraction: it tracks which environment owns which frame and
    time slice, checks authority once when a secure binding is made (a TLB
    entry), and hands every event straight to the environment it concerns:

    * a TLB miss is served from the software TLB when the binding is cached
      there, and otherwise upcalled to the environment's TLB-miss handler;
    * other exceptions save three scratch registers and jump to the
      environment's handler, which returns to the faulting code itself;
    * the processor is a vector of time slices, visited round-robin; the
      owner's prologue runs at the start of its slice and its epilogue at the
      timer interrupt, with a bound on how long it may take (overrun is
      charged as excess time and repeated overrun destroys it);
    * protected control transfer (synchronous and asynchronous) and
      directed yield move the processor between environments;
    * revocation is visible: the environment is asked to give frames back
      and chooses which; past a deadline the abort protocol takes them by
      force and records them in its repossession vector.

Why it is built this way
    Each environment is a greenlet (see env.py). The kernel runs on whichever
    greenlet trapped into it, like a real kernel running on the trapping
    process's kernel stack; a context switch is a greenlet switch, and the
    only places that switch are ``_transfer`` and ``run``: the choke point of
    control flow. Every path charges the primitives it performs, composed
    from the profile in ``_costs``; nothing is charged as a lump.

    What we simplified: one processor; no device interrupts other than the
    timer; protected entry points are Python callables registered by the
    callee rather than addresses; page tables of library OSes are Python
    structures whose walks the library OS charges as memory references.

Interface
    ``Aegis(machine)``; ``create_env(main, name, slices)``; ``run(until)``;
    ``revoke(env_id, nframes)`` (the kernel asking for frames back);
    ``destroy(env_id, reason)``; ``check_invariants()``; ``statistics()``;
    ``syscalls`` (the system-call surface, see syscalls.py).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from greenlet import getcurrent, greenlet

from ..machine import IRQ_TIMER, Exc, Machine
from . import param
from .caps import CapTable, Rights
from .env import Environment
from .errors import AegisError, BadEnvironment, BadSlice, EnvironmentKilled, ResourceExhausted
from .stlb import STLB

# Messages passed on greenlet switches between environments.
RESUME_SLICE = ("slice",)  # the start of one of your time slices
RESUME_DONATED = ("donated",)  # the rest of someone else's slice
PCT = "pct"  # ("pct", caller, fn, args, sync)
RET = "ret"  # ("ret", value): reply to a synchronous PCT
FAIL = "fail"  # ("fail", message): the callee died
STOP = ("stop",)  # to the root: run() returns

# The codes _exception tests on every exception, read once: an attribute of an Enum
# class goes through EnumType.__getattr__ in CPython 3.11, about two plain calls each.
_OV, _MOD = Exc.OV, Exc.MOD

_EXC_HANDLER = {
    Exc.MOD: "protection",
    Exc.ADEL: "address_error",
    Exc.ADES: "address_error",
    Exc.OV: "overflow",
}


@dataclass(frozen=True, slots=True)
class JournalEntry:
    cycles: int
    env: int
    kind: str
    text: str


@dataclass(frozen=True, slots=True)
class EnvStats:
    """One environment's accounting (kept after it is destroyed)."""

    id: int
    name: str
    frames: int
    slices: int
    slices_run: int
    slices_lost: int
    exceptions: int
    upcalls: int
    excess_cycles: int
    strikes: int
    frames_repossessed: int
    fate: str
    status: Any = None  # what its main returned, or passed to exit()


@dataclass(frozen=True, slots=True)
class AegisStats:
    envs: int
    envs_created: int
    envs_destroyed: int
    frames_total: int
    frames_owned: int
    frames_free: int
    caps_live: int
    slices_owned: int
    exceptions: int
    upcalls: int
    pct_sync: int
    pct_async: int
    yields: int
    context_switches: int
    revocations: int
    revocations_complied: int
    aborts: int
    frames_repossessed: int
    epilogue_overruns: int
    stlb_hits: int
    stlb_misses: int


class Costs:
    """Cycle costs of Aegis' paths, each composed from hardware primitives."""

    def __init__(self, m: Machine) -> None:
        p = m.profile
        # Trap into the kernel, decode Cause and jump through the system-call
        # table (one load), return. Aegis' non-stack system calls save nothing.
        self.syscall = p.trap_entry + 2 * p.insn + p.mem_ref + p.trap_return
        # A capability check: load the capability record, compare resource and rights.
        self.cap_check = p.mem_ref + 2 * p.insn
        # Secure binding: check, record the binding (one store), write the
        # TLB, insert into the STLB (tag and entry: two stores).
        self.tlb_write = self.cap_check + p.mem_ref + p.tlb_write + 2 * p.mem_ref
        # TLB refill from the STLB (the CPU charged trap_entry): hash the key
        # (three instructions), load tag and entry, write the TLB, return.
        self.stlb_hit = 3 * p.insn + 2 * p.mem_ref + p.tlb_write + p.trap_return
        # The STLB probe that missed.
        self.stlb_miss = 3 * p.insn + p.mem_ref
        # Dispatch an exception to the environment's handler (trap_entry was
        # charged by the CPU): decode Cause, save three scratch registers in
        # the save area, load the handler address, enter user mode there.
        self.exc_dispatch = 2 * p.insn + p.mem_ref + 3 * p.reg_save + p.mem_ref + p.trap_return
        # The handler returns to the faulting code itself: restore the three
        # registers and jump; no trip back through the kernel.
        self.exc_return = 3 * p.reg_restore + p.insn
        # A protected control transfer: the system-call entry, look up the
        # callee and its entry point (two loads), record the donated slice
        # (one store), load the callee's ASID into EntryHi (one instruction).
        self.pct = self.syscall + 3 * p.mem_ref + p.insn
        # Directed yield: look up the target (one load), donate (one store), switch ASID.
        self.yield_ = self.syscall + 2 * p.mem_ref + p.insn
        # A slice boundary after the timer interrupt (which the CPU charged):
        # read the slice vector, reprogram the timer (a device store), switch
        # ASID, return to user mode at the prologue.
        self.slice_switch = 2 * p.mem_ref + p.insn + p.trap_return
        # Frame allocation: owner table load and store, mint a capability
        # (one store); zero the frame (one store per word) so no data leaks.
        self.frame_alloc = self.syscall + 2 * p.mem_ref + p.mem_ref
        self.frame_zero = (p.page_size // p.word_bytes) * p.mem_ref
        self.frame_free = self.syscall + self.cap_check + 2 * p.mem_ref
        # Relinking the slice vector, per slot walked back from the slice allocated
        # or freed: load the slot's owner, store its successor link, test and step.
        self.relink = 2 * p.mem_ref + p.insn
        # Breaking one binding: probe the TLB, invalidate, clear the STLB slot.
        self.unbind = p.tlb_probe + p.tlb_write + p.mem_ref
        # Forgetting a destroyed environment's ASID in the TLB, as Unix does at exit: read
        # every entry (a probe's cost each), invalidate those of the ASID.
        self.tlb_flush_entry, self.tlb_flush_hit = p.tlb_probe, p.tlb_write
        # The STLB scrub: load and test each slot's tag, clear those of the ASIDs freed.
        self.stlb_scrub_slot, self.stlb_scrub_hit = p.mem_ref + p.insn, p.mem_ref
        self.upcall = self.exc_dispatch  # prologue/epilogue/revocation entry
        self.proc_call = p.proc_call


class Aegis:
    """The exokernel. Create one per machine, then ``create_env`` and ``run``.

    Its state is in slots, as in the machine's classes: the protected
    control transfer and exception paths read and write it on every
    operation, and a slot is cheaper to reach than an entry of an instance
    dict (the kernel has more attributes than CPython's shared-key instance
    dicts hold, so without slots every access would be a hashed dict lookup,
    and the interpreter could not specialise its method calls).
    """

    __slots__ = (
        "m", "loop", "cpu", "tlb", "memory", "tracer", "c", "words_per_frame", "page_shift",
        "quantum", "epilogue_bound", "_set_asid", "_c_pct", "_c_exc_dispatch", "_c_exc_return",
        "caps", "stlb", "frame_owner", "frame_bindings", "envs", "by_asid", "free_asids", "dirty_asids",
        "stlb_scrubs", "slices", "succ", "slice_pos",
        "current", "_root", "_next_id", "_run_start", "_slice_start", "journal", "deaths",
        "final_stats", "envs_created", "envs_destroyed", "exceptions", "upcalls", "n_pct_sync",
        "n_pct_async", "n_yields", "context_switches", "revocations", "revocations_complied",
        "aborts", "frames_repossessed", "epilogue_overruns", "syscalls", "_wake", "_refill_counts",
        "irq_handlers",
    )

    _refill_counts: Callable[[], tuple[int, int]]  # (hits, misses) of the refill path

    def __init__(self, machine: Machine) -> None:
        from .syscalls import Syscalls

        self.m = machine
        self.loop = machine.loop
        self.cpu = machine.cpu
        self.tlb = machine.tlb
        self.memory = machine.memory
        self.tracer = machine.tracer
        self.c = Costs(machine)
        p = machine.profile
        self.words_per_frame = p.page_size // p.word_bytes
        self.page_shift = p.page_size.bit_length() - 1
        self.quantum = p.cycles_for_us(param.SLICE_US)
        self.epilogue_bound = p.cycles_for_us(param.EPILOGUE_BOUND_US)
        self._set_asid = machine.tlb.set_asid
        self._c_pct = self.c.pct
        self._c_exc_dispatch = self.c.exc_dispatch + 3 * p.reg_save  # incl. the three saves
        self._c_exc_return = self.c.exc_return
        self.caps = CapTable()
        self.stlb = STLB(param.STLB_ENTRIES, machine.tlb.memory_words)
        nframes = p.memory_frames
        self.frame_owner: list[int] = [0] * nframes  # 0: free; else the owner's env id
        self.frame_bindings: list[dict[int, Any]] = [{} for _ in range(nframes)]
        self.envs: dict[int, Environment] = {}
        self.by_asid: dict[int, Environment] = {}
        # the ASIDs no environment holds and no STLB slot names, a heap: the lowest is
        # handed out first, in O(log n)
        self.free_asids: list[int] = list(range(1, 1 << machine.profile.asid_bits))
        # ASIDs of destroyed environments, which STLB slots may still name: they go back
        # to free_asids when the free ones run out, after one walk of the STLB clears
        # them all (_scrub_stlb)
        self.dirty_asids: list[int] = []
        self.stlb_scrubs = 0
        self.slices: list[Environment | None] = [None] * param.NSLICES
        # succ[i]: the next owned slice after slot i, cyclically (i itself if it is the only
        # one), -1 when none is owned. The kernel keeps these links as slices are allocated
        # and freed (rare), so that a slice switch reads one link instead of walking the
        # vector (every timer interrupt); update through _set_slice only.
        self.succ: list[int] = [-1] * param.NSLICES
        self.slice_pos = -1
        self.current: Environment | None = None
        # whom run() wakes when an environment's greenlet ends (set by _free_env)
        self._wake: tuple[Environment, Any] | None = None
        self._root = getcurrent()
        self._next_id = 1
        self._run_start = 0
        self._slice_start = 0
        self.journal: list[JournalEntry] = []
        self.deaths: dict[int, str] = {}
        self.final_stats: dict[int, EnvStats] = {}  # environments that have ended
        # counters
        self.envs_created = 0
        self.envs_destroyed = 0
        self.exceptions = 0
        self.upcalls = 0
        self.n_pct_sync = 0
        self.n_pct_async = 0
        self.n_yields = 0
        self.context_switches = 0
        self.revocations = 0
        self.revocations_complied = 0
        self.aborts = 0
        self.frames_repossessed = 0
        self.epilogue_overruns = 0
        #: device interrupts other than the timer's (a NIC's receive interrupt): irq -> handler
        self.irq_handlers: dict[int, Callable[[int], None]] = {}
        # install the vectors: the kernel now owns the machine
        self.cpu.install_vectors(self._make_refill(), self._exception, self._interrupt)
        self.cpu.kernel_mode = False
        self.syscalls = Syscalls(self)

    # ------------------------------------------------------------ journal

    def note(self, env: Environment | None, kind: str, text: str) -> None:
        """Record a notable kernel event (rare events only: not on hot paths)."""
        eid = env.id if env is not None else 0
        self.journal.append(JournalEntry(self.loop.now, eid, kind, text))
        if self.tracer is not None:
            self.tracer.instant(kind, "kernel", eid, self.loop.now, text=text)

    # ------------------------------------------------------- environments

    def create_env(
        self, main: Callable[..., Any], name: str = "", slices: int | list[int] = 1
    ) -> int:
        """Create an environment running ``main(syscalls)`` and give it time slices.

        ``slices`` is a count (the lowest free positions) or a list of positions.
        Returns the environment id.
        """
        if not callable(main):
            raise AegisError(f"main must be callable, not {type(main).__name__}")
        if len(self.envs) >= param.MAX_ENVS:
            raise ResourceExhausted(f"no environment left: {param.MAX_ENVS} exist")
        positions = self._pick_slices(slices)
        eid = self._next_id
        self._next_id += 1
        asid = self._alloc_asid()
        env = Environment(eid, name or f"env{eid}", asid, main, None)  # type: ignore[arg-type]
        env.g = env.base = greenlet(run=self._env_body, parent=self._root)
        env.tlb_view = self.tlb.view_of(asid)
        self.envs[eid] = env
        self.by_asid[asid] = env
        for pos in positions:
            self._give_slice(env, pos)
        self.envs_created += 1
        if self.tracer is not None:
            self.tracer.track(eid, f"env {eid}: {env.name}")
        self.note(env, "create", f"env {eid} ({env.name}) created with slices {positions}")
        return eid

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

    def _alloc_asid(self) -> int:
        """The lowest ASID no environment holds and no STLB slot names, from the heap of
        free ones; when it is empty, the ASIDs of destroyed environments are scrubbed
        from the STLB first, all in one walk."""
        if not self.free_asids and self.dirty_asids:
            self._scrub_stlb()
        if not self.free_asids:
            raise ResourceExhausted("no address-space identifier left")
        return heapq.heappop(self.free_asids)

    def _scrub_stlb(self) -> None:
        """Clear every STLB slot of every ASID freed since the last scrub, in one walk of
        the STLB (charged per slot), and make those ASIDs free again.

        A destroyed environment's bindings of its own frames went with the frames
        (``_unbind_frame``); what may be left are its bindings of frames others still
        own, which no one can use while its ASID is not handed out again. Walking the
        4,096-slot table at every destruction would cost more than most environments'
        lives (about 340 µs on the ds5000); a walk when the free ASIDs run out serves up
        to 63 destructions at once, as MIPS kernels recycle ASIDs by generation."""
        c = self.c
        n = self.stlb.flush_asids(self.dirty_asids)
        self.loop.now += self.stlb.entries * c.stlb_scrub_slot + n * c.stlb_scrub_hit
        for asid in self.dirty_asids:
            heapq.heappush(self.free_asids, asid)
        self.dirty_asids.clear()
        self.stlb_scrubs += 1

    def env_by_id(self, eid: int) -> Environment:
        env = self.envs.get(eid) if type(eid) is int else None
        if env is None or env.dying:
            raise BadEnvironment(f"no environment {eid!r}")
        return env

    # ----------------------------------------------------------- running

    def run(self, until: int | None = None) -> int:
        """Run environments until none can run (or the clock reaches ``until``).

        Returns the clock. May be called again to continue.
        """
        if getcurrent() is not self._root:
            raise RuntimeError("Aegis.run() must be called from the greenlet that created the kernel")
        stop_ev = self.loop.schedule(until, self._stop) if until is not None else None
        try:
            while True:
                nxt = self._next_slice()
                if nxt is None:
                    break
                env, q = nxt
                self.m.timer.arm(q)
                msg: Any = RESUME_SLICE
                while True:
                    if self._enter(env, msg) is STOP:
                        return self.loop.now
                    # An environment's greenlet ended (returned or raised) and
                    # control came back here; _reaped says whom to wake.
                    wake = self._wake
                    self._wake = None
                    if wake is None:
                        break
                    env, msg = wake
        finally:
            if stop_ev is not None:
                stop_ev.cancel()
        self.m.timer.cancel()
        self._close_run()
        return self.loop.now

    def _enter(self, env: Environment, msg: Any) -> Any:
        """From the root greenlet: run ``env``; return when control comes back to the root."""
        self._switch_bookkeeping(env)
        try:
            result = env.g.switch(msg)
        except EnvironmentKilled:
            self._reap(self.current, None)
            return None
        except Exception as exc:  # a library OS or application raised: it dies, we go on
            self._reap(self.current, exc)
            return None
        if result is STOP:
            return STOP
        # the greenlet returned normally: the environment exited
        self._reap(self.current, None, exited=result)
        return None

    def _stop(self) -> None:
        self.note(None, "stop", "run limit reached")
        if self.current is not None:
            self._transfer(None, STOP)

    def _next_slice(self) -> tuple[Environment, int] | None:
        """Advance the slice vector to the next owned slice; return (runner, quantum).
        One link read (``succ``) finds it, however many free slots lie between."""
        succ, slices = self.succ, self.slices
        pos = self.slice_pos
        while True:
            pos = succ[pos] if pos >= 0 else succ[-1]  # before the first switch: from slot 0
            if pos < 0:
                return None  # no slice is owned
            self.slice_pos = pos
            owner = slices[pos]
            assert owner is not None
            if owner.excess >= self.quantum:  # pays back overrun with a whole slice
                owner.excess -= self.quantum
                owner.slices_lost += 1
                self.note(owner, "excess", f"env {owner.id} loses slice {pos} to excess time")
                continue
            q = self.quantum - owner.excess
            owner.excess = 0
            owner.slices_run += 1
            self.loop.now += self.c.slice_switch
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

    def _upcall(self, env: Environment, kind: str, fn: Callable[..., Any], *args: Any) -> Any:
        loop = self.loop
        loop.now += self.c.upcall
        self.cpu.save_registers(env.save_area, 3)
        self.upcalls += 1
        env.upcalls += 1
        start = loop.now
        try:
            return fn(*args)
        finally:
            loop.now += self.c.exc_return
            if self.tracer is not None:
                self.tracer.span(kind, "upcall", env.id, start, loop.now)

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

    # --------------------------------------------------------- exceptions

    def _make_refill(self) -> Callable[[int, int, bool], int | None]:
        """Build the TLB-refill vector: the STLB, then guaranteed mappings, then the library OS.

        A closure over the STLB's arrays, inlined for performance: it runs
        on every TLB miss, and a hit in the STLB must cost little more than
        the hardware's own refill (the benchmark tlb_refill_stlb). The hit
        path is kept lean: the STLB miss is a second closure, since every
        call of a closure copies all the cells it closes over (CPython 3.11),
        and the ASID's term of the index is read from a table rather than
        multiplied out, which would allocate an int on every refill.
        """
        loop = self.loop
        tlb = self.tlb
        slots, mask = self.stlb.slots, self.stlb.mask
        # the CPU's trap entry plus the kernel's STLB hit path
        c_hit = self.m.profile.trap_entry + self.c.stlb_hit
        c_miss = self.m.profile.trap_entry + self.c.stlb_miss
        c_guaranteed = self.c.stlb_hit - self.c.stlb_miss
        hits = misses = 0
        # stlb_index()'s ASID term, asid * 0x9E5, for every ASID a key holds (8 bits)
        asid_mix = [asid * 0x9E5 for asid in range(256)]

        nwords = tlb.memory_words
        # for the upcall (stlb_miss): constants of the kernel's life
        c_exc_dispatch, c_exc_return = self._c_exc_dispatch, self._c_exc_return
        cpu = self.cpu

        def refill(vpn: int, vaddr: int, write: bool) -> int | None:
            nonlocal hits
            s = slots[(vpn ^ asid_mix[tlb.asid]) & mask]  # stlb_index(), inlined
            if s[3] == vpn:  # the tag: for one page, the index implies the ASID (stlb_index)
                hits += 1
                loop.now += c_hit
                return s[5]  # the entry as the TLB holds it: the CPU performs the closing tlbwr
            return stlb_miss(vpn << 8 | tlb.asid, vaddr, write)

        def stlb_miss(key: int, vaddr: int, write: bool) -> int | None:
            """The STLB missed: a guaranteed mapping, else upcall the library OS.

            The upcall is ``_dispatch(env, "tlb_miss", vaddr, write)`` written out,
            as ``_exception`` does for the common exceptions: it is the path of
            every STLB miss (the benchmark tlb_refill_upcall), and the generic
            one packs and unpacks ``*args`` and tests the kind for its messages.
            A missing handler or too deep a nesting still goes to ``_dispatch``,
            which counts the exception and kills with the reason.
            """
            nonlocal misses
            misses += 1
            loop.now += c_miss
            env = self.current
            assert env is not None
            g = env.guaranteed.get(key)
            if g is not None:
                loop.now += c_guaranteed
                return g[0] if g[1] else g[0] - nwords
            h = env.handlers.get("tlb_miss")
            if h is None or env.exc_depth >= param.MAX_EXC_NEST:
                self._dispatch(env, "tlb_miss", vaddr, write)  # kills, with the reason
                return None
            self.exceptions += 1
            env.exceptions += 1
            loop.now += c_exc_dispatch
            env.save_area[:3] = cpu.regs[:3]  # the three scratch registers the kernel clobbers
            env.exc_depth += 1
            start = loop.now
            try:
                h(vaddr, write)
            finally:
                env.exc_depth -= 1
                loop.now += c_exc_return
                if self.tracer is not None:
                    self.tracer.span("tlb_miss", "exception", env.id, start, loop.now)
            return None

        self._refill_counts = lambda: (hits, misses)
        return refill

    def _exception(self, code: Exc, vaddr: int, write: bool, value: int) -> Any:
        """General exception vector: straight to the environment's handler.

        The body of _dispatch, written out for the common exceptions: this
        is the path the exc_* benchmarks time.
        """
        env: Environment = self.current  # type: ignore[assignment]
        kind = _EXC_HANDLER.get(code)
        h = env.handlers.get(kind) if kind is not None else None
        if h is None or env.exc_depth >= param.MAX_EXC_NEST:
            if kind is None:
                self._kill_current(env, f"unexpected exception {code.name}")
            args = (value,) if kind == "overflow" else (vaddr,) if kind == "protection" else (vaddr, write, value)
            return self._dispatch(env, kind, *args)  # type: ignore[arg-type]  # kills, with the reason
        self.exceptions += 1
        env.exceptions += 1
        loop = self.loop
        loop.now += self._c_exc_dispatch
        env.save_area[:3] = self.cpu.regs[:3]  # the three scratch registers the kernel clobbers
        env.exc_depth += 1
        start = loop.now
        try:
            if code is _OV:
                return h(value)
            if code is _MOD:
                return h(vaddr)
            return h(vaddr, write, value)
        finally:
            env.exc_depth -= 1
            loop.now += self._c_exc_return
            if self.tracer is not None:
                self.tracer.span(kind, "exception", env.id, start, loop.now)  # type: ignore[arg-type]

    def _dispatch(self, env: Environment, kind: str, *args: Any) -> Any:
        """Save three registers, run the handler in user mode, let it return to the fault."""
        self.exceptions += 1
        env.exceptions += 1
        h = env.handlers.get(kind)
        if h is None:
            detail = f" at {args[0]:#x}" if kind in ("tlb_miss", "protection", "address_error") else ""
            self._kill_current(env, f"unhandled {kind} exception{detail}: no handler registered")
        if env.exc_depth >= param.MAX_EXC_NEST:
            self._kill_current(env, f"exceptions nested {env.exc_depth} deep in its handlers ({kind})")
        loop = self.loop
        loop.now += self._c_exc_dispatch
        env.save_area[:3] = self.cpu.regs[:3]  # the three scratch registers the kernel clobbers
        env.exc_depth += 1
        start = loop.now
        try:
            return h(*args)  # type: ignore[misc]
        finally:
            env.exc_depth -= 1
            loop.now += self._c_exc_return
            if self.tracer is not None:
                self.tracer.span(kind, "exception", env.id, start, loop.now)

    def _kill_current(self, env: Environment, why: str) -> None:
        self.deaths[env.id] = why
        env.dying = True
        raise EnvironmentKilled(env.id)

    # ---------------------------------------------------------- revocation

    def revoke(self, eid: int, nframes: int) -> None:
        """Ask environment ``eid`` to give back ``nframes`` frames (visible revocation).

        The request is delivered as a ``revoke`` upcall at the start of its
        next slice. If by the deadline it still holds more than it may keep,
        the abort protocol repossesses the difference.
        """
        env = self.env_by_id(eid)
        if type(nframes) is not int or nframes < 1:
            raise AegisError(f"nframes must be a positive int, not {nframes!r}")
        if env.revoke_target is not None:
            raise AegisError(f"env {eid} already has a revocation outstanding")
        self.revocations += 1
        env.revoke_target = max(0, len(env.frames) - nframes)
        occupied = sum(1 for o in self.slices if o is not None)
        deadline = self.loop.now + param.REVOKE_ROTATIONS * max(1, occupied) * self.quantum
        env.revoke_event = self.loop.schedule(deadline, self._revoke_deadline, env)
        self.note(env, "revoke", f"kernel asks env {eid} to return {nframes} frame(s)")
        self._deliver(env, "revoke", nframes)

    def _check_revocation_satisfied(self, env: Environment) -> bool:
        t = env.revoke_target
        if t is not None and len(env.frames) <= t:
            env.revoke_target = None
            env.revoke_event.cancel()
            env.revoke_event = None
            self.revocations_complied += 1
            self.note(env, "complied", f"env {env.id} gave back the frames it was asked for")
            return True
        return False

    def _revoke_deadline(self, env: Environment) -> None:
        """The deadline passed: take the frames by force (the abort protocol)."""
        env.revoke_event = None
        if env.dying or env.id not in self.envs or env.revoke_target is None:
            return
        target = env.revoke_target
        env.revoke_target = None
        victims = [p for p in reversed(env.frames) if p not in env.reserved]
        victims = victims[: max(0, len(env.frames) - target)]
        for pfn in victims:
            self._release_frame(pfn)
        env.repossession_vector.extend(victims)
        env.repossessed_total += len(victims)
        self.aborts += 1
        self.frames_repossessed += len(victims)
        self.note(env, "abort", f"env {env.id} ignored revocation: repossessed frames {victims}")
        self._deliver(env, "repossessed", list(victims))

    def _deliver(self, env: Environment, kind: str, arg: Any) -> None:
        """An upcall for ``env``: now if it is running (we are at a boundary), else at its next slice."""
        if env is self.current:
            h = env.handlers.get(kind)
            if h is not None:
                self._upcall(env, kind, h, arg)
        else:
            env.pending.append((kind, arg))

    # --------------------------------------------------- frames, bindings

    def _release_frame(self, pfn: int) -> None:
        """Break every binding of ``pfn``, kill its capabilities, free it."""
        owner = self.envs.get(self.frame_owner[pfn])
        if owner is not None:
            owner.frames.remove(pfn)
            owner.reserved.discard(pfn)
        self._unbind_frame(pfn)
        self.caps.revoke_all("frame", pfn)
        self.frame_owner[pfn] = 0

    def _unbind_frame(self, pfn: int) -> None:
        b = self.frame_bindings[pfn]
        for key in b:
            self.loop.now += self.c.unbind
            e = self.tlb.probe(key)
            if e is not None and e[2] == pfn:
                self.tlb.invalidate(key)
            self.stlb.remove(key, pfn)
            env = self.by_asid.get(key & 0xFF)
            if env is not None:
                g = env.guaranteed.get(key)
                if g is not None and g[2] == pfn:
                    del env.guaranteed[key]
        b.clear()

    # --------------------------------------------------------- destruction

    def destroy(self, eid: int, reason: str = "destroyed") -> None:
        """Destroy environment ``eid`` and return every resource it held."""
        env = self.env_by_id(eid)
        if env is self.current:
            self.deaths[eid] = reason
            env.dying = True
            raise EnvironmentKilled(eid)
        self.deaths.setdefault(eid, reason)
        env.dying = True
        base = env.base
        if base is not None and base and not base.dead:  # started and parked: unwind it now
            base.parent = getcurrent()  # the unwinding ends here, not in the root
            saved = self.current
            self.current = env
            while not base.dead:
                g = env.g if not env.g.dead else base
                try:
                    g.throw(EnvironmentKilled(eid))
                except EnvironmentKilled:
                    pass
            self.current = saved
            if saved is not None:
                self._set_asid(saved.asid)
        self._free_env(env)

    def _reap(self, env: Environment | None, exc: BaseException | None, exited: Any = None) -> None:
        """An environment's greenlet ended: free it and wake anyone waiting on it."""
        assert env is not None
        if exc is not None:
            self.deaths.setdefault(env.id, f"died: {type(exc).__name__}: {exc}")
        elif not env.dying:
            env.exit_status = exited
            self.deaths.setdefault(env.id, "exited" if exited is None else f"exited with status {exited!r}")
        self._free_env(env)

    def env_statistics(self, eid: int) -> EnvStats:
        """Accounting for environment ``eid``, live or ended."""
        env = self.envs.get(eid)
        if env is None:
            if eid in self.final_stats:
                return self.final_stats[eid]
            raise BadEnvironment(f"no environment {eid!r}")
        return EnvStats(
            env.id, env.name, len(env.frames), len(env.slices), env.slices_run, env.slices_lost,
            env.exceptions, env.upcalls, env.excess, env.strikes, env.repossessed_total,
            self.deaths.get(env.id, "running"), env.exit_status,
        )

    def _free_env(self, env: Environment) -> None:
        env.dying = True
        why = self.deaths.get(env.id, "destroyed")
        self.deaths.setdefault(env.id, why)
        self.final_stats[env.id] = self.env_statistics(env.id)
        for pfn in list(env.frames):
            self._release_frame(pfn)
        for pos in env.slices:
            self._set_slice(pos, None)
            self.caps.revoke_all("slice", pos)
        env.slices.clear()
        n_tlb = self.tlb.flush_asid(env.asid)
        self.loop.now += self.tlb.entries * self.c.tlb_flush_entry + n_tlb * self.c.tlb_flush_hit
        env.guaranteed.clear()
        env.entries = [None] * len(env.entries)
        env.handlers.clear()
        env.pending.clear()
        if env.revoke_event is not None:
            env.revoke_event.cancel()
            env.revoke_event = None
        env.revoke_target = None
        self.caps.revoke_all("env", env.id)
        del self.envs[env.id]
        del self.by_asid[env.asid]
        self.dirty_asids.append(env.asid)  # scrubbed from the STLB before it is handed out again
        self.envs_destroyed += 1
        self.note(env, "destroy", f"env {env.id} ({env.name}) {why}; all its resources returned")
        # Anyone blocked in a synchronous PCT to it gets an error and the processor.
        for other in self.envs.values():
            if other.donated_to is env:
                other.donated_to = None
                if self.current is env and self._wake is None:  # run() wakes one; others see it at their next slice
                    self._wake = (other, (FAIL, f"env {env.id} died during the call: {why}"))
                else:
                    other.pct_failure = f"env {env.id} died during the call: {why}"
        if self.current is env:
            self.current = None

    # ---------------------------------------------------------- invariants

    def check_invariants(self) -> list[str]:
        """Every invariant of docs/invariants.md that can be checked from kernel state."""
        bad: list[str] = []
        owned: dict[int, int] = {}
        for eid, env in self.envs.items():
            for pfn in env.frames:
                if pfn in owned:
                    bad.append(f"I2: frame {pfn} listed by env {owned[pfn]} and env {eid}")
                owned[pfn] = eid
                if self.frame_owner[pfn] != eid:
                    bad.append(f"I2: env {eid} lists frame {pfn}, owner table says {self.frame_owner[pfn]}")
            if not env.reserved <= set(env.frames):
                bad.append(f"I6: env {eid} reserves frames it does not own")
        for pfn, o in enumerate(self.frame_owner):
            if o and pfn not in owned:
                bad.append(f"I2: frame {pfn} owned by {o} in the table but by no environment")

        dirty = set(self.dirty_asids)

        def check_binding(where: str, key: int, e: Any) -> None:
            pfn = e[2]
            env = self.by_asid.get(key & 0xFF)
            if env is None:
                if where == "STLB" and key & 0xFF in dirty:
                    return  # a destroyed environment's, unreachable until the scrub clears it
                bad.append(f"I1: {where} entry for dead ASID {key & 0xFF}")
                return
            if not self.frame_owner[pfn]:
                bad.append(f"I1: {where} maps free frame {pfn} for env {env.id}")
                return
            cap = self.frame_bindings[pfn].get(key)
            if cap is None or not self.caps.genuine(cap) or cap.resource != pfn:
                bad.append(f"I1: {where} maps frame {pfn} for env {env.id} with no live capability")
                return
            if e[1] and not cap.rights & Rights.WRITE:
                bad.append(f"I1: {where} maps frame {pfn} writable for env {env.id} without WRITE")

        for key, e in self.tlb.entries_map.items():
            check_binding("TLB", key, e)
        for key, e in self.stlb.items():
            check_binding("STLB", key, e)
        for env in self.envs.values():
            for key, e in env.guaranteed.items():
                check_binding("guaranteed", key, e)
        for cap in self.caps.live:
            if cap.kind == "frame" and not self.frame_owner[cap.resource]:
                bad.append(f"I3: live capability for free frame {cap.resource}")
        for pos, holder in enumerate(self.slices):
            if holder is not None and (holder.id not in self.envs or pos not in holder.slices):
                bad.append(f"I4: slice {pos} owned by a dead or unaware environment")
        free = self.free_asids
        if sorted(free + self.dirty_asids + list(self.by_asid)) != list(range(1, 1 << self.m.profile.asid_bits)) or any(
            free[(i - 1) // 2] > free[i] for i in range(1, len(free))
        ):
            bad.append("I9: the free ASIDs (a heap), the dirty ones and the environments' ASIDs do not "
                       "partition the ASIDs")
        named = {key & 0xFF for key, _ in self.stlb.items()}
        if named & set(free):
            bad.append(f"I9: STLB slots name free ASIDs {sorted(named & set(free))}")
        n = len(self.slices)
        for i in range(n):  # the successor links, recomputed the slow way
            nxt = next((j % n for j in range(i + 1, i + n + 1) if self.slices[j % n] is not None), -1)
            if self.succ[i] != nxt:
                bad.append(f"I12: slot {i} links to slice {self.succ[i]}, the next owned one is {nxt}")
        return bad

    # ---------------------------------------------------------- statistics

    def statistics(self) -> AegisStats:
        owned = sum(1 for o in self.frame_owner if o)
        s = self.stlb.statistics(*self._refill_counts())
        return AegisStats(
            envs=len(self.envs), envs_created=self.envs_created, envs_destroyed=self.envs_destroyed,
            frames_total=len(self.frame_owner), frames_owned=owned,
            frames_free=len(self.frame_owner) - owned, caps_live=len(self.caps.live),
            slices_owned=sum(1 for o in self.slices if o is not None),
            exceptions=self.exceptions, upcalls=self.upcalls, pct_sync=self.n_pct_sync,
            pct_async=self.n_pct_async, yields=self.n_yields, context_switches=self.context_switches,
            revocations=self.revocations, revocations_complied=self.revocations_complied,
            aborts=self.aborts, frames_repossessed=self.frames_repossessed,
            epilogue_overruns=self.epilogue_overruns, stlb_hits=s.hits, stlb_misses=s.misses,
        )
