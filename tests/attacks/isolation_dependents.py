"""Attack (issue 15, item 3): a domain whose *handler* faults, and the domains linked to it.

``svc`` exports ``work`` and installs a system-call handler that loops for ever; ``cli``
links against ``svc.work`` and calls it from its own handler, catching what goes wrong.
When svc's handler ran out of its budget the kernel unloaded svc and, with it, *unlinked*
every domain linked against it: cli's own functions stopped, so cli's next system call
ended cli too (one faulty domain taking down every domain that used it). Contained now:
svc's exports die with it, cli stays linked and running, and its call into the dead
``work`` raises DomainUnloaded (a DomainFault, an ordinary exception) that cli catches.

Prints one JSON verdict.
"""

from __future__ import annotations

import json
from typing import Any

from exospin.systems import boot

SVC = '''
from spin import Trap


def work():
    n = 0
    for i in range(10):
        n += i
    return n


def spin_for_ever(number, args):
    while True:
        pass


def install():
    Trap.claim(61, spin_for_ever)
'''

CLI = '''
from spin import Trap
from spin.svc import work


def use(number, args):
    try:
        return f"returned {work()}"
    except Exception as e:
        return "caught: " + str(e)[:160]


def install():
    Trap.claim(60, use)
'''


def call(k: Any, n: int) -> str:
    try:
        r = k.syscall(n)
        return r if isinstance(r, str) else repr(r)[:240]
    except BaseException as e:  # noqa: BLE001 - the attack reports whatever escaped
        return f"escaped {type(e).__name__}: {str(e)[:200]}"


def main() -> dict[str, Any]:
    s = boot("spin", "alpha3000")
    k = s.kernel
    k.load(SVC, "svc.py")
    k.load(CLI, "cli.py")
    out = {"before": call(k, 60), "fault": call(k, 61), "after": call(k, 60), "again": call(k, 60)}
    out.update(unloaded=dict(k.unloaded), loaded=sorted(e.name for e in k.extensions),
               invariants=k.check_invariants())
    return out


if __name__ == "__main__":
    print(json.dumps(main()))
