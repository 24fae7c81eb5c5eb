"""C-level work in comparisons, membership, slices and huge ints: one operator that walks a
list or dict DAG (``a = [a, a]`` sixty times: 2**60 nodes unfolded) or divides two ints of
millions of bits, in C, where the budget cannot stop it. Each attack must end the attacker
(or give it an ordinary exception) within the wall-clock limit, and the bystander answers."""

from __future__ import annotations

import pytest

from attacks.builtins_common import check, script
from attacks.harness import run_attack

HEAD = '''
from spin import Trap

state = {}

def dag():
    a = [0]
    b = [0]
    for i in range(60):
        a = [a, a]
        b = [b, b]
    return a, b

'''
TAIL = '''

def install():
    Trap.claim(61, boom)
'''

ATTACKS = {
    # two distinct list DAGs of 2**60 nodes each: == compares them pairwise in C
    "list_dag_eq": ('''
def boom(number, args):
    a, b = dag()
    return a == b
''', "value of more than"),
    # the same through < and !=
    "list_dag_lt": ('''
def boom(number, args):
    a, b = dag()
    return a < b or a != b
''', "value of more than"),
    # a dict holding one DAG compared with a dict holding the other
    "dict_dag_eq": ('''
def boom(number, args):
    a, b = dag()
    return {"k": a} == {"k": b}
''', "value of more than"),
    # membership: a DAG looked for in a list holding the other
    "list_dag_in": ('''
def boom(number, args):
    a, b = dag()
    return a in [1, b]
''', "value of more than"),
    # list.index and list.count compare too
    "list_dag_index": ('''
def boom(number, args):
    a, b = dag()
    return [b, a].index(a) + [b].count(a)
''', "value of more than"),
    # a chained comparison
    "list_dag_chain": ('''
def boom(number, args):
    a, b = dag()
    return 0 < 1 <= len(a) and a <= b < [2]
''', "value of more than"),
    # sorted(key=...) compares the keys in C, not the items: keys that are DAGs
    "sorted_key_dag": ('''
def boom(number, args):
    a, b = dag()
    return sorted([0, 1], key=lambda i: [a, b][i])
''', "value of more than"),
    # list.sort() of DAGs
    "sort_method_dag": ('''
def boom(number, args):
    a, b = dag()
    l = [a, b]
    l.sort()
    return len(l)
''', "value of more than"),
    # max(key=...) likewise
    "max_key_dag": ('''
def boom(number, args):
    a, b = dag()
    return len(max([0, 1], key=lambda i: [a, b][i]))
''', "value of more than"),
    # a loop of big slices: each copies a million elements in C, uncharged before
    "slice_loop": ('''
def boom(number, args):
    big = [0] * (1 << 20)
    n = 0
    while True:
        n += len(big[1:])
''', "budget exceeded"),
    # a loop of big copies (list.copy)
    "copy_loop": ('''
def boom(number, args):
    big = [0] * (1 << 20)
    n = 0
    while True:
        n += len(big.copy())
''', "budget exceeded"),
    # a huge int from a hex string (linear in C), then a quadratic division of two halves
    "int_hex": ('''
def boom(number, args):
    x = int("f" * (1 << 20), 16)
    y = x >> (1 << 21)
    return (x // y).bit_length() + (x % (y + 1)).bit_length()
''', "LimitExceeded: int()"),
    # the same from bytes
    "int_from_bytes": ('''
def boom(number, args):
    x = int.from_bytes(b"\\xff" * (1 << 20), "big")
    return divmod(x, x >> (1 << 22))[0].bit_length()
''', "LimitExceeded: int()"),
    # a refusal the attacker catches and repeats must not be free: a walk that fails
    # after a million nodes is charged a million nodes
    "refusal_loop": ('''
def boom(number, args):
    a, b = dag()
    while True:
        try:
            a == b
        except ValueError:
            pass
''', "budget exceeded"),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_is_unbounded_work_in_comparisons_slices_and_ints_refused(name):
    body, expect = ATTACKS[name]
    out = run_attack(script(HEAD + body + TAIL, [61]), timeout_s=30)
    check(out, expect)
