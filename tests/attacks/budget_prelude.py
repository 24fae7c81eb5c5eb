"""What every budget/containment attack script starts with (tests/attacks/test_budget_*.py).

An attack script is this prelude plus the attack: it boots SPIN, loads a *victim*
extension (system call 70 answers ``args[0] + 1``; system call 71 the count its own
kernel strand reached) and then the attacker, and ends with ``report(k, ...)``, which
prints the verdict: what was unloaded and why, the dispatcher's terminations, the
kernel's invariants, and what the victim answers afterwards (after the strands have
run to their end). The tests read it back
through ``harness.run_attack`` (a child process with a wall-clock limit), so an attack
that hangs or crashes the simulator fails its test instead of the suite.
"""

from __future__ import annotations

PRELUDE = '''
import json

from exospin.systems import boot

VICTIM = """
from spin import Strand, Trap

state = {"n": 0}


def answer(number, args):
    return args[0] + 1


def count(number, args):
    return state["n"]


def tick():
    for i in range(5):
        state["n"] += 1
        Strand.yield_()
    return state["n"]


def install():
    Trap.claim(70, answer)
    Trap.claim(71, count)
    Strand.create(Strand.package("victim"), tick, ())
"""


def setup():
    s = boot("spin", "alpha3000")
    k = s.kernel
    k.load(VICTIM, "victim.py")
    return s, k


def attempt(fn, *args):
    """Run ``fn(*args)``; what it returned, or the exception it raised (BaseException too:
    the simulator must survive an attack, and the verdict says what escaped)."""
    try:
        return {"returned": repr(fn(*args))}
    except BaseException as e:
        return {"raised": type(e).__name__, "message": str(e)[:200]}


def report(k, **extra):
    """Let the strands run to their end, then print the verdict (the last line of stdout)."""
    ran = attempt(k.run)
    out = {"run": ran, "unloaded": k.unloaded, "log": [list(x) for x in k.dispatcher.log],
           "invariants": k.check_invariants(), "victim": k.syscall(70, 41),
           "victim_strand": k.syscall(71, 0), "live_strands": len(k.sched.strands), **extra}
    print(json.dumps(out, default=repr))
'''


def script(attack: str) -> str:
    """The prelude followed by ``attack`` (source text of the script's body)."""
    return PRELUDE + "\n" + attack
