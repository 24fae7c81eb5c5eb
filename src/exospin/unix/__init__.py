"""Unix, the monolithic baseline: processes, VM, signals, pipes, shm, RPC and threads in the kernel.

The kernel (kernel.py and the modules it uses) imports only ``exospin.machine``;
the user library (libc.py, uthreads.py) implements ``exospin.posix`` with
system calls. ``baseline.py`` and ``decthreads.py`` are the faithful Ultrix 4.2 and
DEC OSF/1 baselines beside the lean kernel (``Unix(machine, baseline="ultrix")``).
See docs/unix.md.
"""

from .baseline import BASELINES, Baseline, BaselineCosts, UnknownBaseline, Work, get_baseline
from .decthreads import DECThreads
from .ffs_layout import MountError
from .fsck_ffs import fsck
from .kernel import Unix, UnixStats
from .libc import KCondition, KMutex, UnixProcess, start
from .param import SIGBUS, SIGFPE, SIGSEGV
from .proc import SysError
from .syscalls import NUMBERS, TABLE
from .uthreads import UCondition, UMutex, UThreads, UThreadStats

__all__ = [
    "BASELINES", "Baseline", "BaselineCosts", "DECThreads", "UnknownBaseline", "Work", "get_baseline",
    "KCondition", "KMutex", "MountError", "NUMBERS", "SIGBUS", "SIGFPE", "SIGSEGV", "SysError", "TABLE",
    "UCondition", "UMutex", "UThreadStats", "UThreads", "Unix", "UnixProcess", "UnixStats", "fsck", "start",
]
