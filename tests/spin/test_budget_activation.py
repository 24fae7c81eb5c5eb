"""Budgets per activation of a domain, not per handler call (issue 15, docs/invariants.md).

A domain's handler that raises an event handled by the same domain again (directly,
or through another domain) continues on what remains of its budget: the budget is
restored only when an activation of the domain starts while none is in progress. The
property test nests random handler chains over several domains and every shape of the
dispatcher's raise functions (one handler, the equality index, the general loop) and
checks, from the ticks each domain's code makes, that one outermost activation of a
domain never runs more ticks than its budget, that every outermost activation starts
with a whole budget, and that no activation is left marked when control is back.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exospin.spin.dispatcher import Dispatcher, Eq, Event
from exospin.verifier import HOOK, verify

LIMIT = 40
DOMAINS = 3

HANDLER = """
def handler(node):
    for i in range(plan["work"][node]):
        pass
    for child in plan["children"][node]:
        plan["raise"](child)
    return node


def install(work, children, raise_):
    plan["work"] = work
    plan["children"] = children
    plan["raise"] = raise_


plan = {}
"""

#: how a node reaches its domain's handler: its own event (one handler: straight-line
#: code), the indexed event (an equality guard per domain), the unrolled shape (several
#: handlers behind predicate guards), the general loop (an event whose handlers mix
#: equality guards and an unguarded kernel handler)
SHAPES = ("own", "indexed", "many", "general")


@st.composite
def chains(draw: Any) -> list[tuple[int, str, int, list[int]]]:
    """A random forest of raises: node -> (domain, shape, work, children); node 0 is a root,
    every node's children come after it (so the plan is finite)."""
    n = draw(st.integers(1, 14))
    nodes = []
    for i in range(n):
        dom = draw(st.integers(0, DOMAINS - 1))
        shape = draw(st.sampled_from(SHAPES))
        work = draw(st.integers(0, 25))
        kids = sorted(set(draw(st.lists(st.integers(i + 1, n - 1), max_size=3)))) if i + 1 < n else []
        nodes.append((dom, shape, work, kids))
    return nodes


class World:
    """Three verified domains on one dispatcher, with the test's own count of their ticks."""

    def __init__(self, nodes: list[tuple[int, str, int, list[int]]]) -> None:
        self.nodes = nodes
        self.d = Dispatcher()
        self.vs = [verify(HANDLER, f"dom{i}.py", budget=LIMIT) for i in range(DOMAINS)]
        self.stack: list[int] = []  # the domains whose handlers are being raised, outermost first
        self.ticks = [0] * DOMAINS  # ticks of each domain's current outermost activation
        self.starts = [0] * DOMAINS  # outermost activations begun
        self.problems: list[str] = []
        self.own = [Event(f"own{i}", (int,), int, default=lambda n: -1) for i in range(DOMAINS)]
        self.indexed = Event("indexed", (int, int), int, default=lambda k, n: -1)
        self.general = Event("general", (int, int), int, default=lambda k, n: -1)
        self.many = Event("many", (int, int), int, default=lambda k, n: -1)
        self.d.install(self.general, lambda k, n: -2)  # the kernel's own, unguarded
        for i, v in enumerate(self.vs):
            fn = v.exports["handler"]
            self.d.install(self.own[i], fn, budget=v.budget)
            self.d.install(self.indexed, lambda k, n, fn=fn: fn(n), guards=[Eq(0, i)], budget=v.budget)
            self.d.install(self.general, lambda k, n, fn=fn: fn(n), guards=[Eq(0, i)], budget=v.budget)
            self.d.install(self.many, lambda k, n, fn=fn: fn(n), guards=[lambda k, n, i=i: k == i],
                           budget=v.budget)
            self._count(i, v)
            v.exports["install"]([w for _, _, w, _ in nodes], [c for _, _, _, c in nodes], self.raise_)

    def _count(self, i: int, v: Any) -> None:
        """Wrap domain ``i``'s budget hook: count the ticks its code makes, per activation."""
        hook, budget = v.budget.hook, v.budget
        ns = v.exports["handler"].__globals__

        def counting(w: int) -> bool:
            if self.ticks[i] == 0 and budget.remaining != LIMIT:
                self.problems.append(f"dom{i}: an outermost activation began with "
                                     f"{budget.remaining} of {LIMIT} ticks")
            r = hook(w)  # raises BudgetExceeded on the tick beyond the budget
            self.ticks[i] += 1
            if self.ticks[i] > LIMIT:
                self.problems.append(f"dom{i}: {self.ticks[i]} ticks in one activation")
            return r
        ns[HOOK] = counting

    def raise_(self, node: int) -> Any:
        """Raise ``node``'s event, as the kernel would (trusted code: it tracks the stack)."""
        dom, shape, _, _ = self.nodes[node]
        if dom not in self.stack:
            self.ticks[dom] = 0
            self.starts[dom] += 1
        self.stack.append(dom)
        try:
            if shape == "own":
                return self.own[dom].raise_(node)
            if shape == "indexed":
                return self.indexed.raise_(dom, node)
            if shape == "many":
                return self.many.raise_(dom, node)
            return self.general.raise_(dom, node)
        finally:
            self.stack.pop()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chains(), st.integers(1, 3))
def test_does_one_activation_of_a_domain_never_run_beyond_its_budget(nodes: Any, rounds: int) -> None:
    w = World(nodes)
    for _ in range(rounds):
        w.raise_(0)
        assert [v.budget.depth for v in w.vs] == [0] * DOMAINS, "an activation was left marked"
    assert not w.problems, w.problems
    # the dispatcher terminated exactly the handlers whose domain ran out
    assert all("budget" in why for _, _, why in w.d.log)


def test_does_a_domain_re_entered_through_its_own_handlers_run_out():
    """The issue's loop in small: each handler call raises the domain's own event again, and
    would restore the budget if it were reset per call; per activation the chain stops."""
    nodes = [(0, "own", 10, [i + 1]) for i in range(20)] + [(0, "own", 0, [])]
    w = World(nodes)
    assert w.raise_(0) == -1 or w.d.log  # the chain was cut by the budget
    assert w.d.log and "budget exceeded" in w.d.log[0][2]
    assert w.ticks[0] <= LIMIT and not w.problems


def test_is_a_nested_entry_from_another_domain_a_fresh_activation_of_it():
    """A -> B -> A: A's inner handler continues on A's budget; B's activation is its own."""
    nodes = [(0, "own", 5, [1]), (1, "indexed", 30, [2]), (0, "general", 5, [])]
    w = World(nodes)
    assert w.raise_(0) == 0 and not w.d.log
    assert w.starts == [1, 1, 0] and w.ticks[0] == 2 + 5 + 1 + 5 and not w.problems


def test_does_user_code_called_up_from_a_handler_start_activations_of_its_own():
    """An RPC server's procedure (user code, called up from the extension's handler) may
    make many system calls into the same extension: each is an activation of its own, so
    together they may run far beyond one budget, and the handler's own activation goes on
    afterwards with what it had left."""
    from exospin.systems import boot

    k = boot("spin", "alpha3000").kernel
    d = k.load("""
from spin import Trap, User


def work(number, args):
    for i in range(20):
        pass
    return 1


def serve(number, args):
    return User.upcall(args[0])


def install():
    Trap.claim(62, serve)
    Trap.claim(63, work)
""", "server.py")
    assert d.budget is not None

    def procedure() -> int:
        assert d.budget.depth == 0  # the handler's activation is suspended in user mode
        return sum(k.syscall(63) for _ in range(6000))  # 6000 x 21 ticks: beyond one budget
    assert 6000 * 21 > d.budget.limit
    assert k.syscall(62, procedure) == 6000
    assert k.unloaded == [] and d.budget.depth == 0 and k.check_invariants() == []
