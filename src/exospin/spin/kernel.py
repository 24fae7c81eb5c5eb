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
    a number claimed by one domain is refused to every other, and a handler
    installed on the trap some other way runs only on its own domain's
    numbers (authority.py).

Ownership
    Everything a domain makes (a handler, a claim, a thread package, a
    strand, a frame, an address space), at load time or at run time, is
    credited to the domain whose code is running (``_running``: the
    innermost domain code on the stack) and removed, released, revoked,
    killed or given back when it is unloaded, and its functions stop
    (``Domain.retire``: whoever still holds one gets ``NotResolved``; a
    strand running its code is killed, whoever made it); ``unload`` then
    checks that nothing of it remains (``remaining``), and
    ``check_invariants`` checks it again for every domain unloaded so far.

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

    A budget bounds one *activation* of a domain, not one handler call
    (verifier.Budget.enter; docs/invariants.md, I26): a handler call, the
    domain's install(), and a strand whose function is the domain's code
    (``_code_budget``) are activations, and a nested entry into a domain
    already running on the stack continues on what remains, so re-entering
    through the kernel cannot refill it. A strand whose own code fails
    unloads its domain as a failed handler does; a domain unloaded while its
    code is on a stack (this one, or a strand's off the processor) has its
    budget exhausted there, so that code stops at its next tick.

Interface
    ``Spin(machine)``; ``load(source, filename, trusted=False) -> Domain``;
    ``replace(old, source, filename=None, trusted=False) -> Domain`` (a new
    version in its place, its dependents relinked); ``unload(domain, why)``;
    ``syscall(number, *args)``; ``run(until)``;
    ``sched``, ``memory``, ``dispatcher``, ``names``, ``Trap``;
    ``remaining(domain)``; ``check_invariants()``; ``statistics()``.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from ..machine import Machine
from ..machine.timer import IRQ_TIMER
from ..verifier import DEFAULT_BUDGET, HOOK, Budget, BudgetExceeded, OpCosts, module_name
from .authority import PackageAuthority, SpaceAuthority, TrapAuthority, first_result
from .dispatcher import (
    KERNEL_STACK,
    Dispatcher,
    DispatcherStats,
    Eq,
    Event,
    First,
    Handler,
    Refused,
    reason,
)
from .domain import SPIN_PRIVILEGED, SPIN_PUBLIC, Domain, Identity, LinkError, NameServer, unresolve
from .extern import BadExternRef, ExternStatistics, ExternTable
from .footprints import Footprints
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
from .strands import CALLEE_SAVED, DEFAULT_PRIORITY, Scheduler, SchedulerStats, Strand, StrandExit


class NoSuchSyscall(Exception):
    """No handler accepted this system-call number."""


class SyscallError:
    """What a system-call handler returns instead of raising: an errno and a message.

    A handler that raises is *terminated* by the dispatcher (it is the
    extension that failed); a bad request from user space is not the
    extension's fault, so it answers with one of these (``Errors.fail``).
    """

    __slots__ = ("_errno", "_message")

    def __init__(self, errno: str, message: str) -> None:
        self._errno = errno
        self._message = message

    @property
    def errno(self) -> str:
        return self._errno

    @property
    def message(self) -> str:
        return self._message

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
    """A thread package's token: strands it creates carry it; its holder handles their events.
    Revoked when the domain that made it is unloaded."""

    __slots__ = ("_name", "_domain", "_live")

    def __init__(self, name: str, domain: Domain | None) -> None:
        self._name = name
        self._domain = domain
        self._live = True

    @property
    def name(self) -> str:
        return self._name


def _fail(errno: str, message: str) -> SyscallError:
    """spin.Errors.fail: the error answer ``errno``, ``message`` (a read-only value; the
    kernel exports this function, not its class)."""
    return SyscallError(errno, message)


def _failed(value: Any) -> bool:
    """spin.Errors.failed: is ``value`` an error answer (what ``fail`` made)?"""
    return value.__class__ is SyscallError


#: the kernel's own objects: what the trap externalises instead of handing user space
CAPABILITIES: frozenset[type] = frozenset({Strand, Frame, Context, Binding, EventRef, Package, Domain,
                                           Identity, Event, Handler})


#: what the trap converts on its way to user space: capabilities, and the containers that
#: may hold them (one set lookup on the hot path)
CONVERTED: frozenset[type] = CAPABILITIES | {tuple, list, dict}

#: A system call's result goes to user space converted (capabilities as indexes) only if it
#: is at most this many containers deep and has at most this many items in all; beyond, the
#: extension that answered is terminated (its result is refused)
MAX_RESULT_DEPTH = 32
MAX_RESULT_ITEMS = 4096


@dataclass(slots=True)
class _Owned:
    """What one domain made: removed, killed or revoked when it is unloaded."""

    handlers: dict[Handler, None] = field(default_factory=dict)
    #: in creation order; each dropped when it ends
    strands: dict[Strand, None] = field(default_factory=dict)
    packages: list[Package] = field(default_factory=list)
    #: frames and address spaces it allocated and has not given back (in allocation order)
    resources: dict[Frame | Context, None] = field(default_factory=dict)


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
        # ``detailed`` memory: the paths' cache lines (footprints.py); touch is None under ideal
        self._fp = Footprints(machine, CALLEE_SAVED)
        self._touch = None if machine.cpu.hierarchy is None else machine.cpu.touch
        self.sched.fp = self.memory.fp = self._fp
        self.sched.touch = self.memory.touch = self._touch
        #: device interrupts other than the timer's (a NIC's receive interrupt): irq -> handler
        self.irq_handlers: dict[int, Callable[[int], None]] = {}
        machine.cpu.install_vectors(self.memory.refill, self.memory.exception, self._interrupt)
        # the events' authorities decide by what a handler receives (authority.py)
        self._trap_authority = TrapAuthority()
        self.Trap = Event("Trap", (int, tuple), object, authority=self._trap_authority,
                          default=self._no_handler, result_handler=first_result)
        self.dispatcher.define(self.Trap)
        self.Exit = self.dispatcher.define(Event("Strand.Exit", (Strand,), None, default=lambda s: None))
        self._package_authority = PackageAuthority()
        for ev in (self.Exit, self.sched.Checkpoint, self.sched.Resume, self.sched.Block,
                   self.sched.Unblock):
            ev.authority = self._package_authority
        spaces = SpaceAuthority(Context)
        for ev in (self.memory.PageNotPresent, self.memory.ProtectionFault, self.memory.BadAddress):
            ev.authority = spaces
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
        #: per domain (uid): what it installed, claimed and made (to unload it)
        self._owned: dict[int, _Owned] = {}
        #: id of a domain's module namespace -> the domain (how the kernel knows whose code runs)
        self._namespaces: dict[int, Domain] = {}
        #: uids of the domains whose code may run: installed (or installing), not unloaded
        self._live: set[int] = set()
        #: the domain each running strand is credited to
        self._makers: dict[Strand, Domain] = {}
        #: the domain each live frame or address space a domain allocated is credited to
        self._holders: dict[Frame | Context, Domain] = {}
        #: every domain unloaded so far: the unload invariant is checked against each
        self._gone: list[Domain] = []
        self._refs: dict[str, EventRef] = {}
        mem = self.memory
        public: dict[str, dict[str, Any]] = {
            "spin.Trap": {"install": self._trap_install, "claim": self._trap_claim,
                          "uninstall": self._uninstall},
            "spin.Errors": {"fail": _fail, "failed": _failed},
            "spin.Strand": {
                "package": self._package, "create": self._strand_create,
                "current": self._current, "block": self.sched.block, "unblock": self.sched.unblock,
                "yield_": self.sched.yield_, "exit": self.sched.exit, "join": self.sched.join,
                "kill": self._strand_kill, "on_checkpoint": self._on_checkpoint,
                "on_resume": self._on_resume, "on_exit": self._on_exit,
                "uninstall": self._uninstall, "DEFAULT_PRIORITY": DEFAULT_PRIORITY,
            },
            "spin.PhysAddr": {**{k: v for k, v in mem.physaddr.items() if k != "Reclaim"},
                              "allocate": self._frame_allocate, "deallocate": self._frame_deallocate,
                              "on_reclaim": self._on_reclaim},
            "spin.VirtAddr": dict(mem.virtaddr),
            "spin.Translation": {
                **{k: v for k, v in mem.translation.items() if not k[0].isupper()},
                "create": self._space_create, "destroy": self._destroy_space,
                "uninstall": self._uninstall,
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
        #: kernel domains added after boot (a device's interfaces: net.py's SpinNet), linked like SpinPublic
        self.services: list[tuple[str, Domain]] = []
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
        caps, out = CONVERTED, self._to_user
        touch, fp_trap = self._touch, self._fp.trap
        if touch is not None:  # ``detailed`` memory: the same path, touching its lines
            def syscall_detailed(number: int, *args: Any) -> Any:
                count[0] += 1
                loop.now += c
                touch(fp_trap, 0)
                r = trap.raise_(number, args)
                t = r.__class__
                return out(number, r) if t in caps else r
            return syscall_detailed

        def syscall(number: int, *args: Any) -> Any:
            count[0] += 1
            loop.now += c
            r = trap.raise_(number, args)
            t = r.__class__
            return out(number, r) if t in caps else r
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

    def _to_user(self, number: int, r: Any) -> Any:
        """System call ``number``'s result as user space gets it: capabilities as indexes.

        A tuple, list or dict is converted (copied: user space never holds the extension's
        own container) under its answering extension's budget (one tick per container) and
        failure handling: one nested deeper than MAX_RESULT_DEPTH or with more than
        MAX_RESULT_ITEMS items in all is refused, the extension is terminated (and
        unloaded), and the caller gets NoSuchSyscall naming it."""
        if r.__class__ in CAPABILITIES:
            return self._externalize(r)
        owner = self._trap_authority.owners.get(number)
        hook = owner.budget.hook if owner is not None and owner.budget is not None else None
        caps, convertible, ext, left = CAPABILITIES, CONVERTED, self._externalize, [MAX_RESULT_ITEMS]
        who = owner.name if owner is not None else "the kernel"

        def convert(t: Any, depth: int) -> Any:
            if depth > MAX_RESULT_DEPTH:
                raise ValueError(f"system call {number}: the result of {who} is nested more "
                                 f"than {MAX_RESULT_DEPTH} containers deep")
            c = t.__class__
            left[0] -= 2 * len(t) if c is dict else len(t)
            if left[0] < 0:
                raise ValueError(f"system call {number}: the result of {who} has more than "
                                 f"{MAX_RESULT_ITEMS} items")
            if hook is not None:
                hook(0)
            d = depth + 1
            if c is dict:
                return {one(k, d): one(v, d) for k, v in t.items()}
            items = [one(x, d) for x in t]
            return tuple(items) if c is tuple else items

        def one(x: Any, depth: int) -> Any:
            c = x.__class__
            return x if c not in convertible else ext(x) if c in caps else convert(x, depth)
        try:
            return convert(r, 1)
        except (ValueError, BudgetExceeded) as e:
            return self._refuse_result(number, owner, e)

    def _refuse_result(self, number: int, owner: Domain | None, e: BaseException) -> Any:
        """The answer to system call ``number`` cannot go to user space: terminate its handler
        (the dispatcher's failure handling: logged, uninstalled, its extension unloaded)."""
        mine = [h for h in self.Trap.handlers if owner is not None and h.installer is owner]
        if not mine:
            raise RuntimeError(f"system call {number}: the kernel's own result was refused: {e}")
        self.dispatcher.terminate(mine[0], e)
        why = "budget exceeded" if isinstance(e, BudgetExceeded) else str(e)
        name = mine[0].installer.name
        raise NoSuchSyscall(f"system call {number}: the result of {name} was refused ({why}); "
                            f"{name} was unloaded")

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
        self._given_back(ctx)

    def _space_create(self, name: str = "") -> Context:
        """spin.Translation.create: a new address space, credited to the domain whose code
        asked (destroyed when it is unloaded, if it has not destroyed it itself)."""
        return self._credit(self.memory.create(name))

    def _frame_allocate(self) -> Frame:
        """spin.PhysAddr.allocate: a zeroed frame, credited like an address space."""
        return self._credit(self.memory.allocate())

    def _frame_deallocate(self, frame: Frame) -> None:
        """spin.PhysAddr.deallocate: the frame goes back (and is no longer its allocator's)."""
        self.memory.deallocate(frame)
        self._given_back(frame)

    def _credit(self, r: Any) -> Any:
        d = self._running()
        if d is not None:
            self._holders[r] = d
            self._owned_by(d).resources[r] = None
        return r

    def _given_back(self, r: Frame | Context) -> None:
        d = self._holders.pop(r, None)
        if d is not None and d.uid in self._owned:
            self._owned[d.uid].resources.pop(r, None)

    @property
    def syscalls(self) -> int:
        return self._syscalls[0]

    def _strand_exit(self, s: Strand) -> None:
        d = self._makers.pop(s, None)
        if d is not None and d.uid in self._owned:  # an ended strand is no longer its maker's
            self._owned[d.uid].strands.pop(s, None)
        if s._faulted and s._own is not None:  # the domain whose code it ran failed: unload it
            for e in self.extensions:
                if e.budget is s._own:
                    self.unload(e, f"its strand {s.name!r} failed: {s.error}", unlink=False)
                    break
        self.Exit.raise_(s)  # (raise_ is rebuilt on every install: look it up each time)

    def _interrupt(self, irq: int) -> None:
        if irq == IRQ_TIMER:
            self.sched.preempt()
            return
        h = self.irq_handlers.get(irq)  # a device's (a NIC's receive interrupt)
        if h is not None:
            h(irq)

    def upcall(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run user code ``fn(*args)`` in user mode on the current strand and come back:
        a return from the trap into user space, and a trap back in."""
        self.m.loop.now += self._c_upcall
        if self._touch is not None:
            self._touch(self._fp.upcall, 0)
        return self._in_user_mode(fn, args)

    def _in_user_mode(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        """``fn(*args)`` outside every domain: user mode is not inside the extension that
        called it up, so the activations on the stack are suspended while it runs (a system
        call it makes starts an activation of its own) and continue afterwards with what
        they had left (Scheduler._suspend). Verified code passed in place of user code is
        no user mode: it runs as a plain call, inside the activations."""
        if not (type(fn) is types.FunctionType and HOOK not in fn.__globals__) \
                and self._code_budget(fn) is not None:
            return fn(*args)
        sched = self.sched
        held = sched._suspend()
        if held is None:  # no activation on the stack: nothing to suspend
            return fn(*args)
        try:
            return fn(*args)
        finally:
            sched._restore(held)

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
        if self._touch is not None:
            self._touch(self._fp.upcall, 0)
        s._space = space
        tlb.asid, tlb.view = space._asid, space._view
        try:
            return self._in_user_mode(fn, args)
        finally:
            loop.now += self._c_upcall + self._c_asid
            if self._touch is not None:
                self._touch(self._fp.upcall, 0)
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

    def _running(self) -> Domain | None:
        """The domain whose code is running: the one whose code is innermost on the stack
        (a domain's code runs with its module namespace as its globals; a strand's stack
        starts at its own function), or None: only the kernel's code is running. Everything
        a domain makes is credited to it, at load time or at run time, by whatever path it
        got there. An unloaded domain may make nothing."""
        f: FrameType | None = sys._getframe(2)
        spaces = self._namespaces
        while f is not None:
            d = spaces.get(id(f.f_globals))
            if d is not None:
                if d.uid not in self._live:
                    raise PermissionError(f"extension {d.name} is unloaded: it may not install, "
                                          f"claim or create anything")
                return d
            f = f.f_back
        return None

    def _owned_by(self, d: Domain) -> _Owned:
        o = self._owned.get(d.uid)
        if o is None:
            o = self._owned[d.uid] = _Owned()
        return o

    def _install(self, event: Event, fn: Any, guards: list[Any], closure: Any = None,
                 first: bool = False) -> Binding:
        d = self._running()
        kw: dict[str, Any] = {}
        if closure is not None:
            kw["closure"] = closure
        if first:
            kw["order"] = First
        h = self.dispatcher.install(event, fn, guards=guards, budget=d.budget if d is not None else None,
                                    installer=d, **kw)
        if d is not None:
            self._owned_by(d).handlers[h] = None
        return Binding(h)

    def _trap_install(self, handler: Any, guard: Any = None) -> Binding:
        """spin.Trap.install: put ``handler(number, args)`` on the trap, behind ``guard``; the
        trap's authority adds its own guard: it runs only on numbers its domain claimed."""
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
        return self._install(self.Trap, fn, [Eq(0, number)])  # the authority records the owner

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
        h = binding._handler
        self.dispatcher.uninstall(h)
        o = self._owned.get(h.installer.uid) if isinstance(h.installer, Domain) else None
        if o is not None:
            o.handlers.pop(h, None)

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
        d = self._running()
        p = Package(name, d)
        if d is not None:
            self._owned_by(d).packages.append(p)
        return p

    @staticmethod
    def _live_package(package: Any, who: str) -> Package:
        if not isinstance(package, Package):
            raise TypeError(f"{who} needs a thread package's token, not {package!r}")
        if not package._live:
            maker = package._domain.name if package._domain is not None else "the kernel"
            raise PermissionError(f"{who}: thread package {package._name!r} was revoked "
                                  f"({maker} was unloaded)")
        return package

    def _strand_create(self, package: Package, fn: Any, args: tuple[Any, ...] = (), name: str = "",
                       priority: int = DEFAULT_PRIORITY, space: Context | None = None) -> Strand:
        self._live_package(package, "Strand.create")
        if space is not None and not isinstance(space, Context):
            raise TypeError(f"Strand.create: space must be an address space, not {space!r}")
        d = self._running()
        if d is None:  # the kernel makes it for the package's domain
            d = package._domain
        s = self.sched.create(fn, tuple(args), name, priority, space, package,
                              budget=d.budget if d is not None else None, own=self._code_budget(fn))
        if d is not None:
            self._owned_by(d).strands[s] = None
            self._makers[s] = d
        return s

    def _code_budget(self, fn: Any) -> Budget | None:
        """The budget of the loaded domain whose verified code ``fn`` is (a function, a
        method or a class, whose __init__ runs), or None (kernel or user code): a strand
        running it is one activation of that domain (strands.Strand._own)."""
        if type(fn) is types.FunctionType:  # the common case (user code: no hook)
            hook = fn.__globals__.get(HOOK)
            if hook is None:
                return None
        elif isinstance(fn, types.MethodType):
            fn = fn.__func__
        elif isinstance(fn, type):
            # the __init__ it runs: its own or the nearest base's (of whichever domain)
            fn = next((k.__dict__["__init__"] for k in fn.__mro__ if "__init__" in k.__dict__), None)
        g = fn.__globals__ if isinstance(fn, types.FunctionType) else None
        hook = g.get(HOOK) if g is not None else None
        for b in self.sched.budgets:
            if b.hook is hook:
                return b
        return None

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
        self._live_package(package, f"{event.name}")

        def mine(s: Strand) -> bool:
            return s._package is package
        return self._install(event, fn, [self._package_authority.guard(mine)])

    def _on_checkpoint(self, package: Package, fn: Any) -> Binding:
        return self._on_strand_event(self.sched.Checkpoint, package, fn)

    def _on_resume(self, package: Package, fn: Any) -> Binding:
        return self._on_strand_event(self.sched.Resume, package, fn)

    def _on_exit(self, package: Package, fn: Any) -> Binding:
        return self._on_strand_event(self.Exit, package, fn)

    # ------------------------------------------------------------ loading and unloading

    def load(self, source: str, filename: str = "<extension>", trusted: bool = False,
             budget: int = DEFAULT_BUDGET) -> Domain:
        """Verify ``source``, make it a domain, link it, run its install().

        Its exports become the interface ``spin.<name>`` (``name``: the file's stem),
        registered with the name server so that later extensions may import it
        (``from spin.unix_as import space_of``). Raises the verifier's ``Rejected``
        (nothing of it runs), a ``LinkError``, or ``ExtensionFailed`` when install()
        failed (the extension is unloaded). ``budget``: the ticks one activation of the
        domain may spend (verifier.Budget); the loader chooses it, never the extension.
        """
        _check_source("load", source, filename)
        stem = module_name(filename)
        if any(f"spin.{stem}" in e.exports for e in self.extensions):
            raise LinkError(f"{filename}: an extension named {stem!r} is already loaded")
        d = self._link(source, filename, trusted, budget)
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

    def _link(self, source: str, filename: str, trusted: bool, budget: int = DEFAULT_BUDGET) -> Domain:
        """Verify ``source`` and make it a domain linked against everything it imports.

        Each import is linked against the interface set that provides it; the name
        server's authorisation procedure decides (SpinPrivileged: trusted only), then
        against the extensions already loaded (each registered under its interface).
        Nothing of it has run yet."""
        d = Domain.create(source, filename, trusted=trusted, interface=f"spin.{module_name(filename)}",
                          budget=budget, costs=self.op_costs, clock=self.m.loop if self.charge_extensions else None)
        providers = [(SPIN_PUBLIC, self.public), (SPIN_PRIVILEGED, self.privileged)]
        providers += self.services
        providers += [(_iface(e), e) for e in self.extensions]
        for name, provider in providers:
            if any(provider.provides(i)[0] for i in d.unresolved):
                self.names.link(d, name)
        if d.unresolved:
            raise LinkError(f"{filename}: no interface provides {', '.join(d.unresolved)}")
        if d._namespace:
            self._namespaces[id(d._namespace)] = d
        d.on_fault = self._callee_fault
        return d

    def _callee_fault(self, d: Domain, e: BaseException) -> None:
        """``d``'s code faulted during a call from another domain (Domain.entry): unload ``d``,
        not the caller, which gets a DomainFault and goes on (and stays linked: its later
        calls into ``d`` raise DomainUnloaded, a DomainFault too). Runs with a reserve of stack, as the
        dispatcher's termination does."""
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(limit + KERNEL_STACK)
        try:
            if d in self.extensions:
                self.unload(d, f"a call into it from another domain faulted: {reason(e)}", unlink=False)
        finally:
            sys.setrecursionlimit(limit)

    def _run_install(self, d: Domain, filename: str) -> None:
        """Run ``d``'s install(); if it fails, unload ``d`` and raise ``ExtensionFailed``."""
        self._live.add(d.uid)
        d.revive()  # (a domain put back after a failed replace runs again)
        if d.budget is not None:
            self.sched.add_budget(d.budget)  # (its activations are suspended at a switch)
        try:
            for members in d.exports.values():
                install = members.get("install")
                if install is not None:
                    if d.budget is None:
                        install()
                    else:  # one activation of the domain (Budget.enter)
                        d.budget.enter()
                        try:
                            install()
                        finally:
                            d.budget.leave()
        except (Exception, BudgetExceeded) as e:
            why = reason(e)
            self.unload(d, f"install() failed: {why}")
            self._unloaded_cycles += d.budget.spent if d.budget is not None else 0
            raise ExtensionFailed(f"{filename}: install() failed, extension unloaded: {why}") from None

    def _publish(self, d: Domain, at: int) -> None:
        """``d`` is a loaded extension: later extensions may link against it."""
        self.extensions.insert(at, d)
        self.names.register(_iface(d), d)
        if self.m.tracer is not None:
            self.m.tracer.instant(f"load {d.name}", "extension", 0, self.m.loop.now,
                                  imports=", ".join(d.imports))

    def unload(self, d: Domain, why: str, unlink: bool = True) -> None:
        """Remove every handler ``d`` installed, release its system-call numbers, revoke its
        thread packages, kill every strand it made (the running one last), at load or at
        run time; extensions linked against it are unlinked (they stop), unless ``unlink``
        is False (they go on; calls into ``d`` raise DomainUnloaded, an ordinary exception
        they may catch: a fault unloads only the domain that faulted). Then check that nothing
        ``d`` owned remains (a RuntimeError if something does: a kernel bug)."""
        self._live.discard(d.uid)
        own = self._owned_by(d)  # kept (emptied) after the unload: remaining() reads it
        # what it made, by identity: user space's references to any of it are revoked below
        made = {id(x) for x in (*own.strands, *own.packages, *own.resources)}
        for h in list(own.handlers):
            self.dispatcher.uninstall(h)
        own.handlers.clear()
        self._trap_authority.release(d)
        for p in own.packages:
            p._live = False
        running = self.sched.current
        last = None
        for s in list(own.strands):
            if s is running:
                last = s  # killing it ends this call: after everything else
            elif not s.done:
                self.sched.kill(s, f"extension {d.name} unloaded")
        own.strands.clear()
        ns = d._namespace
        for s in [s for s in self.sched.strands.values() if ns and _code_of(s) is ns]:
            if s is running:  # another domain's strand running d's code (kthreads.fork)
                last = s
            elif not s.done:
                self.sched.kill(s, f"its code's extension {d.name} was unloaded")
        for r in list(own.resources):  # what it allocated and kept: given back
            self._holders.pop(r, None)
            if r._live:
                if isinstance(r, Frame):
                    self.memory.deallocate(r)
                else:
                    self._destroy_space(r)
        own.resources.clear()
        for table in self.extern.values():  # user space's references to what it made
            table.revoke_all(made)
        if d.budget is not None:
            self.sched.remove_budget(d.budget)
            if d.budget.depth:  # unloaded while running further up the stack: its code there
                d.budget.reset(-1)  # stops at its next tick (a new activation restores it)
            for s in self.sched.strands.values():  # and so does its code on strands off the
                held = s._held                      # processor, when they run again
                if held is not None and any(b is d.budget for b, _, _ in held):
                    s._held = [(b, depth, -1 if b is d.budget else left) for b, depth, left in held]
        if d in self.extensions:
            self.extensions.remove(d)
            self._unloaded_cycles += d.budget.spent if d.budget is not None else 0
            self.names.unregister(_iface(d))
            for other in self.extensions if unlink else ():
                if d in other.sources:
                    unresolve(other, d)
        self.unloaded.append((d.name, why))
        self._gone.append(d)
        if self.m.tracer is not None:
            self.m.tracer.instant(f"unload {d.name}", "extension", 0, self.m.loop.now, why=why)
        d.retire()  # its functions stop, whoever holds them
        left = self.remaining(d, spare=last)
        if left:
            raise RuntimeError(f"kernel invariant: unloading {d.name} left {'; '.join(left)}")
        if last is not None and not last.done:
            self.sched.kill(last, f"extension {d.name} unloaded")

    def remaining(self, d: Domain, spare: Strand | None = None) -> list[str]:
        """What ``d`` still owns: after it is unloaded, nothing (the unload invariant,
        checked by every unload; ``spare``: the running strand, killed last)."""
        left = [f"its handler {h!r}" for ev in self.dispatcher.events for h in ev.handlers
                if h.installer is d]
        left += [f"system call {n}" for n, o in self._trap_authority.owners.items() if o is d]
        ns = d._namespace
        left += [f"strand {s.name!r}" for s in self.sched.strands.values()
                 if s is not spare and (self._makers.get(s) is d or (ns and _code_of(s) is ns)
                                        or (d.budget is not None and s._budget is d.budget))]
        left += [f"{'frame' if isinstance(r, Frame) else 'address space'} {r!r}"
                 for r, o in self._holders.items() if o is d and r._live]
        o = self._owned.get(d.uid)
        if o is not None and d.uid not in self._live:
            left += [f"thread package {p.name!r}" for p in o.packages if p._live]
            left += [f"its record of {len(o.handlers)} handler(s), {len(o.strands)} strand(s) and "
                     f"{len(o.resources)} resource(s)"] if o.handlers or o.strands or o.resources else []
        if d.uid in self._live or d in self.extensions or self.names.registered(_iface(d)) is d:
            left.append("its place among the loaded extensions")
        return left

    def _terminated(self, h: Handler, why: str) -> None:
        """The dispatcher terminated ``h`` (it raised or overran): unload its extension."""
        d = h.installer
        if isinstance(d, Domain) and d in self.extensions:
            self.unload(d, f"its handler on {h.event.name} was terminated: {why}", unlink=False)

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
        live = {d.uid for d in self.extensions} | self._live
        for ev in self.dispatcher.events:
            for h in ev.handlers:
                if isinstance(h.installer, Domain) and h.installer.uid not in live:
                    bad.append(f"{h!r} belongs to {h.installer.name}, which is unloaded")
        for n, o in self._trap_authority.owners.items():
            if o is not None and o.uid not in live:
                bad.append(f"system call {n} belongs to {o.name}, which is unloaded")
        for s, o in self._makers.items():
            if not s.done and o.uid not in live:
                bad.append(f"strand {s.name!r} belongs to {o.name}, which is unloaded")
        for d in self._gone:  # the unload invariant, for every domain unloaded so far
            if d.uid not in live:
                bad += [f"{d.name} was unloaded but {what} remains" for what in self.remaining(d)]
        sched = self.sched
        filled = [p for p, q in enumerate(sched.ready) if q]
        if sched._nonempty != sum(1 << p for p in filled) or sched._top != (filled[-1] if filled else -1):
            bad.append(f"the ready bitmap {sched._nonempty:#x} or top {sched._top} disagrees with the queues {filled}")
        # every live strand is ready (on its queue, once), blocked, or the running one; no
        # ended strand is queued (a switch left half done loses or revives strands)
        queued = [s for q in sched.ready for s in q]
        for s in queued:
            if s._state != "ready" or s._id not in sched.strands or queued.count(s) != 1:
                bad.append(f"{s!r} is on a ready queue {queued.count(s)} time(s) in state {s._state}")
        for s in sched.strands.values():
            if s._state == "ready" and s not in queued:
                bad.append(f"{s!r} is ready but on no queue")
            if s._state == "running" and s is not sched.current:
                bad.append(f"{s!r} is running but not the current strand")
        # no activation of a domain is left marked once control is back in the kernel
        # (docs/invariants.md: budgets per activation)
        if sched.current is None:
            for d in self.extensions:
                if d.budget is not None and d.budget.depth:
                    bad.append(f"{d.name}: an activation is left marked (depth {d.budget.depth}) "
                               "with control in the kernel")
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


def _code_of(s: Strand) -> Any:
    """The globals of the function strand ``s`` runs: a domain's namespace if it is its code."""
    return getattr(s._fn, "__globals__", None)


def _iface(d: Domain) -> str:
    """The interface a loaded extension exports and is registered under (``spin.<name>``)."""
    return next(iter(d.exports))


class ExtensionFailed(LinkError):
    """An extension's install() failed; it was unloaded."""


__all__ = ["Binding", "EventRef", "ExtensionFailed", "NoSuchSyscall", "Package", "Refused", "Spin",
           "SpinStats", "SyscallError", "StrandExit"]
