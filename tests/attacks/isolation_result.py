"""Attack (issue 20, item 4): a result the kernel cannot convert on its way to user space.

The kernel converts a system call's result for user space (capabilities
become indexes in the caller's table, through every tuple). An attacker's
handler returns a tuple nested 50 deep, deeper than the conversion takes
(it used to recurse until Python's recursion limit, raising outside the
dispatcher's failure handling, so nobody was blamed; a tuple deeper than
100 is now refused where it is made, verifier/bounded.py) and another returns a tuple of 100,000
items. Contained: each call fails with NoSuchSyscall naming the extension,
the dispatcher's log and the kernel's unload record name it too, it is
unloaded, and a victim answers afterwards.

Prints one JSON verdict: {"contained": bool, "reason": str, ...}.
"""

from __future__ import annotations

import json
from typing import Any

from exospin.spin import NoSuchSyscall
from exospin.systems import boot

VICTIM = '''
from spin import Trap


def answer(number, args):
    return ("victim", (1, (2, (3,))))


def install():
    Trap.claim(80, answer)
'''

DEEP = '''
from spin import Trap


def deep(number, args):
    r = ()
    for i in range(50):
        r = (r,)
    return r


def install():
    Trap.claim(70, deep)
'''

WIDE = '''
from spin import Trap


def wide(number, args):
    return tuple(range(100000))


def install():
    Trap.claim(71, wide)
'''


def call(k: Any, n: int) -> str:
    try:
        return f"answered {type(k.syscall(n)).__name__}"
    except NoSuchSyscall as e:
        return f"NoSuchSyscall: {e}"
    except BaseException as e:  # noqa: BLE001 - the attack reports whatever escaped
        return f"escaped {type(e).__name__}: {str(e)[:200]}"


def main() -> dict[str, Any]:
    s = boot("spin", "alpha3000")
    k = s.kernel
    k.load(VICTIM, "victim.py")
    k.load(DEEP, "deep.py")
    k.load(WIDE, "wide.py")
    deep, wide = call(k, 70), call(k, 71)
    log = [reason for _ev, _h, reason in k.dispatcher.log]
    unloaded = dict(k.unloaded)
    victim = k.syscall(80)
    loaded = sorted(e.name for e in k.extensions)
    bad = k.check_invariants()
    contained = (deep.startswith("NoSuchSyscall") and "deep" in deep
                 and wide.startswith("NoSuchSyscall") and "wide" in wide
                 and any("deep" in r for r in log) and any("wide" in r for r in log)
                 and "deep" in unloaded and "wide" in unloaded and loaded == ["victim"]
                 and victim == ("victim", (1, (2, (3,)))) and not bad)
    return {"contained": contained, "deep": deep, "wide": wide, "log": log,
            "unloaded": unloaded, "loaded": loaded, "victim": repr(victim), "invariants": bad,
            "reason": "each bad result terminated its extension, by name" if contained
            else "a bad result escaped the dispatcher's failure handling"}


if __name__ == "__main__":
    print(json.dumps(main()))
