"""Attack class: deep Python recursion (issue 15).

An extension recurses until Python's recursion limit (the RecursionError it catches
tells it where the edge is), then makes the kernel terminate it from right there: a
Reclaim handler of its own fails at the edge of the stack. The kernel's termination
code runs with a reserve of stack, so it completes once (the handler uninstalled, the
domain unloaded with the reason) instead of failing half-way with a RecursionError that
the extension would catch and run on with; and the domain's code still on the stack
stops at its next tick.
"""

from __future__ import annotations

from attacks.budget_prelude import script
from attacks.harness import run_attack

AT_THE_EDGE = script('''
ATTACK = """
from spin import PhysAddr, Trap

state = {"frames": [], "armed": False, "log": []}


def dive(n):
    try:
        return dive(n + 1)
    except RuntimeError:
        return n


def at_edge(n, op):
    if n == 0:
        return op()
    return at_edge(n - 1, op)


def grab():
    return PhysAddr.allocate()


def reclaim(n):
    if state["armed"]:
        raise ValueError("reclaim handler fails at the edge of the stack")
    return 0


def probe(number, args):
    while True:
        try:
            state["frames"].append(PhysAddr.allocate())
        except Exception:
            break
    depth = dive(0)
    state["armed"] = True
    for k in range(depth, depth - 30, -1):
        try:
            at_edge(k, grab)
            state["log"].append("ok")
        except RuntimeError:
            state["log"].append("recursion")
        except Exception:
            state["log"].append("other")
    return ("ran on", depth, state["log"])


def install():
    PhysAddr.on_reclaim(reclaim)
    Trap.claim(64, probe)
"""
s, k = setup()
d = k.load(ATTACK, "deep.py")
got = attempt(k.syscall, 64)
left = sum(1 for ev in k.dispatcher.events for h in ev.handlers if h.installer is d)
report(k, got=got, handlers_left=left)
''')


def test_is_a_fault_at_the_edge_of_the_stack_terminated_once_and_for_all():
    out = run_attack(AT_THE_EDGE, timeout_s=60)
    assert out.survived, out.describe()
    v = out.verdict
    # the handler fails at the edge: by its own ValueError, or by RecursionError when the
    # kernel's shims (verifier/bounded.py) take the last frames first
    [(name, why)] = v["unloaded"]
    assert name == "deep" and why in (
        "its handler on PhysAddr.Reclaim was terminated: ValueError: reclaim handler fails at the edge of the stack",
        "its handler on PhysAddr.Reclaim was terminated: RecursionError: maximum recursion depth exceeded "
        "while calling a Python object"), v
    assert len(v["log"]) == 1, v["log"]  # terminated once: the termination did not fail half-way
    assert v["handlers_left"] == 0, v
    assert v["got"]["raised"] == "NoSuchSyscall", v["got"]  # its probe did not run on
    assert v["invariants"] == [] and v["victim"] == 42 and v["victim_strand"] == 5, v
