"""Pure expressions: guards the dispatcher may compile inline instead of calling.

What this is
    A SPIN guard is a side-effect-free predicate on an event's arguments. When
    a guard is a function whose body is a single ``return <expr>`` (or a
    ``lambda``) and ``<expr>`` reads nothing but its parameters and constants,
    with no call, no lambda, no comprehension and no assignment expression,
    then calling it and evaluating ``<expr>`` with the arguments substituted
    for the parameters are the same computation: same operations in the same
    order, same exceptions. The dispatcher can then paste the expression into
    its generated raise function and save a Python call per guard.

Why it is built this way
    The proof is done on the AST, where the shape is evident, and recorded
    against the function's *code object* (every function made from that code,
    e.g. each evaluation of a ``lambda``, shares it). A function qualifies
    only if it is an ordinary function, its code is registered and it carries
    no defaults, so a function whose ``__code__`` or defaults were replaced
    afterwards is not inlined. Names other than the parameters (globals,
    builtins, closure variables) disqualify: they could be rebound between
    installation and raise. Attribute and subscript reads are allowed: the
    verifier has already checked their names, and they evaluate the same
    whether inlined or called. No call means no budget hook (the verifier
    instruments only functions that call), so nothing is lost by inlining.

    Two sources register code: ``verify`` (extension code; every function and
    lambda of the module that has the shape) and ``pure(fn)`` (trusted kernel
    code marking a guard explicitly; it reads ``fn``'s source).

Interface
    ``expression(fn) -> PureExpr | None``; ``pure(fn) -> fn`` (raises
    ``ValueError`` if fn has not the shape or no source);
    ``register_module(tree, code) -> int`` (the verifier's hook);
    ``PureExpr.inline(names) -> str``.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import types
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["PureExpr", "expression", "pure", "register_module"]

#: The node types a pure expression may contain (besides its operators and contexts).
_ALLOWED = (ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Compare, ast.IfExp, ast.Name, ast.Constant,
            ast.Tuple, ast.Subscript, ast.Slice, ast.Attribute,
            ast.boolop, ast.operator, ast.unaryop, ast.cmpop, ast.expr_context)


@dataclass(frozen=True)
class PureExpr:
    """``expr`` over ``params`` (positional parameter names), and nothing else."""

    params: tuple[str, ...]
    expr: ast.expr

    def inline(self, names: Sequence[str]) -> str:
        """The expression as source, with ``names[i]`` in place of parameter ``i``,
        parenthesised so it can stand anywhere."""
        sub = dict(zip(self.params, names, strict=True))

        class Rename(ast.NodeTransformer):
            def visit_Name(self, node: ast.Name) -> ast.AST:
                return ast.copy_location(ast.Name(sub[node.id], ast.Load()), node)

        tree = Rename().visit(ast.parse(ast.unparse(self.expr), mode="eval"))
        return f"({ast.unparse(tree)})"


_REGISTRY: weakref.WeakKeyDictionary[types.CodeType, PureExpr] = weakref.WeakKeyDictionary()


def _shape(node: ast.AST) -> PureExpr | None:
    """The pure expression of a ``def`` or ``lambda`` node, or None."""
    if isinstance(node, ast.Lambda):
        body: ast.expr = node.body
    elif isinstance(node, ast.FunctionDef):
        stmts = node.body
        if (stmts and isinstance(stmts[0], ast.Expr) and isinstance(stmts[0].value, ast.Constant)
                and isinstance(stmts[0].value.value, str)):
            stmts = stmts[1:]  # a docstring
        if node.decorator_list or len(stmts) != 1 or not isinstance(stmts[0], ast.Return) \
                or stmts[0].value is None:
            return None
        body = stmts[0].value
    else:
        return None
    a = node.args
    if a.vararg or a.kwarg or a.kwonlyargs or a.defaults or a.kw_defaults:
        return None
    params = tuple(p.arg for p in a.posonlyargs + a.args)
    for n in ast.walk(body):
        if not isinstance(n, _ALLOWED):
            return None
        if isinstance(n, ast.Name) and (n.id not in params or not isinstance(n.ctx, ast.Load)):
            return None
    return PureExpr(params, body)


def _fits(code: types.CodeType, p: PureExpr) -> bool:
    n = len(p.params)
    return (code.co_argcount == n and code.co_kwonlyargcount == 0 and not code.co_freevars
            and code.co_varnames[:n] == p.params
            and not code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS
                                     | inspect.CO_GENERATOR | inspect.CO_COROUTINE))


def _codes(code: types.CodeType) -> list[types.CodeType]:
    out = [code]
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            out += _codes(c)
    return out


def register_module(tree: ast.Module, code: types.CodeType) -> int:
    """Record every function or lambda of ``tree`` (compiled to ``code``) that is a pure
    expression. A code object is matched to its node by name and first line; if several
    nodes share both and differ, none of them is recorded. Returns how many were."""
    nodes: dict[tuple[str, int], list[ast.AST]] = {}
    for n in ast.walk(tree):
        if isinstance(n, ast.Lambda | ast.FunctionDef | ast.AsyncFunctionDef):
            name = "<lambda>" if isinstance(n, ast.Lambda) else n.name
            nodes.setdefault((name, n.lineno), []).append(n)
    found = 0
    for c in _codes(code):
        cands = nodes.get((c.co_name, c.co_firstlineno))
        if not cands:
            continue
        shapes = [_shape(n) for n in cands]
        p = shapes[0]
        if p is None or any(s is None or s.params != p.params
                            or ast.dump(s.expr) != ast.dump(p.expr) for s in shapes[1:]):
            continue
        if _fits(c, p):
            _REGISTRY[c] = p
            found += 1
    return found


def expression(fn: Any) -> PureExpr | None:
    """``fn``'s pure expression if it has one on record (see the module note), else None."""
    if type(fn) is not types.FunctionType or fn.__defaults__ or fn.__kwdefaults__:
        return None
    return _REGISTRY.get(fn.__code__)


F = TypeVar("F", bound=Callable[..., Any])


def pure(fn: F) -> F:
    """Mark a trusted kernel function as a pure expression (usable as a decorator).
    Reads its source; raises ValueError if it has none or not the shape."""
    if type(fn) is not types.FunctionType:
        raise ValueError(f"pure: {fn!r} is not a plain function")
    try:
        src = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        raise ValueError(f"pure: no source for {fn.__name__!r}") from None
    code = fn.__code__
    try:
        tree = ast.parse(src)
    except SyntaxError:  # a lambda inside a statement that spans lines
        raise ValueError(f"pure: cannot read the source of {fn.__name__!r}") from None
    for n in ast.walk(tree):
        if isinstance(n, ast.FunctionDef):
            n.decorator_list = []  # trusted code: @pure itself is the decorator
    shapes = [s for n in ast.walk(tree)
              if isinstance(n, ast.Lambda | ast.FunctionDef)
              and ("<lambda>" if isinstance(n, ast.Lambda) else n.name) == code.co_name
              for s in [_shape(n)] if s is not None]
    if len(shapes) != 1 or not _fits(code, shapes[0]) or fn.__defaults__ or fn.__kwdefaults__:
        raise ValueError(f"pure: {fn.__name__!r} is not a single 'return <expression>' over its "
                         "parameters and constants (no calls, no other names)")
    _REGISTRY[code] = shapes[0]
    return fn
