"""The machine: one processor, its memory, TLB and timer, on one clock.

What this models
    A single-processor workstation of the profile's kind, assembled from
    the devices of this package. Kernels take a :class:`Machine`, install
    their vectors in its CPU and drive its timer; nothing else in exospin
    creates hardware.

Why it is built this way
    Everything that can make two runs differ is here and seeded: the clock
    starts at zero, the TLB's Random register follows the clock, and the
    only random numbers come from ``rng``, a ``random.Random(seed)``.

Interface
    ``Machine(profile, seed=0, tracer=None, memory=None)`` (``memory``:
    ``ideal``, every reference a cache hit, or ``detailed``, the caches and
    write buffer of caches.py; None: ``caches.default_memory()``); attributes
    ``profile``, ``memory_model``, ``hierarchy`` (None when ideal),
    ``loop``, ``memory``, ``tlb``, ``cpu``, ``timer``, ``rng``, ``tracer``,
    ``nics`` (its network interfaces, nic.py: none unless a network is
    built), ``disks`` (its disks, disk.py: none unless one is attached),
    ``world`` and ``index`` (the world it is part of, world.py, and
    its place there; None and 0 for a machine of its own); ``now``;
    ``us(cycles)``; ``statistics()``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .caches import (
    HIERARCHIES,
    HierarchyStats,
    MemoryHierarchy,
    check_memory_model,
    default_memory,
    detailed_profile,
)
from .cpu import CPU, CPUStats
from .events import EventLoop
from .memory import MemoryStats, PhysicalMemory
from .profiles import Profile, get_profile
from .timer import IntervalTimer, TimerStats
from .tlb import TLB, TLBStats
from .trace import Tracer

if TYPE_CHECKING:
    from .link import Scheduler, Station


@dataclass(frozen=True, slots=True)
class MachineStats:
    profile: str
    cycles: int
    us: float
    events_fired: int
    cpu: CPUStats
    memory: MemoryStats
    tlb: TLBStats
    timer: TimerStats
    caches: HierarchyStats | None = None  # ``detailed`` memory only


class Machine:
    def __init__(self, profile: Profile | str = "ds5000", seed: int = 0, tracer: Tracer | None = None,
                 memory: str | None = None) -> None:
        if isinstance(profile, str):
            profile = get_profile(profile)
        self.memory_model = check_memory_model(default_memory() if memory is None else memory)
        if self.memory_model == "detailed":  # the primitives revised against sources (caches.py)
            profile = detailed_profile(profile)
        self.profile = profile
        self.seed = seed
        self.rng = random.Random(seed)
        self.loop = EventLoop()
        self.memory = PhysicalMemory(profile.memory_frames, profile.page_size, profile.word_bytes)
        self.tlb = TLB(
            profile.tlb_entries, profile.tlb_wired, profile.page_size // profile.word_bytes,
            profile.memory_frames * profile.page_size // profile.word_bytes, profile.tlb_replacement,
        )
        self.hierarchy: MemoryHierarchy | None = None
        if self.memory_model == "detailed":
            self.hierarchy = MemoryHierarchy(HIERARCHIES[profile.name])
            self.memory.attach(self.hierarchy, self.loop, profile.reg_save)  # a block loop: a store a cycle
            self.tlb.hierarchy = self.hierarchy  # the Random register counts run cycles only
        self.cpu = CPU(self.loop, profile, self.memory, self.tlb, self.hierarchy)
        self.timer = IntervalTimer(self.loop, self.cpu)
        self.tracer = tracer
        self.nics: list[Station] = []  # nic.NIC, as the link sees it
        self.disks: list[Any] = []  # disk.Disk, each appended by its constructor (Any: disk.py imports us)
        self.world: Scheduler | None = None  # world.World
        self.index = 0

    @property
    def now(self) -> int:
        return self.loop.now

    def us(self, cycles: float) -> float:
        return self.profile.us(cycles)

    def statistics(self) -> MachineStats:
        return MachineStats(
            self.profile.name, self.loop.now, self.profile.us(self.loop.now), self.loop.fired,
            self.cpu.statistics(), self.memory.statistics(), self.tlb.statistics(),
            self.timer.statistics(), None if self.hierarchy is None else self.hierarchy.statistics(),
        )
