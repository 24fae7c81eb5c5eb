"""Aegis, the exokernel: the whole public surface on one screen.

A library OS imports only these names. It receives a :class:`Syscalls`
object (its only way into the kernel) as the argument of its ``main``.
"""

from .caps import Capability, Rights
from .env import HANDLER_KINDS
from .errors import (
    AegisError,
    BadAddress,
    BadArgument,
    BadCapability,
    BadEntry,
    BadEnvironment,
    BadFrame,
    BadSlice,
    EnvironmentKilled,
    ResourceExhausted,
)
from .kernel import Aegis, AegisStats, EnvStats, JournalEntry
from .netcalls import NetSyscalls
from .netdrv import (
    ASH_BUDGET,
    KERNEL_OWNER,
    MAX_ASH_BUDGET,
    MAX_FILTERS,
    MAX_RING_SLOTS,
    MAX_RINGS,
    AshPacket,
    FilterRefused,
    NetDriver,
    NetDriverStats,
)
from .param import MAX_ENTRIES, NSLICES, RESERVE_FRAMES, SLICE_US, STLB_ENTRIES
from .stlb import STLBStats
from .syscalls import CalleeDied, Syscalls
from .xn import (
    DATA,
    MAX_POINTERS,
    MAX_ROOTS,
    MAX_TYPES,
    MAX_UDF_BUDGET,
    UDF_BUDGET,
    XN,
    BadBlock,
    BadDisk,
    BadTemplate,
    DiskIOError,
    XNError,
    XNStats,
)
from .xncalls import XNSyscalls

__all__ = [
    "Aegis", "AegisError", "AegisStats", "BadAddress", "BadArgument", "BadCapability",
    "BadEntry", "BadEnvironment", "BadFrame", "BadSlice", "CalleeDied", "Capability", "EnvStats",
    "EnvironmentKilled", "HANDLER_KINDS", "JournalEntry", "MAX_ENTRIES", "NSLICES",
    "RESERVE_FRAMES", "ResourceExhausted", "Rights", "SLICE_US", "STLBStats", "STLB_ENTRIES",
    "Syscalls",
    # the network (netdrv.py, netcalls.py)
    "ASH_BUDGET", "AshPacket", "FilterRefused", "KERNEL_OWNER", "MAX_ASH_BUDGET", "MAX_FILTERS", "MAX_RINGS",
    "MAX_RING_SLOTS", "NetDriver", "NetDriverStats", "NetSyscalls",
    # the disk: XN (xn.py, xncalls.py)
    "BadBlock", "BadDisk", "BadTemplate", "DATA", "DiskIOError", "MAX_POINTERS", "MAX_ROOTS", "MAX_TYPES",
    "MAX_UDF_BUDGET", "UDF_BUDGET", "XN", "XNError", "XNStats", "XNSyscalls",
]
