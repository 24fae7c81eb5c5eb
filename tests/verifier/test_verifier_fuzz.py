"""Fuzz: random programs that pass the verifier, run under a small budget, in process.

The generator draws handlers from a grammar that mixes ordinary code with the moves of
the attack corpus (nesting in tuples, doubling, huge constants and ranges, joins,
paddings, extends, hashing, str() and sorting of what was built) and keeps the ones the
verifier accepts. Each runs a few times; whatever it does must end (an ordinary
exception, ``BudgetExceeded``, a result) quickly, and every value it returns or keeps
must be within the tuple invariant (bounded.py), so that hashing it, here or in the
kernel, is bounded. A C-level crash would take the test process with it: running in
process is the claim that the defences make it impossible.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exospin.verifier import BudgetExceeded, check, verify
from exospin.verifier.bounded import check_tuple, walk_size

VARS = ["a", "b", "c"]
ATOMS = ["0", "7", "-3", "10 ** 9", "1 << 40", "'x'", "'ab' * 50", "()", "[]", "(1, 2)", "{}",
         "range(5)", "range(10 ** 12)", "state['k']", "2.5", "None", "b'xy'"]
BINOPS = ["+", "*", "**", "<<", "%", "-", "//", "&"]
CALLS = ["hash", "str", "sorted", "tuple", "list", "set", "frozenset", "len", "sum", "max", "min",
         "any", "all", "bytes", "repr_free", "zip", "enumerate", "dict", "abs", "bool", "int"]
METHODS = ["join({})", "ljust({})", "replace('x', {})", "extend({})", "append({})", "items()",
           "count({})", "zfill({})", "expandtabs({})", "to_bytes({})"]

name = st.sampled_from(VARS)
atom = st.one_of(name, st.sampled_from(ATOMS))


@st.composite
def expr(draw: st.DrawFn, depth: int = 0) -> str:
    if depth > 2:
        return draw(atom)
    k = draw(st.integers(0, 7))
    sub = expr(depth + 1)
    if k == 0:
        return draw(atom)
    if k == 1:
        return f"({draw(sub)} {draw(st.sampled_from(BINOPS))} {draw(sub)})"
    if k == 2:
        return f"({draw(sub)}, {draw(sub)})"
    if k == 3:
        return f"[{draw(sub)}, {draw(sub)}]"
    if k == 4:
        f = draw(st.sampled_from(CALLS))
        f = "len" if f == "repr_free" else f
        return f"{f}({draw(sub)})" if f not in ("zip", "enumerate") else f"list({f}({draw(sub)}))"
    if k == 5:
        m = draw(st.sampled_from(METHODS))
        return f"{draw(name)}.{m.format(draw(sub))}"
    if k == 6:
        return f"{draw(sub)}[{draw(sub)}]"
    return f"({draw(sub)} in {draw(sub)})"


@st.composite
def statement(draw: st.DrawFn, indent: str = "    ", depth: int = 0) -> str:
    k = draw(st.integers(0, 5 if depth < 1 else 3))
    target = draw(name)
    if k == 0:
        return f"{indent}{target} = {draw(expr())}\n"
    if k == 1:
        return f"{indent}{target} += {draw(expr())}\n"
    if k == 2:
        return f"{indent}state['k'] = {draw(expr())}\n"
    if k == 3:
        return f"{indent}{target} = ({target}, {draw(expr())})\n"
    n = draw(st.sampled_from(["3", "100", "10 ** 6"]))
    body = "".join(draw(st.lists(statement(indent + "        ", depth + 1), min_size=1, max_size=3)))
    return (f"{indent}for i in range({n}):\n{indent}    try:\n{body}"
            f"{indent}    except Exception:\n{indent}        {target} = i\n")


@st.composite
def program(draw: st.DrawFn) -> str:
    body = "".join(draw(st.lists(statement(), min_size=1, max_size=5)))
    return ("state = {'k': 1}\n\ndef h():\n    a, b, c = state['k'], 'x', (1,)\n"
            f"{body}    return (a, b, c)\n")


def _within(v: object) -> None:
    """Every tuple reachable from ``v`` (through lists, dicts and tuples) is within the invariant."""
    check_tuple(v)
    walk_size(v, limit=1 << 24)


@pytest.mark.filterwarnings("ignore::SyntaxWarning")  # e.g. "7[0]": the program is wrong, not the test
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program())
def test_does_every_verified_program_end_quickly_with_bounded_values(src: str) -> None:
    if check(src, "fuzz.py"):
        return  # not in the safe subset: the verifier's own tests cover refusals
    v = verify(src, "fuzz.py", budget=2000)
    h = v.exports["h"]
    for _ in range(3):
        v.budget.reset()
        start = time.perf_counter()
        try:
            result = h()
        except (Exception, BudgetExceeded):
            result = None
        assert time.perf_counter() - start < 5.0, src
        _within(result)
        _within(h.__globals__["state"])
        try:
            hash(result)
        except TypeError:
            pass  # a list inside: unhashable, as Python says


BYSTANDER = "from spin import Trap\n\ndef answer(number, args):\n    return 42\n\ndef install():\n    Trap.claim(70, answer)\n"


@pytest.mark.filterwarnings("ignore::SyntaxWarning")
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program())
def test_does_spin_survive_every_verified_program_as_an_extension(src: str) -> None:
    from exospin.systems import boot

    ext = "from spin import Trap\n\n" + src + "\ndef handler(number, args):\n    return h()\n\n" \
        "def install():\n    Trap.claim(60, handler)\n"
    if check(ext, "fuzz.py"):
        return
    k = boot("spin", "ds5000").kernel
    k.load(BYSTANDER, "bystander.py")
    k.load(ext, "fuzz.py")
    for _ in range(2):
        try:
            k.syscall(60)
        except Exception:
            pass  # terminated (the dispatcher said why) or no handler any more
    assert k.syscall(70) == 42 and k.check_invariants() == []
