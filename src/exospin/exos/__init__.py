"""Library operating systems for Aegis, in user space.

They reach the machine only through Aegis' public interface (the
``Syscalls`` object handed to an environment's ``main``). ``ExOS`` is the
library OS of the exokernel paper (processes, virtual memory, threads, IPC, a library file system on XN);
``MiniOS`` is the minimal one the foundation's demo and benchmarks use;
``PhysOS`` has no virtual memory at all, to run beside ExOS and differ from it.
"""

from .fs import Cffs, FsShared
from .minimal import PTE, MiniOS, MiniOSStats
from .physos import PhysOS, PhysOSStats
from .proc import ExecRequest, ExOS, ProcessExit
from .shared import ExOSShared, ProcEntry
from .vm import AddressSpace

__all__ = [
    "AddressSpace", "Cffs", "ExOS", "FsShared", "ExOSShared", "ExecRequest", "MiniOS", "MiniOSStats", "PTE",
    "PhysOS", "PhysOSStats", "ProcEntry", "ProcessExit",
]
