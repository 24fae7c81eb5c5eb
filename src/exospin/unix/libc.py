"""The user-side library: ``posix.Process`` implemented with Unix system calls.

What this models
    The C library of a Unix process: every call that needs the kernel is a
    stub that traps (``Unix.trap``) with the call's number from the system-call
    table and its arguments, and turns a failure into ``posix.PosixError``
    with the kernel's errno and message. What needs no kernel stays here:
    loads, stores and computation go straight to the CPU, ``page_size`` and
    ``word_size`` are constants, ``time_us`` reads the free-running cycle
    counter (a clock the kernel maps into every process; no trap).

    Decisions, each a Unix one:

    * ``getpid`` is a real system call (it is the null system call of the
      benchmarks, as in the exokernel paper's Ultrix figures).
    * ``on_fault`` installs a SIGSEGV handler (``sigaction``); the signal
      trampoline, ``_sigtramp``, runs the application's handler, edits the
      saved context in the signal frame when the handler asks to skip the
      store (it advances the saved EPC past the faulting instruction, as a
      real handler does with ``scp->sc_pc += 4``), and calls ``sigreturn``.
    * ``posix.thread_*``, ``mutex`` and ``condition`` are *kernel* threads and
      kernel-synchronised objects (one kernel thread per posix thread, as
      DECthreads on OSF/1); ``uthreads()`` gives the user-level library
      (uthreads.py) for programs that want it.
    * ``rpc_register`` starts, at the first registration, a kernel thread that
      serves the process's message port (ipc.py).

    A process that crashes (an exception escapes the program, or a thread
    or an RPC procedure of it) or that the kernel kills (a signal's default
    action) is appended to the ``log`` it was started with, as a
    ``posix.Failure`` (what its stderr would show); its children inherit the
    log. A kill is seen as the ``ThreadExit`` that unwinds the thread the
    kernel ended the process in, with the reason the kernel recorded.

Interface
    ``start(kernel, program, argv, name, log=None) -> pid``; :class:`UnixProcess`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from .. import posix
from ..posix import PosixError
from . import param
from .decthreads import DECThreads
from .kernel import Unix
from .proc import SysError, ThreadExit
from .syscalls import NUMBERS
from .uthreads import UThreads

_EPC_WORD = param.SIGFRAME_HEADER + 32  # the saved EPC in a signal frame
_V0_WORD = param.SIGFRAME_HEADER + 1  # the saved v0 (r2)

SIGFPE, SIGBUS, SIGSEGV = param.SIGFPE, param.SIGBUS, param.SIGSEGV


def start(k: Unix, program: Callable[..., Any], argv: list[str], name: str,
          log: list[posix.Failure] | None = None) -> int:
    """A new process running ``program(argv)`` under this library; returns its pid.
    Its failure, if it crashes or is killed, is appended to ``log``."""
    def entry() -> None:
        assert k.current is not None
        UnixProcess(k, k.current.proc.pid, name, log)._main(program, (list(argv),))
    return k.spawn(entry, name)


def _sigtramp(sig: int, code: int, vaddr: int, write: bool, value: int, frame: int) -> None:
    """The signal trampoline: where the kernel enters user mode to deliver a signal."""
    proc = cast(UnixProcess, posix._p())
    cpu = proc.cpu
    wb = proc.wb
    if sig == SIGSEGV:
        h = proc.fault_handler
        skip = h(vaddr, write) if h is not None else None
        if skip is True and write:  # skip the store: advance the saved EPC past it
            at = frame + _EPC_WORD * wb
            cpu.store(at, cpu.load(at) + param.INSN_BYTES)
    else:
        g = proc.handlers.get(sig)
        v = g(sig, vaddr, value) if g is not None else None
        if type(v) is int:  # the value the faulting instruction produces
            cpu.store(frame + _V0_WORD * wb, v)
    proc._sys(_SIGRETURN, frame)


_SIGRETURN = NUMBERS["sigreturn"]


class KMutex(posix.Mutex):
    """A mutex of kernel threads: lock and unlock are system calls (``with m:`` from posix.Mutex)."""

    def __init__(self, proc: UnixProcess) -> None:
        self._p = proc
        self.id = proc._sys(NUMBERS["sync_create"], None)

    def acquire(self) -> None:
        self._p._sys(NUMBERS["mutex_lock"], self.id)

    def release(self) -> None:
        self._p._sys(NUMBERS["mutex_unlock"], self.id)


class KCondition:
    def __init__(self, proc: UnixProcess, m: KMutex) -> None:
        if not isinstance(m, KMutex):
            raise PosixError("EINVAL", f"condition: {m!r} is not a mutex of this process")
        self._p = proc
        self.mutex = m
        self.id = proc._sys(NUMBERS["sync_create"], m.id)

    def wait(self) -> None:
        self._p._sys(NUMBERS["cond_wait"], self.id)

    def signal(self) -> None:
        self._p._sys(NUMBERS["cond_signal"], self.id, False)

    def broadcast(self) -> None:
        self._p._sys(NUMBERS["cond_signal"], self.id, True)


class UnixProcess(posix.MachineBinding):
    """One process as its program sees it (implements :class:`exospin.posix.Process`)."""

    SIGFPE, SIGBUS, SIGSEGV = SIGFPE, SIGBUS, SIGSEGV  # for ``signal``, without importing the layer

    def __init__(self, k: Unix, pid: int, name: str = "process", log: list[posix.Failure] | None = None) -> None:
        self.k = k
        self.name = name  # the program's, for the failure log
        self.log = log  # where a crash or a kill is recorded (posix.Failure), as on stderr
        self.cpu = k.cpu
        self.pid = pid
        self.wb = k.word_bytes
        self._trap = k.trap
        self.fault_handler: posix.FaultHandler | None = None
        self.handlers: dict[int, Callable[[int, int, int], Any]] = {}  # SIGFPE, SIGBUS
        self.rpcs: dict[int, Callable[..., Any]] = {}
        self._getpid = NUMBERS["getpid"]

    def _sys(self, number: int, *args: Any) -> Any:
        r = self._trap(number, *args)
        if type(r) is SysError:
            raise PosixError(r.errno, r.message)
        return r

    def _bind(self) -> None:
        posix.bind_process(self)

    def _main(self, program: Callable[..., Any], args: tuple[Any, ...]) -> None:
        """A process's first thread: run the program, then exit with its status."""
        self._bind()
        status, message = 0, ""
        try:
            result = program(*args)
            status = result if type(result) is int else 0
        except ThreadExit:
            self._ended()
            raise
        except SystemExit as e:  # sys.exit(n) in the application: exit(n)
            status, message = posix.system_exit(self.log, self.pid, self.name, e)
        except Exception as e:  # the program raised: the process dies, only it
            status, message = 1, posix.crashed(self.log, self.pid, self.name, e)
        self._sys(NUMBERS["exit"], status, message)

    def _ended(self) -> None:
        """The kernel is unwinding this thread (ThreadExit): after exit(), or because it
        ended the process with a reason (a signal's default action): that is a kill."""
        status, message = self.k.ended.get(self.pid, (0, ""))
        if message:
            posix.killed(self.log, self.pid, self.name, status, message)

    # ------------------------------------------------------------ processes

    def getpid(self) -> int:
        return cast(int, self._sys(self._getpid))

    def fork(self, fn: Callable[..., Any], *args: Any) -> int:
        if not callable(fn):
            raise PosixError("EINVAL", f"fork: fn must be callable, not {type(fn).__name__}")
        k = self.k
        handler, handlers = self.fault_handler, dict(self.handlers)
        name, log = getattr(fn, "__name__", "child"), self.log

        def entry() -> None:
            assert k.current is not None
            child = UnixProcess(k, k.current.proc.pid, name, log)
            child.fault_handler, child.handlers = handler, handlers
            child._main(fn, args)
        return cast(int, self._sys(NUMBERS["fork"], entry, name))

    def exec(self, program: Callable[..., Any], argv: list[str]) -> None:
        if not callable(program):
            raise PosixError("EINVAL", f"exec: program must be callable, not {type(program).__name__}")
        me = self

        def entry() -> None:
            me.fault_handler, me.handlers, me.rpcs = None, {}, {}
            me.name = getattr(program, "__name__", "program")
            me._main(program, (list(argv),))
        self._sys(NUMBERS["exec"], entry, getattr(program, "__name__", "program"))

    def exit(self, status: int) -> None:
        self._sys(NUMBERS["exit"], status, "")

    def wait(self, pid: int = -1) -> tuple[int, int]:
        return cast(tuple[int, int], self._sys(NUMBERS["wait"], pid))

    # ---------------------------------------------------------------- memory

    def mmap(self, npages: int, prot: int = posix.PROT_RW) -> int:
        return cast(int, self._sys(NUMBERS["mmap"], npages, prot))

    def munmap(self, vaddr: int, npages: int) -> None:
        self._sys(NUMBERS["munmap"], vaddr, npages)

    def mprotect(self, vaddr: int, npages: int, prot: int) -> None:
        self._sys(NUMBERS["mprotect"], vaddr, npages, prot)

    def on_fault(self, handler: posix.FaultHandler | None) -> None:
        if handler is not None and not callable(handler):
            raise PosixError("EINVAL", f"on_fault: handler must be callable or None, not {type(handler).__name__}")
        self._sys(NUMBERS["sigaction"], SIGSEGV, _sigtramp if handler is not None else None)
        self.fault_handler = handler

    def signal(self, sig: int, handler: Callable[[int, int, int], Any] | None) -> None:
        """Unix-only: handle SIGFPE (overflow) or SIGBUS (unaligned access):
        ``handler(sig, vaddr, value)`` returns the value the faulting instruction
        produces (an int), or anything else to leave it unchanged."""
        if sig not in (SIGFPE, SIGBUS):
            raise PosixError("EINVAL", f"signal: {sig!r} is not SIGFPE or SIGBUS (use on_fault for SIGSEGV)")
        self._sys(NUMBERS["sigaction"], sig, _sigtramp if handler is not None else None)
        if handler is None:
            self.handlers.pop(sig, None)
        else:
            self.handlers[sig] = handler

    def dirty(self, vaddr: int) -> bool:
        return cast(bool, self._sys(NUMBERS["dirty"], vaddr))

    def alias(self, vaddr: int) -> int:
        return cast(int, self._sys(NUMBERS["alias"], vaddr))

    def page_size(self) -> int:
        return self.k.page

    def word_size(self) -> int:
        return self.wb

    def time_us(self) -> float:
        return self.k.m.us(self.cpu.cycles())

    # --------------------------------------------------------------- threads

    def thread_create(self, fn: Callable[..., Any], *args: Any) -> int:
        if not callable(fn):
            raise PosixError("EINVAL", f"thread_create: fn must be callable, not {type(fn).__name__}")
        me = self

        def entry() -> None:
            me._bind()
            try:
                result = fn(*args)
            except ThreadExit:
                me._ended()
                raise
            except SystemExit as e:  # sys.exit(n) in any thread: exit(n)
                me._sys(NUMBERS["exit"], *posix.system_exit(me.log, me.pid, me.name, e))
                return
            except Exception as e:  # an uncaught exception in any thread ends the process
                me._sys(NUMBERS["exit"], 1, posix.crashed(me.log, me.pid, me.name, e))
                return
            me._sys(NUMBERS["thread_exit"], result)
        return cast(int, self._sys(NUMBERS["thread_create"], entry))

    def thread_join(self, tid: int) -> Any:
        return self._sys(NUMBERS["thread_join"], tid)

    def thread_yield(self) -> None:
        self._sys(NUMBERS["thread_yield"])

    def mutex(self) -> KMutex:
        return KMutex(self)

    def condition(self, mutex: Any) -> KCondition:
        return KCondition(self, mutex)

    def uthreads(self) -> UThreads | DECThreads:
        """The user-level thread library on the calling kernel thread; on the ``osf1``
        baseline, DECthreads (one kernel thread per thread, decthreads.py)."""
        b = self.k.baseline
        if b is not None and b.user_threads == "decthreads":
            return DECThreads(self, b)
        return UThreads(self.cpu, self._bind)

    # ------------------------------------------------------------------- IPC

    def pipe(self) -> tuple[int, int]:
        return cast(tuple[int, int], self._sys(NUMBERS["pipe"]))

    def read(self, fd: int, n: int) -> bytes:
        return cast(bytes, self._sys(NUMBERS["read"], fd, n))

    def write(self, fd: int, data: bytes) -> int:
        return cast(int, self._sys(NUMBERS["write"], fd, data))

    def close(self, fd: int) -> None:
        self._sys(NUMBERS["close"], fd)

    def shm_open(self, key: str, npages: int) -> int:
        return cast(int, self._sys(NUMBERS["shm_open"], key, npages))

    def wait_word(self, vaddr: int, old: int) -> int:
        return cast(int, self._sys(NUMBERS["wait_word"], vaddr, old))

    def wake(self, pid: int) -> None:
        self._sys(NUMBERS["wake"], pid)

    def rpc_register(self, n: int, fn: Callable[..., Any]) -> None:
        if not callable(fn):
            raise PosixError("EINVAL", f"rpc_register: procedure must be callable, not {type(fn).__name__}")
        first = self._sys(NUMBERS["rpc_register"], n)
        self.rpcs[n] = fn
        if first:
            self._sys(NUMBERS["thread_create"], self._rpc_server)

    def _rpc_server(self) -> None:
        """The kernel thread serving this process's message port."""
        self._bind()
        reply_wait = NUMBERS["rpc_reply_wait"]
        n, args = self._sys(NUMBERS["rpc_receive"])
        while True:
            try:
                result = self.rpcs[n](*args)
            except ThreadExit:
                self._ended()
                raise
            except SystemExit as e:  # sys.exit(n) in a procedure: exit(n)
                self._sys(NUMBERS["exit"], *posix.system_exit(self.log, self.pid, self.name, e))
                return
            except Exception as e:  # the procedure failed: the server process dies
                self._sys(NUMBERS["exit"], 1, posix.crashed(self.log, self.pid, self.name, e))
                return
            n, args = self._sys(reply_wait, result)

    def rpc_call(self, pid: int, n: int, *args: Any) -> Any:
        return self._sys(NUMBERS["rpc_call"], pid, n, *args)

    # --------------------------------------------------------------- sockets
    # (posix.SocketProcess: each a system call into the kernel's stack, inet.py)

    def socket(self, domain: int, type: int) -> int:  # noqa: A002 - the POSIX names
        return cast(int, self._sys(NUMBERS["socket"], domain, type))

    def bind(self, fd: int, address: posix.Address) -> None:
        self._sys(NUMBERS["bind"], fd, address)

    def sendto(self, fd: int, data: bytes, address: posix.Address) -> int:
        return cast(int, self._sys(NUMBERS["sendto"], fd, data, address))

    def recvfrom(self, fd: int, n: int) -> tuple[bytes, posix.Address]:
        return cast(tuple[bytes, posix.Address], self._sys(NUMBERS["recvfrom"], fd, n))

    def poll(self, fds: list[int], timeout_us: float | None) -> list[int]:
        return cast(list[int], self._sys(NUMBERS["poll"], fds, timeout_us))

    # ----------------------------------------------------------------- files
    # (posix.FileProcess: each a system call into the kernel's file system, fsys.py and
    # ffs_vnops.py; read, write and close are the calls above)

    def open(self, path: str, flags: int, mode: int) -> int:
        return cast(int, self._sys(NUMBERS["open"], path, flags, mode))

    def lseek(self, fd: int, offset: int, whence: int) -> int:
        return cast(int, self._sys(NUMBERS["lseek"], fd, offset, whence))

    def fsync(self, fd: int) -> None:
        self._sys(NUMBERS["fsync"], fd)

    def unlink(self, path: str) -> None:
        self._sys(NUMBERS["unlink"], path)

    def mkdir(self, path: str, mode: int) -> None:
        self._sys(NUMBERS["mkdir"], path, mode)

    def rmdir(self, path: str) -> None:
        self._sys(NUMBERS["rmdir"], path)

    def readdir(self, path: str) -> list[str]:
        return cast(list[str], self._sys(NUMBERS["readdir"], path))

    def stat(self, path: str) -> posix.Stat:
        ino, is_dir, size, nlink, blocks, bsize = self._sys(NUMBERS["stat"], path)
        return posix.Stat(ino, is_dir, size, nlink, blocks, bsize)

    def rename(self, old: str, new: str) -> None:
        self._sys(NUMBERS["rename"], old, new)

    def fadvise(self, fd: int, advice: int, offset: int, length: int, priority: int | None) -> None:
        """Checked by the kernel and ignored: its buffer cache takes no hints."""
        self._sys(NUMBERS["fadvise"], fd, offset, length, advice, priority)
