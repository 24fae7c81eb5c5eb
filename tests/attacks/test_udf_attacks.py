"""Issue 15 for XN's UDFs (aegis/xn.py, verifier/udf.py): a hostile UDF ends the update it
was run for, refused with a readable reason, and nothing else (udf_frame.py: each attack in
a child process with a wall-clock limit and a 2 GiB memory limit).

A UDF runs under a budget of its own, restored for each run (one run is one activation: a
UDF is given no interface, so it cannot call the kernel or nest), with the bounded
builtins and checked operators of every verified module. Each attack changes a block of
the attacker's file system so that XN runs its UDF on the new bytes; the update must be
refused for the documented reason, the well-behaved file system must update afterwards,
XN's invariants hold, and another environment runs.
"""

from __future__ import annotations

import pytest

from attacks.harness import run_attack
from attacks.udf_frame import script

ATTACKS = {
    # unbounded recursion: RecursionError, an ordinary exception, ends the run
    "recursion": ('''
def owns(b):
    if b[0]:
        return deep(0)
    return []


def deep(n):
    return deep(n + 1)
''', 5_000, "raised RecursionError"),
    # an int squared until it is gigantic: the checked * refuses it by its bits
    "huge_int": ('''
def owns(b):
    x = 3
    if b[0]:
        for i in range(64):
            x = x * x
    return []
''', 5_000, "raised LimitExceeded: *: an int of about"),
    # two list DAGs of 2**80 unfolded nodes compared: the checked == walks one and refuses
    "dag_compare": ('''
def owns(b):
    if not b[0]:
        return []
    a = [0]
    c = [0]
    for i in range(80):
        a = [a, a]
        c = [c, c]
    if a == c:
        return []
    return []
''', 50_000, "raised LimitExceeded: ==: value of more than"),
    # a loop for ever: the budget
    "loop": ('''
def owns(b):
    n = 0
    while b[0]:
        n += 1
    return []
''', 5_000, "ran out of its budget"),
    # memory grown in one run by straight-line small allocations (each list under the
    # 64 elements a tick counts): on the largest budget a UDF may have, 100 of them per
    # iteration took gigabytes before the budget ran out; now every element made counts
    "memory": ('''
def owns(b):
    keep = []
    while b[0]:
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
        keep.append([0] * 63)
    return keep
''', 50_000, "ran out of its budget"),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_does_a_hostile_udf_end_its_update_and_nothing_else(name: str) -> None:
    source, budget, expect = ATTACKS[name]
    out = run_attack(script(source, budget), timeout_s=60)
    assert out.survived, out.describe()
    v = out.verdict
    assert v["update"].startswith("BadTemplate: xn_update: the UDF of type 1 "), v
    assert expect in v["update"], v
    assert v["good"] is True and v["xn"] == [] and v["bystander"] is True, v
    assert v["maxrss_mb"] < 400, v  # bounded before the memory ran out, not by the limit
