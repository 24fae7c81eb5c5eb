"""Attack (issue 15, item 3): code a domain hands out as a value, called by another domain.

``svc`` exports a class and a function returning a closure; ``cli`` links against them,
makes an object, takes the closure, and calls them from its system-call handlers. Only
exported *functions* used to be entries (an activation of their domain): a method of
svc's class, its ``__init__`` or the closure ran in cli's activation, ticking svc's budget,
which nobody restored, so the second call of 60,000 ticks ran svc's budget dry, and
BudgetExceeded, which cli cannot catch, ended *cli*; a method of svc that looped ended cli
too. Contained now: svc's classes' methods become entries when they are linked into
another domain, and a function or bound method of svc's code returned to another domain
is handed out as an entry: each call is one activation of svc, with svc's budget; svc's
fault unloads svc and is a DomainFault in cli, which goes on.

Prints one JSON verdict.
"""

from __future__ import annotations

import json
from typing import Any

from exospin.systems import boot

SVC = '''
class Counter:
    def __init__(self, start):
        self.n = start
        for i in range(10):
            self.n += 1

    def work(self):
        n = 0
        for i in range(60000):
            n += 1
        return n + self.n - self.n

    def forever(self):
        while True:
            pass


def closure():
    def inner():
        n = 0
        for i in range(60000):
            n += 1
        return n
    return inner


def bound():
    return Counter(0).work
'''

CLI = '''
from spin import Trap
from spin.svc import Counter, closure, bound


def call(f):
    try:
        return f"returned {f()}"
    except Exception as e:
        return "caught: " + str(e)[:160]


def twice(f):
    return f() + f()


def methods(number, args):
    return call(lambda: twice(Counter(5).work))


def closures(number, args):
    return call(lambda: twice(closure()))


def bounds(number, args):
    return call(lambda: twice(bound()))


def loop(number, args):
    return call(lambda: Counter(1).forever())


def install():
    Trap.claim(60, methods)
    Trap.claim(61, closures)
    Trap.claim(62, bounds)
    Trap.claim(63, loop)
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
    out = {"methods": call(k, 60), "closures": call(k, 61), "bounds": call(k, 62), "fault": call(k, 63),
           "after": call(k, 60)}
    out.update(unloaded=dict(k.unloaded), loaded=sorted(e.name for e in k.extensions),
               invariants=k.check_invariants())
    return out


if __name__ == "__main__":
    print(json.dumps(main()))
