"""Does the verifier refuse what docs/verifier.md says, run what it accepts, and stop runaways?"""

from __future__ import annotations

import re
import timeit
from pathlib import Path

import pytest

from exospin.cli import main
from exospin.spin import extensions as spin_extensions
from exospin.verifier import BudgetExceeded, Rejected, check, verify

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "verifier.md").read_text()
CATALOGUE = re.findall(r"```python\n(.*?)```\n\n```\n(.*?)```", DOC, re.S)
EXAMPLES = ROOT / "examples" / "spin"


def test_does_the_catalogue_cover_every_code():
    codes = {line.split()[1] for _, out in CATALOGUE for line in out.splitlines()}
    assert codes == {"E001"} | {f"E1{n:02d}" for n in range(1, 24) if n != 11} | {"E130"}


@pytest.mark.parametrize("source,expected", CATALOGUE, ids=[o.split()[1] + f"-{i}" for i, (_, o) in enumerate(CATALOGUE)])
def test_does_the_verifier_print_exactly_what_the_catalogue_says(source, expected):
    got = [v.format("ext.py") for v in check(source, "ext.py")]
    assert got == expected.strip().splitlines()


ACCEPTED = '''
from spin import Trap
import spin.memory

PORTS = {"echo": 7}

def guard(port):
    return port == PORTS["echo"]

def handler(xs):
    total = 0
    for x in xs:
        try:
            total += int(x)
        except ValueError:
            continue
    return total, [x * 2 for x in range(3)], any(x == "2" for x in xs), f"{total:>4}", "{}".format(total)

class Counter(Exception):
    def __init__(self, n):
        self.n = n

    def bump(self):
        self.n += 1
        return self.n

square = lambda n: n * n
'''


def test_is_a_handler_in_the_safe_subset_accepted_and_run():
    class Spin:  # what the linker would supply: the spin interface and its submodule
        Trap = object()
        memory = object()

    v = verify(ACCEPTED, "ok.py", modules={"spin": Spin})
    assert v.imports == ("spin.Trap", "spin.memory")
    assert set(v.exports) == {"guard", "handler", "Counter"}
    assert v.exports["guard"](7) and not v.exports["guard"](8)
    assert v.exports["handler"](["1", "x", "2"]) == (3, [0, 2, 4], True, "   3", "3")
    assert v.exports["Counter"](1).bump() == 2


def test_is_a_rejected_extension_refused_by_verify():
    with pytest.raises(Rejected) as e:
        verify("def f(x):\n    return x.__class__\n", "bad.py")
    assert [v.code for v in e.value.violations] == ["E101"]
    assert "bad.py:2:12: E101" in str(e.value)


def test_does_an_unlinked_import_fail_at_load_time():
    with pytest.raises(ImportError, match="not linked"):
        verify("from spin import Trap\n", "ext.py")


RUNAWAY = '''
def spin_forever():
    while True:
        try:
            pass
        except Exception:
            pass

def recurse(n):
    return recurse(n + 1)

fib = [lambda n: n if n < 2 else fib[0](n - 1) + fib[0](n - 2)]

def via_lambda(n):
    return fib[0](n)

def comprehension():
    return sum(x for x in range(10 ** 6))
'''


@pytest.mark.parametrize("name,arg", [("spin_forever", None), ("recurse", 0), ("via_lambda", 60),
                                      ("comprehension", None)])
def test_is_a_runaway_handler_terminated(name, arg):
    v = verify(RUNAWAY, "runaway.py", budget=300)
    f = v.exports[name]
    with pytest.raises(BudgetExceeded):
        f() if arg is None else f(arg)
    assert v.budget.remaining < 0
    v.budget.reset()
    assert v.budget.remaining == 300


def test_can_the_extension_not_catch_its_own_termination():
    # except Exception does not catch BudgetExceeded, and an exhausted budget stays exhausted
    src = ("def f(log):\n    for i in range(10 ** 6):\n        try:\n            log.append(i)\n"
           "        except Exception:\n            log.append('caught')\n")
    v = verify(src, "catch.py", budget=50)
    log: list[object] = []
    with pytest.raises(BudgetExceeded):
        v.exports["f"](log)
    assert "caught" not in log and len(log) == 49  # one tick on entry (f makes calls), 49 iterations


def test_does_the_budget_leave_a_loop_free_function_at_plain_call_speed():
    src = "def handler(x):\n    return x + 1\n"
    plain: dict[str, object] = {}
    exec(src, plain)
    p = plain["handler"]
    h = verify(src, "h.py").exports["handler"]
    tp = min(timeit.repeat(lambda: p(1), number=20000, repeat=5))  # type: ignore[operator]
    th = min(timeit.repeat(lambda: h(1), number=20000, repeat=5))
    assert th < 3 * tp, (th, tp)  # a sanity check, not a timing target (measured: 1.0x)


def test_does_spin_check_print_ok_or_one_line_per_violation(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("good.py").write_text("def handler(x):\n    return x\n")
    Path("bad.py").write_text("import spin\n\ndef handler(x):\n    return x.__class__\n")
    assert main(["spin", "check", "good.py"]) == 0
    assert capsys.readouterr().out == "good.py: ok\n"
    assert main(["spin", "check", "good.py", "bad.py"]) == 1
    assert capsys.readouterr().out == (
        "good.py: ok\nbad.py:4:12: E101 access to a name beginning with '_' is not allowed: '__class__'\n")


def test_is_a_syntax_error_a_violation(capsys, tmp_path):
    f = tmp_path / "broken.py"
    f.write_text("def f(:\n")
    assert main(["spin", "check", str(f)]) == 1
    assert capsys.readouterr().out == f"{f}:1:7: E001 syntax error: invalid syntax\n"


@pytest.mark.parametrize("argv,text", [
    (["spin", "check", "/nonexistent/ext.py"], "exospin: error: spin check: /nonexistent/ext.py: no such file"),
    (["spin", "check"], "exospin: error: the following arguments are required: FILE"),
    (["spin"], "exospin: error: no spin command given (try: exospin spin check FILE...)"),
])
def test_is_bad_usage_of_spin_check_one_line_and_exit_2(capsys, argv, text):
    assert main(argv) == 2
    err = capsys.readouterr()
    assert err.err == text + "\n" and err.out == ""


def test_does_every_shipped_extension_pass_the_verifier(capsys):
    files = [str(spin_extensions.path(n)) for n in spin_extensions.names()]
    assert len(files) >= 5
    assert main(["spin", "check", *files]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{f}: ok" for f in files]


def test_are_the_example_extensions_judged_as_their_docstrings_say(capsys):
    good, bad = str(spin_extensions.path("null_syscall")), str(EXAMPLES / "snoop.py")
    assert main(["spin", "check", good, bad]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{good}: ok"
    assert {line.split()[1] for line in lines[1:]} == {"E101", "E103", "E104", "E107", "E109", "E115"}


# ------------------------------------------------------------------ pure expressions (verifier/pure.py)

PURITY = """
def pure_eq(number, args):
    '''doc'''
    return number == 0 and args[0] > -1


def reads_global(x):
    return x == LIMIT


def has_default(x, y=1):
    return x == y


def calls(x):
    return len(x) == 0


def two_statements(x):
    y = x
    return y


def two_values(a, b):
    return a < b


LIMIT = 3
lam = lambda a, b: a < 1 or b > 2
"""


@pytest.mark.parametrize("name, pure", [("pure_eq", True), ("reads_global", False),
                                        ("has_default", False), ("calls", False),
                                        ("two_statements", False), ("lam", True),
                                        ("two_values", False)])
def test_which_verified_functions_are_proved_pure_expressions(name, pure):
    from exospin.verifier import expression
    v = verify(PURITY.replace("lam = ", "def holder():\n    pass\n\n\nlam = "), "purity.py")
    ns = v.exports["holder"].__globals__ if name == "lam" else None
    fn = ns["lam"] if ns is not None else v.exports[name]
    assert (expression(fn) is not None) is pure


def test_is_a_pure_expression_inlined_with_the_callers_names():
    from exospin.verifier import expression
    v = verify(PURITY, "purity.py")
    p = expression(v.exports["pure_eq"])
    assert p is not None and p.inline(["a0", "a1"]) == "(a0 == 0 and a1[0] > -1)"


# ------------------------------------------------ the static cost model of verified code

COSTED = """
def f(t, k):
    x = t[k] + 1
    if x > 3:
        return g(x)
    for i in range(k):
        t[i] += i
    return x


def g(x):
    return x * 2
"""


class _Clock:
    now = 0


# f's entry is charged its longest straight-line path, to ``return x``: x = t[k] + 1 is a load
# and an add (2 + 1), the if a compare and a branch (2), the for's header range() and setup
# (4 + 1): 10. Each iteration of the loop then adds t[i] += i: a read and a write of t[i]
# (2 x 2), the add (1), advancing and branching (2): 7. g makes no call: not instrumented.
@pytest.mark.parametrize("table, k, cycles", [
    ({0: 5}, 0, 10),  # the early return through g: charged the longer path (an upper bound)
    ({0: 1, 1: 1, 2: 2}, 2, 10 + 2 * 7),
])
def test_is_verified_code_charged_its_static_cost_as_it_runs(table, k, cycles):
    from exospin.verifier import OpCosts
    clock = _Clock()
    v = verify(COSTED, "costed.py", costs=OpCosts(insn=1, mem_ref=2, proc_call=4), clock=clock)
    v.exports["f"](table, k)
    assert (clock.now, v.budget.spent) == (cycles, cycles)


def test_does_measuring_the_static_cost_leave_the_clock_alone():
    from exospin.verifier import OpCosts
    v = verify(COSTED, "costed.py", costs=OpCosts(insn=1, mem_ref=2, proc_call=4))
    v.exports["f"]({0: 1, 1: 1, 2: 2}, 2)
    assert v.budget.spent == 24
    plain = verify(COSTED, "costed.py")  # no costs: ticks only count
    plain.exports["f"]({0: 1, 1: 1, 2: 2}, 2)
    assert plain.budget.spent == 0


def test_does_verifying_the_same_source_again_give_a_module_of_its_own():
    """The compiled code is cached; the module state and the budget are not."""
    src = "hits = [0]\n\ndef bump():\n    hits[0] = hits[0] + 1\n    return hits[0]\n"
    a, b = verify(src, "same.py"), verify(src, "same.py")
    assert a.exports["bump"] is not b.exports["bump"]
    assert a.exports["bump"].__code__ is b.exports["bump"].__code__  # compiled once
    assert [a.exports["bump"]() for _ in range(3)] == [1, 2, 3] and b.exports["bump"]() == 1
    assert a.budget is not b.budget
    bad = "def f(x):\n    return x.__class__\n"
    for _ in range(2):  # a rejection is found every time, never remembered as a result
        with pytest.raises(Rejected, match="E101"):
            verify(bad, "bad.py")
