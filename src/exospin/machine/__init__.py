"""The simulated hardware: clock and event loop, profiles, CPU, memory, TLB, timer,
network interfaces and links, the world several machines share, and disks.

Everything a kernel may touch of the machine is named here.
"""

from .caches import (
    DETAILED_COSTS,
    HIERARCHIES,
    INSN_COUNTS,
    MEMORY_MODELS,
    PAL_INSNS,
    CacheSpec,
    CacheStats,
    Footprint,
    HierarchySpec,
    HierarchyStats,
    KernelImage,
    KernelText,
    MemoryHierarchy,
    UnknownMemoryModel,
    default_memory,
    detailed_profile,
    instruction_profile,
    memory_model,
)
from .cpu import CPU, NREGS, USER_TOP, CPUStats, Exc, MachineCheck
from .disk import (
    HP97560,
    IRQ_DISK,
    Completion,
    Disk,
    DiskError,
    DiskFailed,
    DiskSpec,
    DiskStats,
    seek_ps,
)
from .events import INFINITY, EventLoop, Scheduled
from .link import (
    ATM,
    ETHERNET,
    LANCE,
    LINKS,
    PS_PER_S,
    TCA100,
    Controller,
    Figure,
    Link,
    LinkSpec,
    UnknownLink,
    get_link,
)
from .machine import Machine, MachineStats
from .memory import MemoryStats, PhysicalMemory
from .nic import BROADCAST, IRQ_NIC, NIC, FrameTooLarge, NICError, NICStats, RxFrame, mac_address
from .profiles import PRIMITIVES, PROFILES, Cost, Profile, UnknownProfile, get_profile
from .timer import IRQ_TIMER, IntervalTimer, TimerStats
from .tlb import TLB, Entry, TLBStats, tlb_key
from .trace import Tracer
from .world import World, WorldStats

__all__ = [
    "CPU", "CPUStats", "Cost", "Entry", "EventLoop", "Exc", "INFINITY", "IRQ_TIMER",
    "IntervalTimer", "Machine", "MachineCheck", "MachineStats", "MemoryStats", "NREGS",
    "PRIMITIVES", "PROFILES", "PhysicalMemory", "Profile", "Scheduled", "TLB", "TLBStats", "TimerStats",
    "Tracer", "USER_TOP", "UnknownProfile", "get_profile", "tlb_key",
    # the network: links, interfaces, the world of several machines
    "ATM", "BROADCAST", "Controller", "ETHERNET", "Figure", "FrameTooLarge", "IRQ_NIC", "LANCE", "LINKS",
    "Link", "LinkSpec", "NIC", "NICError", "NICStats", "PS_PER_S", "RxFrame", "TCA100", "UnknownLink",
    "World", "WorldStats", "get_link", "mac_address",
    # storage
    "Completion", "Disk", "DiskError", "DiskFailed", "DiskSpec", "DiskStats", "HP97560", "IRQ_DISK", "seek_ps",
    # the memory hierarchy (caches.py)
    "CacheSpec", "CacheStats", "Footprint", "HIERARCHIES", "HierarchySpec", "HierarchyStats", "KernelText", "MEMORY_MODELS",
    "INSN_COUNTS", "PAL_INSNS", "KernelImage", "instruction_profile", "DETAILED_COSTS", "detailed_profile",
    "MemoryHierarchy", "UnknownMemoryModel", "default_memory", "memory_model",
]
