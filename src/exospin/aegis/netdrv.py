"""Aegis' NIC driver and DPF: packet filters and packet rings as secure bindings.

What this models
    The network half of the exokernel (Engler et al., SOSP 1995, sections 3.3
    and 5.3 on downloading code; Engler & Kaashoek, SIGCOMM 1996 on DPF). The
    kernel owns the network interface and nothing above it: no protocol, no
    socket. An environment gives the kernel frames it owns to make a *packet
    ring* and installs *packet filters* (DPF atoms, or a tcpdump expression
    translated by ``net.from_tcpdump``) that say which frames go to that
    ring. Installing a filter is a secure binding: it is checked once, when
    it is installed (well formed, and disjoint from every other owner's
    filters: DPF's overlap rule, so no environment can steal another's
    traffic), and afterwards every received frame is demultiplexed by the
    kernel's one merged, compiled DPF trie and written into the owner's
    ring, in the owner's own frames. What the filters and rings name dies
    with the environment (``forget``).

    Receive, on the NIC's interrupt (``irq_handlers[nic.irq]``; the timer's
    line is untouched): acknowledge, take each received frame out of the
    kernel's receive buffer, demultiplex it (the DPF work priced by
    ``net.DemuxCosts`` from the profile), copy it into the next slot of the
    owner's ring (one ``copy_word`` per word, and a store of its length),
    post the buffer again, and wake the owner if it sleeps. A frame no
    filter accepts is dropped and counted; so is one that finds the ring's
    next slot still full, or that is longer than a slot, or whose slot frame
    the owner no longer owns (it freed it, or the kernel repossessed it).

    A ring slot is one frame: its first word holds the length of the frame
    written after it (0: the slot is free, the library may not read it). The
    kernel writes slots in order and never overwrites a full one; the library
    reads them in order and frees each by storing 0 in its first word. No
    system call on the receive path: the ring is shared memory.

Why it is built this way
    Copy once, not zero copy. The LANCE DMAs every frame into the next buffer
    of a receive ring the driver posted *before* the frame arrived, so which
    environment owns a frame is known only after it landed: posting the
    owners' ring frames to the NIC would require demultiplexing in the
    controller (which the Am7990 cannot do), or handing one environment's
    frame a frame meant for another. So the kernel keeps a small pool of
    receive buffers of its own (frames it owns, never an environment's) and
    copies each accepted frame once, into its owner's ring, after the
    filter has said whose it is. The exokernel paper's prototype did the
    same with its DECstation's LANCE; zero-copy delivery into application
    buffers came with interfaces that demultiplex on the card (the AN2 in
    the ASH paper). The copy is charged, per word.

    The overlap rule, the trie and the compiled code are ``net.DPF``'s: the
    kernel only decides who the owner is (an environment id: a filter binds
    to one of its owner's rings) and what installing costs.

Interface
    ``NetDriver(kernel, nic, buffers)`` (``Aegis.attach_nic``); the system
    calls of netcalls.py use ``ring_create``, ``ring_destroy``,
    ``filter_install``, ``filter_remove``, ``send``; ``forget(env)`` at an
    environment's death; ``statistics()``; ``kernel_frames``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..machine import NIC, NICError
from ..net import DPF, DemuxCosts, Filter, FilterError, Test, from_tcpdump, install
from ..verifier import Budget, BudgetExceeded, OpCosts, Rejected, verify
from .caps import Capability
from .env import Environment
from .errors import AegisError, BadArgument, BadFrame, ResourceExhausted

#: The owner the frame table records for the kernel's own receive buffers.
KERNEL_OWNER = -1
#: The most slots one packet ring may have, and the most rings one environment may hold.
MAX_RING_SLOTS = 64
MAX_RINGS = 16
#: The most filters one environment may install.
MAX_FILTERS = 64
#: An ASH's budget per activation (verifier ticks: loop iterations and calls), by default
#: and at most: a handler runs in the interrupt, so it must be short.
ASH_BUDGET = 500
MAX_ASH_BUDGET = 10_000


class FilterRefused(AegisError):
    """A packet filter the kernel will not install (malformed, or it would take
    another environment's traffic): the message says which test or which filter."""


@dataclass(eq=False, slots=True)
class Ring:
    """A packet ring: frames its owner gave the kernel, written in order."""

    id: int
    owner: int  # environment id
    pfns: list[int]
    tail: int = 0  # the next slot the kernel writes
    delivered: int = 0
    dropped_full: int = 0
    filters: int = 0  # how many installed filters deliver here
    ash: Ash | None = None  # the handler the kernel runs on its packets first


@dataclass(eq=False, slots=True)
class Ash:
    """An application-specific safe handler: verified code the kernel runs on a ring's packets."""

    id: int
    owner: int
    ring: Ring
    fn: Callable[[Any], Any]
    budget: Budget
    buffer: int | None  # the frame its copies go to (its owner's), if it was given one
    runs: int = 0
    replies: int = 0
    copies: int = 0
    passed: int = 0


class AshPacket:
    """What an ASH reaches: the frame (``data``, read-only bytes) and three actions. Nothing
    else: the verifier forbids underscore names, so the fields below are out of its reach.

    * ``reply(frame)``: send ``frame`` (bytes) from the kernel, now;
    * ``copy(dst, src, n)``: copy ``n`` bytes of the frame from ``src`` to offset ``dst``
      of its owner's buffer frame (direct message transfer);
    * ``to_ring()``: deliver the frame to its owner's ring as well.
    A bad argument (a reply too long, a copy outside the frame or the buffer) raises, and
    the kernel removes the handler."""

    __slots__ = ("data", "length", "_drv", "_ash", "_pass")

    def __init__(self, drv: NetDriver, ash: Ash, frame: bytes) -> None:
        self.data = frame
        self.length = len(frame)
        self._drv = drv
        self._ash = ash
        self._pass = False

    def reply(self, frame: bytes) -> None:
        self._drv._ash_reply(self._ash, frame)

    def copy(self, dst: int, src: int, n: int) -> None:
        self._drv._ash_copy(self._ash, self.data, dst, src, n)

    def to_ring(self) -> None:
        self._pass = True


@dataclass(frozen=True, slots=True)
class NetDriverStats:
    rx_frames: int  # frames the driver took from the NIC
    rx_delivered: int  # written into a ring
    rx_unmatched: int  # no filter accepted them: dropped
    rx_ring_full: int  # the ring's next slot was still full: dropped
    rx_too_long: int  # longer than a ring slot: dropped
    rx_slot_gone: int  # the slot's frame is no longer its ring owner's: dropped
    tx_frames: int
    tx_refused: int
    filters: int
    rings: int
    demux_cycles: int  # what demultiplexing cost, in all
    interrupts: int
    ash_runs: int
    ash_replies: int
    ash_removed: int


class NetDriver:
    """The kernel's network state and the NIC's interrupt handler (see the module note)."""

    def __init__(self, kernel: Any, nic: NIC, buffers: int) -> None:
        self.k = kernel
        self.nic = nic
        m = kernel.m
        p = m.profile
        self.memory = m.memory
        self.loop = m.loop
        self.wb = p.word_bytes
        self.wpf = p.page_size // p.word_bytes
        self.slot_bytes = p.page_size - p.word_bytes  # a slot: the length word, then the frame
        self.dpf = DPF()
        self.dc = DemuxCosts.from_profile(p)
        self.c_copy_word = p.copy_word
        self.c_mem = p.mem_ref
        self.c_insn = p.insn
        self.rings: dict[int, Ring] = {}
        self.next_ring = 1
        self.by_filter: dict[int, Ring] = {}  # filter id -> the ring it delivers to
        self.env_filters: dict[int, list[Filter]] = {}
        self.ring_frames: set[int] = set()  # frames some ring names (a frame is in one ring only)
        # the kernel's receive buffers: the highest free frames, owned by the kernel
        owner = kernel.frame_owner
        free = [pfn for pfn in range(len(owner) - 1, -1, -1) if not owner[pfn]][:buffers]
        if len(free) < buffers:
            raise ResourceExhausted(f"attach_nic: {buffers} receive buffers wanted, {len(free)} frames free")
        self.kernel_frames: list[int] = sorted(free)
        for pfn in self.kernel_frames:
            owner[pfn] = KERNEL_OWNER
            nic.post_rx(pfn, 0, min(p.page_size, nic.spec.max_frame))
        self.rx_frames = self.rx_delivered = self.rx_unmatched = self.rx_ring_full = 0
        self.rx_too_long = self.rx_slot_gone = self.tx_frames = self.tx_refused = 0
        self.demux_cycles = 0
        self.interrupts = 0
        # ASHs: a kernel frame for the replies they send; what verified code costs
        tx = [pfn for pfn in range(len(owner) - 1, -1, -1) if not owner[pfn]][:1]
        if not tx:
            raise ResourceExhausted("attach_nic: no frame free for the kernel's transmit buffer")
        self.tx_pfn = tx[0]
        owner[self.tx_pfn] = KERNEL_OWNER
        self.kernel_frames.append(self.tx_pfn)
        self.op_costs = OpCosts(insn=p.insn, mem_ref=p.mem_ref, proc_call=p.proc_call)
        self.ashes: dict[int, Ash] = {}
        self.next_ash = 1
        self.removed: dict[int, str] = {}  # ASH id -> why the kernel removed it
        self.ash_runs = self.ash_replies = 0
        kernel.irq_handlers[nic.irq] = self.interrupt

    # ------------------------------------------------------------------ receive

    def interrupt(self, irq: int) -> None:
        """The NIC's receive interrupt: demultiplex every frame that is ready."""
        nic = self.nic
        self.interrupts += 1
        nic.ack()
        size = min(self.memory.page_size, nic.spec.max_frame)
        while True:
            rx = nic.receive()
            if rx is None:
                break
            self.rx_frames += 1
            self._deliver(bytes(self.memory.span(rx.pfn, rx.offset, rx.length)))
            nic.post_rx(rx.pfn, rx.offset, size)  # the buffer goes back to the ring

    def _deliver(self, frame: bytes) -> None:
        loop = self.loop
        f, w = self.dpf.demux(frame)
        c = self.dc.cycles(w)
        loop.now += c
        self.demux_cycles += c
        if f is None:
            self.rx_unmatched += 1
            return
        ring = self.by_filter[f.fid]
        if ring.ash is not None and not self._run_ash(ring.ash, frame):
            return
        self.to_ring(ring, frame)

    # --------------------------------------------------------------------- ASHs

    def _run_ash(self, ash: Ash, frame: bytes) -> bool:
        """Run ``ash`` on ``frame`` under its budget; True if the frame goes on to the ring.
        A handler that runs out of budget or raises is removed and its owner told."""
        pkt = AshPacket(self, ash, frame)
        ash.runs += 1
        self.ash_runs += 1
        self.loop.now += self.k.c.upcall  # enter the handler (its code charges for itself)
        try:
            # one activation of the handler (Budget.enter): restored only when none is in
            # progress, so a frame it sends that comes back to it continues on what remains
            ash.budget.enter()
            try:
                ash.fn(pkt)
            finally:
                ash.budget.leave()
        except BudgetExceeded as e:
            self._remove_ash(ash, f"ran out of its budget ({e})")
            return True
        except Exception as e:  # anything it raises: it goes, the kernel goes on
            self._remove_ash(ash, f"raised {type(e).__name__}: {e}")
            return True
        if pkt._pass:
            ash.passed += 1
        return pkt._pass

    def _ash_reply(self, ash: Ash, frame: Any) -> None:
        if not isinstance(frame, bytes):
            raise TypeError(f"reply: a frame is bytes, not {type(frame).__name__}")
        n = len(frame)
        if n > self.memory.page_size:
            raise ValueError(f"reply: a frame of {n} bytes does not fit the kernel's buffer")
        self.memory.span(self.tx_pfn, 0, n)[:] = frame
        self.loop.now += -(-n // self.wb) * self.c_copy_word
        try:
            self.nic.transmit(self.tx_pfn, 0, n)
        except NICError as e:
            self.tx_refused += 1
            raise ValueError(f"reply: {e}") from None
        ash.replies += 1
        self.ash_replies += 1
        self.tx_frames += 1

    def _ash_copy(self, ash: Ash, data: bytes, dst: Any, src: Any, n: Any) -> None:
        if ash.buffer is None:
            raise ValueError("copy: this handler was given no buffer")
        for name, v in (("dst", dst), ("src", src), ("n", n)):
            if type(v) is not int or v < 0:
                raise ValueError(f"copy: {name} must be a non-negative int, not {v!r}")
        if src + n > len(data) or dst + n > self.memory.page_size:
            raise ValueError(f"copy: {n} bytes from {src} to {dst} leave the frame ({len(data)} bytes) "
                             f"or its owner's buffer ({self.memory.page_size})")
        if self.k.frame_owner[ash.buffer] != ash.owner:
            raise ValueError(f"copy: frame {ash.buffer} is no longer its owner's")
        self.memory.span(ash.buffer, dst, n)[:] = data[src : src + n]
        self.loop.now += -(-n // self.wb) * self.c_copy_word
        ash.copies += 1

    def ash_install(self, env: Environment, ring: Ring, source: Any, entry: Any, budget: Any,
                    buffer: int | None) -> int:
        if ring.ash is not None:
            raise BadArgument(f"ash_install: ring {ring.id} has a handler already (ASH {ring.ash.id})")
        if not isinstance(source, str) or not isinstance(entry, str):
            raise BadArgument("ash_install: source and entry must be strs")
        if type(budget) is not int or not 1 <= budget <= MAX_ASH_BUDGET:
            raise BadArgument(f"ash_install: budget must be an int from 1 to {MAX_ASH_BUDGET}, not {budget!r}")
        if buffer is not None and self.k.frame_owner[buffer] != env.id:
            raise BadFrame(f"ash_install: frame {buffer} is not yours")
        aid = self.next_ash
        try:
            v = verify(source, f"ash{aid}.py", interfaces=(), budget=budget, costs=self.op_costs, clock=self.loop)
        except Rejected as e:
            raise BadArgument(f"ash_install: the verifier refused the handler: {e}") from None
        fn = v.exports.get(entry)
        if not callable(fn):
            raise BadArgument(f"ash_install: the handler defines no function {entry!r}")
        self.next_ash += 1
        # the verifier's walk is paid by the caller, per byte of source checked (an estimate)
        self.loop.now += len(source) * self.c_insn
        ash = Ash(aid, env.id, ring, fn, v.budget, buffer)
        ring.ash = ash
        self.ashes[aid] = ash
        return aid

    def _remove_ash(self, ash: Ash, why: str) -> None:
        ash.ring.ash = None
        self.ashes.pop(ash.id, None)
        self.removed[ash.id] = why
        env = self.k.envs.get(ash.owner)
        self.k.note(env, "ash", f"ASH {ash.id} of env {ash.owner} removed: {why}")
        if env is not None:  # told at the start of its next slice (its ash_removed handler)
            env.pending.append(("ash_removed", (ash.id, why)))
            env.wake_pending = True
            env.asleep = False

    def ash_remove(self, ash: Ash) -> None:
        ash.ring.ash = None
        del self.ashes[ash.id]

    def to_ring(self, ring: Ring, frame: bytes) -> bool:
        """Write ``frame`` into ``ring``'s next slot and wake its owner; False (counted) if
        the slot is full, too small, or no longer its owner's."""
        loop = self.loop
        k = self.k
        pfn = ring.pfns[ring.tail]
        words = self.memory.words
        loop.now += 2 * self.c_mem + self.c_insn  # the slot's owner and its length word, tested
        if k.frame_owner[pfn] != ring.owner:
            self.rx_slot_gone += 1
            return False
        if words[pfn * self.wpf]:
            ring.dropped_full += 1
            self.rx_ring_full += 1
            return False
        n = len(frame)
        if n > self.slot_bytes:
            self.rx_too_long += 1
            return False
        self.memory.span(pfn, self.wb, n)[:] = frame
        loop.now += -(-n // self.wb) * self.c_copy_word + self.c_mem  # the copy, the length store
        words[pfn * self.wpf] = n
        ring.tail = (ring.tail + 1) % len(ring.pfns)
        ring.delivered += 1
        self.rx_delivered += 1
        env = k.envs.get(ring.owner)
        if env is not None:
            env.wake_pending = True
            if env.asleep:
                env.asleep = False
                if env.sleep_event is not None:
                    env.sleep_event.cancel()
                    env.sleep_event = None
        return True

    # ---------------------------------------------------------------- bindings

    def ring_create(self, env: Environment, caps: list[Capability]) -> int:
        """A packet ring in the frames ``caps`` name (the caller's, READ and WRITE)."""
        if not isinstance(caps, list | tuple) or not 1 <= len(caps) <= MAX_RING_SLOTS:
            raise BadArgument(f"ring_create: caps must be a list of 1 to {MAX_RING_SLOTS} frame capabilities, "
                              f"not {caps!r}")
        if sum(1 for r in self.rings.values() if r.owner == env.id) >= MAX_RINGS:
            raise ResourceExhausted(f"ring_create: you hold {MAX_RINGS} rings already")
        pfns: list[int] = []
        for cap in caps:
            pfn = cap.resource
            if self.k.frame_owner[pfn] != env.id:
                raise BadFrame(f"ring_create: frame {pfn} is not yours")
            if pfn in self.ring_frames or pfn in pfns:
                raise BadFrame(f"ring_create: frame {pfn} is in a packet ring already")
            pfns.append(pfn)
        rid = self.next_ring
        self.next_ring += 1
        for pfn in pfns:
            self.memory.words[pfn * self.wpf] = 0  # every slot starts free
        self.loop.now += len(pfns) * 2 * self.c_mem  # record the slot, clear its length word
        self.rings[rid] = Ring(rid, env.id, pfns)
        self.ring_frames.update(pfns)
        return rid

    def ring(self, env: Environment, rid: Any, call: str) -> Ring:
        r = self.rings.get(rid) if type(rid) is int else None
        if r is None or r.owner != env.id:
            raise BadArgument(f"{call}: {rid!r} is not one of your packet rings")
        return r

    def ring_destroy(self, ring: Ring) -> None:
        if ring.ash is not None:
            self.ash_remove(ring.ash)
        for f in [f for f in self.env_filters.get(ring.owner, []) if self.by_filter.get(f.fid) is ring]:
            self.filter_remove(f)
        del self.rings[ring.id]
        self.ring_frames.difference_update(ring.pfns)

    def filter_install(self, env: Environment, ring: Ring, spec: Any) -> list[int]:
        """Install ``spec`` (a list of DPF tests, or a tcpdump expression) for ``ring``;
        returns the filter ids (a tcpdump expression may become several filters)."""
        try:
            if isinstance(spec, str):
                tests_list: list[Iterable[Test]] = list(from_tcpdump(spec))
            elif isinstance(spec, list | tuple):
                tests_list = [spec]
            else:
                raise BadArgument(f"filter_install: a filter is a list of DPF tests or a tcpdump expression, "
                                  f"not {type(spec).__name__}")
            mine = self.env_filters.setdefault(env.id, [])
            if len(mine) + len(tests_list) > MAX_FILTERS:
                raise ResourceExhausted(f"filter_install: you may install at most {MAX_FILTERS} filters")
            done = install(self.dpf, env.id, tests_list)
        except FilterError as e:
            if not self.env_filters.get(env.id):
                self.env_filters.pop(env.id, None)
            raise FilterRefused(f"filter_install: {e}") from None
        except BaseException:
            if not self.env_filters.get(env.id):
                self.env_filters.pop(env.id, None)
            raise
        ntests = sum(len(f.tests) for f in done)
        # checking each test, walking the trie for the overlap rule, storing the new edges
        self.loop.now += ntests * (3 * self.c_mem + 4 * self.c_insn)
        for f in done:
            mine.append(f)
            self.by_filter[f.fid] = ring
            ring.filters += 1
        return [f.fid for f in done]

    def filter_of(self, env: Environment, fid: Any) -> Filter:
        for f in self.env_filters.get(env.id, ()):
            if f.fid == fid:
                return f
        raise BadArgument(f"filter_remove: {fid!r} is not one of your filters")

    def filter_remove(self, f: Filter) -> None:
        self.dpf.delete(f)
        ring = self.by_filter.pop(f.fid)
        ring.filters -= 1
        mine = self.env_filters[ring.owner]
        mine.remove(f)
        if not mine:
            del self.env_filters[ring.owner]

    def send(self, env: Environment, cap: Capability, offset: int, length: int) -> None:
        pfn = cap.resource
        if self.k.frame_owner[pfn] != env.id:
            raise BadFrame(f"net_send: frame {pfn} is not yours")
        page = self.memory.page_size
        if type(offset) is not int or type(length) is not int or offset < 0 or length < 0 \
                or offset + length > page:
            raise BadArgument(f"net_send: bytes {offset!r}+{length!r} are not inside one frame of {page} bytes")
        try:
            self.nic.transmit(pfn, offset, length)
        except NICError as e:
            self.tx_refused += 1
            if "queue is full" in str(e):
                raise ResourceExhausted(f"net_send: {e}") from None
            raise BadArgument(f"net_send: {e}") from None
        self.tx_frames += 1

    # ---------------------------------------------------------------- lifetime

    def forget(self, env: Environment) -> None:
        """``env`` is being destroyed: its filters and rings go (no leak)."""
        for f in list(self.env_filters.get(env.id, ())):
            self.filter_remove(f)
        for r in [r for r in self.rings.values() if r.owner == env.id]:
            self.ring_destroy(r)

    def held(self) -> dict[str, int]:
        """What environments still hold here (all zero after every environment died)."""
        return {"filters": len(self.dpf.filters), "rings": len(self.rings), "handlers": len(self.ashes)}

    def statistics(self) -> NetDriverStats:
        return NetDriverStats(
            self.rx_frames, self.rx_delivered, self.rx_unmatched, self.rx_ring_full, self.rx_too_long,
            self.rx_slot_gone, self.tx_frames, self.tx_refused, len(self.dpf.filters), len(self.rings),
            self.demux_cycles, self.interrupts, self.ash_runs, self.ash_replies, len(self.removed),
        )


__all__ = ["ASH_BUDGET", "KERNEL_OWNER", "MAX_ASH_BUDGET", "MAX_FILTERS", "MAX_RINGS", "MAX_RING_SLOTS", "Ash",
           "AshPacket", "FilterRefused", "NetDriver", "NetDriverStats", "Ring"]
