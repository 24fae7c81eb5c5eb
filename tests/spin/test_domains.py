"""SPIN's protection domains, dynamic linking, the name server and externalised references.

Each test is a question about src/exospin/spin/domain.py or extern.py; they
read ``statistics()``, not private fields.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from exospin.spin.domain import (
    SPIN_PRIVILEGED,
    SPIN_PUBLIC,
    Denied,
    Domain,
    Identity,
    LinkError,
    NameServer,
    NotResolved,
    combine,
    resolve,
    unresolve,
)
from exospin.spin.extern import BadExternRef, ExternTable
from exospin.verifier import Rejected, verify

SERVICE_V1 = """
def null():
    return None

def version():
    return 1
"""

SERVICE_V2 = """
def null():
    return None

def version():
    return 2
"""

CLIENT = """
from spin.Bench import version
from spin import Bench

def ask():
    return version()

def ask_interface():
    return Bench.version()

def local():
    return 7
"""


def trap_domain(log: list) -> Domain:
    return Domain.kernel("trap", {"spin.Trap": {"install": lambda h, g=None: log.append(h) or len(log)}})


def test_does_an_unresolved_domain_refuse_to_run_and_name_what_is_missing():
    d = Domain.create(CLIENT, "client.py")
    assert not d.resolved
    assert d.unresolved == ("spin.Bench.version", "spin.Bench")
    # even a function that uses no import does not run: the domain is not runnable
    local = d.exports["client"]["local"]
    with pytest.raises(NotResolved, match=r"domain 'client' is not resolved: local\(\) cannot run; "
                       r"missing spin.Bench.version, spin.Bench"):
        local()
    assert d.statistics().refused_calls == 1


def test_does_resolve_make_calls_direct():
    service = Domain.create(SERVICE_V1, "service.py", interface="spin.Bench")
    client = Domain.create(CLIENT, "client.py")
    assert resolve(service, client) == ("spin.Bench.version", "spin.Bench")
    assert client.resolved and client.statistics().sources == ("service",)
    ask = client.exports["client"]["ask"]
    assert ask() == 1 and client.exports["client"]["ask_interface"]() == 1
    # the client's namespace holds the service's function itself: no proxy in between (a
    # leaf: no loop, no call, no charge; a function that may spend its domain's budget is
    # linked through its entry, an activation of the service: Domain.entry)
    assert ask.__globals__["version"] is service.exports["spin.Bench"]["version"]
    busy = Domain.create("def work(n):\n    return len(list(range(n)))\n", "busy.py", interface="spin.Busy")
    work = busy.exports["spin.Busy"]["work"]
    entry = busy.entry("spin.Busy.work", work)
    assert entry is not work and entry is busy.entry("spin.Busy.work", work) and entry(3) == 3
    assert client.exports["client"]["local"]() == 7


def test_can_an_extension_change_an_interface_it_was_linked_against():
    service = Domain.create(SERVICE_V1, "service.py", interface="spin.Bench")
    # rooted at the imported name: refused before it runs (E130)
    with pytest.raises(Rejected, match=r"evil.py:4:5: E130 assigning an attribute of an imported "
                                       r"name is not allowed: 'Bench.version'"):
        Domain.create("from spin import Bench\n\ndef swap(f):\n    Bench.version = f\n", "evil.py")
    # reached through an alias: refused where the store happens
    evil = Domain.create("from spin import Bench\n\ndef swap(f):\n    b = Bench\n    b.version = f\n"
                         "    return 0\n\ndef unlink():\n    b = Bench\n    del b.version\n", "evil.py")
    resolve(service, evil)
    with pytest.raises(PermissionError, match=r"evil.py: may not change attribute 'version' of an "
                                              r"object of class 'interface spin.Bench'"):
        evil.exports["evil"]["swap"](lambda: 666)
    with pytest.raises(PermissionError, match=r"may not change attribute 'version'"):
        evil.exports["evil"]["unlink"]()
    assert service.interface("spin.Bench").version() == 1


def test_does_combine_export_the_union():
    trap = trap_domain([])
    bench = Domain.create(SERVICE_V1, "service.py", interface="spin.Bench")
    public = combine(trap, bench, name=SPIN_PUBLIC)
    assert sorted(public.exports) == ["spin.Bench", "spin.Trap"]
    assert public.exports["spin.Bench"]["null"] is bench.exports["spin.Bench"]["null"]
    assert not public.trusted  # one half is only language-safe
    client = Domain.create(CLIENT, "client.py")
    resolve(public, client)
    assert client.exports["client"]["ask"]() == 1


def test_does_combine_refuse_two_different_members_of_one_name():
    a = Domain.create(SERVICE_V1, "a.py", interface="spin.Bench")
    b = Domain.create(SERVICE_V2, "b.py", interface="spin.Bench")
    with pytest.raises(LinkError, match=r"combine\('a', 'b'\): both export spin.Bench.null"):
        combine(a, b)


def test_can_a_newer_version_be_linked_after_unresolve():
    v1 = Domain.create(SERVICE_V1, "v1.py", interface="spin.Bench")
    v2 = Domain.create(SERVICE_V2, "v2.py", interface="spin.Bench")
    client = Domain.create(CLIENT, "client.py")
    resolve(v1, client)
    ask = client.exports["client"]["ask"]  # held, as an installed handler would be
    assert ask() == 1
    assert unresolve(client) == ("spin.Bench.version", "spin.Bench")
    with pytest.raises(NotResolved, match="missing spin.Bench.version, spin.Bench"):
        ask()
    resolve(v2, client)
    assert ask() == 2 and client.exports["client"]["ask_interface"]() == 2
    s = client.statistics()
    assert (s.resolves, s.unresolves, s.sources) == (2, 1, ("v2",))


def test_does_unresolve_of_one_source_leave_the_others_linked():
    trap = trap_domain([])
    bench = Domain.create(SERVICE_V1, "service.py", interface="spin.Bench")
    d = Domain.create("from spin import Trap\nfrom spin.Bench import null\n\n"
                      "def go():\n    return null()\n", "two.py")
    resolve(trap, d)
    assert d.unresolved == ("spin.Bench.null",)
    resolve(bench, d)
    assert unresolve(d, bench) == ("spin.Bench.null",)
    assert d.unresolved == ("spin.Bench.null",)


def test_does_a_link_that_links_nothing_fail_precisely():
    trap = trap_domain([])
    client = Domain.create(CLIENT, "client.py")
    with pytest.raises(LinkError, match=r"resolve\('trap', 'client'\) links none of 'client''s "
                       r"unresolved imports \(spin.Bench.version, spin.Bench\); 'trap' exports spin.Trap"):
        resolve(trap, client)


def test_does_the_name_servers_procedure_see_the_requester_and_can_it_deny():
    seen: list[Identity] = []

    def only_client(who: Identity) -> bool:
        seen.append(who)
        return who.name == "client"

    ns = NameServer()
    service = Domain.create(SERVICE_V1, "service.py", interface="spin.Bench")
    ns.register("Bench", service, only_client)
    client = Domain.create(CLIENT, "client.py")
    other = Domain.create(CLIENT, "other.py")
    assert ns.link(client, "Bench") == ("spin.Bench.version", "spin.Bench")
    with pytest.raises(Denied, match=r"domain 'other' \(untrusted\) may not link against 'Bench'"):
        ns.link(other, "Bench")
    assert [w.name for w in seen] == ["client", "other"]
    assert seen[0] == client.identity and seen[0].language_safe and not seen[0].trusted
    assert not other.resolved
    s = ns.statistics()
    assert (s.names, s.lookups, s.granted, s.denied, s.links) == (("Bench",), 2, 1, 1, 1)
    with pytest.raises(LinkError, match="no domain is registered as 'Nope'; registered: Bench"):
        ns.lookup("Nope", client)
    with pytest.raises(LinkError, match="already registered"):
        ns.register("Bench", service)


PRIVILEGED_USER = "from spin.PhysAddr import allocate\n\ndef grab():\n    return allocate(1)\n"


def boot_name_server(log: list) -> NameServer:
    public = trap_domain(log)
    privileged = Domain.kernel("privileged", {"spin.PhysAddr": {"allocate": lambda n: [0] * n}})
    return NameServer.boot(public, privileged)


def test_can_an_untrusted_domain_link_a_privileged_interface():
    ns = boot_name_server([])
    untrusted = Domain.create(PRIVILEGED_USER, "driver.py")
    with pytest.raises(Denied, match=rf"domain 'driver' \(untrusted\) may not link against '{SPIN_PRIVILEGED}'"):
        ns.link(untrusted, SPIN_PRIVILEGED)
    assert untrusted.unresolved == ("spin.PhysAddr.allocate",)
    asserted = Domain.create(PRIVILEGED_USER, "driver.py", trusted=True)
    ns.link(asserted, SPIN_PRIVILEGED)
    assert asserted.exports["driver"]["grab"]() == [0]


def test_is_a_domain_linked_only_through_the_name_server_system_safe():
    log: list = []
    ns = boot_name_server(log)
    src = "from spin import Trap\n\ndef handler(n, a):\n    return 0\n\ndef install():\n    return Trap.install(handler)\n"
    granted = Domain.create(src, "ext.py")
    ns.link(granted, SPIN_PUBLIC)
    assert ns.system_safe(granted) and granted.exports["ext"]["install"]() == 1
    assert log == [granted.exports["ext"]["handler"]]
    # the same code linked behind the name server's back is language-safe but not system-safe
    smuggled = Domain.create(src, "ext.py")
    resolve(trap_domain([]), smuggled)
    assert smuggled.resolved and not ns.system_safe(smuggled)


def test_does_a_rejected_extension_never_become_a_domain():
    src = "def handler(n, args):\n    return args.__class__\n"
    with pytest.raises(Rejected, match=r"snoop.py:2:12: E101 access to a name beginning with '_' "
                       r"is not allowed: '__class__'"):
        Domain.create(src, "snoop.py")


def test_is_an_import_used_while_loading_refused():
    with pytest.raises(LinkError, match=r"early.py: the module body uses an import while loading, "
                       r"before it is linked \(domain 'early': spin.Trap is used but not linked\)"):
        Domain.create("from spin import Trap\n\nTOKEN = Trap.install(None)\n", "early.py")


def test_is_a_bare_import_of_spin_refused():
    with pytest.raises(LinkError, match=r"bare.py: 'import spin' names no interface"):
        Domain.create("import spin\n\ndef f():\n    return spin.Trap\n", "bare.py")


def test_does_import_spin_dot_x_resolve_through_the_module():
    d = Domain.create("import spin.Bench\n\ndef f():\n    return spin.Bench.version()\n", "dotted.py")
    resolve(Domain.create(SERVICE_V1, "s.py", interface="spin.Bench"), d)
    assert d.exports["dotted"]["f"]() == 1


def test_are_methods_of_an_unresolved_domain_stopped_too():
    src = ("from spin.Bench import version\n\nclass Port:\n    def __init__(self):\n"
           "        self.n = 1\n\n    def get(self):\n        return version()\n")
    d = Domain.create(src, "port.py")
    with pytest.raises(NotResolved, match=r"Port.__init__\(\) cannot run"):
        d.exports["port"]["Port"]()
    resolve(Domain.create(SERVICE_V1, "s.py", interface="spin.Bench"), d)
    assert d.exports["port"]["Port"]().get() == 1


def test_is_a_verified_module_with_imports_refused_but_one_without_accepted():
    with pytest.raises(LinkError, match="cannot be relinked; pass the source"):
        bench = SimpleNamespace(version=lambda: 1)
        Domain.create(verify(CLIENT, "c.py", modules={"spin": SimpleNamespace(Bench=bench),
                                                     "spin.Bench": bench}), "c.py")
    d = Domain.create(verify(SERVICE_V1, "s.py"), "s.py", interface="spin.Bench")
    assert d.resolved and d.statistics().exported_names == 2


# --------------------------------------------------------- externalised references


def test_does_an_externalised_reference_come_back_as_the_same_object():
    t = ExternTable("app")
    frame, port = object(), ["port"]
    i, j = t.externalize(frame), t.externalize(port)
    assert (i, j) == (1, 2) and t.externalize(frame) == i
    assert t.internalize(i) is frame and t.internalize(j, list) is port
    s = t.statistics()
    assert (s.live, s.externalized, s.internalized, s.revoked, s.refused) == (2, 3, 2, 0, 0)


def test_is_a_forged_index_refused():
    t = ExternTable("app")
    t.externalize(object())
    with pytest.raises(BadExternRef, match=r"app: reference 7 was never issued \(issued 1..1\)"):
        t.internalize(7)
    with pytest.raises(BadExternRef, match="app: reference 0 was never issued"):
        t.internalize(0)
    with pytest.raises(BadExternRef, match="an externalised reference is an int, not bool: True"):
        t.internalize(True)
    with pytest.raises(BadExternRef, match="reference 1 names a object, not a list"):
        t.internalize(1, list)
    assert t.statistics().refused == 4


def test_is_a_revoked_index_refused_and_never_reused():
    t = ExternTable("app")
    obj = object()
    i = t.externalize(obj)
    assert t.revoke(i) is obj
    with pytest.raises(BadExternRef, match=f"app: reference {i} was revoked"):
        t.internalize(i)
    with pytest.raises(BadExternRef, match=f"app: reference {i} was revoked"):
        t.revoke(i)
    assert t.externalize(obj) != i
    s = t.statistics()
    assert (s.live, s.revoked, s.refused) == (1, 1, 2)


def test_what_does_a_call_between_linked_domains_cost():
    # Printed, not asserted: a timing. See docs/spin.md for measured figures.
    from exospin.bench.spin_calls import in_kernel_call, same_shape_plain_ns
    r = in_kernel_call("alpha3000", 20_000)
    assert r.system == "spin" and r.sim_cycles == 4 and r.iterations == 20_000
    plain = same_shape_plain_ns(20_000)
    print(f"in_kernel_call {r.wall_ns:.1f} ns; harness plain call {r.python_call_ns:.1f} ns "
          f"(ratio {r.wall_ns / r.python_call_ns:.2f}); same loop as plain Python {plain:.1f} ns "
          f"(ratio {r.wall_ns / plain:.2f})")


def test_does_the_full_size_in_kernel_call_stay_within_each_activations_budget():
    # bench spin's full run (200,000 calls) outlasts one activation's budget: the benchmark
    # enters the caller as the kernel does, one activation per chunk, and must finish
    from exospin.bench.spin_calls import CHUNK, in_kernel_call
    from exospin.verifier import DEFAULT_BUDGET
    n = 20 * DEFAULT_BUDGET // 10  # far more ticks in all than one budget holds
    assert CHUNK * 12 < DEFAULT_BUDGET
    r = in_kernel_call("ds5000", n)
    assert r.iterations == n and r.sim_cycles > 0
