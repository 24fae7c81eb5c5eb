"""The one place that boots a system: machine, kernel and library OS, in order.

Like xv6's ``main.c``, each boot function is the table of contents of its
system: one commented line per step. Everything else in exospin (the CLI,
the benchmarks, the tests) gets its system from here.

Interface
    ``boot(name, profile="ds5000", seed=0, trace=False) -> System``;
    ``SYSTEMS`` (the names ``boot`` knows); ``System.spawn(program, ...)``
    starts an application under its library OS; ``System.run(until_us)``;
    ``System.statistics()``; ``System.shutdown()`` destroys every
    environment and returns what leaked (nothing, if the kernel is right).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .aegis import Aegis, Syscalls
from .exos import ExOS, ExOSShared, MiniOS, PhysOS, ProcEntry
from .exos.paging import POLICIES as PAGING  # noqa: F401 - the policies by name, for bench (which may not import exos)
from .exos.paging import check as check_paging
from .exos.sched import POLICIES
from .machine import Machine, Tracer, get_profile
from .spin import Domain, Spin, SyscallError
from .spin import extensions as spin_extensions
from .spin.libunix import process_main
from .unix import Unix
from .unix import start as unix_start


class UnknownSystem(ValueError):
    """A system name that ``boot`` does not know."""


#: System names and what each boots. (spin and unix arrive with their issues.)
SYSTEMS: dict[str, str] = {
    "aegis": "Aegis exokernel; ExOS (and PhysOS, MiniOS) as library operating systems",
    "spin": "SPIN extensible kernel: verified extensions linked in and run on events "
            "(dispatcher, domains, strands, memory services; a Unix personality as an extension)",
    "unix": "a monolithic Unix kernel (the Ultrix / OSF/1 baseline): processes, VM, signals, "
            "pipes, shared memory, RPC and threads behind system calls",
}

Program = Callable[[MiniOS, Syscalls], Any]


@dataclass
class System:
    """A booted system: the machine, its kernel, and the trace if one is kept."""

    name: str
    machine: Machine
    kernel: Aegis
    tracer: Tracer | None = None
    libos: dict[int, Any] = field(default_factory=dict)
    exos: ExOSShared = field(default_factory=ExOSShared)  # the ExOS shared segment
    started: dict[int, int] = field(default_factory=dict)  # pid -> environment, for start()

    def spawn(
        self,
        program: Program,
        name: str = "",
        slices: int | list[int] = 1,
        cooperative: bool = True,
        libos: str = "minimal",
    ) -> int:
        """Start ``program(libos, syscalls)`` in a new environment under a fresh library OS
        (``minimal``: MiniOS; ``physos``: PhysOS, no virtual memory).

        Returns the environment id; the program's return value is its exit status.
        """
        if libos not in ("minimal", "physos"):
            raise ValueError(f"unknown library OS {libos!r} (known: minimal, physos; ExOS: use start())")
        table = self.libos

        def main(sys: Syscalls) -> Any:
            os_: Any = MiniOS(sys, cooperative=cooperative) if libos == "minimal" else PhysOS(sys)
            table[sys.env_id()] = os_  # the library OS, in user space
            return program(os_, sys)

        return self.kernel.create_env(main, name or getattr(program, "__name__", ""), slices)

    def start(
        self, program: Callable[..., Any], argv: list[str] | None = None, name: str = "",
        policy: str = "round_robin", paging: str = "fifo", max_resident: int | None = None,
    ) -> int:
        """Start ``program(argv)`` as a new ExOS process (it may fork, pipe, ...); returns its pid.

        The process's library OS schedules its threads by ``policy`` (exos/sched/) and
        replaces its pages by ``paging`` (exos/paging/), keeping at most ``max_resident``
        pages resident if given; its children inherit all three. Its exit status is in
        ``exit_status(pid)`` once the system has run.
        """
        if policy not in POLICIES:
            raise ValueError(f"unknown scheduling policy {policy!r} (known: {', '.join(POLICIES)})")
        check_paging(paging, max_resident)
        sh = self.exos
        pid = sh.alloc_pid()
        sh.procs[pid] = ProcEntry(pid, 0, 0, name or getattr(program, "__name__", "process"))
        args = (list(argv or []),)

        def main(sys: Syscalls) -> Any:
            return ExOS(sys, sh, pid, POLICIES[policy](), paging, max_resident).run(program, args)

        eid = self.kernel.create_env(main, f"pid {pid}", 1)
        sh.procs[pid].env = eid
        self.started[pid] = eid
        return pid

    def exit_status(self, pid: int) -> int | None:
        """The exit status of a process started with ``start`` (None while it runs)."""
        st = self.kernel.final_stats.get(self.started[pid])
        return None if st is None else st.status

    def run(self, until_us: float | None = None) -> float:
        """Run until no environment can run (or ``until_us`` of simulated time); returns µs."""
        until = None if until_us is None else self.machine.profile.cycles_for_us(until_us)
        return self.machine.us(self.kernel.run(until))

    def shutdown(self) -> dict[str, int]:
        """Destroy every environment; return what is still held (all zero unless something leaked)."""
        k = self.kernel
        for eid in list(k.envs):
            if eid in k.envs:
                k.destroy(eid, "shut down")
        s = k.statistics()
        return {"frames": s.frames_owned, "capabilities": s.caps_live, "slices": s.slices_owned, "environments": s.envs}

    def statistics(self) -> dict[str, Any]:
        return {"machine": self.machine.statistics(), "kernel": self.kernel.statistics()}


@dataclass
class SpinSystem:
    """A booted SPIN: the machine and its kernel. Extensions are loaded with
    ``kernel.load``; ``start`` runs a posix program as a Unix process (the
    unix_as extension is loaded on first use)."""

    name: str
    machine: Machine
    kernel: Spin
    tracer: Tracer | None = None
    unix: dict[str, Any] | None = None  # the unix_as extension's exports, once loaded
    unix_domain: Domain | None = None

    def _unix(self, fn: str, *args: Any) -> Any:
        """Call the Unix extension's exported ``fn`` from the boot code: one activation of it."""
        if self.unix is None:  # the Unix personality: two services, then unix_as linked to them
            for ext in ("appel_li", "xas"):
                self.kernel.load(spin_extensions.source(ext), f"{ext}.py")
            d = self.kernel.load(spin_extensions.source("unix_as"), "unix_as.py")
            self.unix_domain = d
            self.unix = dict(next(iter(d.exports.values())))
        assert self.unix_domain is not None and self.unix_domain.budget is not None
        budget = self.unix_domain.budget
        budget.enter()  # one activation of the domain (Budget.enter)
        try:
            return self.unix[fn](*args)
        finally:
            budget.leave()

    def start(self, program: Callable[..., Any], argv: list[str] | None = None, name: str = "") -> int:
        """Start ``program(argv)`` as a Unix process on SPIN; returns its pid."""
        if not callable(program):
            raise TypeError(f"start: program must be callable, not {type(program).__name__}")
        pid = self._unix("spawn", process_main, (self.kernel, program, (list(argv or []),)),
                         name or getattr(program, "__name__", "process"))
        if isinstance(pid, SyscallError):
            raise RuntimeError(f"start: {pid.errno}: {pid.message}")
        return int(pid)

    def exit_status(self, pid: int) -> int | None:
        """The exit status of a process started with ``start`` (None while it runs)."""
        st = self._unix("exit_status", pid)
        return None if st is None else int(st)

    def run(self, until_us: float | None = None) -> float:
        """Run until no strand can run (or ``until_us`` of simulated time); returns µs."""
        until = None if until_us is None else self.machine.profile.cycles_for_us(until_us)
        return self.machine.us(self.kernel.run(until))

    def shutdown(self) -> dict[str, int]:
        """Kill every strand, collect every process; return what is still held (all zero
        unless something leaked)."""
        k = self.kernel
        for s in list(k.sched.strands.values()):
            k.sched.kill(s, "shut down")
        held: dict[str, int] = {}
        if self.unix is not None:
            for pid in self._unix("pids"):
                self._unix("reap", pid)
            held = {k_: v for k_, v in self._unix("held").items()}
        ms = k.memory.statistics()
        return {"frames": ms.frames_allocated, "address_spaces": ms.contexts,
                "strands": k.sched.statistics().strands_live, **held}

    def statistics(self) -> dict[str, Any]:
        return {"machine": self.machine.statistics(), "kernel": self.kernel.statistics()}


@dataclass
class UnixSystem:
    """A booted Unix: the machine and its kernel; programs start as processes."""

    name: str
    machine: Machine
    kernel: Unix
    tracer: Tracer | None = None

    def start(self, program: Callable[..., Any], argv: list[str] | None = None, name: str = "") -> int:
        """Start ``program(argv)`` as a new process; returns its pid (status: ``exit_status``)."""
        return unix_start(self.kernel, program, list(argv or []), name or getattr(program, "__name__", "process"))

    def exit_status(self, pid: int) -> int | None:
        return self.kernel.exit_status(pid)

    def run(self, until_us: float | None = None) -> float:
        until = None if until_us is None else self.machine.profile.cycles_for_us(until_us)
        return self.machine.us(self.kernel.run(until))

    def shutdown(self) -> dict[str, int]:
        """End every process; return what is still held (all zero unless something leaked)."""
        return self.kernel.shutdown()

    def statistics(self) -> dict[str, Any]:
        return {"machine": self.machine.statistics(), "kernel": self.kernel.statistics()}


def boot(name: str = "aegis", profile: str = "ds5000", seed: int = 0, trace: bool = False,
         charge_extensions: bool = False) -> Any:
    """Boot system ``name`` on a fresh machine of ``profile``, seeded with ``seed``.

    Returns a :class:`System` for ``aegis``, a :class:`SpinSystem` for ``spin``, a
    :class:`UnixSystem` for ``unix``. ``charge_extensions`` (SPIN only): SPIN's
    extensions' own code advances the clock by its static cost (docs/verifier.md).
    """
    if name not in SYSTEMS:
        raise UnknownSystem(f"unknown system {name!r} (known: {', '.join(SYSTEMS)})")
    if charge_extensions and name != "spin":
        raise ValueError(f"charge_extensions is SPIN's option; {name} has no extensions")
    prof = get_profile(profile)  # the machine's clock and primitive costs
    tracer = Tracer(prof.clock_hz, f"exospin {name} on {prof.name}") if trace else None
    machine = Machine(prof, seed=seed, tracer=tracer)  # hardware: clock, memory, TLB, timer
    if name == "spin":
        return SpinSystem(name, machine, Spin(machine, charge_extensions), tracer)  # dispatcher, name server, SpinPublic
    if name == "unix":
        return UnixSystem(name, machine, Unix(machine), tracer)  # the kernel takes the vectors; no process yet
    kernel = Aegis(machine)  # the exokernel installs its vectors and owns the machine
    return System(name, machine, kernel, tracer)  # library OSes start with each spawn()
