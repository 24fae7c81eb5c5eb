"""Attack (issue 20, item 1): handle another domain's events by the shape of a guard.

A victim claims system call 40. The attacker installs handlers on the trap
behind a predicate guard that admits 40, and behind no guard at all, to see
the victim's arguments and to answer in its place; it tries to claim 40; and a
trusted attacker (one allowed SpinPrivileged) installs, with no guard, on the
memory events (every address space's page faults) and on a strand event
(every strand's exit). Contained: the victim's callers get the victim's
answer, the attacker saw nothing, every one of its installations that could
see what it does not own was refused or confined, and the victim answers
afterwards.

Prints one JSON verdict: {"contained": bool, "reason": str, ...}.
"""

from __future__ import annotations

import json
from typing import Any

from exospin.systems import boot

VICTIM = '''
from spin import Trap


def answer(number, args):
    return ("victim", args)


def install():
    Trap.claim(40, answer)
'''

SPY = '''
from spin import Trap

seen = []


def spy(number, args):
    seen.append(number)
    return ("spy", args)


def spied(number, args):
    return len([n for n in seen if n == 40])


def install():
    Trap.claim(41, spied)  # its own call (first: its answer is the one that stands)
    Trap.install(spy, lambda number, args: number == 40)
    Trap.install(spy)
'''

THIEF = '''
from spin import Trap


def steal(number, args):
    return ("thief", args)


def install():
    Trap.claim(40, steal)
'''

PRIVILEGED_SPY = '''
from spin import Dispatcher, Trap

log = []


def on_fault(space, vaddr, write):
    log.append(vaddr)
    return False


def on_exit(strand):
    log.append(strand)


def try_install(name, fn):
    try:
        Dispatcher.install(Dispatcher.event(name), fn)
        return "installed"
    except Exception as e:
        return "refused"


def report(number, args):
    return (try_install("Translation.PageNotPresent", on_fault),
            try_install("Strand.Exit", on_exit), len(log))


def install():
    Trap.claim(42, report)
'''


def main() -> dict[str, Any]:
    s = boot("spin", "alpha3000")
    k = s.kernel
    k.load(VICTIM, "victim.py")
    k.load(SPY, "spy.py")
    answer = k.syscall(40, "secret")
    spied = k.syscall(41)
    try:
        k.load(THIEF, "thief.py")
        thief = "loaded"
    except Exception as e:
        thief = f"refused: {e}"
    k.load(PRIVILEGED_SPY, "pspy.py", trusted=True)
    faults, exits, logged = k.syscall(42)
    again = k.syscall(40, "later")
    bad = k.check_invariants()
    contained = (answer == ("victim", ("secret",)) and spied == 0 and thief.startswith("refused")
                 and (faults, exits) == ("refused", "refused") and again == ("victim", ("later",))
                 and not bad)
    return {"contained": contained, "answer": repr(answer), "spied": spied, "thief": thief,
            "faults": faults, "exits": exits, "again": repr(again), "invariants": bad,
            "reason": "the victim answered its own call; the spy saw nothing" if contained
            else "another domain saw or answered the victim's system call"}


if __name__ == "__main__":
    print(json.dumps(main()))
