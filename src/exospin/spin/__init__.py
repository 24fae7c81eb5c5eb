"""spin: the SPIN extensible kernel (Bershad et al., SOSP 1995) on the simulated machine.

Interface: protection domains and dynamic linking (``Domain``, ``resolve``,
``combine``, ``unresolve``, the ``NameServer`` and its authorisation
procedures), externalised references (``ExternTable``), and the event
dispatcher (``Event``, ``Dispatcher``, guards ``Eq``, orderings
``First``/``Last``/``Before``/``After``, authorities' ``Decision``).
This layer imports only exospin.machine and exospin.verifier.
"""

from .dispatcher import (
    After,
    Before,
    Costs,
    Decision,
    Dispatcher,
    DispatcherStats,
    Eq,
    Event,
    First,
    Handler,
    Last,
    NoHandler,
    Order,
    Refused,
    TypeMismatch,
)
from .domain import (
    SPIN_PRIVILEGED,
    SPIN_PUBLIC,
    Authorizer,
    Denied,
    Domain,
    DomainFault,
    DomainStatistics,
    DomainUnloaded,
    Identity,
    LinkError,
    NameServer,
    NameServerStatistics,
    NotResolved,
    anyone,
    combine,
    resolve,
    trusted_only,
    unresolve,
)
from .extern import BadExternRef, ExternStatistics, ExternTable
from .kernel import (
    Binding,
    EventRef,
    ExtensionFailed,
    NoSuchSyscall,
    Package,
    Spin,
    SpinStats,
    StrandExit,
    SyscallError,
)
from .memory import (
    PROT_NONE,
    PROT_READ,
    PROT_RW,
    PROT_WRITE,
    RETRY,
    SKIP,
    Context,
    Frame,
    MemoryFault,
)
from .net import NetStack, NetStackStats, Packet, attach
from .sfs_check import fsck as sfs_fsck
from .storage import MountRefused, StorageService, StorageStats
from .strands import Scheduler, Strand

__all__ = [
    "SPIN_PRIVILEGED", "SPIN_PUBLIC", "Authorizer", "BadExternRef", "Denied", "Domain",
    "DomainStatistics", "ExternStatistics", "ExternTable", "Identity", "DomainFault", "DomainUnloaded", "LinkError", "NameServer",
    "NameServerStatistics", "NotResolved", "anyone", "combine", "resolve", "trusted_only",
    "unresolve",
    "After", "Before", "Costs", "Decision", "Dispatcher", "DispatcherStats", "Eq", "Event",
    "First", "Handler", "Last", "NoHandler", "Order", "Refused", "TypeMismatch",
    "Binding", "EventRef", "ExtensionFailed", "NoSuchSyscall", "Package", "Spin", "SpinStats",
    "StrandExit", "SyscallError",
    "PROT_NONE", "PROT_READ", "PROT_RW", "PROT_WRITE", "RETRY", "SKIP", "Context", "Frame",
    "MemoryFault", "Scheduler", "Strand",
    "NetStack", "NetStackStats", "Packet", "attach",
    "MountRefused", "StorageService", "StorageStats", "sfs_fsck",
]
