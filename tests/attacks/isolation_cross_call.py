"""Attack (issue 15, item 3): a fault in a domain called directly from another domain.

``svc`` exports procedures; ``cli`` links against them and calls them from its
system-call handlers. A direct call used to run in the caller's activation: the
callee's code ticked its own budget, which nobody restored (so a callee that
worked a little on each call ran dry after a few, whoever called it), and when it
ran out, or the callee recursed without end, the BudgetExceeded went up through
the caller, which cannot catch it: the *caller* was terminated and unloaded, the
callee stayed. Contained now: each call from ``cli`` is one activation of ``svc``
(a fresh budget when none is in progress); ``svc``'s fault unloads ``svc`` with the
reason, ``cli`` gets a DomainFault (an ordinary exception it catches) and goes on,
later calls into ``svc`` raise NotResolved, and a bystander answers.

Prints one JSON verdict.
"""

from __future__ import annotations

import json
from typing import Any

from exospin.systems import boot

SVC = '''
def work():
    n = 0
    for i in range(60000):
        n += 1
    return n


def forever():
    while True:
        pass


def deep(n):
    return deep(n + 1)
'''

CLI = '''
from spin import Trap
from spin.svc import work, forever, deep


def twice(number, args):
    return work() + work()


def call(f):
    try:
        return f"returned {f()}"
    except Exception as e:
        return "caught: " + str(e)[:160]


def loop(number, args):
    return call(forever)


def recurse(number, args):
    return call(lambda: deep(0))


def again(number, args):
    return call(work)


def install():
    Trap.claim(60, twice)
    Trap.claim(61, loop)
    Trap.claim(62, recurse)
    Trap.claim(63, again)
'''

BYSTANDER = '''
from spin import Trap


def answer(number, args):
    return 42


def install():
    Trap.claim(70, answer)
'''


def call(k: Any, n: int) -> str:
    try:
        r = k.syscall(n)
        return r if isinstance(r, str) else repr(r)[:240]
    except BaseException as e:  # noqa: BLE001 - the attack reports whatever escaped
        return f"escaped {type(e).__name__}: {str(e)[:200]}"


def main(which: str) -> dict[str, Any]:
    s = boot("spin", "alpha3000")
    k = s.kernel
    k.load(BYSTANDER, "bystander.py")
    k.load(SVC, "svc.py")
    k.load(CLI, "cli.py")
    out = {"twice": call(k, 60), "fault": call(k, 61 if which == "loop" else 62), "again": call(k, 63)}
    out.update(unloaded=dict(k.unloaded), loaded=sorted(e.name for e in k.extensions),
               bystander=k.syscall(70), invariants=k.check_invariants())
    return out


if __name__ == "__main__":
    import sys
    print(json.dumps(main(sys.argv[1] if len(sys.argv) > 1 else "loop")))
