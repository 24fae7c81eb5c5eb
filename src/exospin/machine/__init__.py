"""The simulated hardware: clock and event loop, profiles, CPU, memory, TLB, timer.

Everything a kernel may touch of the machine is named here.
"""

from .cpu import CPU, NREGS, USER_TOP, CPUStats, Exc, MachineCheck
from .events import INFINITY, EventLoop, Scheduled
from .machine import Machine, MachineStats
from .memory import MemoryStats, PhysicalMemory
from .profiles import PRIMITIVES, PROFILES, Cost, Profile, UnknownProfile, get_profile
from .timer import IRQ_TIMER, IntervalTimer, TimerStats
from .tlb import TLB, Entry, TLBStats, tlb_key
from .trace import Tracer

__all__ = [
    "CPU", "CPUStats", "Cost", "Entry", "EventLoop", "Exc", "INFINITY", "IRQ_TIMER",
    "IntervalTimer", "Machine", "MachineCheck", "MachineStats", "MemoryStats", "NREGS",
    "PRIMITIVES", "PROFILES", "PhysicalMemory", "Profile", "Scheduled", "TLB", "TLBStats", "TimerStats",
    "Tracer", "USER_TOP", "UnknownProfile", "get_profile", "tlb_key",
]
