"""SPIN's event dispatcher: events as typed procedure signatures, handlers behind guards.

What this models
    The dispatcher of SPIN (Bershad et al., SOSP 1995, section 3;
    Pardyak & Bershad, OSDI 1996). An *event* is a procedure signature;
    raising it looks like a call. The module that defines it supplies the
    *intrinsic handler* and an *authority* that is consulted on every
    installation and may refuse it, impose guards or impose an order.
    Handlers run when all their *guards* (side-effect-free predicates on the
    arguments) hold; none, one or many may run (default handler / its result
    / a result handler combining them). Handlers may be ordered (First,
    Last, Before, After), may cancel the rest, may run asynchronously, may
    be bounded in time, and are terminated (uninstalled, recorded) when they
    raise or run out of budget.

Why it is built this way
    The dispatcher is the only code that calls an extension: one choke point.
    Its hot path is compiled per event: on every installation or removal the
    handler list is rebuilt into a *specialised raise function* and stored
    in ``event.raise_`` (an atomic swap: a raise in progress keeps the list
    it started with). The common shapes get straight-line code generated for
    the event's exact arity (no ``*args`` tuple, guards inlined, equality
    guards compiled to ``==``):

    * intrinsic only: ``event.raise_`` *is* the intrinsic (a plain call) when
      no charge hook or clock is set;
    * one handler: its guards inline (nested ifs), then the handler;
    * indexed: every handler has an equality guard on the same argument and
      nothing else: one dict lookup finds the handler, whatever their number;
    * many: up to ``UNROLL`` synchronous handlers and no equality guard: each
      handler's guards and call, unrolled in order;
    * general: a loop over the ordered list, with the equality index (if any
      argument carries equality guards) narrowing the list first.

    A guard is inlined as ``==`` (``Eq``), as its expression (a *pure* guard:
    ``verifier.expression`` knows it, see verifier/pure.py), or else called.

    SPIN's dispatch cost grew linearly with the number of guards (its
    authors named decision trees as the fix but did not build them). The
    equality index is that fix for the common case (ports, address spaces):
    ``Eq(i, v)`` guards on the same argument ``i`` go into a dict from value
    to the handlers to try, so raising an event with 50 such handlers costs
    one lookup, as with one.

    Counters live in closure cells of the compiled raise function (the
    cheapest increment CPython offers) and are harvested into the totals by
    ``statistics()`` and at every rebuild; the generated shapes count per
    exit path (one cell per raise) and derive the totals at harvest. Raises
    of an intrinsic-only event without a charge hook are plain calls and are
    not counted. A budget is entered with a test and two stores: the generated
    function's closure shares the budget's counter and depth cells.

Trust
    A guard is trusted to be side-effect free. ``Eq`` is declarative. A
    predicate guard may be any callable; a function from ``verifier.verify``
    that makes no call is side-effect free by construction (it can only
    read its arguments), anything else is trusted as kernel code is. Only a
    guard proved (or, by trusted code, declared) a pure expression is
    inlined; inlining evaluates the same expression, so errors and counts
    are those of a call.

Simulated cost
    The dispatcher is kernel code and charges, through the optional
    ``charge(cycles)`` hook or inline into ``clock.now`` (``clock=``, e.g.
    the machine's event loop: no call), the primitives of :class:`Costs`
    (derived from a machine Profile), once per raise for the path it took.

Interface
    ``Event(name, arg_types, result_type, intrinsic=, authority=, default=,
    result_handler=, asynchronous=)``; ``d = Dispatcher(charge=, costs=, profile=, clock=)``;
    ``d.install(event, fn, closure=, guards=, order=, cancel=, asynchronous=,
    budget=, installer=) -> Handler``; ``d.uninstall(handler)``;
    ``event.raise_(*args)`` or ``d.raise_(event, *args)``; ``d.run_pending()``;
    ``d.statistics()``; ``d.log``.
"""

from __future__ import annotations

import functools
import inspect
import sys
import types
import typing
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..machine import Profile
from ..verifier import SETTLE_EVERY, Budget, BudgetExceeded, expression

__all__ = [
    "After", "Before", "Costs", "Decision", "Dispatcher", "DispatcherStats", "Eq", "Event",
    "First", "Handler", "Last", "NoHandler", "Order", "Refused", "TypeMismatch",
]


class NoHandler(LookupError):
    """No handler ran and the event has no default handler (raised at the raise point)."""


class Refused(PermissionError):
    """The event's authority refused an installation."""


class TypeMismatch(TypeError):
    """A handler or guard does not fit the event's signature."""


# ------------------------------------------------------------------ guards and ordering


@dataclass(frozen=True, slots=True)
class Eq:
    """The declarative guard ``args[index] == value``; indexed by the dispatcher."""

    index: int
    value: Any


@dataclass(frozen=True, slots=True)
class Order:
    """Where a handler goes in the list: ``First``, ``Last``, ``Before(h)``, ``After(h)``."""

    where: str
    other: Handler | None = None


First = Order("first")
Last = Order("last")


def Before(h: Handler) -> Order:  # noqa: N802 - reads as SPIN's ordering constraint
    return Order("before", h)


def After(h: Handler) -> Order:  # noqa: N802
    return Order("after", h)


@dataclass(frozen=True, slots=True)
class Decision:
    """What an authority imposes on an installation: extra guards and/or an order."""

    guards: tuple[Any, ...] = ()
    order: Order | None = None


_NO_CLOSURE: Any = object()


class Handler:
    """One installed handler. Returned by ``install``; pass it to ``uninstall``."""

    __slots__ = ("event", "fn", "closure", "guards", "cancel", "asynchronous", "budget",
                 "installer", "installed", "call")

    def __init__(self, event: Event, fn: Callable[..., Any], closure: Any, guards: tuple[Any, ...],
                 cancel: bool, asynchronous: bool, budget: Budget | None, installer: Any) -> None:
        self.event = event
        self.fn = fn
        self.closure = closure
        self.guards = guards
        self.cancel = cancel
        self.asynchronous = asynchronous
        self.budget = budget
        self.installer = installer
        self.installed = True
        #: fn with the closure bound (what the general path calls)
        self.call: Callable[..., Any] = fn if closure is _NO_CLOSURE else _bind(fn, closure)

    @property
    def plain(self) -> bool:
        """No closure, no budget, synchronous, no cancel: a candidate for straight-line code."""
        return (self.closure is _NO_CLOSURE and self.budget is None and not self.asynchronous
                and not self.cancel)

    def __repr__(self) -> str:
        return f"<Handler {getattr(self.fn, '__name__', self.fn)!r} on {self.event.name}>"


def _bind(fn: Callable[..., Any], closure: Any) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        return fn(closure, *args)
    return call


# ------------------------------------------------------------------ events


class Event:
    """A typed procedure signature. ``raise_`` is rebuilt whenever its handlers change."""

    __slots__ = ("name", "arg_types", "result_type", "intrinsic", "authority", "default",
                 "result_handler", "asynchronous", "raise_", "handlers", "intrinsic_handler",
                 "_dispatcher", "_harvest")

    def __init__(self, name: str, arg_types: tuple[type, ...], result_type: Any = None,
                 intrinsic: Callable[..., Any] | None = None, authority: Any = None, *,
                 default: Callable[..., Any] | None = None,
                 result_handler: Callable[[list[Any]], Any] | None = None,
                 asynchronous: bool = False) -> None:
        self.name = name
        self.arg_types = tuple(arg_types)
        self.result_type = result_type
        self.intrinsic = intrinsic
        self.authority = authority
        #: called with the arguments when no handler runs
        self.default = default
        #: combines the results when more than one handler runs (else: the last result)
        self.result_handler = result_handler
        #: the raiser never waits: the dispatch is queued for ``run_pending``
        self.asynchronous = asynchronous
        #: the installed handlers, in order (a tuple, replaced on every change)
        self.handlers: tuple[Handler, ...] = ()
        self.intrinsic_handler: Handler | None = None
        self._dispatcher: Dispatcher | None = None
        self._harvest: Callable[[], tuple[int, int, int, int]] = _nothing
        if intrinsic is not None:
            _check_signature(self, intrinsic, False, "intrinsic handler")
            self.intrinsic_handler = Handler(self, intrinsic, _NO_CLOSURE, (), False, False, None,
                                             authority)
            self.handlers = (self.intrinsic_handler,)
        self.raise_: Callable[..., Any] = intrinsic if intrinsic is not None else self._unbound

    def _unbound(self, *args: Any) -> Any:
        if self.default is not None:
            return self.default(*args)
        raise NoHandler(f"event {self.name}: no handler")

    def __repr__(self) -> str:
        return f"<Event {self.name}{tuple(t.__name__ for t in self.arg_types)}>"


def _nothing() -> tuple[int, int, int, int]:
    return (0, 0, 0, 0)


def _check_signature(event: Event, fn: Callable[..., Any], closure: bool, what: str) -> None:
    """Arity against the signature (plus the closure); annotations, where present, against types."""
    n = len(event.arg_types) + (1 if closure else 0)
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # a builtin without a signature: nothing to check
    try:
        sig.bind(*range(n))
    except TypeError:
        raise TypeMismatch(f"{what} {getattr(fn, '__name__', fn)!r} does not take {n} "
                           f"positional argument(s) for event {event.name}") from None
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        return  # unresolvable annotations are not checked
    params = [p for p in sig.parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)][1 if closure else 0:]
    for p, t in zip(params, event.arg_types, strict=False):
        ann = hints.get(p.name)
        if ann is not Any and isinstance(ann, type) and isinstance(t, type) and not issubclass(t, ann):
            raise TypeMismatch(f"{what} {getattr(fn, '__name__', fn)!r}: parameter {p.name!r} is "
                               f"{ann.__name__}, event {event.name} passes {t.__name__}")


# ------------------------------------------------------------------ costs and statistics


@dataclass(frozen=True, slots=True)
class Costs:
    """Cycles the dispatcher charges, from a machine profile's primitives."""

    #: call into the dispatcher and load the event's handler list
    raise_: int
    #: evaluate one guard: load its operand, compare, branch
    guard: int
    #: call one handler
    handler: int
    #: one equality-index lookup: hash, mask, load, compare
    index: int
    #: queue one asynchronous dispatch: two stores and a pointer bump
    enqueue: int

    @classmethod
    def from_profile(cls, p: Profile) -> Costs:
        return cls(raise_=p.proc_call + p.mem_ref, guard=p.mem_ref + 2 * p.insn,
                   handler=p.proc_call, index=3 * p.insn + p.mem_ref,
                   enqueue=2 * p.mem_ref + p.insn)


ZERO_COSTS = Costs(0, 0, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class DispatcherStats:
    raises: int
    handlers_run: int
    guards_evaluated: int
    index_lookups: int
    terminated: int
    installs: int
    uninstalls: int
    refusals: int
    pending: int


# ------------------------------------------------------------------ the dispatcher

_FATAL = (Exception, BudgetExceeded)

#: Python frames of stack the termination of a handler may use beyond the recursion limit
KERNEL_STACK = 200
#: the longest message of a handler's exception that goes into a reason
REASON_CHARS = 200


def reason(e: BaseException) -> str:
    """Why a handler was terminated, readable and bounded: its exception's class and message
    (cut to REASON_CHARS; an extension's exception whose message cannot be made, say its
    argument is nested too deep for ``str``, is named by its class alone)."""
    if type(e) is BudgetExceeded:  # (a QuotaExceeded, also a BudgetExceeded, says its quota)
        return "budget exceeded"
    try:
        msg = str(e)
    except Exception:  # e.g. RecursionError: its argument is nested too deep
        msg = "(its message could not be formatted)"
    if len(msg) > REASON_CHARS:
        msg = msg[:REASON_CHARS] + f"... ({len(msg)} characters)"
    return f"{type(e).__name__}: {msg}"

#: The most handlers an event may have for its raise function to be generated as
#: straight-line code (beyond it, a loop: compile time grows with the code).
UNROLL = 64


class Dispatcher:
    """Installs handlers, compiles each event's raise function, runs asynchronous work."""

    def __init__(self, charge: Callable[[int], Any] | None = None, costs: Costs | None = None,
                 profile: Profile | None = None, clock: Any = None) -> None:
        """``charge(cycles)`` or ``clock`` (an object with an int ``now``, e.g. the machine's
        event loop; the generated code then does ``clock.now += cycles`` inline, saving a
        call per raise) receives the simulated cycles; give at most one."""
        if charge is not None and clock is not None:
            raise ValueError("Dispatcher: give charge or clock, not both")
        if clock is not None:
            def charge(cycles: int) -> None:
                clock.now += cycles
        #: the charge hook (a closure over ``clock`` when one was given)
        self.charge = charge
        #: the object whose ``now`` the generated code advances inline (or None)
        self.clock = clock
        self.costs = costs if costs is not None else (
            Costs.from_profile(profile) if profile is not None else ZERO_COSTS)
        self.events: list[Event] = []
        #: (event name, handler repr, reason) for every terminated handler, in order
        self.log: list[tuple[str, str, str]] = []
        self._pending: deque[tuple[Callable[..., Any], tuple[Any, ...]]] = deque()
        self._totals = [0, 0, 0, 0]  # raises, handlers run, guards evaluated, index lookups
        self._terminated = self._installs = self._uninstalls = self._refusals = 0
        #: called with (handler, reason) after a handler is terminated (the kernel unloads
        #: the extension it came from)
        self.on_terminate: Callable[[Handler, str], Any] | None = None

    # -- definition and installation

    def define(self, event: Event) -> Event:
        """Bind an event to this dispatcher (done by the first install, too)."""
        if event._dispatcher is self:
            return event
        if event._dispatcher is not None:
            raise ValueError(f"event {event.name} belongs to another dispatcher")
        event._dispatcher = self
        self.events.append(event)
        self._rebuild(event)
        return event

    def install(self, event: Event, fn: Callable[..., Any], *, closure: Any = _NO_CLOSURE,
                guards: Sequence[Any] = (), order: Order = Last, cancel: bool = False,
                asynchronous: bool = False, budget: Budget | None = None,
                installer: Any = None) -> Handler:
        """Install ``fn`` on ``event``; the authority may refuse (``Refused``), add guards
        or impose an order. ``closure`` (if given) is passed as an extra first argument.
        ``budget`` (a verified handler's ``Verified.budget``, its domain's) bounds each
        activation of the domain: it is restored before a call only when the domain is not
        already running further up the stack (``Budget.enter``)."""
        self.define(event)
        has_closure = closure is not _NO_CLOSURE
        _check_signature(event, fn, has_closure, "handler")
        gs = tuple(guards)
        for g in gs:
            self._check_guard(event, g)
        h = Handler(event, fn, closure, gs, cancel, asynchronous, budget, installer)
        if event.authority is not None:
            try:
                decision = event.authority.on_install(event, h, installer)
            except Exception as e:
                self._refusals += 1
                raise Refused(f"event {event.name}: {e}") from e
            if decision is not None:
                for g in decision.guards:
                    self._check_guard(event, g)
                h.guards = gs + tuple(decision.guards)
                if decision.order is not None:
                    order = decision.order
        hs = list(event.handlers)
        if order.where == "first":
            hs.insert(0, h)
        elif order.where == "last":
            hs.append(h)
        else:
            if order.other is None or order.other not in hs:
                raise ValueError(f"{order.where}: {order.other!r} is not installed on {event.name}")
            i = hs.index(order.other)
            hs.insert(i if order.where == "before" else i + 1, h)
        event.handlers = tuple(hs)
        self._installs += 1
        self._rebuild(event)
        return h

    def uninstall(self, handler: Handler) -> None:
        if not handler.installed:
            return
        event = handler.event
        handler.installed = False
        event.handlers = tuple(h for h in event.handlers if h is not handler)
        self._uninstalls += 1
        self._rebuild(event)

    @staticmethod
    def _check_guard(event: Event, g: Any) -> None:
        if isinstance(g, Eq):
            if not 0 <= g.index < len(event.arg_types):
                raise TypeMismatch(f"Eq guard on argument {g.index}: event {event.name} has "
                                   f"{len(event.arg_types)} argument(s)")
        elif callable(g):
            _check_signature(event, g, False, "guard")
        else:
            raise TypeMismatch(f"guard {g!r} is neither Eq nor callable")

    # -- raising

    def raise_(self, event: Event, *args: Any) -> Any:
        return event.raise_(*args)

    def run_pending(self) -> int:
        """Run queued asynchronous work in FIFO order (including work it queues). Returns
        how many items ran."""
        q = self._pending
        n = 0
        while q:
            fn, args = q.popleft()
            n += 1
            try:
                fn(*args)
            except NoHandler:
                pass  # an asynchronous raise has no one to report to
        return n

    def terminate(self, h: Handler, e: BaseException) -> None:
        """Terminate ``h`` for ``e`` as if it had raised it (the kernel's checks of what a
        handler returned: its result failed them)."""
        self._terminate(h, e)

    def _terminate(self, h: Handler, e: BaseException) -> None:
        """``h`` raised or overran: uninstall it, log why, tell the kernel (which unloads its
        domain). Runs with a reserve of stack: a handler that failed at the edge of Python's
        recursion limit (its own deep recursion) must not make the termination fail half-way.
        A handler already uninstalled (its domain was unloaded while it ran, further up
        the stack) is not counted or logged twice."""
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(limit + KERNEL_STACK)
        try:
            kind = reason(e)
            if h.installed:
                self._terminated += 1
                self.log.append((h.event.name, repr(h), kind))
                self.uninstall(h)
            if self.on_terminate is not None:
                self.on_terminate(h, kind)
        finally:
            sys.setrecursionlimit(limit)

    # -- statistics

    def statistics(self) -> DispatcherStats:
        t = self._totals
        for ev in self.events:
            r = ev._harvest()
            for i in range(4):
                t[i] += r[i]
        return DispatcherStats(t[0], t[1], t[2], t[3], self._terminated, self._installs,
                               self._uninstalls, self._refusals, len(self._pending))

    # -- compiling the raise function

    def _rebuild(self, event: Event) -> None:
        r = event._harvest()
        for i in range(4):
            self._totals[i] += r[i]
        event._harvest = _nothing
        hs = event.handlers
        if event.asynchronous:
            sync = self._compile(event, hs)
            pend = self._pending.append
            charge, c = self.charge, self.costs.enqueue

            def queue(*args: Any) -> None:
                if charge is not None:
                    charge(c)
                pend((sync, args))
            event.raise_ = queue
        else:
            event.raise_ = self._compile(event, hs)

    def _compile(self, event: Event, hs: tuple[Handler, ...]) -> Callable[..., Any]:
        n = len(event.arg_types)
        if (len(hs) == 1 and hs[0] is event.intrinsic_handler and self.charge is None):
            return hs[0].fn  # an ordinary procedure call
        col = _index_column(hs)
        if col is not None and all(h.closure is _NO_CLOSURE and not h.asynchronous and not h.cancel
                                   and len(h.guards) == 1 and _eq_on(h, col) for h in hs):
            keys = [h.guards[0].value for h in hs]
            if len(set(keys)) == len(keys):
                return self._gen_indexed(event, hs, col, n)
        if len(hs) == 1 and not hs[0].asynchronous:
            return self._gen_one(event, hs[0], n)
        if col is None and 1 < len(hs) <= UNROLL and not any(h.asynchronous for h in hs):
            return self._gen_many(event, hs, n)
        return self._general(event, hs, col)

    def _none(self, event: Event) -> Callable[..., Any]:
        """What a raise returns when no handler ran."""
        default, charge, c = event.default, self.charge, self.costs.handler
        if default is None:
            def none(*args: Any) -> Any:
                raise NoHandler(f"event {event.name}: no handler ran for {args!r}")
        elif charge is None:
            none = default
        else:
            def none(*args: Any) -> Any:
                charge(c)
                return default(*args)
        return none

    # -- code generation: helpers shared by the three generated shapes

    def _env(self, event: Event) -> dict[str, Any]:
        kill = self._terminate

        def settle(b: Budget, h: Handler) -> None:
            """The end of an activation, SETTLE_EVERY ticks after the domain's memory was last
            measured: measure it (Budget.settle); past its quota, terminate ``h``."""
            try:
                b.settle()
            except _FATAL as e:
                kill(h, e)

        return {"kill": kill, "none": self._none(event), "charge": self.charge,
                "clock": self.clock, "FATAL": _FATAL, "settle": settle, "SETTLE": SETTLE_EVERY}

    def _ch(self, cycles: int | str) -> list[str]:
        """The statement that charges ``cycles`` (a constant or an expression), if any."""
        if self.clock is not None:
            return [f"clock.now += {cycles}"]
        return [f"charge({cycles})"] if self.charge is not None else []

    @staticmethod
    def _test(g: Any, name: str, a: str, env: dict[str, Any]) -> str:
        """A guard as an expression: ``Eq`` as ``==``, a pure function inline, else a call."""
        if isinstance(g, Eq):
            env[name] = g.value
            return f"(a{g.index} == {name})"
        p = expression(g)
        if p is not None:
            return p.inline([f"a{i}" for i in range(len(p.params))])
        env[name] = g
        return f"{name}({a})"

    @staticmethod
    def _invoke(h: Handler, k: int, a: str, env: dict[str, Any], budgets: dict[str, Any],
                stmt: str, fail: list[str], after: Sequence[str] = ()) -> list[str]:
        """The lines that call handler ``k``: ``stmt`` (``"return {}"`` or ``"r = {}"``) around
        the call in a ``try``, ``fail`` as its ``except FATAL as e:`` body and ``after`` as its
        ``else:`` body. A budgeted handler is one activation of its domain: when none is in
        progress (``dep`` is 0) the budget is restored (``bud = limit``) and the activation
        marked for the call; a nested entry (the domain is already running further up the
        stack) calls it on what remains. Both are plain stores into the budget's cells."""
        env[f"f{k}"] = h.fn
        if h.closure is _NO_CLOSURE:
            call = f"f{k}({a})"
        else:
            env[f"c{k}"] = h.closure
            call = f"f{k}(c{k}{', ' if a else ''}{a})"
        body = ["try:", "    " + stmt.format(call), "except FATAL as e:", *("    " + x for x in fail)]
        if after:
            body += ["else:", *("    " + x for x in after)]
        if h.budget is None:
            return body
        budgets[f"bud{k}"], budgets[f"dep{k}"] = h.budget.cell, h.budget.depth_cell
        budgets[f"use{k}"] = h.budget.used_cell
        env[f"B{k}"], env[f"HB{k}"] = h.budget, h
        # the outermost activation's end adds its ticks and 1 to ``use``; every SETTLE of them
        # the domain's memory is measured (Budget.settle)
        return [f"if dep{k}:", *("    " + x for x in body),
                "else:", f"    bud{k} = {h.budget.limit}", f"    dep{k} = 1",
                *("    " + x for x in body), "    finally:", f"        dep{k} = 0",
                f"        use{k} += {h.budget.limit + 1} - bud{k}",
                f"        if use{k} > SETTLE:", f"            settle(B{k}, HB{k})"]

    def _gen_one(self, event: Event, h: Handler, n: int) -> Callable[..., Any]:
        """Straight-line code for one synchronous handler: its guards inline (nested ifs),
        then the call. Counted in bulk: one counter per exit (hit, miss at guard j, error
        at guard j), so the hit path increments one cell."""
        a = ", ".join(f"a{i}" for i in range(n))
        env = self._env(event)
        env["H"] = h
        budgets: dict[str, Any] = {}
        c = self.costs
        gs = h.guards
        m = len(gs)
        errs = [0] * m
        charge, kill = self.charge, self._terminate

        def gfail(j: int, e: BaseException) -> None:
            """Guard j raised: count and charge the guards evaluated, terminate the handler."""
            errs[j] += 1
            if charge is not None:
                charge(c.raise_ + (j + 1) * c.guard)
            kill(h, e)

        env["gfail"], env["errs"] = gfail, errs
        hit = ["hits += 1", *self._ch(c.raise_ + m * c.guard + c.handler),
               *self._invoke(h, 0, a, env, budgets, "return {}", ["kill(H, e)"])]
        body: list[str] = []
        if m:
            if m > 1:
                body.append("j = 0")
            body.append("try:")
            depth = 4
            for j, g in enumerate(gs):
                if j:
                    body.append(" " * depth + f"j = {j}")
                body.append(" " * depth + f"if {self._test(g, f'v{j}', a, env)}:")
                depth += 4
            body += [" " * depth + line for line in hit]
            for j in reversed(range(m)):
                depth -= 4
                body.append(" " * depth + "else:")
                body += [" " * (depth + 4) + line
                         for line in [f"m{j} += 1", *self._ch(c.raise_ + (j + 1) * c.guard)]]
            body += ["except FATAL as e:", f"    gfail({'j' if m > 1 else '0'}, e)"]
        else:
            body += hit
        body.append(f"return none({a})")
        misses = [f"m{j}" for j in range(m)]
        cells = ["hits", *misses]
        stats = (" + ".join(["hits", *misses, *(f"errs[{j}]" for j in range(m))]), "hits",
                 " + ".join([f"{m} * hits", *(f"{j + 1} * (m{j} + errs[{j}])" for j in range(m))]),
                 "0")
        return self._load(event, a, cells, body, stats, env, budgets, ["errs[:] = [0] * len(errs)"])

    def _gen_indexed(self, event: Event, hs: tuple[Handler, ...], col: int,
                     n: int) -> Callable[..., Any]:
        """One dict lookup finds the only handler whose equality guard can hold."""
        a = ", ".join(f"a{i}" for i in range(n))
        env = self._env(event)
        # a handler of a verified extension runs under its domain's budget, one activation
        # per entry from outside the domain: the distinct budgets (domains) are numbered
        # 1.. and each gets its counter and depth cells as free variables (``bud<j>``,
        # ``dep<j>``), so entering is a test and two plain stores, as in _invoke
        which: dict[int, int] = {}
        budgets: dict[str, Any] = {}
        for h in hs:
            b = h.budget
            if b is not None and id(b) not in which:
                j = which[id(b)] = len(which) + 1
                budgets[f"bud{j}"], budgets[f"dep{j}"] = b.cell, b.depth_cell
                budgets[f"use{j}"] = b.used_cell
                env[f"lim{j}"], env[f"lim{j}p"], env[f"B{j}"] = b.limit, b.limit + 1, b
        env["get"] = {h.guards[0].value: (h.fn, 0 if h.budget is None else which[id(h.budget)])
                      for h in hs}.get
        env["owner"] = {h.guards[0].value: h for h in hs}
        c = self.costs
        call = ["try:", f"    return f({a})", "except FATAL as e:", f"    kill(owner[a{col}], e)"]
        enter: list[str] = []
        for j in range(1, len(which) + 1):
            enter += [*([f"if j == {j}:"] if len(which) > 1 else []),
                      f"    if not dep{j}:", f"        bud{j} = lim{j}", f"        dep{j} = 1",
                      *("        " + x for x in call), "        finally:", f"            dep{j} = 0",
                      f"            use{j} += lim{j}p - bud{j}",
                      f"            if use{j} > SETTLE:", f"                settle(B{j}, owner[a{col}])",
                      f"        return none({a})"]
            if len(which) == 1:
                enter = [x[4:] for x in enter]
        body = [f"e = get(a{col})",
                "if e is not None:",
                "    hits += 1",
                *("    " + s for s in self._ch(c.raise_ + c.index + c.handler)),
                "    f, j = e",
                *(["    if j:", *("        " + x for x in enter)] if enter else []),
                *("    " + x for x in call),
                "else:",
                "    miss += 1",
                *("    " + s for s in self._ch(c.raise_ + c.index)),
                f"return none({a})"]
        return self._load(event, a, ["hits", "miss"], body,
                          ("hits + miss", "hits", "0", "hits + miss"), env, budgets)

    def _gen_many(self, event: Event, hs: tuple[Handler, ...], n: int) -> Callable[..., Any]:
        """Straight-line code for several synchronous handlers and no equality index: each
        handler's guards inline, in order; results gathered without a list for the common
        case of one. Guards of single-guard handlers are counted at compile time."""
        a = ", ".join(f"a{i}" for i in range(n))
        env = self._env(event)
        env["combine"] = event.result_handler
        budgets: dict[str, Any] = {}
        c = self.costs
        body = ["raises += 1", "ge = nr = n = 0", "r0 = rs = None"]
        static = 0  # guards certainly evaluated so far (those of single-guard handlers)

        def end(static: int) -> list[str]:
            total = f"{static} + ge" if static else "ge"
            return ["gev += " + total, "ran += nr",
                    *self._ch(f"{c.raise_} + ({total}) * {c.guard} + nr * {c.handler}"),
                    "if n == 1:", "    return r0",
                    "if n == 0:", f"    return none({a})",
                    "return combine(rs) if combine is not None else rs[-1]"]

        for k, h in enumerate(hs):
            env[f"H{k}"] = h
            gs = h.guards
            m = len(gs)
            if m:
                if m > 1:
                    body.append("j = 0")
                body += ["t = False", "try:"]
                depth = 4
                for j, g in enumerate(gs):
                    if j:
                        body.append(" " * depth + f"j = {j}")
                    body.append(" " * depth + f"if {self._test(g, f'v{k}_{j}', a, env)}:")
                    depth += 4
                body += [" " * depth + "t = True", "except FATAL as e:", f"    kill(H{k}, e)"]
                if m > 1:
                    body.append("ge += j + 1")
                else:
                    static += 1
            got = ["if n == 0:", "    r0 = r", "elif n == 1:", "    rs = [r0, r]", "else:",
                   "    rs.append(r)", "n += 1"]
            if h.cancel:  # stop after this handler if it ran (and was not terminated)
                got += end(static)
            run = ["nr += 1", *self._invoke(h, k, a, env, budgets, "r = {}", [f"kill(H{k}, e)"], got)]
            body += ["if t:", *("    " + line for line in run)] if m else run
        body += end(static)
        return self._load(event, a, ["raises", "ran", "gev"], body,
                          ("raises", "ran", "gev", "0"), env, budgets)

    @staticmethod
    def _load(event: Event, a: str, cells: list[str], body: list[str],
              stats: tuple[str, str, str, str], env: dict[str, Any], budgets: dict[str, Any],
              clear: Sequence[str] = ()) -> Callable[..., Any]:
        """Assemble, compile and bind a generated raise body. ``make(env...)`` returns
        ``raise_(a...)`` and ``harvest()``, which hands the counts (the ``stats``
        expressions over the counter ``cells``: raises, handlers run, guards evaluated,
        index lookups) to statistics() and clears them. Each ``budgets`` name is a free
        variable of raise_ that is bound to the cell it maps to (a budget's counter or its
        activation depth), so that ``bud0 = limit`` in the body resets the budget with one
        store and ``dep0 = 1`` marks its activation with another."""
        free = ", ".join([*cells, *budgets])
        src = "\n".join([
            "def make():",
            f"    {' = '.join(cells)} = 0",
            *([f"    {' = '.join(budgets)} = None"] if budgets else []),
            f"    def raise_({a}):",
            f"        nonlocal {free}",
            *("        " + line for line in body),
            "    def harvest():",
            f"        nonlocal {', '.join(cells)}",
            f"        out = ({', '.join(stats)})",
            f"        {' = '.join(cells)} = 0",
            *("        " + line for line in clear),
            "        return out",
            "    return raise_, harvest",
        ])
        # env is the generated code's globals (its own namespace): the closure holds only
        # the counters and budget cells, so a call copies few free variables
        ns: dict[str, Any] = dict(env)
        exec(_compiled(src, f"<dispatch {event.name}>"), ns)
        raise_, harvest = ns["make"]()
        if budgets:
            code = raise_.__code__
            closure = tuple(budgets[name] if name in budgets else cell
                            for name, cell in zip(code.co_freevars, raise_.__closure__, strict=True))
            raise_ = types.FunctionType(code, raise_.__globals__, raise_.__name__, None, closure)
        event._harvest = harvest
        return typing.cast(Callable[..., Any], raise_)

    def _general(self, event: Event, hs: tuple[Handler, ...], col: int | None) -> Callable[..., Any]:
        """Any shape: a loop over the (index-narrowed) ordered list."""
        # entry: (handler, call, guards without the indexed Eq, cancel, async, budget)
        Entry = tuple[Handler, Callable[..., Any], tuple[Any, ...], bool, bool, Budget | None]

        def entry(h: Handler, drop: Eq | None) -> Entry:
            gs = tuple(g for g in h.guards if g is not drop)
            return (h, h.call, gs, h.cancel, h.asynchronous, h.budget)

        index: dict[Any, tuple[Entry, ...]] = {}
        if col is not None:
            keyed = [_eq_on(h, col) for h in hs]
            rest = tuple(entry(h, None) for h, k in zip(hs, keyed, strict=True) if k is None)
            for key in {k.value for k in keyed if k is not None}:
                index[key] = tuple(entry(h, k) for h, k in zip(hs, keyed, strict=True)
                                   if k is None or k.value == key)
        else:
            rest = tuple(entry(h, None) for h in hs)
        get = index.get
        none = self._none(event)
        kill, charge, pend = self._terminate, self.charge, self._pending.append
        combine = event.result_handler
        c = self.costs
        counts = [0, 0, 0, 0]
        base = c.raise_ + (c.index if col is not None else 0)

        def run_async(h: Handler, call: Callable[..., Any], budget: Budget | None,
                      args: tuple[Any, ...]) -> None:
            if not h.installed:
                return
            if charge is not None:
                charge(c.handler)
            try:
                if budget is None:
                    call(*args)
                else:  # one activation of the domain (see Budget.enter)
                    budget.enter()
                    try:
                        call(*args)
                    finally:
                        budget.leave()
            except _FATAL as e:
                kill(h, e)

        def raise_(*args: Any) -> Any:
            counts[0] += 1
            entries = rest if col is None else get(args[col], rest)
            if col is not None:
                counts[3] += 1
            cycles = base
            results: list[Any] = []
            ge = 0
            for h, call, gs, cancel, asyn, budget in entries:
                ok = True
                try:
                    for g in gs:
                        ge += 1
                        if not (args[g.index] == g.value if type(g) is Eq else g(*args)):
                            ok = False
                            break
                except _FATAL as e:
                    kill(h, e)
                    continue
                if not ok:
                    continue
                if asyn:
                    cycles += c.enqueue
                    pend((run_async, (h, call, budget, args)))
                else:
                    cycles += c.handler
                    counts[1] += 1
                    try:
                        if budget is None:
                            results.append(call(*args))
                        else:  # one activation of the domain (see Budget.enter)
                            budget.enter()
                            try:
                                results.append(call(*args))
                            finally:
                                budget.leave()
                    except _FATAL as e:
                        kill(h, e)
                        continue
                if cancel:
                    break
            counts[2] += ge
            if charge is not None:
                charge(cycles + ge * c.guard)
            if not results:
                return none(*args)
            if len(results) == 1:
                return results[0]
            return combine(results) if combine is not None else results[-1]

        def harvest() -> tuple[int, int, int, int]:
            out = (counts[0], counts[1], counts[2], counts[3])
            counts[:] = [0, 0, 0, 0]
            return out

        event._harvest = harvest
        return raise_


@functools.lru_cache(maxsize=512)
def _compiled(src: str, filename: str) -> types.CodeType:
    """``compile`` for generated raise functions, cached by their text. The text holds no
    handler, guard value or count (those are the globals and cells each rebuild binds
    afresh), so an event whose handlers change but not its shape (an indexed event: one
    more port, one more address space) reuses the code: installing the N-th handler on
    such an event no longer compiles anything (SPIN's installation cost grew with the
    handlers; design/spin.md, "Known problems")."""
    return compile(src, filename, "exec")


def _eq_on(h: Handler, col: int) -> Eq | None:
    for g in h.guards:
        if type(g) is Eq and g.index == col:
            return g
    return None


def _index_column(hs: tuple[Handler, ...]) -> int | None:
    """The argument most handlers guard by equality (None if none does)."""
    counts: dict[int, int] = {}
    for h in hs:
        for i in {g.index for g in h.guards if type(g) is Eq}:
            counts[i] = counts.get(i, 0) + 1
    if not counts:
        return None
    return max(sorted(counts), key=lambda i: counts[i])
