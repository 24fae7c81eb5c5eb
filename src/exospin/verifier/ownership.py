"""What verified code may change: attributes only of objects of its own classes.

What this models
    SPIN's Modula-3 extensions could change only what their types let them:
    an interface exported procedures and opaque types, never a variable
    another module could rebind (Bershad et al., SOSP 1995, section 3.1).
    In Python every object with a ``__dict__`` (a class, a function, an
    instance) takes ``x.attr = v`` from anyone who holds it, so one line
    (``Errors.fail.errno = 0``) would change the kernel's error class for
    every domain. The rule here: an extension may assign or delete an
    attribute only of an *instance of a class it defined itself* (its own
    module body or functions built the class; a subclass it defines of
    another's class is its own too). Everything else is read-only to it:
    classes (its own included: class state lives in module dicts), functions,
    the kernel's objects, interface objects, and instances of classes other
    domains defined, even ones it made by calling their constructors.

Why it is built this way
    Which object an attribute target names is known only at run time (a
    parameter, an alias, a method of the extension's class called on a
    foreign object as ``Cls.method(other)``), so the rule is checked where
    the store happens: the compiler's AST is rewritten so that the object of
    every attribute store, augmented store and ``del`` goes through the hook
    ``__own__(obj, name)`` (one call, a type lookup in a set) before Python
    stores into it, after the value is computed: the object checked is the
    object changed. The hook raises ``PermissionError`` in the extension,
    an ordinary exception: a handler that lets it escape is terminated. The
    set of the extension's classes is filled by its ``__build_class__``:
    every class statement it runs adds one, at load or at run time.

    A store rooted at an imported name (``Trap.x = ...``, ``Errors.fail.y =
    ...``) can never be allowed, so it is refused statically as well (E130):
    the extension is rejected before it runs.

    Attribute *reads*, item stores (``d[k] = v``) and method calls are not
    restricted: containers are shared only when their owner hands them out,
    and every kernel interface hands out values and capabilities, not its
    containers (docs/verifier.md).

Interface
    ``check_stores(tree) -> list[(node, message)]`` (E130);
    ``guard_stores(tree)`` rewrites the attribute targets;
    ``OwnClasses(filename)``: ``.build_class`` (the extension's
    ``__build_class__``), ``.hook`` (its ``__own__``), ``.classes``.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Callable
from typing import Any

#: The injected hook's name in an extension's namespace (verified code cannot name it).
OWN_HOOK = "__own__"
#: The name of the set of the extension's classes in its namespace (the inline test reads it).
OWN_CLASSES = "__own_classes__"


def _dotted(node: ast.expr) -> tuple[str | None, str]:
    """The root name of an attribute chain (None if not rooted at a name) and its text."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return node.id, ".".join(reversed(parts))
    return None, ".".join(reversed(parts))


def _imported_names(tree: ast.Module) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            out.update(a.asname or a.name for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.asname or a.name.split(".")[0] for a in node.names)
    return out


def check_stores(tree: ast.Module) -> list[tuple[ast.AST, str]]:
    """Attribute stores and deletions whose object is reached from an imported name (E130).

    An imported name is one of the kernel's or another domain's interfaces or
    exports: nothing reached from it is the extension's own."""
    imported = _imported_names(tree)
    found: list[tuple[ast.AST, str]] = []
    if not imported:
        return found
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store | ast.Del):
            root, text = _dotted(node)
            if root in imported:
                verb = "deleting" if isinstance(node.ctx, ast.Del) else "assigning"
                found.append((node, f"{verb} an attribute of an imported name is not allowed: "
                                    f"{text!r} (an extension changes only objects of its own classes)"))
    return found


class _GuardStores(ast.NodeTransformer):
    """``x.a = v`` -> ``__own__(x, 'a').a = v`` (and the same for ``+=`` and ``del``).

    When the object is a plain name (``self.a = v``, the common case), the test is
    inlined instead: ``(x if x.__class__ in __own_classes__ else __own__(x, 'a')).a = v``
    (evaluating a name twice has no effect; the hook then only raises). A call costs
    about as much as the store itself; the inline test is a load and a set lookup."""

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.ctx, ast.Store | ast.Del):
            obj = node.value
            call = ast.Call(ast.Name(OWN_HOOK, ast.Load()), [obj, ast.Constant(node.attr)], [])
            if isinstance(obj, ast.Name):
                mine = ast.Compare(ast.Attribute(ast.Name(obj.id, ast.Load()), "__class__", ast.Load()),
                                   [ast.In()], [ast.Name(OWN_CLASSES, ast.Load())])
                guarded: ast.expr = ast.IfExp(mine, ast.Name(obj.id, ast.Load()), call)
            else:
                guarded = call
            node.value = ast.copy_location(guarded, obj)
        return node


def guard_stores(tree: ast.Module) -> ast.Module:
    """Rewrite every attribute target of ``tree`` to pass its object through ``__own__``."""
    out = _GuardStores().visit(tree)
    assert isinstance(out, ast.Module)
    return ast.fix_missing_locations(out)


def _what(obj: Any) -> str:
    if isinstance(obj, type):
        return f"class {obj.__qualname__}"
    name = getattr(type(obj), "__qualname__", "object")
    if callable(obj) and hasattr(obj, "__qualname__"):
        return f"{name} {obj.__qualname__}"
    return f"an object of class {name!r}"


class OwnClasses:
    """One extension's classes, and the hook that lets it change only their instances."""

    def __init__(self, filename: str) -> None:
        self.classes: set[type] = set()
        classes = self.classes
        build = builtins.__build_class__

        def build_class(func: Callable[..., Any], name: str, *bases: Any, **kw: Any) -> Any:
            cls = build(func, name, *bases, **kw)
            classes.add(cls)
            return cls

        def own(obj: Any, attr: str) -> Any:
            if type(obj) in classes:
                return obj
            raise PermissionError(f"{filename}: may not change attribute {attr!r} of {_what(obj)}: "
                                  f"an extension changes only instances of its own classes")

        self.build_class = build_class
        self.hook = own
