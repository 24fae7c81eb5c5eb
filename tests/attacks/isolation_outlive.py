"""Attack (issue 20, item 3): make things at run time that outlive the domain.

The attacker's install() claims one system call; its handler, at run time,
claims system call 91, installs a handler on the trap, makes a thread package
and a strand that blocks for ever, allocates a frame and creates an address
space. Then the operator unloads it. Contained: nothing it made remains (91
has no handler and another domain may claim it, no strand of it is left, its
frame and address space went back to the kernel, its package is revoked), the
kernel's invariants hold, and a victim loaded before it answers afterwards.

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
    return "victim"


def install():
    Trap.claim(80, answer)
'''

GHOST = '''
from spin import PhysAddr, Strand, Translation, Trap

kept = []


def ghost(number, args):
    return "ghost"


def sleeper():
    Strand.block()


def plant(number, args):
    Trap.claim(91, ghost)
    Trap.install(ghost)
    p = Strand.package("late")
    kept.append(p)
    Strand.create(p, sleeper, (), "sleeper", Strand.DEFAULT_PRIORITY)
    kept.append(PhysAddr.allocate())
    kept.append(Translation.create("ghost space"))
    return 0


def install():
    Trap.claim(90, plant)
'''

CLAIMER = '''
from spin import Trap


def mine(number, args):
    return "claimer"


def install():
    Trap.claim(91, mine)
'''


def main() -> dict[str, Any]:
    s = boot("spin", "alpha3000")
    k = s.kernel
    k.load(VICTIM, "victim.py")
    before = (len(k.sched.strands), k.memory.statistics().frames_allocated, len(k.memory.contexts))
    d = k.load(GHOST, "ghost.py")
    k.syscall(90)
    k.run()
    planted = (k.syscall(91), len(k.sched.strands), k.memory.statistics().frames_allocated)
    k.unload(d, "operator")
    try:
        after91: Any = k.syscall(91)
    except NoSuchSyscall as e:
        after91 = f"no handler: {e}"
    after = (len(k.sched.strands), k.memory.statistics().frames_allocated, len(k.memory.contexts))
    remaining = k.remaining(d) if hasattr(k, "remaining") else ["(no unload invariant)"]
    try:
        k.load(CLAIMER, "claimer.py")
        claimed = k.syscall(91)
    except Exception as e:
        claimed = f"refused: {e}"
    victim = k.syscall(80)
    bad = k.check_invariants()
    contained = (str(after91).startswith("no handler") and after == before and not remaining
                 and claimed == "claimer" and victim == "victim" and not bad)
    return {"contained": contained, "planted": repr(planted), "after91": str(after91),
            "before": before, "after": after, "remaining": remaining, "claimed": claimed,
            "victim": victim, "invariants": bad,
            "reason": "nothing the attacker made outlived it" if contained
            else "something the attacker made at run time outlived its unload"}


if __name__ == "__main__":
    print(json.dumps(main()))
