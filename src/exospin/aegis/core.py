"""The state of the exokernel, its costs and its accounting records.

What this models
    What Aegis keeps about the machine it multiplexes (Engler et al., sections
    3 and 5): who owns each physical frame and which bindings name it, the
    capabilities, the software TLB, the slice vector, the environments and
    their address-space identifiers; the cycle cost of each kernel path,
    composed from the profile's hardware primitives; the counters that
    ``statistics()`` reports.

Why it is built this way
    The kernel is one object whose methods come in layers, one module per
    part of the paper, each a class that adds methods to the one below it
    and declares no state of its own (``__slots__ = ()``):

        core.py         this state (``Core``), the journal, env_by_id
        exceptions.py   exception dispatch, upcalls, TLB refill
        revocation.py   visible revocation, the abort protocol, frame release
        slices.py       the slice vector, the timer, PCT and yield (_transfer)
        lifecycle.py    environments created, run, destroyed, reaped
        kernel.py       ``Aegis``: installs the vectors and the system calls

    Every attribute is a slot declared here, once, as the kernel was one class
    before: the protected control transfer and exception paths read and write
    it on every operation, and a slot is cheaper to reach than an entry of an
    instance dict (the kernel has more attributes than CPython's shared-key
    instance dicts hold, so without slots every access would be a hashed dict
    lookup, and the interpreter could not specialise its method calls). A
    method or slot of a layer below is found through the class's attribute
    cache, so the layering costs the hot paths nothing (``exospin bench
    aegis`` measured the same before and after the split).

Interface
    ``Core(machine)`` (made through ``Aegis``); ``note(env, kind, text)``;
    ``env_by_id(eid)``; ``statistics()``; the records ``JournalEntry``,
    ``EnvStats``, ``AegisStats``; ``Costs``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from greenlet import getcurrent

from ..machine import Footprint, Machine, instruction_profile
from . import param
from .caps import CapTable
from .env import Environment
from .errors import BadEnvironment
from .stlb import STLB


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


#: An environment's record in the kernel's image (words): its handler table (one word per
#: exception kind), its three-register save area, its protected entry points, its ASID
#: and the environment it donates its slices to.
ENV_HANDLERS, ENV_SAVE, ENV_ENTRIES = 0, 8, 11
ENV_ASID = ENV_ENTRIES + param.MAX_ENTRIES
ENV_DONATED = ENV_ASID + 1
ENV_WORDS = ENV_DONATED + 1
#: system-call numbers of the calls whose paths have footprints (their table entries)
SYS_NULL, SYS_TLB_WRITE, SYS_PCT, SYS_YIELD = 0, 1, 2, 3
NSYSCALLS = 32


class Footprints:
    """The cache lines of Aegis' paths, for ``detailed`` memory (docs/memory.md).

    Each path's text is as many instructions as its cost composition in :class:`Costs`
    counts (the same composition, evaluated over ``instruction_profile``), laid out in
    the kernel's image in the order below; its data are the words of the kernel's
    structures it reads and writes: the system-call table, an environment's record
    (handler table, save area, entry points, ASID), the slice vector, an STLB slot.
    ``env(e)`` and ``stlb_slot(i)`` give the object addresses the relative data are at.
    """

    __slots__ = ("syscall", "tlb_write", "stlb_hit", "stlb_miss", "exc", "upcall", "pct",
                 "yield_", "slice_switch", "_envs", "_env_bytes", "_stlb", "_slot_bytes")

    def __init__(self, m: Machine) -> None:
        p = m.profile
        w = p.word_bytes
        ip = instruction_profile(p)
        ci = Costs(SimpleNamespace(profile=ip))  # type: ignore[arg-type]
        img = m.cpu.kernel_image()
        systab = img.region("systab", NSYSCALLS * w)
        self._envs = img.region("envs", ENV_WORDS * w, param.MAX_ENVS + 1)
        self._env_bytes = img.stride("envs")
        slices = img.region("slices", 2 * param.NSLICES * w)  # owner and successor link per slot
        self._slot_bytes = 2 * w  # tag and entry
        self._stlb = img.region("stlb", param.STLB_ENTRIES * self._slot_bytes)
        ent = lambda i: systab + i * w  # noqa: E731
        save = tuple((ENV_SAVE + i) * w for i in range(3))
        self.syscall = img.path("null", ci.syscall, reads=(ent(SYS_NULL),))
        # tlb_write: the capability check, the binding, the TLB write; its STLB slot's two words
        self.tlb_write = img.path("tlb_write", ci.syscall + ci.tlb_write, reads=(ent(SYS_TLB_WRITE),),
                                  obj_writes=(0, w))
        self.stlb_hit = img.path("utlb_refill", ci.stlb_hit, obj_reads=(0, w))
        self.stlb_miss = img.path("stlb_miss", ci.stlb_miss, obj_reads=(0,))
        # an exception or upcall: the handler's word, the three scratch registers saved
        # (and restored by the handler's return stub on its way back: the library's code,
        # laid out here with the path it ends)
        self.exc = img.path("exception", ci.exc_dispatch + 3 * ip.reg_save + ci.exc_return,
                            obj_reads=(ENV_HANDLERS * w,) + save, obj_writes=save)
        self.upcall = img.path("upcall", ci.upcall + ci.exc_return, obj_reads=(ENV_HANDLERS * w,) + save,
                               obj_writes=save)
        # a protected control transfer: the callee's entry point and ASID; the donation
        self.pct = img.path("pct", ci.pct, reads=(ent(SYS_PCT),),
                            obj_reads=(ENV_ENTRIES * w, ENV_ASID * w), obj_writes=(ENV_DONATED * w,))
        self.yield_ = img.path("yield", ci.yield_, reads=(ent(SYS_YIELD),),
                               obj_reads=(ENV_ASID * w,), obj_writes=(ENV_DONATED * w,))
        self.slice_switch = img.path("slice_switch", ci.slice_switch, reads=(slices, slices + w),
                                     obj_reads=(ENV_ASID * w,))

    def env(self, eid: int) -> int:
        """Environment ``eid``'s record in the image."""
        return self._envs + (eid % (param.MAX_ENVS + 1)) * self._env_bytes

    def stlb_slot(self, index: int) -> int:
        return self._stlb + index * self._slot_bytes


class Core:
    """The kernel's state, in slots (see the module note)."""

    __slots__ = (
        "m", "loop", "cpu", "tlb", "memory", "tracer", "c", "words_per_frame", "page_shift",
        "quantum", "epilogue_bound", "_set_asid", "_c_pct", "_c_exc_dispatch", "_c_exc_return",
        "caps", "stlb", "frame_owner", "frame_bindings", "envs", "by_asid", "free_asids", "dirty_asids",
        "stlb_scrubs", "slices", "succ", "slice_pos",
        "current", "_root", "_next_id", "_run_start", "_slice_start", "journal", "deaths",
        "final_stats", "envs_created", "envs_destroyed", "exceptions", "upcalls", "n_pct_sync",
        "n_pct_async", "n_yields", "context_switches", "revocations", "revocations_complied",
        "aborts", "frames_repossessed", "epilogue_overruns", "syscalls", "_wake", "_refill_counts",
        "irq_handlers", "net", "nic", "xn", "fp", "_touch",
    )

    _refill_counts: Callable[[], tuple[int, int]]  # (hits, misses) of the refill path
    syscalls: Any  # the system-call surface (syscalls.Syscalls), made by Aegis

    def __init__(self, machine: Machine) -> None:
        self.m = machine
        self.loop = machine.loop
        self.cpu = machine.cpu
        self.tlb = machine.tlb
        self.memory = machine.memory
        self.tracer = machine.tracer
        self.c = Costs(machine)
        #: the paths' cache lines, and the CPU's touch under ``detailed`` memory (None: ideal)
        self.fp = Footprints(machine)
        self._touch: Callable[[Footprint, int], None] | None = (
            None if machine.cpu.hierarchy is None else machine.cpu.touch)
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
        #: the network interface the kernel may drive (attach_nic), and its driver with the
        #: packet filters (netdrv.NetDriver), started by the first network system call
        self.nic: Any = None
        self.net: Any = None
        #: XN, the disk's secure bindings (xn.XN), when a disk is attached (attach_disk)
        self.xn: Any = None

    # ------------------------------------------------------------ journal

    def note(self, env: Environment | None, kind: str, text: str) -> None:
        """Record a notable kernel event (rare events only: not on hot paths)."""
        eid = env.id if env is not None else 0
        self.journal.append(JournalEntry(self.loop.now, eid, kind, text))
        if self.tracer is not None:
            self.tracer.instant(kind, "kernel", eid, self.loop.now, text=text)

    def env_by_id(self, eid: int) -> Environment:
        env = self.envs.get(eid) if type(eid) is int else None
        if env is None or env.dying:
            raise BadEnvironment(f"no environment {eid!r}")
        return env

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
