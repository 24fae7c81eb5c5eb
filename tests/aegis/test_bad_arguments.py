"""What if you pass ridiculous arguments to system calls? (xv6's usertests, for Aegis.)

Every system call checks every argument before it changes anything. Each
case below makes one call with one bad argument and checks three things:
the error class, a message that names the problem, and that the kernel
(frames, capabilities, slices, environments, handlers, entry points, TLB,
STLB, bindings, counters) is exactly as it was. Only the clock moves: the
trap happened.

Each case is ``(system call, what is wrong, prepare, error, message)``;
``prepare(sys, ctx)`` may make good calls to set the scene and returns the
bad call as a thunk. ``ctx`` holds a ready-made cast (see ``make_ctx``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import greenlet
import pytest

from exospin.aegis import (
    MAX_ENTRIES,
    NSLICES,
    AegisError,
    BadAddress,
    BadArgument,
    BadCapability,
    BadEntry,
    BadEnvironment,
    BadFrame,
    BadSlice,
    Capability,
    ResourceExhausted,
    Rights,
    Syscalls,
)
from exospin.aegis.param import MAX_GUARANTEED
from exospin.machine import USER_TOP
from helpers import kernel_snapshot

OTHERS_FRAME = 901  # owned by the other environment (env 1)
MY_FRAME = 900
OTHER = 1  # the other environment's id; the tester is env 2


def make_ctx(sys: Syscalls, shared: dict[str, Any]) -> dict[str, Any]:
    """The cast: capabilities good, weak, dead and forged; a child; a dead child."""
    c: dict[str, Any] = {"shared": shared}
    c["frame"] = sys.frame_alloc(MY_FRAME)
    c["ro"] = sys.cap_derive(c["frame"], Rights.READ)
    gone = sys.frame_alloc(902)
    sys.frame_free(gone)
    c["freed"] = gone
    c["slice"] = sys.slice_alloc(10)
    c["forged"] = Capability("frame", MY_FRAME, Rights.ALL)
    c["child"], c["child_cap"] = sys.env_create(lambda s: None, "child")
    dead, c["dead_cap"] = sys.env_create(lambda s: None, "doomed")
    sys.env_destroy(c["dead_cap"])
    c["dead"] = dead
    c["lent"] = shared["lent"]  # OWNER|READ on the other environment's frame
    c["foreign_greenlet"] = shared["greenlet"]  # the other environment's first greenlet
    return c


def reserve_two_then(sys: Syscalls, c: dict[str, Any]) -> Callable[[], Any]:
    sys.frame_reserve(sys.frame_alloc(903))
    sys.frame_reserve(sys.frame_alloc(904))
    return lambda: sys.frame_reserve(c["frame"])


def fill_guarantees_then(sys: Syscalls, c: dict[str, Any]) -> Callable[[], Any]:
    for i in range(MAX_GUARANTEED):
        sys.guarantee(0x100000 + i * 4096, c["frame"], True)
    return lambda: sys.guarantee(0x200000, c["frame"], True)


Case = tuple[str, str, Callable[[Syscalls, dict[str, Any]], Callable[[], Any]], type[AegisError], str]

CASES: list[Case] = [
    # frames
    ("free_frames", "n not an int", lambda s, c: lambda: s.free_frames("3"), BadArgument, "n must be a positive int or None, not '3'"),
    ("free_frames", "n zero", lambda s, c: lambda: s.free_frames(0), BadArgument, "n must be a positive int or None, not 0"),
    ("free_frames", "n a bool", lambda s, c: lambda: s.free_frames(True), BadArgument, "n must be a positive int or None, not True"),
    ("frame_alloc", "not an int", lambda s, c: lambda: s.frame_alloc("7"), BadFrame, "frame number must be an int, not str"),
    ("frame_alloc", "a bool", lambda s, c: lambda: s.frame_alloc(True), BadFrame, "must be an int, not bool"),
    ("frame_alloc", "negative", lambda s, c: lambda: s.frame_alloc(-1), BadFrame, r"frame -1 is out of range \(0\.\.2047\)"),
    ("frame_alloc", "past the end", lambda s, c: lambda: s.frame_alloc(2048), BadFrame, "frame 2048 is out of range"),
    ("frame_alloc", "another's frame", lambda s, c: lambda: s.frame_alloc(OTHERS_FRAME), BadFrame, f"frame {OTHERS_FRAME} is owned by env {OTHER}"),
    ("frame_alloc", "already mine", lambda s, c: lambda: s.frame_alloc(MY_FRAME), BadFrame, f"frame {MY_FRAME} is owned by you"),
    ("frame_free", "not a capability", lambda s, c: lambda: s.frame_free(MY_FRAME), BadCapability, "expected a capability, got int"),
    ("frame_free", "forged", lambda s, c: lambda: s.frame_free(c["forged"]), BadCapability, "is not live"),
    ("frame_free", "already freed", lambda s, c: lambda: s.frame_free(c["freed"]), BadCapability, "is not live"),
    ("frame_free", "no OWNER right", lambda s, c: lambda: s.frame_free(c["ro"]), BadCapability, f"frame {MY_FRAME} lacks OWNER"),
    ("frame_free", "a slice", lambda s, c: lambda: s.frame_free(c["slice"]), BadCapability, "is for a slice, not a frame"),
    ("set_context", "not a greenlet", lambda s, c: lambda: s.set_context("main"), BadArgument, "must be a live greenlet of the calling environment"),
    ("set_context", "another environment's greenlet", lambda s, c: lambda: s.set_context(c["foreign_greenlet"]), BadArgument, "must be a live greenlet of the calling environment"),
    ("frame_transfer", "not a capability", lambda s, c: lambda: s.frame_transfer(MY_FRAME, OTHER), BadCapability, "expected a capability, got int"),
    ("frame_transfer", "forged", lambda s, c: lambda: s.frame_transfer(c["forged"], OTHER), BadCapability, "is not live"),
    ("frame_transfer", "already freed", lambda s, c: lambda: s.frame_transfer(c["freed"], OTHER), BadCapability, "is not live"),
    ("frame_transfer", "no OWNER right", lambda s, c: lambda: s.frame_transfer(c["ro"], OTHER), BadCapability, f"frame {MY_FRAME} lacks OWNER"),
    ("frame_transfer", "a slice", lambda s, c: lambda: s.frame_transfer(c["slice"], OTHER), BadCapability, "is for a slice, not a frame"),
    ("frame_transfer", "unknown environment", lambda s, c: lambda: s.frame_transfer(c["frame"], 999), BadEnvironment, "frame_transfer: no environment 999"),
    ("frame_transfer", "dead environment", lambda s, c: lambda: s.frame_transfer(c["frame"], c["dead"]), BadEnvironment, "no environment 4"),
    ("frame_transfer", "environment not an id", lambda s, c: lambda: s.frame_transfer(c["frame"], "1"), BadEnvironment, "no environment '1'"),
    ("frame_reserve", "forged", lambda s, c: lambda: s.frame_reserve(c["forged"]), BadCapability, "is not live"),
    ("frame_reserve", "no OWNER right", lambda s, c: lambda: s.frame_reserve(c["ro"]), BadCapability, "lacks OWNER"),
    ("frame_reserve", "another's frame", lambda s, c: lambda: s.frame_reserve(c["lent"]), BadFrame, f"frame {OTHERS_FRAME} is not yours"),
    ("frame_reserve", "reserve full", reserve_two_then, ResourceExhausted, r"your reserve is full \(2 frames\)"),
    ("cap_derive", "unknown right", lambda s, c: lambda: s.cap_derive(c["frame"], 8), BadArgument, "rights must be a non-empty combination of Rights, not 8"),
    ("cap_derive", "negative rights", lambda s, c: lambda: s.cap_derive(c["frame"], -1), BadArgument, "not -1"),
    ("cap_derive", "no rights", lambda s, c: lambda: s.cap_derive(c["frame"], Rights(0)), BadArgument, "non-empty"),
    ("cap_derive", "rights as text", lambda s, c: lambda: s.cap_derive(c["frame"], "rw"), BadArgument, "not 'rw'"),
    ("cap_derive", "rights as a bool", lambda s, c: lambda: s.cap_derive(c["frame"], True), BadArgument, "not True"),
    ("cap_derive", "not a capability", lambda s, c: lambda: s.cap_derive("cap", Rights.READ), BadCapability, "expected a capability, got str"),
    ("cap_derive", "forged", lambda s, c: lambda: s.cap_derive(c["forged"], Rights.READ), BadCapability, "is not live"),
    ("cap_derive", "more rights than held", lambda s, c: lambda: s.cap_derive(c["ro"], Rights.ALL), BadCapability, rf"frame {MY_FRAME} lacks WRITE\|OWNER"),
    ("cap_derive", "dead resource", lambda s, c: lambda: s.cap_derive(c["freed"], Rights.READ), BadCapability, "is not live"),
    # bindings
    ("tlb_write", "address not an int", lambda s, c: lambda: s.tlb_write("0x1000", c["frame"]), BadAddress, "virtual address must be an int, not str"),
    ("tlb_write", "misaligned", lambda s, c: lambda: s.tlb_write(0x1004, c["frame"]), BadAddress, "0x1004 is not aligned to a 4096-byte page"),
    ("tlb_write", "kernel address", lambda s, c: lambda: s.tlb_write(USER_TOP, c["frame"]), BadAddress, r"0x80000000 is outside the user segment \[0, 0x80000000\)"),
    ("tlb_write", "negative address", lambda s, c: lambda: s.tlb_write(-4096, c["frame"]), BadAddress, "outside the user segment"),
    ("tlb_write", "writable not a bool", lambda s, c: lambda: s.tlb_write(0x1000, c["frame"], 1), BadArgument, "writable must be a bool, not int"),
    ("tlb_write", "forged", lambda s, c: lambda: s.tlb_write(0x1000, c["forged"]), BadCapability, "tlb_write: capability .* is not live"),
    ("tlb_write", "freed frame", lambda s, c: lambda: s.tlb_write(0x1000, c["freed"]), BadCapability, "is not live"),
    ("tlb_write", "no WRITE right", lambda s, c: lambda: s.tlb_write(0x1000, c["ro"], True), BadCapability, f"frame {MY_FRAME} lacks WRITE"),
    ("tlb_write", "a slice", lambda s, c: lambda: s.tlb_write(0x1000, c["slice"]), BadCapability, "is for a slice, not a frame"),
    ("tlb_write", "no capability", lambda s, c: lambda: s.tlb_write(0x1000, None), BadCapability, "expected a capability, got NoneType"),
    ("tlb_unmap", "address not an int", lambda s, c: lambda: s.tlb_unmap(4096.0), BadAddress, "must be an int, not float"),
    ("tlb_unmap", "misaligned", lambda s, c: lambda: s.tlb_unmap(0x10), BadAddress, "0x10 is not aligned"),
    ("tlb_unmap", "kernel address", lambda s, c: lambda: s.tlb_unmap(USER_TOP + 4096), BadAddress, "outside the user segment"),
    ("guarantee", "misaligned", lambda s, c: lambda: s.guarantee(0x2001, c["frame"]), BadAddress, "0x2001 is not aligned"),
    ("guarantee", "kernel address", lambda s, c: lambda: s.guarantee(USER_TOP, c["frame"]), BadAddress, "outside the user segment"),
    ("guarantee", "writable not a bool", lambda s, c: lambda: s.guarantee(0x2000, c["frame"], "yes"), BadArgument, "writable must be a bool, not str"),
    ("guarantee", "forged", lambda s, c: lambda: s.guarantee(0x2000, c["forged"]), BadCapability, "is not live"),
    ("guarantee", "no WRITE right", lambda s, c: lambda: s.guarantee(0x2000, c["ro"], True), BadCapability, "lacks WRITE"),
    ("guarantee", "addressing context full", fill_guarantees_then, ResourceExhausted, r"addressing context is full \(8 mappings\)"),
    # exceptions
    ("set_handler", "unknown kind", lambda s, c: lambda: s.set_handler("pagefault", print), BadArgument, "unknown handler kind 'pagefault' \\(known: tlb_miss, "),
    ("set_handler", "kind not a string", lambda s, c: lambda: s.set_handler(["tlb_miss"], print), BadArgument, r"unknown handler kind \['tlb_miss'\]"),
    ("set_handler", "handler not callable", lambda s, c: lambda: s.set_handler("overflow", 42), BadArgument, "handler for 'overflow' must be callable, not int"),
    ("trap", "negative number", lambda s, c: lambda: s.trap(-1), BadArgument, "system-call number must be a non-negative int, not -1"),
    ("trap", "number not an int", lambda s, c: lambda: s.trap("3"), BadArgument, "not '3'"),
    ("trap", "no syscall handler", lambda s, c: lambda: s.trap(3), BadArgument, "no system call 3, and you registered no syscall handler"),
    # processor
    ("slice_alloc", "past the end", lambda s, c: lambda: s.slice_alloc(NSLICES), BadSlice, rf"position must be an int in 0\.\.{NSLICES - 1}, not {NSLICES}"),
    ("slice_alloc", "negative", lambda s, c: lambda: s.slice_alloc(-1), BadSlice, "not -1"),
    ("slice_alloc", "not an int", lambda s, c: lambda: s.slice_alloc("3"), BadSlice, "not '3'"),
    ("slice_alloc", "taken", lambda s, c: lambda: s.slice_alloc(10), BadSlice, "slice 10 is owned by env 2"),
    ("slice_alloc", "forged environment", lambda s, c: lambda: s.slice_alloc(11, Capability("env", c["child"], Rights.ALL)), BadCapability, "is not live"),
    ("slice_alloc", "dead environment", lambda s, c: lambda: s.slice_alloc(11, c["dead_cap"]), BadCapability, "is not live"),
    ("slice_alloc", "a frame for an environment", lambda s, c: lambda: s.slice_alloc(11, c["frame"]), BadCapability, "is for a frame, not a env"),
    ("slice_free", "not a capability", lambda s, c: lambda: s.slice_free(10), BadCapability, "expected a capability, got int"),
    ("slice_free", "forged", lambda s, c: lambda: s.slice_free(Capability("slice", 10, Rights.ALL)), BadCapability, "is not live"),
    ("slice_free", "a frame", lambda s, c: lambda: s.slice_free(c["frame"]), BadCapability, "is for a frame, not a slice"),
    ("slice_free", "no OWNER right", lambda s, c: (lambda weak: lambda: s.slice_free(weak))(s.cap_derive(c["slice"], Rights.READ)), BadCapability, "slice 10 lacks OWNER"),
    ("yield_", "unknown environment", lambda s, c: lambda: s.yield_(999), BadEnvironment, "yield_: no environment 999"),
    ("yield_", "not an id", lambda s, c: lambda: s.yield_("1"), BadEnvironment, "no environment '1'"),
    ("yield_", "dead environment", lambda s, c: lambda: s.yield_(c["dead"]), BadEnvironment, "no environment 4"),
    # control transfer
    ("pct_register", "entry past the end", lambda s, c: lambda: s.pct_register(MAX_ENTRIES, print), BadEntry, rf"entry point must be an int in 0\.\.{MAX_ENTRIES - 1}, not {MAX_ENTRIES}"),
    ("pct_register", "entry not an int", lambda s, c: lambda: s.pct_register("0", print), BadEntry, "not '0'"),
    ("pct_register", "not callable", lambda s, c: lambda: s.pct_register(0, 5), BadArgument, "entry 0 must be callable, not int"),
    ("pct_sync", "unknown environment", lambda s, c: lambda: s.pct_sync(999, 0), BadEnvironment, "pct_sync: no environment 999"),
    ("pct_sync", "dead environment", lambda s, c: lambda: s.pct_sync(c["dead"], 0), BadEnvironment, "no environment 4"),
    ("pct_sync", "itself", lambda s, c: lambda: s.pct_sync(s.env_id(), 0), BadEnvironment, "cannot call itself"),
    ("pct_sync", "unregistered entry", lambda s, c: lambda: s.pct_sync(OTHER, 5), BadEntry, f"env {OTHER} has not registered entry point 5"),
    ("pct_sync", "entry out of range", lambda s, c: lambda: s.pct_sync(OTHER, MAX_ENTRIES), BadEntry, f"not {MAX_ENTRIES}"),
    ("pct_sync", "entry not an int", lambda s, c: lambda: s.pct_sync(OTHER, "0"), BadEntry, "not '0'"),
    ("pct_async", "unknown environment", lambda s, c: lambda: s.pct_async(999, 0), BadEnvironment, "pct_async: no environment 999"),
    ("pct_async", "itself", lambda s, c: lambda: s.pct_async(s.env_id(), 0), BadEnvironment, "cannot call itself"),
    ("pct_async", "unregistered entry", lambda s, c: lambda: s.pct_async(OTHER, 5), BadEntry, "has not registered entry point 5"),
    ("pct_async", "entry out of range", lambda s, c: lambda: s.pct_async(OTHER, -1), BadEntry, "not -1"),
    # environments
    ("env_create", "main not callable", lambda s, c: lambda: s.env_create(5), BadArgument, "main must be callable, not int"),
    ("env_create", "name not a string", lambda s, c: lambda: s.env_create(print, 5), BadArgument, "name must be a str, not int"),
    ("env_destroy", "not a capability", lambda s, c: lambda: s.env_destroy(c["child"]), BadCapability, "expected a capability, got int"),
    ("env_destroy", "forged", lambda s, c: lambda: s.env_destroy(Capability("env", c["child"], Rights.ALL)), BadCapability, "is not live"),
    ("env_destroy", "already destroyed", lambda s, c: lambda: s.env_destroy(c["dead_cap"]), BadCapability, "is not live"),
    ("env_destroy", "a frame", lambda s, c: lambda: s.env_destroy(c["frame"]), BadCapability, "is for a frame, not a env"),
    ("env_destroy", "no OWNER right", lambda s, c: (lambda weak: lambda: s.env_destroy(weak))(s.cap_derive(c["child_cap"], Rights.READ)), BadCapability, "lacks OWNER"),
]

#: System calls that take no argument: there is nothing to get wrong but the count.
NO_ARGUMENTS = ["env_id", "null", "free_slices", "repossession_vector"]
#: ``exit(status)`` accepts any status (a number or a message): it has no bad argument.
ANY_ARGUMENT = ["exit"]


def other_env(shared: dict[str, Any]) -> Callable[[Syscalls], None]:
    """Env 1: owns a frame, lends an OWNER capability for it, serves entry 0, idles."""
    def main(sys: Syscalls) -> None:
        cap = sys.frame_alloc(OTHERS_FRAME)
        shared["lent"] = sys.cap_derive(cap, Rights.READ | Rights.OWNER)
        shared["greenlet"] = greenlet.getcurrent()
        sys.pct_register(0, lambda *a: "served")
        while not shared.get("done"):
            sys.cpu.compute(10)
            sys.yield_()
    return main


def refuse(system, prepare: Callable[[Syscalls, dict[str, Any]], Callable[[], Any]],
           error: type[AegisError], match: str) -> tuple[dict[str, Any], dict[str, Any], AegisError]:
    """Run ``prepare``'s bad call in env 2; return the snapshots around it and the error."""
    k = system.kernel
    shared: dict[str, Any] = {}
    out: dict[str, Any] = {}

    def tester(sys: Syscalls) -> None:
        try:
            ctx = make_ctx(sys, shared)
            bad = prepare(sys, ctx)
            sys.yield_()  # start a fresh slice: no interrupt falls due during the call
            before = kernel_snapshot(k)
            with pytest.raises(error, match=match) as info:
                bad()
            out["result"] = (before, kernel_snapshot(k), info.value)
        finally:
            shared["done"] = True

    assert k.create_env(other_env(shared), "other", 1) == OTHER
    k.create_env(tester, "tester", 1)
    system.run()
    assert "result" in out, k.deaths
    return out["result"]


@pytest.mark.parametrize(
    "call,what,prepare,error,match", CASES, ids=[f"{c[0]}-{c[1].replace(' ', '_')}" for c in CASES]
)
def test_what_if_a_system_call_gets_a_bad_argument(system, call, what, prepare, error, match):
    before, after, err = refuse(system, prepare, error, match)
    assert type(err) is error  # the precise class, not a parent
    assert str(err).startswith(f"{call}:"), str(err)  # the message names the call
    assert after == before, "a refused system call changed the kernel"


@pytest.mark.parametrize("call", NO_ARGUMENTS)
def test_what_if_a_system_call_without_arguments_gets_one(system, call):
    k = system.kernel

    def thunk_maker(sys: Syscalls, c: dict[str, Any]) -> Callable[[], Any]:
        return lambda: getattr(sys, call)("surprise")

    # Python refuses the call before the kernel is entered; still nothing may change.
    shared: dict[str, Any] = {}
    out: dict[str, Any] = {}

    def tester(sys: Syscalls) -> None:
        try:
            bad = thunk_maker(sys, make_ctx(sys, shared))
            sys.yield_()
            before = kernel_snapshot(k)
            with pytest.raises(TypeError):
                bad()
            out["same"] = kernel_snapshot(k) == before
        finally:
            shared["done"] = True

    k.create_env(other_env(shared), "other", 1)
    k.create_env(tester, "tester", 1)
    system.run()
    assert out == {"same": True}


def test_does_every_system_call_have_a_bad_argument_case():
    calls = {name for name, fn in inspect.getmembers(Syscalls, inspect.isfunction) if not name.startswith("_")}
    covered = {c[0] for c in CASES} | set(NO_ARGUMENTS) | set(ANY_ARGUMENT)
    assert calls == covered, f"not covered: {sorted(calls - covered)}; not a system call: {sorted(covered - calls)}"


def test_does_the_snapshot_notice_a_call_that_did_change_something(system):
    def prepare(sys: Syscalls, c: dict[str, Any]) -> Callable[[], Any]:
        def good_then_bad() -> None:
            sys.frame_alloc(1500)  # succeeds...
            sys.frame_alloc(-1)  # ...then a refusal
        return good_then_bad

    before, after, _ = refuse(system, prepare, BadFrame, "out of range")
    assert before != after
    assert {k for k in after if after[k] != before[k]} >= {"frame_owner", "caps", "envs", "statistics"}


def test_does_a_refused_call_still_cost_the_trap(system):
    before_after = {}

    def body(sys):
        sys.yield_()
        t0 = sys.cpu.cycles()
        with pytest.raises(BadFrame):
            sys.frame_alloc(-1)
        before_after["cycles"] = sys.cpu.cycles() - t0

    system.kernel.create_env(body, "t", 1)
    system.run()
    assert before_after["cycles"] > 0
