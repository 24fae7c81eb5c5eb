"""The portable interface: what an application may call, the same on every system.

What this is
    A small POSIX-like API: processes, pipes, shared memory, memory
    allocation and protection with user-level fault handling (the Appel-Li
    primitives), threads with mutexes and condition variables, and time.
    Applications import only this module; each system supplies a
    *process* object that implements :class:`Process`, and the functions
    here call the current one. On Aegis the process is ExOS in user space;
    on SPIN and Unix it will be their own (issues 4 and 5).

Why it is built this way
    Python cannot duplicate a running stack, so ``fork`` takes the function
    the child runs: ``fork(fn, *args)`` returns the child's pid in the
    parent, and the child runs ``fn(*args)`` and exits with its return
    value. The child's *address space* (simulated memory) is a copy of the
    parent's, copy-on-write where the system does that; the Python heap is
    not copied, so data a child must see as its own belongs in simulated
    memory (``mmap`` / ``store``), and arguments pass by value like
    registers. ``exec`` replaces the program and the address space and does
    not return.

    The current process is found through a context variable: greenlets carry
    their own contexts, so every environment, process and thread sees its
    own, at the cost of one ``ContextVar.get``.

Errors
    Calls raise :class:`PosixError` with an ``errno`` name (``EBADF``,
    ``EPIPE``, ``ECHILD``, ``ENOMEM``, ``EINVAL``, ``EFAULT``, ``EAGAIN``) and
    a readable message. A fault the process does not handle ends it, with a
    message, and only it.

How a process ends
    It *exits* (``main`` returns a status or calls ``exit``, or
    ``sys.exit``; any status, 3 as well as 0, is an exit), it *crashes* (an exception escapes the
    application: status 1) or it is *killed* (the system ends it: a fault
    with no handler, status 139 = 128 + SIGSEGV; the kernel destroying it).
    Each system's runtime (the code that calls ``main``: ExOS, Unix' libc,
    SPIN's libunix with its unix_as extension) records a crash or a kill as
    a :class:`Failure` in the log the process was started with (a child
    inherits its parent's, as it inherits stderr); a crash keeps the
    exception and the frames of the application it went through
    (``application_frames``). ``run()`` of every system reports them on
    stderr and ``run(check=True)`` raises :class:`ProgramFailed`.

Interface
    see ``__all__``; an application is a function ``main(argv) -> int``.
    For the systems: a process object implements :class:`Process` and may
    inherit :class:`MachineBinding`; its mutexes subclass :class:`Mutex`.
"""

from __future__ import annotations

import traceback as _tb
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import CodeType, FrameType, TracebackType
from typing import Any, Protocol, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])

#: Code that stands for the machine, not for system software: an application's load,
#: store and run of arithmetic (instructions, which the systems route through their
#: process objects only because applications are Python) and the binding's lookup of
#: the current process. The Python audit (bench/audit.py) does not count it.
MACHINE_CODE: set[CodeType] = set()


def machine_code(fn: _F) -> _F:
    """Mark ``fn`` as standing for the machine (``MACHINE_CODE``); returns it unchanged."""
    MACHINE_CODE.add(fn.__code__)
    return fn

PROT_NONE = 0
PROT_READ = 1
PROT_WRITE = 2
PROT_RW = PROT_READ | PROT_WRITE


class PosixError(Exception):
    """A call failed; ``errno`` names why (as in POSIX)."""

    def __init__(self, errno: str, message: str) -> None:
        super().__init__(f"{errno}: {message}")
        self.errno = errno


# ------------------------------------------------------- how a process ends

#: The system software, by package: a frame of code in ``exospin.<one of these>`` is the
#: simulator's, not the application's; so is one in ``extension.*`` (SPIN's extensions,
#: as the verifier names them).
_SYSTEM_PACKAGES = frozenset({"machine", "aegis", "exos", "spin", "unix", "verifier", "net", "posix", "systems"})


def _is_system(frame: FrameType) -> bool:
    name = frame.f_globals.get("__name__")
    if not isinstance(name, str):
        return False
    top, _, rest = name.partition(".")
    return top == "extension" or (top == "exospin" and rest.partition(".")[0] in _SYSTEM_PACKAGES)


#: The signals a kill's reason may start with (``"SIGSEGV: ..."``, as Unix' kernel says), by number.
SIGNALS = {8: "SIGFPE", 9: "SIGKILL", 10: "SIGBUS", 11: "SIGSEGV"}


def application_frames(tb: TracebackType | None, outer: FrameType | None = None) -> _tb.StackSummary:
    """The frames of traceback ``tb`` that are the application's: every frame outside
    the system software (the machine, the kernels, the library OSes, this module).
    ``outer``: the frame that caught the exception before it unwound the stack (a
    handler upcalled inside a fault), whose callers come first."""
    frames = [*reversed(list(_tb.walk_stack(outer)))] if outer is not None else []
    frames += _tb.walk_tb(tb)
    return _tb.StackSummary.extract(
        (f, line) for f, line in frames if not _is_system(f))


@dataclass(frozen=True, eq=False)
class Failure:
    """A process that died abnormally: it crashed (``exception`` is what escaped the
    application, ``traceback`` the application's frames it went through) or the
    system killed it (``exception`` is None; ``reason`` is the system's message)."""

    pid: int
    program: str
    status: int
    reason: str  # "KeyError: 'x'" for a crash; the system's message for a kill
    exception: BaseException | None = None
    traceback: _tb.StackSummary = field(default_factory=_tb.StackSummary)

    @classmethod
    def crash(cls, pid: int, program: str, exc: BaseException, status: int = 1,
              outer: FrameType | None = None) -> Failure:
        """The record of ``exc`` escaping ``program`` (status 1, as a C runtime gives);
        ``outer`` as for ``application_frames``. If no frame is the application's, the
        exception began in the system software (a bug there): every frame is kept."""
        frames = application_frames(exc.__traceback__, outer)
        if not frames:
            frames = _tb.StackSummary.extract(_tb.walk_tb(exc.__traceback__))
        return cls(pid, program, status, f"{type(exc).__name__}: {exc}", exc, frames)

    @property
    def kind(self) -> str:
        """``crashed`` or ``killed``."""
        return "killed" if self.exception is None else "crashed"

    @property
    def signal(self) -> str | None:
        """The signal that killed it, if the system's reason names one of ``SIGNALS``."""
        sig = self.reason.partition(":")[0]
        return sig if self.exception is None and sig in SIGNALS.values() else None

    def headline(self) -> str:
        """One line: the pid, the program, how it died and its exit status."""
        who = f"pid {self.pid} ({self.program})"
        if self.exception is not None:
            return f"{who} crashed: {self.reason} (exit status {self.status})"
        sig = self.signal
        if sig is None:
            return f"{who} killed: {self.reason} (exit status {self.status})"
        return f"{who} killed by {sig}:{self.reason.partition(':')[2]} (exit status {self.status})"

    def report(self) -> str:
        """The headline; for a crash then the application's traceback, as Python prints one."""
        if self.exception is None or not self.traceback:
            return self.headline()
        frames = "".join(self.traceback.format())
        exc = "".join(_tb.format_exception_only(type(self.exception), self.exception))
        return f"{self.headline()}\nTraceback (most recent call last):\n{frames}{exc}".rstrip("\n")


def format_failures(failures: Iterable[Failure]) -> str:
    """Every failure's report, its headline prefixed ``exospin:`` (what ``run()`` prints)."""
    return "\n".join(f"exospin: {f.report()}" for f in failures)


class ProgramFailed(Exception):
    """``run(check=True)`` found processes that crashed or were killed (``failures``)."""

    def __init__(self, failures: Iterable[Failure]) -> None:
        self.failures = tuple(failures)
        n = len(self.failures)
        super().__init__(f"{n} process{'es' if n != 1 else ''} failed:\n{format_failures(self.failures)}")


def crashed(log: list[Failure] | None, pid: int, program: str, exc: BaseException,
            outer: FrameType | None = None) -> str:
    """A runtime's record of a crash: append it to ``log`` (if the process has one);
    return the message the system keeps with the status (``died: KeyError: 'x'``)."""
    f = Failure.crash(pid, program, exc, outer=outer)
    if log is not None:
        log.append(f)
    return f"died: {f.reason}"


def system_exit(log: list[Failure] | None, pid: int, program: str, e: SystemExit) -> tuple[int, str]:
    """What ``sys.exit(code)`` in an application means, as (status, message): ``exit(code)``
    for an int code (0 for None); any other code is a message Python would print before
    exiting with 1: a crash, recorded as ``crashed`` does."""
    if e.code is None:
        return 0, ""
    if type(e.code) is int:
        return e.code, ""
    return 1, crashed(log, pid, program, e)


def killed(log: list[Failure] | None, pid: int, program: str, status: int, reason: str) -> None:
    """A runtime's record of a kill by the system (no traceback: the application did not raise)."""
    if log is not None:
        log.append(Failure(pid, program, status, reason))


Program = Callable[..., Any]
FaultHandler = Callable[[int, bool], Any]


class Process(Protocol):
    """What a system must provide for ``posix`` to run on it."""

    def getpid(self) -> int: ...
    def fork(self, fn: Program, *args: Any) -> int: ...
    def exec(self, program: Program, argv: list[str]) -> None: ...
    def exit(self, status: int) -> None: ...
    def wait(self, pid: int = -1) -> tuple[int, int]: ...
    def pipe(self) -> tuple[int, int]: ...
    def read(self, fd: int, n: int) -> bytes: ...
    def write(self, fd: int, data: bytes) -> int: ...
    def close(self, fd: int) -> None: ...
    def shm_open(self, key: str, npages: int) -> int: ...
    def mmap(self, npages: int, prot: int = PROT_RW) -> int: ...
    def munmap(self, vaddr: int, npages: int) -> None: ...
    def mprotect(self, vaddr: int, npages: int, prot: int) -> None: ...
    def on_fault(self, handler: FaultHandler | None) -> None: ...
    def dirty(self, vaddr: int) -> bool: ...
    def alias(self, vaddr: int) -> int: ...
    def load(self, vaddr: int) -> int: ...
    def store(self, vaddr: int, value: int) -> None: ...
    def compute(self, n: int) -> None: ...
    def thread_create(self, fn: Program, *args: Any) -> int: ...
    def thread_join(self, tid: int) -> Any: ...
    def thread_yield(self) -> None: ...
    def mutex(self) -> Any: ...
    def condition(self, mutex: Any) -> Any: ...
    def time_us(self) -> float: ...
    def wait_word(self, vaddr: int, old: int) -> int: ...
    def wake(self, pid: int) -> None: ...
    def rpc_register(self, n: int, fn: Program) -> None: ...
    def rpc_call(self, pid: int, n: int, *args: Any) -> Any: ...
    def page_size(self) -> int: ...
    def word_size(self) -> int: ...


_current: ContextVar[Process] = ContextVar("exospin.posix.process")


@machine_code
def _p() -> Process:
    try:
        return _current.get()
    except LookupError:
        raise PosixError("ENOSYS", "not running inside a process of a booted system") from None


def bind_process(process: Process) -> None:
    """Make ``process`` the current one in this context (systems call this, apps do not)."""
    _current.set(process)


# ------------------------------------------- shared by the systems' libraries


class Processor(Protocol):
    """The user-mode instructions of the machine's processor (``machine.CPU`` is one)."""

    def load(self, vaddr: int) -> int: ...
    def store(self, vaddr: int, value: int) -> None: ...
    def compute(self, n: int) -> None: ...


class _HasProcessor(Protocol):
    @property
    def cpu(self) -> Processor: ...


class MachineBinding:
    """``load``, ``store`` and ``compute`` of a :class:`Process`: straight to its
    processor ``cpu``, and marked as the machine's (``machine_code``), not the system's.

    Every system's process object binds them the same way, so each inherits them
    from here (ExOS, Unix's libc) and sets ``self.cpu``. They stay separate kernels:
    this is user-level plumbing, and reaches no kernel.
    """

    __slots__ = ()

    @machine_code
    def load(self: _HasProcessor, vaddr: int) -> int:
        return self.cpu.load(vaddr)

    @machine_code
    def store(self: _HasProcessor, vaddr: int, value: int) -> None:
        self.cpu.store(vaddr, value)

    @machine_code
    def compute(self: _HasProcessor, n: int) -> None:
        self.cpu.compute(n)


_M = TypeVar("_M", bound="Mutex")


class Mutex:
    """What ``mutex()`` returns on a system: ``acquire()``, ``release()``, and ``with m:``
    for the two. A system's mutex (ExOS threads, Unix kernel threads, Unix user threads)
    subclasses it and defines ``acquire`` and ``release``; the context manager is this one."""

    __slots__ = ()

    def acquire(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define acquire()")

    def release(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define release()")

    def __enter__(self: _M) -> _M:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


# ------------------------------------------------------------- processes


def getpid() -> int:
    return _p().getpid()


def fork(fn: Program, *args: Any) -> int:
    """Create a child running ``fn(*args)`` in a copy of this address space; returns its pid."""
    return _p().fork(fn, *args)


def exec(program: Program, argv: list[str] | None = None) -> None:  # noqa: A001 - the POSIX name
    """Replace this process's program and address space with ``program(argv)``; no return."""
    _p().exec(program, list(argv or []))


def exit(status: int = 0) -> None:  # noqa: A001 - the POSIX name
    """End this process with ``status``."""
    _p().exit(status)


def wait(pid: int = -1) -> tuple[int, int]:
    """Wait for a child (``pid``, or any with -1) to end; returns (pid, status)."""
    return _p().wait(pid)


# ------------------------------------------------------------------ IPC


def pipe() -> tuple[int, int]:
    """A pipe: (read fd, write fd)."""
    return _p().pipe()


def read(fd: int, n: int) -> bytes:
    """Up to ``n`` bytes; blocks until some are there; b"" at end of file."""
    return _p().read(fd, n)


def write(fd: int, data: bytes) -> int:
    """Write all of ``data`` (blocking while the pipe is full); EPIPE if no reader is left."""
    return _p().write(fd, data)


def close(fd: int) -> None:
    _p().close(fd)


def shm_open(key: str, npages: int) -> int:
    """Map the shared segment ``key`` (created at ``npages`` if new); returns its address."""
    return _p().shm_open(key, npages)


# --------------------------------------------------------------- memory


def mmap(npages: int, prot: int = PROT_RW) -> int:
    """Reserve ``npages`` demand-zero pages; returns the address of the first."""
    return _p().mmap(npages, prot)


def munmap(vaddr: int, npages: int) -> None:
    _p().munmap(vaddr, npages)


def mprotect(vaddr: int, npages: int, prot: int) -> None:
    """Change the protection of ``npages`` pages (Appel-Li: protect / unprotect)."""
    _p().mprotect(vaddr, npages, prot)


def on_fault(handler: FaultHandler | None) -> None:
    """Call ``handler(vaddr, write)`` on an access the protection forbids, instead of
    ending the process. The handler fixes the protection (the access is retried) or
    returns True to skip a store. No signals are involved where the system allows."""
    _p().on_fault(handler)


def dirty(vaddr: int) -> bool:
    """Has the page at ``vaddr`` been written since it was mapped or last protected?"""
    return _p().dirty(vaddr)


def alias(vaddr: int) -> int:
    """Map the frame under page ``vaddr`` at a second address too; returns that address."""
    return _p().alias(vaddr)


@machine_code
def load(vaddr: int) -> int:
    """Read one word of simulated memory."""
    return _p().load(vaddr)


@machine_code
def store(vaddr: int, value: int) -> None:
    """Write one word of simulated memory."""
    _p().store(vaddr, value)


@machine_code
def compute(n: int) -> None:
    """Do ``n`` instructions' worth of work."""
    _p().compute(n)


def page_size() -> int:
    return _p().page_size()


def word_size() -> int:
    return _p().word_size()


# -------------------------------------------------------------- threads


def thread_create(fn: Program, *args: Any) -> int:
    """A thread in this process running ``fn(*args)``; returns its id."""
    return _p().thread_create(fn, *args)


def thread_join(tid: int) -> Any:
    """Wait for thread ``tid`` to finish; returns its return value."""
    return _p().thread_join(tid)


def thread_yield() -> None:
    _p().thread_yield()


def mutex() -> Any:
    """A mutex: ``with m:`` or ``m.acquire()`` / ``m.release()``."""
    return _p().mutex()


def condition(m: Any) -> Any:
    """A condition variable on mutex ``m``: ``wait()``, ``signal()``, ``broadcast()``."""
    return _p().condition(m)


def wait_word(vaddr: int, old: int) -> int:
    """Block until the word at ``vaddr`` no longer holds ``old`` (a futex wait on
    shared memory); returns the new value. Another process changes it, then ``wake``s us."""
    return _p().wait_word(vaddr, old)


def wake(pid: int) -> None:
    """Wake process ``pid`` if it is blocked (after a store it may be waiting for)."""
    _p().wake(pid)


def rpc_register(n: int, fn: Program) -> None:
    """Offer procedure ``n`` to other processes (a lightweight RPC server)."""
    _p().rpc_register(n, fn)


def rpc_call(pid: int, n: int, *args: Any) -> Any:
    """Call procedure ``n`` of process ``pid``; returns its result (LRPC)."""
    return _p().rpc_call(pid, n, *args)


# ----------------------------------------------------------------- time


def time_us() -> float:
    """Simulated time since boot, in microseconds."""
    return _p().time_us()


# ------------------------------------------------------------------- sockets
#
# UDP over IPv4, the same on every system that has a network stack (issue 16):
# ExOS builds it in the library on DPF and packet rings, SPIN as extensions on
# packet events reached through its Unix personality, unix in the kernel as BSD
# does (mbufs, PCBs, copyin/copyout). A socket is a descriptor: ``close`` and
# the descriptor table are the ones pipes use. Addresses are ``(ip, port)``
# with ``ip`` a dotted string ("10.0.0.2"); machine i of ``systems.network`` is
# 10.0.0.(i+1). Errors (PosixError names): EAFNOSUPPORT / EPROTONOSUPPORT for
# another domain or type, EBADF for a closed descriptor, ENOTSOCK for a pipe,
# EADDRINUSE for a port another socket (or environment, or domain) holds,
# EINVAL for a malformed address or a second bind, EMSGSIZE for a datagram
# larger than one frame carries (1,472 bytes of payload on Ethernet),
# ENOSYS on a system whose stack does not exist yet. A datagram that finds its
# receiver's buffer full is dropped and counted, as UDP does.

AF_INET = 2
SOCK_DGRAM = 2
#: The largest UDP payload one Ethernet frame carries (1500 - 20 - 8).
UDP_MAX_PAYLOAD = 1472

#: ``(ip, port)``: ``("10.0.0.2", 7)``.
Address = tuple[str, int]


class SocketProcess(Protocol):
    """What a process with a network stack adds to :class:`Process`."""

    def socket(self, domain: int, type: int) -> int: ...
    def bind(self, fd: int, address: Address) -> None: ...
    def sendto(self, fd: int, data: bytes, address: Address) -> int: ...
    def recvfrom(self, fd: int, n: int) -> tuple[bytes, Address]: ...
    def poll(self, fds: list[int], timeout_us: float | None) -> list[int]: ...


def _s() -> SocketProcess:
    p = _p()
    if not hasattr(p, "socket"):
        raise PosixError("ENOSYS", "this system has no network stack yet (sockets: issue 16)")
    return p  # type: ignore[return-value]


def socket(domain: int = AF_INET, type: int = SOCK_DGRAM) -> int:  # noqa: A002 - the POSIX names
    """A new UDP socket; returns its descriptor (unbound: ``sendto`` binds it to a free port)."""
    return _s().socket(domain, type)


def bind(fd: int, address: Address) -> None:
    """Give socket ``fd`` the local ``address`` (``("0.0.0.0", 0)``: any, a free port)."""
    _s().bind(fd, address)


def sendto(fd: int, data: bytes, address: Address) -> int:
    """Send ``data`` as one datagram to ``address``; returns the bytes sent."""
    return _s().sendto(fd, data, address)


def recvfrom(fd: int, n: int) -> tuple[bytes, Address]:
    """The next datagram on ``fd`` (at most ``n`` bytes of it) and its sender; blocks."""
    return _s().recvfrom(fd, n)


def poll(fds: list[int], timeout_us: float | None = None) -> list[int]:
    """Wait until one of the sockets ``fds`` has a datagram (or ``timeout_us`` passes);
    returns those that have one, in the order given ([] on time-out)."""
    return _s().poll(fds, timeout_us)



# --------------------------------------------------------------------- files
#
# Files on the machine's disk, the same on every system that has a file system
# (issue 18): ExOS builds one in the library on XN's secure bindings for disk
# blocks, SPIN as extensions, unix in the kernel as BSD's FFS does. A file is a
# descriptor, in the table pipes and sockets use: ``read``, ``write`` and
# ``close`` above are the file calls too. Paths are absolute, "/"-separated
# (no "." or ".." components; a trailing "/" is refused), names at most
# ``NAME_MAX`` bytes. Errors (PosixError names): ENOENT (no such file or
# directory), EEXIST (``O_CREAT | O_EXCL`` on an existing name, ``mkdir`` of
# an existing name, ``rename`` onto a directory), ENOTDIR, EISDIR (opening a
# directory for writing, ``unlink`` of one), ENOTEMPTY (``rmdir``), EBADF,
# EINVAL (a bad flag, whence, negative offset, malformed path), ENAMETOOLONG,
# ENOSPC (the disk or the inode table is full: the call changes nothing),
# EMFILE (too many open descriptors), EIO (the disk failed), ENOSYS on a
# system (or a boot without a disk) that has no file system. ``fsync`` returns
# once the file's data and the metadata that reach it are on the disk: after a
# crash, a file ``fsync``ed before it is there whole.

O_RDONLY = 0
O_WRONLY = 1
O_RDWR = 2
O_ACCMODE = 3
O_CREAT = 0o100
O_EXCL = 0o200
O_TRUNC = 0o1000
O_APPEND = 0o2000

SEEK_SET = 0
SEEK_CUR = 1
SEEK_END = 2

#: The longest name of one path component, in bytes.
NAME_MAX = 255

#: ``fadvise`` advice, as ``posix_fadvise``: NORMAL (no hint), SEQUENTIAL (the range is
#: read once in order: a policy may replace its blocks first and read ahead), RANDOM (no
#: read-ahead), WILLNEED (prefetch the range now), DONTNEED (the range's cached blocks
#: may go first: "replace this next", and are written back if dirty), NOREUSE (read once).
FADV_NORMAL = 0
FADV_RANDOM = 1
FADV_SEQUENTIAL = 2
FADV_WILLNEED = 3
FADV_DONTNEED = 4
FADV_NOREUSE = 5


@dataclass(frozen=True)
class Stat:
    """What ``stat`` says of a path."""

    ino: int  #: the inode (or the system's name for the file): the same file, the same number
    is_dir: bool
    size: int  #: bytes
    nlink: int
    blocks: int  #: disk blocks the file holds (data and indirect blocks)
    block_size: int  #: bytes in one of those blocks


class FileProcess(Protocol):
    """What a process with a file system adds to :class:`Process`."""

    def open(self, path: str, flags: int, mode: int) -> int: ...
    def lseek(self, fd: int, offset: int, whence: int) -> int: ...
    def fsync(self, fd: int) -> None: ...
    def unlink(self, path: str) -> None: ...
    def mkdir(self, path: str, mode: int) -> None: ...
    def rmdir(self, path: str) -> None: ...
    def readdir(self, path: str) -> list[str]: ...
    def stat(self, path: str) -> Stat: ...
    def rename(self, old: str, new: str) -> None: ...
    def fadvise(self, fd: int, advice: int, offset: int, length: int, priority: int | None) -> None: ...


def _f() -> FileProcess:
    p = _p()
    if not hasattr(p, "open"):
        raise PosixError("ENOSYS", "this system has no file system yet (files: issue 18)")
    return p  # type: ignore[return-value]


def open(path: str, flags: int = O_RDONLY, mode: int = 0o644) -> int:  # noqa: A001 - the POSIX name
    """Open (with ``O_CREAT``: create) the file at ``path``; returns its descriptor, at
    offset 0 (``O_APPEND``: every write goes to the end; ``O_TRUNC``: emptied first)."""
    return _f().open(path, flags, mode)


def lseek(fd: int, offset: int, whence: int = SEEK_SET) -> int:
    """Move ``fd``'s offset; returns the new one (past the end is allowed: a hole reads as zeros)."""
    return _f().lseek(fd, offset, whence)


def fsync(fd: int) -> None:
    """Return once the file's data and metadata are on the disk."""
    _f().fsync(fd)


def unlink(path: str) -> None:
    """Remove the name ``path``; the file goes when no name and no descriptor holds it."""
    _f().unlink(path)


def mkdir(path: str, mode: int = 0o755) -> None:
    _f().mkdir(path, mode)


def rmdir(path: str) -> None:
    """Remove the empty directory ``path``."""
    _f().rmdir(path)


def readdir(path: str) -> list[str]:
    """The names in directory ``path`` (without "." and ".."), sorted."""
    return _f().readdir(path)


def stat(path: str) -> Stat:
    return _f().stat(path)


def rename(old: str, new: str) -> None:
    """Give file ``old`` the name ``new`` (replacing a file of that name), atomically."""
    _f().rename(old, new)


def fadvise(fd: int, advice: int, offset: int = 0, length: int = 0, priority: int | None = None) -> None:
    """A caching hint for ``length`` bytes of ``fd`` from ``offset`` (0: to the end), as
    ``posix_fadvise``; ``priority`` also sets the file's priority in a policy that has one
    (LRU-SP: a file of lower priority gives up its blocks first; 0 is the default). A system
    whose cache cannot use a hint ignores it; a bad ``fd`` or ``advice`` is still an error."""
    _f().fadvise(fd, advice, offset, length, priority)


__all__ = [
    "AF_INET", "SOCK_DGRAM", "UDP_MAX_PAYLOAD", "Address", "SocketProcess", "socket", "bind", "sendto",
    "recvfrom", "poll", "bind_process",
    "O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE", "O_CREAT", "O_EXCL", "O_TRUNC", "O_APPEND", "SEEK_SET", "SEEK_CUR",
    "SEEK_END", "NAME_MAX", "FADV_NORMAL", "FADV_RANDOM", "FADV_SEQUENTIAL", "FADV_WILLNEED", "FADV_DONTNEED",
    "FADV_NOREUSE", "Stat", "FileProcess", "open", "lseek", "fsync", "unlink", "mkdir", "rmdir", "readdir", "stat",
    "rename", "fadvise",
    "MACHINE_CODE", "PROT_NONE", "PROT_READ", "PROT_RW", "PROT_WRITE", "SIGNALS", "Failure", "PosixError", "Process",
    "ProgramFailed", "alias", "application_frames", "close", "compute", "condition", "crashed", "dirty", "exec",
    "exit", "fork", "format_failures", "getpid", "killed", "load", "machine_code", "mmap",
    "mprotect", "munmap", "mutex", "on_fault", "page_size", "pipe", "read", "rpc_call",
    "rpc_register", "shm_open", "store", "system_exit", "wait_word", "wake",
    "thread_create", "thread_join", "thread_yield", "time_us", "wait", "word_size", "write",
    "MachineBinding", "Mutex", "Processor",
]
