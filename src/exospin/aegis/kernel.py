"""Aegis, the exokernel: secure multiplexing of the machine and nothing else.

What this models
    The kernel of Engler, Kaashoek and O'Toole (SOSP 1995), sections 3-5.
    It owns no abstraction: it tracks which environment owns which frame and
    time slice, checks authority once when a secure binding is made (a TLB
    entry), and hands every event straight to the environment it concerns:

    * a TLB miss is served from the software TLB when the binding is cached
      there, and otherwise upcalled to the environment's TLB-miss handler;
    * other exceptions save three scratch registers and jump to the
      environment's handler, which returns to the faulting code itself;
    * the processor is a vector of time slices, visited round-robin; the
      owner's prologue runs at the start of its slice and its epilogue at the
      timer interrupt, with a bound on how long it may take (overrun is
      charged as excess time and repeated overrun destroys it);
    * protected control transfer (synchronous and asynchronous) and
      directed yield move the processor between environments;
    * revocation is visible: the environment is asked to give frames back
      and chooses which; past a deadline the abort protocol takes them by
      force and records them in its repossession vector.

Why it is built this way
    Each environment is a greenlet (see env.py). The kernel runs on whichever
    greenlet trapped into it, like a real kernel running on the trapping
    process's kernel stack; a context switch is a greenlet switch, and the
    only places that switch are ``_transfer`` and ``run``: the choke point of
    control flow. Every path charges the primitives it performs, composed
    from the profile in ``Costs`` (core.py); nothing is charged as a lump.

    The kernel is one class whose methods are in layers, one file per part
    of the paper, each adding methods to the one below and no state (the
    state is declared once, in slots, in core.py):

        messages.py     what a switch of the processor carries (a leaf)
        core.py         the state, the costs, the accounting records
        exceptions.py   exception dispatch, upcalls and TLB refill
        revocation.py   visible revocation and the abort protocol
        slices.py       the slice vector, the timer, PCT and directed yield
        lifecycle.py    environments created, run, destroyed and reaped
        invariants.py   the invariants, checked from the state
        kernel.py       ``Aegis``: the layers, the vectors, the system calls

    System calls (syscalls.py) act on the layers below this file, so this
    file imports them and they do not import it.

    What we simplified: one processor; no device interrupts other than the
    timer's, a NIC's (netdrv.py) and the disk's (xn.py); protected entry points are Python callables registered by the
    callee rather than addresses; page tables of library OSes are Python
    structures whose walks the library OS charges as memory references.

Interface
    ``Aegis(machine)``; ``create_env(main, name, slices)``; ``run(until)``;
    ``revoke(env_id, nframes)`` (the kernel asking for frames back);
    ``destroy(env_id, reason)``; ``check_invariants()``; ``statistics()``;
    ``syscalls`` (the system-call surface, see syscalls.py and netcalls.py);
    ``attach_nic(nic)``, ``start_net()`` (the NIC driver and packet filters, netdrv.py);
    ``attach_disk(disk)`` (XN: disk blocks as secure bindings, xn.py and xncalls.py).
"""

from __future__ import annotations

from ..machine import NIC, Disk, Machine
from . import invariants
from .core import AegisStats, Costs, EnvStats, JournalEntry
from .lifecycle import Lifecycle
from .netdrv import NetDriver
from .xn import XN
from .xncalls import XNSyscalls

__all__ = ["Aegis", "AegisStats", "Costs", "EnvStats", "JournalEntry"]


class Aegis(Lifecycle):
    """The exokernel. Create one per machine, then ``create_env`` and ``run``.

    Its state is in slots (core.py), its methods in the layers it inherits:
    lifecycle, slices, revocation, exceptions, core.
    """

    __slots__ = ()

    syscalls: XNSyscalls

    def __init__(self, machine: Machine) -> None:
        super().__init__(machine)
        # install the vectors: the kernel now owns the machine
        self.cpu.install_vectors(self._make_refill(), self._exception, self._interrupt)
        self.cpu.kernel_mode = False
        self.syscalls = XNSyscalls(self)

    def attach_nic(self, nic: NIC) -> None:
        """Give the kernel ``nic`` to drive. The driver (netdrv.py: the interrupt handler, the
        kernel's receive buffers, DPF) starts at the first network system call of an
        environment (netcalls.py), so a machine whose environments never use the network
        leaves its interface untouched."""
        if self.nic is not None:
            raise RuntimeError("attach_nic: this kernel has a NIC already")
        self.nic = nic

    def attach_disk(self, disk: Disk) -> XN:
        """Give the kernel ``disk`` for XN (xn.py): its interrupt, a scratch frame. Nothing is
        read until an environment's first XN system call (the kernel starts no I/O itself)."""
        if self.xn is not None:
            raise RuntimeError("attach_disk: this kernel has a disk already")
        self.xn = XN(self, disk)
        return self.xn  # type: ignore[no-any-return]

    def start_net(self) -> NetDriver:
        """Start the NIC driver now (the first network system call does it)."""
        if self.net is None:
            if self.nic is None:
                raise RuntimeError("start_net: no NIC attached")
            self.net = NetDriver(self, self.nic, self.nic.rx_ring)
        return self.net  # type: ignore[no-any-return]

    def check_invariants(self) -> list[str]:
        """Every invariant of docs/invariants.md that can be checked from kernel state (invariants.py)."""
        return invariants.check(self)
