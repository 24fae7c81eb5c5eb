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

    Costs are composed in ``Costs`` (core.py) from the profile's primitives and
    charged where the path performs them; ``statistics()`` counts every path, so
    a benchmark can check that it timed the one it names.

    The kernel is one class whose methods are in layers, one file per part of
    the kernel, each adding methods to the one below:

        core.py        the state, the costs, the accounting, the trap frame
        usercopy.py    copyin and copyout
        sched.py       the run queue, sleep and wakeup, swtch, the timer
        lifecycle.py   processes and threads created and ended
        traps.py       system-call dispatch, exceptions, TLB refill, page faults
        invariants.py  U1-U5, checked from the state
        kernel.py      ``Unix``: the system-call table, the vectors, shutdown

    The subsystems the layers call (coremap.py, vm.py, ipc.py, signals.py,
    syscalls.py) take the kernel typed as the lowest layer that has what they
    use, so that no import goes back up to this file.

    What we simplified: one processor; the page tables, the process table and
    the kernel's other structures are Python objects whose accesses are
    charged as memory references; no asynchronous signals (kill), no disk.

Interface
    ``Unix(machine, baseline=None)`` (``baseline``: ``ultrix`` or ``osf1``, the faithful
    paths of baseline.py; None, the lean kernel); ``spawn(entry, name) -> pid`` (a new process whose first
    thread runs ``entry()``, used by the boot code); ``run(until)``;
    ``exit_status(pid)``; ``shutdown() -> leaks``; ``check_invariants()``;
    ``statistics()``. User code enters through ``trap(number, *args)``
    (libc.py does that).
"""

from __future__ import annotations

from typing import Any

from ..machine import Machine
from . import ffs_layout, ffs_vnops, fsck_ffs, inet, invariants, param, syscalls
from .core import Costs, UnixStats
from .proc import Call, SysError
from .traps import Traps


class Unix(Traps):
    """The kernel. Create one per machine, ``spawn`` the first process, ``run``."""

    def __init__(self, machine: Machine, baseline: str | None = None) -> None:
        super().__init__(machine, baseline)
        self.systab = syscalls.TABLE
        self.sysnum = {name: i for i, (name, _, _) in enumerate(self.systab)}
        self.by_syscall = [0] * len(self.systab)
        self.cpu.install_vectors(self._make_refill(), self._exception, self._interrupt)
        self.cpu.kernel_mode = False
        self.net = inet.NetStack(self)  # sockets, PCBs, the mbuf pool; no interface yet

    def ifconfig(self, nic: Any, ip: str) -> None:
        """Attach the driver to network interface ``nic`` with address ``ip`` (the boot code
        of a networked machine calls it: autoconfiguration and ifconfig in one)."""
        inet.ifconfig(self, nic, ip)

    # ------------------------------------------------------- the disk

    def mount(self, disk: Any, format: bool, nbuf: int | None = None) -> None:  # noqa: A002 - boot's name
        """Mount the file system on ``disk`` (ffs_vnops.py; ``format``: mkfs first), with ``nbuf``
        buffers (param.nbuf_for the machine's memory if None). Raises ffs_layout.MountError for a
        disk that does not hold it (nothing written to the disk)."""
        if self.fs is not None and self.fs.mounted:
            raise ffs_layout.MountError("a file system is mounted already (one disk per kernel)")
        if nbuf is None:
            nbuf = param.nbuf_for(self.m.profile.memory_frames * self.page)
        if type(nbuf) is not int or not 4 <= nbuf <= len(self.frames.free) * (self.page // ffs_layout.BSIZE) // 2:
            raise ValueError(f"nbuf must be an int from 4 to half the free memory's blocks, not {nbuf!r}")
        self.fs = ffs_vnops.mount(self, disk, bool(format), nbuf, fsck_ffs.preen)

    def _unmount(self) -> dict[str, int]:
        """Sync and unmount; what the file system still held, and the blocks and inodes whose
        allocation disagrees with the tree (a leak: fsck's findings after the sync)."""
        fs = self.fs
        problems = 0
        held: dict[str, int] = {}
        if not fs.disk.failed:
            try:
                fs.sync()
                fs.bio.drain()  # (a buffer is the disk's while its request is in flight: not held)
                held = fs.held()
                rep = fsck_ffs.check(fsck_ffs.bio_reader(fs), fs.sb.nblocks)
                sb = fs.sb
                problems = sum(1 for p in rep.problems if not p.kind.startswith("bitmap"))
                in_core = {blk for g in range(sb.ngroups) for blk in range(sb.dstart(g), sb.gend(g))
                           if ffs_layout.bit(fs.bbitmap[g], blk - sb.gstart(g))}
                held["blocks"] = len(in_core ^ rep.used_blocks)
            except SysError:
                pass
        fs.bio.drain()
        held = {**fs.held(), **held}
        held.setdefault("blocks", 0)
        held["fs_problems"] = problems
        fs.unmount()
        return held

    # -------------------------------------------------------- shutdown

    def shutdown(self) -> dict[str, int]:
        """End every process (its threads unwound) and return what is still held."""
        for pid in sorted(self.procs):
            p = self.procs.get(pid)
            if p is not None and p.state == "running":
                self._end_process(p, 128 + param.SIGKILL, "shut down")
        self.procs.clear()
        self.segments.clear()
        net = inet.detach(self) if self.net.used else None  # sockets closed with the processes
        fs = self._unmount() if self.fs is not None and self.fs.mounted else None  # buffers' frames back
        s = self.statistics()
        left = {"frames": s.frames_used, "processes": s.procs, "threads": s.threads, "pipes": s.pipes}
        if fs is not None:
            left.update(fs)
        return left if net is None else {**left, **net}

    # ---------------------------------------------------------- checks

    def check_invariants(self) -> list[str]:
        """U1-U5 of docs/unix.md, read off the kernel's state (invariants.py)."""
        return invariants.check(self)


__all__ = ["Call", "Costs", "Unix", "UnixStats"]
