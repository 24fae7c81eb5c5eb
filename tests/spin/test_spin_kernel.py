"""The SPIN kernel so far: extensions verified, linked and run on the system-call event."""

from __future__ import annotations

import pytest

from exospin.demos.spin import COUNTER, GREEDY, NULL, RUNAWAY, SNOOP
from exospin.spin import Denied, LinkError, NoSuchSyscall
from exospin.systems import boot
from exospin.verifier import Rejected


@pytest.fixture(params=["ds5000", "alpha3000"])
def spin(request: pytest.FixtureRequest):
    return boot("spin", request.param)


def test_does_a_null_system_call_cost_a_trap_and_one_dispatch(spin) -> None:
    k, p = spin.kernel, spin.machine.profile
    k.load(NULL, "null.py")
    before = spin.machine.now
    assert k.syscall(0) == 0
    cycles = spin.machine.now - before
    # the trap, the raise, one index lookup (the claim's equality guard), one handler: all
    # charged from the profile's primitives
    assert cycles == p.trap_entry + p.trap_return + k.dispatcher.costs.raise_ + k.dispatcher.costs.index + \
        k.dispatcher.costs.handler


def test_what_if_no_extension_handles_a_system_call(spin) -> None:
    with pytest.raises(NoSuchSyscall, match="system call 5"):
        spin.kernel.syscall(5)


def test_does_a_rejected_extension_never_run(spin) -> None:
    k = spin.kernel
    with pytest.raises(Rejected) as e:
        k.load(SNOOP, "snoop.py")
    assert any(v.code == "E101" for v in e.value.violations)
    assert k.statistics().extensions == 0 and k.dispatcher.statistics().installs == 0


def test_can_an_untrusted_extension_link_a_privileged_interface(spin) -> None:
    with pytest.raises(Denied, match="SpinPrivileged"):
        spin.kernel.load(GREEDY, "greedy.py")
    assert spin.kernel.load(GREEDY, "greedy.py", trusted=True).resolved


def test_what_if_an_extension_imports_an_interface_nobody_exports(spin) -> None:
    with pytest.raises(LinkError, match="spin.Nowhere"):
        spin.kernel.load("from spin import Nowhere\n\ndef f():\n    return Nowhere\n", "lost.py")


def test_is_a_runaway_handler_terminated_while_the_kernel_and_others_go_on(spin) -> None:
    k = spin.kernel
    k.load(NULL, "null.py")
    k.load(COUNTER, "counter.py")
    k.load(RUNAWAY, "runaway.py")
    with pytest.raises(NoSuchSyscall):
        k.syscall(9)  # the handler overran its budget: removed, so nobody answers
    assert [e[2] for e in k.dispatcher.log] == ["budget exceeded"]
    assert (k.syscall(0), k.syscall(30), k.syscall(30)) == (0, 1, 2)
    with pytest.raises(NoSuchSyscall):
        k.syscall(9)
