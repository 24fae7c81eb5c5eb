"""References in SPIN's user space: the trap externalises kernel objects into the calling
application's table and internalises the indexes that come back (SOSP 1995, section 3.2)."""

from __future__ import annotations

from typing import Any

import pytest

from exospin.demos.spin import FRAMES
from exospin.spin import LinkError, SyscallError
from exospin.systems import boot

#: a tuple holding a kernel object (the frames extension is the demo's: 60 hands out a frame,
#: 61 takes its index back declared in refs, 62 gives it back and revokes the index)
PAIR = '''
from spin import PhysAddr, Trap


def pair(number, args):
    return (PhysAddr.allocate(), 7)


def install():
    Trap.claim(63, pair)
'''


@pytest.fixture(params=["ds5000", "alpha3000"])
def spin(request: pytest.FixtureRequest) -> Any:
    s = boot("spin", request.param)
    s.kernel.load(FRAMES, "frames.py")
    yield s
    assert not s.kernel.check_invariants()


def test_does_user_space_get_an_index_and_never_the_frame(spin: Any) -> None:
    k = spin.kernel
    i = k.syscall(60)
    assert type(i) is int and i >= 1
    assert k.extern[None].internalize(i).live
    assert k.syscall(61, i) is True  # the handler got the frame itself
    assert k.syscall(60) == i + 1  # another frame, another index


def test_is_a_kernel_object_in_a_tuple_externalised_too(spin: Any) -> None:
    spin.kernel.load(PAIR, "pair.py")
    r = spin.kernel.syscall(63)
    assert type(r) is tuple and type(r[0]) is int and r[1] == 7


@pytest.mark.parametrize("bad, message", [
    (99, "system call 61, argument 0: kernel: reference 99 was never issued (issued 1..1)"),
    (True, "an externalised reference is an int, not bool: True"),
    ("1", "an externalised reference is an int, not str"),
])
def test_what_if_user_space_forges_an_index(spin: Any, bad: Any, message: str) -> None:
    k = spin.kernel
    k.syscall(60)
    before = k.statistics()
    r = k.syscall(61, bad)
    assert isinstance(r, SyscallError) and r.errno == "EBADF" and message in r.message
    after = k.statistics()
    # the extension's handler did not run (none of its code did), it is still loaded
    assert after.extensions == before.extensions == 1 and after.unloaded == 0
    assert after.extension_cycles == before.extension_cycles


def test_is_a_revoked_index_refused_and_never_reused(spin: Any) -> None:
    k = spin.kernel
    i = k.syscall(60)
    frames = k.memory.statistics().frames_allocated
    assert k.syscall(62, i) == 0
    assert k.memory.statistics().frames_allocated == frames - 1
    r = k.syscall(61, i)
    assert r.errno == "EBADF" and f"reference {i} was revoked" in r.message
    assert k.syscall(62, i).errno == "EBADF"  # freeing twice: refused, not a double free
    assert k.syscall(60) != i


def test_what_if_a_system_call_has_fewer_arguments_than_its_references(spin: Any) -> None:
    r = spin.kernel.syscall(61)
    assert r.errno == "EINVAL" and "argument 0 is a reference" in r.message


def test_is_an_index_good_only_in_the_application_it_was_given_to(spin: Any) -> None:
    k = spin.kernel
    a, b = k.memory.create("app-a"), k.memory.create("app-b")
    got: dict[str, Any] = {}

    def in_a() -> None:
        got["a"] = k.syscall(60)
        got["a-uses"] = k.syscall(61, got["a"])

    def in_b() -> None:
        got["b-uses"] = k.syscall(61, got["a"])

    k.sched.create(in_a, (), "a", space=a)
    spin.run()
    k.sched.create(in_b, (), "b", space=b)
    spin.run()
    assert got["a-uses"] is True
    assert got["b-uses"].errno == "EBADF" and "app-b: reference 1 was never issued" in got["b-uses"].message
    assert [t.owner for t in k.statistics().extern] == ["app-a", "app-b"]


def test_does_destroying_an_address_space_drop_its_table(spin: Any) -> None:
    k = spin.kernel
    a = k.memory.create("app-a")
    k.sched.create(lambda: k.syscall(60), (), "a", space=a)
    spin.run()
    assert a in k.extern and len(k.extern[a]) == 1
    k.load("from spin import Translation\n\ndef drop(ctx):\n    Translation.destroy(ctx)\n", "drop.py",
           trusted=True).exports["spin.drop"]["drop"](a)
    assert a not in k.extern


def test_is_internalising_charged_as_the_table_lookup_it_is(spin: Any) -> None:
    k, m, p = spin.kernel, spin.machine, spin.machine.profile
    c = k.dispatcher.costs
    call = p.trap_entry + p.trap_return + c.raise_ + c.index + c.handler
    i = k.syscall(60)
    t0 = m.now
    k.syscall(61, i)
    assert m.now - t0 == call + k._c_intern == call + p.mem_ref + 2 * p.insn
    t0 = m.now
    k.syscall(61, 99)  # refused after the same lookup
    assert m.now - t0 == call + k._c_intern


def test_what_if_an_extension_declares_bad_reference_positions(spin: Any) -> None:
    bad = "from spin import Trap\n\ndef h(n, a):\n    return 0\n\ndef install():\n    Trap.claim(80, h, refs=[0])\n"
    with pytest.raises(LinkError, match=r"refs: a tuple of distinct argument positions, not \[0\]"):
        spin.kernel.load(bad, "bad.py")
    assert spin.kernel.statistics().extensions == 1
