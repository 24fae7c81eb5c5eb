"""The ExOS shared segment: what all ExOS processes of one machine agree on.

What this models
    In ExOS the process table, the pipe and shared-memory registries and
    the bookkeeping of copy-on-write frames live in memory that every ExOS
    process maps (Kaashoek et al., SOSP 1997, section 4: "the process table
    lives in the library OS"). The kernel knows none of it: to Aegis these
    are environments holding frames and capabilities.

Why it is built this way
    The structures are Python objects shared by the ExOS instances of one
    system (standing for the shared pages), and every ExOS operation that
    reads or writes them charges the memory references it makes
    (``cpu.mem_refs``). Capabilities travel between processes through this
    segment, as they would through shared memory: a capability is data
    its holder can pass on.

    Frame sharing is counted here: ``sharers[pfn]`` is the set of pids that
    map frame ``pfn`` copy-on-write or as shared memory, and ``owner[pfn]``
    the pid of the process whose environment owns it in Aegis. A process
    that exits hands every frame still used by others to one of them
    (``frame_transfer``), so no frame dies while mapped.

Interface
    ``ExOSShared()``; ``alloc_pid()``; ``procs``; ``pipes``; ``segments``;
    ``share(pfn, pid)``, ``unshare(pfn, pid) -> remaining``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..aegis import Capability
from ..posix import Failure


@dataclass(eq=False)
class ProcEntry:
    pid: int
    env: int
    parent: int
    name: str
    state: str = "running"  # running, zombie
    status: int | None = None
    message: str = ""  # why it ended, when it did not simply exit
    children: set[int] = field(default_factory=set)
    wake_entry: int = 0  # the PCT entry point that wakes it from wait()
    waiting: bool = False


@dataclass(eq=False)
class Segment:
    """A shared-memory segment: frames allocated by its creator, shared by capability."""

    key: str
    caps: list[Capability]
    creator: int


@dataclass
class ExOSShared:
    procs: dict[int, ProcEntry] = field(default_factory=dict)
    next_pid: int = 1
    pipes: dict[int, Any] = field(default_factory=dict)
    next_pipe: int = 1
    segments: dict[str, Segment] = field(default_factory=dict)
    sharers: dict[int, set[int]] = field(default_factory=dict)  # pfn -> pids mapping it shared/COW
    owner: dict[int, int] = field(default_factory=dict)  # pfn -> owning pid (for shared frames)
    caps: dict[int, Capability] = field(default_factory=dict)  # pfn -> the owner's capability
    #: notable events, for accounts and demos: (cycles, pid, text); rare events only
    journal: list[tuple[int, int, str]] = field(default_factory=list)
    #: every process that crashed or was killed, in the order they died (posix.Failure)
    failures: list[Failure] = field(default_factory=list)
    #: the network (netstack.py): this machine's IPv4 address (None: no interface), the ARP
    #: cache every process shares (IPv4 address -> MAC), the UDP ports bound (port -> pid),
    #: and the pid whose stack answers ARP for the machine
    ip: str | None = None
    arp: dict[bytes, bytes] = field(default_factory=dict)
    ports: dict[int, int] = field(default_factory=dict)
    arp_owner: int = 0
    #: the library file system's shared state (fs.FsShared), once System.mount named a disk
    fs: Any = None

    def alloc_pid(self) -> int:
        pid = self.next_pid
        self.next_pid += 1
        return pid

    def share(self, pfn: int, pid: int) -> None:
        self.sharers.setdefault(pfn, set()).add(pid)

    def unshare(self, pfn: int, pid: int) -> int:
        """``pid`` no longer maps ``pfn``; returns how many processes still do."""
        s = self.sharers.get(pfn)
        if s is None:
            return 0
        s.discard(pid)
        if not s:
            del self.sharers[pfn]
            return 0
        return len(s)
