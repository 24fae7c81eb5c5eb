"""Interprocess communication in the kernel: pipes, shared memory, a futex, RPC ports.

What this models
    What a 1995 Unix offers two processes that want to talk, each behind
    system calls:

    * **pipes**: a buffer of one page in a kernel frame (4.3BSD's PIPSIZ is
      4096 bytes); ``write`` copies the user's bytes in (copyin), ``read``
      copies them out (copyout), a word at a time; a reader with nothing to
      read and a writer with no room sleep on the pipe's wait channel and the
      other side's ``wakeup`` makes them runnable.
    * **shared memory**: a named segment of frames (System V ``shmget`` /
      ``shmat``): ``shm_open`` copies the key in and maps the frames; from
      then on loads and stores go straight to memory.
    * **wait_word / wake**: a futex-like pair. ``wait_word`` copies the word
      in and sleeps on the process's wake channel while it still holds the
      old value; ``wake(pid)`` wakes that channel.
    * **RPC**: the best cross-address-space call a monolithic kernel of the
      time offers, a kernel *message port* per server process with Mach-style
      combined send-and-receive: ``rpc_call`` copies the arguments into a
      message, queues it on the server's port, hands the processor straight
      to the server thread waiting there (it goes to the front of the run
      queue) and sleeps for the reply; the server's ``rpc_reply_wait`` copies
      the result in, hands the processor back to the client and waits for the
      next message, in one system call. The server thread is a kernel thread
      the user library creates at the first ``rpc_register``. Two system calls
      and two context switches per call: no pipes, no select.

Why it is built this way
    Every byte or word that crosses the user/kernel boundary is charged
    ``copy_word`` per word, each way, on top of the system call that carries
    it. Pipe bytes really travel through the kernel frame.

Interface
    ``pipe``, ``read``, ``write``, ``close_fd``, ``dup_fds``, ``shm_open``,
    ``wait_word``, ``wake``, ``rpc_register``, ``rpc_call``, ``rpc_receive``,
    ``rpc_reply_wait``, ``fail_calls``; each takes the kernel and the caller.
"""

from __future__ import annotations

from typing import Any

from . import param, sockets, vm
from .proc import PROT_RW, PTE, Call, File, Pipe, Proc, Segment, SockFile, SysError, Thread, VFile
from .sched import Scheduler

# ------------------------------------------------------------------ pipes


def _new_fd(k: Scheduler, p: Proc, f: File | SockFile | VFile) -> int:
    for fd in range(param.MAX_FDS):
        if fd not in p.fds:
            p.fds[fd] = f
            k.loop.now += 2 * k.c.mem_ref
            return fd
    raise SysError("EMFILE", f"no descriptor left ({param.MAX_FDS} are open)")


def _file(k: Scheduler, p: Proc, fd: Any, end: str, call: str) -> File:
    k.loop.now += k.c.mem_ref + k.c.insn
    f = p.fds.get(fd) if type(fd) is int else None
    if f is None:
        raise SysError("EBADF", f"{call}: {fd!r} is not an open descriptor")
    if not isinstance(f, File):
        raise SysError("EBADF", f"{call}: descriptor {fd} is a socket (use sendto and recvfrom)")
    if f.end != end:
        raise SysError("EBADF", f"{call}: descriptor {fd} is the {'read' if f.end == 'r' else 'write'} end")
    return f


def pipe(k: Scheduler, t: Thread) -> tuple[int, int]:
    p = t.proc
    if sum(1 for fd in range(param.MAX_FDS) if fd not in p.fds) < 2:
        raise SysError("EMFILE", f"no two descriptors left ({param.MAX_FDS} per process)")
    try:
        pfn = k.frames.alloc("pipe")
    except vm.OutOfMemory:
        raise SysError("ENOMEM", "pipe: no free frame for the pipe's buffer") from None
    k.loop.now += k.c.frame_alloc + 6 * k.c.mem_ref  # the pipe structure
    pp = Pipe(k._next_pipe, pfn, k.page, readers=1, writers=1)
    k._next_pipe += 1
    k.pipes[pp.id] = pp
    return _new_fd(k, p, File(pp, "r")), _new_fd(k, p, File(pp, "w"))


def write(k: Scheduler, t: Thread, fd: Any, data: Any) -> int:
    f = _file(k, t.proc, fd, "w", "write")
    if not isinstance(data, (bytes, bytearray)):
        raise SysError("EFAULT", f"write: the buffer must be bytes, not {type(data).__name__}")
    pp = f.pipe
    mem = k.memory
    done = 0
    n = len(data)
    if k.bc is not None:  # the pipe is a socket pair: rwuio, sosend, one mbuf per MLEN bytes (baseline.py)
        k.bc.charge("pipe_rw")
        k.bc.charge("mbuf_get", -(-n // k.bc.mlen))
    while done < n:
        if pp.readers == 0:
            raise SysError("EPIPE", "write: the pipe has no reader left")
        space = pp.capacity - (pp.tail - pp.head)
        if space == 0:
            k.wakeup(("pipe", pp.id))
            k.sleep(("pipe", pp.id))
            continue
        take = min(space, n - done)
        buf = mem.frame(pp.pfn)
        pos = pp.tail % pp.capacity
        first = min(take, pp.capacity - pos)
        buf[pos:pos + first] = bytes(data[done:done + first])
        if take > first:
            buf[0:take - first] = bytes(data[done + first:done + take])
        k.charge_copy(take, out=False)  # copyin
        if k.touch is not None:  # the pipe's code and the stores into its buffer
            k.touch(k.fp.pipe_io, 0)
            k.cpu.touch_range(pp.pfn * k.page + pos, first, True)
            k.cpu.touch_range(pp.pfn * k.page, take - first, True)
        pp.tail += take
        done += take
        k.loop.now += 2 * k.c.mem_ref
    k.wakeup(("pipe", pp.id))
    return done


def read(k: Scheduler, t: Thread, fd: Any, n: Any) -> bytes:
    f = _file(k, t.proc, fd, "r", "read")
    if type(n) is not int or n < 0:
        raise SysError("EINVAL", f"read: count must be a non-negative int, not {n!r}")
    pp = f.pipe
    while True:
        avail = pp.tail - pp.head
        if avail or n == 0:
            break
        if pp.writers == 0:
            return b""  # end of file
        k.sleep(("pipe", pp.id))
    take = min(n, avail)
    buf = k.memory.frame(pp.pfn)
    pos = pp.head % pp.capacity
    first = min(take, pp.capacity - pos)
    out = bytes(buf[pos:pos + first])
    if take > first:
        out += bytes(buf[0:take - first])
    k.charge_copy(take, out=True)  # copyout
    if k.bc is not None:  # soreceive, each mbuf freed as it is emptied
        k.bc.charge("pipe_rw")
        k.bc.charge("mbuf_free", -(-take // k.bc.mlen))
    if k.touch is not None:  # the pipe's code and the loads from its buffer
        k.touch(k.fp.pipe_io, 0)
        k.cpu.touch_range(pp.pfn * k.page + pos, first, False)
        k.cpu.touch_range(pp.pfn * k.page, take - first, False)
    pp.head += take
    k.loop.now += 2 * k.c.mem_ref
    k.wakeup(("pipe", pp.id))
    return out


def close_fd(k: Scheduler, p: Proc, fd: Any) -> None:
    k.loop.now += k.c.mem_ref + k.c.insn
    f = p.fds.pop(fd, None) if type(fd) is int else None
    if f is None:
        raise SysError("EBADF", f"close: {fd!r} is not an open descriptor")
    if isinstance(f, VFile):  # a file: the file table's entry (fsys.py)
        k.fs.close_file(f.of)
        return
    if not isinstance(f, File):
        sockets.soclose(k, f.sock)
        return
    pp = f.pipe
    if f.end == "r":
        pp.readers -= 1
    else:
        pp.writers -= 1
    k.loop.now += 2 * k.c.mem_ref
    k.wakeup(("pipe", pp.id))  # sleepers may be waiting for end of file or EPIPE
    if pp.readers == 0 and pp.writers == 0:
        del k.pipes[pp.id]
        k.frames.unref(pp.pfn)
        k.loop.now += k.c.frame_free


def dup_fds(k: Scheduler, parent: Proc, child: Proc) -> None:
    """fork: the child's descriptors name the same pipe ends."""
    for fd, f in parent.fds.items():
        if isinstance(f, VFile):
            child.fds[fd] = VFile(f.of)
            f.of.refs += 1
            k.loop.now += 2 * k.c.mem_ref
            continue
        if not isinstance(f, File):
            child.fds[fd] = SockFile(f.sock)
            f.sock.refs += 1
            k.loop.now += 2 * k.c.mem_ref
            continue
        child.fds[fd] = File(f.pipe, f.end)
        if f.end == "r":
            f.pipe.readers += 1
        else:
            f.pipe.writers += 1
        k.loop.now += 2 * k.c.mem_ref


# ---------------------------------------------------------- shared memory


def shm_open(k: Scheduler, t: Thread, key: Any, npages: Any) -> int:
    if not isinstance(key, str) or not key:
        raise SysError("EINVAL", f"shm_open: key must be a non-empty str, not {key!r}")
    if type(npages) is not int or npages <= 0:
        raise SysError("EINVAL", f"shm_open: npages must be a positive int, not {npages!r}")
    k.charge_copy(len(key.encode()), out=False)  # copyin of the key
    p = t.proc
    seg = k.segments.get(key)
    if seg is not None and not all(k.frames.owner[f] is seg for f in seg.pfns):
        del k.segments[key]  # its frames were freed when the last mapping went: a new one
        seg = None
    if seg is None:
        if len(k.frames.free) < npages:
            raise SysError("ENOMEM", f"shm_open: no {npages} free frames for segment {key!r}")
        seg = Segment(key, [])
        for _ in range(npages):
            pfn = k.frames.alloc("shm", seg)
            k.memory.zero(pfn)
            k.loop.now += k.c.frame_alloc + k.c.frame_zero
            seg.pfns.append(pfn)
        k.segments[key] = seg
        fresh = True
    elif len(seg.pfns) < npages:
        raise SysError("EINVAL", f"shm_open: segment {key!r} has {len(seg.pfns)} pages, not {npages}")
    else:
        fresh = False
    va = p.next_va
    p.next_va += len(seg.pfns) * k.page
    first = va >> k.page_shift
    for i, pfn in enumerate(seg.pfns):
        if not fresh:  # a fresh frame's first reference is this mapping's
            k.frames.ref(pfn)
        p.pt[first + i] = PTE(pfn, PROT_RW, modified=True, shared=True)
        k.loop.now += k.c.pte_store + k.c.mem_ref
    return va


# ------------------------------------------------------------ wait / wake


def wait_word(k: Scheduler, t: Thread, vaddr: Any, old: Any) -> int:
    if type(old) is not int:
        raise SysError("EINVAL", f"wait_word: old must be an int, not {old!r}")
    p = t.proc
    while True:
        v = k.copyin_words_from(p, vaddr, 1)[0]  # EFAULT for a bad address
        if v != old & k.word_mask:
            return v
        k.sleep(("wake", p.pid))


def wake(k: Scheduler, t: Thread, pid: Any) -> None:
    k.loop.now += k.c.mem_ref
    p = k.procs.get(pid) if type(pid) is int else None
    if p is None or p.state != "running":
        raise SysError("ESRCH", f"wake: no process {pid!r}")
    k.wakeup(("wake", pid))


# -------------------------------------------------------------------- RPC


def rpc_register(k: Scheduler, t: Thread, n: Any) -> bool:
    """Offer procedure ``n``; True if it is the process's first (libc then starts the
    server thread)."""
    if type(n) is not int or not 0 <= n < param.MAX_RPC_PROCS:
        raise SysError("EINVAL", f"rpc_register: procedure number must be in 0..{param.MAX_RPC_PROCS - 1}, not {n!r}")
    p = t.proc
    first = not p.rpc_procs
    p.rpc_procs.add(n)
    k.loop.now += k.c.mem_ref
    return first


def rpc_call(k: Scheduler, t: Thread, pid: Any, n: Any, *args: Any) -> Any:
    k.loop.now += k.c.mem_ref
    server = k.procs.get(pid) if type(pid) is int else None
    if server is None or server.state != "running":
        raise SysError("ESRCH", f"rpc_call: no running process {pid!r}")
    if server.rpc_procs and n not in server.rpc_procs:  # (a server not yet registered: the call waits)
        raise SysError("ESRCH", f"rpc_call: process {pid} offers no procedure {n!r}")
    k.charge_copy(len(args) * k.word_bytes, out=False)  # the arguments into the message
    if k.bc is not None and k.bc.mach_rpc:  # a Mach message: MIG stub, header, ipc_kmsg, ports (baseline.py)
        k.bc.charge("msg_send")
    call = Call(t, n, args)
    server.port.append(call)
    k.loop.now += 3 * k.c.mem_ref  # link the message onto the port
    k.rpc_calls += 1
    k.wakeup(("port", server.pid), front=True)  # hand-off: the server thread runs next
    while not call.done:
        k.sleep(("reply", id(call)))
    if call.error is not None:
        raise SysError(*call.error)
    if k.bc is not None and k.bc.mach_rpc:  # the reply received: copyout of its header, the stub unpacks it
        k.bc.charge("msg_receive")
    k.charge_copy(k.word_bytes, out=True)  # the result out of the reply
    return call.result


def rpc_receive(k: Scheduler, t: Thread) -> tuple[int, tuple[Any, ...]]:
    p = t.proc
    while not p.port:
        k.sleep(("port", p.pid))
    call = p.port.popleft()
    if call.n not in p.rpc_procs:  # queued before the server registered: it offers no such procedure
        call.error, call.done = ("ESRCH", f"rpc_call: process {p.pid} offers no procedure {call.n!r}"), True
        k.wakeup(("reply", id(call)))
        return rpc_receive(k, t)
    t.serving = call
    k.loop.now += 2 * k.c.mem_ref
    if k.bc is not None and k.bc.mach_rpc:  # the request received: header copied out, the server stub's demux
        k.bc.charge("msg_receive")
    k.charge_copy(len(call.args) * k.word_bytes, out=True)  # the arguments out to the server
    return call.n, call.args


def rpc_reply_wait(k: Scheduler, t: Thread, result: Any) -> tuple[int, tuple[Any, ...]]:
    """Reply to the call being served and wait for the next: one system call."""
    call = t.serving
    if call is None:
        raise SysError("EINVAL", "rpc_reply_wait: this thread is serving no call")
    t.serving = None
    k.charge_copy(k.word_bytes, out=False)  # the result into the reply
    if k.bc is not None and k.bc.mach_rpc:  # the reply sent to the send-once right
        k.bc.charge("msg_send")
    call.result = result
    call.done = True
    k.wakeup(("reply", id(call)), front=True)  # hand-off back to the client
    return rpc_receive(k, t)


def fail_calls(k: Scheduler, p: Proc) -> None:
    """``p`` is ending: every call queued on its port or being served fails."""
    pending = list(p.port) + [th.serving for th in p.threads if th.serving is not None]
    p.port.clear()
    for call in pending:
        if call is not None and not call.done:
            call.error = ("ESRCH", f"rpc_call: process {p.pid} ended during the call")
            call.done = True
            k.wakeup(("reply", id(call)))
