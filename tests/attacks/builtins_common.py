"""The frame of every builtins attack (tests/attacks/test_builtins_*.py): one script per attack.

The script limits its own memory (RLIMIT_AS, 2 GiB: the machine is shared), boots
SPIN, loads a bystander extension (system call 70 answers 42) and the attacker,
makes the attacker's system calls in order, and prints its verdict: the reason the
attacker was refused or unloaded (None if it was neither), whether the bystander
still answers, and the kernel's invariant violations. A crash (SIGSEGV) or a hang
shows in the harness's Outcome instead.

Under the memory limit a huge allocation on a system without the defence fails
with MemoryError, which the dispatcher already turns into a termination; the tests
therefore require the *documented* reason (the limit that refused it), since on a
host without the limit the same allocation takes the machine's memory.
"""

from __future__ import annotations

import json

from attacks.harness import PROLOGUE

FRAME = PROLOGUE + r'''
from exospin.systems import boot

BYSTANDER = """
from spin import Trap

def answer(number, args):
    return 42

def install():
    Trap.claim(70, answer)
"""
ATTACK = %(attack)s
CALLS = %(calls)s

s = boot("spin", "alpha3000")
k = s.kernel
k.load(BYSTANDER, "bystander.py")
reason = None
try:
    k.load(ATTACK, "attacker.py")
except Exception as e:
    reason = f"refused: {type(e).__name__}: {e}"
results = []
if reason is None:
    for n in CALLS:
        try:
            results.append(repr(k.syscall(n))[:80])
        except Exception as e:
            results.append(f"{type(e).__name__}: {str(e)[:200]}")
        gone = [why for name, why in k.unloaded if name == "attacker"]
        if gone:
            reason = gone[0]
            break
print(json.dumps({"reason": reason, "bystander": k.syscall(70), "invariants": k.check_invariants(),
                  "results": results,
                  "maxrss_mb": peak_mb()}))
'''


def script(attack: str, calls: list[int]) -> str:
    """The attack script for extension source ``attack`` and the system calls to make."""
    return FRAME % {"attack": json.dumps(attack), "calls": json.dumps(calls)}


def check(outcome: object, expect: str) -> None:
    """The attack was contained: the simulator survived, the attacker was refused or
    unloaded for a reason containing ``expect`` (or, if ``expect`` begins with "=", its
    last system call returned the rest: the operation did bounded work and finished),
    and the bystander still answers."""
    from attacks.harness import Outcome

    assert isinstance(outcome, Outcome)
    assert outcome.survived, outcome.describe()
    v = outcome.verdict
    if expect.startswith("="):
        assert v["reason"] is None and v["results"][-1] == expect[1:], v
    else:
        assert v["reason"] is not None and expect in v["reason"], v
    assert v["bystander"] == 42 and v["invariants"] == [], v
