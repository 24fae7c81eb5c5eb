"""A Unix-like address-space and process extension: exospin.posix on SPIN.

SPIN builds no address-space model into its kernel: this extension makes
Unix processes out of the kernel's services, as SPIN's Unix emulation did.
A process is an address space (Translation), the strands running in it
(Strand), the frames it maps (PhysAddr) and a descriptor table. It claims
the Unix system-call numbers on the Trap event; a user-level library
(exospin.spin.libunix) makes the calls.

- memory: mmap reserves pages (VirtAddr); a page is given a zeroed frame
  on its first reference (PageNotPresent); fork shares every private
  writable page copy-on-write and copies it on the first store
  (ProtectionFault); munmap, mprotect, dirty (the kernel's software
  modified bit), alias, shm_open (frames mapped into several spaces);
- faults a process handles itself (on_fault) go to the Appel-Li extension
  (appel_li.py), which upcalls its handler without signals; a handler that
  does not fix the fault, or faults itself, ends the process (status 139);
- processes: fork, exec, exit, wait; a process whose strand is killed
  ends with status 139 and the kernel's message;
- pipes with a kernel buffer (copyin/copyout charged per word), threads
  (strands in the process's space), sleep queues for mutexes and
  condition variables, wait_word/wake, and LRPC between processes through
  the cross-address-space call extension (xas.py).

It links against two other extensions, loaded before it: ``spin.appel_li``
and ``spin.xas``.

Handlers never raise for a bad request: they return Errors.fail(errno,
message), and the library raises PosixError. (A handler that raises is an
extension that failed: the dispatcher would terminate it.)
"""

from spin import Errors, PhysAddr, Strand, Translation, Trap, User, VirtAddr
from spin.appel_li import set_handler
from spin.xas import call, forget, register

SYS_FORK = 1
SYS_EXEC = 2
SYS_EXIT = 3
SYS_WAIT = 4
SYS_PIPE = 5
SYS_READ = 6
SYS_WRITE = 7
SYS_CLOSE = 8
SYS_SHM_OPEN = 9
SYS_MMAP = 10
SYS_MUNMAP = 11
SYS_MPROTECT = 12
SYS_ON_FAULT = 13
SYS_DIRTY = 14
SYS_ALIAS = 15
SYS_THREAD_CREATE = 16
SYS_THREAD_JOIN = 17
SYS_THREAD_YIELD = 18
SYS_SLEEP_WORD = 19
SYS_WAKE = 20
SYS_RPC_REGISTER = 21
SYS_RPC_CALL = 22
SYS_SLEEP = 23
SYS_WAKEUP = 24
SYS_GETPID = 25

PIPE_BUF = 4096
MAX_PROCS = 64
KILLED = 139

READ = 1  # Translation.PROT_READ (module bodies run before linking: literals here)
WRITE = 2  # Translation.PROT_WRITE
RW = 3  # Translation.PROT_RW


class Pipe:
    def __init__(self):
        self.buf = b""
        self.readers = 1
        self.writers = 1
        self.waiting = []


class Segment:
    def __init__(self, frames):
        self.frames = frames
        self.maps = 0


class Proc:
    def __init__(self, pid, parent, space, name):
        self.pid = pid
        self.parent = parent
        self.space = space
        self.name = name
        self.main = None
        self.threads = {}
        self.next_tid = [1]
        self.status = None
        self.message = ""
        self.children = []
        self.fds = {}
        self.next_fd = [0]
        self.regions = {}
        self.cow = set()
        self.handler = None
        self.waiter = []
        self.sleeper = []
        self.pending_wake = [False]
        self.queues = {}
        self.bindings = []


state = {"package": None, "next_pid": 1, "page": 0}
procs = {}
by_space = {}
by_strand = {}
refs = {}
segments = {}


def fail(errno, message):
    return Errors.fail(errno, message)


def me():
    s = Strand.current()
    if s is None:
        return None
    return by_space.get(s.space)


def vpn_of(vaddr):
    return vaddr // state["page"]


def page_addr(vpn):
    return vpn * state["page"]


# ------------------------------------------------------------ frames and mappings


def ref(frame):
    refs[frame] = refs.get(frame, 0) + 1


def unref(frame):
    n = refs[frame] - 1
    if n:
        refs[frame] = n
    else:
        del refs[frame]
        PhysAddr.deallocate(frame)


def drop_page(p, vpn):
    frame = Translation.frame_of(p.space, page_addr(vpn))
    if frame is not None:
        Translation.remove_mapping(p.space, page_addr(vpn))
        unref(frame)
    p.cow.discard(vpn)
    region = p.regions.pop(vpn)
    if region[1] is not None:
        seg = segments[region[1]]
        seg.maps = seg.maps - 1


def page_not_present(ctx, vaddr, write):
    p = by_space.get(ctx)
    if p is None:
        return False
    region = p.regions.get(vpn_of(vaddr))
    if region is None:
        return False
    try:
        frame = PhysAddr.allocate()
    except Exception:
        return False
    ref(frame)
    Translation.add_mapping(ctx, vaddr, frame, region[0])
    return True


def protection_fault(ctx, vaddr, write):
    p = by_space.get(ctx)
    if p is None:
        return 0
    vpn = vpn_of(vaddr)
    va = page_addr(vpn)
    region = p.regions.get(vpn)
    if write and vpn in p.cow and region is not None and region[0] & WRITE:
        frame = Translation.frame_of(ctx, va)
        if refs[frame] > 1:
            try:
                copy = PhysAddr.allocate()
            except Exception:
                return 0
            PhysAddr.copy(copy, frame)
            ref(copy)
            unref(frame)
            frame = copy
        Translation.add_mapping(ctx, va, frame, region[0])
        p.cow.discard(vpn)
        return Translation.RETRY
    return 0


# ------------------------------------------------------------ processes


def new_proc(parent, name):
    if len(procs) >= MAX_PROCS:
        return None
    pid = state["next_pid"]
    state["next_pid"] = pid + 1
    space = Translation.create(name)
    p = Proc(pid, parent, space, name)
    procs[pid] = p
    by_space[space] = p
    p.bindings.append(Translation.on_page_not_present(space, page_not_present))
    p.bindings.append(Translation.on_protection_fault(space, protection_fault, True))
    return p


def start(p, entry, args):
    s = Strand.create(state["package"], entry, args, p.name, Strand.DEFAULT_PRIORITY, p.space)
    p.main = s
    p.threads[0] = s
    by_strand[s] = p
    return p.pid


def spawn(entry, args, name):
    """Start a process running entry(*args) (the boot code's way in; no parent)."""
    p = new_proc(None, name)
    if p is None:
        return fail("EAGAIN", "too many processes")
    return start(p, entry, args)


def exit_status(pid):
    p = procs.get(pid)
    if p is None:
        return None
    return p.status


def message(pid):
    p = procs.get(pid)
    if p is None:
        return ""
    return p.message


def reap(pid):
    """Forget a parentless process that has ended (the boot code read its status)."""
    p = procs.get(pid)
    if p is not None and p.status is not None and p.parent is None:
        del procs[pid]


def space_of(pid):
    p = procs.get(pid)
    if p is None or p.status is not None:
        return None
    return p.space


def teardown(p, status, why):
    """The process ends: release everything it holds; its parent may collect the status."""
    if p.status is not None:
        return
    p.status = status
    p.message = why
    for fd in list(p.fds):
        close_fd(p, fd)
    for vpn in list(p.regions):
        drop_page(p, vpn)
    for b in p.bindings:
        Translation.uninstall(b)
    p.bindings.clear()
    set_handler(p.space, None)
    forget(p.space)
    del by_space[p.space]
    Translation.destroy(p.space)
    for c in p.children:
        child = procs.get(c)
        if child is not None:
            child.parent = None
            if child.status is not None:
                del procs[c]
    p.children.clear()
    me_now = Strand.current()
    for t in list(p.threads.values()):
        if t is not me_now and not t.done:
            Strand.kill(state["package"], t, "its process exited")
    parent = procs.get(p.parent)
    if parent is not None:
        for w in parent.waiter:
            Strand.unblock(w)
        parent.waiter.clear()


def strand_ended(s):
    p = by_strand.pop(s, None)
    if p is None:
        return
    if s is p.main and p.status is None:
        teardown(p, KILLED, s.error or "killed")


def sys_fork(p, entry, args):
    child = new_proc(p.pid, p.name)
    if child is None:
        return fail("EAGAIN", "fork: too many processes")
    VirtAddr.inherit(child.space, p.space)
    for vpn in list(p.regions):
        region = p.regions[vpn]
        child.regions[vpn] = region
        va = page_addr(vpn)
        frame = Translation.frame_of(p.space, va)
        if frame is None:
            continue
        ref(frame)
        if region[1] is not None:
            segments[region[1]].maps = segments[region[1]].maps + 1
            Translation.add_mapping(child.space, va, frame, region[0])
        elif region[0] & WRITE:
            if vpn not in p.cow:
                Translation.protect(p.space, va, 1, region[0] & READ)
                p.cow.add(vpn)
            child.cow.add(vpn)
            Translation.add_mapping(child.space, va, frame, region[0] & READ)
        else:
            Translation.add_mapping(child.space, va, frame, region[0])
    for fd in p.fds:
        pipe_end = p.fds[fd]
        child.fds[fd] = pipe_end
        if pipe_end[1] is None:  # a socket (udp_sockets.py): one more reference to it
            pipe_end[0].share()
        elif pipe_end[1] == "file":  # a file (sfs.py): likewise
            pipe_end[0].share()
        elif pipe_end[1]:
            pipe_end[0].writers = pipe_end[0].writers + 1
        else:
            pipe_end[0].readers = pipe_end[0].readers + 1
    child.next_fd[0] = p.next_fd[0]
    child.handler = p.handler
    if p.handler is not None:
        set_handler(child.space, p.handler)
    p.children.append(child.pid)
    return start(child, entry, args)


def sys_exec(p):
    for vpn in list(p.regions):
        drop_page(p, vpn)
    p.handler = None
    set_handler(p.space, None)
    forget(p.space)
    return 0


def sys_wait(p, pid):
    while True:
        mine = [c for c in p.children if pid == -1 or c == pid]
        if not mine:
            return fail("ECHILD", "wait: no such child" if pid != -1 else "wait: no children")
        for c in mine:
            child = procs[c]
            if child.status is not None:
                p.children.remove(c)
                del procs[c]
                return (c, child.status)
        p.waiter.append(Strand.current())
        Strand.block()


# ------------------------------------------------------------ pipes


def new_fd(p, pipe_end):
    fd = p.next_fd[0]
    while fd in p.fds:
        fd = fd + 1
    p.fds[fd] = pipe_end
    p.next_fd[0] = fd + 1
    return fd


def sys_pipe(p):
    pipe = Pipe()
    r = new_fd(p, [pipe, False])
    w = new_fd(p, [pipe, True])
    return (r, w)


def wake_all(pipe):
    for s in pipe.waiting:
        Strand.unblock(s)
    pipe.waiting.clear()


def close_fd(p, fd):
    pipe_end = p.fds.pop(fd)
    pipe = pipe_end[0]
    if pipe_end[1] is None:  # a socket (udp_sockets.py): it releases its port on the last close
        pipe.close()
    elif pipe_end[1] == "file":  # a file (sfs.py): its inode, if unlinked, on the last close
        pipe.close()
    elif pipe_end[1]:
        pipe.writers = pipe.writers - 1
    else:
        pipe.readers = pipe.readers - 1
    wake_all(pipe)
    if fd < p.next_fd[0]:
        p.next_fd[0] = fd


def end_of(p, fd, writing):
    pipe_end = p.fds.get(fd)
    if pipe_end is None or pipe_end[1] != writing:
        return None
    return pipe_end[0]


def sys_read(p, fd, n):
    pipe = end_of(p, fd, False)
    if pipe is None:
        e = p.fds.get(fd)
        if e is not None and e[1] == "file":  # a file of the file system extension (sfs.py)
            return e[0].read(n)
        return fail("EBADF", f"read: {fd} is not a descriptor open for reading")
    if not isinstance(n, int) or n < 0:
        return fail("EINVAL", f"read: bad count {n}")
    while not pipe.buf and pipe.writers > 0:
        pipe.waiting.append(Strand.current())
        Strand.block()
        if fd not in p.fds:
            return fail("EBADF", f"read: {fd} was closed")
    data = pipe.buf[:n]
    pipe.buf = pipe.buf[n:]
    User.copyout(len(data))
    wake_all(pipe)
    return data


def sys_write(p, fd, data):
    pipe = end_of(p, fd, True)
    if pipe is None:
        e = p.fds.get(fd)
        if e is not None and e[1] == "file":
            return e[0].write(data)
        return fail("EBADF", f"write: {fd} is not a descriptor open for writing")
    if not isinstance(data, bytes):
        return fail("EINVAL", "write: data must be bytes")
    done = 0
    while done < len(data):
        if pipe.readers == 0:
            return fail("EPIPE", "write: no reader is left on the pipe")
        room = PIPE_BUF - len(pipe.buf)
        if room == 0:
            pipe.waiting.append(Strand.current())
            Strand.block()
            if fd not in p.fds:
                return fail("EBADF", f"write: {fd} was closed")
            continue
        chunk = data[done:done + room]
        User.copyin(len(chunk))
        pipe.buf = pipe.buf + chunk
        done = done + len(chunk)
        wake_all(pipe)
    return done


def sys_close(p, fd):
    if fd not in p.fds:
        return fail("EBADF", f"close: {fd} is not an open descriptor")
    close_fd(p, fd)
    return 0


# ------------------------------------------------------------ memory


def pages_ok(p, vaddr, npages, who):
    if not isinstance(vaddr, int) or not isinstance(npages, int) or npages <= 0:
        return fail("EINVAL", f"{who}: bad range")
    if vaddr % state["page"]:
        return fail("EINVAL", f"{who}: {vaddr:#x} is not page-aligned")
    first = vpn_of(vaddr)
    for vpn in range(first, first + npages):
        if vpn not in p.regions:
            return fail("EFAULT", f"{who}: {page_addr(vpn):#x} is not mapped")
    return None


def prot_ok(prot):
    return isinstance(prot, int) and 0 <= prot <= RW


def sys_mmap(p, npages, prot):
    if not isinstance(npages, int) or npages <= 0:
        return fail("EINVAL", f"mmap: bad page count {npages}")
    if not prot_ok(prot):
        return fail("EINVAL", f"mmap: bad protection {prot}")
    try:
        va = VirtAddr.allocate(p.space, npages)
    except Exception:
        return fail("ENOMEM", "mmap: out of address space")
    first = vpn_of(va)
    for vpn in range(first, first + npages):
        p.regions[vpn] = (prot, None)
    return va


def sys_munmap(p, vaddr, npages):
    bad = pages_ok(p, vaddr, npages, "munmap")
    if bad is not None:
        return bad
    first = vpn_of(vaddr)
    for vpn in range(first, first + npages):
        drop_page(p, vpn)
    VirtAddr.deallocate(p.space, vaddr, npages)
    return 0


def sys_mprotect(p, vaddr, npages, prot):
    bad = pages_ok(p, vaddr, npages, "mprotect")
    if bad is not None:
        return bad
    if not prot_ok(prot):
        return fail("EINVAL", f"mprotect: bad protection {prot}")
    first = vpn_of(vaddr)
    for vpn in range(first, first + npages):
        p.regions[vpn] = (prot, p.regions[vpn][1])
    Translation.protect(p.space, vaddr, npages, prot)
    if p.cow and prot & WRITE:
        for vpn in range(first, first + npages):
            if vpn in p.cow:
                Translation.protect(p.space, page_addr(vpn), 1, prot & READ)
    return 0


def sys_dirty(p, vaddr):
    if not isinstance(vaddr, int) or vpn_of(vaddr) not in p.regions:
        return fail("EFAULT", f"dirty: {vaddr} is not mapped")
    return Translation.is_dirty(p.space, page_addr(vpn_of(vaddr)))


def sys_alias(p, vaddr):
    if not isinstance(vaddr, int) or vpn_of(vaddr) not in p.regions:
        return fail("EFAULT", f"alias: {vaddr} is not mapped")
    vpn = vpn_of(vaddr)
    va = page_addr(vpn)
    region = p.regions[vpn]
    frame = Translation.frame_of(p.space, va)
    if frame is None:
        if not page_not_present(p.space, va, False):
            return fail("ENOMEM", "alias: no frame")
        frame = Translation.frame_of(p.space, va)
    if vpn in p.cow:
        return fail("EINVAL", "alias: the page is shared copy-on-write")
    new = VirtAddr.allocate(p.space, 1)
    ref(frame)
    p.regions[vpn_of(new)] = region
    if region[1] is not None:
        segments[region[1]].maps = segments[region[1]].maps + 1
    Translation.add_mapping(p.space, new, frame, region[0])
    return new


def sys_shm_open(p, key, npages):
    if not isinstance(npages, int) or npages <= 0:
        return fail("EINVAL", f"shm_open: bad page count {npages}")
    seg = segments.get(key)
    if seg is None:
        frames = []
        while len(frames) < npages:
            try:
                frames.append(PhysAddr.allocate())
            except Exception:
                for f in frames:
                    PhysAddr.deallocate(f)
                return fail("ENOMEM", "shm_open: out of frames")
        seg = Segment(frames)
        segments[key] = seg
        for f in frames:
            refs[f] = 0
    va = VirtAddr.allocate(p.space, len(seg.frames))
    first = vpn_of(va)
    for i in range(len(seg.frames)):
        p.regions[first + i] = (RW, key)
        ref(seg.frames[i])
        Translation.add_mapping(p.space, page_addr(first + i), seg.frames[i], RW)
    seg.maps = seg.maps + len(seg.frames)
    return va


def forget_segments():
    for key in list(segments):
        if segments[key].maps == 0:
            del segments[key]


# ------------------------------------------------------------ threads and sleeping


def sys_thread_create(p, entry, args):
    tid = p.next_tid[0]
    p.next_tid[0] = tid + 1
    s = Strand.create(state["package"], entry, args, p.name, Strand.DEFAULT_PRIORITY, p.space)
    p.threads[tid] = s
    by_strand[s] = p
    return tid


def sys_thread_join(p, tid):
    s = p.threads.get(tid)
    if s is None or tid == 0:
        return fail("ESRCH", f"thread_join: no thread {tid}")
    result = Strand.join(s)
    p.threads.pop(tid, None)
    return result


def sys_sleep(p, key):
    q = p.queues.get(key)
    if q is None:
        q = []
        p.queues[key] = q
    q.append(Strand.current())
    Strand.block()
    return 0


def sys_wakeup(p, key, everyone):
    q = p.queues.get(key)
    if not q:
        return 0
    n = len(q) if everyone else 1
    for s in q[:n]:
        Strand.unblock(s)
    del q[:n]
    if not q:
        del p.queues[key]
    return n


def sys_sleep_word(p):
    if p.pending_wake[0]:
        p.pending_wake[0] = False
        return 0
    p.sleeper.append(Strand.current())
    Strand.block()
    p.pending_wake[0] = False
    return 0


def sys_wake(p, pid):
    q = procs.get(pid)
    if q is None or q.status is not None:
        return fail("ESRCH", f"wake: no process {pid}")
    if q.sleeper:
        for s in q.sleeper:
            Strand.unblock(s)
        q.sleeper.clear()
    else:
        q.pending_wake[0] = True
    return 0


def sys_rpc_register(p, n, fn):
    register(p.space, n, fn)
    return 0


def sys_rpc_call(p, pid, n, args):
    q = procs.get(pid)
    if q is None or q.status is not None:
        return fail("ESRCH", f"rpc_call: no process {pid}")
    return call(q.space, n, args)


# ------------------------------------------------------------ the system-call table


def sys_exit(p, status, why):
    teardown(p, status, why)
    forget_segments()
    Strand.exit(status)


def sys_munmap_and_forget(p, vaddr, npages):
    r = sys_munmap(p, vaddr, npages)
    forget_segments()
    return r


def sys_on_fault(p, handler):
    p.handler = handler
    set_handler(p.space, handler)
    return 0


def sys_thread_yield(p):
    Strand.yield_()
    return 0


def sys_getpid(p):
    return p.pid


#: number -> (the call, how many arguments it takes)
CALLS = {
    SYS_FORK: (sys_fork, 2), SYS_EXEC: (sys_exec, 0), SYS_EXIT: (sys_exit, 2),
    SYS_WAIT: (sys_wait, 1), SYS_PIPE: (sys_pipe, 0), SYS_READ: (sys_read, 2),
    SYS_WRITE: (sys_write, 2), SYS_CLOSE: (sys_close, 1), SYS_SHM_OPEN: (sys_shm_open, 2),
    SYS_MMAP: (sys_mmap, 2), SYS_MUNMAP: (sys_munmap_and_forget, 2),
    SYS_MPROTECT: (sys_mprotect, 3), SYS_ON_FAULT: (sys_on_fault, 1), SYS_DIRTY: (sys_dirty, 1),
    SYS_ALIAS: (sys_alias, 1), SYS_THREAD_CREATE: (sys_thread_create, 2),
    SYS_THREAD_JOIN: (sys_thread_join, 1), SYS_THREAD_YIELD: (sys_thread_yield, 0),
    SYS_SLEEP_WORD: (sys_sleep_word, 0), SYS_WAKE: (sys_wake, 1),
    SYS_RPC_REGISTER: (sys_rpc_register, 2), SYS_RPC_CALL: (sys_rpc_call, 3),
    SYS_SLEEP: (sys_sleep, 1), SYS_WAKEUP: (sys_wakeup, 2), SYS_GETPID: (sys_getpid, 0),
}


def entry(call, nargs):
    """The Trap handler of one system call: the dispatcher's index has already chosen it
    by number, so it only finds the calling process and passes the arguments on."""
    def handler(number, args):
        p = me()
        if p is None:
            return fail("ENOSYS", "not a Unix process")
        if nargs == 0:
            return call(p)
        if nargs == 1:
            return call(p, args[0])
        if nargs == 2:
            return call(p, args[0], args[1])
        return call(p, args[0], args[1], args[2])
    return handler


def install():
    state["package"] = Strand.package("unix")
    state["page"] = User.page_size()
    Strand.on_exit(state["package"], strand_ended)
    for number in CALLS:
        Trap.claim(number, entry(CALLS[number][0], CALLS[number][1]))


def pids():
    """Every process the extension still records (live or ended)."""
    return sorted(procs)


def held():
    """What the extension still holds: processes, frame references, shared segments."""
    return {"processes": len(procs), "frame_refs": len(refs), "segments": len(segments)}
