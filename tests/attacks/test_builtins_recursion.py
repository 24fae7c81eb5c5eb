"""C-level recursion: values nested deep enough that a builtin recursing in C overflows
the C stack (SIGSEGV on a system without the tuple invariant, bounded.py)."""

from __future__ import annotations

import pytest

from attacks.builtins_common import check, script
from attacks.harness import run_attack

HEAD = '''
from spin import Trap

state = {"t": ()}

'''
TAIL = '''

def install():
    Trap.claim(60, grow)
    Trap.claim(61, boom)
'''

ATTACKS = {
    # the attack: a tuple nested 500 000 deep over ten calls, then hash()
    "hash": ('''
def grow(number, args):
    t = state["t"]
    for i in range(50000):
        t = (t,)
    state["t"] = t
    return 0

def boom(number, args):
    return hash(state["t"])
''', "nested more than 100 deep"),
    # the same, hashed implicitly: a dict key
    "dict_key": ('''
def grow(number, args):
    t = state["t"]
    for i in range(50000):
        t = (t, 1)
    state["t"] = t
    return 0

def boom(number, args):
    d = {}
    d[state["t"]] = 1
    return len(d)
''', "nested more than 100 deep"),
    # tuples made in C: zip
    "zip": ('''
def grow(number, args):
    t = state["t"]
    for i in range(30000):
        for u in zip([t]):
            t = u
    state["t"] = t
    return 0

def boom(number, args):
    return len({state["t"]})
''', "nested more than 100 deep"),
    # tuples made by *args packing
    "varargs": ('''
def wrap(*a):
    return a

def grow(number, args):
    t = state["t"]
    for i in range(30000):
        t = wrap(t)
    state["t"] = t
    return 0

def boom(number, args):
    return hash(state["t"])
''', "nested more than 100 deep"),
    # tuples made by an exception's args
    "exception_args": ('''
def grow(number, args):
    t = state["t"]
    for i in range(30000):
        t = ValueError(t).args
    state["t"] = t
    return 0

def boom(number, args):
    return hash(state["t"])
''', "nested more than 100 deep"),
    # tuples made by dict.items()
    "items": ('''
def grow(number, args):
    t = state["t"]
    for i in range(30000):
        for p in {0: t}.items():
            t = p
    state["t"] = t
    return 0

def boom(number, args):
    return hash(state["t"])
''', "nested more than 100 deep"),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_is_a_deep_tuple_refused_before_a_hash_can_overflow_the_c_stack(name):
    body, expect = ATTACKS[name]
    out = run_attack(script(HEAD + body + TAIL, [60] * 10 + [61]), timeout_s=120)
    check(out, expect)


DEEP_LISTS = '''
from spin import Trap

state = {"a": [], "b": []}

def grow(number, args):
    a, b = state["a"], state["b"]
    for i in range(40000):
        a = [a]
        b = [b]
    state["a"], state["b"] = a, b
    return 0

def repr_(number, args):
    return len(str(state["a"]))

def eq(number, args):
    return state["a"] == state["b"]

def sort(number, args):
    return len(sorted([state["a"], state["b"]]))

def install():
    Trap.claim(60, grow)
    Trap.claim(61, repr_)
    Trap.claim(62, eq)
    Trap.claim(63, sort)
'''


@pytest.mark.parametrize("call", [61, 62, 63])
def test_does_deep_repr_eq_or_sorted_end_the_domain_not_the_simulator(call):
    # CPython guards these recursions (RecursionError); the shims refuse str() and
    # sorted() of them earlier, by size; == is left to CPython's guard
    out = run_attack(script(DEEP_LISTS, [60, 60, 60, call]), timeout_s=120)
    check(out, "its handler on Trap was terminated")
