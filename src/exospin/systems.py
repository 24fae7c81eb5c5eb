"""The one place that boots a system: machine, kernel and library OS, in order.

Like xv6's ``main.c``, each boot function is the table of contents of its
system: one commented line per step. Everything else in exospin (the CLI,
the benchmarks, the tests) gets its system from here.

Interface
    ``boot(name, profile="ds5000", seed=0, trace=False, disk=None, memory=None) -> System``
    (``disk``: True for a disk in memory, a path for one in that image file;
    the kernel finds it as ``system.machine.disks[0]``; ``memory``: docs/memory.md);
    ``SYSTEMS`` (the names ``boot`` knows); ``System.spawn(program, ...)``
    starts an application under its library OS; ``System.run(until_us)``;
    ``System.statistics()``; ``System.shutdown()`` destroys every
    environment and returns what leaked (nothing, if the kernel is right).

    A system that runs posix programs (``start``) reports, after each
    ``run()``, every process that crashed or was killed since the last one
    (``posix.Failure``: pid, program, reason, the application's traceback)
    on stderr; ``run(check=True)`` raises :class:`ProgramFailed` instead,
    ``run(report=False)`` keeps quiet, ``run(expect={pid, ...})`` names
    processes meant to fail. ``failures()`` lists them all;
    ``exit_status(pid)`` is a process's status (an ``exit(3)`` is a status,
    not a failure).

    ``network(names, link="ethernet", profile="ds5000", seed=0) -> Network``
    boots one system per name, each on a machine of its own with one NIC,
    all on one link, in one world (machine/world.py).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from . import posix
from .aegis import Aegis, Syscalls
from .exos import ExOS, ExOSShared, FsShared, MiniOS, PhysOS, ProcEntry
from .exos.bufcache import check as check_cache
from .exos.pagetable import check as check_page_table
from .exos.paging import POLICIES as PAGING  # noqa: F401 - the policies by name, for bench (which may not import exos)
from .exos.paging import check as check_paging
from .exos.sched import POLICIES
from .machine import NIC, Disk, Link, Machine, Tracer, World, get_link, get_profile
from .net import host_ip, write_pcap
from .posix import Failure, PosixError, ProgramFailed, format_failures
from .spin import Domain, Spin, SyscallError
from .spin import extensions as spin_extensions
from .spin.libunix import process_main
from .unix import Unix
from .unix import start as unix_start
from .unix.baseline import get_baseline


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


def _run_options(check: Any, report: Any, expect: Any) -> None:
    """Refuse bad options to ``run()`` before it runs anything."""
    for name, v in (("check", check), ("report", report)):
        if type(v) is not bool:
            raise TypeError(f"run: {name} must be True or False, not {v!r}")
    if not isinstance(expect, Collection) or isinstance(expect, (str, bytes)) or \
            not all(type(p) is int for p in expect):
        raise TypeError(f"run: expect must be a collection of pids (ints), not {expect!r}")


def _after_run(log: list[Failure], seen: int, check: bool, report: bool, expect: Collection[int]) -> int:
    """What ``run()`` does once the system stops: raise (``check``) or print on stderr
    (``report``) the failures of ``log`` past the first ``seen`` whose pids are not in
    ``expect``; returns how many of ``log`` are now seen."""
    new = [f for f in log[seen:] if f.pid not in expect]
    if new and check:
        raise ProgramFailed(new)
    if new and report:
        print(format_failures(new), file=sys.stderr)
    return len(log)


class _Runs:
    """What every booted system does alike: run its kernel, then report the processes that
    failed meanwhile (the module's docstring). A system names its log of failures
    (``_failure_log``); the kernel's ``run(until_cycles)`` does the rest."""

    machine: Machine
    kernel: Any
    reported: int

    def _failure_log(self) -> list[Failure]:
        return self.log  # type: ignore[attr-defined, no-any-return]

    def failures(self) -> list[Failure]:
        """Every process that crashed or was killed, in the order they died."""
        return list(self._failure_log())

    def run(self, until_us: float | None = None, *, check: bool = False, report: bool = True,
            expect: Collection[int] = ()) -> float:
        """Run until nothing can run (or ``until_us`` of simulated time); returns µs.
        Then report the processes that failed meanwhile (see the module's docstring)."""
        _run_options(check, report, expect)
        until = None if until_us is None else self.machine.profile.cycles_for_us(until_us)
        us = self.machine.us(self.kernel.run(until))
        self.reported = _after_run(self._failure_log(), self.reported, check, report, expect)
        return us


@dataclass
class System(_Runs):
    """A booted system: the machine, its kernel, and the trace if one is kept."""

    name: str
    machine: Machine
    kernel: Aegis
    tracer: Tracer | None = None
    libos: dict[int, Any] = field(default_factory=dict)
    exos: ExOSShared = field(default_factory=ExOSShared)  # the ExOS shared segment
    started: dict[int, int] = field(default_factory=dict)  # pid -> environment, for start()
    reported: int = 0  # how many of the ExOS processes' failures run() has reported
    iface: Interface | None = None  # its network interface, when booted by network()

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

        eid = self.kernel.create_env(main, name or getattr(program, "__name__", ""), slices)
        _wake(self.machine)
        return eid

    def start(
        self, program: Callable[..., Any], argv: list[str] | None = None, name: str = "",
        policy: str = "round_robin", paging: str = "fifo", max_resident: int | None = None,
        page_table: str = "linear",
        cache: str = "lru",
    ) -> int:
        """Start ``program(argv)`` as a new ExOS process (it may fork, pipe, ...); returns its pid.

        The process's library OS schedules its threads by ``policy`` (exos/sched/) and
        replaces its pages by ``paging`` (exos/paging/), keeping at most ``max_resident``
        pages resident if given, in the page table ``page_table`` (exos/pagetable/:
        ``linear`` or ``inverted``), and its buffer-cache manager is ``cache`` (exos/bufcache/);
        its children inherit all five. Its exit status is in
        ``exit_status(pid)`` once the system has run.
        """
        if policy not in POLICIES:
            raise ValueError(f"unknown scheduling policy {policy!r} (known: {', '.join(POLICIES)})")
        check_paging(paging, max_resident)
        check_page_table(page_table)
        check_cache(cache)
        sh = self.exos
        pid = sh.alloc_pid()
        sh.procs[pid] = ProcEntry(pid, 0, 0, name or getattr(program, "__name__", "process"))
        args = (list(argv or []),)

        def main(sys: Syscalls) -> Any:
            return ExOS(sys, sh, pid, POLICIES[policy](), paging, max_resident, page_table, cache).run(program, args)

        eid = self.kernel.create_env(main, f"pid {pid}", 1)
        sh.procs[pid].env = eid
        self.started[pid] = eid
        _wake(self.machine)
        return pid

    def exit_status(self, pid: int) -> int | None:
        """The exit status of a process started with ``start`` (None while it runs)."""
        st = self.kernel.final_stats.get(self.started[pid])
        return None if st is None else st.status

    def _failure_log(self) -> list[Failure]:
        return self.exos.failures  # the ExOS processes' (in the shared segment)

    def shutdown(self) -> dict[str, int]:
        """Destroy every environment; return what is still held (all zero unless something leaked)."""
        k = self.kernel
        seen = len(self.exos.failures)
        for eid in list(k.envs):
            if eid in k.envs:
                k.destroy(eid, "shut down")
        del self.exos.failures[seen:]  # what shutting down kills has not failed
        s = k.statistics()
        held = {"frames": s.frames_owned, "capabilities": s.caps_live, "slices": s.slices_owned, "environments": s.envs}
        if k.net is not None:  # the NIC driver's own receive buffers are the kernel's, not a leak
            held["frames"] -= len(k.net.kernel_frames)
            held.update(k.net.held())
        if k.xn is not None:  # XN's scratch frame and its registry's frames are the kernel's
            held["frames"] -= len(k.xn.frames)
            held.update(k.xn.held())
        if self.exos.fs is not None and self.exos.fs.ready:  # ExOS' file system (once used): files left open,
            # blocks left in its cache
            held.update(open_files=sum(i.opens for i in self.exos.fs.inodes.values()),
                        fs_buffers=len(self.exos.fs.cache))
        return held

    def mount(self, disk: Disk, format: bool) -> None:  # noqa: A002 - boot's name for it
        """ExOS' library file system (exos/fs.py) on ``disk``: formatted (``format``) or
        mounted at the first file call of any ExOS process, which makes the XN calls (the
        kernel does no I/O of its own); an image that is not this file system is refused
        there (EINVAL, with XN's or the library's reason), never reformatted."""
        self.exos.fs = FsShared(format)

    def fsck(self) -> list[str]:
        """Run the file system's checker in an ExOS process; what it found ([]: consistent;
        an image that is not this file system: the refusal)."""
        out: list[str] = []

        def checker(argv: list[str]) -> int:
            proc: Any = posix._p()  # this ExOS process
            try:
                out.extend(proc.fsck())
            except PosixError as e:
                out.append(str(e))
            return 0

        self.start(checker, name="fsck")
        self.run()
        return out

    def statistics(self) -> dict[str, Any]:
        return {"machine": self.machine.statistics(), "kernel": self.kernel.statistics()}


#: ticks per activation of the Unix personality (unix_as.py), which boot loads as part of
#: the system: a process's exit tears its address space down region by region, a few ticks
#: a page, so a process of a 100,000-page address space must be able to exit in one
#: activation (a benchmark's vm_prot100 maps 31,000 pages). Still a bound: a runaway
#: handler of it is terminated, as every domain's is. Extensions that applications load
#: keep the verifier's DEFAULT_BUDGET (100,000).
UNIX_BUDGET = 1_000_000


@dataclass
class SpinSystem(_Runs):
    """A booted SPIN: the machine and its kernel. Extensions are loaded with
    ``kernel.load``; ``start`` runs a posix program as a Unix process (the
    unix_as extension is loaded on first use)."""

    name: str
    machine: Machine
    kernel: Spin
    tracer: Tracer | None = None
    unix: dict[str, Any] | None = None  # the unix_as extension's exports, once loaded
    unix_domain: Domain | None = None
    log: list[Failure] = field(default_factory=list)  # the processes that crashed or were killed
    reported: int = 0  # how many of them run() has reported
    iface: Interface | None = None  # its network interface, when booted by network()
    net: Any = None  # its network stack (spin.net.NetStack), once spin.net.attach built it
    storage: Any = None  # its disk driver and cache (spin.storage.StorageService), once mounted
    fs_domain: Domain | None = None  # the file system extension (spin/ext/sfs.py), once mounted

    def _unix(self, fn: str, *args: Any) -> Any:
        """Call the Unix extension's exported ``fn`` from the boot code: one activation of it."""
        if self.unix is None:  # the Unix personality: two services, then unix_as linked to them
            for ext in ("appel_li", "xas"):
                self.kernel.load(spin_extensions.source(ext), f"{ext}.py")
            d = self.kernel.load(spin_extensions.source("unix_as"), "unix_as.py", budget=UNIX_BUDGET)
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
        name = name or getattr(program, "__name__", "process")
        ident = [0]  # the process's pid, for its runtime's failure records
        pid = self._unix("spawn", process_main, (self.kernel, program, (list(argv or []),), name, self.log, ident),
                         name)
        if isinstance(pid, SyscallError):
            raise RuntimeError(f"start: {pid.errno}: {pid.message}")
        ident[0] = int(pid)
        _wake(self.machine)
        return int(pid)

    def exit_status(self, pid: int) -> int | None:
        """The exit status of a process started with ``start`` (None while it runs)."""
        st = self._unix("exit_status", pid)
        return None if st is None else int(st)

    def mount(self, disk: Disk, format: bool) -> None:  # noqa: A002 - boot's name
        """The file system extension on ``disk`` (spin/storage.py, spin/ext/sfs.py): formatted
        if ``format``, else its superblock read and checked (spin.MountRefused if the disk does
        not hold one: refused, never reformatted)."""
        from .spin import storage
        storage.attach(self, disk, format)

    def _fs(self, fn: str, *args: Any) -> Any:
        """Call the file system extension's ``fn`` from the boot code: one activation of it."""
        assert self.fs_domain is not None and self.fs_domain.budget is not None
        budget = self.fs_domain.budget
        budget.enter()
        try:
            return next(iter(self.fs_domain.exports.values()))[fn](*args)
        finally:
            budget.leave()


    def shutdown(self) -> dict[str, int]:
        """Kill every strand, collect every process; return what is still held (all zero
        unless something leaked)."""
        k = self.kernel
        seen = len(self.log)
        for s in list(k.sched.strands.values()):
            k.sched.kill(s, "shut down")
        del self.log[seen:]  # what shutting down kills has not failed
        held: dict[str, int] = {}
        if self.unix is not None:
            for pid in self._unix("pids"):
                self._unix("reap", pid)
            held = {k_: v for k_, v in self._unix("held").items()}
        if self.net is not None:  # sockets left bound; the driver gives its buffers back
            held.update(self.net.held())
            self.net.detach()
        if self.storage is not None:  # unmount: open files, orphaned blocks, buffers held
            if self.fs_domain is not None and self.fs_domain in k.extensions:
                held.update(self._fs("held"))
                self._fs("sync")
            held.update(self.storage.held())
            self.storage.detach()
        ms = k.memory.statistics()
        return {"frames": ms.frames_allocated, "address_spaces": ms.contexts,
                "strands": k.sched.statistics().strands_live, **held}

    def statistics(self) -> dict[str, Any]:
        return {"machine": self.machine.statistics(), "kernel": self.kernel.statistics()}


@dataclass
class UnixSystem(_Runs):
    """A booted Unix: the machine and its kernel; programs start as processes."""

    name: str
    machine: Machine
    kernel: Unix
    tracer: Tracer | None = None
    log: list[Failure] = field(default_factory=list)  # the processes that crashed or were killed
    reported: int = 0  # how many of them run() has reported
    iface: Interface | None = None  # its network interface, when booted by network()

    def start(self, program: Callable[..., Any], argv: list[str] | None = None, name: str = "") -> int:
        """Start ``program(argv)`` as a new process; returns its pid (status: ``exit_status``)."""
        pid = unix_start(self.kernel, program, list(argv or []), name or getattr(program, "__name__", "process"),
                         self.log)
        _wake(self.machine)
        return pid

    def exit_status(self, pid: int) -> int | None:
        return self.kernel.exit_status(pid)

    def mount(self, disk: Disk, format: bool) -> None:  # noqa: A002 - boot's name
        """The kernel's file system on ``disk`` (unix/ffs_vnops.py): formatted if ``format``, else its
        superblock read and checked (unix.MountError for a disk that does not hold one)."""
        self.kernel.mount(disk, format)

    def shutdown(self) -> dict[str, int]:
        """End every process; return what is still held (all zero unless something leaked;
        with a file system, its buffers, open files, leaked blocks and fsck's findings too)."""
        return self.kernel.shutdown()

    def statistics(self) -> dict[str, Any]:
        return {"machine": self.machine.statistics(), "kernel": self.kernel.statistics()}


def _wake(machine: Machine) -> None:
    """A process started on a machine of a network between two runs: its idle machine must
    look again (machine/world.py), or the process would wait for a frame or event to wake it."""
    if machine.world is not None:
        machine.world.wake(machine)


def boot(name: str = "aegis", profile: str = "ds5000", seed: int = 0, trace: bool = False,
         charge_extensions: bool = False, disk: str | os.PathLike[str] | bool | None = None,
         memory: str | None = None, mkfs: bool | None = None, disk_cylinders: int | None = None,
         baseline: str | None = None) -> Any:
    """Boot system ``name`` on a fresh machine of ``profile``, seeded with ``seed``.

    Returns a :class:`System` for ``aegis``, a :class:`SpinSystem` for ``spin``, a
    :class:`UnixSystem` for ``unix``. ``charge_extensions`` (SPIN only): SPIN's
    extensions' own code advances the clock by its static cost (docs/verifier.md).
    ``disk``: attach an HP 97560 (machine/disk.py): True for one in memory, a path for
    one whose contents are that host image file (created if it does not exist). A system
    with a file system mounts it: ``mkfs`` True formats it first, False never does (an
    image that does not hold the system's file system is refused), None formats only a
    blank disk (in memory, or an image just created).
    ``disk_cylinders``: a smaller disk, the drive's first cylinders (tests keep images small).
    ``memory``: ``ideal`` or ``detailed`` (docs/memory.md); None, the current default
    (``machine.memory_model``, ``ideal`` unless set).
    ``baseline`` (unix only): ``ultrix`` or ``osf1``, the faithful Ultrix 4.2 or DEC OSF/1
    code paths beside the lean kernel's (unix/baseline.py, docs/unix.md); None, the lean one.
    """
    if name not in SYSTEMS:
        raise UnknownSystem(f"unknown system {name!r} (known: {', '.join(SYSTEMS)})")
    if charge_extensions and name != "spin":
        raise ValueError(f"charge_extensions is SPIN's option; {name} has no extensions")
    if baseline is not None:
        if name != "unix":
            raise ValueError(f"baseline is unix's option; {name} has no baseline")
        get_baseline(baseline)  # a bad name fails before the machine is built
    prof = get_profile(profile)  # the machine's clock and primitive costs
    tracer = Tracer(prof.clock_hz, f"exospin {name} on {prof.name}") if trace else None
    machine = Machine(prof, seed=seed, tracer=tracer, memory=memory)  # hardware: clock, memory, caches, TLB, timer
    if disk is not None and disk is not False:
        Disk(machine, image=None if disk is True else disk,  # machine.disks[0], its contents in memory or an image
             cylinders=disk_cylinders)
    elif mkfs is not None:
        raise ValueError("mkfs names what to do with a disk: boot(..., disk=True or a path, mkfs=...)")
    elif disk_cylinders is not None:
        raise ValueError("disk_cylinders sizes a disk: boot(..., disk=True or a path, disk_cylinders=...)")
    system = _assemble(name, machine, tracer, charge_extensions, baseline)
    mount = getattr(system, "mount", None)  # the systems whose file system exists (issue 18)
    if machine.disks and mount is not None:
        mount(machine.disks[0], machine.disks[0].blank if mkfs is None else mkfs)
    return system


def _assemble(name: str, machine: Machine, tracer: Tracer | None, charge_extensions: bool,
              baseline: str | None = None) -> Any:
    """The kernel (and, for aegis, the place of its library OSes) on ``machine``."""
    if name == "spin":
        return SpinSystem(name, machine, Spin(machine, charge_extensions), tracer)  # dispatcher, name server, SpinPublic
    if name == "unix":
        return UnixSystem(name, machine, Unix(machine, baseline), tracer)  # the kernel takes the vectors; no process yet
    kernel = Aegis(machine)  # the exokernel installs its vectors and owns the machine
    if machine.disks:
        kernel.attach_disk(machine.disks[0])  # XN: disk blocks as secure bindings (aegis/xn.py)
    return System(name, machine, kernel, tracer)  # library OSes start with each spawn()


@dataclass(frozen=True)
class Interface:
    """A networked system's configuration: its NIC (the hardware), the MAC address the NIC
    answers to and the IPv4 address ``network`` gave it (machine i: 10.0.0.(i+1)). A
    system's network stack finds it as ``system.iface``; nothing else is configured
    (no ARP table: resolving a peer's MAC is the stack's job)."""

    index: int
    nic: NIC
    ip: str

    @property
    def mac(self) -> bytes:
        return self.nic.mac


@dataclass
class Network:
    """Booted systems on one link: machine i runs ``systems[i]`` with network interface
    ``nics[i]``. ``run`` runs them all on one schedule; ``write_pcap`` writes what the
    link carried (when booted with ``capture``)."""

    world: World
    link: Link
    systems: list[Any]
    nics: list[NIC]

    def run(self, until_us: float | None = None) -> float:
        """Run every machine until none can do more (or ``until_us`` of simulated time on
        every clock); returns the latest clock, in µs."""
        until = None if until_us is None else int(round(until_us * 1e6))
        return self.world.us(self.world.run(until))

    def write_pcap(self, path: Any) -> int:
        """Write every frame the link carried as a pcap file; returns how many."""
        if self.link.captured is None:
            raise ValueError("this network was built with capture=False: nothing was recorded")
        return write_pcap(path, self.link.captured)

    def shutdown(self) -> list[dict[str, int]]:
        """Shut every system down; what each still holds (all zero unless something leaked)."""
        return [s.shutdown() for s in self.systems]

    def statistics(self) -> dict[str, Any]:
        return {"world": self.world.statistics(), "nics": [n.statistics() for n in self.nics],
                "systems": [s.statistics() for s in self.systems]}


def _run_kernel(system: Any, until: int | None) -> int:
    return int(system.kernel.run(until))


def network(names: list[str], link: str = "ethernet", profile: str | list[str] = "ds5000", seed: int = 0,
            trace: bool = False, capture: bool = True, rx_ring: int = 32, tx_ring: int = 16) -> Network:
    """Boot one system per name in ``names``, each on its own machine (of ``profile``, or of
    ``profile[i]``), with one network interface on one ``link`` (``ethernet`` or ``atm``),
    in one world seeded with ``seed``. ``capture``: the link keeps every frame for
    ``write_pcap``. The kernels are told of their NIC's interrupts through their
    ``irq_handlers`` (none is installed here: that is each system's network stack)."""
    if not isinstance(names, list | tuple) or not names:
        raise ValueError(f"network: names must be a non-empty list of systems, not {names!r}")
    for n in names:
        if n not in SYSTEMS:
            raise UnknownSystem(f"unknown system {n!r} (known: {', '.join(SYSTEMS)})")
    profiles = list(profile) if isinstance(profile, list | tuple) else [profile] * len(names)
    if len(profiles) != len(names):
        raise ValueError(f"network: {len(names)} systems but {len(profiles)} profiles")
    spec = get_link(link)
    world = World(seed)  # one schedule for every machine, one seed
    wire = Link(spec, world, capture=capture)  # the segment every NIC is on
    systems: list[Any] = []
    nics: list[NIC] = []
    for i, (name, pname) in enumerate(zip(names, profiles, strict=True)):
        prof = get_profile(pname)
        tracer = Tracer(prof.clock_hz, f"exospin {name} on {prof.name} (machine {i})") if trace else None
        machine = world.machine(prof, tracer)  # its own clock, memory, TLB, timer
        nics.append(NIC(machine, wire, rx_ring=rx_ring, tx_ring=tx_ring))  # its interface on the link
        # the kernel is built in the machine's own greenlet, the root its environments return to
        systems.append(world.boot(machine, partial(_assemble, name, machine, tracer, False), _run_kernel))
        systems[-1].iface = Interface(i, nics[-1], host_ip(i))
        if name == "aegis":  # Aegis' NIC driver and DPF (aegis/netdrv.py); ExOS' stack finds its address
            systems[-1].kernel.attach_nic(nics[-1])
            systems[-1].exos.ip = host_ip(i)
    return Network(world, wire, systems, nics)
