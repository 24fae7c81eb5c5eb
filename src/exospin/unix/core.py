"""The state of the Unix kernel, its costs and its accounting, and the trap frame.

What this models
    What a monolithic kernel keeps: the process and thread tables, the run
    queue and the sleep queues (wait channels), the core map, pipes and
    shared segments, and the counters ``statistics()`` reports; the cycle
    cost of each kernel path, composed from the profile's hardware
    primitives (``Costs``); the trap frame every entry from user mode saves
    and every return restores.

Why it is built this way
    The kernel is one object, ``Unix``, whose methods come in layers, one
    file per part of a 4.3BSD/Ultrix kernel, each a class that adds methods
    to the one below it:

        core.py        this state (``Core``), the journal, the trap frame
        usercopy.py    copyin and copyout of user memory
        sched.py       the run queue, sleep and wakeup, swtch, the timer
        lifecycle.py   processes and threads created and ended (fork/exit's kernel half)
        traps.py       the trap vector: system-call dispatch, exceptions, TLB refill, faults
        kernel.py      ``Unix``: the system-call table, the vectors, shutdown, invariants

    The kernel's subsystems (vm.py, ipc.py, signals.py, syscalls.py) are
    functions over the kernel, each typed with the lowest layer that has
    what it uses, so none of them imports kernel.py, which imports them.

Interface
    ``Core(machine, baseline=None)`` (made through ``Unix``; ``bc``: a faithful
    baseline's step costs, or None); ``note(pid, text)``;
    ``sigstack_top(slot)``; ``exit_status(pid)``; ``return_to_user(t)``;
    ``statistics()``; the records ``UnixStats``, ``Costs``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from greenlet import getcurrent

from ..machine import USER_TOP, Footprint, Machine, instruction_profile
from . import param
from .baseline import BaselineCosts, get_baseline
from .coremap import CoreMap
from .proc import Proc, Thread


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


#: A process's record in the kernel's image (words): p_sig, p_sigmask, the page-table
#: root, the ASID. Per thread, the PCB (the callee-saved registers) is at the base of
#: its kernel-stack frame and the trap frame at its top.
PROC_SIG, PROC_SIGMASK, PROC_PTROOT = 0, 1, 2
PROC_WORDS = 4
MAXPROC = 64
#: second-level page-table pages, hashed by (process, first-level index): the tables'
#: place in memory, for their lines (a PTE's address; the tables themselves are dicts)
PT_PAGES = 256


class Footprints:
    """The cache lines of the kernel's paths, for ``detailed`` memory (docs/memory.md).

    As in Aegis (aegis/core.py): each path's text is as many instructions as its cost
    composition in :class:`Costs` counts, evaluated over ``instruction_profile``; its
    data are the words it reads and writes: the trap frame on the thread's kernel stack
    (saved and restored in full on every entry), the system-call table, the process's
    p_sig/p_sigmask and page-table root, a PTE, the PCBs a context switch saves and
    loads, the run queue. ``trapframe(t)``, ``pcb(t)``, ``proc(p)``, ``pte(p, vpn)`` give
    the addresses the object-relative data are at.
    """

    __slots__ = ("syscall", "exception", "exit_checks", "refill", "switch_out", "switch_in",
                 "signal", "sigreturn", "pipe_io", "pte_store", "interrupt", "_procs", "_proc_bytes",
                 "_pt", "_page", "_pte_shift", "_ptes_per_page", "_tf_off", "_w")

    def __init__(self, m: Machine) -> None:
        p = m.profile
        w = self._w = p.word_bytes
        self._page = p.page_size
        ip = instruction_profile(p)
        ci = Costs(SimpleNamespace(profile=ip))  # type: ignore[arg-type]
        img = m.cpu.kernel_image()
        systab = img.region("sysent", 64 * 2 * w)  # handler and argument count per call
        runq = img.region("runq", 4 * w)
        self._procs = img.region("proc", PROC_WORDS * w, MAXPROC)
        self._proc_bytes = img.stride("proc")
        self._pt = img.region("ptpages", PT_PAGES * p.page_size)
        self._ptes_per_page = p.page_size // w
        self._pte_shift = self._ptes_per_page.bit_length() - 1
        self._tf_off = p.page_size - param.TRAPFRAME_WORDS * w
        tf = tuple(i * w for i in range(param.TRAPFRAME_WORDS))
        pcb = tuple(i * w for i in range(param.CALLEE_SAVED))
        # an entry: the trap frame saved, the cause decoded; the way out: restored, rfe
        self.syscall = img.path("syscall", ci.entry + ci.dispatch + 4 * ci.arg_reg + ci.exit_checks + ci.leave,
                                reads=(systab, systab + w), obj_reads=tf, obj_writes=tf)
        self.exception = img.path("exception", ci.entry + ci.exit_checks + ci.leave, obj_reads=tf, obj_writes=tf)
        self.exit_checks = img.path("exit_checks", 0, obj_reads=(PROC_SIG * w, PROC_SIGMASK * w))
        self.interrupt = img.path("hardclock", ci.entry + ci.hardclock + ci.exit_checks + ci.leave,
                                  obj_reads=tf, obj_writes=tf)
        # the refill handler: its text; the PTE (at the address pte() gives)
        self.refill = img.path("utlb_refill", ci.refill_walk + ci.refill_done, obj_reads=(0,))
        self.pte_store = img.path("pte_store", ci.pte_store + ip.tlb_probe + ip.tlb_write, obj_writes=(0,))
        self.switch_out = img.path("swtch", ci.switch, reads=(runq, runq + w), writes=(runq,), obj_writes=pcb)
        self.switch_in = img.path("swtch_in", 0, obj_reads=pcb)
        # psignal and sendsig up to the handler (the frame goes out through copyout);
        # sigreturn's checks (the frame comes in through copyin)
        self.signal = img.path("sendsig", ci.to_handler + 2 * ip.proc_call,
                               obj_reads=(PROC_SIG * w, PROC_SIGMASK * w))
        self.sigreturn = img.path("sigreturn", ci.frame_checks)
        # a pipe's read or write: its file and pipe structures; the bytes go through
        # the pipe's buffer frame (pipe_buffer)
        self.pipe_io = img.path("pipe_rw", ci.mem_ref + ci.insn + 2 * ci.mem_ref + 2 * ci.copy_word + ci.insn)

    def proc(self, p: Proc) -> int:
        return self._procs + (p.pid % MAXPROC) * self._proc_bytes

    def trapframe(self, t: Thread) -> int:
        return t.kstack * self._page + self._tf_off

    def pcb(self, t: Thread) -> int:
        return t.kstack * self._page

    def pte(self, p: Proc, vpn: int) -> int:
        """The address of ``p``'s PTE for page ``vpn``: its second-level page, hashed."""
        page = (p.pid * 64 + (vpn >> self._pte_shift)) % PT_PAGES
        return self._pt + page * self._page + (vpn & (self._ptes_per_page - 1)) * self._w


class Core:
    """The kernel's state (see the module note)."""

    #: the system-call table (syscalls.TABLE: name, function, argument count), set by Unix
    systab: list[tuple[str, Callable[..., Any], int]]
    sysnum: dict[str, int]
    by_syscall: list[int]  # calls per system-call number

    def __init__(self, machine: Machine, baseline: str | None = None) -> None:
        self.m = machine
        self.loop = machine.loop
        self.cpu = machine.cpu
        self.tlb = machine.tlb
        self.memory = machine.memory
        self.tracer = machine.tracer
        p = machine.profile
        self.c = Costs(machine)
        #: the faithful baseline's counted steps (baseline.py), None for the lean kernel
        self.baseline = None if baseline is None else get_baseline(baseline)
        self.bc = None if self.baseline is None else BaselineCosts(self.baseline, p, machine.loop, machine.cpu)
        #: words of the signal frame: the lean frame, plus the rest of a baseline's struct sigcontext
        self.sigframe_words = param.SIGFRAME_WORDS + (0 if self.bc is None else self.bc.sigcontext_extra)
        #: the paths' cache lines, and the CPU's touch under ``detailed`` memory (None: ideal)
        self.fp = Footprints(machine)
        self.touch: Callable[[Footprint, int], None] | None = (
            None if machine.cpu.hierarchy is None else machine.cpu.touch)
        self.page = p.page_size
        self.page_shift = p.page_size.bit_length() - 1
        self.word_bytes = p.word_bytes
        self.word_shift = p.word_bytes.bit_length() - 1
        self.word_mask = (1 << (8 * p.word_bytes)) - 1
        self.words_per_frame = p.page_size // p.word_bytes
        self.memwords = machine.tlb.memory_words
        self.user_top = USER_TOP
        self.quantum = p.cycles_for_us(param.QUANTUM_US)
        self.frames = CoreMap(machine)
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
        self.net: Any = None  # the network stack (inet.NetStack), made by Unix
        self.fs: Any = None  # the mounted file system (ffs_vnops.FileSystem), once Unix.mount made it
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

    # ------------------------------------------------------------- journal

    def note(self, pid: int, text: str) -> None:
        self.journal.append((self.loop.now, pid, text))
        if self.tracer is not None:
            self.tracer.instant("unix", "kernel", pid, self.loop.now, text=text)

    def sigstack_top(self, slot: int) -> int:
        return param.SIGSTACK_BASE + (slot + 1) * param.SIGSTACK_PAGES * self.page

    def exit_status(self, pid: int) -> int | None:
        e = self.ended.get(pid)
        return None if e is None else e[0]

    # ----------------------------------------------------- the trap frame

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

    def return_to_user(self, t: Thread) -> None:
        self.loop.now += self.c.exit_checks + self.c.leave
        if self.bc is not None:
            self.bc.charge("user_return")
        if self.touch is not None:
            self.touch(self.fp.exit_checks, self.fp.proc(t.proc))
        self._restore(t)

    # --------------------------------------------------------- statistics

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
