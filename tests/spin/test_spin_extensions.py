"""SPIN's extensions under bad input: each is stopped with a message, its handlers removed,
the kernel and the other extensions unaffected, nothing leaked."""

from __future__ import annotations

from typing import Any

import pytest

from exospin import posix
from exospin.spin import ExtensionFailed, LinkError, NotResolved
from exospin.spin import extensions as spin_extensions
from exospin.systems import boot
from exospin.verifier import Rejected

ECHO = '''
from spin import Trap


def echo(number, args):
    return args[0]


def install():
    Trap.claim(40, echo)
'''

FAILS_AT_RUN_TIME = '''
from spin import Strand, Trap


def body():
    Strand.block()


def broken(number, args):
    return args[99]


def install():
    Trap.claim(41, broken)
    Strand.create(Strand.package("mine"), body, ())
'''

RUNAWAY = '''
from spin import Trap


def spin_forever(number, args):
    n = 0
    while True:
        n = n + 1


def install():
    Trap.claim(42, spin_forever)
'''

THIEF = '''
from spin import Trap


def mine(number, args):
    return "stolen"


def other(number, args):
    return 0


def install():
    Trap.claim(43, other)
    Trap.claim(40, mine)
'''

SNOOP = '''
from spin import Trap


def handler(number, args):
    return args.__class__


def install():
    Trap.claim(12, handler)
'''


@pytest.fixture
def spin() -> Any:
    s = boot("spin", "alpha3000")
    s.kernel.load(ECHO, "echo.py")
    yield s
    leaked = s.shutdown()
    assert not any(leaked.values()), leaked


def _installed(k: Any) -> int:
    st = k.dispatcher.statistics()
    return st.installs - st.uninstalls


def test_what_if_a_handler_raises_at_run_time(spin: Any) -> None:
    k = spin.kernel
    base = _installed(k)
    k.load(FAILS_AT_RUN_TIME, "fails.py")
    assert _installed(k) == base + 1 and len(k.sched.strands) == 1
    with pytest.raises(Exception, match="no handler for system call 41"):
        k.syscall(41, ())  # the handler raised IndexError: terminated; nobody answers
    assert [n for n, _ in k.unloaded] == ["fails"]
    assert "IndexError" in k.unloaded[0][1]
    assert _installed(k) == base and not k.sched.strands  # its handler and its strand are gone
    assert k.syscall(40, "still here") == "still here"  # the other extension is unaffected


def test_what_if_a_handler_runs_for_ever(spin: Any) -> None:
    k = spin.kernel
    base = _installed(k)
    k.load(RUNAWAY, "runaway.py")
    with pytest.raises(Exception, match="no handler for system call 42"):
        k.syscall(42)
    assert k.unloaded == [("runaway", "its handler on Trap was terminated: budget exceeded")]
    assert _installed(k) == base and k.syscall(40, 1) == 1


def test_what_if_an_extension_claims_a_system_call_that_is_not_its_own(spin: Any) -> None:
    k = spin.kernel
    base = _installed(k)
    with pytest.raises(ExtensionFailed, match="system call 40 belongs to 'echo'"):
        k.load(THIEF, "thief.py")
    assert _installed(k) == base  # the number it did get (43) was taken back too
    assert [d.name for d in k.extensions] == ["echo"] and k.syscall(40, 5) == 5
    with pytest.raises(Exception, match="no handler for system call 43"):
        k.syscall(43)


def test_does_a_rejected_extension_never_run(spin: Any) -> None:
    k = spin.kernel
    base = _installed(k)
    with pytest.raises(Rejected, match="E101"):
        k.load(SNOOP, "snoop.py")
    assert _installed(k) == base and [d.name for d in k.extensions] == ["echo"]


def test_what_if_an_extension_imports_an_interface_nobody_exports(spin: Any) -> None:
    with pytest.raises(LinkError, match="no interface provides spin.Nowhere"):
        spin.kernel.load("from spin.Nowhere import x\n", "lost.py")


def test_does_unloading_a_service_stop_the_extensions_linked_to_it(spin: Any) -> None:
    """unix_as links against appel_li and xas: unload xas and unix_as no longer runs."""
    k = spin.kernel

    def prog(argv: list[str]) -> int:
        return posix.getpid()

    pid = spin.start(prog)
    spin.run()
    assert spin.exit_status(pid) == pid
    xas = next(d for d in k.extensions if d.name == "xas")
    k.unload(xas, "test")
    assert not spin.unix_domain.resolved
    with pytest.raises(NotResolved, match="spin.xas"):
        spin.unix_domain.exports["spin.unix_as"]["pids"]()
    spin.unix = None  # the shutdown below must not call it


def test_can_extensions_reach_kernel_objects_only_through_their_interfaces(spin: Any) -> None:
    """A frame handed to an extension hides its number; the verifier refuses reaching it."""
    src = '''
from spin import PhysAddr


def peek():
    f = PhysAddr.allocate()
    return f._pfn
'''
    with pytest.raises(Rejected, match="'_pfn'"):
        spin.kernel.load(src, "peek.py")
    f = spin.kernel.memory.allocate()
    assert repr(f) == "<Frame>"
    spin.kernel.memory.deallocate(f)


def test_is_every_shipped_extension_loadable_in_order(spin: Any) -> None:
    k = spin.kernel
    for name in ("kthreads", "appel_li", "xas", "unix_as", "null_syscall"):
        k.load(spin_extensions.source(name), f"{name}.py")
    assert {d.name for d in k.extensions} >= {"kthreads", "appel_li", "xas", "unix_as", "null_syscall"}
    assert all(k.names.system_safe(d) for d in k.extensions)


def _pipe_round_trips(charge: bool) -> tuple[int, int]:
    """(simulated cycles, extension_cycles) of a process doing pipe writes and reads on SPIN."""
    system = boot("spin", "ds5000", charge_extensions=charge)

    def main(argv: list[str]) -> int:
        r, w = posix.pipe()
        for _ in range(20):
            posix.write(w, b"x")
            posix.read(r, 1)
        return 0
    pid = system.start(main, name="pipes")
    system.run()
    assert system.exit_status(pid) == 0
    return system.machine.now, system.kernel.statistics().extension_cycles


def test_is_the_extensions_own_code_measured_and_charged_only_when_asked() -> None:
    plain, ext = _pipe_round_trips(False)
    charged, ext2 = _pipe_round_trips(True)
    assert ext > 20 * 2 * 10  # unix_as's handlers ran for every call (the static model)
    assert ext2 == ext  # the same code took the same paths
    assert charged - plain == ext  # charging adds exactly the measured cost to the clock


def test_is_charging_extensions_refused_for_a_system_without_extensions() -> None:
    with pytest.raises(ValueError, match="charge_extensions is SPIN's option; unix has no extensions"):
        boot("unix", charge_extensions=True)


def test_does_an_ended_strand_stop_counting_as_its_extensions(spin: Any) -> None:
    """The kernel remembers an extension's strands to kill them when it is unloaded; a strand
    that has ended is dropped then and there, so a long run does not grow that record."""
    k = spin.kernel
    d = k.load(spin_extensions.source("kthreads"), "kthreads.py")
    kt = d.exports["spin.kthreads"]
    workers = [kt["fork"](lambda: None, ()) for _ in range(50)]
    assert len(k._owned[d.uid].strands) == 50
    spin.run()
    assert all(w.done for w in workers) and not k._owned[d.uid].strands
    blocked = kt["fork"](k.sched.block, ())
    spin.run()
    k.unload(d, "test")  # what is still running is killed as before
    assert blocked.done and k.remaining(d) == []
