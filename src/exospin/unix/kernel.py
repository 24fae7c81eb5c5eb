"""The Unix kernel: processes and threads, the scheduler, and the one way into the kernel.

What this models
    A conventional monolithic kernel in the role Ultrix 4.2 plays in the
    exokernel paper and DEC OSF/1 in the SPIN paper: fixed abstractions
    (processes, virtual memory, pipes, shared memory, signals, threads)
    implemented inside the kernel, reached through system calls.

    * Every entry from user mode (system call, exception, interrupt) goes
      through the same path: the hardware trap, the full trap frame saved
      (``param.TRAPFRAME_WORDS`` registers), the cause decoded, the work
      done, pending signals and rescheduling checked on the way out, the
      frame restored, return to user mode.
    * System calls are dispatched through one table (syscalls.py) whose
      entries check every argument and copy it in; a bad one fails with an
      errno and changes nothing.
    * The TLB is refilled by the kernel from its page tables (vm.py), with a
      short refill handler; an invalid entry falls into the general path
      (demand-zero, copy-on-write, or a signal).
    * A protection fault with a handler installed becomes a signal
      (signals.py): the trap frame is copied out to the thread's signal
      stack as a signal frame (a word at a time), the handler runs in user
      mode, and its ``sigreturn`` system call copies the frame back in,
      checks it and restores it.
    * Processes have kernel threads; the scheduler runs them round robin with
      a quantum ended by the timer interrupt, and a thread that blocks sleeps
      on a wait channel until a ``wakeup``.

Why it is built this way
    Each kernel thread is a greenlet, as Aegis' environments are: the kernel
    runs on the greenlet of the thread that trapped, like a Unix kernel on the
    trapping process's kernel stack, and a context switch is a greenlet
    switch, made only in ``_swtch`` and ``run``. The kernel is not
    preemptible: kernel code charges the clock directly and never reaches an
    interrupt boundary, so the timer interrupt is taken at the next user
    load, store or compute, and then preempts the thread.

    Costs are composed in ``Costs`` from the profile's primitives and charged
    where the path performs them; ``statistics()`` counts every path, so a
    benchmark can check that it timed the one it names.

    What we simplified: one processor; the page tables, the process table and
    the kernel's other structures are Python objects whose accesses are
    charged as memory references; no asynchronous signals (kill), no disk.

Interface
    ``Unix(machine)``; ``spawn(entry, name) -> pid`` (a new process whose first
    thread runs ``entry()``, used by the boot code); ``run(until)``;
    ``exit_status(pid)``; ``shutdown() -> leaks``; ``check_invariants()``;
    ``statistics()``. User code enters through ``trap(number, *args)``
    (libc.py does that).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from greenlet import getcurrent, greenlet

from ..machine import IRQ_TIMER, USER_TOP, Exc, Machine
from . import param, signals, vm
from .proc import (
    DEAD,
    PROT_READ,
    PROT_RW,
    PROT_WRITE,
    PTE,
    RUNNABLE,
    RUNNING,
    SLEEPING,
    Call,
    ExecUnwind,
    Proc,
    SysError,
    Thread,
    ThreadExit,
    ThreadKilled,
)

# The exception codes the vector tests on every trap, read once: an attribute of an Enum
# class goes through EnumType.__getattr__ in CPython 3.11, about two plain calls each.
_SYS, _MOD, _OV = Exc.SYS, Exc.MOD, Exc.OV
_ADDRESS_ERRORS = (Exc.ADEL, Exc.ADES)

@dataclass(frozen=True, slots=True)
class UnixStats:
    procs: int
    threads: int
    procs_created: int
    threads_created: int
    frames_total: int
    frames_used: int
    frames_kernel: int  # kernel stacks and pipe buffers
    pipes: int
    segments: int
    syscalls: int
    exceptions: int  # entries through the general exception path (not counting system calls)
    tlb_refills: int  # misses served by the refill handler from the page table
    page_faults: int  # misses that took the general path (demand-zero or a signal)
    demand_zero: int
    mod_faults: int  # first stores to clean pages (the kernel's modified bit)
    cow_copies: int
    cow_reclaims: int
    signals: int
    sigreturns: int
    context_switches: int
    preemptions: int
    interrupts: int
    sleeps: int
    wakeups: int
    copyin_words: int
    copyout_words: int
    forks: int
    execs: int
    exits: int
    rpc_calls: int
    by_syscall: dict[str, int] = field(default_factory=dict)


class Costs:
    """Cycle costs of the kernel's paths, each composed from hardware primitives."""

    def __init__(self, m: Machine) -> None:
        p = m.profile
        words = p.page_size // p.word_bytes
        self.insn, self.mem_ref, self.copy_word = p.insn, p.mem_ref, p.copy_word
        self.tlb_probe, self.tlb_write = p.tlb_probe, p.tlb_write
        # Entry from user mode (the CPU charged trap_entry): save the trap frame,
        # read Cause and branch on the exception code.
        self.entry = param.TRAPFRAME_WORDS * p.reg_save + 2 * p.insn
        # System-call dispatch: check the number against the table size, load the
        # handler and its argument count, call it.
        self.dispatch = p.insn + 2 * p.mem_ref + p.proc_call
        # One argument: loaded from the saved a0-a3 of the trap frame...
        self.arg_reg = p.mem_ref
        # ...or, beyond the fourth, copied in from the user stack after an address check.
        self.arg_stack = p.copy_word + p.insn
        # On the way out: pending signals (p_sig & ~p_sigmask) and want_resched.
        self.exit_checks = 2 * p.mem_ref + 2 * p.insn
        # Return to user mode: restore the trap frame, rfe.
        self.leave = param.TRAPFRAME_WORDS * p.reg_restore + p.trap_return
        # TLB refill from the page table: the refill vector's trap, compute the
        # address of the PTE (three instructions), walk two levels, check valid...
        self.refill_walk = p.trap_entry + 3 * p.insn + 2 * p.mem_ref + p.insn
        # ...then tlbwr and rfe.
        self.refill_done = p.tlb_write + p.trap_return
        # A page-table walk, a page-table-entry store.
        self.walk = 2 * p.mem_ref
        self.pte_store = p.mem_ref
        # Core map: pop the free list and set the entry; the reverse.
        self.frame_alloc = 2 * p.mem_ref
        self.frame_free = 2 * p.mem_ref
        self.frame_zero = words * p.mem_ref  # one store per word
        self.frame_copy = words * p.copy_word
        # A context switch (swtch): save and restore the callee-saved registers in
        # the PCBs, take the next thread off the run queue (two loads, one store),
        # load its ASID into EntryHi, mark it running.
        self.switch = param.CALLEE_SAVED * (p.reg_save + p.reg_restore) + 4 * p.mem_ref + 2 * p.insn
        # sleep(): record the channel, link onto the sleep queue's hash chain.
        self.sleep = 3 * p.mem_ref + p.insn
        # wakeup(): hash the channel, load the chain; per thread woken: unlink and
        # put on the run queue.
        self.wakeup = 3 * p.insn + p.mem_ref
        self.wake_one = 3 * p.mem_ref
        # Send a signal to a handler: set a0-a2, sp, ra (the trampoline) and EPC (the
        # handler) in the trap frame before the return to user mode.
        self.to_handler = 6 * p.mem_ref
        # sigreturn's checks of the copied-in frame: magic, status register, EPC.
        self.frame_checks = 3 * (p.insn + p.insn)
        # hardclock on a timer interrupt: count the tick, re-arm the timer (a device
        # store), compare the quantum.
        self.hardclock = 2 * p.mem_ref + p.mem_ref + p.insn


class Unix:
    """The kernel. Create one per machine, ``spawn`` the first process, ``run``."""

    def __init__(self, machine: Machine) -> None:
        from . import syscalls

        self.m = machine
        self.loop = machine.loop
        self.cpu = machine.cpu
        self.tlb = machine.tlb
        self.memory = machine.memory
        self.tracer = machine.tracer
        p = machine.profile
        self.c = Costs(machine)
        self.page = p.page_size
        self.page_shift = p.page_size.bit_length() - 1
        self.word_bytes = p.word_bytes
        self.word_shift = p.word_bytes.bit_length() - 1
        self.word_mask = (1 << (8 * p.word_bytes)) - 1
        self.words_per_frame = p.page_size // p.word_bytes
        self.memwords = machine.tlb.memory_words
        self.user_top = USER_TOP
        self.quantum = p.cycles_for_us(param.QUANTUM_US)
        self.frames = vm.CoreMap(machine)
        self.systab = syscalls.TABLE
        self.sysnum = {name: i for i, (name, _, _) in enumerate(self.systab)}
        self.procs: dict[int, Proc] = {}
        self.threads: dict[int, Thread] = {}
        self.runq: deque[Thread] = deque()
        self.sleepq: dict[Any, list[Thread]] = {}
        self.pipes: dict[int, Any] = {}
        self.segments: dict[str, Any] = {}
        self.current: Thread | None = None
        self._root = getcurrent()
        self._next_pid = 1
        self._next_tid = 1
        self._next_pipe = 1
        self._stopping = False
        self._armed = False
        #: device interrupts other than the timer's (a NIC's receive interrupt): irq -> handler
        self.irq_handlers: dict[int, Callable[[int], None]] = {}
        self.journal: list[tuple[int, int, str]] = []  # (cycles, pid, text): rare events only
        self.ended: dict[int, tuple[int, str]] = {}  # pid -> (status, message), kept after reaping
        # counters
        self.procs_created = self.threads_created = 0
        self.nsyscalls = self.exceptions = self.refills = self.page_faults = 0
        self.demand_zero = self.mod_faults = self.cow_copies = self.cow_reclaims = 0
        self.signals = self.sigreturns = self.context_switches = self.preemptions = 0
        self.interrupts = self.sleeps = self.wakeups = 0
        self.copyin_words = self.copyout_words = 0
        self.forks = self.execs = self.exits = self.rpc_calls = 0
        self.by_syscall = [0] * len(self.systab)
        self.cpu.install_vectors(self._make_refill(), self._exception, self._interrupt)
        self.cpu.kernel_mode = False

    # ------------------------------------------------------------- journal

    def note(self, pid: int, text: str) -> None:
        self.journal.append((self.loop.now, pid, text))
        if self.tracer is not None:
            self.tracer.instant("unix", "kernel", pid, self.loop.now, text=text)

    # ---------------------------------------------------- processes, threads

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
        self._make_runnable(t)
        return t

    def sigstack_top(self, slot: int) -> int:
        return param.SIGSTACK_BASE + (slot + 1) * param.SIGSTACK_PAGES * self.page

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

    def exit_status(self, pid: int) -> int | None:
        e = self.ended.get(pid)
        return None if e is None else e[0]

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
        from . import ipc

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

    # ------------------------------------------------------------- running

    def run(self, until: int | None = None) -> int:
        """Run threads until none can run (or the clock reaches ``until``); returns the clock."""
        if getcurrent() is not self._root:
            raise RuntimeError("Unix.run() must be called from the greenlet that created the kernel")
        stop = self.loop.schedule(until, self._stop) if until is not None else None
        self._stopping = False
        try:
            while not self._stopping:
                t = self.runq.popleft() if self.runq else None
                if t is None:
                    self.m.timer.cancel()
                    self._armed = False
                    if not self.sleepq or not self.loop.skip_to_next():
                        break  # nothing left to run, or nothing left that could wake a sleeper
                    continue
                self._resume(t)
        finally:
            if stop is not None:
                stop.cancel()
            self._stopping = False
        self.m.timer.cancel()
        self._armed = False
        return self.loop.now

    def _resume(self, t: Thread) -> None:
        """From the root: give the processor to ``t`` until control comes back here."""
        self.loop.now += self.c.switch
        self.current = t
        t.state = RUNNING
        self.tlb.set_asid(t.proc.asid)
        self.context_switches += 1
        if not self._armed:
            self.m.timer.arm(self.quantum)
            self._armed = True
        assert t.g is not None
        t.g.switch()

    def _stop(self) -> None:
        self._stopping = True
        t = self.current
        if t is not None and getcurrent() is not self._root:
            t.state = RUNNABLE
            self.runq.appendleft(t)  # it goes on first when run() is called again
            t.g = getcurrent()
            self.current = None
            self._root.switch()

    def _make_runnable(self, t: Thread, front: bool = False) -> None:
        t.state = RUNNABLE
        if front:
            self.runq.appendleft(t)
        else:
            self.runq.append(t)

    def _swtch(self) -> None:
        """Give up the processor (the caller has queued or put us to sleep); returns when
        someone switches back to us."""
        me = self.current
        assert me is not None
        me.g = getcurrent()
        nxt = self.runq.popleft() if self.runq else None
        if nxt is None:
            self.current = None
            self._root.switch()  # idle: the root waits; its _resume charges the switch to whoever runs
        elif nxt is not me:
            self.loop.now += self.c.switch
            self.current = nxt
            nxt.state = RUNNING
            self.tlb.set_asid(nxt.proc.asid)
            self.context_switches += 1
            assert nxt.g is not None
            nxt.g.switch()
        else:
            self.current = me
        me.state = RUNNING

    def sleep(self, chan: Any) -> None:
        """Block the current thread on ``chan`` until ``wakeup(chan)``."""
        t = self.current
        assert t is not None
        self.loop.now += self.c.sleep
        self.sleeps += 1
        t.state = SLEEPING
        t.chan = chan
        self.sleepq.setdefault(chan, []).append(t)
        self._swtch()
        if t.killed:
            raise ThreadKilled()

    def wakeup(self, chan: Any, front: bool = False) -> int:
        """Make every thread sleeping on ``chan`` runnable (``front``: next to run, for a
        hand-off). Returns how many."""
        self.loop.now += self.c.wakeup
        q = self.sleepq.pop(chan, None)
        if not q:
            return 0
        for t in q:
            t.chan = None
            self.loop.now += self.c.wake_one
            self._make_runnable(t, front)
        self.wakeups += len(q)
        return len(q)

    def yield_(self) -> None:
        t = self.current
        assert t is not None
        if self.runq:
            self._make_runnable(t)
            self._swtch()

    # ------------------------------------------------------- interrupts

    def _interrupt(self, irq: int) -> None:
        """The timer (the CPU charged the trap and the acknowledge): hardclock; at the end
        of the quantum the running thread goes to the back of the run queue. Another
        device's interrupt (a NIC's) goes to its handler and leaves the timer as it is."""
        self.interrupts += 1
        if irq != IRQ_TIMER:
            h = self.irq_handlers.get(irq)
            if h is not None:
                h(irq)
            return
        self._armed = False
        t = self.current
        if irq != IRQ_TIMER or t is None or getcurrent() is self._root:
            return
        loop = self.loop
        loop.now += self.c.entry + self.c.hardclock
        self.m.timer.arm(self.quantum)
        self._armed = True
        if self.runq and t.state == RUNNING:
            self.preemptions += 1
            self._make_runnable(t)
            self._swtch()
        loop.now += self.c.exit_checks + self.c.leave

    # ------------------------------------------------------ system calls

    def trap(self, number: int, *args: Any) -> Any:
        """Enter the kernel with system call ``number`` (user code: libc). Returns the
        result, or a SysError instance for a failed call (errno in user space)."""
        t = self.current
        assert t is not None
        t.uargs = args
        return cast(Any, self.cpu.raise_exception(_SYS, 0, number))

    def _syscall(self, t: Thread, number: int) -> Any:
        """The generic path, after the hardware trap: save, dispatch, check and copy
        the arguments, do the work, deliver what is pending, restore, return."""
        loop = self.loop
        c = self.c
        loop.now += c.entry
        self._save(t)
        if t.killed or t.proc.state != "running":
            raise ThreadKilled()
        self.nsyscalls += 1
        t.proc.syscalls += 1
        loop.now += c.dispatch
        args = t.uargs
        if type(number) is not int or not 0 <= number < len(self.systab):
            result: Any = SysError("ENOSYS", f"no system call {number!r}")
        else:
            name, fn, nargs = self.systab[number]
            self.by_syscall[number] += 1
            n = len(args)
            loop.now += min(n, 4) * c.arg_reg + max(0, n - 4) * c.arg_stack
            if nargs >= 0 and n != nargs:
                result = SysError("EINVAL", f"{name}: takes {nargs} arguments, not {n}")
            else:
                try:
                    result = fn(self, t, *args)
                except SysError as e:
                    result = e
        loop.now += c.exit_checks + c.leave
        self._restore(t)
        return result

    def _save(self, t: Thread) -> None:
        regs = self.cpu.regs
        tf = t.tf
        tf[0:25] = regs[1:26]
        tf[25:29] = regs[28:32]
        tf[29] = tf[30] = 0  # HI, LO (multiplies are not modelled)
        tf[31] = param.SR_USER
        tf[32] = self.cpu.epc

    def _restore(self, t: Thread) -> None:
        regs = self.cpu.regs
        tf = t.tf
        regs[1:26] = tf[0:25]
        regs[28:32] = tf[25:29]
        self.cpu.epc = tf[32]

    # ------------------------------------------------------- exceptions

    def _exception(self, code: Exc, vaddr: int, write: bool, value: int) -> Any:
        """The general exception vector (the CPU charged trap_entry)."""
        t = self.current
        assert t is not None
        if code is _SYS:
            return self._syscall(t, value)
        self.cpu.epc = param.USER_TEXT
        self.loop.now += self.c.entry
        self._save(t)
        self.exceptions += 1
        t.proc.faults += 1
        if code is _MOD:
            return self._mod_fault(t, vaddr, value)
        if code is _OV:
            return self._signal(t, param.SIGFPE, code, vaddr, write, value,
                                "arithmetic overflow")[1]
        if code in _ADDRESS_ERRORS:
            kernel = vaddr < 0 or vaddr >= self.user_top
            sig = param.SIGSEGV if kernel else param.SIGBUS
            what = "store to" if write else "load from"
            why = f"{what} {vaddr:#x} ({'the kernel segment' if kernel else 'an unaligned address'})"
            return self._signal(t, sig, code, vaddr, write, value, why)[1]
        self.die(t, 128 + param.SIGSEGV, f"unexpected exception {code.name}")
        return 0

    def return_to_user(self, t: Thread) -> None:
        self.loop.now += self.c.exit_checks + self.c.leave
        self._restore(t)

    def _mod_fault(self, t: Thread, vaddr: int, value: int) -> int:
        """A store hit a read-only TLB entry: set the modified bit, copy-on-write, or a
        protection violation (a signal). Returns 1 to skip the store, 0 to retry it."""
        p = t.proc
        vpn = vaddr >> self.page_shift
        self.loop.now += self.c.walk
        pte = p.pt.get(vpn)
        if pte is not None and pte.pfn >= 0 and pte.prot & PROT_WRITE:
            t.last_fault = None
            if pte.cow:
                try:
                    vm.break_cow(self, p, pte)
                except vm.OutOfMemory:
                    self.die(t, 128 + param.SIGKILL, f"out of memory copying page {vaddr & -self.page:#x} on write")
            else:
                self.mod_faults += 1
            pte.modified = True
            self.loop.now += self.c.pte_store
            vm.tlb_update(self, p, vpn, pte)
            self.return_to_user(t)
            return 0
        skip, _ = self._signal(t, param.SIGSEGV, Exc.MOD, vaddr, True, value, self._describe(p, vaddr, True))
        return 1 if skip else 0

    def _describe(self, p: Proc, vaddr: int, write: bool) -> str:
        pte = p.pt.get(vaddr >> self.page_shift)
        what = "store to" if write else "load from"
        why = ("not mapped" if pte is None else
               {0: "page is PROT_NONE", PROT_READ: "page is read-only"}.get(pte.prot, "allowed?"))
        return f"{what} {vaddr:#x} ({why})"

    def _make_refill(self) -> Callable[[int, int, bool], int | None]:
        """The TLB-refill vector: load the PTE from the current process's page table.

        Inlined for performance: it runs on every TLB miss. A valid entry goes
        back to the CPU for its closing tlbwr; anything else takes the general
        path (``_page_fault``).
        """
        loop = self.loop
        c_walk, c_done = self.c.refill_walk, self.c.refill_done
        wpf, memwords = self.words_per_frame, self.memwords

        def refill(vpn: int, vaddr: int, write: bool) -> int | None:
            loop.now += c_walk
            t = self.current
            assert t is not None
            pte = t.proc.pt.get(vpn)
            if pte is not None and pte.pfn >= 0 and pte.prot & 1:
                self.refills += 1
                loop.now += c_done
                b = pte.pfn * wpf
                return b if pte.prot & 2 and pte.modified and not pte.cow else b - memwords
            return self._page_fault(t, vpn, vaddr, write)

        return refill

    def _page_fault(self, t: Thread, vpn: int, vaddr: int, write: bool) -> int | None:
        """An invalid PTE: demand-zero a page the process may read, else a signal."""
        p = t.proc
        self.loop.now += self.c.entry
        self._save(t)
        self.page_faults += 1
        p.faults += 1
        pte = p.pt.get(vpn)
        if pte is None or not pte.prot & PROT_READ:
            self._signal(t, param.SIGSEGV, Exc.TLBS if write else Exc.TLBL, vaddr, write, 0,
                         self._describe(p, vaddr, write))
            return None  # the access is retried (and refilled again)
        t.last_fault = None
        try:
            vm.make_resident(self, p, pte)
        except vm.OutOfMemory:
            self.die(t, 128 + param.SIGKILL, f"out of memory on demand-zero page {vaddr & -self.page:#x}")
        if write and pte.prot & PROT_WRITE:
            pte.modified = True  # vm_fault for a write: the page is dirty at once
        self.return_to_user(t)
        self.loop.now += self.c.tlb_write
        b = pte.pfn * self.words_per_frame
        return b if vm.writable_now(pte) else b - self.memwords

    # ---------------------------------------------------------- signals

    def _signal(self, t: Thread, sig: int, code: int, vaddr: int, write: bool, value: int,
                why: str) -> tuple[bool, int]:
        return signals.deliver(self, t, sig, code, vaddr, write, value, why)

    def sigreturn(self, t: Thread, fa: Any) -> None:
        signals.sigreturn(self, t, fa)

    # ------------------------------------------------------- copyin/out

    def _user_words(self, p: Proc, va: int, n: int, write: bool) -> list[int]:
        """Indices in physical memory of ``n`` user words from ``va``: one page-table walk
        per page touched (vm.user_word), as copyin/copyout translate a page at a time."""
        out: list[int] = []
        i = 0
        while i < n:
            a = va + i * self.word_bytes
            base = vm.user_word(self, p, a, write)
            room = min(n - i, (self.page - (a & (self.page - 1))) >> self.word_shift)
            out.extend(range(base, base + room))
            i += room
        return out

    def copyin_words_from(self, p: Proc, va: int, n: int) -> list[int]:
        """copyin: ``n`` words of user memory from ``va`` (SysError EFAULT if not readable)."""
        words = self.memory.words
        out = [words[i] for i in self._user_words(p, va, n, False)]
        self.loop.now += n * self.c.copy_word
        self.copyin_words += n
        return out

    def copyout_words_to(self, p: Proc, va: int, values: list[int]) -> None:
        """copyout: ``values`` into user memory at ``va`` (SysError EFAULT if not writable)."""
        words = self.memory.words
        for i, v in zip(self._user_words(p, va, len(values), True), values, strict=True):
            words[i] = v
        self.loop.now += len(values) * self.c.copy_word
        self.copyout_words += len(values)

    def charge_copy(self, nbytes: int, out: bool) -> None:
        """Charge copying ``nbytes`` between a user buffer and the kernel, a word at a time."""
        n = -(-nbytes // self.word_bytes)
        self.loop.now += n * self.c.copy_word
        if out:
            self.copyout_words += n
        else:
            self.copyin_words += n

    # -------------------------------------------------------- shutdown

    def shutdown(self) -> dict[str, int]:
        """End every process (its threads unwound) and return what is still held."""
        for pid in sorted(self.procs):
            p = self.procs.get(pid)
            if p is not None and p.state == "running":
                self._end_process(p, 128 + param.SIGKILL, "shut down")
        self.procs.clear()
        self.segments.clear()
        s = self.statistics()
        return {"frames": s.frames_used, "processes": s.procs, "threads": s.threads, "pipes": s.pipes}

    # ---------------------------------------------------------- checks

    def check_invariants(self) -> list[str]:
        """U1-U5 of docs/unix.md, read off the kernel's state."""
        bad: list[str] = []
        refs = [0] * len(self.frames.refcnt)
        for p in self.procs.values():
            for pte in p.pt.values():
                if pte.pfn >= 0:
                    refs[pte.pfn] += 1
        for t in self.threads.values():
            if t.kstack >= 0:
                refs[t.kstack] += 1
        for pipe in self.pipes.values():
            refs[pipe.pfn] += 1
        free = set(self.frames.free)
        for pfn, n in enumerate(self.frames.refcnt):
            if n != refs[pfn]:
                bad.append(f"U1: frame {pfn} has reference count {n} but {refs[pfn]} references")
            if (pfn in free) != (n == 0):
                bad.append(f"U2: frame {pfn} is {'free' if pfn in free else 'in use'} with {n} references")
        by_asid: dict[int, Proc] = {}
        for p in self.procs.values():
            if p.state != "running":
                if p.pt or p.threads or p.fds:
                    bad.append(f"U4: zombie {p.pid} still holds pages, threads or descriptors")
                continue
            if p.asid in by_asid:
                bad.append(f"U4: pids {by_asid[p.asid].pid} and {p.pid} share ASID {p.asid}")
            by_asid[p.asid] = p
        for key, e in self.tlb.entries_map.items():
            vpn, asid = key >> 8, key & 0xFF
            owner = by_asid.get(asid)
            entry = owner.pt.get(vpn) if owner is not None else None
            if entry is None or entry.pfn != e[2] or not entry.prot & PROT_READ:
                bad.append(f"U3: TLB maps page {vpn:#x} of ASID {asid} to frame {e[2]}, the page table does not")
            elif e[1] and not vm.writable_now(entry):
                bad.append(f"U3: TLB maps page {vpn:#x} of ASID {asid} writable, the page table does not allow it")
        for t in self.runq:
            if t.state != RUNNABLE or t.proc.state != "running":
                bad.append(f"U4: {t} is on the run queue but {t.state}")
        for t in self.threads.values():
            if not t.done and t not in t.proc.threads:
                bad.append(f"U4: {t} is live but not in its process")
        counts: dict[int, list[int]] = {}
        for p in self.procs.values():
            for f in p.fds.values():
                c = counts.setdefault(f.pipe.id, [0, 0])
                c[0 if f.end == "r" else 1] += 1
        for pid_, pipe in self.pipes.items():
            c = counts.get(pid_, [0, 0])
            if [pipe.readers, pipe.writers] != c:
                bad.append(f"U5: pipe {pid_} counts {pipe.readers} readers, {pipe.writers} writers; "
                           f"descriptors say {c[0]}, {c[1]}")
        return bad

    def statistics(self) -> UnixStats:
        kernel_frames = sum(1 for k in self.frames.kind if k in ("kstack", "pipe"))
        segs = sum(1 for s in self.segments.values() if all(self.frames.owner[f] is s for f in s.pfns))
        return UnixStats(
            procs=len(self.procs), threads=sum(1 for t in self.threads.values() if not t.done),
            procs_created=self.procs_created, threads_created=self.threads_created,
            frames_total=len(self.frames.refcnt), frames_used=self.frames.used(), frames_kernel=kernel_frames,
            pipes=len(self.pipes), segments=segs, syscalls=self.nsyscalls, exceptions=self.exceptions,
            tlb_refills=self.refills, page_faults=self.page_faults, demand_zero=self.demand_zero,
            mod_faults=self.mod_faults, cow_copies=self.cow_copies, cow_reclaims=self.cow_reclaims,
            signals=self.signals, sigreturns=self.sigreturns, context_switches=self.context_switches,
            preemptions=self.preemptions, interrupts=self.interrupts, sleeps=self.sleeps,
            wakeups=self.wakeups, copyin_words=self.copyin_words, copyout_words=self.copyout_words,
            forks=self.forks, execs=self.execs, exits=self.exits, rpc_calls=self.rpc_calls,
            by_syscall={name: n for (name, _, _), n in zip(self.systab, self.by_syscall, strict=True) if n},
        )


__all__ = ["Call", "Costs", "Unix", "UnixStats"]
