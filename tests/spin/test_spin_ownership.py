"""Issue 20: is everything a domain makes its own, at load and at run time, and gone at its unload?

A property test loads extensions that claim system calls, install handlers on
the trap, make thread packages and strands, allocate frames and create
address spaces, from install(), from a system call's handler and from a strand
the handler starts, and unloads them at random; after every step the kernel's
ownership records must agree with a model, and nothing an unloaded domain made
may remain. Unit tests below pin the pieces: the authority's guard for
``Trap.install``, its result combiner, frozen exports and the kernel's exports.
"""

from __future__ import annotations

import types
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exospin.spin import NoSuchSyscall, NotResolved
from exospin.spin import extensions as spin_extensions
from exospin.spin.domain import Domain, LinkError, resolve
from exospin.spin.kernel import Spin
from exospin.systems import boot

EXT = '''
from spin import PhysAddr, Strand, Translation, Trap

LOAD = {load!r}
packages = []
kept = []


def answer(number, args):
    return ("{name}", number)


def sleeper():
    Strand.block()


def act(what, n):
    try:
        if what == "claim":
            Trap.claim(n, answer)
        elif what == "install":
            Trap.install(answer)
        elif what == "package":
            packages.append(Strand.package("p"))
        elif what == "strand":
            if not packages:
                packages.append(Strand.package("p"))
            Strand.create(packages[0], sleeper, (), "sleeper", Strand.DEFAULT_PRIORITY)
        elif what == "frame":
            kept.append(PhysAddr.allocate())
        elif what == "space":
            kept.append(Translation.create("space"))
        elif what == "spawn":
            if not packages:
                packages.append(Strand.package("p"))
            Strand.create(packages[0], act, ("claim", n), "claimer", Strand.DEFAULT_PRIORITY)
        return "ok"
    except Exception as e:
        return "refused"


def control(number, args):
    return act(args[0], args[1])


def install():
    Trap.claim({control}, control)
    for what, n in LOAD:
        act(what, n)
'''

WHAT = ["claim", "install", "package", "strand", "frame", "space", "spawn"]
NUMBERS = st.integers(100, 104)  # few numbers: domains fight over them
ACTION = st.tuples(st.sampled_from(WHAT), NUMBERS)
STEP = st.one_of(
    st.tuples(st.just("load"), st.lists(ACTION, max_size=4)),
    st.tuples(st.just("act"), st.integers(0, 3), ACTION),
    st.tuples(st.just("unload"), st.integers(0, 3)),
    st.tuples(st.just("run")),
)


class Model:
    """What each loaded domain should own."""

    def __init__(self) -> None:
        self.claims: dict[int, str] = {}  # number -> domain name
        self.frames: dict[str, int] = {}
        self.spaces: dict[str, int] = {}
        self.strands: dict[str, int] = {}

    def apply(self, name: str, what: str, n: int) -> None:
        if what in ("claim", "spawn"):
            self.claims.setdefault(n, name)  # the first claimant owns it; later ones are refused
        elif what in ("frame", "space", "strand"):
            counts = {"frame": self.frames, "space": self.spaces, "strand": self.strands}[what]
            counts[name] = counts.get(name, 0) + 1

    def drop(self, name: str) -> None:
        self.claims = {n: o for n, o in self.claims.items() if o != name}
        for counts in (self.frames, self.spaces, self.strands):
            counts.pop(name, None)


def check(k: Spin, model: Model, loaded: dict[str, Domain], gone: list[Domain]) -> None:
    assert k.check_invariants() == []
    for d in gone:
        assert k.remaining(d) == [], d.name
    live = set(loaded.values())
    owners = {n: o.name for n, o in k._trap_authority.owners.items() if o is not None and n < 200}
    assert owners == model.claims
    assert all(o in live for o in k._trap_authority.owners.values() if o is not None)
    for ev in k.dispatcher.events:
        for h in ev.handlers:
            assert h.installer is None or h.installer in live or h is ev.intrinsic_handler, h
    assert all(d in live for s, d in k._makers.items() if not s.done)
    assert len(k.sched.strands) == sum(model.strands.values())
    assert k.memory.statistics().frames_allocated == sum(model.frames.values())
    assert len(k.memory.contexts) == sum(model.spaces.values())
    for n in range(100, 105):
        if n in model.claims:
            assert k.syscall(n) == (model.claims[n], n)
        else:
            with pytest.raises(NoSuchSyscall):
                k.syscall(n)


@settings(max_examples=40, deadline=None)
@given(st.lists(STEP, max_size=10))
def test_is_everything_a_domain_makes_credited_to_it_and_gone_when_it_is_unloaded(steps: list[Any]) -> None:
    k = boot("spin", "ds5000").kernel
    model = Model()
    loaded: dict[str, Domain] = {}
    control: dict[str, int] = {}
    gone: list[Domain] = []
    for i, step in enumerate(steps):
        if step[0] == "load":
            name = f"ext{i}"
            control[name] = 200 + i
            loaded[name] = k.load(EXT.format(load=step[1], name=name, control=200 + i), f"{name}.py")
            for what, n in step[1]:
                model.apply(name, what, n)
            k.run()  # strands spawned by install() claim now
        elif step[0] == "act" and loaded:
            name = sorted(loaded)[step[1] % len(loaded)]
            what, n = step[2]
            assert k.syscall(control[name], what, n) == "ok" or what in ("claim", "spawn")
            model.apply(name, what, n)
            k.run()
        elif step[0] == "unload" and loaded:
            name = sorted(loaded)[step[1] % len(loaded)]
            d = loaded.pop(name)
            k.unload(d, "property test")
            gone.append(d)
            model.drop(name)
        elif step[0] == "run":
            k.run()
        check(k, model, loaded, gone)
    for d in list(loaded.values()):
        k.unload(d, "end of test")
        gone.append(d)
    check(k, Model(), {}, gone)


# ------------------------------------------------------------ the pieces


def test_does_a_handler_installed_on_the_trap_run_only_on_its_own_domains_numbers() -> None:
    k = boot("spin", "ds5000").kernel
    k.load("from spin import Trap\n\ndef mine(n, a):\n    return 'owner'\n\n"
           "def install():\n    Trap.claim(7, mine)\n", "owner.py")
    k.load("from spin import Trap\n\nseen = []\n\ndef spy(n, a):\n    seen.append(n)\n    return 'spy'\n\n"
           "def count(n, a):\n    return len(seen)\n\n"
           "def install():\n    Trap.claim(8, count)\n    Trap.install(spy, lambda n, a: True)\n", "spy.py")
    assert k.syscall(7) == "owner"
    assert k.syscall(8) == 0  # its own claim answered first; its spy saw only its own call
    assert k.syscall(8) == 1


def test_does_a_claim_stay_on_the_one_lookup_indexed_path() -> None:
    k = boot("spin", "ds5000").kernel
    for i in range(3):
        k.load(f"from spin import Trap\n\ndef h(n, a):\n    return {i}\n\n"
               f"def install():\n    Trap.claim({i}, h)\n", f"c{i}.py")
    before = k.dispatcher.statistics()
    assert [k.syscall(i) for i in range(3)] == [0, 1, 2]
    after = k.dispatcher.statistics()
    assert after.index_lookups - before.index_lookups == 3
    assert after.guards_evaluated == before.guards_evaluated


def test_is_an_exported_class_frozen_when_it_is_linked_into_another_domain() -> None:
    a = Domain.create("class Base:\n    table = {'k': [1]}\n\nclass Table(Base):\n    items = []\n"
                      "    tags = ({1, 2}, [b'x'])\n", "a.py", interface="spin.a")
    table = a.exports["spin.a"]["Table"]
    table.items.append(0)  # not shared yet: the exporter's own
    b = Domain.create("from spin.a import Table\n\ndef f():\n    return Table.items\n", "b.py")
    resolve(a, b)
    assert table.items == (0,) and table.tags == (frozenset({1, 2}), (b"x",))
    assert isinstance(table.table, types.MappingProxyType) and table.table["k"] == (1,)
    with pytest.raises(TypeError):
        table.table["k"] = 2


def test_what_if_an_exported_class_holds_an_object() -> None:
    a = Domain.create("class Box:\n    pass\n\nclass Lid:\n    items = []\n\nclass Holder:\n"
                      "    box = Box()\n", "a.py", interface="spin.a")
    b = Domain.create("from spin.a import Lid\n\ndef f():\n    return Lid\n", "b.py")
    with pytest.raises(LinkError, match=r"class Holder, attribute 'box', holds an object of class 'Box'"):
        resolve(a, b)
    assert a.exports["spin.a"]["Lid"].items == [] and b.unresolved == ("spin.a.Lid",)  # nothing changed


def test_does_the_kernel_export_only_functions_and_constants() -> None:
    k = boot("spin", "ds5000").kernel
    for dom in (k.public, k.privileged):
        for iface, members in dom.exports.items():
            for name, v in members.items():
                ok = (isinstance(v, types.FunctionType | types.MethodType | types.BuiltinFunctionType)
                      or type(v) in (int, str, bool, float))
                assert ok, f"{iface}.{name} is {type(v).__name__}"


def test_can_an_unloaded_domains_code_still_run_or_make_anything() -> None:
    k = boot("spin", "ds5000").kernel
    d = k.load("from spin import Trap\n\ndef h(n, a):\n    return 0\n\n"
               "def late():\n    return Trap.claim(5, h)\n\n"
               "def make():\n    return lambda: Trap.claim(6, h)\n\n"
               "def install():\n    Trap.claim(4, h)\n", "late.py")
    late = d.exports["spin.late"]["late"]
    made = d.exports["spin.late"]["make"]()  # a function it made at run time: not stopped
    k.unload(d, "test")
    with pytest.raises(NotResolved, match=r"domain 'late' was unloaded: late\(\) cannot run"):
        late()
    with pytest.raises(PermissionError, match="late is unloaded: it may not install, claim or create"):
        made()
    assert not {4, 5, 6} & set(k._trap_authority.owners) and k.remaining(d) == []
    plain = k.load("def f():\n    return 1\n", "plain.py")  # imports nothing: stopped too
    f = plain.exports["spin.plain"]["f"]
    k.unload(plain, "test")
    with pytest.raises(NotResolved, match=r"domain 'plain' was unloaded: f\(\) cannot run"):
        f()


def test_is_a_strand_running_an_unloaded_domains_code_killed_whoever_made_it() -> None:
    k = boot("spin", "ds5000").kernel
    k.load(spin_extensions.source("kthreads"), "kthreads.py")
    d = k.load("from spin import Strand\nfrom spin.kthreads import fork\n\n"
               "def sleep():\n    Strand.block()\n\n"
               "def install():\n    fork(sleep, ())\n", "worker.py")
    k.run()
    (s,) = k.sched.strands.values()
    assert k._makers[s].name == "kthreads"  # kthreads' code made it, for the worker's function
    k.unload(d, "test")
    assert s.done and not k.sched.strands and k.remaining(d) == []


def test_does_a_result_in_a_list_or_dict_reach_user_space_converted_and_copied() -> None:
    k = boot("spin", "ds5000").kernel
    k.load("from spin import PhysAddr, Trap\n\nmine = []\n\n"
           "def give(n, a):\n    if not mine:\n        mine.append(PhysAddr.allocate())\n"
           "    return (mine, {'frame': mine[0]})\n\n"
           "def check(n, a):\n    return len(mine)\n\n"
           "def deep(n, a):\n    r = []\n    for i in range(100):\n        r = [r]\n    return r\n\n"
           "def install():\n    Trap.claim(1, give)\n    Trap.claim(2, check)\n    Trap.claim(3, deep)\n",
           "giver.py")
    frames, by_name = k.syscall(1)
    assert frames == [1] and by_name == {"frame": 1}  # indexes in the caller's table, not frames
    frames.append("user space's own")
    assert k.syscall(2) == 1  # the extension's list was copied, not handed out
    with pytest.raises(NoSuchSyscall, match=r"the result of giver is nested more than 32 containers deep"):
        k.syscall(3)
    assert not k.extensions


def test_are_user_spaces_references_to_what_a_domain_made_revoked_at_its_unload() -> None:
    from exospin.spin.extern import BadExternRef

    k = boot("spin", "alpha3000").kernel
    d = k.load('''
from spin import PhysAddr, Trap

kept = []


def give(number, args):
    f = PhysAddr.allocate()
    kept.append(f)
    return f


def install():
    Trap.claim(95, give)
''', "giver.py")
    i = k.syscall(95)  # user space names the domain's frame by an index
    table = next(iter(k.extern.values()))
    frame = table.internalize(i)
    assert frame._live
    k.unload(d, "test")
    assert not frame._live  # the frame went back to the kernel ...
    with pytest.raises(BadExternRef, match="revoked"):  # ... and user space's index with it
        table.internalize(i)
    assert k.remaining(d) == []
