"""Attack class: unloading a domain while it runs (issue 15).

A domain may be unloaded while its code is on the stack: a handler of its own fails in
a nested activation (docs: the MemoryError case in test_budget_odd_exceptions.py), or
the kernel's operator unloads it from a kernel handler reached from inside it. Its code
still on the stack must not run on as if nothing happened: it stops at its next tick
(its budget is exhausted by the unload), its answer is not used, nothing of it stays
installed, and the victim runs on.
"""

from __future__ import annotations

from attacks.budget_prelude import script
from attacks.harness import run_attack

#: the operator's Reclaim handler (trusted kernel Python) unloads the attacker, whose Trap
#: handler is allocating with no frame free; the handler then keeps working
OPERATOR_UNLOADS = script('''
ATTACK = """
from spin import PhysAddr, Trap

keep = []
after = []


def work(number, args):
    while True:
        try:
            keep.append(PhysAddr.allocate())
        except Exception:
            break
    for i in range(100):
        after.append(i)
    return "answered after being unloaded"


def install():
    Trap.claim(63, work)
"""
s, k = setup()
d = k.load(ATTACK, "worker.py")


def operator(n):
    if d in k.extensions:
        k.unload(d, "unloaded by the operator while it ran")
    return 0


k.dispatcher.install(k.memory.Reclaim, operator)
got = attempt(k.syscall, 63)
left = sum(1 for ev in k.dispatcher.events for h in ev.handlers if h.installer is d)
report(k, got=got, ran_on=len(d.exports["spin.worker"]["work"].__globals__["after"]),
       handlers_left=left, depth=d.budget.depth)
''')


def test_does_a_domain_unloaded_while_it_runs_stop_running():
    out = run_attack(OPERATOR_UNLOADS, timeout_s=30)
    assert out.survived, out.describe()
    v = out.verdict
    assert v["unloaded"] == [["worker", "unloaded by the operator while it ran"]], v
    assert v["got"]["raised"] == "NoSuchSyscall", v["got"]  # its answer was not used
    assert v["ran_on"] == 0 and v["handlers_left"] == 0 and v["depth"] == 0, v
    assert v["invariants"] == [] and v["victim"] == 42 and v["victim_strand"] == 5, v


#: the attacker's Reclaim handler blocks the strand that allocated (a kernel strand of a
#: second, innocent domain) inside it; the operator unloads the attacker while that
#: activation is off the processor, then the strand is woken and runs into it again
BLOCKED_INSIDE = script('''
ATTACK = """
from spin import PhysAddr, Strand

state = {"after": 0}


def reclaim(n):
    Strand.block()
    for i in range(50):
        state["after"] += 1
    return 0


def install():
    PhysAddr.on_reclaim(reclaim)
"""
USER = """
from spin import PhysAddr, Strand

keep = []


def body():
    while True:
        try:
            keep.append(PhysAddr.allocate())
        except Exception:
            return len(keep)


def install():
    Strand.create(Strand.package("user"), body, ())
"""
s, k = setup()
d = k.load(ATTACK, "worker.py")
k.load(USER, "user.py")
k.run()
blocked = [st for st in k.sched.strands.values() if st.state == "blocked"]
k.unload(d, "unloaded by the operator while it was blocked")
for st in blocked:
    k.sched.Unblock.raise_(st)
ran = attempt(k.run)
report(k, ran=ran, blocked=len(blocked), ran_on=d.exports["spin.worker"]["reclaim"].__globals__["state"]["after"],
       loaded=[e.name for e in k.extensions])
''')


def test_does_a_domain_unloaded_while_blocked_inside_its_handler_stop_there():
    out = run_attack(BLOCKED_INSIDE, timeout_s=30)
    assert out.survived, out.describe()
    v = out.verdict
    assert v["blocked"] == 1 and v["ran_on"] == 0, v  # its code on the woken strand stopped
    assert v["unloaded"] == [["worker", "unloaded by the operator while it was blocked"]], v
    assert v["loaded"] == ["victim", "user"] and v["log"] == [], v
    assert v["invariants"] == [] and v["victim"] == 42 and v["victim_strand"] == 5, v
    assert v["live_strands"] == 0, v
