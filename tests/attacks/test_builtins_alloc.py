"""Huge allocations: one step that allocates gigabytes, and a domain that keeps more than
its memory quota over many calls (each within its budget)."""

from __future__ import annotations

import pytest

from attacks.builtins_common import check, script
from attacks.harness import run_attack

HEAD = '''
from spin import Trap

state = {"s": "x" * 1000, "keep": []}

'''
TAIL = '''

def install():
    Trap.claim(61, boom)
'''

ATTACKS = {
    "str_mult": ('''
def boom(number, args):
    n = 1 << 40
    return len("x" * n)
''', "LimitExceeded: repetition"),
    "list_mult": ('''
def boom(number, args):
    n = 1 << 28
    return len([0] * n)
''', "LimitExceeded: repetition"),
    "shift": ('''
def boom(number, args):
    n = 1 << 36
    return (1 << n) & 1
''', "LimitExceeded: <<"),
    "join": ('''
def boom(number, args):
    s = state["s"] * 1000
    return len("".join([s] * 1200))
''', "LimitExceeded: join"),
    "ljust": ('''
def boom(number, args):
    return len("a".ljust(1 << 31))
''', "LimitExceeded: ljust"),
    "replace": ('''
def boom(number, args):
    s = state["s"] * 1000
    return len(s.replace("", s))
''', "LimitExceeded: replace"),
    "doubling": ('''
def boom(number, args):
    s = state["s"]
    for i in range(40):
        s = s + s
    return len(s)
''', "LimitExceeded: concatenation"),
    "bytes": ('''
def boom(number, args):
    return len(bytes(1 << 33))
''', "LimitExceeded: bytes"),
    "fstring_width": ('''
def boom(number, args):
    return len(f"{1:>1999999999}")
''', "E121"),
    "percent_width": ('''
def boom(number, args):
    w = 1 << 31
    return len("%*d" % (w, 1))
''', "LimitExceeded: %-formatting"),
    "str_of_shared": ('''
def boom(number, args):
    s = state["s"] * 1000
    return len(str([s] * 3000))
''', "LimitExceeded: str()"),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_is_a_huge_allocation_refused(name):
    body, expect = ATTACKS[name]
    out = run_attack(script(HEAD + body + TAIL, [61]), timeout_s=60)
    check(out, expect)


QUOTA = '''
from spin import Trap

state = {"keep": []}

def hoard(number, args):
    n = 1 << 20
    state["keep"].append("x" * n)
    return len(state["keep"])

def install():
    Trap.claim(61, hoard)
'''


def test_does_a_domain_that_keeps_more_than_its_quota_end_and_not_the_simulator():
    # a 1 MiB string kept per call: the quota (64 MiB) ends it at about the 64th call;
    # without it, the host's memory would (here: the child's 2 GiB limit, MemoryError)
    out = run_attack(script(QUOTA, [61] * 2500), timeout_s=120)
    check(out, "memory quota of")
