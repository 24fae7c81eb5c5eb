"""UDFs: the verifier's rule for XN's untrusted deterministic functions.

What this models
    XN (Kaashoek et al., SOSP 1997, section 4.3) learns what a library file
    system's metadata block points to by running the library's own function
    on the block's bytes: a UDF, an *untrusted deterministic function*. The
    kernel runs it before and after every change of the block and compares
    the two answers, so the answer must depend on the bytes and nothing
    else: the same bytes, the same pointers, every time. Xok's UDFs are in a
    small pseudo-assembly language with no state; ours are Python in the
    verifier's safe subset (verifier.py: no names it was not given, no
    introspection, a budget on loops and calls), and this module adds what
    makes such a module deterministic:

    * its top level defines functions and nothing else (a docstring
      aside): no assignment, no class, no statement that runs, so it keeps
      no state between calls (a module-level list it appended to would make
      the second answer differ from the first);
    * no ``global`` or ``nonlocal`` statement, so no call rebinds a name
      another call reads;
    * a parameter's default, if any, is a constant (a default list is state
      shared by every call);
    * no ``yield`` (a generator answers lazily, after the kernel checked it).

    What the function may read is its argument (the block, as ``bytes``, an
    immutable value) and its own locals; the verifier gives it no interface,
    so it can reach nothing else.

Why it is built this way
    A rule over the AST, run before ``verify``: ``verify`` then checks the
    safe subset, instruments the loops and calls for the budget, and loads
    the module. The two together are what the kernel accepts (aegis/xn.py).
    The rule is conservative: it refuses some deterministic modules (a
    module-level constant table) that a Python programmer would write; a
    UDF inlines its constants instead.

Interface
    ``udf_violations(source, filename) -> list[Violation]`` (empty: the rule
    holds; a syntax error is left to ``verify``); ``verify_udf(source,
    filename, entry, **verify_options) -> Verified`` raises ``Rejected`` with
    every violation of both.
"""

from __future__ import annotations

import ast
from typing import Any

from .verifier import Rejected, Verified, Violation, verify

__all__ = ["udf_violations", "verify_udf"]


def udf_violations(source: str, filename: str = "<udf>") -> list[Violation]:
    """What keeps ``source`` from being a deterministic UDF module (see the module note)."""
    try:
        tree = ast.parse(source, filename)
    except SyntaxError:
        return []  # verify reports it, with its position
    bad: list[Violation] = []

    def at(node: ast.AST, code: str, msg: str) -> None:
        bad.append(Violation(getattr(node, "lineno", 1), getattr(node, "col_offset", 0) + 1, code, msg))

    for i, stmt in enumerate(tree.body):
        if isinstance(stmt, ast.FunctionDef):
            continue
        if i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) \
                and isinstance(stmt.value.value, str):
            continue  # the docstring
        at(stmt, "E501", f"a UDF module defines only functions at its top level, not a "
                         f"{type(stmt).__name__} (module state would make the UDF's answer change)")
    for node in ast.walk(tree):
        if isinstance(node, ast.Global | ast.Nonlocal):
            at(node, "E502", f"a UDF may not rebind names outside its own call: {type(node).__name__.lower()} "
                             f"{', '.join(node.names)}")
        elif isinstance(node, ast.FunctionDef | ast.Lambda):
            for d in [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]:
                if not isinstance(d, ast.Constant):
                    at(d, "E503", "a UDF's parameter default must be a constant (a default object is state "
                                  "shared by every call)")
        elif isinstance(node, ast.Yield | ast.YieldFrom | ast.Await):
            at(node, "E504", "a UDF returns its answer; it may not yield or await")
        elif isinstance(node, ast.AsyncFunctionDef):
            at(node, "E504", "a UDF may not be an async function")
    return sorted(bad)


def verify_udf(source: str, filename: str, entry: str, **options: Any) -> Verified:
    """Check ``source`` against the UDF rule and the safe subset, load it, and make sure it
    defines ``entry``; raise ``Rejected`` otherwise. ``options`` go to ``verify`` (budget,
    costs, clock); the module is given no interface."""
    bad = udf_violations(source, filename)
    if bad:
        raise Rejected(filename, bad)
    v = verify(source, filename, interfaces=(), **options)
    if not callable(v.exports.get(entry)):
        raise Rejected(filename, [Violation(1, 1, "E505", f"the UDF module defines no function {entry!r}")])
    return v
