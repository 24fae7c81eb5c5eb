"""Memory kept with no counted allocation point: each step makes a small list (a display:
no shim, no checked operator counts it) and keeps it. Before the kernel measured at the end
of an activation the quota was never checked and the domain grew until the host's memory
ran out. Now every SETTLE_EVERY ticks and activations the end of an activation measures
what the domain keeps, and the quota ends it. And a tick whose code makes many such
objects counts as several (bounded.AllocBound): before, a loop body of a hundred
straight-line small allocations took over a gigabyte in one activation, unmeasured.
"""

from __future__ import annotations

import pytest

from attacks.builtins_common import check, script
from attacks.harness import run_attack

HEAD = '''
from spin import Trap

keep = []
s = "y" * 1000

'''
TAIL = '''

def install():
    Trap.claim(61, boom)
'''

ATTACKS = {
    # a handler with one tick keeping a 2 KB string (a literal format width: no shim makes
    # it) per activation
    "call_free": ('''
def boom(number, args):
    keep.append(f"{number:>2000}")
    return 0
''', 200_000, "memory quota of"),
    # a while loop (ticked, no range, no shim) keeping a small list per step
    "while_loop": ('''
def boom(number, args):
    n = 0
    while n < 90000:
        keep.append([n, n, n, n, n, n, n, n, n, n])
        n += 1
    return n
''', 40, "memory quota of"),
    # a hundred straight-line small allocations per loop iteration, in one activation: it
    # runs out of its budget (each iteration counts as about 60 ticks) before it takes much
    "straight_line": ('''
def boom(number, args):
    n = 0
    while True:
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        keep.append([n, n, n, n, n, n, n, n])
        n += 1
    return n
''', 10, "budget exceeded"),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_is_memory_kept_without_a_counted_allocation_measured_at_an_activations_end(name):
    body, calls, expect = ATTACKS[name]
    out = run_attack(script(HEAD + body + TAIL, [61] * calls), timeout_s=60)
    check(out, expect)
    assert out.verdict["maxrss_mb"] < 600, out.verdict["maxrss_mb"]  # measured, not the host's limit
