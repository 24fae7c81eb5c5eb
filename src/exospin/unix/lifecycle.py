"""Processes and threads: created, started, and ended with everything they hold.

What this models
    The kernel half of fork, thread creation and exit in a 4.3BSD/Ultrix
    kernel (kern_fork.c, kern_exit.c): a process-table entry with an ASID
    and an empty address space; a kernel thread with a kernel stack, a
    signal stack in the process's address space and a place on the run
    queue; and the end of a process, which fails the RPCs it serves, unwinds
    its other threads, closes its descriptors, releases its address space,
    makes it a zombie for its parent and orphans its children.

Why it is built this way
    The bottom of every thread's greenlet (``_thread_body``) ends the
    thread whichever way its entry leaves (return, thread_exit, exec, kill),
    so a kernel stack or signal stack is never lost. A thread parked in the
    kernel is unwound by throwing into its greenlet (``kill_thread``), from
    the thread that ends the process or from the root.

Interface
    ``spawn(entry, name) -> pid``; to the subsystems ``new_proc(ppid, name)``,
    ``new_thread(p, entry)``, ``kill_thread(t)``, ``die(t, status, message)``,
    ``_map_sigstack(p, slot)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from greenlet import getcurrent, greenlet

from . import ipc, param, vm
from .proc import (
    DEAD,
    PROT_RW,
    PTE,
    RUNNABLE,
    ExecUnwind,
    Proc,
    SysError,
    Thread,
    ThreadExit,
    ThreadKilled,
)
from .sched import Scheduler


class Lifecycle(Scheduler):
    """Processes and threads created and ended (see the module note)."""

    def _alloc_asid(self) -> int:
        used = {p.asid for p in self.procs.values() if p.state == "running"}
        for asid in range(1, 1 << self.m.profile.asid_bits):
            if asid not in used:
                return asid
        raise SysError("EAGAIN", "no address-space identifier left")

    def new_proc(self, ppid: int, name: str) -> Proc:
        """A process-table entry with an empty address space (raises SysError EAGAIN)."""
        live = sum(1 for p in self.procs.values() if p.state == "running")
        if live >= param.MAX_PROCS:
            raise SysError("EAGAIN", f"the process table is full ({param.MAX_PROCS} processes)")
        asid = self._alloc_asid()
        self.tlb.flush_asid(asid)  # a recycled ASID: nothing of its last owner may match
        pid = self._next_pid
        self._next_pid += 1
        p = Proc(pid, ppid, name, asid, next_va=param.MMAP_BASE, tlb_view=self.tlb.view_of(asid))
        self.procs[pid] = p
        self.procs_created += 1
        if self.tracer is not None:
            self.tracer.track(pid, f"pid {pid}: {name}")
        return p

    def new_thread(self, p: Proc, entry: Callable[[], Any]) -> Thread:
        """A kernel thread of ``p`` that will run ``entry()``: a kernel stack, a signal
        stack in its address space, a place on the run queue (raises SysError)."""
        if len(self.threads) >= param.MAX_THREADS:
            raise SysError("EAGAIN", f"no thread left ({param.MAX_THREADS} exist)")
        try:
            kstack = self.frames.alloc("kstack")
        except vm.OutOfMemory:
            raise SysError("ENOMEM", "no free frame for a kernel stack") from None
        self.loop.now += self.c.frame_alloc
        slots = {t.slot for t in p.threads}
        slot = next(s for s in range(len(slots) + 1) if s not in slots)
        t = Thread(self._next_tid, p, entry, slot, kstack, tf=[0] * param.TRAPFRAME_WORDS)
        self._next_tid += 1
        t.sig_sp = self.sigstack_top(slot)
        self._map_sigstack(p, slot)
        t.g = t.base = greenlet(run=lambda: self._thread_body(t), parent=self._root)
        p.threads.append(t)
        self.threads[t.tid] = t
        self.threads_created += 1
        self.loop.now += 6 * self.c.mem_ref  # the thread structure
        if self.bc is not None:  # Mach's thread_create, thread_set_state, thread_resume (osf1)
            self.bc.charge("thread_create")
        self._make_runnable(t)
        return t

    def _map_sigstack(self, p: Proc, slot: int) -> None:
        first = (param.SIGSTACK_BASE >> self.page_shift) + slot * param.SIGSTACK_PAGES
        for vpn in range(first, first + param.SIGSTACK_PAGES):
            old = p.pt.get(vpn)
            if old is not None:  # inherited by fork from a thread of the parent
                vm.drop(self, p, vpn, old)
            p.pt[vpn] = PTE(prot=PROT_RW)  # demand-zero: touched only by a signal frame
            self.loop.now += self.c.pte_store

    def spawn(self, entry: Callable[[], Any], name: str) -> int:
        """Create a process whose first thread runs ``entry()`` (what init's fork+exec
        would give us; the boot code uses it to start programs). Returns its pid."""
        p = self.new_proc(0, name)
        try:
            self.new_thread(p, entry)
        except SysError:
            del self.procs[p.pid]
            raise
        self.note(p.pid, f"start {name}")
        return p.pid

    def _thread_body(self, t: Thread) -> None:
        """The bottom of every kernel thread: run its entry, then end it."""
        entry = t.entry
        while True:
            try:
                entry()  # libc ends its threads with exit or thread_exit; returning is thread_exit
                if t.proc.state == "running" and all(o is t or o.done for o in t.proc.threads):
                    self._end_process(t.proc, 0, "")  # the last thread of a process: its end
            except ExecUnwind as e:
                entry = e.entry
                continue
            except (ThreadExit, ThreadKilled):
                pass
            break
        self._thread_gone(t)

    def _thread_gone(self, t: Thread) -> None:
        """A thread has ended: free its kernel stack and signal stack, wake its joiner."""
        if t.state == DEAD:
            return
        self._unlink(t)
        t.state = DEAD
        t.done = True
        p = t.proc
        if t in p.threads:
            p.threads.remove(t)
            if p.state == "running":  # its signal stack (a dead process's pages are gone already)
                first = (param.SIGSTACK_BASE >> self.page_shift) + t.slot * param.SIGSTACK_PAGES
                vm.munmap(self, p, range(first, first + param.SIGSTACK_PAGES))
        self.frames.unref(t.kstack)
        self.loop.now += self.c.frame_free
        t.kstack = -1
        if p.state != "running" or t.joined:
            self.threads.pop(t.tid, None)
        if p.state == "running":
            self.wakeup(("join", t.tid))
        if self.current is t:
            self.current = None

    def _unlink(self, t: Thread) -> None:
        if t.state == RUNNABLE or t in self.runq:
            try:
                self.runq.remove(t)
            except ValueError:
                pass
        if t.chan is not None:
            q = self.sleepq.get(t.chan)
            if q is not None and t in q:
                q.remove(t)
                if not q:
                    del self.sleepq[t.chan]
            t.chan = None

    def kill_thread(self, v: Thread) -> None:
        """Unwind a parked thread now (its process is ending); from another thread or the root."""
        v.killed = True
        self._unlink(v)
        base = v.base
        if base is not None and base and not base.dead:
            base.parent = getcurrent()  # the unwinding ends here
            saved = self.current
            self.current = v
            while not base.dead:
                g = v.g if v.g is not None and not v.g.dead else base
                try:
                    g.throw(ThreadKilled())
                except (ThreadKilled, ThreadExit):
                    pass
            self.current = saved
            if saved is not None:
                self.tlb.set_asid(saved.proc.asid)
        self._thread_gone(v)

    def _end_process(self, p: Proc, status: int, message: str) -> None:
        """exit(): release everything ``p`` holds, make it a zombie, tell its parent.
        The calling thread (if it is one of p's) unwinds afterwards with ThreadExit."""
        if p.state != "running":
            return
        me = self.current
        p.state = "zombie"  # from here on, its threads' system calls end them
        p.status, p.message = status, message
        ipc.fail_calls(self, p)  # before its server threads go: the calls they serve fail too
        for v in list(p.threads):
            if v is not me:
                self.kill_thread(v)
        for tid in [tid for tid, th in self.threads.items() if th.proc is p and th.done]:
            del self.threads[tid]  # ended, never joined
        for fd in sorted(p.fds):
            ipc.close_fd(self, p, fd)
        p.rpc_procs.clear()
        vm.release(self, p)
        self.loop.now += 8 * self.c.mem_ref  # the proc structure, the parent's
        self.exits += 1
        self.ended[p.pid] = (status, message)
        self.note(p.pid, f"exit {status}{': ' + message if message else ''}"
                         f"{f'; {p.cow_copies} copy-on-write copies' if p.cow_copies else ''}")
        for c in sorted(p.children):  # orphans: nobody will wait for them
            child = self.procs.get(c)
            if child is not None:
                child.ppid = 0
                if child.state == "zombie":
                    del self.procs[c]
        p.children.clear()
        parent = self.procs.get(p.ppid)
        if parent is None or parent.state != "running":
            del self.procs[p.pid]  # no one will reap it
        else:
            self.wakeup(("child", parent.pid))

    def die(self, t: Thread, status: int, message: str) -> None:
        """End ``t``'s process with ``status`` (a signal's default action); t unwinds."""
        self._end_process(t.proc, status, message)
        raise ThreadExit()
