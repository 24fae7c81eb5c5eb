"""ExOS processes: fork, exec, exit and wait, built in user space on Aegis.

What this models
    ExOS' process abstraction (Engler et al., section 6; Kaashoek et al.,
    1997, section 4). A process is an Aegis environment running this library
    OS. Everything that makes it a *process* lives here, not in the kernel:
    the process table (in the ExOS shared segment), parent and child, exit
    status, the descriptor table, and the copy-on-write copy of the address
    space that fork makes from write-protection faults.

Why it is built this way
    ``fork(fn, *args)`` creates an environment with ``env_create``, gives it a
    time slice, and builds its page table from ours with every writable
    page copy-on-write (vm.py). The child runs ``fn(*args)``: Python cannot
    copy a running stack (see posix.py). ``exec`` and ``exit`` unwind the
    process's stack with an exception caught at its base, where the
    address space is released and the process table updated. A process
    that dies some other way (an exception, a fault it does not handle, the
    kernel destroying it) is recorded the same way, with a message, and its
    parent's ``wait`` sees it; a crash (with the application's traceback) or
    a kill is also appended to the shared segment's ``failures``, which the
    boot code reports after ``run()``. Waiting is a blocked thread. A process with
    nothing to run gives up the processor; the event it waits for wakes it
    by asynchronous protected control transfer (entry point 0).

Interface
    ``ExOS(sys, shared, pid)`` implements :class:`exospin.posix.Process` and
    :class:`exospin.posix.SocketProcess` (UDP sockets: netstack.py);
    ``ExOS.run(program, args) -> status`` is an environment's whole life.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import posix
from ..aegis import ASH_BUDGET, AegisError, EnvironmentKilled, Syscalls
from ..posix import PosixError
from . import ipc
from .fs import Cffs
from .netstack import NetStack, Socket
from .sched import Policy
from .shared import ExOSShared, ProcEntry
from .threads import Condition, Mutex, Threads
from .vm import PROT_RW, AddressSpace

WAKE_ENTRY = 0  # protected entry point: "something you wait for has happened"
RPC_BASE = 1  # rpc procedure n is protected entry point RPC_BASE + n


class ProcessExit(BaseException):
    """Unwinds a process to its base: exit(status), or death with a message."""

    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message


class ExecRequest(BaseException):
    """Unwinds a process to its base, where the new program starts."""

    def __init__(self, program: Callable[..., Any], argv: list[str]) -> None:
        super().__init__(program)
        self.program = program
        self.argv = argv


class ExOS(posix.MachineBinding):
    """One process: its address space, threads, descriptors, and its view of the table."""

    def __init__(self, sys: Syscalls, shared: ExOSShared, pid: int, policy: Policy | None = None,
                 paging: str = "fifo", max_resident: int | None = None, page_table: str = "linear",
                 cache: str = "lru") -> None:
        self.sys = sys
        self.cpu = sys.cpu
        self.shared = shared
        self.pid = pid
        self.entry: ProcEntry = shared.procs[pid]
        self.entry.env = sys.env_id()
        self.vm = AddressSpace(sys, shared, pid, paging, max_resident, page_table)
        self.vm.die = self._die  # type: ignore[method-assign]
        self.threads = Threads(sys, self._bind, policy)
        self.fds: dict[int, ipc.Fd] = {}
        #: sockets, numbered among the descriptors (netstack.py; the stack exists from the first socket)
        self.socks: dict[int, Socket] = {}
        self.net: NetStack | None = None
        self.rpcs: dict[int, Callable[..., Any]] = {}
        #: the library file system (fs.py), from the first file call on a system with a disk
        self.fs: Cffs | None = None
        self.cache_policy = cache  # its buffer-cache manager (bufcache/), by name
        sys.pct_register(WAKE_ENTRY, self._woken)
        sys.set_handler("prologue", self._prologue)
        sys.set_handler("epilogue", self._epilogue)
        self.wakeups = 0
        self.forks = 0

    def _bind(self) -> None:
        posix.bind_process(self)

    def note(self, text: str) -> None:
        """Record a notable event in the shared journal (fork, exec, exit, copies)."""
        self.shared.journal.append((self.cpu.cycles(), self.pid, text))

    # --------------------------------------------------------- life cycle

    def run(self, program: Callable[..., Any], args: tuple[Any, ...]) -> int:
        """The whole life of the process: run the program (and any it execs), then exit."""
        self._bind()
        status, message = 0, ""
        name, log = self.entry.name, self.shared.failures
        try:
            while True:
                try:
                    result = self.threads.run(program, *args)
                    status = result if type(result) is int else 0
                    break
                except ExecRequest as req:
                    name = getattr(req.program, "__name__", "program")
                    self.note(f"exec {name} {req.argv}")
                    self._close_net()
                    self.vm.release()
                    self.vm = self._fresh_vm()
                    self.threads = Threads(self.sys, self._bind, type(self.threads.policy)())
                    program, args = req.program, (req.argv,)
        except ProcessExit as e:
            status, message = e.status, e.message
            if message:  # not exit(): the library OS ended it (a fault with no handler)
                posix.killed(log, self.pid, name, status, message)
        except EnvironmentKilled:
            if self.net is not None:
                self.net.forget()
            self.vm.forget()
            for f in self.fds.values():
                f.close(self)
            if self.fs is not None:
                self.fs.forget()
            self._record_end(-9, "destroyed by the kernel")
            posix.killed(log, self.pid, name, -9, "destroyed by the kernel")
            raise
        except SystemExit as e:  # sys.exit(n) in the application: exit(n)
            status, message = posix.system_exit(log, self.pid, name, e)
        except Exception as e:  # the program raised: the process dies, only it
            status, message = 1, posix.crashed(log, self.pid, name, e)
        self._finish(status, message)
        return status

    def _fresh_vm(self) -> AddressSpace:
        vm = AddressSpace(self.sys, self.shared, self.pid, self.vm.paging, self.vm.max_resident,
                          self.vm.pt.kind)
        vm.die = self._die  # type: ignore[method-assign]
        return vm

    def _die(self, message: str) -> None:
        raise ProcessExit(139, message)

    def _finish(self, status: int, message: str) -> None:
        v = self.vm
        copies = f"; {v.cow_copies} copy-on-write copies" if v.cow_copies else ""
        if v.page_ins or v.page_outs:
            limit = f" under max_resident={v.max_resident}" if v.max_resident is not None else ""
            copies += f"; {v.page_ins} page-ins, {v.page_outs} page-outs ({v.paging}{limit})"
        self.note(f"exit {status}{': ' + message if message else ''}{copies}")
        for fd in list(self.fds):
            self.close(fd)
        if self.fs is not None:
            self.fs.exit()
        self._close_net()
        self.vm.release()
        self._record_end(status, message)
        parent = self.shared.procs.get(self.entry.parent)
        if parent is not None and parent.waiting:
            self.notify(parent.pid)

    def _record_end(self, status: int, message: str) -> None:
        e = self.entry
        e.state, e.status, e.message = "zombie", status, message
        self.cpu.mem_refs(3)
        for c in e.children:  # orphans: nobody will wait for them
            child = self.shared.procs.get(c)
            if child is not None:
                child.parent = 0
                if child.state == "zombie":
                    del self.shared.procs[c]
        if e.parent == 0 or e.parent not in self.shared.procs:
            self.shared.procs.pop(self.pid, None)  # no one will reap us

    # ------------------------------------------------------------ wake-ups

    def _woken(self) -> None:
        """Entry point 0: an event we may be waiting for happened. The scheduler
        re-checks what its threads wait for when it next looks."""
        self.wakeups += 1

    def notify(self, pid: int) -> None:
        """Wake process ``pid`` if it sleeps: donate it the rest of our slice. Nothing
        if it has ended (IPC's hook, ipc.IpcProcess; ``wake`` is the checked call)."""
        e = self.shared.procs.get(pid)
        if e is None or e.state != "running" or pid == self.pid:
            return
        try:
            self.sys.pct_async(e.env, WAKE_ENTRY)
        except AegisError:
            pass  # it died meanwhile: nothing to wake

    def _prologue(self) -> None:
        self.cpu.restore_registers(self.vm.save_area)
        self.threads.slice_started()
        self.threads.preempt()

    def _epilogue(self) -> None:
        self.cpu.save_registers(self.vm.save_area)
        self.threads.slice_ended()

    # ------------------------------------------------------------ processes

    def getpid(self) -> int:
        return self.pid

    def fork(self, fn: Callable[..., Any], *args: Any) -> int:
        sh = self.shared
        child_pid = sh.alloc_pid()
        sh.procs[child_pid] = child = ProcEntry(child_pid, 0, self.pid, getattr(fn, "__name__", "child"))
        slices = self.sys.free_slices()
        if not slices:
            del sh.procs[child_pid]
            raise PosixError("EAGAIN", "fork: no time slice is free for another process")
        pt = self.vm.fork_copy(child_pid)
        next_va = self.vm.next_va
        fds = {fd: f.dup() for fd, f in self.fds.items()}
        ipc.inherit(fds, self.pid, child_pid)  # now, while our mappings are as the child copies them
        handler = self.vm.fault_handler
        policy_type = type(self.threads.policy)
        paging, max_resident = self.vm.paging, self.vm.max_resident  # the child's library OS is ours
        page_table = self.vm.pt.kind
        cache = self.cache_policy

        def child_main(sys: Syscalls) -> int:
            p = ExOS(sys, sh, child_pid, policy_type(), paging, max_resident, page_table, cache)
            p.vm.adopt(pt, next_va)
            p.vm.fault_handler = handler
            p.fds = fds
            return p.run(fn, args)

        try:
            eid, ecap = self.sys.env_create(child_main, f"pid {child_pid}")
            self.sys.slice_alloc(slices[0], ecap)
        except AegisError as e:
            for f in fds.values():
                f.close(self)
                f.pipe.mapped.pop(child_pid, None)
                f.pipe.fds.pop(child_pid, None)
            for pte in pt.values():
                if pte.cap is not None:
                    sh.unshare(pte.cap.resource, child_pid)
            del sh.procs[child_pid]
            raise PosixError("EAGAIN", f"fork: {e}") from None
        child.env = eid
        shared_pages = sum(1 for p in pt.values() if p.cap is not None)
        self.note(f"fork -> pid {child_pid} ({child.name}): {shared_pages} resident pages shared copy-on-write")
        self.entry.children.add(child_pid)
        self.cpu.mem_refs(6)  # the process-table entry
        self.forks += 1
        return child_pid

    def exec(self, program: Callable[..., Any], argv: list[str]) -> None:
        if not callable(program):
            raise PosixError("EINVAL", f"exec: program must be callable, not {type(program).__name__}")
        raise ExecRequest(program, argv)

    def exit(self, status: int) -> None:
        raise ProcessExit(status)

    def wait(self, pid: int = -1) -> tuple[int, int]:
        e = self.entry
        if not e.children or (pid != -1 and pid not in e.children):
            raise PosixError("ECHILD", f"wait: no child {'' if pid == -1 else pid} to wait for".replace("  ", " "))
        procs = self.shared.procs

        def zombies() -> list[int]:
            return sorted(c for c in e.children if (pid == -1 or c == pid)
                          and (c not in procs or procs[c].state == "zombie"))

        e.waiting = True
        try:
            self.threads.block(lambda: bool(zombies()))
        finally:
            e.waiting = False
        c = zombies()[0]
        e.children.discard(c)
        child = procs.pop(c, None)
        self.cpu.mem_refs(4)
        return c, (child.status if child is not None and child.status is not None else -9)

    # -------------------------------------------------------------- memory

    def mmap(self, npages: int, prot: int = PROT_RW) -> int:
        try:
            return self.vm.mmap(npages, prot)
        except ValueError as e:
            raise PosixError("EINVAL", str(e)) from None

    def munmap(self, vaddr: int, npages: int) -> None:
        self.vm.munmap(vaddr, npages)

    def mprotect(self, vaddr: int, npages: int, prot: int) -> None:
        try:
            self.vm.mprotect(vaddr, npages, prot)
        except ValueError as e:
            raise PosixError("EINVAL", str(e)) from None

    def on_fault(self, handler: posix.FaultHandler | None) -> None:
        self.vm.on_fault(handler)

    def dirty(self, vaddr: int) -> bool:
        return self.vm.dirty(vaddr)

    def alias(self, vaddr: int) -> int:
        try:
            return self.vm.alias(vaddr)
        except ValueError as e:
            raise PosixError("EINVAL", str(e)) from None

    def page_size(self) -> int:
        return self.sys.page_size

    def word_size(self) -> int:
        return self.sys.word_bytes

    def time_us(self) -> float:
        return self.cpu.cycles() * 1e6 / self.sys.clock_hz

    # ------------------------------------------------------------- threads

    def thread_create(self, fn: Callable[..., Any], *args: Any) -> int:
        return self.threads.spawn(fn, *args)

    def thread_create_tickets(self, tickets: int, fn: Callable[..., Any], *args: Any) -> int:
        return self.threads.spawn(fn, *args, tickets=tickets)

    def thread_join(self, tid: int) -> Any:
        try:
            return self.threads.join(tid)
        except KeyError:
            raise PosixError("ESRCH", f"thread_join: no thread {tid}") from None

    def thread_yield(self) -> None:
        self.threads.yield_()

    def mutex(self) -> Mutex:
        return Mutex(self.threads)

    def condition(self, mutex: Any) -> Condition:
        return Condition(self.threads, mutex)

    # ----------------------------------------------------------------- IPC

    def pipe(self) -> tuple[int, int]:
        return ipc.pipe(self)

    def read(self, fd: int, n: int) -> bytes:
        if self.fs is not None and self.fs.owns(fd):
            return self.fs.read(fd, n)
        return ipc.read(self, fd, n)

    def write(self, fd: int, data: bytes) -> int:
        if self.fs is not None and self.fs.owns(fd):
            return self.fs.write(fd, data)
        return ipc.write(self, fd, data)

    def close(self, fd: int) -> None:
        if self.fs is not None and self.fs.owns(fd):
            self.fs.close(fd)
            return
        if self.net is not None and fd in self.socks:
            self.net.close(fd)
            return
        ipc.close(self, fd)

    # ------------------------------------------------------------- sockets

    def _close_net(self) -> None:
        if self.net is not None:
            self.net.close_all()
            self.net = None
            self.threads.idle = self.sys.yield_

    def _stack(self, call: str, fd: Any) -> NetStack:
        if self.net is None:
            if type(fd) is int and fd in self.fds:
                raise PosixError("ENOTSOCK", f"{call}: descriptor {fd} is not a socket")
            raise PosixError("EBADF", f"{call}: {fd!r} is not an open descriptor")
        return self.net

    def socket(self, domain: int, type: int) -> int:  # noqa: A002 - the POSIX name
        if self.net is None:
            self.net = NetStack(self)
        return self.net.socket(domain, type)

    def bind(self, fd: int, address: posix.Address) -> None:
        self._stack("bind", fd).bind(fd, address)

    def sendto(self, fd: int, data: bytes, address: posix.Address) -> int:
        return self._stack("sendto", fd).sendto(fd, data, address)

    def recvfrom(self, fd: int, n: int) -> tuple[bytes, posix.Address]:
        return self._stack("recvfrom", fd).recvfrom(fd, n)

    def ash_install(self, fd: int, source: str, entry: str = "handler", budget: int = ASH_BUDGET) -> int:
        """ExOS' own call (not posix): run the verified handler ``source`` in the kernel on
        socket ``fd``'s packets (an ASH: aegis/netdrv.py); returns its id."""
        return self._stack("ash_install", fd).ash_install(fd, source, entry, budget)

    def poll(self, fds: list[int], timeout_us: float | None) -> list[int]:
        if self.net is None:
            if isinstance(fds, list | tuple) and fds:
                self._stack("poll", fds[0])
            raise PosixError("EINVAL", f"poll: no socket among {fds!r}")
        return self.net.poll(fds, timeout_us)

    def shm_open(self, key: str, npages: int) -> int:
        return ipc.shm_open(self, key, npages)

    def wait_word(self, vaddr: int, old: int) -> int:
        load = self.cpu.load
        self.threads.block(lambda: load(vaddr) != old)
        return load(vaddr)

    def wake(self, pid: int) -> None:
        if type(pid) is not int or pid not in self.shared.procs:
            raise PosixError("ESRCH", f"wake: no process {pid!r}")
        self.notify(pid)

    def rpc_register(self, n: int, fn: Callable[..., Any]) -> None:
        ipc.rpc_register(self, n, fn)

    def rpc_call(self, pid: int, n: int, *args: Any) -> Any:
        return ipc.rpc_call(self, pid, n, *args)

    def rpc_call_trusted(self, pid: int, n: int, *args: Any) -> Any:
        return ipc.rpc_call(self, pid, n, *args, trusted=True)

    # --------------------------------------------------------------- files

    def _fs(self) -> Cffs:
        if self.fs is None:
            if self.shared.fs is None:
                raise PosixError("ENOSYS", "this system was booted without a disk: no file system")
            self.fs = Cffs(self, self.shared.fs, self.cache_policy)
        return self.fs

    def open(self, path: str, flags: int, mode: int) -> int:
        return self._fs().open(path, flags, mode)

    def lseek(self, fd: int, offset: int, whence: int) -> int:
        return self._fs().lseek(fd, offset, whence)

    def fsync(self, fd: int) -> None:
        self._fs().fsync(fd)

    def unlink(self, path: str) -> None:
        self._fs().unlink(path)

    def mkdir(self, path: str, mode: int) -> None:
        self._fs().mkdir(path, mode)

    def rmdir(self, path: str) -> None:
        self._fs().rmdir(path)

    def readdir(self, path: str) -> list[str]:
        return self._fs().readdir(path)

    def stat(self, path: str) -> posix.Stat:
        return self._fs().stat(path)

    def rename(self, old: str, new: str) -> None:
        self._fs().rename(old, new)

    def fadvise(self, fd: int, advice: int, offset: int, length: int, priority: int | None) -> None:
        self._fs().fadvise(fd, offset, length, advice, priority)

    def fsck(self) -> list[str]:
        """ExOS' own call (not posix): check the file system (fs.Cffs.check); [] if consistent."""
        return self._fs().check()
