"""Memory kept with no counted allocation point: each step makes a small string (``s + "x"``:
a constant operand, not a checked operator) and keeps it. No shim runs, so before the
kernel measured at the end of an activation the quota was never checked and the domain
grew until the host's memory ran out. Now every SETTLE_EVERY ticks and activations the end
of an activation measures what the domain keeps, and the quota ends it."""

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
    # a call-free handler (no tick at all) keeping 1 KB per activation, called many times
    "call_free": ('''
def boom(number, args):
    keep.append(s + "x")
    return 0
''', 200_000),
    # a while loop (ticked, no range, no shim) keeping 1 KB per step
    "while_loop": ('''
def boom(number, args):
    n = 0
    while n < 90000:
        keep.append(s + "x")
        n += 1
    return n
''', 40),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_is_memory_kept_without_a_counted_allocation_measured_at_an_activations_end(name):
    body, calls = ATTACKS[name]
    out = run_attack(script(HEAD + body + TAIL, [61] * calls), timeout_s=60)
    check(out, "memory quota of")
