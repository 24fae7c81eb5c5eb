"""The verifier: a checked subset of Python with bounded execution.

SPIN made extensions safe with a type-safe language (Modula-3) and a trusted
compiler. exospin's extensions are Python source, and Python gives any code
that holds an object a way to everything else (``x.__class__.__mro__[1]
.__subclasses__()``, ``f.__globals__``, frames, ``getattr``, ``eval``). The
verifier closes those doors *statically*, by reading the AST, so verified code
is afterwards an ordinary Python function called at the price of a call:

- no name or attribute beginning with ``_`` (dunders are the way in);
- no attribute that reaches frames, tracebacks, code or generator internals;
- only an allow-list of builtins; introspection and code-running builtins
  are named in the error;
- no ``str.format`` that reads attributes or items of its arguments;
- imports only of the kernel's exported interfaces (``spin``, ``spin.*``);
- no decorators, metaclasses, special methods other than ``__init__``,
  ``global``, generators, coroutines, ``with``, ``finally``, bare ``except:``
  or ``except BaseException``.

Bounded execution (SPIN's EPHEMERAL handlers): the accepted AST is
instrumented with a call to a hook, ``__budget__()``, at the top of every
loop body, in every comprehension, and on entry to every function or lambda
that makes a call (only those can recurse). The hook decrements a counter in
a closure and raises ``BudgetExceeded``, a ``BaseException`` the extension
cannot catch (bare ``except:`` and ``BaseException`` are rejected, and it is
not an ``Exception``), and cannot name (underscore). Once exhausted, a budget
stays exhausted until the kernel resets it, so an ``except Exception`` that
loops is stopped too. A function with no loop and no call is not touched:
it costs exactly a plain call.

Interface: ``check(source, filename, interfaces=...) -> list[Violation]``;
``verify(source, filename, modules=..., budget=...) -> Verified`` or raise
``Rejected``. ``Verified.exports`` are the extension's top-level functions
and classes; ``Verified.imports`` the kernel names it imports, for the linker.
The catalogue of rejections, each with its exact message, is docs/verifier.md.
"""

from __future__ import annotations

import ast
import builtins
import functools
import string
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .bounded import (
    CALL_BYTES,
    DEFAULT_QUOTA,
    TICK_BYTES,
    AllocBound,
    Meter,
    alloc_ticks,
    rewrite,
    static_violations,
)
from .ownership import OWN_CLASSES, OWN_HOOK, OwnClasses, check_stores, guard_stores
from .pure import register_module

#: Builtins verified code may use. Each is a pure function or a constructor of
#: a value type; none hands out a type, a frame, a namespace or a code object.
#: ``isinstance`` is here because it only answers a question about a type it
#: is *given*; ``print`` is not: an extension has no terminal (the kernel's
#: tracer is the way to report). Exceptions are here so handlers can raise
#: and catch ordinary errors.
ALLOWED_BUILTINS: frozenset[str] = frozenset({
    "abs", "all", "any", "bool", "bytes", "chr", "dict", "divmod", "enumerate",
    "filter", "float", "frozenset", "hash", "int", "isinstance", "len", "list",
    "map", "max", "min", "ord", "range", "reversed", "round", "set", "sorted",
    "str", "sum", "tuple", "zip",
    "Exception", "ArithmeticError", "AssertionError", "IndexError", "KeyError",
    "LookupError", "OverflowError", "RuntimeError", "TypeError", "ValueError",
    "ZeroDivisionError", "NotImplementedError",
})

#: Builtins that look inside objects or hand out types and namespaces (E104).
INTROSPECTION: frozenset[str] = frozenset({
    "type", "vars", "dir", "globals", "locals", "getattr", "setattr", "delattr",
    "hasattr", "id", "super", "object", "memoryview", "classmethod",
    "staticmethod", "property", "issubclass", "callable",
})

#: Builtins that run or load code, do I/O or stop the interpreter (E105).
CODE_AND_IO: frozenset[str] = frozenset({
    "eval", "exec", "compile", "open", "input", "breakpoint", "help", "exit",
    "quit", "print", "copyright", "credits", "license",
})

#: Exceptions an ``except`` clause may not name: catching them could swallow
#: the kernel's termination of the handler (E116).
UNCATCHABLE: frozenset[str] = frozenset({
    "BaseException", "SystemExit", "KeyboardInterrupt", "GeneratorExit",
})

#: Attribute prefixes of frames, tracebacks, code objects, generators,
#: coroutines and async generators; and ``mro`` (a class's bases, up to
#: ``object``) (E103).
INTERNAL_PREFIXES = ("f_", "tb_", "co_", "gi_", "cr_", "ag_")
INTERNAL_ATTRS = frozenset({"mro"})

#: The modules an extension may import by default: the kernel's interfaces.
DEFAULT_INTERFACES: tuple[str, ...] = ("spin",)

#: Ticks a handler may spend before it is terminated (loop iterations plus
#: entries into functions that make calls).
DEFAULT_BUDGET = 100_000

#: The injected hook's name. Verified code cannot name it: it begins with '_'.
HOOK = "__budget__"
#: The hook of a tick that counts as several (``__budget_n__(w, n)``): code that may allocate
#: more than one tick's share of uncounted memory (bounded.py, ``AllocBound``).
HOOK_N = "__budget_n__"


@dataclass(frozen=True, order=True)
class Violation:
    """One reason to reject: 1-based line and column, a code, a message."""

    line: int
    col: int
    code: str
    message: str

    def format(self, filename: str) -> str:
        return f"{filename}:{self.line}:{self.col}: {self.code} {self.message}"


class Rejected(Exception):
    """``verify`` refused the extension; ``violations`` says why."""

    def __init__(self, filename: str, violations: list[Violation]) -> None:
        self.filename = filename
        self.violations = violations
        super().__init__("; ".join(v.format(filename) for v in violations))


class BudgetExceeded(BaseException):
    """A handler ran out of budget. A BaseException: ``except Exception`` does not catch it."""


#: Ticks and activations of a domain between two measurements of what it keeps, at the end
#: of an activation (Budget.settle): a tick allocates at most TICK_BYTES (1 KiB) that no
#: shim counted (a tick whose code may allocate more counts as several: bounded.py,
#: ``AllocBound``; an activation with no tick, at most CALL_BYTES), so 16 Ki of them are at
#: most 16 MiB.
SETTLE_EVERY = 1 << 14


class QuotaExceeded(BudgetExceeded):
    """A domain keeps more memory than its quota (bounded.py): terminated as for an overrun."""


@dataclass(frozen=True)
class OpCosts:
    """What verified code is charged, in cycles, for the operations it performs.

    The verifier's static cost model of an extension compiled for the machine:
    a call is a procedure call (``proc_call``), an attribute or an item read or
    written is a load or a store (``mem_ref``), an arithmetic, comparison or
    branch is an instruction (``insn``); local names live in registers, and
    constants are immediates. The kernel builds one from its machine profile.
    """

    insn: int
    mem_ref: int
    proc_call: int


class Budget:
    """The counter behind the hook, per activation of the domain, not per handler call.

    The kernel brackets every entry into the domain's code (a handler call, its
    install(), a strand running its code) with ``enter()`` and ``leave()``.
    ``enter`` restores the full limit only when no activation of the domain is
    in progress on the running stack (``depth == 0``): a nested entry (the
    domain's handler raising an event that the domain handles again) continues
    on what remains, so re-entering cannot buy a fresh budget. ``reset()`` is
    the unconditional refill, for the kernel's own uses.

    ``hook`` is a closure over one cell (the cheapest call CPython offers);
    ``reset`` and ``remaining`` share that cell, and so may the kernel: ``cell``
    is it, so that the dispatcher's generated code resets a budget with one
    store (``cell_contents = limit``, done as a plain ``nonlocal`` assignment).

    Each tick passes its weight: the static cycles of the code it stands for
    (a loop iteration, or a calling function's body; see ``_Weigh``). With
    ``measure`` the hook adds the weights up in ``spent``; given a ``clock`` (an
    object with an integer ``now``, as the machine's event loop) it also
    advances the clock by them, so the extension's own code is charged as it
    runs, whoever called it.
    """

    def __init__(self, limit: int = DEFAULT_BUDGET, clock: Any = None, measure: bool = False) -> None:
        self.limit = limit
        left = limit
        spent = 0

        if clock is not None:
            def hook(w: int) -> bool:
                nonlocal left, spent
                left -= 1
                if left < 0:
                    raise BudgetExceeded(f"budget of {self.limit} ticks exhausted")
                clock.now += w
                spent += w
                return True

            def hook_n(w: int, n: int) -> bool:
                nonlocal left, spent
                left -= n
                if left < 0:
                    raise BudgetExceeded(f"budget of {self.limit} ticks exhausted")
                clock.now += w
                spent += w
                return True
        elif measure:
            def hook(w: int) -> bool:
                nonlocal left, spent
                left -= 1
                if left < 0:
                    raise BudgetExceeded(f"budget of {self.limit} ticks exhausted")
                spent += w
                return True

            def hook_n(w: int, n: int) -> bool:
                nonlocal left, spent
                left -= n
                if left < 0:
                    raise BudgetExceeded(f"budget of {self.limit} ticks exhausted")
                spent += w
                return True
        else:
            def hook(w: int) -> bool:
                nonlocal left
                left -= 1
                if left < 0:
                    raise BudgetExceeded(f"budget of {self.limit} ticks exhausted")
                return True

            def hook_n(w: int, n: int) -> bool:
                nonlocal left
                left -= n
                if left < 0:
                    raise BudgetExceeded(f"budget of {self.limit} ticks exhausted")
                return True

        def reset(n: int | None = None) -> None:
            nonlocal left
            left = self.limit if n is None else n

        depth = 0  # activations of the domain in progress on the running stack
        # ticks and activations since the domain's kept memory was last measured (see
        # ``settle``): each outermost activation adds its ticks spent and 1
        used = 0

        def enter() -> None:
            nonlocal left, depth
            if not depth:
                left = self.limit
            depth += 1

        def leave() -> None:
            nonlocal depth, used
            depth -= 1
            if not depth:
                used += self.limit - left + 1
                if used > SETTLE_EVERY:
                    self.settle()

        def remaining() -> int:
            return left

        def charged() -> int:
            return spent

        self.hook: Callable[[int], bool] = hook
        #: a tick of weight ``w`` counting as ``n`` ticks (code allocating more than a tick's share)
        self.hook_n: Callable[[int, int], bool] = hook_n
        #: the counter's cell (ticks left), shared with ``hook``
        self.cell = hook.__closure__[hook.__code__.co_freevars.index("left")]  # type: ignore[index]
        #: the activation depth's cell (shared with ``enter``/``leave``): the dispatcher's
        #: generated code enters and leaves with plain stores into it, as it resets ``cell``
        self.depth_cell = enter.__closure__[enter.__code__.co_freevars.index("depth")]  # type: ignore[index]
        #: the ticks and activations since the last measurement (shared with ``leave``): the
        #: dispatcher's generated code adds to it with a plain store, as it leaves
        self.used_cell = leave.__closure__[leave.__code__.co_freevars.index("used")]  # type: ignore[index]
        #: what the kernel measures at the end of an activation once ``SETTLE_EVERY`` ticks and
        #: activations have passed (verify sets it: the domain's Meter.measure)
        self.measure: Callable[[], Any] | None = None
        self.enter: Callable[[], None] = enter
        self.leave: Callable[[], None] = leave
        self._reset = reset
        self._remaining = remaining
        self._charged = charged

    def settle(self) -> None:
        """The end of an activation, ``SETTLE_EVERY`` ticks and activations after the last
        measurement: measure what the domain keeps (raising ``QuotaExceeded`` past its quota),
        so the quota holds whatever path grew the memory, counted at a shim or not."""
        self.used_cell.cell_contents = 0
        if self.measure is not None:
            kept = self.measure()
            # the next measurement after SETTLE_EVERY ticks more, plus one per TICK_BYTES of
            # half what it keeps: a walk costs what the domain keeps, so measuring a growing
            # domain costs a constant factor of its growth, not its square
            self.used_cell.cell_contents = -((kept >> 1) // TICK_BYTES)

    @property
    def spent(self) -> int:
        """The weights of this budget's ticks so far: the cycles its code cost under the static
        model (0 unless measuring or charging)."""
        return self._charged()

    def reset(self, limit: int | None = None) -> None:
        """Give the next run ``limit`` ticks (default: this budget's limit)."""
        self._reset(limit)

    @property
    def remaining(self) -> int:
        return self._remaining()

    @property
    def depth(self) -> int:
        """Activations of the domain in progress on the running stack (0: none)."""
        return int(self.depth_cell.cell_contents)


@dataclass(frozen=True)
class Verified:
    """A checked, instrumented and loaded extension."""

    filename: str
    #: top-level functions and classes, by name: what the extension exports
    exports: Mapping[str, Any]
    #: the kernel names it imports, module-qualified (``spin.Console``): for the linker
    imports: tuple[str, ...]
    budget: Budget = field(repr=False)
    #: the shims' meter: what the builtins charged, the memory quota (bounded.py)
    meter: Meter | None = field(default=None, repr=False)


# ------------------------------------------------------------------ check


def _bad_format_literal(s: str) -> str | None:
    """The first replacement field of a format string that reads an attribute or item."""
    try:
        parsed = list(string.Formatter().parse(s))
    except ValueError:
        return s
    for _literal, name, spec, _conv in parsed:
        if name is not None and ("." in name or "[" in name):
            return "{" + name + "}"
        if spec and "{" in spec:
            bad = _bad_format_literal(spec)
            if bad is not None:
                return bad
    return None


def _call_free(node: ast.AST) -> bool:
    return not any(isinstance(n, ast.Call) for n in ast.walk(node))


class _Checker(ast.NodeVisitor):
    def __init__(self, interfaces: Iterable[str]) -> None:
        self.interfaces = tuple(interfaces)
        self.found: list[Violation] = []
        self.imports: list[str] = []

    def bad(self, node: ast.AST, code: str, message: str) -> None:
        self.found.append(Violation(getattr(node, "lineno", 1), getattr(node, "col_offset", 0) + 1,
                                    code, message))

    # names ---------------------------------------------------------------
    def name(self, node: ast.AST, name: str | None, attribute: bool = False) -> None:
        if name is None:
            return
        if name.startswith("_") and (attribute or name != "_"):
            self.bad(node, "E101", f"access to a name beginning with '_' is not allowed: {name!r}")
        elif attribute:
            if name.startswith(INTERNAL_PREFIXES) or name in INTERNAL_ATTRS:
                self.bad(node, "E103", f"attribute reaching interpreter internals is not allowed: {name!r}")
        elif name in INTROSPECTION:
            self.bad(node, "E104", f"introspection builtin is not allowed: {name!r}")
        elif name in CODE_AND_IO:
            self.bad(node, "E105", f"builtin that runs code, does I/O or stops the interpreter is not allowed: {name!r}")
        elif hasattr(builtins, name) and name not in ALLOWED_BUILTINS:
            self.bad(node, "E106", f"builtin not on the allow-list: {name!r}")

    def visit_Name(self, node: ast.Name) -> None:
        self.name(node, node.id)

    def visit_arg(self, node: ast.arg) -> None:
        self.name(node, node.arg)
        self.generic_visit(node)

    def visit_keyword(self, node: ast.keyword) -> None:
        self.name(node, node.arg)
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in ("format", "format_map"):
            v = node.value
            if isinstance(v, ast.Constant) and isinstance(v.value, str):
                bad = _bad_format_literal(v.value)
                if bad is not None:
                    self.bad(node, "E107", f"string formatting that reads attributes or items is not allowed: {bad!r}")
            else:
                self.bad(node, "E108", f"'.{node.attr}' is allowed only on a string literal")
        else:
            self.name(node, node.attr, attribute=True)
        self.generic_visit(node)

    def visit_Global(self, node: ast.Global) -> None:
        self.bad(node, "E114", "'global' is not allowed: keep module state in a dict or list")

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        for n in node.names:
            self.name(node, n)

    # definitions -------------------------------------------------------------
    def visit_FunctionDef(self, node: ast.FunctionDef, in_class: bool = False) -> None:
        if node.name.startswith("__") and node.name.endswith("__") and len(node.name) > 4:
            if not (in_class and node.name == "__init__"):
                self.bad(node, "E102", f"special method not allowed: {node.name!r} (only __init__ may be defined)")
        else:
            self.name(node, node.name)
        for d in node.decorator_list:
            self.bad(d, "E112", "decorators are not allowed: a decorator runs code and replaces what is exported")
        self.generic_visit_except(node, ("decorator_list",))

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self.bad(node, "E118", "generators and coroutines are not allowed: a handler must return ('async def')")
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.name(node, node.name)
        for d in node.decorator_list:
            self.bad(d, "E112", "decorators are not allowed: a decorator runs code and replaces what is exported")
        for k in node.keywords:
            self.bad(k, "E113", f"class keywords are not allowed: {k.arg or '**'!r} (no metaclasses)")
        for b in node.bases:
            self.visit(b)
        for stmt in node.body:
            if isinstance(stmt, ast.FunctionDef):
                self.visit_FunctionDef(stmt, in_class=True)
            else:
                self.visit(stmt)

    def generic_visit_except(self, node: ast.AST, skip: tuple[str, ...]) -> None:
        for fname, value in ast.iter_fields(node):
            if fname in skip:
                continue
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.AST):
                        self.visit(item)
            elif isinstance(value, ast.AST):
                self.visit(value)

    # control -----------------------------------------------------------------
    def visit_Yield(self, node: ast.Yield) -> None:
        self.bad(node, "E118", "generators and coroutines are not allowed: a handler must return ('yield')")
        self.generic_visit(node)

    def visit_YieldFrom(self, node: ast.YieldFrom) -> None:
        self.bad(node, "E118", "generators and coroutines are not allowed: a handler must return ('yield from')")
        self.generic_visit(node)

    def visit_Await(self, node: ast.Await) -> None:
        self.bad(node, "E118", "generators and coroutines are not allowed: a handler must return ('await')")
        self.generic_visit(node)

    def visit_With(self, node: ast.With) -> None:
        self.bad(node, "E119", "'with' is not allowed: it calls __enter__ and __exit__")
        self.generic_visit(node)

    def visit_AsyncWith(self, node: ast.AsyncWith) -> None:
        self.bad(node, "E118", "generators and coroutines are not allowed: a handler must return ('async with')")
        self.generic_visit(node)

    def visit_AsyncFor(self, node: ast.AsyncFor) -> None:
        self.bad(node, "E118", "generators and coroutines are not allowed: a handler must return ('async for')")
        self.generic_visit(node)

    def visit_Try(self, node: ast.Try) -> None:
        if node.finalbody:
            self.bad(node.finalbody[0], "E117", "'finally' is not allowed: no code may run after the kernel terminates a handler")
        self.generic_visit(node)

    def visit_TryStar(self, node: ast.TryStar) -> None:
        if node.finalbody:
            self.bad(node.finalbody[0], "E117", "'finally' is not allowed: no code may run after the kernel terminates a handler")
        self.generic_visit(node)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is None:
            self.bad(node, "E115", "bare 'except:' is not allowed: it would catch the kernel's termination of the handler")
        else:
            names = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
            for n in names:
                if isinstance(n, ast.Name) and n.id in UNCATCHABLE:
                    self.bad(n, "E116", f"catching {n.id} is not allowed: it would catch the kernel's termination of the handler")
                else:
                    self.visit(n)
        self.name(node, node.name)
        for stmt in node.body:
            self.visit(stmt)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        self.name(node, node.name)
        self.generic_visit(node)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        self.name(node, node.name)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        self.name(node, node.rest)
        self.generic_visit(node)

    def visit_MatchClass(self, node: ast.MatchClass) -> None:
        for a in node.kwd_attrs:  # a class pattern reads these attributes
            self.name(node, a, attribute=True)
        self.generic_visit(node)

    # imports -------------------------------------------------------------------
    def interface(self, module: str) -> bool:
        return any(module == i or module.startswith(i + ".") for i in self.interfaces)

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            if not self.interface(a.name):
                self.bad(node, "E109", f"import of a module that is not a kernel interface: {a.name!r}")
            else:
                self.imports.append(a.name)
            for part in a.name.split("."):
                self.name(node, part, attribute=True)
            self.name(node, a.asname)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = "." * node.level + (node.module or "")
        if node.level or not self.interface(module):
            self.bad(node, "E109", f"import of a module that is not a kernel interface: {module!r}")
            return
        for part in module.split("."):
            self.name(node, part, attribute=True)
        for a in node.names:
            if a.name == "*":
                self.bad(node, "E110", f"star import is not allowed: 'from {module} import *'")
                continue
            self.name(node, a.name, attribute=True)
            self.name(node, a.asname)
            self.imports.append(f"{module}.{a.name}")


def _parse(source: str, filename: str) -> tuple[ast.Module | None, list[Violation]]:
    try:
        return ast.parse(source, filename), []
    except SyntaxError as e:
        return None, [Violation(e.lineno or 1, e.offset or 1, "E001", f"syntax error: {e.msg}")]
    except ValueError as e:  # e.g. a NUL byte in the source
        return None, [Violation(1, 1, "E001", f"syntax error: {e}")]


def check(source: str, filename: str = "<extension>", *,
          interfaces: Iterable[str] = DEFAULT_INTERFACES) -> list[Violation]:
    """Every violation of the safe subset in ``source``, in source order (empty: accepted)."""
    tree, errors = _parse(source, filename)
    if tree is None:
        return errors
    c = _Checker(interfaces)
    c.visit(tree)
    for node, message in check_stores(tree):  # what it may change: ownership.py
        c.bad(node, "E130", message)
    c.found += [Violation(*v) for v in static_violations(tree)]  # what the shims cannot check
    unique = list(dict.fromkeys(c.found))  # in the order found, once each
    return sorted(unique, key=lambda v: (v.line, v.col))


# ------------------------------------------------------------- instrument


class _Weigh:
    """The static cycles of straight-line code under ``OpCosts`` (the ticks' weights).

    A block's weight is the cost of its longest path: statements add up, an
    ``if`` costs its test and a branch and then either arm, and a path ends at a
    ``return``, ``raise``, ``break`` or ``continue`` (so a weight is an upper
    bound of what one run costs); a ``try`` counts its body and ``else``, not
    its handlers (the exception path). Code that
    has its own tick is not counted where it stands: a loop's body (the loop's
    header is: the iterable once, a while's first test), and the bodies of
    nested functions, lambdas, classes and comprehensions.
    """

    def __init__(self, costs: OpCosts) -> None:
        self.c = costs

    def block(self, stmts: list[ast.stmt]) -> int:
        """The cost of the longest path through ``stmts``: to its end, or to a return,
        raise, break or continue inside it."""
        fall, out = self._paths(stmts)
        return max(fall or 0, out or 0)

    def _paths(self, stmts: list[ast.stmt]) -> tuple[int | None, int | None]:
        """(longest path falling through the end, longest path leaving early); None: no such path."""
        fall: int | None = 0
        out: int | None = None
        for st in stmts:
            if fall is None:
                break  # unreachable
            f, o = self._stmt(st)
            if o is not None:
                out = max(out or 0, fall + o)
            fall = None if f is None else fall + f
        return fall, out

    def _stmt(self, s: ast.stmt) -> tuple[int | None, int | None]:
        c = self.c
        if isinstance(s, ast.Return | ast.Raise):
            return None, sum(self.expr(n) for n in ast.iter_child_nodes(s) if isinstance(n, ast.expr))
        if isinstance(s, ast.Break | ast.Continue):
            return None, c.insn
        if isinstance(s, ast.If):
            t = self.expr(s.test) + c.insn
            (bf, bo), (of, oo) = self._paths(s.body), self._paths(s.orelse)
            falls = [x for x in (bf, of) if x is not None]
            outs = [x for x in (bo, oo) if x is not None]
            return (t + max(falls) if falls else None), (t + max(outs) if outs else None)
        if isinstance(s, ast.Try):
            return self._paths(s.body + s.orelse)
        if isinstance(s, ast.For):
            return self.expr(s.iter) + c.insn, None  # the iterator is made once
        if isinstance(s, ast.While):
            return self.expr(s.test) + c.insn, None
        if isinstance(s, ast.FunctionDef | ast.ClassDef | ast.Import | ast.ImportFrom):
            return 0, None
        if isinstance(s, ast.AugAssign):  # read, operate, write back
            return self.expr(s.target) * 2 + self.expr(s.value) + c.insn, None
        return sum(self.expr(n) for n in ast.iter_child_nodes(s) if isinstance(n, ast.expr)), None

    def expr(self, e: ast.expr) -> int:
        c = self.c
        if isinstance(e, ast.Lambda | ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
            # making it is one call (the comprehension's own ticks charge its elements)
            return c.proc_call + sum(self.expr(g.iter) for g in getattr(e, "generators", ()))
        if isinstance(e, ast.IfExp):
            return self.expr(e.test) + c.insn + max(self.expr(e.body), self.expr(e.orelse))
        own = 0
        if isinstance(e, ast.Call):
            own = c.proc_call
        elif isinstance(e, ast.Attribute | ast.Subscript):
            own = c.mem_ref
        elif isinstance(e, ast.BinOp | ast.UnaryOp):
            own = c.insn
        elif isinstance(e, ast.Compare):
            own = c.insn * len(e.ops)
        elif isinstance(e, ast.BoolOp):
            own = c.insn * (len(e.values) - 1)
        elif isinstance(e, ast.Tuple | ast.List | ast.Set):
            own = c.mem_ref * len(e.elts)  # each element stored
        elif isinstance(e, ast.Dict):
            own = c.mem_ref * len(e.keys)
        return own + sum(self.expr(n) for n in ast.iter_child_nodes(e) if isinstance(n, ast.expr))

    def comprehension(self, g: ast.comprehension, elt: int) -> int:
        """One element of one generator: advance and branch, its ifs, the element if innermost."""
        return 2 * self.c.insn + sum(self.expr(i) for i in g.ifs) + elt


class _Instrument(ast.NodeTransformer):
    """Insert ``__budget__(w)`` into loop bodies, comprehensions and calling functions.

    ``w`` is the static weight (cycles) of what the tick stands for: one
    iteration of the loop (its body, a for's advance and branch, a while's
    test), or the straight-line body of the function. Weights are computed on
    the source before any tick is inserted. Without costs every weight is 0.
    """

    _ZERO = OpCosts(0, 0, 0)

    def __init__(self, costs: OpCosts | None = None, tree: ast.AST | None = None) -> None:
        self.w = _Weigh(costs or self._ZERO)
        self.c = costs or self._ZERO
        self.a = AllocBound(tree)

    @staticmethod
    def tick(at: ast.AST, w: int, n: int = 1) -> ast.Call:
        """``__budget__(w)``, or ``__budget_n__(w, n)`` for a tick counting as ``n``."""
        if n > 1:
            call = ast.Call(ast.Name(HOOK_N, ast.Load()), [ast.Constant(w), ast.Constant(n)], [])
        else:
            call = ast.Call(ast.Name(HOOK, ast.Load()), [ast.Constant(w)], [])
        return ast.copy_location(call, at)

    def stmt(self, at: ast.AST, w: int, n: int = 1) -> ast.Expr:
        return ast.copy_location(ast.Expr(self.tick(at, w, n)), at)

    def visit_For(self, node: ast.For) -> ast.AST:
        w = self.w.block(node.body) + 2 * self.c.insn + self.w.expr(node.target)
        n = alloc_ticks(self.a.block(node.body))
        self.generic_visit(node)
        node.body.insert(0, self.stmt(node, w, n))
        return node

    def visit_While(self, node: ast.While) -> ast.AST:
        w = self.w.block(node.body) + self.w.expr(node.test) + self.c.insn
        n = alloc_ticks(self.a.block(node.body) + self.a.expr(node.test))
        self.generic_visit(node)
        node.body.insert(0, self.stmt(node, w, n))
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        calls = not all(_call_free(s) for s in node.body)
        w = self.w.block(node.body)
        made = self.a.block(node.body)
        self.generic_visit(node)
        if calls:
            node.body.insert(0, self.stmt(node, w, alloc_ticks(made)))
        elif made > CALL_BYTES:  # no tick, and more than its caller counts for a call: a
            node.body.insert(0, self.stmt(node, 0, alloc_ticks(made)))  # tick of weight 0
        return node

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        calls = not _call_free(node.body)
        w = self.w.expr(node.body)
        made = self.a.expr(node.body)
        self.generic_visit(node)
        if calls or made > CALL_BYTES:  # the hook returns True: ``tick() and body`` is body
            t = self.tick(node, w if calls else 0, alloc_ticks(made))
            node.body = ast.copy_location(ast.BoolOp(ast.And(), [t, node.body]), node.body)
        return node

    def _comp(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp,
              elt: int) -> ast.AST:
        last = len(node.generators) - 1
        ws = [self.w.comprehension(g, elt if i == last else 0) for i, g in enumerate(node.generators)]
        ns = [alloc_ticks(self.a.comprehension(node, i)) for i in range(len(node.generators))]
        self.generic_visit(node)
        for g, w, n in zip(node.generators, ws, ns, strict=True):
            g.ifs.insert(0, self.tick(g.target, w, n))
        return node

    def visit_ListComp(self, node: ast.ListComp | ast.SetComp) -> ast.AST:
        return self._comp(node, self.w.expr(node.elt) + self.c.mem_ref)  # the element, stored

    visit_SetComp = visit_ListComp

    def visit_GeneratorExp(self, node: ast.GeneratorExp) -> ast.AST:
        return self._comp(node, self.w.expr(node.elt))

    def visit_DictComp(self, node: ast.DictComp) -> ast.AST:
        return self._comp(node, self.w.expr(node.key) + self.w.expr(node.value) + self.c.mem_ref)


def verify(source: str, filename: str = "<extension>", *,
           interfaces: Iterable[str] = DEFAULT_INTERFACES,
           modules: Mapping[str, Any] | None = None,
           budget: int = DEFAULT_BUDGET, costs: OpCosts | None = None,
           clock: Any = None, quota: int = DEFAULT_QUOTA) -> Verified:
    """Check, instrument and load an extension, or raise ``Rejected``.

    ``modules`` maps an interface module name (``"spin"``) to the object its
    imports resolve against (the linker's job; default: nothing may be
    imported at load time). The module body runs under the budget; the
    budget is reset before ``verify`` returns.

    ``costs`` (``OpCosts``) weighs each tick with the static cost of the code it
    stands for, summed in ``budget.spent``; with a ``clock`` as well, each tick
    also advances ``clock.now`` by its weight: the code charges for itself.
    Without ``costs`` the ticks only count.

    The builtins that work in C are shims and the operators that can grow are
    checked (bounded.py): they charge the budget by the size of their input,
    refuse input beyond the limits with ``LimitExceeded``, and measure what the
    module keeps against ``quota`` bytes (``QuotaExceeded`` beyond it).
    """
    code, imports, tops = _compile(source, filename, tuple(interfaces), costs)
    linked = dict(modules or {})

    def importer(name: str, globals: Any = None, locals: Any = None,
                 fromlist: Any = (), level: int = 0) -> Any:
        top = name if fromlist else name.split(".")[0]
        if top not in linked:
            raise ImportError(f"{filename}: interface {top!r} is not linked")
        return linked[top]

    b = Budget(budget, clock=clock if costs is not None else None, measure=costs is not None)
    safe_builtins: dict[str, Any] = {n: getattr(builtins, n) for n in ALLOWED_BUILTINS}
    own = OwnClasses(filename)  # its classes: the only objects whose attributes it may change
    safe_builtins["__build_class__"] = own.build_class
    safe_builtins["__import__"] = importer
    namespace: dict[str, Any] = {"__builtins__": safe_builtins, "__name__": f"extension.{module_name(filename)}",
                                 HOOK: b.hook, HOOK_N: b.hook_n, OWN_HOOK: own.hook,
                                 OWN_CLASSES: own.classes}
    meter = Meter(b.cell, BudgetExceeded, quota, QuotaExceeded)
    for name, shim in meter.namespace().items():  # bounded.py: shims and checked operators
        (safe_builtins if name in ALLOWED_BUILTINS else namespace)[name] = shim
    meter.watch(namespace, namespace["__name__"])
    b.measure = meter.measure
    exec(code, namespace)
    b.reset()
    return Verified(filename, {n: namespace[n] for n in tops}, imports, b, meter)


def module_name(filename: str) -> str:
    """An extension's name: its file's stem (``/x/count.py`` -> ``count``)."""
    return filename.rsplit("/", 1)[-1].removesuffix(".py")


@functools.lru_cache(maxsize=128)
def _compile(source: str, filename: str, interfaces: tuple[str, ...],
             costs: OpCosts | None) -> tuple[types.CodeType, tuple[str, ...], tuple[str, ...]]:
    """Check, instrument and compile ``source``: (code, imports, top-level names), or
    raise ``Rejected``. A pure function of its arguments, so it is cached: a kernel that
    boots again (every test, every benchmark run, every ``boot("spin")`` that starts
    posix programs) verifies the same extensions again, and parsing, two walks and the
    compiler were most of the time of a short program on SPIN. Every ``verify`` still
    runs the module body in a namespace and under a budget of its own; the code object
    is shared, which is what Python does for every import of a module. Rejections are
    not cached (an exception is not a result); they are found again each time."""
    violations = check(source, filename, interfaces=interfaces)
    if violations:
        raise Rejected(filename, violations)
    tree = ast.parse(source, filename)
    c = _Checker(interfaces)
    c.visit(tree)
    tree = guard_stores(ast.fix_missing_locations(_Instrument(costs, tree).visit(tree)))
    tree = rewrite(tree)  # bounded.py: checked operators, after the ticks are weighed
    code = compile(tree, filename, "exec")
    register_module(tree, code)  # guards the dispatcher may inline (pure.py)
    tops = tuple(s.name for s in tree.body if isinstance(s, ast.FunctionDef | ast.ClassDef))
    return code, tuple(c.imports), tops
