"""What if several environments issue random system calls, and the kernel revokes and destroys?

A Hypothesis state machine. Each environment runs a command loop: it waits
(yielding) until the test queues an operation for it, performs it, and
checks the kernel's invariants on the spot. Each rule queues one operation
for one environment and runs the machine until that environment has done
it; some rules act from outside instead (the kernel revoking frames, an
operator destroying an environment). Frames are drawn from a small pool so
environments fight over them; capabilities are derived, delegated to other
environments and used after their frame is gone.

After every step: ``check_invariants()`` is empty, every frame is free or
owned by exactly one live environment, nothing an environment did raised
anything but an ``AegisError``, a revocation left its environment with no
more than it was allowed at the deadline (or the environment complied), and
destroyed environments hold nothing. At the end: no leak.
"""

from __future__ import annotations

import contextlib
import signal
from collections import Counter
from collections.abc import Iterator
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from exospin.aegis import NSLICES, AegisError, BadCapability, Capability, Rights, Syscalls
from exospin.aegis.param import REVOKE_ROTATIONS
from exospin.systems import boot
from helpers import assert_no_leaks

POOL = list(range(100, 116))  # the frames environments fight over
SCRATCH = 1000  # each environment's private reserved frame is SCRATCH + its id
BASE = 0x0040_0000
PAGE = 4096
NPAGES = 3  # few pages, so bindings of one page collide
MAX_LIVE = 7
RIGHTS = [Rights.READ, Rights.READ | Rights.WRITE, Rights.READ | Rights.OWNER, Rights.ALL, Rights.WRITE]
IDLE_CYCLES = 2_000  # what an environment with nothing to do burns before yielding
PUMP_CYCLES = 20_000  # how long the machine runs after each step
WORK = [10, 20_000, 40_000]  # cycles a protected entry computes (a quantum is 12,500)

STEP_SECONDS = 5.0  # wall-clock time one step may take before the kernel is declared hung


class KernelHung(Exception):
    """A step ran for STEP_SECONDS of wall-clock time: a loop that never reaches a boundary."""


@contextlib.contextmanager
def watchdog() -> Iterator[None]:
    """Turn a hang into a failure Hypothesis can report (where SIGALRM exists)."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def expired(signum: int, frame: Any) -> None:
        raise KernelHung(f"a step took more than {STEP_SECONDS} s: the kernel hangs")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, STEP_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


env_index = st.integers(min_value=0, max_value=63)
cap_index = st.integers(min_value=0, max_value=63)
page = st.integers(min_value=0, max_value=NPAGES - 1)


class AegisUnderLoad(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.system = boot("aegis", "ds5000", seed=0)
        self.k = self.system.kernel
        self.queues: dict[int, list[Any]] = {}
        self.held: dict[int, list[Capability]] = {}  # capabilities each environment holds
        self.own: dict[int, list[Capability]] = {}  # ... of which it allocated itself
        self.children: dict[int, list[tuple[int, Capability]]] = {}
        self.problems: list[str] = []
        self.gone: set[int] = set()
        self.stats = Counter[str]()
        for _ in range(3):
            eid = self.k.create_env(self.driver(), "driver", 1)
            self.adopt(eid)

    # ------------------------------------------------------------ the environments

    def adopt(self, eid: int) -> None:
        self.queues.setdefault(eid, [])
        self.held.setdefault(eid, [])
        self.own.setdefault(eid, [])
        self.children.setdefault(eid, [])

    def driver(self):
        machine = self

        def main(sys: Syscalls) -> None:
            me = sys.env_id()
            machine.adopt(me)
            queue = machine.queues[me]
            pt: dict[int, tuple[Capability, bool]] = {}  # its page table: vaddr -> (cap, writable)
            scratch = sys.frame_alloc(SCRATCH + me)
            sys.frame_reserve(scratch)
            mine = []
            for i in range(3):  # start with a few frames from the contested pool, one mapped
                try:
                    mine.append(sys.frame_alloc(POOL[(3 * me + i) % len(POOL)]))
                    machine.got(me, mine[-1])
                except AegisError:
                    pass
            # (not held[me][0]: another environment may have handed this one a capability
            # of another kind before it first ran)
            if mine:
                sys.tlb_write(BASE, mine[0], True)
                pt[BASE] = (mine[0], True)

            def tlb_miss(vaddr: int, write: bool) -> None:
                vpage = vaddr & ~(PAGE - 1)
                try:
                    cap, writable = pt[vpage]
                    sys.tlb_write(vpage, cap, writable)
                except (KeyError, AegisError):  # unmapped, or its frame is gone: use the scratch frame
                    pt[vpage] = (scratch, True)
                    sys.tlb_write(vpage, scratch, True)

            sys.set_handler("tlb_miss", tlb_miss)
            sys.set_handler("protection", lambda vaddr: True)  # skip stores to read-only pages
            sys.set_handler("repossessed", lambda pfns: sys.repossession_vector())
            if me % 2 == 0:  # half the library OSes give frames back when asked
                sys.set_handler("revoke", lambda n: machine.give_back(sys, me, n))
            def entry(work: int) -> int:
                for _ in range(0, work, 1_000):  # in pieces: the timer can preempt the call
                    sys.cpu.compute(1_000)
                return sys.env_id()

            sys.pct_register(0, entry)
            def call_back(caller: int, work: int) -> int | None:
                try:
                    return sys.pct_sync(caller, 0, work)
                except AegisError:  # the caller died meanwhile, say
                    return None

            sys.pct_register(1, call_back)
            sys.pct_register(2, lambda: 1 // 0)  # the callee dies
            while True:
                if not queue:
                    sys.cpu.compute(IDLE_CYCLES)
                    sys.yield_()
                    continue
                op = queue.pop(0)
                try:
                    op(sys, me, pt)
                    machine.stats["done"] += 1
                except AegisError as e:
                    machine.stats[type(e).__name__] += 1
                except Exception as e:  # anything else is a bug in the kernel (or here)
                    machine.problems.append(f"env {me}: {type(e).__name__}: {e}")
                bad = machine.k.check_invariants()
                if bad:
                    machine.problems.append(f"after an operation of env {me}: {bad}")

        return main

    def got(self, eid: int, cap: Capability) -> None:
        self.held[eid].append(cap)
        self.own[eid].append(cap)

    def give_back(self, sys: Syscalls, me: int, n: int) -> None:
        """A cooperative revoke handler: free the ``n`` newest frames it allocated."""
        while n and self.own[me]:
            try:
                sys.frame_free(self.own[me].pop())
                n -= 1
            except AegisError:  # freed already, by us or by someone we lent it to
                pass

    def live(self) -> list[int]:
        return sorted(eid for eid in self.k.envs if eid in self.queues)

    def pick(self, i: int) -> int:
        live = self.live()
        return live[i % len(live)]

    def cap_of(self, eid: int, i: int) -> Capability | None:
        caps = self.held[eid]
        return caps[i % len(caps)] if caps else None

    def do(self, eid: int, op) -> None:
        """Queue ``op(sys, me, pt)`` for ``eid`` and run the machine for a while.

        Not necessarily until it is done: a long operation (a protected call
        whose entry runs for several slices) overlaps with the next ones.
        """
        self.queues[eid].append(op)
        self.run(PUMP_CYCLES)

    def run(self, cycles: int) -> None:
        with watchdog():
            self.k.run(self.k.loop.now + cycles)
        self.note_deaths()

    def note_deaths(self) -> None:
        for eid in list(self.queues):
            if eid not in self.k.envs and eid not in self.gone:
                self.gone.add(eid)

    # ------------------------------------------------------------ rules: system calls

    @rule(e=env_index, pfn=st.sampled_from(POOL))
    def frame_alloc(self, e: int, pfn: int) -> None:
        eid = self.pick(e)
        self.do(eid, lambda sys, me, pt: self.got(me, sys.frame_alloc(pfn)))

    @rule(e=env_index, c=cap_index)
    def frame_free(self, e: int, c: int) -> None:
        eid = self.pick(e)
        cap = self.cap_of(eid, c)
        if cap is not None:
            self.do(eid, lambda sys, me, pt: sys.frame_free(cap))

    @rule(e=env_index, c=cap_index, to=env_index)
    def frame_transfer(self, e: int, c: int, to: int) -> None:
        eid = self.pick(e)
        cap, taker = self.cap_of(eid, c), self.pick(to)
        if cap is not None:
            self.do(eid, lambda sys, me, pt: sys.frame_transfer(cap, taker))

    @rule(e=env_index, c=cap_index, rights=st.sampled_from(RIGHTS))
    def cap_derive(self, e: int, c: int, rights: Rights) -> None:
        eid = self.pick(e)
        cap = self.cap_of(eid, c)
        if cap is not None:
            self.do(eid, lambda sys, me, pt: self.held[me].append(sys.cap_derive(cap, rights)))

    @rule(e=env_index, c=cap_index, to=env_index)
    def delegate(self, e: int, c: int, to: int) -> None:
        # Passing a capability to another environment is just handing it over.
        giver, taker = self.pick(e), self.pick(to)
        cap = self.cap_of(giver, c)
        if cap is not None:
            self.held[taker].append(cap)

    @rule(e=env_index, c=cap_index, p=page, writable=st.booleans())
    def tlb_write(self, e: int, c: int, p: int, writable: bool) -> None:
        eid = self.pick(e)
        cap = self.cap_of(eid, c)
        if cap is None:
            return

        def op(sys: Syscalls, me: int, pt: dict) -> None:
            sys.tlb_write(BASE + p * PAGE, cap, writable)
            pt[BASE + p * PAGE] = (cap, writable)

        self.do(eid, op)

    @rule(e=env_index, c=cap_index, p=page, writable=st.booleans())
    def guarantee(self, e: int, c: int, p: int, writable: bool) -> None:
        eid = self.pick(e)
        cap = self.cap_of(eid, c)
        if cap is not None:
            self.do(eid, lambda sys, me, pt: sys.guarantee(BASE + p * PAGE, cap, writable))

    @rule(e=env_index, p=page, guarantee_first=st.booleans())
    def protect_page(self, e: int, p: int, guarantee_first: bool) -> None:
        # Appel-Li protect: bind the page writable with the capability it is
        # mapped with, then read-only with a derived READ capability, once by
        # tlb_write and once by guarantee (in either order).
        vaddr = BASE + p * PAGE

        def op(sys: Syscalls, me: int, pt: dict) -> None:
            if vaddr not in pt:
                return
            cap, _ = pt[vaddr]
            first, second = (sys.guarantee, sys.tlb_write) if guarantee_first else (sys.tlb_write, sys.guarantee)
            first(vaddr, cap, True)
            ro = sys.cap_derive(cap, Rights.READ)
            self.held[me].append(ro)
            second(vaddr, ro, False)
            pt[vaddr] = (ro, False) if second == sys.tlb_write else (cap, True)

        self.do(self.pick(e), op)

    @rule(e=env_index, p=page)
    def tlb_unmap(self, e: int, p: int) -> None:
        def op(sys: Syscalls, me: int, pt: dict) -> None:
            sys.tlb_unmap(BASE + p * PAGE)
            pt.pop(BASE + p * PAGE, None)

        self.do(self.pick(e), op)

    @rule(e=env_index, p=page, value=st.integers(min_value=0, max_value=2**32 - 1), offset=st.integers(0, 1023))
    def store_and_load(self, e: int, p: int, value: int, offset: int) -> None:
        vaddr = BASE + p * PAGE + 4 * offset

        def op(sys: Syscalls, me: int, pt: dict) -> None:
            sys.cpu.store(vaddr, value)
            sys.cpu.load(vaddr)

        self.do(self.pick(e), op)

    @rule(e=env_index, c=cap_index)
    def frame_reserve(self, e: int, c: int) -> None:
        eid = self.pick(e)
        cap = self.cap_of(eid, c)
        if cap is not None:
            self.do(eid, lambda sys, me, pt: sys.frame_reserve(cap))

    @rule(e=env_index, other=env_index)
    def directed_yield(self, e: int, other: int) -> None:
        to = self.pick(other)
        self.do(self.pick(e), lambda sys, me, pt: sys.yield_(to))

    @rule(e=env_index, other=env_index, entry=st.sampled_from([0, 0, 1, 1, 2]), sync=st.booleans(),
          work=st.sampled_from(WORK))
    def protected_call(self, e: int, other: int, entry: int, sync: bool, work: int) -> None:
        callee = self.pick(other)
        args = {0: (work,), 1: (None, work), 2: ()}[entry]

        def op(sys: Syscalls, me: int, pt: dict) -> None:
            a = (me, work) if entry == 1 else args
            if sync:
                reply = sys.pct_sync(callee, entry, *a)
                assert reply == (me if entry == 1 else callee), reply
            else:
                sys.pct_async(callee, entry, *a)

        self.do(self.pick(e), op)

    @rule(callee=env_index, work=st.sampled_from(WORK[1:]), chain=st.booleans(), last_dies=st.booleans())
    def crowd_calls(self, callee: int, work: int, chain: bool, last_dies: bool) -> None:
        # Several calls in flight at once: everyone calls one environment (and
        # perhaps the last call kills it), or each calls the next in a chain.
        live = self.live()
        if chain:
            pairs = [(a, b, 0) for a, b in zip(live, live[1:], strict=False)]
        else:
            target = self.pick(callee)
            callers = [e for e in live if e != target]
            pairs = [(a, target, 2 if last_dies and a == callers[-1] else 0) for a in callers]

        def call(to: int, entry: int):
            def op(sys: Syscalls, me: int, pt: dict) -> None:
                reply = sys.pct_sync(to, entry, work) if entry == 0 else sys.pct_sync(to, entry)
                assert reply == to, reply
            return op

        for a, b, entry in pairs:
            self.queues[a].append(call(b, entry))
        self.run(PUMP_CYCLES)

    @precondition(lambda self: any(e.donated_to is not None for e in self.k.envs.values()))
    @rule(e=env_index)
    def operator_destroys_a_waiting_caller(self, e: int) -> None:
        waiting = [eid for eid, env in sorted(self.k.envs.items()) if env.donated_to is not None]
        with watchdog():
            self.k.destroy(waiting[e % len(waiting)], "destroyed by the operator")
        self.note_deaths()

    @rule(e=env_index)
    def tlb_pressure(self, e: int) -> None:
        # The hardware TLB may lose any entry at any time (it is a cache):
        # the next misses are refilled from the STLB.
        self.k.tlb.flush_asid(self.k.envs[self.pick(e)].asid)

    @precondition(lambda self: len(self.live()) < MAX_LIVE)
    @rule(e=env_index, pos=st.integers(min_value=0, max_value=NSLICES - 1))
    def spawn_child(self, e: int, pos: int) -> None:
        def op(sys: Syscalls, me: int, pt: dict) -> None:
            eid, cap = sys.env_create(self.driver(), "child")
            self.adopt(eid)
            self.children[me].append((eid, cap))
            self.held[me].append(cap)
            for i in range(NSLICES):  # the first free slice from pos on
                try:
                    sys.slice_alloc((pos + i) % NSLICES, cap)
                    return
                except AegisError:
                    continue

        self.do(self.pick(e), op)

    @rule(e=env_index, c=cap_index)
    def env_destroy(self, e: int, c: int) -> None:
        eid = self.pick(e)
        if self.children[eid]:
            _, cap = self.children[eid][c % len(self.children[eid])]
            self.do(eid, lambda sys, me, pt: sys.env_destroy(cap))

    @rule(e=env_index, c=cap_index)
    def use_a_forged_capability(self, e: int, c: int) -> None:
        forged = Capability("frame", POOL[c % len(POOL)], Rights.ALL)

        def op(sys: Syscalls, me: int, pt: dict) -> None:
            try:
                sys.tlb_write(BASE, forged, True)
            except BadCapability:
                return
            raise AssertionError("a forged capability was accepted")

        self.do(self.pick(e), op)

    # ------------------------------------------------------------ rules: from outside

    @rule(e=env_index, n=st.integers(min_value=1, max_value=4))
    def kernel_revokes(self, e: int, n: int) -> None:
        eid = self.pick(e)
        k = self.k
        env = k.envs[eid]
        if env.revoke_target is not None:
            return  # one revocation at a time
        held = k.env_statistics(eid).frames
        k.revoke(eid, n)
        target = max(0, held - n)
        asked = k.loop.now
        deadline = env.revoke_event.time

        def at_deadline() -> None:  # scheduled after the kernel's own deadline event
            env = k.envs.get(eid)
            if env is None:
                return  # destroyed: everything went back anyway
            if any(j.kind == "complied" and j.env == eid and j.cycles >= asked for j in k.journal):
                return
            allowed = max(target, len(env.reserved))
            if len(env.frames) > allowed:
                self.problems.append(f"env {eid} holds {len(env.frames)} frames after the deadline, allowed {allowed}")

        k.loop.schedule(deadline, at_deadline)
        self.stats["revocations"] += 1

    @rule()
    def time_passes(self) -> None:
        # Long enough for every outstanding revocation deadline to pass.
        occupied = self.k.statistics().slices_owned
        self.run((REVOKE_ROTATIONS + 1) * max(1, occupied) * self.k.quantum)

    @precondition(lambda self: len(self.live()) > 2)
    @rule(e=env_index)
    def operator_destroys(self, e: int) -> None:
        eid = self.pick(e)
        with watchdog():
            self.k.destroy(eid, "destroyed by the operator")
        self.note_deaths()

    # ------------------------------------------------------------ invariants

    @invariant()
    def nothing_went_wrong_inside(self) -> None:
        assert self.problems == []

    @invariant()
    def kernel_invariants_hold(self) -> None:
        assert self.k.check_invariants() == []

    @invariant()
    def every_frame_is_free_or_owned_by_exactly_one_environment(self) -> None:
        k = self.k
        listed = Counter(p for env in k.envs.values() for p in env.frames)
        assert all(n == 1 for n in listed.values()), listed.most_common(3)
        for pfn, owner in enumerate(k.frame_owner):
            if owner:
                assert owner in k.envs and listed[pfn] == 1, (pfn, owner)
            else:
                assert listed[pfn] == 0, pfn

    @invariant()
    def environments_die_only_of_expected_causes(self) -> None:
        # The operator, a parent, a callee dividing by zero (entry 2). Anything
        # else (an assertion or a KeyError inside the kernel, say) is a kernel bug.
        expected = ("destroyed by ", "died: ZeroDivisionError: ")
        odd = {eid: why for eid, why in self.k.deaths.items() if not why.startswith(expected)}
        assert odd == {}

    @invariant()
    def destroyed_environments_hold_nothing(self) -> None:
        k = self.k
        for eid in self.gone:
            assert eid not in k.envs
            assert eid not in k.frame_owner
            assert all(o is None or o.id != eid for o in k.slices)

    def teardown(self) -> None:
        with watchdog():
            assert_no_leaks(self.system)


AegisUnderLoad.TestCase.settings = settings(
    max_examples=80, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_what_if_environments_issue_random_system_calls = AegisUnderLoad.TestCase
