"""Bounded builtins (verifier/bounded.py): the shims answer as the builtins do for ordinary
input, refuse what is beyond their limits with an exception the extension can catch,
charge the budget by size, and the quota ends a domain that keeps too much."""

from __future__ import annotations

import pytest

from exospin.verifier import BudgetExceeded, LimitExceeded, QuotaExceeded, expression, verify
from exospin.verifier.bounded import MAX_DEPTH, MAX_LEN, tuple_weight

ORDINARY = '''
class Table(dict):
    def __init__(self, n):
        self.n = n

def types_(x):
    out = []
    for t in (tuple, list, dict, set, frozenset, str, bytes, range, int):
        out.append(isinstance(x, t))
    match x:
        case tuple():
            out.append("tuple")
        case list():
            out.append("list")
        case _:
            out.append("other")
    return out

def table():
    t = Table(3)
    t["a"] = 1
    return isinstance(t, dict), isinstance(t, Table), t.n, dict(t), len(t)

def shims():
    return (sorted([3, 1, 2], reverse=True), sum([1, 2, 3], 10), max([1, 5, 2], key=lambda v: -v),
            min([], default=7), any(x > 1 for x in [0, 2]), all([]), list(zip([1, 2], "ab")),
            list(enumerate("ab", 1)), dict(a=1), str(b"hi", "ascii"), bytes(3), tuple(range(3)),
            set("aa"), frozenset([1]), hash((1, "a")) == hash((1, "a")), round(1234, -2), str([1, (2,)]))

def operators(a, b):
    s = "ab" + "cd"
    s += "e"
    l = [1]
    l += (2, 3)
    l += map(abs, [-4])
    l *= 2
    t = (1,) + (2,)
    t += (3,)
    return a + b, a * b, a ** 2, 1 << a, a % 3, s * 2, "%s-%d" % ("x", a), l, t, f"{a:>4}|{l}"

calls = []

def key():
    calls.append(1)
    return "k"

def once():
    d = {"k": 1}
    d[key()] += 5
    o = Table(0)
    o.n += 2
    return d, o.n, len(calls)

def methods():
    return ("-".join(["a", "b"]), "ab".ljust(4, "."), "a\\tb".expandtabs(2), "aXa".replace("a", "bb"),
            "ab".zfill(4), (5).to_bytes(2, "big"), sorted({"x": 1}.items()), {"y": (1,)}.popitem())

def caught():
    out = []
    for make in (lambda: "x" * (1 << 40), lambda: range(10 ** 12), lambda: "a".ljust(1 << 40),
                 lambda: 10 ** (10 ** 9), lambda: 1 << (1 << 40)):
        try:
            make()
        except ValueError as e:
            out.append(str(e).split(":")[0])
    return out

def through_types():
    out = []
    for make in (lambda: str.join("", ["x" * 1000] * 2000), lambda: list.extend([0], range(1 << 21)),
                 lambda: str.ljust("a", 1 << 40)):
        try:
            make()
        except ValueError as e:
            out.append(str(e).split(" ")[0])
    return out, str.join("-", "ab"), list.extend([], "a")

def star(*a):
    return a

def nest(n):
    t = ()
    for i in range(n):
        t = (t,)
    return t
'''


def load(budget: int = 100_000):
    return verify(ORDINARY, "ordinary.py", budget=budget)


def test_do_the_shim_types_stay_types_for_isinstance_class_patterns_and_subclasses():
    f = load().exports
    assert f["types_"]((1,)) == [True, False, False, False, False, False, False, False, False, "tuple"]
    assert f["types_"]([1])[1] and f["types_"]([1])[-1] == "list"
    assert f["types_"](range(3))[7] and f["types_"]("s")[5]
    assert f["table"]() == (True, True, 3, {"a": 1}, 1)


def test_do_the_shims_and_checked_operators_answer_as_python_does():
    f = load().exports
    assert f["shims"]() == ([3, 2, 1], 16, 1, 7, True, True, [(1, "a"), (2, "b")], [(1, "a"), (2, "b")],
                            {"a": 1}, "hi", b"\0\0\0", (0, 1, 2), {"a"}, frozenset([1]), True, 1200,
                            "[1, (2,)]")
    assert f["operators"](5, 7) == (12, 35, 25, 32, 2, "abcdeabcde", "x-5", [1, 2, 3, 4, 1, 2, 3, 4],
                                    (1, 2, 3), "   5|[1, 2, 3, 4, 1, 2, 3, 4]")
    assert f["methods"]() == ("a-b", "ab..", "a b", "bbXbb", "00ab", b"\0\x05", [("x", 1)], ("y", (1,)))
    assert f["star"](1, (2,)) == (1, (2,))


def test_is_a_method_called_through_its_type_checked_as_well():
    assert load().exports["through_types"]() == (["join()", "range", "ljust(1099511627776):"], "a-b", None)


def test_is_an_augmented_assignments_target_evaluated_once():
    assert load().exports["once"]() == ({"k": 6}, 2, 1)


def test_are_inputs_beyond_the_limits_refused_with_an_exception_the_extension_can_catch():
    assert load().exports["caught"]() == ["repetition to 1099511627776 elements", "range of 1000000000000 elements",
                                          "ljust(1099511627776)", "**", "<<"]


def test_is_tuple_nesting_refused_at_construction_beyond_max_depth():
    f = load().exports
    assert tuple_weight(f["nest"](MAX_DEPTH - 1)) == MAX_DEPTH - 1  # () inside 99 tuples: depth 100
    with pytest.raises(LimitExceeded, match=f"nested more than {MAX_DEPTH} deep"):
        f["nest"](MAX_DEPTH)


def test_is_a_builtins_work_charged_to_the_budget_by_size():
    v = verify("def f(n):\n    return len(list(range(n)))\n", "charge.py", budget=100_000)
    v.budget.reset()
    v.exports["f"](MAX_LEN)
    assert v.budget.limit - v.budget.remaining == 1 + MAX_LEN // 64  # the entry tick, and the list's
    v.budget.reset(100)
    with pytest.raises(BudgetExceeded):
        v.exports["f"](MAX_LEN)


def test_does_a_domain_keeping_more_than_its_quota_get_quota_exceeded():
    src = ("keep = []\n\ndef f():\n    keep.append(list(range(1 << 20)))\n    return len(keep)\n")
    v = verify(src, "quota.py", quota=20 << 20)
    assert v.exports["f"]() == 1 and v.meter is not None
    with pytest.raises(QuotaExceeded, match="memory quota of 20971520 bytes exceeded"):
        for _ in range(3):
            v.budget.reset()
            v.exports["f"]()
    assert v.meter.measurements >= 1 and v.meter.peak > 20 << 20


def test_does_a_guard_without_a_growing_operator_stay_a_pure_expression():
    v = verify("def g(n, args):\n    return n == 60 and args[0] > 2\n\ndef h(n):\n    return n + 1\n", "g.py")
    assert expression(v.exports["g"]) is not None
    assert expression(v.exports["h"]) is not None  # n + 1: a constant operand is not checked


def test_does_a_domain_that_keeps_a_little_per_call_meet_its_quota_too():
    # no big allocation: an int kept per loop iteration; the loops' ranges count towards
    # the next measurement, so the quota is measured as the state grows
    src = "keep = []\n\ndef f():\n    for i in range(1000):\n        keep.append(i * 1000)\n    return len(keep)\n"
    v = verify(src, "drip.py", quota=2 << 20)
    with pytest.raises(QuotaExceeded):
        for _ in range(1000):
            v.budget.reset()
            v.exports["f"]()
    assert v.meter is not None and 2 << 20 < v.meter.peak < 4 << 20


def test_does_a_negative_size_charge_nothing_rather_than_give_ticks_back():
    src = "def f():\n    return len('x' * -10 ** 9) + len('a'.ljust(-10 ** 9)) + len(bytes(0))\n"
    v = verify(src, "neg.py", budget=1000)
    v.budget.reset()
    assert v.exports["f"]() == 1
    assert v.budget.remaining == 999  # the entry tick only


def test_is_a_checked_method_taken_as_a_value_bound_to_its_check():
    src = ('class Table:\n    items = [1]\n\ndef f(rows):\n    j = "-".join\n    out = list(map(j, rows))\n'
           '    try:\n        list(map("".join, [["x" * 1000] * 2000]))\n    except ValueError as e:\n'
           '        out.append(str(e).split(" ")[0])\n    pairs = {2: 1}.items\n    return out, Table.items, pairs()\n')
    v = verify(src, "bound.py")
    assert v.exports["f"](["ab", "cd"]) == (["a-b", "c-d", "join()"], [1], [(2, 1)])


COMPARE = '''
def ops(a, b):
    return (a == b, a != b, a < b, a <= b, a > b, a >= b, a in [b, 1], a not in (b,), 0 < len(a) <= 3,
            [3, 1, 2][1:], "abcdef"[::2], sorted([[2], [1]], key=lambda v: v[0]),
            max([[1], [3]], key=len), min([], key=len, default=0), [2, 1].index(1), [1, 1].count(1))

def keys_sorted(l):
    l.sort(key=lambda v: -v)
    m = [3, 1, 2]
    m.sort(reverse=True)
    return l, m

def dags():
    a = [0]
    b = [0]
    for i in range(40):
        a = [a, a]
        b = [b, b]
    out = []
    for f in (lambda: a == b, lambda: a in [b], lambda: sorted([a, b]), lambda: [a].index(b),
              lambda: {1: a} == {1: b}):
        try:
            f()
            out.append("done")
        except ValueError as e:
            out.append(str(e).split(":")[0])
    return out

def ints(h, n, k):
    out = [int("ff", 16), int(b"12"), divmod(7, 2), 7 // 2, 7 % 3, round(1234, -2), int.from_bytes(b"\\x01\\x00", "big")]
    for f in (lambda: int("f" * 4000, 16), lambda: int.from_bytes(b"\\xff" * 2000, "big"),
              lambda: h // k, lambda: h % k, lambda: divmod(h, k), lambda: round(h, -900)):
        try:
            f()
            out.append("done")
        except ValueError as e:
            out.append(str(e).split(" ")[0].rstrip(":"))
    out.append((h // 3).bit_length() > 0 and h % 7 >= 0)  # a huge int by a small one: linear, allowed
    return out
'''


def test_do_checked_comparisons_slices_and_keys_answer_as_python_does():
    v = verify(COMPARE, "compare.py")
    assert v.exports["ops"]([1], [2]) == (False, True, True, True, False, False, False, True, True,
                                          [1, 2], "ace", [[1], [2]], [1], 0, 1, 2)
    assert v.exports["keys_sorted"]([1, 3, 2]) == ([3, 2, 1], [3, 2, 1])


def test_are_comparisons_of_list_and_dict_dags_refused_and_charged():
    v = verify(COMPARE, "compare.py", budget=1_000_000)
    v.budget.reset()
    assert v.exports["dags"]() == ["==", "in", "sorted()", "index()", "=="]
    # each refused walk is charged the MAX_WALK nodes it may visit (1 tick per 64)
    assert v.budget.limit - v.budget.remaining > 5 * (1 << 20) // 64


def test_are_huge_ints_refused_by_bit_length_and_divided_when_one_is_small():
    from exospin.verifier.bounded import MAX_INT_BITS
    h = (1 << 30_000) - 1  # made by trusted code: an extension cannot make one
    k = (1 << 10_000) + 7
    out = verify(COMPARE, "compare.py").exports["ints"](h, 3, k)
    assert out[:7] == [255, 12, (3, 1), 3, 1, 1200, 256]
    assert out[7:13] == ["int()", "int()", "//", "%", "divmod()", "round()"], out
    assert out[13] is True and MAX_INT_BITS == 8192


def test_is_memory_measured_at_an_activations_end_every_settle_every_ticks():
    from exospin.verifier import SETTLE_EVERY
    v = verify("keep = []\n\ndef f():\n    keep.append('y' * 10 + 'x')\n", "settle.py")
    assert v.meter is not None
    before = v.meter.measurements
    for _ in range(SETTLE_EVERY // 2 + 1):
        v.budget.enter()
        v.exports["f"]()
        v.budget.leave()
    assert v.meter.measurements == before + 1  # its tick and the activation: 2 per activation
