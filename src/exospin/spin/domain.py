"""Protection domains and dynamic linking: SPIN's Create / Resolve / Combine / Unresolve.

What this models
    SPIN (Bershad et al., SOSP 1995, section 3.1; Sirer et al., "Safe
    dynamic linking in an extensible operating system", 1996). A *domain* is
    a set of names code can reference. ``Domain.create`` makes one from a
    checked extension: its top-level functions and classes are exported
    under an interface name, its imports are unresolved. ``resolve(source,
    target)`` links the target's imports against the source's exports;
    ``combine`` makes a domain exporting the union (``SpinPublic``);
    ``unresolve`` undoes a target's links so a newer version can be linked.
    Authorisation happens at link time, in the ``NameServer``: an exporter
    registers a domain with a procedure that is told who is asking.

Why calls are direct
    The extension's module namespace is its linkage table. ``resolve``
    writes the real Python objects into it (``from spin.Bench import null``
    binds ``null`` to the exporter's function itself, if the exporter is
    kernel code), so a call across domains is a plain Python call: no proxy,
    no per-call check. A function a *verified* domain exports is bound in
    another domain as its *entry* (``Domain.entry``): a closure that makes the
    call one activation of the exporter, as the dispatcher does for a handler
    (its budget restored if none is in progress, a nested entry continuing on
    what remains: a test and two stores), and that turns a fault of the
    exporter's code (its budget, its quota, RecursionError, MemoryError) into
    the exporter's end (``on_fault``: the kernel unloads it) and a
    ``DomainFault`` in the caller, which goes on. Its classes are bound as
    they are (their methods run in the caller's activation). A domain
    that is not fully resolved must not run, and that too costs nothing per
    call: while unresolved, the ``__code__`` of each function the extension
    defined is swapped for a stub that raises ``NotResolved`` naming the
    missing imports, and the real code is put back when the last import is
    linked. Function objects keep their identity, so whoever already holds
    one (a linked domain, an installed event handler) sees the domain stop
    and start. Verified code cannot see or change ``__code__`` (the verifier
    refuses names beginning with ``_``).

What is simplified
    * An import ``M.N`` resolves against a source that exports an interface
      named ``M.N`` (it binds to the interface object, ``N.member(...)``) or
      an interface ``M`` with a member ``N`` (it binds to the member
      itself). A bare ``import spin`` names no interface and is refused.
    * The module body runs once, at ``create``, before anything is linked:
      it may define functions, classes and constants, but using an import at
      load time is a ``LinkError``. (Modula-3 ran module initialisation after
      linking.)
    * Interface objects are immutable (``__slots__ = ()``); their members are
      the exporter's own objects.
    * An extension's exported class is *frozen* the first time it is linked
      into another domain (``freeze``): its list, set, dict and bytearray
      attributes become tuple, frozenset, read-only mapping and bytes (the
      exporter's own code sees them frozen too), its nested classes are
      frozen, and a class holding anything else that could be changed (an
      object) is refused with a ``LinkError``. Verified code cannot assign
      or delete a class's attributes at all (verifier/ownership.py), so a
      frozen class is the same for every domain for ever.
    * Only functions without free variables can be stubbed; the module-level
      functions and methods of an extension have none.

Interface
    ``Domain.create(source, filename, interface=..., trusted=False)``;
    ``Domain.kernel(name, {"spin.Trap": {"install": fn}})`` for interfaces
    written in trusted Python; ``resolve``, ``combine``, ``unresolve``;
    ``Domain.resolved``, ``Domain.exports``, ``Domain.interface(name)``,
    ``Domain.identity``, ``Domain.statistics()``; ``Domain.entry(imp, value)``,
    ``Domain.on_fault``, ``DomainFault``, ``DomainUnloaded``; ``retire()`` / ``revive()``
    (the kernel stops an unloaded domain's functions, and starts them again).
"""

from __future__ import annotations

import ast
import functools
import itertools
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..verifier import (
    DEFAULT_BUDGET,
    HOOK,
    HOOK_N,
    SETTLE_EVERY,
    BudgetExceeded,
    OpCosts,
    QuotaExceeded,
    Verified,
    module_name,
    verify,
)

#: The global name of a domain's "not resolved" hook inside its namespace (the
#: stubs call it). Verified code cannot name it: it begins with '_'.
UNRESOLVED_HOOK = "__unresolved__"

_uids = itertools.count(1)


class LinkError(Exception):
    """A domain could not be created, linked, combined or registered."""


class NotResolved(LinkError):
    """Code of a domain that is not fully resolved was called."""


class DomainFault(Exception):
    """A call into another domain's exported procedure ended that domain: its code faulted
    (ran out of its budget or quota, RecursionError, MemoryError) and the kernel unloaded
    it. An ordinary exception in the caller, which goes on."""


class DomainUnloaded(NotResolved, DomainFault):
    """A call into a procedure of a domain the kernel unloaded (its exports died with it):
    an ordinary exception in the caller, which may catch it and go on."""


#: What ends the callee's domain when its code raises it during a call from another domain
#: (an ordinary exception is the callee's answer, and passes to the caller as it is).
_FAULTS = (BudgetExceeded, RecursionError, MemoryError)


#: Hidden names (verifier/bounded.py) whose call may charge a budget.
_CHARGING = ("__b_", "__m_", "__c_fmt__", "__c_star__", "__c_raised__", "__c_setslice__",
             "__c_cmpv__", "__c_method__")


def _may_spend(code: types.CodeType) -> bool:
    """Can code of a verified function spend its domain's budget or fault? Only if it ticks
    (it loops or calls: the verifier put the hook in), calls a checked operator or method
    that charges, or makes nested code (a lambda, a comprehension). A function doing none of
    these runs a bounded number of steps and charges nothing: linked as it is, a call."""
    if HOOK in code.co_names or HOOK_N in code.co_names or any(n.startswith(_CHARGING) for n in code.co_names):
        return True
    return any(isinstance(c, types.CodeType) for c in code.co_consts)


class Denied(LinkError):
    """The name server's authorisation procedure refused the requester."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is asking: what an authorisation procedure is told about a requester."""

    uid: int
    name: str
    #: asserted safe by the kernel (trusted Python or a driver), not only verified
    trusted: bool
    #: accepted by the verifier
    language_safe: bool


@dataclass(frozen=True, slots=True)
class DomainStatistics:
    name: str
    trusted: bool
    language_safe: bool
    #: interface names this domain exports, sorted
    interfaces: tuple[str, ...]
    exported_names: int
    imports: tuple[str, ...]
    unresolved: tuple[str, ...]
    resolved: bool
    #: names of the domains its imports are currently linked against, sorted
    sources: tuple[str, ...]
    resolves: int
    unresolves: int
    #: calls refused because the domain was not resolved
    refused_calls: int


class _Missing:
    """What an import is bound to before it is linked: any use raises NotResolved."""

    __slots__ = ("_name", "_domain")

    def __init__(self, name: str, domain: str) -> None:
        self._name = name
        self._domain = domain

    def _fail(self) -> NotResolved:
        return NotResolved(f"domain {self._domain!r}: {self._name} is used but not linked")

    def __getattr__(self, attr: str) -> Any:
        raise self._fail()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise self._fail()

    def __repr__(self) -> str:
        return f"<unlinked {self._name}>"


def _make_package(module: str, domain: str) -> Any:
    """A per-domain stand-in for an interface module (``spin``): immutable to the extension.

    Linked names are class attributes (``staticmethod`` so functions do not bind);
    any other attribute is a ``_Missing``.
    """

    def missing(self: Any, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Missing(f"{module}.{attr}", domain)

    cls = types.new_class(f"package {module}", (), {}, lambda ns: ns.update(
        __slots__=(), __getattr__=missing, __repr__=lambda self: f"<interface module {module}>"))
    return cls()


def _make_interface(name: str, members: Mapping[str, Any]) -> Any:
    """An interface object: its members as attributes, nothing else, immutable."""
    body: dict[str, Any] = {n: staticmethod(v) for n, v in members.items()}
    body["__slots__"] = ()
    body["__repr__"] = lambda self: f"<interface {name}>"
    return types.new_class(f"interface {name}", (), {}, lambda ns: ns.update(body))()


@functools.lru_cache(maxsize=128)
def _import_modules(source: str) -> frozenset[str]:
    """Every module name (and prefix) ``source`` imports from: the keys ``verify`` needs.
    Cached, as the verifier's compilation is: a kernel links the same sources again."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return frozenset()  # verify reports it
    out: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names = [node.module]
        for n in names:
            parts = n.split(".")
            out.update(".".join(parts[: i + 1]) for i in range(len(parts)))
    return frozenset(out)


def _functions(namespace: Mapping[str, Any]) -> list[types.FunctionType]:
    """The functions an extension defined at top level and in its top-level classes."""
    out: list[types.FunctionType] = []
    for v in namespace.values():
        if isinstance(v, types.FunctionType) and v.__globals__ is namespace:
            out.append(v)
        elif isinstance(v, type):
            out += [f for f in vars(v).values()
                    if isinstance(f, types.FunctionType) and f.__globals__ is namespace]
    return out


@functools.lru_cache(maxsize=1024)
def _stub_code(name: str) -> types.CodeType:
    """Code that calls the namespace's ``__unresolved__`` hook with the function's name."""
    src = f"def stub(*args, **kwargs):\n    return {UNRESOLVED_HOOK}({name!r})\n"
    ns: dict[str, Any] = {}
    exec(compile(src, f"<unresolved {name}>", "exec"), ns)
    code: types.CodeType = ns["stub"].__code__
    return code


class Domain:
    """A set of names code can reference: exported interfaces, and imports to be linked.

    Make one with ``Domain.create`` (an extension, verified here) or
    ``Domain.kernel`` (interfaces written in trusted Python); ``combine``
    makes a union. The kernel links it with ``resolve`` (or through a
    ``NameServer``); it runs only when ``resolved``.
    """

    budget: Any = None  # the verified extension's Budget (None for kernel domains)
    #: the kernel's procedure for a fault of this domain's code during a call from another
    #: domain (it unloads the domain); None: the domain is retired
    on_fault: Callable[[Domain, BaseException], None] | None = None

    def __init__(self, name: str, interfaces: Mapping[str, Mapping[str, Any]], *,
                 trusted: bool, language_safe: bool) -> None:
        """Internal: use ``create``, ``kernel`` or ``combine``."""
        self.name = name
        self.uid = next(_uids)
        self.trusted = trusted
        self.language_safe = language_safe
        self._interfaces: dict[str, types.MappingProxyType[str, Any]] = {
            k: types.MappingProxyType(dict(v)) for k, v in interfaces.items()}
        self._objects: dict[str, Any] = {}  # interface name -> interface object, built lazily
        self._imports: tuple[str, ...] = ()
        self._bound: dict[str, tuple[Any, Domain]] = {}  # import -> (value, source)
        self._namespace: dict[str, Any] = {}
        self._aliases: dict[str, list[str]] = {}  # import -> namespace names bound to it
        self._packages: dict[str, Any] = {}  # module name -> its per-domain stand-in
        self._code: dict[types.FunctionType, tuple[types.CodeType, types.CodeType]] = {}
        self._resolves = self._unresolves = self._refused = 0
        self._retired = False  # unloaded by the kernel: its code does not run
        self._meter: Any = None  # the verified extension's Meter (its quota)
        self._entries: dict[int, Any] = {}  # id(exported function) -> its entry (``entry``)
        self._entry_objects: dict[str, Any] = {}  # interface name -> object of entries
        self._methods: list[types.FunctionType] = []  # methods replaced by entries (_wrap_methods)

    # ------------------------------------------------------------ creation

    @classmethod
    def create(cls, source: str | Verified, filename: str = "<extension>", *,
               name: str | None = None, interface: str | None = None, trusted: bool = False,
               budget: int = DEFAULT_BUDGET, costs: OpCosts | None = None,
               clock: Any = None) -> Domain:
        """A domain from an extension's source: verify, load, export, leave imports unresolved.

        Raises ``verifier.Rejected`` (with the verifier's messages) if the source is
        not in the safe subset, and ``LinkError`` if it uses an import at load
        time or imports a bare module. The exports are the extension's
        top-level functions and classes, under ``interface`` (default: the
        domain's name, itself by default the file's stem). ``trusted`` marks
        the domain "asserted safe" (for privileged interfaces).

        ``costs`` and ``clock``: the extension's code charges the clock for the
        operations it performs (``verifier.verify``); the kernel passes its machine's.

        A ``Verified`` is accepted only if it imports nothing: its imports were
        bound when it was loaded, and cannot be relinked.
        """
        stem = module_name(filename)
        name = name or stem
        interface = interface or name
        if isinstance(source, Verified):
            if source.imports:
                raise LinkError(f"{source.filename}: a Verified with imports "
                                f"({', '.join(source.imports)}) cannot be relinked; pass the source")
            return cls(name, {interface: source.exports}, trusted=trusted, language_safe=True)
        packages = {m: _make_package(m, name) for m in _import_modules(source)}
        try:
            v = verify(source, filename, modules=packages, budget=budget, costs=costs, clock=clock)
        except NotResolved as e:
            raise LinkError(f"{filename}: the module body uses an import while loading, "
                            f"before it is linked ({e})") from None
        bare = [i for i in v.imports if "." not in i]
        if bare:
            raise LinkError(f"{filename}: 'import {bare[0]}' names no interface; "
                            f"import one, e.g. 'from {bare[0]} import Trap'")
        d = cls(name, {interface: v.exports}, trusted=trusted, language_safe=True)
        d.budget = v.budget  # the kernel resets it before each call of the domain's handlers
        d._meter = v.meter
        d._imports = tuple(dict.fromkeys(v.imports))
        d._packages = packages
        namespace = d._find_namespace(v)
        d._namespace = namespace
        for k, val in namespace.items():
            if isinstance(val, _Missing):
                d._aliases.setdefault(val._name, []).append(k)
        if d._imports:
            namespace[UNRESOLVED_HOOK] = d._refuse
            d._code = {f: (f.__code__, _stub_code(f.__qualname__))
                       for f in _functions(namespace) if not f.__code__.co_freevars}
            d._stop()
        return d

    @staticmethod
    def _find_namespace(v: Verified) -> dict[str, Any]:
        """The extension's module namespace, reached through its functions' globals."""
        for obj in v.exports.values():
            fns = [obj] if isinstance(obj, types.FunctionType) else [
                f for f in vars(obj).values() if isinstance(f, types.FunctionType)]
            for f in fns:
                g: dict[str, Any] = f.__globals__
                return g
        return {}  # no code at all: nothing can use an import

    @classmethod
    def kernel(cls, name: str, interfaces: Mapping[str, Mapping[str, Any]]) -> Domain:
        """A trusted domain exporting interfaces written in kernel Python (``spin.Trap`` ...).

        It imports nothing and is resolved from the start. What its members
        return is the exporter's responsibility (docs/verifier.md, "protected
        only at the interface").
        """
        return cls(name, interfaces, trusted=True, language_safe=False)

    # ------------------------------------------------------------ queries

    @property
    def identity(self) -> Identity:
        return Identity(self.uid, self.name, self.trusted, self.language_safe)

    @property
    def imports(self) -> tuple[str, ...]:
        return self._imports

    @property
    def unresolved(self) -> tuple[str, ...]:
        """The imports not linked yet, in source order."""
        return tuple(i for i in self._imports if i not in self._bound)

    @property
    def resolved(self) -> bool:
        """True when every import is linked: only then does the domain's code run."""
        return len(self._bound) == len(self._imports)

    @property
    def exports(self) -> Mapping[str, Mapping[str, Any]]:
        """Interface name -> {member name: the exporter's own object} (read-only)."""
        return types.MappingProxyType(self._interfaces)

    @property
    def sources(self) -> tuple[Domain, ...]:
        """The domains this domain's imports are linked against."""
        return tuple({id(s): s for _, s in self._bound.values()}.values())

    def interface(self, name: str) -> Any:
        """The immutable interface object for ``name`` (what ``from spin import Trap`` binds)."""
        if name not in self._interfaces:
            raise LinkError(f"domain {self.name!r} does not export {name}; "
                            f"it exports {', '.join(sorted(self._interfaces)) or 'nothing'}")
        if name not in self._objects:
            self._objects[name] = _make_interface(name, self._interfaces[name])
        return self._objects[name]

    def provides(self, imp: str) -> tuple[bool, Any]:
        """Whether this domain satisfies import ``imp`` (``M.N``), and with what object."""
        if imp in self._interfaces:
            return True, self.interface(imp)
        module, _, member = imp.rpartition(".")
        members = self._interfaces.get(module)
        if members is not None and member in members:
            return True, members[member]
        return False, None

    def entry(self, imp: str, value: Any) -> Any:
        """What another domain is linked to for import ``imp`` of this domain (``value``, as
        ``provides`` answered): for a verified domain, each exported function through its
        *entry*, so that a call from another domain is one activation of this one (see
        ``_entry``); classes and constants as they are."""
        if self.budget is None:
            return value
        if imp in self._interfaces:
            obj = self._entry_objects.get(imp)
            if obj is None:
                members = {n: self._entry(v) if isinstance(v, types.FunctionType) else v
                           for n, v in self._interfaces[imp].items()}
                obj = self._entry_objects[imp] = _make_interface(imp, members)
            return obj
        return self._entry(value) if isinstance(value, types.FunctionType) else value

    def _entry(self, fn: types.FunctionType) -> Any:
        """``fn`` called from another domain: an activation of this domain, as the dispatcher
        makes for a handler (Budget.enter): when none is in progress the budget is restored,
        a nested entry continues on what remains; a fault of this domain's code (its budget or
        quota, RecursionError, MemoryError) ends this domain (``on_fault``: the kernel unloads
        it) and is a ``DomainFault`` in the caller. Plain stores into the budget's cells."""
        e = self._entries.get(id(fn))
        if e is not None:
            return e
        e = self._make_entry(fn, method=False)
        self._entries[id(fn)] = e
        return e

    def _make_entry(self, fn: types.FunctionType, method: bool) -> Any:
        """The entry of ``_entry`` (not remembered: ``_entry`` and ``_wrap_methods`` keep it).
        A ``method`` (of a class of this domain, called by its own code too) calls ``fn`` as it
        is when an activation is in progress: its own code's fault is its own, ended where its
        activation began. What the call returns is handed out through ``_handed``: a function
        or bound method of this domain's code becomes an entry too."""
        if not _may_spend(fn.__code__):
            return fn  # a leaf: bounded steps, no tick, no charge (SPIN's linked call: a call)
        b = self.budget
        dc, cell, uc, lim = b.depth_cell, b.cell, b.used_cell, b.limit
        fault, handed = self._fault, self._handed
        function, bound = types.FunctionType, types.MethodType

        def entry(*args: Any, **kwargs: Any) -> Any:
            if dc.cell_contents:
                if method:
                    r = fn(*args, **kwargs)
                else:
                    try:
                        r = fn(*args, **kwargs)
                    except _FAULTS as exc:
                        raise fault(exc) from None
                if r.__class__ is function or r.__class__ is bound:
                    return handed(r)
                return r
            cell.cell_contents = lim
            dc.cell_contents = 1
            try:
                r = fn(*args, **kwargs)
                uc.cell_contents += lim + 1 - cell.cell_contents
                if uc.cell_contents > SETTLE_EVERY:
                    b.settle()
            except _FAULTS as exc:
                raise fault(exc) from None
            finally:
                dc.cell_contents = 0
            if r.__class__ is function or r.__class__ is bound:
                return handed(r)
            return r

        entry.__name__, entry.__qualname__, entry.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
        return entry

    def _handed(self, r: Any) -> Any:
        """``r``, a function or bound method returned to another domain: if it is this domain's
        code (a lambda, a closure, a method of one of its objects), an entry into it, so that
        calling it later is an activation of this domain, as a call of an exported function
        is; else ``r`` as it is."""
        fn = r.__func__ if r.__class__ is types.MethodType else r
        if type(fn) is not types.FunctionType or fn.__globals__ is not self._namespace:
            return r  # another domain's, the kernel's, or already an entry
        e = self._make_entry(fn, method=False)
        if e is fn:
            return r  # a leaf
        if r.__class__ is types.MethodType:
            return types.MethodType(e, r.__self__)
        return e

    def _wrap_methods(self, classes: list[type]) -> None:
        """The methods (``__init__`` too) of this domain's ``classes``, being linked into another
        domain: each becomes an entry (``_make_entry(method=True)``), so that another domain
        making or using one of its objects enters this domain's activation. Done once a class."""
        for cls in classes:
            for name, v in list(vars(cls).items()):
                if type(v) is types.FunctionType and v.__globals__ is self._namespace:
                    e = self._make_entry(v, method=True)
                    if e is not v:
                        self._methods.append(v)
                        type.__setattr__(cls, name, e)

    def _fault(self, e: BaseException) -> BaseException:
        """What the caller gets for ``e``, raised in this domain's code during a call from
        another domain: ``e`` itself if it is not this domain's (another budget that ran
        out, in a callback), else a DomainFault, this domain ended first."""
        if type(e) is BudgetExceeded and self.budget.cell.cell_contents >= 0:
            return e  # not this budget: the caller's, whose callback this domain called
        if isinstance(e, QuotaExceeded) and not (self._meter is not None and self._meter.over):
            return e
        why = f"{type(e).__name__}: {str(e)[:200]}"
        if self.on_fault is not None:
            self.on_fault(self, e)
        else:
            self.retire()
        return DomainFault(f"domain {self.name!r} was terminated: {why}")

    def statistics(self) -> DomainStatistics:
        return DomainStatistics(
            self.name, self.trusted, self.language_safe, tuple(sorted(self._interfaces)),
            sum(len(m) for m in self._interfaces.values()), self._imports, self.unresolved,
            self.resolved, tuple(sorted(s.name for s in self.sources)),
            self._resolves, self._unresolves, self._refused)

    def __repr__(self) -> str:
        state = "resolved" if self.resolved else f"unresolved: {', '.join(self.unresolved)}"
        return f"<Domain {self.name} exporting {', '.join(sorted(self._interfaces))}; {state}>"

    # ------------------------------------------------------------ linking (kernel side)

    def _refuse(self, function: str) -> Any:
        self._refused += 1
        if self._retired:
            raise DomainUnloaded(f"domain {self.name!r} was unloaded: {function}() cannot run")
        raise NotResolved(f"domain {self.name!r} is not resolved: {function}() cannot run; "
                          f"missing {', '.join(self.unresolved)}")

    def retire(self) -> None:
        """The kernel unloaded this domain: its functions stop (a call raises ``NotResolved``,
        whoever still holds them) until ``revive``."""
        self._retired = True
        if not self._code and self._namespace:  # it imports nothing: no stubs made yet
            self._namespace[UNRESOLVED_HOOK] = self._refuse
            self._code = {f: (f.__code__, _stub_code(f.__qualname__))
                          for f in [*_functions(self._namespace), *self._methods]
                          if not f.__code__.co_freevars}
        self._stop()

    def revive(self) -> None:
        """Undo ``retire`` (a failed replace puts the old version back)."""
        self._retired = False
        if self.resolved:
            self._start()

    def _stop(self) -> None:
        for f, (_, stub) in self._code.items():
            f.__code__ = stub

    def _start(self) -> None:
        for f, (code, _) in self._code.items():
            f.__code__ = code

    def _bind(self, imp: str, value: Any, source: Domain) -> None:
        self._bound[imp] = (value, source)
        for alias in self._aliases.get(imp, ()):
            self._namespace[alias] = value
        module, _, member = imp.rpartition(".")
        pkg = self._packages.get(module)
        if pkg is not None:
            setattr(type(pkg), member, staticmethod(value))

    def _unbind(self, imp: str) -> None:
        del self._bound[imp]
        missing = _Missing(imp, self.name)
        for alias in self._aliases.get(imp, ()):
            self._namespace[alias] = missing
        module, _, member = imp.rpartition(".")
        pkg = self._packages.get(module)
        if pkg is not None and member in vars(type(pkg)):
            delattr(type(pkg), member)


#: Values a frozen class may hold as they are: they cannot be changed by anyone.
_IMMUTABLE: tuple[type, ...] = (type(None), bool, int, float, complex, str, bytes, range,
                                type(Ellipsis), types.FunctionType)


def _frozen_value(v: Any, where: str, plan: dict[type, dict[str, Any]]) -> Any:
    """``v`` as a frozen class holds it: immutable containers of immutable values."""
    t = type(v)
    if t in _IMMUTABLE:
        return v
    if isinstance(v, type):
        if str(v.__module__).startswith(_EXTENSION_MODULE):
            _plan(v, plan)
        return v
    if t is tuple or t is list:
        return tuple(_frozen_value(x, where, plan) for x in v)
    if t is frozenset or t is set:
        return frozenset(_frozen_value(x, where, plan) for x in v)
    if t is dict or t is types.MappingProxyType:
        return types.MappingProxyType({k: _frozen_value(x, where, plan) for k, x in v.items()})
    if t is bytearray:
        return bytes(v)
    raise LinkError(f"{where} holds an object of class {t.__qualname__!r}, which another domain "
                    f"could change: an exported class may hold only constants, functions, classes "
                    f"and containers of them (share objects through functions)")


def _plan(cls: type, plan: dict[type, dict[str, Any]]) -> None:
    """Add to ``plan`` what freezing ``cls`` (its bases and nested classes) replaces."""
    if cls in plan or cls.__dict__.get(_FROZEN) is True:
        return
    plan[cls] = changes = {}
    for base in cls.__mro__[1:]:  # what it inherits is read through it
        if str(base.__module__).startswith(_EXTENSION_MODULE):
            _plan(base, plan)
    for name, v in list(vars(cls).items()):
        if name.startswith("__"):
            continue  # the interpreter's own (__module__, __dict__, ...) and __init__
        f = _frozen_value(v, f"class {cls.__qualname__}, attribute {name!r},", plan)
        if f is not v:
            changes[name] = f


def _apply(plan: dict[type, dict[str, Any]]) -> None:
    for c, changes in plan.items():
        for name, f in changes.items():
            setattr(c, name, f)
        setattr(c, _FROZEN, True)


def freeze(cls: type) -> None:
    """Make the extension class ``cls`` the same for every domain for ever (see the module
    note): its containers become immutable, its bases and nested classes frozen.
    Idempotent; raises ``LinkError``, changing nothing, if any of them holds an object."""
    plan: dict[type, dict[str, Any]] = {}
    _plan(cls, plan)
    _apply(plan)


#: The attribute a frozen class carries (verified code cannot name it).
_FROZEN = "__frozen__"
#: The attribute of a class whose methods were made entries (``Domain._wrap_methods``).
_WRAPPED = "__entries__"
#: The module name of an extension's classes (the verifier loads it as ``extension.<name>``).
_EXTENSION_MODULE = "extension."


def _freeze_exports(source: Domain) -> None:
    """Freeze every class a verified domain exports: it is being linked into another
    (all or nothing: a ``LinkError`` changes none of them)."""
    if not source.language_safe:
        return
    plan: dict[type, dict[str, Any]] = {}
    for members in source._interfaces.values():
        for v in members.values():
            if isinstance(v, type):
                _plan(v, plan)
    _apply(plan)
    if source.budget is not None:  # its objects' methods, called by another domain: entries
        classes = {c: None for c in plan}
        classes.update((v, None) for members in source._interfaces.values() for v in members.values()
                       if isinstance(v, type))
        todo = [c for c in classes if c.__dict__.get(_WRAPPED) is not True]
        source._wrap_methods(todo)
        for c in todo:
            type.__setattr__(c, _WRAPPED, True)


def resolve(source: Domain, target: Domain) -> tuple[str, ...]:
    """Link ``target``'s unresolved imports against ``source``'s exports; returns what was linked.

    Afterwards the target's code holds the source's objects directly. If that
    completes the target, it starts running. Raises ``LinkError`` if the
    source provides none of the target's unresolved imports (a link that
    links nothing is a mistake). Authorisation is not checked here: that is
    the ``NameServer``'s job.
    """
    missing = target.unresolved
    linked: list[str] = []
    if any(source.provides(imp)[0] for imp in missing) and source is not target:
        _freeze_exports(source)  # shared from now on: the same for every domain (LinkError if not)
    for imp in missing:
        ok, value = source.provides(imp)
        if ok:
            if source.budget is not None and source.budget is not target.budget:
                value = source.entry(imp, value)  # a call from target is an activation of source
            target._bind(imp, value, source)
            linked.append(imp)
    if not linked:
        what = f"none of {target.name!r}'s unresolved imports ({', '.join(missing)})" if missing \
            else f"nothing: {target.name!r} is already resolved"
        raise LinkError(f"resolve({source.name!r}, {target.name!r}) links {what}; "
                        f"{source.name!r} exports {', '.join(sorted(source.exports)) or 'nothing'}")
    target._resolves += 1
    if target.resolved and not target._retired:
        target._start()
    return tuple(linked)


def unresolve(target: Domain, source: Domain | None = None) -> tuple[str, ...]:
    """Undo ``target``'s links (only those against ``source``, if given); returns what was unlinked.

    The target stops running until it is resolved again; anyone holding its
    functions gets ``NotResolved``. A newer version of a source can then be
    linked with ``resolve``.
    """
    undone = [i for i, (_, s) in target._bound.items() if source is None or s is source]
    if not undone:
        return ()
    for imp in undone:
        target._unbind(imp)
    target._unresolves += 1
    target._stop()
    return tuple(undone)


def combine(d1: Domain, d2: Domain, name: str | None = None) -> Domain:
    """A domain exporting the union of ``d1``'s and ``d2``'s interfaces (e.g. ``SpinPublic``).

    The members are the same objects. Two interfaces of the same name are
    merged; a member exported by both with different objects is a
    ``LinkError``. The union imports nothing; it is trusted only if both are.
    """
    merged: dict[str, dict[str, Any]] = {k: dict(v) for k, v in d1.exports.items()}
    for iface, members in d2.exports.items():
        into = merged.setdefault(iface, {})
        for m, v in members.items():
            if m in into and into[m] is not v:
                raise LinkError(f"combine({d1.name!r}, {d2.name!r}): both export {iface}.{m}")
            into[m] = v
    return Domain(name or f"{d1.name}+{d2.name}", merged, trusted=d1.trusted and d2.trusted,
                  language_safe=d1.language_safe and d2.language_safe)


# ---------------------------------------------------------------- the name server

#: An authorisation procedure: told who is asking, it returns True to allow.
Authorizer = Callable[[Identity], bool]


def anyone(requester: Identity) -> bool:
    """Authorise every requester (``SpinPublic``)."""
    return True


def trusted_only(requester: Identity) -> bool:
    """Authorise only domains the kernel asserted safe (the privileged interfaces)."""
    return requester.trusted


#: The names the kernel boots its name server with.
SPIN_PUBLIC = "SpinPublic"
SPIN_PRIVILEGED = "SpinPrivileged"


@dataclass(frozen=True, slots=True)
class NameServerStatistics:
    #: registered names, sorted
    names: tuple[str, ...]
    lookups: int
    granted: int
    denied: int
    links: int


class NameServer:
    """Where exporters publish domains, and where authorisation happens: at link time.

    ``register(name, domain, authorize)``; ``lookup(name, requester)`` asks the
    exporter's procedure (told the requester's ``Identity``) and returns the
    domain or raises ``Denied``; ``link(requester, *names)`` looks each up and
    resolves the requester against it. ``system_safe(domain)``: language-safe
    (or asserted safe), resolved, and linked only against domains this name
    server granted it.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[Domain, Authorizer]] = {}
        self._granted: set[tuple[int, int]] = set()  # (requester uid, source uid)
        self._lookups = self._ok = self._denied = self._links = 0

    @classmethod
    def boot(cls, public: Domain, privileged: Domain) -> NameServer:
        """The kernel's name server: ``SpinPublic`` for anyone, ``SpinPrivileged`` for the trusted."""
        ns = cls()
        ns.register(SPIN_PUBLIC, public, anyone)
        ns.register(SPIN_PRIVILEGED, privileged, trusted_only)
        return ns

    def register(self, name: str, domain: Domain, authorize: Authorizer = anyone) -> None:
        if name in self._entries:
            raise LinkError(f"name {name!r} is already registered (domain "
                            f"{self._entries[name][0].name!r})")
        self._entries[name] = (domain, authorize)

    def registered(self, name: str) -> Domain | None:
        """The domain registered as ``name`` (None if none is), without authorisation: for the kernel."""
        entry = self._entries.get(name)
        return entry[0] if entry is not None else None

    def unregister(self, name: str) -> Domain:
        if name not in self._entries:
            raise LinkError(f"name {name!r} is not registered")
        return self._entries.pop(name)[0]

    def lookup(self, name: str, requester: Domain) -> Domain:
        """The domain registered as ``name``, if its authorisation procedure allows ``requester``."""
        self._lookups += 1
        if name not in self._entries:
            raise LinkError(f"no domain is registered as {name!r}; "
                            f"registered: {', '.join(sorted(self._entries)) or 'none'}")
        domain, authorize = self._entries[name]
        who = requester.identity
        if not authorize(who):
            self._denied += 1
            kind = "trusted" if who.trusted else "untrusted"
            raise Denied(f"domain {who.name!r} ({kind}) may not link against {name!r}: "
                         f"its authorisation procedure refused")
        self._ok += 1
        self._granted.add((requester.uid, domain.uid))
        return domain

    def link(self, requester: Domain, *names: str) -> tuple[str, ...]:
        """Look up each name for ``requester`` and resolve it against what it may see."""
        linked: list[str] = []
        for n in names:
            linked += resolve(self.lookup(n, requester), requester)
            self._links += 1
        return tuple(linked)

    def system_safe(self, domain: Domain) -> bool:
        """Language-safe (or asserted safe), resolved, and linked only against granted domains."""
        return ((domain.language_safe or domain.trusted) and domain.resolved
                and all((domain.uid, s.uid) in self._granted for s in domain.sources))

    def statistics(self) -> NameServerStatistics:
        return NameServerStatistics(tuple(sorted(self._entries)), self._lookups, self._ok,
                                    self._denied, self._links)
