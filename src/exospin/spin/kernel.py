"""The SPIN kernel: a small core, services as interfaces and events, extensions linked in.

What this models
    SPIN (Bershad et al., SOSP 1995, sections 3-4) on the simulated machine.
    The kernel boots with the event dispatcher, the name server, the
    strand scheduler (strands.py) and the memory services (memory.py), and
    publishes them as interfaces in two domains: ``SpinPublic`` (any
    extension may link against it) and ``SpinPrivileged`` (trusted ones
    only; the name server's authorisation procedure decides at link time).
    An extension is Python source. ``load`` verifies it, makes it a domain,
    links it, and runs its ``install()``, which installs handlers on
    events, creates strands, claims system-call numbers.

    The system-call trap is an event, ``Trap(number, args)``. A user
    program enters the kernel with ``syscall(number, *args)``: the trap
    entry and return are charged, and the raise dispatches to whichever
    extension claimed the number. The trap's *authority* hands out numbers:
    a number claimed by one domain is refused to every other.

Capabilities
    A kernel object handed to an extension (a strand, a frame, an address
    space, a package, a binding) is a Python object whose fields begin with
    ``_``; verified code cannot name them, so the reference is a capability
    it can pass back but not forge or look inside (extern.py). Events are
    handed out as ``EventRef`` and installations come back as ``Binding``,
    never as the dispatcher's own objects (whose fields name other
    extensions' handlers). Holding an address space or a package is the
    authority to handle its events: ``Translation.on_fault(ctx, fn)``
    installs ``fn`` behind an equality guard on ``ctx`` that the kernel
    imposes (one index lookup per fault, however many spaces there are).

References in user space
    User space is not verified code, so a kernel object never reaches it as
    a reference: the trap *externalises* every capability a system call
    returns (a strand, frame, address space, binding, event, package or
    domain, alone or in a tuple) into the calling application's table
    (extern.py; one table per address space, the kernel's callers outside
    any space sharing one) and returns the index. A system call declares
    which of its arguments are such indexes (``Trap.claim(n, fn,
    refs=(i, ...))``); the trap internalises them before the handler runs,
    and a forged, stale or revoked index is answered with ``EBADF`` and a
    precise message without running it. Values the extension made itself
    (ints, tuples, its own objects) go out as data; ``User.externalize`` /
    ``internalize`` / ``revoke`` let it hand out references to them too.
    Destroying an address space drops its table.

Bad extensions
    An extension that the verifier rejects never runs. One whose
    ``install()`` fails (raises, overruns, is refused an installation) is
    unloaded: every handler it installed is removed and every strand it
    made is killed. At run time the dispatcher terminates a handler that
    raises or overruns its budget; the kernel then unloads its whole
    extension the same way (``unload``), and the kernel and the other
    extensions go on.

Interface
    ``Spin(machine)``; ``load(source, filename, trusted=False) -> Domain``;
    ``replace(old, source, filename=None, trusted=False) -> Domain`` (a new
    version in its place, its dependents relinked); ``unload(domain, why)``;
    ``syscall(number, *args)``; ``run(until)``;
    ``sched``, ``memory``, ``dispatcher``, ``names``, ``Trap``;
    ``check_invariants()``; ``statistics()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..machine import Machine
from ..machine.timer import IRQ_TIMER
from ..verifier import BudgetExceeded, OpCosts, module_name
from .dispatcher import Dispatcher, DispatcherStats, Eq, Event, First, Handler, Refused
from .domain import SPIN_PRIVILEGED, SPIN_PUBLIC, Domain, Identity, LinkError, NameServer, unresolve
from .extern import BadExternRef, ExternStatistics, ExternTable
from .memory import (
    PROT_NONE,
    PROT_READ,
    PROT_RW,
    PROT_WRITE,
    RETRY,
    SKIP,
    Context,
    Frame,
    Memory,
    MemoryStats,
)
from .strands import DEFAULT_PRIORITY, Scheduler, SchedulerStats, Strand, StrandExit


class NoSuchSyscall(Exception):
    """No handler accepted this system-call number."""


class SyscallError:
    """What a system-call handler returns instead of raising: an errno and a message.

    A handler that raises is *terminated* by the dispatcher (it is the
    extension that failed); a bad request from user space is not the
    extension's fault, so it answers with one of these (``Errors.fail``).
    """

    __slots__ = ("errno", "message")

    def __init__(self, errno: str, message: str) -> None:
        self.errno = errno
        self.message = message

    def __repr__(self) -> str:
        return f"SyscallError({self.errno}: {self.message})"


class EventRef:
    """An event as an extension holds it: a name, nothing to reach its handlers by."""

    __slots__ = ("_event",)

    def __init__(self, event: Event) -> None:
        self._event = event

    @property
    def name(self) -> str:
        return self._event.name


class Binding:
    """An installed handler as its installer holds it: pass it to ``uninstall``."""

    __slots__ = ("_handler",)

    def __init__(self, handler: Handler) -> None:
        self._handler = handler

    @property
    def installed(self) -> bool:
        return self._handler.installed


class Package:
    """A thread package's token: strands it creates carry it; its holder handles their events."""

    __slots__ = ("_name", "_domain")

    def __init__(self, name: str, domain: Domain | None) -> None:
        self._name = name
        self._domain = domain

    @property
    def name(self) -> str:
        return self._name


class _TrapAuthority:
    """The system-call event's authority: numbers are claimed; a claimed number is refused to
    every other domain."""

    def __init__(self) -> None:
        self.owners: dict[int, Any] = {}

    def on_install(self, event: Event, h: Handler, installer: Any) -> None:
        for g in h.guards:
            if isinstance(g, Eq):
                owner = self.owners.get(g.value)
                if owner is not None and owner is not installer:
                    name = getattr(owner, "name", "the kernel")
                    raise PermissionError(f"system call {g.value} belongs to {name!r}")
        return None


def _failed(value: Any) -> bool:
    """spin.Errors.failed: is ``value`` an error answer (what ``fail`` made)?"""
    return value.__class__ is SyscallError


#: the kernel's own objects: what the trap externalises instead of handing user space
CAPABILITIES: frozenset[type] = frozenset({Strand, Frame, Context, Binding, EventRef, Package, Domain,
                                           Identity, Event, Handler})


@dataclass(frozen=True, slots=True)
class SpinStats:
    extensions: int
    syscalls: int
    unloaded: int
    #: cycles the extensions' own code cost under the verifier's static model
    #: (verifier.OpCosts), loaded and unloaded ones; on the clock only if charged
    extension_cycles: int
    dispatcher: DispatcherStats
    scheduler: SchedulerStats
    memory: MemoryStats
    #: one per application (address space) that holds externalised references, by owner
    extern: tuple[ExternStatistics, ...]


class Spin:
    def __init__(self, machine: Machine, charge_extensions: bool = False) -> None:
        """``charge_extensions``: the extensions' own code advances the clock by its static
        cost (verifier.OpCosts) as it runs. Off by default, so that SPIN is charged like the
        other kernels, whose own Python is charged by hand for the primitives it
        performs; the static cost is measured either way (``extension_cycles``)."""
        self.m = machine
        self.charge_extensions = charge_extensions
        loop = machine.loop
        p = machine.profile

        self.dispatcher = Dispatcher(clock=loop, profile=p)  # raises charge loop.now inline
        #: what an extension's own code is charged per operation (verifier.OpCosts)
        self.op_costs = OpCosts(insn=p.insn, mem_ref=p.mem_ref, proc_call=p.proc_call)
        self.dispatcher.on_terminate = self._terminated
        self.sched = Scheduler(machine, self.dispatcher)
        self.memory = Memory(machine, self.dispatcher, self.sched)
        machine.cpu.install_vectors(self.memory.refill, self.memory.exception, self._interrupt)
        self._trap_authority = _TrapAuthority()
        self.Trap = Event("Trap", (int, tuple), object, authority=self._trap_authority,
                          default=self._no_handler)
        self.dispatcher.define(self.Trap)
        self.Exit = self.dispatcher.define(Event("Strand.Exit", (Strand,), None, default=lambda s: None))
        self.sched.on_exit(self._strand_exit)
        self._c_trap = p.trap_entry + p.trap_return
        self._c_upcall = p.trap_return + p.trap_entry
        self._c_asid = p.insn
        self._word = p.word_bytes
        self._c_copy_word = p.copy_word
        # an application's table of references: internalising an index is a bounds check
        # (compare, branch) and a load of the entry; externalising looks the object up (a
        # load of its back-pointer, a compare) and stores a new entry (one store, an add to
        # the counter); revoking loads and clears the entry
        self._c_intern = p.mem_ref + 2 * p.insn
        self._c_extern = 2 * p.mem_ref + 2 * p.insn
        self._c_revoke = 2 * p.mem_ref + p.insn
        self._loading: Domain | None = None
        #: per domain: what it installed, the strands it made (to unload it)
        #: (its strands are keys of a dict: in creation order, each dropped when it ends)
        self._owned: dict[int, tuple[list[Handler], dict[Strand, None]]] = {}
        self._refs: dict[str, EventRef] = {}
        mem = self.memory
        public: dict[str, dict[str, Any]] = {
            "spin.Trap": {"install": self._trap_install, "claim": self._trap_claim,
                          "uninstall": self._uninstall},
            "spin.Errors": {"fail": SyscallError, "failed": _failed},
            "spin.Strand": {
                "package": self._package, "create": self._strand_create,
                "current": self._current, "block": self.sched.block, "unblock": self.sched.unblock,
                "yield_": self.sched.yield_, "exit": self.sched.exit, "join": self.sched.join,
                "kill": self._strand_kill, "on_checkpoint": self._on_checkpoint,
                "on_resume": self._on_resume, "on_exit": self._on_exit,
                "uninstall": self._uninstall, "DEFAULT_PRIORITY": DEFAULT_PRIORITY,
            },
            "spin.PhysAddr": {**{k: v for k, v in mem.physaddr.items() if k != "Reclaim"},
                              "on_reclaim": self._on_reclaim},
            "spin.VirtAddr": dict(mem.virtaddr),
            "spin.Translation": {
                **{k: v for k, v in mem.translation.items() if not k[0].isupper()},
                "destroy": self._destroy_space, "uninstall": self._uninstall,
                "on_page_not_present": self._on_ctx_event(mem.PageNotPresent),
                "on_protection_fault": self._on_ctx_event(mem.ProtectionFault),
                "on_bad_address": self._on_ctx_event(mem.BadAddress),
                "PROT_NONE": PROT_NONE, "PROT_READ": PROT_READ, "PROT_WRITE": PROT_WRITE,
                "PROT_RW": PROT_RW, "RETRY": RETRY, "SKIP": SKIP,
            },
            "spin.User": {"upcall": self.upcall, "call_in": self.call_in, "copyin": self.copy_bytes,
                          "copyout": self.copy_bytes, "time_us": self._time_us,
                          "externalize": self._externalize, "internalize": self._internalize,
                          "revoke": self._revoke,
                          "page_size": lambda: p.page_size, "word_size": lambda: p.word_bytes},
        }
        self.public = Domain.kernel("SpinPublic", public)
        self.privileged = Domain.kernel("SpinPrivileged", {
            "spin.Dispatcher": {"statistics": self.dispatcher.statistics,
                                "install": self._install_any, "event": self._event_ref}})
        self.names = NameServer.boot(self.public, self.privileged)
        self.extensions: list[Domain] = []
        self.unloaded: list[tuple[str, str]] = []
        self._unloaded_cycles = 0  # extension_cycles of extensions no longer loaded
        #: per application (address space; None: callers outside any space) its table of
        #: externalised references, made on first use, dropped with the space
        self.extern: dict[Context | None, ExternTable] = {}
        self._syscalls = [0]
        self.syscall = self._make_syscall()

    # ------------------------------------------------------------ traps and interrupts

    @staticmethod
    def _no_handler(number: int, args: tuple[Any, ...]) -> Any:
        raise NoSuchSyscall(f"no handler for system call {number}")

    def _make_syscall(self) -> Callable[..., Any]:
        """The trap instruction: enter the kernel and raise the Trap event; the handler's
        result is the answer, a kernel object in it externalised. A closure: it is the hot
        path of every system call (one set lookup on the result's type)."""
        loop, trap, c, count = self.m.loop, self.Trap, self._c_trap, self._syscalls
        caps, out = CAPABILITIES, self._to_user

        def syscall(number: int, *args: Any) -> Any:
            count[0] += 1
            loop.now += c
            r = trap.raise_(number, args)
            t = r.__class__
            return out(r) if t in caps or t is tuple else r
        return syscall

    # ------------------------------------------------------------ references in user space

    def _table(self) -> ExternTable:
        """The calling application's table: its address space's (made on first use)."""
        cur = self.sched.current
        space = cur._space if cur is not None else None
        t = self.extern.get(space)
        if t is None:
            t = self.extern[space] = ExternTable(space.name if space is not None else "kernel")
        return t

    def _to_user(self, r: Any) -> Any:
        """A system call's result as user space gets it: capabilities as indexes."""
        if r.__class__ is tuple:
            return tuple(self._to_user(x) for x in r)
        return self._externalize(r) if r.__class__ in CAPABILITIES else r

    def _externalize(self, obj: Any) -> int:
        """spin.User.externalize: the index the calling application will name ``obj`` by."""
        self.m.loop.now += self._c_extern
        return self._table().externalize(obj)

    def _internalize(self, i: Any) -> Any:
        """spin.User.internalize: the object behind the calling application's index ``i``, or
        a SyscallError (EBADF) saying why there is none: a bad index is the caller's fault,
        not the extension's, so nothing is raised."""
        self.m.loop.now += self._c_intern
        try:
            return self._table().internalize(i)
        except BadExternRef as e:
            return SyscallError("EBADF", str(e))

    def _revoke(self, i: Any) -> Any:
        """spin.User.revoke: index ``i`` no longer names anything for this application; the
        object it named, or a SyscallError (EBADF)."""
        self.m.loop.now += self._c_revoke
        try:
            return self._table().revoke(i)
        except BadExternRef as e:
            return SyscallError("EBADF", str(e))

    def _destroy_space(self, ctx: Context) -> None:
        """spin.Translation.destroy: the space goes, and with it its application's table."""
        self.memory.destroy(ctx)
        self.extern.pop(ctx, None)

    @property
    def syscalls(self) -> int:
        return self._syscalls[0]

    def _strand_exit(self, s: Strand) -> None:
        pkg = s._package
        d = pkg._domain if isinstance(pkg, Package) else None
        if d is not None and d.uid in self._owned:  # an ended strand is no longer its maker's
            self._owned[d.uid][1].pop(s, None)
        self.Exit.raise_(s)  # (raise_ is rebuilt on every install: look it up each time)

    def _interrupt(self, irq: int) -> None:
        if irq == IRQ_TIMER:
            self.sched.preempt()

    def upcall(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run user code ``fn(*args)`` in user mode on the current strand and come back:
        a return from the trap into user space, and a trap back in."""
        self.m.loop.now += self._c_upcall
        return fn(*args)

    def call_in(self, space: Context, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        """A cross-address-space call on the current strand: load ``space`` (its ASID), run
        ``fn(*args)`` there in user mode, and come back to the caller's space."""
        if not isinstance(space, Context) or not space._live:
            raise TypeError("call_in: not a live address space")
        s = self.sched.current
        if s is None:
            raise RuntimeError("call_in: not in a strand")
        home = s._space
        tlb = self.m.tlb
        loop = self.m.loop
        loop.now += self._c_upcall + self._c_asid
        s._space = space
        tlb.asid, tlb.view = space._asid, space._view
        try:
            return fn(*args)
        finally:
            loop.now += self._c_upcall + self._c_asid
            s._space = home
            if home is None:
                tlb.set_asid(0)
            else:
                tlb.asid, tlb.view = home._asid, home._view

    def copy_bytes(self, nbytes: int) -> None:
        """Charge copying ``nbytes`` between user space and the kernel (copyin/copyout)."""
        self.m.loop.now += -(-nbytes // self._word) * self._c_copy_word

    def _time_us(self) -> float:
        return self.m.us(self.m.loop.now)

    def run(self, until: int | None = None) -> int:
        """Run strands until none is ready and nothing can wake one (or ``until`` cycles)."""
        if until is None:
            return self.sched.run()
        stop = self.m.loop.schedule(until, self.sched.stop)
        try:
            return self.sched.run(until)
        finally:
            stop.cancel()

    # ------------------------------------------------------------ installing handlers

    def _record(self, h: Handler) -> Binding:
        d = self._loading
        if d is not None:
            self._owned.setdefault(d.uid, ([], {}))[0].append(h)
        return Binding(h)

    def _install(self, event: Event, fn: Any, guards: list[Any], closure: Any = None,
                 first: bool = False) -> Binding:
        d = self._loading
        kw: dict[str, Any] = {}
        if closure is not None:
            kw["closure"] = closure
        if first:
            kw["order"] = First
        h = self.dispatcher.install(event, fn, guards=guards, budget=d.budget if d is not None else None,
                                    installer=d, **kw)
        return self._record(h)

    def _trap_install(self, handler: Any, guard: Any = None) -> Binding:
        """spin.Trap.install: put ``handler(number, args)`` on the trap, behind ``guard``."""
        return self._install(self.Trap, handler, [guard] if guard is not None else [])

    def _trap_claim(self, number: int, handler: Any, refs: Any = ()) -> Binding:
        """spin.Trap.claim: system call ``number`` is handled by ``handler(number, args)`` (and
        by no other domain's). ``refs``: the positions in ``args`` that are externalised
        references; the handler gets the objects, and a bad index gets EBADF instead."""
        if not isinstance(number, int) or number < 0:
            raise ValueError(f"a system-call number is a non-negative int, not {number!r}")
        if (not isinstance(refs, tuple)
                or not all(type(i) is int and 0 <= i for i in refs) or len(set(refs)) != len(refs)):
            raise ValueError(f"refs: a tuple of distinct argument positions, not {refs!r}")
        fn = self._internalizing(number, handler, refs) if refs else handler
        b = self._install(self.Trap, fn, [Eq(0, number)])
        self._trap_authority.owners[number] = self._loading
        return b

    def _internalizing(self, number: int, handler: Any, refs: tuple[int, ...]) -> Callable[..., Any]:
        """``handler`` behind the trap's internalisation of the arguments at ``refs``."""
        if not callable(handler):
            raise TypeError(f"a system-call handler is callable, not {type(handler).__name__}")
        table, last, loop, c = self._table, max(refs), self.m.loop, self._c_intern * len(refs)

        def internalizing(n: int, args: tuple[Any, ...]) -> Any:
            if len(args) <= last:
                return SyscallError("EINVAL", f"system call {n}: {len(args)} arguments; "
                                              f"argument {last} is a reference")
            loop.now += c
            t = table()
            a = list(args)
            try:
                for i in refs:
                    a[i] = t.internalize(a[i])
            except BadExternRef as e:
                return SyscallError("EBADF", f"system call {n}, argument {i}: {e}")
            return handler(n, tuple(a))
        internalizing.__name__ = getattr(handler, "__name__", "handler")
        return internalizing

    def _uninstall(self, binding: Binding) -> None:
        if not isinstance(binding, Binding):
            raise TypeError(f"uninstall takes a Binding, not {type(binding).__name__}")
        self.dispatcher.uninstall(binding._handler)

    def _on_ctx_event(self, event: Event) -> Callable[..., Binding]:
        def install(ctx: Context, fn: Any, first: bool = False) -> Binding:
            """Handle ``event`` for address space ``ctx`` (``first``: before the others)."""
            if not isinstance(ctx, Context):
                raise TypeError(f"{event.name}: handlers are installed per address space, not on {ctx!r}")
            return self._install(event, fn, [Eq(0, ctx)], first=bool(first))
        install.__name__ = f"on_{event.name}"
        return install

    def _on_reclaim(self, fn: Any) -> Binding:
        return self._install(self.memory.Reclaim, fn, [])

    def _event_ref(self, name: str) -> EventRef:
        for ev in self.dispatcher.events:
            if ev.name == name:
                return self._refs.setdefault(name, EventRef(ev))
        raise LookupError(f"no event named {name!r}")

    def _install_any(self, ref: EventRef, fn: Any, guard: Any = None) -> Binding:
        """spin.Dispatcher.install (privileged): any event, behind an optional guard."""
        if not isinstance(ref, EventRef):
            raise TypeError(f"install takes an EventRef, not {type(ref).__name__}")
        return self._install(ref._event, fn, [guard] if guard is not None else [])

    # ------------------------------------------------------------ strands for extensions

    def _package(self, name: str) -> Package:
        return Package(name, self._loading)

    def _strand_create(self, package: Package, fn: Any, args: tuple[Any, ...] = (), name: str = "",
                       priority: int = DEFAULT_PRIORITY, space: Context | None = None) -> Strand:
        if not isinstance(package, Package):
            raise TypeError(f"Strand.create needs the thread package's token, not {package!r}")
        if space is not None and not isinstance(space, Context):
            raise TypeError(f"Strand.create: space must be an address space, not {space!r}")
        d = package._domain
        s = self.sched.create(fn, tuple(args), name, priority, space, package,
                              budget=d.budget if d is not None else None)
        if d is not None:
            self._owned.setdefault(d.uid, ([], {}))[1][s] = None
        return s

    def _current(self) -> Strand | None:
        return self.sched.current

    def _strand_kill(self, package: Package, s: Strand, why: str = "killed") -> None:
        """Kill ``s``, a strand of ``package`` (holding the token is the authority)."""
        if not isinstance(s, Strand) or s._package is not package:
            raise PermissionError("Strand.kill: only the package that made a strand may kill it")
        self.sched.kill(s, why)

    def _on_strand_event(self, event: Event, package: Package, fn: Any) -> Binding:
        if not isinstance(package, Package):
            raise TypeError(f"{event.name}: handlers are installed per thread package, not on {package!r}")

        def mine(s: Strand) -> bool:
            return s._package is package
        return self._install(event, fn, [mine])

    def _on_checkpoint(self, package: Package, fn: Any) -> Binding:
        return self._on_strand_event(self.sched.Checkpoint, package, fn)

    def _on_resume(self, package: Package, fn: Any) -> Binding:
        return self._on_strand_event(self.sched.Resume, package, fn)

    def _on_exit(self, package: Package, fn: Any) -> Binding:
        return self._on_strand_event(self.Exit, package, fn)

    # ------------------------------------------------------------ loading and unloading

    def load(self, source: str, filename: str = "<extension>", trusted: bool = False) -> Domain:
        """Verify ``source``, make it a domain, link it, run its install().

        Its exports become the interface ``spin.<name>`` (``name``: the file's stem),
        registered with the name server so that later extensions may import it
        (``from spin.unix_as import space_of``). Raises the verifier's ``Rejected``
        (nothing of it runs), a ``LinkError``, or ``ExtensionFailed`` when install()
        failed (the extension is unloaded).
        """
        _check_source("load", source, filename)
        stem = module_name(filename)
        if any(f"spin.{stem}" in e.exports for e in self.extensions):
            raise LinkError(f"{filename}: an extension named {stem!r} is already loaded")
        d = self._link(source, filename, trusted)
        self._run_install(d, filename)
        self._publish(d, len(self.extensions))
        return d

    def replace(self, old: Domain, source: str, filename: str | None = None,
                trusted: bool = False) -> Domain:
        """Put a new version of the loaded extension ``old`` in its place, at run time.

        The new version is verified and linked first, and it must export every name
        the extensions linked against ``old`` import from it; if not, nothing changes
        and ``old`` keeps running. Then ``old`` is unloaded (its handlers removed, its
        strands killed, its system-call numbers released; its dependents stop), the new
        version's install() runs, it is published under the same interface name and
        every dependent is linked against it again (through the name server: its
        authorisation procedure is asked anew) and runs on. If the new install() fails,
        the old version is installed again (its install() runs once more; its module
        state is as it was) and the dependents are linked back to it, and
        ``ExtensionFailed`` says why. State is not carried across: the new version
        starts from its own module body, and what the old one installed or made is gone.
        """
        if not isinstance(old, Domain) or old not in self.extensions:
            what = repr(old.name) if isinstance(old, Domain) else f"{type(old).__name__} {old!r}"
            raise LinkError(f"replace: {what} is not a loaded extension")
        iface = _iface(old)
        filename = filename if filename is not None else f"{iface.removeprefix('spin.')}.py"
        _check_source("replace", source, filename)
        if f"spin.{module_name(filename)}" != iface:
            raise LinkError(f"replace: {filename} would export spin.{module_name(filename)}, not {iface}")
        new = self._link(source, filename, trusted)
        dependents = [e for e in self.extensions if old in e.sources]
        needed = sorted({i for e in dependents for i, (_, src) in e._bound.items() if src is old})
        missing = [i for i in needed if not new.provides(i)[0]]
        if missing:
            users = ", ".join(e.name for e in dependents)
            raise LinkError(f"replace: {filename} does not provide {', '.join(missing)}, which "
                            f"{users} import(s); {old.name} keeps running")
        at = self.extensions.index(old)
        self.unload(old, f"replaced by a new version ({filename})")
        try:
            self._run_install(new, filename)
        except ExtensionFailed:
            self._reinstall(old, at, dependents)
            raise
        self._publish(new, at)
        for e in dependents:
            self.names.link(e, iface)
        return new

    def _reinstall(self, d: Domain, at: int, dependents: list[Domain]) -> None:
        """Put back an extension that a failed replace unloaded, with its dependents."""
        self._run_install(d, f"{d.name} (reinstalled)")
        self._publish(d, at)
        for e in dependents:
            self.names.link(e, _iface(d))

    def _link(self, source: str, filename: str, trusted: bool) -> Domain:
        """Verify ``source`` and make it a domain linked against everything it imports.

        Each import is linked against the interface set that provides it; the name
        server's authorisation procedure decides (SpinPrivileged: trusted only), then
        against the extensions already loaded (each registered under its interface).
        Nothing of it has run yet."""
        d = Domain.create(source, filename, trusted=trusted, interface=f"spin.{module_name(filename)}",
                          costs=self.op_costs, clock=self.m.loop if self.charge_extensions else None)
        providers = [(SPIN_PUBLIC, self.public), (SPIN_PRIVILEGED, self.privileged)]
        providers += [(_iface(e), e) for e in self.extensions]
        for name, provider in providers:
            if any(provider.provides(i)[0] for i in d.unresolved):
                self.names.link(d, name)
        if d.unresolved:
            raise LinkError(f"{filename}: no interface provides {', '.join(d.unresolved)}")
        return d

    def _run_install(self, d: Domain, filename: str) -> None:
        """Run ``d``'s install(); if it fails, unload ``d`` and raise ``ExtensionFailed``."""
        self._loading = d
        try:
            for members in d.exports.values():
                install = members.get("install")
                if install is not None:
                    if d.budget is not None:
                        d.budget.reset()
                    install()
        except (Exception, BudgetExceeded) as e:
            why = "budget exceeded" if type(e) is BudgetExceeded else f"{type(e).__name__}: {e}"
            self._loading = None
            self.unload(d, f"install() failed: {why}")
            self._unloaded_cycles += d.budget.spent if d.budget is not None else 0
            raise ExtensionFailed(f"{filename}: install() failed, extension unloaded: {why}") from None
        finally:
            self._loading = None

    def _publish(self, d: Domain, at: int) -> None:
        """``d`` is a loaded extension: later extensions may link against it."""
        self.extensions.insert(at, d)
        self.names.register(_iface(d), d)
        if self.m.tracer is not None:
            self.m.tracer.instant(f"load {d.name}", "extension", 0, self.m.loop.now,
                                  imports=", ".join(d.imports))

    def unload(self, d: Domain, why: str) -> None:
        """Remove every handler ``d`` installed, kill every strand it made, release its
        system-call numbers; extensions linked against it are unlinked (they stop)."""
        handlers, strands = self._owned.pop(d.uid, ([], {}))
        for h in handlers:
            self.dispatcher.uninstall(h)
        for s in list(strands):
            if not s.done:
                self.sched.kill(s, f"extension {d.name} unloaded")
        owners = self._trap_authority.owners
        for n in [n for n, o in owners.items() if o is d]:
            del owners[n]
        if d in self.extensions:
            self.extensions.remove(d)
            self._unloaded_cycles += d.budget.spent if d.budget is not None else 0
            self.names.unregister(_iface(d))
            for other in self.extensions:
                if d in other.sources:
                    unresolve(other, d)
        self.unloaded.append((d.name, why))
        if self.m.tracer is not None:
            self.m.tracer.instant(f"unload {d.name}", "extension", 0, self.m.loop.now, why=why)

    def _terminated(self, h: Handler, why: str) -> None:
        """The dispatcher terminated ``h`` (it raised or overran): unload its extension."""
        d = h.installer
        if isinstance(d, Domain) and d in self.extensions:
            self.unload(d, f"its handler on {h.event.name} was terminated: {why}")

    # ------------------------------------------------------------ checks and counters

    def check_invariants(self) -> list[str]:
        bad: list[str] = []
        mem = self.memory
        for ctx in mem.contexts.values():
            for vpn, (frame, _prot, _dirty) in ctx._pt.items():
                if not frame._live:
                    bad.append(f"{ctx.name}: page {vpn:#x} maps a deallocated frame")
                if (ctx, vpn) not in frame._maps:
                    bad.append(f"{ctx.name}: page {vpn:#x} missing from its frame's mappings")
        free = set(mem.free)
        if len(free) != len(mem.free):
            bad.append("a frame is on the free list twice")
        for ctx in mem.contexts.values():
            for _vpn, (frame, _p, _d) in ctx._pt.items():
                if frame._pfn in free:
                    bad.append(f"{ctx.name}: maps a free frame")
        sched = self.sched
        filled = [p for p, q in enumerate(sched.ready) if q]
        if sched._nonempty != sum(1 << p for p in filled) or sched._top != (filled[-1] if filled else -1):
            bad.append(f"the ready bitmap {sched._nonempty:#x} or top {sched._top} disagrees with the queues {filled}")
        return bad

    def statistics(self) -> SpinStats:
        ext = self._unloaded_cycles + sum(d.budget.spent for d in self.extensions if d.budget is not None)
        return SpinStats(len(self.extensions), self.syscalls, len(self.unloaded), ext,
                         self.dispatcher.statistics(), self.sched.statistics(), self.memory.statistics(),
                         tuple(t.statistics() for t in self.extern.values()))


def _check_source(call: str, source: Any, filename: Any) -> None:
    """An extension is source text with a file name; anything else is refused by name."""
    if type(filename) is not str or not filename:
        raise TypeError(f"{call}: the file name must be a non-empty str, not {filename!r}")
    if type(source) is not str:
        raise TypeError(f"{call}: {filename}: the extension must be Python source (str), "
                        f"not {type(source).__name__}")


def _iface(d: Domain) -> str:
    """The interface a loaded extension exports and is registered under (``spin.<name>``)."""
    return next(iter(d.exports))


class ExtensionFailed(LinkError):
    """An extension's install() failed; it was unloaded."""


__all__ = ["Binding", "EventRef", "ExtensionFailed", "NoSuchSyscall", "Package", "Refused", "Spin",
           "SpinStats", "SyscallError", "StrandExit"]
