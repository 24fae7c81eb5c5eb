"""C-level unbounded work: one builtin call or one operator that loops in C for ever (or
for 2**60 steps) where the budget, which counts Python-level steps, cannot stop it."""

from __future__ import annotations

import pytest

from attacks.builtins_common import check, script
from attacks.harness import run_attack

HEAD = '''
from spin import Trap

state = {"t": (), "l": [0]}

def nothing(number, args):
    return 0

'''
TAIL = '''

def install():
    Trap.claim(60, grow)
    Trap.claim(61, boom)
'''
NO_GROW = "grow = nothing\n"

ATTACKS = {
    # a sum over a lazy range, all in C
    "sum_range": (NO_GROW + '''
def boom(number, args):
    return sum(range(10 ** 18))
''', "LimitExceeded: range of"),
    # max() of the same
    "max_range": (NO_GROW + '''
def boom(number, args):
    return max(range(10 ** 18))
''', "LimitExceeded: range of"),
    # membership of a non-int in a range scans it in C
    "in_range": (NO_GROW + '''
def boom(number, args):
    return 0.5 in range(10 ** 18)
''', "LimitExceeded: range of"),
    # a huge power
    "pow": (NO_GROW + '''
def boom(number, args):
    n = 10
    return n ** (10 ** 9) % 7
''', "LimitExceeded: **"),
    # round() of an int to -10**9 digits computes 10 ** 10**9
    "round": (NO_GROW + '''
def boom(number, args):
    return round(12345, -10 ** 9)
''', "LimitExceeded: round"),
    # a tuple DAG of 2**80 unfolded nodes in 80 steps, then hash(): 2**80 steps in C
    "dag_hash": ('''
def grow(number, args):
    t = state["t"]
    for i in range(80):
        t = (t, t)
    state["t"] = t
    return 0

def boom(number, args):
    return hash(state["t"])
''', "unfolded weight"),
    # a list extended, in C, from an iterator over itself: endless; bounded, the iterator
    # is read first (once over the list as it was) and the call returns
    "extend_self": (NO_GROW + '''
def boom(number, args):
    l = state["l"]
    l.extend(zip(l))
    return len(l)
''', "=2"),
    # the same with +=
    "iadd_self": (NO_GROW + '''
def boom(number, args):
    l = state["l"]
    l += map(abs, l)
    return len(l)
''', "=2"),
    # a C loop calling a mutator it was given: refused by the verifier (E120)
    "append_as_value": (NO_GROW + '''
def boom(number, args):
    l = state["l"]
    return any(map(l.append, l))
''', "E120"),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_is_unbounded_work_in_c_refused(name):
    body, expect = ATTACKS[name]
    out = run_attack(script(HEAD + body + TAIL, [60, 61]), timeout_s=30)
    check(out, expect)
