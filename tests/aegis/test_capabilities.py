"""Capabilities: unforgeable, only ever weaker when derived, dead with their resource."""

from __future__ import annotations

import pytest

from exospin.aegis import BadCapability, Capability, Rights
from helpers import kernel_snapshot, run_in_env


def test_what_if_an_environment_forges_a_capability_by_hand(system):
    def body(sys):
        sys.frame_alloc(5)  # frame 5 is ours; a hand-built capability for it is still refused
        forged = Capability("frame", 5, Rights.ALL)
        before = kernel_snapshot(system.kernel)
        with pytest.raises(BadCapability, match="not live"):
            sys.tlb_write(0x1000, forged, True)
        with pytest.raises(BadCapability, match="not live"):
            sys.frame_free(forged)
        with pytest.raises(BadCapability, match="not live"):
            sys.cap_derive(forged, Rights.READ)
        assert kernel_snapshot(system.kernel) == before
        return True

    assert run_in_env(system, body)


def test_what_if_a_holder_rewrites_the_fields_of_a_capability_it_holds(system):
    """The kernel trusts its own record, not the object: an altered capability is refused."""
    def body(sys):
        cap = sys.frame_alloc(7)
        weak = sys.cap_derive(cap, Rights.READ)
        other = sys.cap_derive(cap, Rights.READ)
        weak._rights = Rights.ALL  # escalate
        other._resource = 8  # name another frame
        before = kernel_snapshot(system.kernel)
        with pytest.raises(BadCapability, match="altered"):
            sys.tlb_write(0x1000, weak, True)
        with pytest.raises(BadCapability, match="altered"):
            sys.frame_free(weak)
        with pytest.raises(BadCapability, match="altered"):
            sys.tlb_write(0x1000, other, False)
        assert kernel_snapshot(system.kernel) == before
        return True

    assert run_in_env(system, body)


def test_what_if_a_library_os_subclasses_capability_to_fake_a_live_one(system):
    # A subclass can claim equality with (and the hash of) a live capability it
    # holds; set membership would then accept it for any frame and any rights.
    def body(sys):
        mine = sys.cap_derive(sys.frame_alloc(6), Rights.READ)

        class Impostor(Capability):
            __slots__ = ()

            def __hash__(self) -> int:
                return hash(mine)

            def __eq__(self, other: object) -> bool:
                return True

        fake = Impostor("frame", 7, Rights.ALL)  # frame 7 belongs to nobody
        before = kernel_snapshot(system.kernel)
        with pytest.raises(BadCapability, match="expected a capability, got Impostor"):
            sys.tlb_write(0x1000, fake, True)
        with pytest.raises(BadCapability, match="expected a capability"):
            sys.frame_free(fake)
        assert kernel_snapshot(system.kernel) == before
        return True

    assert run_in_env(system, body)


def test_does_a_derived_capability_have_only_the_rights_asked_for(system):
    def body(sys):
        cap = sys.frame_alloc(8)
        ro = sys.cap_derive(cap, Rights.READ)
        assert (ro.kind, ro.resource, ro.rights) == ("frame", 8, Rights.READ)
        sys.tlb_write(0x2000, ro, False)  # reading is what it is for
        with pytest.raises(BadCapability, match="lacks WRITE"):
            sys.tlb_write(0x2000, ro, True)
        with pytest.raises(BadCapability, match="lacks OWNER"):
            sys.frame_free(ro)
        with pytest.raises(BadCapability, match="lacks"):
            sys.cap_derive(ro, Rights.ALL)  # no way back up
        rw = sys.cap_derive(cap, Rights.READ | Rights.WRITE)
        sys.tlb_write(0x3000, rw, True)
        sys.cpu.store(0x3000, 11)
        return sys.cpu.load(0x2000)

    assert run_in_env(system, body) == 11


def test_do_derived_capabilities_die_when_the_frame_is_freed(system):
    def body(sys):
        cap = sys.frame_alloc(9)
        ro = sys.cap_derive(cap, Rights.READ)
        sys.tlb_write(0x4000, ro, False)
        live_before = system.kernel.statistics().caps_live
        sys.frame_free(cap)
        assert system.kernel.statistics().caps_live == live_before - 2
        assert system.machine.tlb.probe(0x4 << 8 | system.machine.tlb.asid) is None
        with pytest.raises(BadCapability, match="not live"):
            sys.tlb_write(0x4000, ro, False)
        # the frame is free again, and a new capability for it is a new object
        again = sys.frame_alloc(9)
        with pytest.raises(BadCapability, match="not live"):
            sys.tlb_write(0x4000, ro, False)
        sys.frame_free(again)
        return True

    assert run_in_env(system, body)


def test_can_a_capability_for_one_kind_of_resource_name_another(system):
    def body(sys):
        slice_cap = sys.slice_alloc(9)
        with pytest.raises(BadCapability, match="is for a slice, not a frame"):
            sys.tlb_write(0x1000, slice_cap, False)
        with pytest.raises(BadCapability, match="is for a slice, not a frame"):
            sys.frame_free(slice_cap)
        frame_cap = sys.frame_alloc(10)
        with pytest.raises(BadCapability, match="is for a frame, not a slice"):
            sys.slice_free(frame_cap)
        with pytest.raises(BadCapability, match="is for a frame, not a env"):
            sys.env_destroy(frame_cap)
        sys.slice_free(slice_cap)
        return True

    assert run_in_env(system, body)


def test_can_a_delegated_capability_be_used_by_the_environment_it_was_given_to(system):
    box: dict = {}

    def owner(sys):
        cap = sys.frame_alloc(11)
        sys.tlb_write(0x1000, cap, True)
        sys.cpu.store(0x1000, 77)
        box["ro"] = sys.cap_derive(cap, Rights.READ)
        sys.yield_()  # the other environment maps and reads it
        sys.frame_free(cap)  # the owner frees: the delegated binding must go too
        sys.yield_()

    def borrower(sys):
        sys.cpu.compute(1)
        sys.tlb_write(0x9000, box["ro"], False)
        box["read"] = sys.cpu.load(0x9000)
        with pytest.raises(BadCapability, match="lacks WRITE"):
            sys.tlb_write(0x9000, box["ro"], True)
        sys.yield_()
        box["still_mapped"] = system.machine.tlb.probe(0x9 << 8 | system.machine.tlb.asid)
        box["in_stlb"] = [k for k, e in system.kernel.stlb.items() if e[2] == 11]
        with pytest.raises(BadCapability, match="not live"):
            sys.tlb_write(0x9000, box["ro"], False)
        box["done"] = True

    system.kernel.create_env(owner, "owner", 1)
    system.kernel.create_env(borrower, "borrower", 1)
    system.run()
    assert box["read"] == 77
    assert box["still_mapped"] is None and box["in_stlb"] == []
    assert box.get("done"), system.kernel.deaths


def test_does_a_transferred_frame_outlive_the_environment_that_allocated_it(system):
    # The copy-on-write hand-over: the allocator lends a capability, hands the
    # frame itself over, and exits; the frame (and the data) stay with the taker.
    k = system.kernel
    box: dict = {}

    def giver(sys):
        cap = sys.frame_alloc(20)
        sys.tlb_write(0x1000, cap, True)
        sys.cpu.store(0x1000, 99)
        box["rw"] = sys.cap_derive(cap, Rights.READ | Rights.WRITE)
        sys.yield_()  # the taker maps it
        sys.frame_transfer(cap, box["taker"])
        box["giver after"] = k.env_statistics(sys.env_id()).frames

    def taker(sys):
        box["taker"] = sys.env_id()
        sys.cpu.compute(1)
        sys.tlb_write(0x8000, box["rw"], True)
        while "giver after" not in box:
            sys.yield_()
        sys.yield_()  # the giver has exited by now
        box["taker reads"] = sys.cpu.load(0x8000)
        box["taker owns"] = k.env_statistics(sys.env_id()).frames
        box["owner"] = k.frame_owner[20]

    g = k.create_env(giver, "giver", 1)
    t = k.create_env(taker, "taker", 1)
    system.run()
    assert box == {"rw": box["rw"], "taker": t, "giver after": 0, "taker reads": 99, "taker owns": 1, "owner": t}
    assert k.deaths[g] == "exited"
    assert k.statistics().frames_owned == 0  # and it went when the taker did


def test_does_transferring_frames_away_satisfy_a_revocation(system):
    k = system.kernel

    def body(sys):
        other, _ = sys.env_create(lambda s: None, "sink")
        caps = [sys.frame_alloc(p) for p in (30, 31, 32)]
        k.revoke(sys.env_id(), 2)
        sys.frame_transfer(caps[0], other)
        sys.frame_transfer(caps[1], other)
        return k.statistics().revocations_complied, k.env_statistics(other).frames

    assert run_in_env(system, body) == (1, 2)
