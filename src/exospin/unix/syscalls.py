"""The system-call table and every argument check: the one door into the kernel.

What this models
    ``sysent[]`` of a BSD kernel: each entry names a call, the function that
    implements it and how many arguments it takes. ``Unix._syscall`` (the
    generic path in traps.py) saves the trap frame, indexes this table,
    checks the argument count, fetches the arguments (registers a0-a3, then
    the user stack) and calls the entry with the kernel and the calling
    thread; the entry checks each argument before it changes anything and
    raises ``SysError`` with an errno (EBADF, EFAULT, EINVAL, ESRCH, ECHILD,
    EAGAIN, ENOMEM, EPIPE, EMFILE, EPERM) and a readable message.

Why it is built this way
    One choke point per protection boundary (STYLE.md): the table is the
    whole system-call surface on one screen, and the caller is always the
    current thread, so no call can name another process's resources except
    through a pid the call checks.

Interface
    ``TABLE``: list of (name, function, argument count or -1); ``NUMBERS``:
    name -> number (the user library's syscall.h).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from . import fsys, ipc, param, sockets, vm
from .proc import (
    PROT_NONE,
    PROT_READ,
    PROT_RW,
    ExecUnwind,
    Proc,
    SockFile,
    SysError,
    Thread,
    ThreadExit,
    VFile,
)
from .traps import Traps

_PROTS = (PROT_NONE, PROT_READ, PROT_RW)


def _entry(call: str, fn: Any) -> Callable[[], Any]:
    if not callable(fn):
        raise SysError("EINVAL", f"{call}: the entry point must be callable, not {type(fn).__name__}")
    return fn  # type: ignore[no-any-return]


def _prot(call: str, prot: Any) -> int:
    if type(prot) is not int or prot not in _PROTS:
        raise SysError("EINVAL", f"{call}: protection must be PROT_NONE, PROT_READ or PROT_RW, not {prot!r}")
    return prot


# --------------------------------------------------------------- processes


def sys_getpid(k: Traps, t: Thread) -> int:
    return t.proc.pid


def sys_exit(k: Traps, t: Thread, status: Any, message: Any) -> None:
    if type(status) is not int:
        raise SysError("EINVAL", f"exit: status must be an int, not {status!r}")
    k.die(t, status, str(message))


def sys_fork(k: Traps, t: Thread, entry: Any, name: Any) -> int:
    entry = _entry("fork", entry)
    p = t.proc
    child = k.new_proc(p.pid, str(name))  # EAGAIN when the table is full
    try:
        shared = vm.fork_copy(k, p, child)
        ipc.dup_fds(k, p, child)
        child.sigtramp = dict(p.sigtramp)
        k.loop.now += param.TRAPFRAME_WORDS * k.c.copy_word + 8 * k.c.mem_ref  # the child's frame, proc
        k.new_thread(child, entry)
    except (SysError, vm.OutOfMemory) as e:
        for fd in sorted(child.fds):
            ipc.close_fd(k, child, fd)
        vm.release(k, child)
        del k.procs[child.pid]
        k.ended.pop(child.pid, None)
        raise SysError("EAGAIN" if isinstance(e, SysError) else "ENOMEM", f"fork: {e}") from None
    p.children.add(child.pid)
    k.forks += 1
    k.note(p.pid, f"fork -> pid {child.pid} ({child.name}): {shared} resident pages shared copy-on-write")
    return child.pid


def sys_exec(k: Traps, t: Thread, entry: Any, name: Any) -> None:
    entry = _entry("exec", entry)
    p = t.proc
    ipc.fail_calls(k, p)
    for v in list(p.threads):
        if v is not t:
            k.kill_thread(v)
    vm.release(k, p)
    p.next_va = param.MMAP_BASE
    p.sigtramp.clear()
    p.rpc_procs.clear()
    p.sync.clear()
    k._map_sigstack(p, t.slot)
    t.sig_sp, t.blocked, t.last_fault = k.sigstack_top(t.slot), 0, None
    p.name = str(name)
    k.execs += 1
    k.note(p.pid, f"exec {p.name}")
    k.loop.now += k.c.exit_checks + k.c.leave  # to user mode at the new program's entry
    raise ExecUnwind(entry)


def sys_wait(k: Traps, t: Thread, pid: Any) -> tuple[int, int]:
    p = t.proc
    if type(pid) is not int or (pid != -1 and pid <= 0):
        raise SysError("EINVAL", f"wait: pid must be -1 or a positive int, not {pid!r}")
    if not p.children or (pid != -1 and pid not in p.children):
        raise SysError("ECHILD", "wait: no child to wait for" if pid == -1 else f"wait: no child {pid}")
    while True:
        k.loop.now += len(p.children) * k.c.mem_ref
        done = sorted(c for c in p.children if (pid == -1 or c == pid)
                      and (c not in k.procs or k.procs[c].state == "zombie"))
        if done:
            c = done[0]
            p.children.discard(c)
            k.procs.pop(c, None)
            k.loop.now += 4 * k.c.mem_ref
            return c, k.ended[c][0]
        k.sleep(("child", p.pid))


# ----------------------------------------------------------------- threads


def sys_thread_create(k: Traps, t: Thread, entry: Any) -> int:
    th = k.new_thread(t.proc, _entry("thread_create", entry))
    k.loop.now += 3 * k.c.mem_ref  # its first context: pc, sp, a0
    return th.tid


def sys_thread_exit(k: Traps, t: Thread, result: Any) -> None:
    t.result = result
    k.loop.now += k.c.mem_ref
    if all(o is t or o.done for o in t.proc.threads):  # the last thread: the process ends
        k.die(t, 0, "")
    raise ThreadExit()


def sys_thread_join(k: Traps, t: Thread, tid: Any) -> Any:
    k.loop.now += k.c.mem_ref
    th = k.threads.get(tid) if type(tid) is int else None
    if th is None or th.proc is not t.proc or th.joined:
        raise SysError("ESRCH", f"thread_join: no joinable thread {tid!r} in this process")
    if th is t:
        raise SysError("EDEADLK", "thread_join: a thread cannot join itself")
    th.joined = True
    while not th.done:
        k.sleep(("join", th.tid))
    k.threads.pop(th.tid, None)
    return th.result


def sys_thread_yield(k: Traps, t: Thread) -> None:
    k.yield_()


class KMutex:
    def __init__(self) -> None:
        self.owner: Thread | None = None


class KCond:
    def __init__(self, mutex: int) -> None:
        self.mutex = mutex
        self.waiters: deque[Thread] = deque()


def _sync(k: Traps, p: Proc, call: str, sid: Any, kind: type) -> Any:
    k.loop.now += k.c.mem_ref
    o = p.sync.get(sid) if type(sid) is int else None
    if not isinstance(o, kind):
        raise SysError("EINVAL", f"{call}: {sid!r} is not a {kind.__name__[1:].lower()} of this process")
    return o


def sys_sync_create(k: Traps, t: Thread, mutex: Any) -> int:
    p = t.proc
    if mutex is not None:
        _sync(k, p, "cond_create", mutex, KMutex)
    sid = len(p.sync) + 1
    while sid in p.sync:
        sid += 1
    p.sync[sid] = KMutex() if mutex is None else KCond(mutex)
    k.loop.now += 2 * k.c.mem_ref
    return sid


def _lock(k: Traps, t: Thread, sid: int, m: KMutex) -> None:
    while m.owner is not None:
        k.sleep(("mutex", t.proc.pid, sid))
    m.owner = t
    k.loop.now += k.c.mem_ref


def _unlock(k: Traps, t: Thread, sid: int, m: KMutex) -> None:
    m.owner = None
    k.loop.now += k.c.mem_ref
    k.wakeup(("mutex", t.proc.pid, sid))


def sys_mutex_lock(k: Traps, t: Thread, sid: Any) -> None:
    m = _sync(k, t.proc, "mutex_lock", sid, KMutex)
    if m.owner is t:
        raise SysError("EDEADLK", f"mutex_lock: this thread already holds mutex {sid}")
    _lock(k, t, sid, m)


def sys_mutex_unlock(k: Traps, t: Thread, sid: Any) -> None:
    m = _sync(k, t.proc, "mutex_unlock", sid, KMutex)
    if m.owner is not t:
        raise SysError("EPERM", f"mutex_unlock: this thread does not hold mutex {sid}")
    _unlock(k, t, sid, m)


def sys_cond_wait(k: Traps, t: Thread, sid: Any) -> None:
    c = _sync(k, t.proc, "cond_wait", sid, KCond)
    m = t.proc.sync[c.mutex]
    if m.owner is not t:
        raise SysError("EPERM", f"cond_wait: this thread does not hold the condition's mutex {c.mutex}")
    c.waiters.append(t)
    _unlock(k, t, c.mutex, m)
    while t in c.waiters:
        k.sleep(("cond", id(c), t.tid))
    _lock(k, t, c.mutex, m)


def sys_cond_signal(k: Traps, t: Thread, sid: Any, everyone: Any) -> None:
    c = _sync(k, t.proc, "cond_signal", sid, KCond)
    while c.waiters:
        w = c.waiters.popleft()
        k.wakeup(("cond", id(c), w.tid))
        if not everyone:
            break


# ------------------------------------------------------------------ memory


def sys_mmap(k: Traps, t: Thread, npages: Any, prot: Any) -> int:
    prot = _prot("mmap", prot)
    if type(npages) is not int or npages <= 0:
        raise SysError("EINVAL", f"mmap: npages must be a positive int, not {npages!r}")
    p = t.proc
    if p.next_va + npages * k.page > param.SIGSTACK_BASE:
        raise SysError("ENOMEM", f"mmap: no room for {npages} more pages in the address space")
    return vm.mmap(k, p, npages, prot)


def sys_munmap(k: Traps, t: Thread, vaddr: Any, npages: Any) -> None:
    vm.munmap(k, t.proc, vm.pages(k, t.proc, "munmap", vaddr, npages, must_exist=False))


def sys_mprotect(k: Traps, t: Thread, vaddr: Any, npages: Any, prot: Any) -> None:
    prot = _prot("mprotect", prot)
    vm.mprotect(k, t.proc, vm.pages(k, t.proc, "mprotect", vaddr, npages, must_exist=True), prot)


def _addr(k: Traps, call: str, vaddr: Any) -> int:
    if type(vaddr) is not int or not 0 <= vaddr < k.user_top:
        raise SysError("EFAULT", f"{call}: {vaddr!r} is not a user address")
    return vaddr >> k.page_shift


def sys_dirty(k: Traps, t: Thread, vaddr: Any) -> bool:
    """Unix has no user-visible dirty bit: this reads the kernel's modified bit."""
    vpn = _addr(k, "dirty", vaddr)
    k.loop.now += k.c.walk
    pte = t.proc.pt.get(vpn)
    return bool(pte is not None and pte.modified)


def sys_alias(k: Traps, t: Thread, vaddr: Any) -> int:
    vpn = _addr(k, "alias", vaddr)
    k.loop.now += k.c.walk
    p = t.proc
    if vpn not in p.pt:
        raise SysError("EINVAL", f"alias: page {vpn << k.page_shift:#x} is not mapped")
    if p.next_va + k.page > param.SIGSTACK_BASE:
        raise SysError("ENOMEM", "alias: no room left in the address space")
    try:
        return vm.alias(k, p, vpn)
    except vm.OutOfMemory:
        raise SysError("ENOMEM", "alias: no free frame") from None


# ----------------------------------------------------------------- signals


def sys_sigaction(k: Traps, t: Thread, sig: Any, tramp: Any) -> None:
    if sig not in param.SIGNALS or type(sig) is not int:
        raise SysError("EINVAL", f"sigaction: {sig!r} is not a signal that can be caught "
                                 f"({', '.join(map(str, param.SIGNALS))})")
    if tramp is not None and not callable(tramp):
        raise SysError("EINVAL", f"sigaction: the handler must be callable or None, not {type(tramp).__name__}")
    k.loop.now += 2 * k.c.mem_ref
    if tramp is None:
        t.proc.sigtramp.pop(sig, None)
    else:
        t.proc.sigtramp[sig] = tramp


def sys_sigreturn(k: Traps, t: Thread, frame: Any) -> None:
    k.sigreturn(t, frame)


# --------------------------------------------------------------------- IPC


def sys_pipe(k: Traps, t: Thread) -> tuple[int, int]:
    return ipc.pipe(k, t)


def sys_read(k: Traps, t: Thread, fd: Any, n: Any) -> bytes:
    f = t.proc.fds.get(fd) if type(fd) is int else None
    if type(f) is VFile:  # a file (fsys.py); a pipe's end otherwise
        return fsys.file_read(k, t, f, fd, n)
    return ipc.read(k, t, fd, n)


def sys_write(k: Traps, t: Thread, fd: Any, data: Any) -> int:
    f = t.proc.fds.get(fd) if type(fd) is int else None
    if type(f) is VFile:
        return fsys.file_write(k, t, f, fd, data)
    return ipc.write(k, t, fd, data)


def sys_close(k: Traps, t: Thread, fd: Any) -> None:
    ipc.close_fd(k, t.proc, fd)


def sys_shm_open(k: Traps, t: Thread, key: Any, npages: Any) -> int:
    return ipc.shm_open(k, t, key, npages)


def sys_wait_word(k: Traps, t: Thread, vaddr: Any, old: Any) -> int:
    return ipc.wait_word(k, t, vaddr, old)


def sys_wake(k: Traps, t: Thread, pid: Any) -> None:
    ipc.wake(k, t, pid)


def sys_rpc_register(k: Traps, t: Thread, n: Any) -> bool:
    return ipc.rpc_register(k, t, n)


def sys_rpc_call(k: Traps, t: Thread, *args: Any) -> Any:
    if len(args) < 2:
        raise SysError("EINVAL", "rpc_call: takes a pid, a procedure number and its arguments")
    return ipc.rpc_call(k, t, *args)


def sys_rpc_receive(k: Traps, t: Thread) -> tuple[int, tuple[Any, ...]]:
    return ipc.rpc_receive(k, t)


def sys_rpc_reply_wait(k: Traps, t: Thread, result: Any) -> tuple[int, tuple[Any, ...]]:
    return ipc.rpc_reply_wait(k, t, result)


# ----------------------------------------------------------------- sockets


def sys_socket(k: Traps, t: Thread, domain: Any, type_: Any) -> int:
    so = sockets.socket(k, t, domain, type_)
    try:
        return ipc._new_fd(k, t.proc, SockFile(so))
    except SysError:
        sockets.soclose(k, so)
        raise


def sys_bind(k: Traps, t: Thread, fd: Any, address: Any) -> None:
    sockets.bind(k, t, sockets.sock_of(k, t, fd, "bind"), address)


def sys_sendto(k: Traps, t: Thread, fd: Any, data: Any, address: Any) -> int:
    return sockets.sendto(k, t, sockets.sock_of(k, t, fd, "sendto"), data, address)


def sys_recvfrom(k: Traps, t: Thread, fd: Any, n: Any) -> tuple[bytes, tuple[str, int]]:
    return sockets.recvfrom(k, t, sockets.sock_of(k, t, fd, "recvfrom"), n, fd)


def sys_poll(k: Traps, t: Thread, fds: Any, timeout_us: Any) -> list[int]:
    if not isinstance(fds, (list, tuple)):
        raise SysError("EINVAL", f"poll: fds must be a list of descriptors, not {type(fds).__name__}")
    k.charge_copy(len(fds) * k.word_bytes, out=False)  # the descriptor array copied in
    socks = [sockets.sock_of(k, t, fd, "poll") for fd in fds]
    ready = sockets.poll(k, t, socks, timeout_us)
    k.charge_copy(len(fds) * k.word_bytes, out=True)  # the results copied out
    return [fds[i] for i in ready]


#: sysent[]: (name, function, number of arguments; -1: variable)
TABLE: list[tuple[str, Callable[..., Any], int]] = [
    ("getpid", sys_getpid, 0),
    ("exit", sys_exit, 2),
    ("fork", sys_fork, 2),
    ("exec", sys_exec, 2),
    ("wait", sys_wait, 1),
    ("thread_create", sys_thread_create, 1),
    ("thread_exit", sys_thread_exit, 1),
    ("thread_join", sys_thread_join, 1),
    ("thread_yield", sys_thread_yield, 0),
    ("sync_create", sys_sync_create, 1),
    ("mutex_lock", sys_mutex_lock, 1),
    ("mutex_unlock", sys_mutex_unlock, 1),
    ("cond_wait", sys_cond_wait, 1),
    ("cond_signal", sys_cond_signal, 2),
    ("mmap", sys_mmap, 2),
    ("munmap", sys_munmap, 2),
    ("mprotect", sys_mprotect, 3),
    ("dirty", sys_dirty, 1),
    ("alias", sys_alias, 1),
    ("sigaction", sys_sigaction, 2),
    ("sigreturn", sys_sigreturn, 1),
    ("pipe", sys_pipe, 0),
    ("read", sys_read, 2),
    ("write", sys_write, 2),
    ("close", sys_close, 1),
    ("shm_open", sys_shm_open, 2),
    ("wait_word", sys_wait_word, 2),
    ("wake", sys_wake, 1),
    ("rpc_register", sys_rpc_register, 1),
    ("rpc_call", sys_rpc_call, -1),
    ("rpc_receive", sys_rpc_receive, 0),
    ("rpc_reply_wait", sys_rpc_reply_wait, 1),
    ("socket", sys_socket, 2),
    ("bind", sys_bind, 2),
    ("sendto", sys_sendto, 3),
    ("recvfrom", sys_recvfrom, 2),
    ("poll", sys_poll, 2),
    # files (fsys.py, on ffs.py): after the others, so that their numbers stay as they were
    ("open", fsys.sys_open, 3),
    ("lseek", fsys.sys_lseek, 3),
    ("fsync", fsys.sys_fsync, 1),
    ("unlink", fsys.sys_unlink, 1),
    ("mkdir", fsys.sys_mkdir, 2),
    ("rmdir", fsys.sys_rmdir, 1),
    ("readdir", fsys.sys_readdir, 1),
    ("stat", fsys.sys_stat, 1),
    ("rename", fsys.sys_rename, 2),
    ("fadvise", fsys.sys_fadvise, 5),
]

NUMBERS: dict[str, int] = {name: i for i, (name, _, _) in enumerate(TABLE)}
