"""The user half of SPIN's Unix personality: ``exospin.posix`` by system calls.

What this models
    The library a Unix program on SPIN links with (SPIN ran DEC OSF/1
    binaries through such a layer). It runs in user mode, in the process's
    strand, and implements :class:`exospin.posix.Process` by trapping into
    the kernel, where the ``unix_as`` extension (ext/unix_as.py) serves the
    call. Memory references and computation go straight to the processor;
    ``time_us`` reads the cycle counter; everything else is a system call.

Why it is built this way
    The extension answers a bad request with a ``SyscallError`` value (a
    handler that raised would be terminated as a failed extension); this
    library turns it into ``PosixError``, as a C library turns ``-errno``
    into ``errno``. What a C runtime does is here too: the process's first
    function (``process_main``) binds the process, runs the program, turns
    ``exec`` into a fresh start and any exception into ``exit(1)``, and a
    user fault handler or a thread that raises, or a thread whose strand the
    kernel kills for a fault, ends the process the same way. It also
    writes what stderr would show: a crash (with the application's
    traceback) or a kill of its strand (the kernel's reason, status 139 as
    the extension gives) is appended to the process's ``log`` as a
    ``posix.Failure``; a child inherits the log. The runtime learns its pid
    from the cell its parent (or the boot code) fills in with what fork
    returned, so that reporting costs no system call.

    Mutexes and condition variables are user-level, with a kernel sleep
    queue when they must wait: between two system calls user code cannot
    be preempted (interrupts are taken at memory references, computation and
    traps), so testing and sleeping need no atomic instruction here.

Interface
    ``process_main(kernel, fn, args, name, log, ident)`` (a strand's body); ``SpinProcess``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from .. import posix
from ..posix import PosixError
from .kernel import NoSuchSyscall, Spin, SyscallError
from .strands import Strand, StrandExit

# the system-call numbers the unix_as extension claims (its SYS_* constants)
SYS_FORK, SYS_EXEC, SYS_EXIT, SYS_WAIT, SYS_PIPE, SYS_READ, SYS_WRITE, SYS_CLOSE = range(1, 9)
SYS_SHM_OPEN, SYS_MMAP, SYS_MUNMAP, SYS_MPROTECT, SYS_ON_FAULT, SYS_DIRTY, SYS_ALIAS = range(9, 16)
SYS_THREAD_CREATE, SYS_THREAD_JOIN, SYS_THREAD_YIELD, SYS_SLEEP_WORD, SYS_WAKE = range(16, 21)
SYS_RPC_REGISTER, SYS_RPC_CALL, SYS_SLEEP, SYS_WAKEUP, SYS_GETPID = range(21, 26)
# the socket calls the udp_sockets extension claims (spin/net.py's attach loads it)
SYS_SOCKET, SYS_BIND, SYS_SENDTO, SYS_RECVFROM, SYS_POLL = range(26, 31)
# the file calls the sfs extension claims (spin/storage.py's attach loads it: a boot with a disk)
SYS_OPEN, SYS_LSEEK, SYS_FSYNC, SYS_UNLINK, SYS_MKDIR, SYS_RMDIR, SYS_READDIR, SYS_STAT = range(31, 39)
SYS_RENAME, SYS_FADVISE = range(39, 41)
KILLED = 139  # the status of a process whose strand the kernel kills (unix_as' KILLED)


class ExecRequest(Exception):
    """Unwinds the program to ``process_main``, which starts the new one."""

    def __init__(self, program: Callable[..., Any], argv: list[str]) -> None:
        super().__init__("exec")
        self.program = program
        self.argv = argv


def _status(result: Any) -> int:
    return result if type(result) is int else 0


def process_main(kernel: Spin, fn: Callable[..., Any], args: tuple[Any, ...], name: str = "process",
                 log: list[posix.Failure] | None = None, ident: list[int] | None = None) -> None:
    """The first function of every process (crt0): run the program, then exit. A crash
    or a kill is appended to ``log`` under the pid in ``ident[0]`` and ``name``."""
    proc = SpinProcess(kernel, log)
    proc.name, proc.ident = name, ident if ident is not None else [0]
    me = kernel.sched.current
    posix.bind_process(proc)
    status, message = 0, ""
    while True:
        try:
            status = _status(fn(*args))
        except ExecRequest as req:
            proc.call(SYS_EXEC)
            fn, args = req.program, (req.argv,)
            proc.name = getattr(fn, "__name__", "program")
            continue
        except StrandExit:  # exit() (ours or a thread's), or the kernel killed our strand
            proc.unwound(me)
            raise
        except SystemExit as e:  # sys.exit(n) in the application: exit(n)
            status, message = posix.system_exit(log, proc.ident[0], proc.name, e)
        except Exception as e:  # the program raised: the process dies, only it
            status, message = 1, posix.crashed(log, proc.ident[0], proc.name, e)
        break
    proc.exit(status, message)


def thread_main(proc: SpinProcess, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """A thread's strand: an exception escaping ``fn``, or a kill of the strand (a fault no
    handler fixed), ends the process, as on Unix and ExOS."""
    me = proc.kernel.sched.current
    posix.bind_process(proc)
    try:
        return fn(*args)
    except StrandExit:
        if me is not None and proc.kernel.sched.current is me and proc.unwound(me):  # killed where
            proc.call(SYS_EXIT, KILLED, me.error)  # it ran (a fault); unix_as ends only a main strand's
        raise
    except SystemExit as e:  # sys.exit(n) in any thread: exit(n)
        proc.exit(*posix.system_exit(proc.log, proc.ident[0], proc.name, e))
        return None
    except Exception as e:
        proc.exit(1, posix.crashed(proc.log, proc.ident[0], proc.name, e))
        return None


class Mutex:
    """A user-level mutex; contention sleeps on a kernel queue."""

    __slots__ = ("_p", "locked", "waiters")

    def __init__(self, proc: SpinProcess) -> None:
        self._p = proc
        self.locked = False
        self.waiters = 0

    def acquire(self) -> None:
        while self.locked:
            self.waiters += 1
            self._p.call(SYS_SLEEP, self)
            self.waiters -= 1
        self.locked = True

    def release(self) -> None:
        if not self.locked:
            raise PosixError("EPERM", "release of a mutex that is not locked")
        self.locked = False
        if self.waiters:
            self._p.call(SYS_WAKEUP, self, False)

    def __enter__(self) -> Mutex:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Condition:
    __slots__ = ("_p", "mutex", "waiters")

    def __init__(self, proc: SpinProcess, mutex: Mutex) -> None:
        if not isinstance(mutex, Mutex):
            raise PosixError("EINVAL", "condition: not a mutex of this system")
        self._p = proc
        self.mutex = mutex
        self.waiters = 0

    def wait(self) -> None:
        self.waiters += 1
        self.mutex.release()
        self._p.call(SYS_SLEEP, self)
        self.waiters -= 1
        self.mutex.acquire()

    def signal(self) -> None:
        if self.waiters:
            self._p.call(SYS_WAKEUP, self, False)

    def broadcast(self) -> None:
        if self.waiters:
            self._p.call(SYS_WAKEUP, self, True)


class SpinProcess:
    """posix.Process on SPIN: one per process (threads share it)."""

    def __init__(self, kernel: Spin, log: list[posix.Failure] | None = None) -> None:
        self.kernel = kernel
        self.log = log  # where a crash or a kill is recorded (posix.Failure), as on stderr
        self.exited = False  # one of its strands called exit: a kill of the others is that exit
        self.name = "process"  # its program's, and its pid (ident[0]), for the failure log
        self.ident = [0]
        m = kernel.m
        cpu = m.cpu
        self.load = cpu.load  # type: ignore[method-assign]
        self.store = cpu.store  # type: ignore[method-assign]
        self.compute = cpu.compute  # type: ignore[method-assign]
        self._m = m
        self._trap = kernel.syscall
        self._pid = 0

    def call(self, number: int, *args: Any) -> Any:
        r = self._trap(number, *args)
        if type(r) is SyscallError:
            raise PosixError(r.errno, r.message)
        return r

    # -- processes
    def getpid(self) -> int:
        if not self._pid:
            self._pid = self.call(SYS_GETPID)
        return self._pid

    def fork(self, fn: Callable[..., Any], *args: Any) -> int:
        if not callable(fn):
            raise PosixError("EINVAL", f"fork: fn must be callable, not {type(fn).__name__}")
        ident = [0]
        pid = int(self.call(SYS_FORK, process_main, (self.kernel, fn, args, getattr(fn, "__name__", "child"),
                                                     self.log, ident)))
        ident[0] = pid
        return pid

    def exec(self, program: Callable[..., Any], argv: list[str]) -> None:
        if not callable(program):
            raise PosixError("EINVAL", f"exec: program must be callable, not {type(program).__name__}")
        raise ExecRequest(program, argv)

    def unwound(self, me: Strand | None) -> bool:
        """Strand ``me`` of this process is unwinding (StrandExit): after an exit, or because
        the kernel killed it (its ``error`` says why). The first kill is the process's end,
        with status 139: it is recorded (True); the others are that end, or an exit."""
        if self.exited or me is None or me.error is None:
            return False
        self.exited = True
        posix.killed(self.log, self.ident[0], self.name, KILLED, me.error)
        return True

    def exit(self, status: int, message: str = "") -> None:
        self.exited = True
        self.call(SYS_EXIT, status, message)

    def wait(self, pid: int = -1) -> tuple[int, int]:
        r = self.call(SYS_WAIT, pid)
        return (r[0], r[1])

    # -- IPC
    def pipe(self) -> tuple[int, int]:
        r = self.call(SYS_PIPE)
        return (r[0], r[1])

    def read(self, fd: int, n: int) -> bytes:
        return bytes(self.call(SYS_READ, fd, n))

    def write(self, fd: int, data: bytes) -> int:
        return int(self.call(SYS_WRITE, fd, bytes(data)))

    def close(self, fd: int) -> None:
        self.call(SYS_CLOSE, fd)

    def shm_open(self, key: str, npages: int) -> int:
        return int(self.call(SYS_SHM_OPEN, str(key), npages))

    # -- memory
    def mmap(self, npages: int, prot: int = posix.PROT_RW) -> int:
        return int(self.call(SYS_MMAP, npages, prot))

    def munmap(self, vaddr: int, npages: int) -> None:
        self.call(SYS_MUNMAP, vaddr, npages)

    def mprotect(self, vaddr: int, npages: int, prot: int) -> None:
        self.call(SYS_MPROTECT, vaddr, npages, prot)

    def on_fault(self, handler: posix.FaultHandler | None) -> None:
        if handler is None:
            self.call(SYS_ON_FAULT, None)
            return
        if not callable(handler):
            raise PosixError("EINVAL", "on_fault: the handler must be callable")

        def upcalled(vaddr: int, write: bool) -> Any:
            try:
                return handler(vaddr, write)
            except SystemExit as e:  # sys.exit(n) in the handler: exit(n)
                self.exit(*posix.system_exit(self.log, self.ident[0], self.name, e))
            except Exception as e:  # a broken handler ends its process, as a crash would
                posix.crashed(self.log, self.ident[0], self.name, e, outer=sys._getframe())  # the faulting code's too
                self.exit(1, f"died in its fault handler: {type(e).__name__}: {e}")
        self.call(SYS_ON_FAULT, upcalled)

    def dirty(self, vaddr: int) -> bool:
        return bool(self.call(SYS_DIRTY, vaddr))

    def alias(self, vaddr: int) -> int:
        return int(self.call(SYS_ALIAS, vaddr))

    def page_size(self) -> int:
        return self._m.profile.page_size

    def word_size(self) -> int:
        return self._m.profile.word_bytes

    def time_us(self) -> float:
        return self._m.us(self._m.loop.now)

    # -- threads
    def thread_create(self, fn: Callable[..., Any], *args: Any) -> int:
        if not callable(fn):
            raise PosixError("EINVAL", "thread_create: fn must be callable")
        return int(self.call(SYS_THREAD_CREATE, thread_main, (self, fn, args)))

    def thread_join(self, tid: int) -> Any:
        return self.call(SYS_THREAD_JOIN, tid)

    def thread_yield(self) -> None:
        self.call(SYS_THREAD_YIELD)

    def mutex(self) -> Mutex:
        return Mutex(self)

    def condition(self, mutex: Any) -> Condition:
        return Condition(self, mutex)

    def wait_word(self, vaddr: int, old: int) -> int:
        while True:
            v = self.load(vaddr)
            if v != old:
                return v
            self.call(SYS_SLEEP_WORD)

    def wake(self, pid: int) -> None:
        self.call(SYS_WAKE, pid)

    # -- LRPC: a cross-address-space call on the caller's strand
    def rpc_register(self, n: int, fn: Callable[..., Any]) -> None:
        if not callable(fn):
            raise PosixError("EINVAL", "rpc_register: fn must be callable")
        me = self

        def served(*args: Any) -> Any:
            posix.bind_process(me)  # the server's library state while in its space
            try:
                return fn(*args)
            except Exception as e:
                return SyscallError("EIO", f"procedure {n} of process {me.getpid()} raised "
                                           f"{type(e).__name__}: {e}")
        self.call(SYS_RPC_REGISTER, n, served)

    def rpc_call(self, pid: int, n: int, *args: Any) -> Any:
        try:
            return self.call(SYS_RPC_CALL, pid, n, args)
        finally:
            posix.bind_process(self)

    # -- UDP sockets (posix.SocketProcess), served by the udp_sockets extension
    def _net(self, number: int, *args: Any) -> Any:
        try:
            return self.call(number, *args)
        except NoSuchSyscall:
            raise PosixError("ENOSYS", "SPIN has no network stack on this machine "
                                       "(exospin.spin.net.attach loads it)") from None

    def socket(self, domain: int, type: int) -> int:  # noqa: A002 - the POSIX names
        return int(self._net(SYS_SOCKET, domain, type))

    def bind(self, fd: int, address: posix.Address) -> None:
        self._net(SYS_BIND, fd, address)

    def sendto(self, fd: int, data: bytes, address: posix.Address) -> int:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise PosixError("EINVAL", f"sendto: data must be bytes, not {type(data).__name__}")
        return int(self._net(SYS_SENDTO, fd, bytes(data), address))

    def recvfrom(self, fd: int, n: int) -> tuple[bytes, posix.Address]:
        r = self._net(SYS_RECVFROM, fd, n)
        return (r[0], (r[1][0], r[1][1]))

    def poll(self, fds: list[int], timeout_us: float | None) -> list[int]:
        return list(self._net(SYS_POLL, list(fds) if isinstance(fds, list | tuple) else fds, timeout_us))

    # -- files (posix.FileProcess), served by the sfs extension
    def _fs(self, number: int, *args: Any) -> Any:
        try:
            return self.call(number, *args)
        except NoSuchSyscall:
            raise PosixError("ENOSYS", "SPIN has no file system on this machine "
                                       "(boot it with a disk: systems.boot('spin', disk=True))") from None

    def open(self, path: str, flags: int, mode: int) -> int:
        return int(self._fs(SYS_OPEN, path, flags, mode))

    def lseek(self, fd: int, offset: int, whence: int) -> int:
        return int(self._fs(SYS_LSEEK, fd, offset, whence))

    def fsync(self, fd: int) -> None:
        self._fs(SYS_FSYNC, fd)

    def unlink(self, path: str) -> None:
        self._fs(SYS_UNLINK, path)

    def mkdir(self, path: str, mode: int) -> None:
        self._fs(SYS_MKDIR, path, mode)

    def rmdir(self, path: str) -> None:
        self._fs(SYS_RMDIR, path)

    def readdir(self, path: str) -> list[str]:
        return list(self._fs(SYS_READDIR, path))

    def stat(self, path: str) -> posix.Stat:
        r = self._fs(SYS_STAT, path)
        return posix.Stat(int(r[0]), bool(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5]))

    def rename(self, old: str, new: str) -> None:
        self._fs(SYS_RENAME, old, new)

    def fadvise(self, fd: int, advice: int, offset: int, length: int, priority: int | None) -> None:
        self._fs(SYS_FADVISE, fd, offset, length, advice, priority)
