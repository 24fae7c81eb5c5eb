"""ExOS interprocess communication: pipes, shared memory and LRPC, all in user space.

What this models
    The IPC of the exokernel paper (section 6.1, table 9), built from two
    Aegis mechanisms and no kernel IPC at all:

    * **pipes**: a ring buffer of bytes in one frame that both ends map (the
      first two words hold how many bytes were ever read and written). A
      reader with nothing to read blocks its thread; a writer that fills
      the ring, or a reader that frees space, wakes the sleeping side by an
      asynchronous protected control transfer to its entry point 0,
      donating the rest of its slice.
    * **shared memory**: a named segment of frames the creator allocates and
      others map with capabilities derived from its own.
    * **LRPC**: a synchronous protected control transfer to an entry point
      the server registered; the caller's arguments and the reply travel in
      registers. An untrusting caller saves its callee-saved registers
      around the call, because nothing makes the server preserve them. The
      *trusted* variant lets the server save what it uses, and the caller
      saves nothing.

Why it is built this way
    Every byte moves through the simulated memory with loads and stores,
    so a pipe costs what its copies cost. Pipe state lives in the shared
    segment (reader and writer counts, who sleeps), as ExOS kept it in
    shared memory.

Interface
    ``pipe``, ``read``, ``write``, ``close``, ``shm_open``, ``rpc_register``,
    ``rpc_call``; :class:`Fd`. Each takes the calling process first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..aegis import MAX_ENTRIES, AegisError, Capability, Syscalls
from ..posix import PosixError
from .shared import ExOSShared, Segment
from .threads import (
    CALLEE_SAVED,  # what an untrusting LRPC caller saves around a call
    Threads,
)
from .vm import AddressSpace

HEADER_WORDS = 2  # bytes read so far, bytes written so far (modulo 2**32)
MOD = 1 << 32


class IpcProcess(Protocol):
    """What IPC uses of the calling process; ExOS (proc.py) is one.

    Declared here, not imported from proc.py, which imports this module: IPC
    needs the process's identity, processor, address space, threads and
    descriptors, and one hook, ``notify(pid)``, which wakes process ``pid``
    if it sleeps (and does nothing if it has ended).
    """

    pid: int
    cpu: Any  # the processor's user-mode instructions (Syscalls.cpu)
    sys: Syscalls
    shared: ExOSShared
    vm: AddressSpace
    threads: Threads
    fds: dict[int, Fd]
    rpcs: dict[int, Callable[..., Any]]

    def notify(self, pid: int) -> None: ...


@dataclass(eq=False)
class Pipe:
    id: int
    pfn: int
    capacity: int  # bytes of ring
    readers: int = 0
    writers: int = 0
    sleepers: set[int] = field(default_factory=set)  # pids blocked on this pipe
    mapped: dict[int, int] = field(default_factory=dict)  # pid -> vaddr of its mapping
    fds: dict[int, int] = field(default_factory=dict)  # pid -> how many of its fds name this pipe


@dataclass(eq=False)
class Fd:
    pipe: Pipe
    end: str  # "r" or "w"

    def dup(self) -> Fd:
        if self.end == "r":
            self.pipe.readers += 1
        else:
            self.pipe.writers += 1
        return Fd(self.pipe, self.end)

    def close(self, proc: IpcProcess) -> None:
        if self.end == "r":
            self.pipe.readers -= 1
        else:
            self.pipe.writers -= 1


# -------------------------------------------------------------- helpers


def _fd(proc: IpcProcess, fd: int, end: str, call: str) -> Fd:
    f = proc.fds.get(fd) if type(fd) is int else None
    if f is None:
        raise PosixError("EBADF", f"{call}: {fd!r} is not an open descriptor")
    if f.end != end:
        raise PosixError("EBADF", f"{call}: descriptor {fd} is the {'read' if f.end == 'r' else 'write'} end")
    return f


def _new_fd(proc: IpcProcess, f: Fd) -> int:
    fd = 0
    socks = getattr(proc, "socks", ())  # sockets share the descriptor numbers (netstack.py)
    fs = getattr(proc, "fs", None)  # and files (fs.py)
    files = fs.files if fs is not None else ()
    while fd in proc.fds or fd in socks or fd in files:
        fd += 1
    proc.fds[fd] = f
    return fd


def _map_pipe(proc: IpcProcess, pipe: Pipe, cap: Capability) -> int:
    va = proc.vm.map_shared([cap])
    pipe.mapped[proc.pid] = va
    return va


def _va(proc: IpcProcess, pipe: Pipe) -> int:
    va = pipe.mapped.get(proc.pid)
    if va is None:  # inherited by fork: the mapping is at the same address in the child
        raise PosixError("EBADF", "pipe is not mapped in this process")
    return va


def _put(proc: IpcProcess, addr: int, data: bytes) -> None:
    """Store ``data`` at byte address ``addr`` with word loads and stores."""
    wb = proc.sys.word_bytes
    load, store = proc.cpu.load, proc.cpu.store
    i = 0
    n = len(data)
    while i < n:
        a = addr + i
        base = a - a % wb
        off = a - base
        take = min(wb - off, n - i)
        if off == 0 and take == wb:
            store(base, int.from_bytes(data[i : i + wb], "little"))
        else:  # a partial word: read, modify, write
            w = bytearray(load(base).to_bytes(wb, "little"))
            w[off : off + take] = data[i : i + take]
            store(base, int.from_bytes(w, "little"))
        i += take


def _get(proc: IpcProcess, addr: int, n: int) -> bytes:
    wb = proc.sys.word_bytes
    load = proc.cpu.load
    out = bytearray()
    a = addr
    end = addr + n
    while a < end:
        base = a - a % wb
        w = load(base).to_bytes(wb, "little")
        take = min(wb - (a - base), end - a)
        out += w[a - base : a - base + take]
        a += take
    return bytes(out)


def _wake_sleepers(proc: IpcProcess, pipe: Pipe) -> None:
    for pid in sorted(pipe.sleepers):
        if pid != proc.pid:
            proc.notify(pid)


def _sleep_on(proc: IpcProcess, pipe: Pipe, ready: Callable[[], bool]) -> None:
    pipe.sleepers.add(proc.pid)
    try:
        proc.threads.block(ready)
    finally:
        pipe.sleepers.discard(proc.pid)


# ---------------------------------------------------------------- pipes


def pipe(proc: IpcProcess) -> tuple[int, int]:
    sh = proc.shared
    vm = proc.vm
    try:
        cap = vm._grab_frame()
    except MemoryError:
        raise PosixError("ENOMEM", "pipe: no free frame for the pipe's buffer") from None
    p = Pipe(sh.next_pipe, cap.resource, vm.page - HEADER_WORDS * proc.sys.word_bytes)
    sh.next_pipe += 1
    sh.pipes[p.id] = p
    sh.owner[cap.resource] = proc.pid
    sh.caps[cap.resource] = cap
    sh.share(cap.resource, proc.pid)
    _map_pipe(proc, p, cap)  # Aegis zeroed the frame: both counters start at 0
    p.readers = p.writers = 1
    p.fds[proc.pid] = 2
    proc.cpu.mem_refs(6)
    return _new_fd(proc, Fd(p, "r")), _new_fd(proc, Fd(p, "w"))


def write(proc: IpcProcess, fd: int, data: bytes) -> int:
    f = _fd(proc, fd, "w", "write")
    if not isinstance(data, (bytes, bytearray)):
        raise PosixError("EINVAL", f"write: data must be bytes, not {type(data).__name__}")
    p = f.pipe
    va = _va(proc, p)
    wb = proc.sys.word_bytes
    ring = va + HEADER_WORDS * wb
    load = proc.cpu.load
    done = 0
    while done < len(data):
        if p.readers == 0:
            raise PosixError("EPIPE", "write: the pipe has no reader left")
        head, tail = load(va), load(va + wb)
        space = p.capacity - (tail - head) % MOD
        if space == 0:
            _wake_sleepers(proc, p)
            _sleep_on(proc, p, lambda: p.readers == 0 or p.capacity - (load(va + wb) - load(va)) % MOD > 0)
            continue
        n = min(space, len(data) - done)
        pos = tail % p.capacity
        first = min(n, p.capacity - pos)
        _put(proc, ring + pos, bytes(data[done : done + first]))
        if n > first:
            _put(proc, ring, bytes(data[done + first : done + n]))
        proc.cpu.store(va + wb, (tail + n) % MOD)
        done += n
    _wake_sleepers(proc, p)
    return done


def read(proc: IpcProcess, fd: int, n: int) -> bytes:
    f = _fd(proc, fd, "r", "read")
    if type(n) is not int or n < 0:
        raise PosixError("EINVAL", f"read: count must be a non-negative int, not {n!r}")
    p = f.pipe
    va = _va(proc, p)
    wb = proc.sys.word_bytes
    ring = va + HEADER_WORDS * wb
    load = proc.cpu.load
    while True:
        head, tail = load(va), load(va + wb)
        avail = (tail - head) % MOD
        if avail or n == 0:
            break
        if p.writers == 0:
            return b""  # end of file
        _sleep_on(proc, p, lambda: p.writers == 0 or (load(va + wb) - load(va)) % MOD > 0)
    take = min(n, avail)
    pos = head % p.capacity
    first = min(take, p.capacity - pos)
    out = _get(proc, ring + pos, first)
    if take > first:
        out += _get(proc, ring, take - first)
    proc.cpu.store(va, (head + take) % MOD)
    _wake_sleepers(proc, p)
    return out


def close(proc: IpcProcess, fd: int) -> None:
    f = proc.fds.pop(fd, None) if type(fd) is int else None
    if f is None:
        raise PosixError("EBADF", f"close: {fd!r} is not an open descriptor")
    p = f.pipe
    f.close(proc)
    left = p.fds.get(proc.pid, 1) - 1
    p.fds[proc.pid] = left
    _wake_sleepers(proc, p)  # they may be waiting for EOF or EPIPE
    if left <= 0:  # our last descriptor for it: unmap the buffer
        p.fds.pop(proc.pid, None)
        va = p.mapped.pop(proc.pid, None)
        if va is not None:
            proc.vm.munmap(va, 1)
        if p.readers <= 0 and p.writers <= 0:
            proc.shared.pipes.pop(p.id, None)


def inherit(fds: dict[int, Fd], parent_pid: int, child_pid: int) -> None:
    """At fork: the child's descriptors name the parent's pipes, mapped at the same
    addresses (its page table is a copy of the parent's)."""
    for f in fds.values():
        p = f.pipe
        p.mapped.setdefault(child_pid, p.mapped[parent_pid])
        p.fds[child_pid] = p.fds.get(child_pid, 0) + 1


# ---------------------------------------------------------- shared memory


def shm_open(proc: IpcProcess, key: str, npages: int) -> int:
    if not isinstance(key, str) or not key:
        raise PosixError("EINVAL", f"shm_open: key must be a non-empty str, not {key!r}")
    if type(npages) is not int or npages <= 0:
        raise PosixError("EINVAL", f"shm_open: npages must be a positive int, not {npages!r}")
    sh = proc.shared
    vm = proc.vm
    seg = sh.segments.get(key)
    if seg is not None and any(c not in sh.caps.values() for c in seg.caps):
        del sh.segments[key]  # its frames were freed: a new segment
        seg = None
    if seg is None:
        try:
            caps = [vm._grab_frame() for _ in range(npages)]
        except MemoryError:
            raise PosixError("ENOMEM", f"shm_open: no {npages} free frames for segment {key!r}") from None
        seg = sh.segments[key] = Segment(key, caps, proc.pid)
        for c in caps:
            sh.owner[c.resource] = proc.pid
            sh.caps[c.resource] = c
    elif len(seg.caps) < npages:
        raise PosixError("EINVAL", f"shm_open: segment {key!r} has {len(seg.caps)} pages, not {npages}")
    mine = []
    for c in seg.caps:
        mine.append(c if sh.owner.get(c.resource) == proc.pid else proc.sys.cap_derive(c, c.rights & 3))
        sh.share(c.resource, proc.pid)
    va = vm.map_shared(mine)
    proc.cpu.mem_refs(4 + 2 * len(seg.caps))
    return va


# -------------------------------------------------------------------- LRPC


def rpc_register(proc: IpcProcess, n: int, fn: Callable[..., Any]) -> None:
    if type(n) is not int or not 0 <= n < MAX_ENTRIES - 1:
        raise PosixError("EINVAL", f"rpc_register: procedure number must be in 0..{MAX_ENTRIES - 2}, not {n!r}")
    if not callable(fn):
        raise PosixError("EINVAL", f"rpc_register: procedure must be callable, not {type(fn).__name__}")
    proc.rpcs[n] = fn
    proc.sys.pct_register(1 + n, fn)


def rpc_call(proc: IpcProcess, pid: int, n: int, *args: Any, trusted: bool = False) -> Any:
    """Call procedure ``n`` of process ``pid`` by synchronous protected control transfer."""
    e = proc.shared.procs.get(pid) if type(pid) is int else None
    if e is None or e.state != "running":
        raise PosixError("ESRCH", f"rpc_call: no running process {pid!r}")
    cpu = proc.cpu
    area = proc.vm.save_area
    if not trusted:
        cpu.save_registers(area, CALLEE_SAVED)  # the server is not trusted to preserve them
    try:
        return proc.sys.pct_sync(e.env, 1 + n, *args)
    except AegisError as err:
        raise PosixError("ESRCH", f"rpc_call: {err}") from None
    finally:
        if not trusted:
            cpu.restore_registers(area, CALLEE_SAVED)
