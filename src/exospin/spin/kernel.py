"""The SPIN kernel, as far as it is built: extensions linked in, run on events.

What this models
    The core of SPIN (Bershad et al., SOSP 1995, section 3): the kernel boots
    with a dispatcher, a name server and two domains, ``SpinPublic`` (what
    any extension may link against) and ``SpinPrivileged`` (for trusted
    ones). An extension is Python source. ``load`` verifies it, makes it a
    domain and links it against the interfaces it may use; then its
    ``install()`` runs, and installs its handlers on kernel events.

    The system-call trap is an event, ``Trap(number, args)``, and a null
    system call is a handler on it. The trap's authority imposes what SPIN's
    did: an extension's handler runs only for the numbers its guard accepts.
    A trap costs the hardware's trap entry and return, plus what the
    dispatcher charges for the raise.

Why it is built this way
    The dispatcher is the only code that calls an extension: it resets the
    domain's budget before each handler, and terminates (uninstalls) a
    handler that raises or overruns. The kernel and the other extensions go
    on.

What is not built yet (issue 4)
    Strands and the scheduler, the memory services (PhysAddr, VirtAddr,
    Translation and their events), user address spaces, and running posix
    programs on SPIN.

Interface
    ``Spin(machine)``; ``load(source, filename, trusted=False) -> Domain``;
    ``syscall(number, *args)``; ``dispatcher``, ``names``, ``Trap``;
    ``statistics()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..machine import Machine
from .dispatcher import Dispatcher, DispatcherStats, Event, Handler
from .domain import SPIN_PRIVILEGED, SPIN_PUBLIC, Domain, LinkError, NameServer


class NoSuchSyscall(Exception):
    """No handler accepted this system-call number."""


@dataclass(frozen=True, slots=True)
class SpinStats:
    extensions: int
    syscalls: int
    dispatcher: DispatcherStats


class Spin:
    def __init__(self, machine: Machine) -> None:
        self.m = machine
        loop = machine.loop
        p = machine.profile

        def charge(cycles: int) -> None:
            loop.now += cycles

        self.dispatcher = Dispatcher(charge=charge, profile=p)
        self.Trap = Event("Trap", (int, tuple), object, default=self._no_handler)
        self.dispatcher.define(self.Trap)
        self._c_trap = p.trap_entry + p.trap_return
        self._loading: Domain | None = None
        self.public = Domain.kernel("SpinPublic", {"spin.Trap": {"install": self._trap_install}})
        self.privileged = Domain.kernel(
            "SpinPrivileged", {"spin.Dispatcher": {"statistics": self.dispatcher.statistics}})
        self.names = NameServer.boot(self.public, self.privileged)
        self.extensions: list[Domain] = []
        self.syscalls = 0

    @staticmethod
    def _no_handler(number: int, args: tuple[Any, ...]) -> Any:
        raise NoSuchSyscall(f"no handler for system call {number}")

    def _trap_install(self, handler: Any, guard: Any = None) -> Handler:
        """spin.Trap.install: put ``handler(number, args)`` on the trap, behind ``guard``."""
        d = self._loading
        budget = d.budget if d is not None else None
        return self.dispatcher.install(self.Trap, handler, guards=[guard] if guard is not None else [],
                                       budget=budget, installer=d)

    def load(self, source: str, filename: str = "<extension>", trusted: bool = False) -> Domain:
        """Verify ``source``, make it a domain, link it against SpinPublic, run its install().

        Raises the verifier's ``Rejected`` (nothing of it runs) or a ``LinkError``.
        """
        d = Domain.create(source, filename, trusted=trusted)
        # link each import against the interface set that provides it; the name
        # server's authorisation procedure decides (SpinPrivileged: trusted only)
        for name, provider in ((SPIN_PUBLIC, self.public), (SPIN_PRIVILEGED, self.privileged)):
            if any(provider.provides(i)[0] for i in d.unresolved):
                self.names.link(d, name)
        if d.unresolved:
            raise LinkError(f"{filename}: no interface provides {', '.join(d.unresolved)}")
        self._loading = d
        try:
            for members in d.exports.values():
                install = members.get("install")
                if install is not None:
                    install()
        finally:
            self._loading = None
        self.extensions.append(d)
        return d

    def syscall(self, number: int, *args: Any) -> Any:
        """Trap into the kernel: raise the Trap event; its handler's result is the answer."""
        self.syscalls += 1
        self.m.loop.now += self._c_trap
        return self.Trap.raise_(number, args)

    def statistics(self) -> SpinStats:
        return SpinStats(len(self.extensions), self.syscalls, self.dispatcher.statistics())
