"""Attack class: re-entrant budget reset (issue 15).

An extension that re-enters its own domain through the kernel (it raises an event that
it handles itself) must not buy a fresh budget by doing so: budgets are per activation
of a domain, not per handler call (docs/invariants.md). Each attack here ran for ever
when the dispatcher reset a handler's budget before every call; now its domain runs out,
is unloaded with the reason, and the victim extension and its strand run on.
"""

from __future__ import annotations

from attacks.budget_prelude import script
from attacks.harness import run_attack

#: the issue's own loop: a Trap handler allocating for ever once frames run out; each
#: allocation raises PhysAddr.Reclaim, handled by the same domain
RECLAIM_LOOP = script('''
ATTACK = """
from spin import PhysAddr, Trap

keep = []


def reclaim(n):
    return 0


def hog(number, args):
    while True:
        try:
            keep.append(PhysAddr.allocate())
        except Exception:
            pass


def install():
    PhysAddr.on_reclaim(reclaim)
    Trap.claim(62, hog)
"""
s, k = setup()
k.load(ATTACK, "hog.py")
got = attempt(k.syscall, 62)
k.run()
report(k, got=got)
''')

#: the same loop as the body of the attacker's own kernel strand (no system call: the
#: strand is the activation), next to the victim's strand
STRAND_LOOP = script('''
ATTACK = """
from spin import PhysAddr, Strand

keep = []


def reclaim(n):
    return 0


def hog():
    while True:
        try:
            keep.append(PhysAddr.allocate())
        except Exception:
            pass


def install():
    PhysAddr.on_reclaim(reclaim)
    Strand.create(Strand.package("hog"), hog, ())
"""
s, k = setup()
k.load(ATTACK, "hog.py")
k.run()
report(k, strand_errors=[list(x) for x in k.sched.log])
''')

#: two domains: ping's loop calls pong's exported procedure, pong allocates, and the
#: Reclaim that follows runs ping's handler and pong's: the re-entry into ping goes
#: through pong, and pong's own code is refilled by its handler too
PING_PONG = script('''
PONG = """
from spin import PhysAddr

keep = []


def kick():
    keep.append(PhysAddr.allocate())
    return len(keep)


def reclaim(n):
    return 0


def install():
    PhysAddr.on_reclaim(reclaim)
"""
PING = """
from spin import PhysAddr, Trap
from spin.pong import kick


def reclaim(n):
    return 0


def hog(number, args):
    while True:
        try:
            kick()
        except Exception:
            pass


def install():
    PhysAddr.on_reclaim(reclaim)
    Trap.claim(62, hog)
"""
s, k = setup()
k.load(PONG, "pong.py")
k.load(PING, "ping.py")
got = attempt(k.syscall, 62)
k.run()
report(k, got=got, loaded=[d.name for d in k.extensions])
''')


#: through user mode: the handler upcalls a user function in a loop, and each time the
#: user code makes a system call that the same domain handles
THROUGH_USER_MODE = script('''
ATTACK = """
from spin import Trap, User


def back(number, args):
    return 1


def hog(number, args):
    while True:
        User.upcall(args[0])


def install():
    Trap.claim(62, hog)
    Trap.claim(63, back)
"""
s, k = setup()
k.load(ATTACK, "hog.py")


def user_code():
    return k.syscall(63)


got = attempt(k.syscall, 62, user_code)
report(k, got=got)
''')


def _contained(out, attacker: str) -> dict:
    assert out.survived, out.describe()
    v = out.verdict
    assert [a for a, _ in v["unloaded"]] == [attacker], v["unloaded"]
    assert "budget" in v["unloaded"][0][1], v["unloaded"]
    assert v["invariants"] == [] and v["victim"] == 42 and v["victim_strand"] == 5, v
    assert v["live_strands"] == 0, v
    return v


def test_is_the_reclaim_loop_of_a_trap_handler_stopped_by_its_budget():
    v = _contained(run_attack(RECLAIM_LOOP, timeout_s=30), "hog")
    assert v["unloaded"][0][1] == "its handler on Trap was terminated: budget exceeded"
    assert v["got"]["raised"] == "NoSuchSyscall"  # terminated: nobody answers the call


def test_is_the_reclaim_loop_of_a_kernel_strand_stopped_by_its_budget():
    v = _contained(run_attack(STRAND_LOOP, timeout_s=30), "hog")
    # the strand's body is one activation of its domain: its own Reclaim handler does not
    # refill it; the strand ends with the budget's error and its domain is unloaded
    assert v["unloaded"][0][1] == ("its strand 'strand 2' failed: BudgetExceeded: budget of "
                                   "100000 ticks exhausted"), v
    assert ["strand 2", "BudgetExceeded: budget of 100000 ticks exhausted"] in v["strand_errors"]


def test_is_a_re_entry_through_another_domain_stopped_by_the_budget():
    v = _contained(run_attack(PING_PONG, timeout_s=30), "ping")
    assert v["loaded"] == ["victim", "pong"]  # pong did nothing wrong: it stays


def test_is_a_re_entry_through_user_mode_stopped_by_the_budget():
    """User code called up from a handler is outside every domain: its system call into
    the same domain is an activation of its own, and the handler's continues, when the
    upcall returns, with what it had left; so the loop runs out."""
    v = _contained(run_attack(THROUGH_USER_MODE, timeout_s=30), "hog")
    assert v["unloaded"][0][1] == "its handler on Trap was terminated: budget exceeded"
