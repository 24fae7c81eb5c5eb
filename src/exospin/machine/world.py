"""The world: several machines, each on its own clock, on one deterministic schedule.

What this models
    A network of workstations. Each machine keeps its own processor, memory,
    kernel and clock in its own cycles (machines of different profiles may
    share a link); what crosses between them (a frame on a link) is ordered
    here, in picoseconds, the unit every machine's time converts to.

Why it is built this way
    Conservative synchronisation (Chandy & Misra, 1979): a frame a machine
    starts to send at time t cannot finish arriving before t + L, where L,
    the *lookahead*, is the shortest frame's wire time plus propagation
    (link.py). So a machine may run on alone up to L past the earliest time
    any other machine could next act, and no frame can reach it in its
    past. The world runs, each time, the machine furthest behind (ties by
    machine index), gives it the frames due to it before its horizon (in
    order of arrival time, sending machine, sending order: one total order,
    so the same seed gives the same run bit for bit) and lets it run to the
    horizon. A machine that is idle (its kernel has nothing to run) only
    counts from its next event or the next frame due to it.

    Each machine's kernel runs in a greenlet of its own, created here; its
    kernel is built inside it (``boot``), because the kernels take the
    greenlet that builds them for the root their environments return to.
    The horizon is an event on the machine's own heap that switches back to
    the world: the kernels do not know they share the processor of the
    simulator, and a single machine outside a world runs exactly as before.
    Like every event, the horizon is taken at the machine's next boundary
    (cpu.py), so a long charge may overshoot it: a frame due in the overshoot
    is then delivered at that boundary, as the timer's interrupt would be.

Interface
    ``World(seed=0)``; ``machine(profile, tracer=None) -> Machine`` (seeded
    from the world's seed); ``boot(machine, build, run)`` builds a system
    in the machine's greenlet and names its run function; ``wake(machine)``
    after giving an idle machine work from outside; ``run(until_ps)``
    -> ps (an exception in a machine ends it, and the world: a later run
    raises RuntimeError; ``failed`` says why); ``post(...)`` (used by links); ``ps(machine)``, ``us(ps)``;
    ``statistics()``.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from greenlet import getcurrent, greenlet

from .events import INFINITY, Scheduled
from .link import PS_PER_S, Link
from .machine import Machine
from .profiles import Profile
from .trace import Tracer

T = TypeVar("T")
NEVER = 1 << 80  # ps: later than any time a run can reach

_READY, _BUSY, _IDLE, _DONE = "ready", "busy", "idle", "done"


@dataclass(frozen=True, slots=True)
class WorldStats:
    machines: int
    links: int
    lookahead_ps: int
    resumes: int  # times a machine was given the processor of the simulator
    frames_posted: int
    frames_delivered: int
    in_flight: int


class _Node:
    __slots__ = ("index", "machine", "hz", "g", "here", "state", "run", "system", "until", "inbox", "next_local",
                 "sync")

    def __init__(self, index: int, machine: Machine) -> None:
        self.index = index
        self.machine = machine
        self.hz = machine.profile.clock_hz
        self.g: Any = None  # the machine's greenlet: its kernel's root
        self.here: Any = None  # where it gave the simulator back (its root, or an environment's)
        self.state = _READY
        self.run: Callable[[Any, int | None], int] | None = None
        self.system: Any = None
        self.until: int | None = None  # cycles
        #: frames due to this machine: (arrival ps, sender index, sequence, fn, args)
        self.inbox: list[tuple[int, int, int, Callable[..., Any], tuple[Any, ...]]] = []
        self.next_local = NEVER  # ps of its next own event, when idle
        self.sync: Scheduled | None = None

    def ps(self, cycles: int) -> int:
        return cycles * PS_PER_S // self.hz

    def floor_cycles(self, ps: int) -> int:
        return ps * self.hz // PS_PER_S

    def ceil_cycles(self, ps: int) -> int:
        return -(-ps * self.hz // PS_PER_S)


class World:
    """Machines on links, run in one deterministic order."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self._nodes: list[_Node] = []
        self.links: list[Link] = []
        self.lookahead_ps = NEVER
        self._seq = 0
        self._coord: Any = None
        self.resumes = 0
        self.frames_posted = 0
        self.frames_delivered = 0
        self._failed: str | None = None  # why a machine's greenlet ended, if one did

    @property
    def machines(self) -> list[Machine]:
        return [n.machine for n in self._nodes]

    def machine(self, profile: Profile | str = "ds5000", tracer: Tracer | None = None) -> Machine:
        """A new machine in this world, its seed drawn from the world's."""
        m = Machine(profile, seed=self.rng.getrandbits(32), tracer=tracer)
        m.world = self
        m.index = len(self._nodes)
        self._nodes.append(_Node(m.index, m))
        return m

    def add_link(self, link: Link) -> None:
        self.links.append(link)
        self.lookahead_ps = min(self.lookahead_ps, link.spec.lookahead_ps())

    def _node(self, machine: Machine) -> _Node:
        if machine.world is not self:
            raise ValueError("that machine is not in this world")
        return self._nodes[machine.index]

    def boot(self, machine: Machine, build: Callable[[], T], run: Callable[[T, int | None], int]) -> T:
        """Build a system on ``machine`` inside its own greenlet (``build()``), and name how it
        runs: ``run(system, until_cycles)`` runs its kernel until nothing can run or the clock
        reaches ``until_cycles``, returning the clock. Returns what ``build`` returned."""
        node = self._node(machine)
        if node.g is not None:
            raise ValueError(f"machine {node.index} is booted already")

        def body() -> None:
            node.system = build()
            self._coord.switch()
            while True:
                self._drive(node)

        node.run = run  # type: ignore[assignment]
        node.g = node.here = greenlet(body)
        self._coord = getcurrent()
        node.g.switch()
        return node.system  # type: ignore[no-any-return]

    def wake(self, machine: Machine) -> None:
        """``machine`` may have work its kernel has not seen (a process started between two
        runs): an idle machine looks again, from where its clock stands, at the next run."""
        node = self._node(machine)
        if node.state is _IDLE:
            node.next_local = min(node.next_local, node.ps(machine.loop.now))

    # ----------------------------------------------------------- the links' side

    def post(self, dst: Machine, src: Machine, at_ps: int, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on ``dst`` at ``at_ps`` (a frame's arrival, sent by ``src``)."""
        self._seq += 1
        self.frames_posted += 1
        heapq.heappush(self._node(dst).inbox, (at_ps, src.index, self._seq, fn, args))
        # the receiver may act (answer) from ``at_ps`` on: the sender, running now, must not
        # run past ``at_ps`` plus the lookahead, so its horizon is brought in (without this a
        # sender whose horizon was NEVER, every other machine idle, would idle on to its own
        # next event, a time-out, before the answer could reach it)
        node = self._node(src)
        limit = node.floor_cycles(at_ps + self.lookahead_ps)
        sync, loop = node.sync, src.loop
        if sync is None or sync.cancelled or sync.time > limit:
            if sync is not None and not sync.cancelled:
                sync.cancel()
            else:
                loop.background += 1
            node.sync = loop.schedule(limit, self._sync, node)

    # ------------------------------------------------------------------ running

    def ps(self, machine: Machine) -> int:
        """``machine``'s clock in picoseconds."""
        return self._node(machine).ps(machine.loop.now)

    @staticmethod
    def us(ps: int) -> float:
        return ps / 1e6

    def _effective(self, n: _Node) -> int:
        """The earliest time ``n`` may next act (and so send), in ps."""
        st = n.state
        if st is _DONE:
            return NEVER
        if st is _IDLE:
            t = n.next_local
            if n.inbox and n.inbox[0][0] < t:
                t = n.inbox[0][0]
            return t
        return n.ps(n.machine.loop.now)

    @property
    def failed(self) -> str | None:
        """Why a machine's greenlet ended on an exception (the world cannot run on), or None."""
        return self._failed

    def run(self, until_ps: int | None = None) -> int:
        """Run every machine until none can do anything more (or every clock reaches
        ``until_ps``); returns the latest clock, in ps. May be called again to go on."""
        if any(getcurrent() is n.g for n in self._nodes):
            raise RuntimeError("World.run() cannot be called from inside a machine")
        if self._failed is not None:
            raise RuntimeError(f"this world cannot run on: {self._failed}")
        unbooted = [n.index for n in self._nodes if n.g is None]
        if unbooted:
            raise RuntimeError(f"machines {unbooted} have no system booted")
        self._coord = getcurrent()
        limit = NEVER if until_ps is None else until_ps
        for n in self._nodes:
            n.g.parent = self._coord  # an exception in a machine ends run() here
            n.until = None if until_ps is None else n.floor_cycles(until_ps)
            if n.state is _DONE:
                n.state = _READY
        nodes = self._nodes
        lookahead = self.lookahead_ps
        while True:
            best: _Node | None = None
            best_t = limit
            for n in nodes:
                t = self._effective(n)
                if t < best_t:
                    best, best_t = n, t
            if best is None:
                break
            # another machine may act at its own next time, or when a frame ``best`` sends
            # now wakes it (L after best_t, however idle it is): the horizon is L past the
            # earliest of those, so a reply to that frame is never in best's past
            horizon = limit
            for n in nodes:
                if n is not best:
                    t = self._effective(n) + lookahead
                    if t < horizon:
                        horizon = t
            loop = best.machine.loop
            inbox = best.inbox
            while inbox and inbox[0][0] < horizon:
                at, _src, _seq, fn, args = heapq.heappop(inbox)
                loop.schedule(best.ceil_cycles(at), fn, *args)
                self.frames_delivered += 1
            if horizon < NEVER:
                best.sync = loop.schedule(best.floor_cycles(horizon), self._sync, best)
                loop.background += 1
            self.resumes += 1
            try:
                best.here.switch()
            except BaseException as exc:  # the machine's kernel raised: its greenlet is gone
                self._failed = f"machine {best.index} stopped on {type(exc).__name__}: {exc}"
                raise
            ev = best.sync
            if ev is not None:
                best.sync = None
                if not ev.cancelled:
                    ev.cancel()
                    loop.background -= 1
        return max((n.ps(n.machine.loop.now) for n in nodes), default=0)

    def _sync(self, node: _Node) -> None:
        """The horizon (an event on ``node``'s heap): hand the simulator back to the world."""
        loop = node.machine.loop
        loop.background -= 1
        node.sync = None
        d = loop.deadline  # the next event after this one
        node.next_local = NEVER if d >= INFINITY else node.ps(d)
        if node.state is _IDLE:
            # idle, it was taking events (_drive's skip_to_next): one taken with this one (a
            # frame's interrupt) may have made something runnable; resume it now so that its
            # kernel runs again, rather than as idle until its next event
            node.next_local = node.ps(loop.now)
        self._yield(node)

    def _yield(self, node: _Node) -> None:
        """Give the simulator back to the world from wherever ``node`` is running (its
        root, or deep in one of its environments): it resumes exactly there."""
        node.here = getcurrent()
        self._coord.switch()

    def _drive(self, node: _Node) -> None:
        """A machine's greenlet: run its kernel; when it has nothing to run, wait for events."""
        loop = node.machine.loop
        assert node.run is not None
        node.state = _BUSY
        while True:
            before = loop.now
            node.run(node.system, node.until)
            if node.until is not None and loop.now >= node.until:
                node.state = _DONE
                self._yield(node)
                return
            # a run may end early on an earlier run's limit (a stop event it left behind when
            # the world took the machine back at the same cycle): only a run that did nothing
            # at all says that nothing can run
            if loop.now == before:
                break
        # nothing can run: wait for the machine's next event, or a frame
        node.state = _IDLE
        sync = node.sync
        nxt = loop.next_time(sync)
        if nxt >= INFINITY or (sync is not None and not sync.cancelled and nxt >= sync.time):
            node.next_local = NEVER if nxt >= INFINITY else node.ps(nxt)
            self._yield(node)  # (the clock stays where the machine went idle)
        else:
            loop.skip_to_next()

    def statistics(self) -> WorldStats:
        return WorldStats(
            len(self._nodes), len(self.links), self.lookahead_ps, self.resumes, self.frames_posted,
            self.frames_delivered, sum(len(n.inbox) for n in self._nodes),
        )
