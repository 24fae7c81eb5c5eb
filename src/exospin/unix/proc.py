"""The kernel's records: processes, threads, page-table entries, open pipes, segments.

What this models
    The ``struct proc`` / ``struct user`` / ``struct thread`` of a Unix kernel
    (4.3BSD, and the Mach-derived thread of DEC OSF/1): everything here lives
    in kernel memory and is changed only by the kernel, in a system call or
    an exception. User code never sees these objects; it sees pids, thread
    ids, descriptors and addresses.

Why it is built this way
    Plain dataclasses, one per kernel structure, so that the kernel's modules
    (its layers, vm.py, ipc.py, signals.py, syscalls.py) share one
    vocabulary. The kernel charges the memory references it makes to them
    where it makes them.

    The exceptions at the bottom are how the kernel unwinds a thread's Python
    stack (its user stack and kernel stack at once): ``ThreadExit`` when the
    thread or its process ends, ``ThreadKilled`` when another thread or the
    shutdown ends it, ``ExecUnwind`` when exec replaces the program. They are
    ``BaseException``\\s so that an application's ``except Exception`` cannot
    keep a dead process alive.

Interface
    Kernel-private. ``SysError`` is how a system call fails (the user library
    turns it into ``posix.PosixError``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from greenlet import greenlet

PROT_NONE, PROT_READ, PROT_WRITE = 0, 1, 2
PROT_RW = PROT_READ | PROT_WRITE

RUNNABLE, RUNNING, SLEEPING, DEAD = "runnable", "running", "sleeping", "dead"


class SysError(Exception):
    """A system call failed: ``errno`` names why; the kernel changed nothing."""

    def __init__(self, errno: str, message: str) -> None:
        super().__init__(f"{errno}: {message}")
        self.errno = errno
        self.message = message


class ThreadExit(BaseException):
    """Unwinds the current thread: it (or its whole process) has ended."""


class ThreadKilled(BaseException):
    """Thrown into a parked thread whose process is being torn down."""


class ExecUnwind(BaseException):
    """Unwinds the calling thread to its base, where ``entry`` starts the new program."""

    def __init__(self, entry: Callable[[], Any]) -> None:
        super().__init__("exec")
        self.entry = entry


@dataclass(eq=False)
class PTE:
    """One page-table entry. ``pfn`` -1: not resident (demand-zero on first touch)."""

    pfn: int = -1
    prot: int = PROT_RW
    cow: bool = False  # shared copy-on-write after fork: mapped read-only until written
    modified: bool = False  # the modified bit, kept by the kernel (no hardware dirty bit)
    shared: bool = False  # a shared-memory page: never copy-on-write


@dataclass(eq=False)
class Pipe:
    id: int
    pfn: int  # the kernel frame holding the buffer
    capacity: int  # bytes
    head: int = 0  # bytes ever read
    tail: int = 0  # bytes ever written
    readers: int = 0  # descriptors naming the read end, in all processes
    writers: int = 0


@dataclass(eq=False)
class File:
    """An open descriptor's target: one end of a pipe."""

    pipe: Pipe
    end: str  # "r" or "w"


@dataclass(eq=False)
class SockFile:
    """An open descriptor's target: a socket (inet.py); fork shares it (``sock.refs``)."""

    sock: Any
    end: str = "s"


@dataclass(eq=False)
class VFile:
    """An open descriptor's target: an entry of the file system's file table (ffs.OpenFile);
    fork shares it (``of.refs``)."""

    of: Any
    end: str = "f"


@dataclass(eq=False)
class Segment:
    """A shared-memory segment; it lives while any of its pages is mapped."""

    key: str
    pfns: list[int]


@dataclass(eq=False)
class Call:
    """An RPC in flight through a server's message port."""

    client: Thread
    n: int
    args: tuple[Any, ...]
    result: Any = None
    error: tuple[str, str] | None = None
    done: bool = False


@dataclass(eq=False)
class Thread:
    tid: int
    proc: Proc
    entry: Callable[[], Any]
    slot: int  # which signal stack of the process it uses
    kstack: int  # frame of its kernel stack
    g: greenlet | None = None  # the context to resume (whatever was running when it lost the CPU)
    base: greenlet | None = None  # its first greenlet
    state: str = RUNNABLE
    chan: Any = None  # the wait channel it sleeps on
    tf: list[int] = field(default_factory=list)  # the trap frame (TRAPFRAME_WORDS words)
    uargs: tuple[Any, ...] = ()  # system-call arguments (registers a0-a3, then the user stack)
    blocked: int = 0  # signal mask (bit per signal)
    sig_sp: int = 0  # signal stack pointer (frames are pushed below it)
    sig_depth: int = 0
    sigret: tuple[int, int] | None = None  # (EPC, v0) restored by the last sigreturn
    last_fault: tuple[int, bool] | None = None
    fault_repeats: int = 0
    killed: bool = False
    done: bool = False
    result: Any = None
    joined: bool = False
    serving: Call | None = None  # the RPC this (server) thread is answering

    def __repr__(self) -> str:
        return f"<thread {self.tid} of pid {self.proc.pid}>"


@dataclass(eq=False)
class Proc:
    pid: int
    ppid: int
    name: str
    asid: int
    state: str = "running"  # running, zombie
    status: int | None = None
    message: str = ""
    threads: list[Thread] = field(default_factory=list)
    children: set[int] = field(default_factory=set)
    fds: dict[int, File | SockFile | VFile] = field(default_factory=dict)
    sigtramp: dict[int, Callable[..., Any]] = field(default_factory=dict)  # signal -> user trampoline
    pt: dict[int, PTE] = field(default_factory=dict)
    next_va: int = 0
    tlb_view: dict[int, int] = field(default_factory=dict)
    rpc_procs: set[int] = field(default_factory=set)
    port: deque[Call] = field(default_factory=deque)
    sync: dict[int, Any] = field(default_factory=dict)  # kernel mutexes and condition variables
    # accounting
    syscalls: int = 0
    faults: int = 0
    signals: int = 0
    cow_copies: int = 0

    def __repr__(self) -> str:
        return f"<pid {self.pid} {self.name!r}>"
