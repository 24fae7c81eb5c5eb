"""Attack (issue 20, item 2): change what the kernel or another domain exports.

One line, ``Errors.fail.errno = 0``, would break every later system-call
error of the kernel and of every other extension; the same trick on a class
another extension exports (replace or delete its method, append to its
class-level list) would change the victim for every domain. The attacker
tries each, written directly (the verifier rejects it before it runs) and
through an alias (refused where the store happens), catching what it is
refused so that it can try everything. Contained: every attempt refused or
without effect, and the victim's answers and errors are still right, before
and after the attacker is unloaded.

Prints one JSON verdict: {"contained": bool, "reason": str, ...}.
"""

from __future__ import annotations

import json
from typing import Any

from exospin.systems import boot

VICTIM = '''
from spin import Errors, Trap


class Config:
    names = ["a"]

    def limit(self):
        return 7


def ask(number, args):
    return (Config().limit(), tuple(Config.names))


def fail(number, args):
    return Errors.fail("ENOENT", "no such thing")


def install():
    Trap.claim(51, ask)
    Trap.claim(52, fail)
'''

DIRECT = '''
from spin import Errors


def install():
    Errors.fail.errno = 0
'''

POISON = '''
from spin import Errors, Trap
from spin.victim import Config


def attempt(step):
    try:
        step()
        return "done"
    except Exception as e:
        return "refused"


def errno():
    f = Errors.fail
    f.errno = 0


def error_value():
    e = Errors.fail("EIO", "mine")
    e.errno = 0


def method():
    c = Config
    c.limit = lambda self: 666


def unmethod():
    c = Config
    del c.limit


def class_list():
    Config.names.append("evil")


def poison(number, args):
    return tuple(attempt(s) for s in (errno, error_value, method, unmethod, class_list))


def install():
    Trap.claim(50, poison)
'''


def main() -> dict[str, Any]:
    s = boot("spin", "alpha3000")
    k = s.kernel
    k.load(VICTIM, "victim.py")
    try:
        k.load(DIRECT, "direct.py")
        direct = "loaded"
    except Exception as e:
        direct = f"rejected: {e}"
    k.load(POISON, "poison.py")
    attempts = k.syscall(50)
    after = (k.syscall(51), k.syscall(52).errno)
    k.unload(next(e for e in k.extensions if e.name == "poison"), "operator")
    later = (k.syscall(51), k.syscall(52).errno)
    right = ((7, ("a",)), "ENOENT")
    bad = k.check_invariants()
    contained = (not direct.startswith("loaded") and all(a == "refused" for a in attempts)
                 and after == right and later == right and not bad)
    return {"contained": contained, "direct": direct, "attempts": list(attempts),
            "after": repr(after), "later": repr(later), "invariants": bad,
            "reason": "nothing the kernel or the victim exports changed" if contained
            else "the attacker changed what another domain or the kernel exports"}


if __name__ == "__main__":
    print(json.dumps(main()))
