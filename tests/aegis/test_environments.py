"""Environments: creation, destruction, and everything they hold coming back."""

from __future__ import annotations

import pytest

from exospin.aegis import (
    NSLICES,
    SLICE_US,
    BadCapability,
    BadSlice,
    CalleeDied,
    ResourceExhausted,
    Rights,
)
from exospin.aegis.param import MAX_ENVS
from exospin.bench.audit import Audit
from helpers import run_in_env


def quantum(system) -> int:
    return system.machine.profile.cycles_for_us(SLICE_US)


def test_does_destroying_an_environment_return_everything_it_held(system):
    k = system.kernel
    box: dict = {}

    def rich(sys):
        caps = [sys.frame_alloc(pfn) for pfn in range(800, 805)]
        for i, cap in enumerate(caps):
            sys.tlb_write(0x10000 + i * 4096, cap, True)
            sys.cpu.store(0x10000 + i * 4096, i)
        sys.guarantee(0x90000, caps[0], True)
        sys.frame_reserve(caps[1])
        box["lent"] = sys.cap_derive(caps[2], Rights.READ)
        box["slice"] = sys.slice_alloc(9)
        sys.pct_register(0, lambda: "hello")
        sys.set_handler("overflow", lambda r: 0)
        while True:
            sys.cpu.compute(1000)

    def borrower(sys):
        sys.cpu.compute(1)
        sys.tlb_write(0x50000, box["lent"], False)
        box["before"] = sys.cpu.load(0x50000)
        sys.set_handler("tlb_miss", lambda vaddr, write: box.setdefault("faulted", vaddr) and sys.exit("no page"))
        while "destroyed" not in box:
            sys.cpu.compute(100)
            sys.yield_()
        box["after"] = sys.cpu.load(0x50000)  # the lender is gone: this faults

    rich_id = k.create_env(rich, "rich", [0, 1])
    b = k.create_env(borrower, "borrower", [2])
    system.run(until_us=1_500)
    asid = k.envs[rich_id].asid
    assert k.env_statistics(rich_id).frames == 5 and k.env_statistics(rich_id).slices == 3

    k.destroy(rich_id, "evicted by the test")
    box["destroyed"] = True
    assert k.deaths[rich_id] == "evicted by the test"
    s = k.statistics()
    assert s.frames_owned == 0 and s.slices_owned == 1  # only the borrower's slice is left
    assert s.caps_live == 1  # ... and its capability
    assert all(k.frame_owner[p] == 0 for p in range(800, 805))
    assert all(key & 0xFF != asid for key in system.machine.tlb.entries_map)
    assert all(key & 0xFF != asid and e[2] not in range(800, 805) for key, e in k.stlb.items())
    assert all(e[2] not in range(800, 805) for e in system.machine.tlb.entries_map.values())
    assert k.check_invariants() == []
    system.run()
    assert box["before"] == 2
    assert box["faulted"] == 0x50000 and "after" not in box
    assert k.deaths[b] == "exited: no page"


def test_can_an_environment_create_a_child_give_it_a_slice_and_destroy_it(system):
    k = system.kernel
    log: list[object] = []

    def child(sys):
        for pfn in range(810, 813):
            sys.frame_alloc(pfn)
        log.append(("child", sys.env_id()))
        while True:
            sys.cpu.compute(1000)

    def parent(sys):
        eid, cap = sys.env_create(child, "child")
        assert cap.kind == "env" and cap.resource == eid and cap.rights == Rights.ALL
        sys.slice_alloc(7, cap)
        sys.yield_()  # the child runs in slice 7
        log.append(("frames", system.kernel.env_statistics(eid).frames))
        sys.env_destroy(cap)
        log.append(("frames after", system.kernel.statistics().frames_owned))
        with pytest.raises(BadCapability, match="not live"):
            sys.env_destroy(cap)  # its capability died with it
        return eid

    child_id = run_in_env(system, parent, name="parent")
    assert log == [("child", child_id), ("frames", 3), ("frames after", 0)]
    assert k.deaths[child_id] == "destroyed by env 1"


def test_can_a_child_with_no_slices_run_on_donated_time(system):
    def parent(sys):
        seen = []
        eid, cap = sys.env_create(lambda csys: seen.append(csys.env_id()), "child")
        sys.yield_(eid)  # directed yield: the child runs in the rest of our slice
        return eid, seen

    eid, seen = run_in_env(system, parent)
    assert seen == [eid]
    assert system.kernel.deaths[eid] == "exited"


def test_what_if_a_child_capability_is_delegated_without_owner_rights(system):
    def parent(sys):
        eid, cap = sys.env_create(lambda csys: None, "child")
        weak = sys.cap_derive(cap, Rights.READ)
        with pytest.raises(BadCapability, match="lacks OWNER"):
            sys.env_destroy(weak)
        with pytest.raises(BadCapability, match="lacks OWNER"):
            sys.slice_alloc(3, weak)
        sys.env_destroy(cap)
        return True

    assert run_in_env(system, parent)


def test_what_if_a_callee_is_destroyed_from_outside_while_a_caller_waits(system):
    k = system.kernel
    out: dict = {}

    def slow_server(sys):
        sys.pct_register(0, lambda: sys.cpu.compute(10 * quantum(system)))
        while True:
            sys.cpu.compute(10)
            sys.yield_()

    srv = k.create_env(slow_server, "server", 1)

    def client(sys):
        sys.yield_()
        try:
            sys.pct_sync(srv, 0)
        except CalleeDied as e:
            out["error"] = str(e)

    k.create_env(client, "client", 1)
    system.run(until_us=1_500)  # the call is in progress
    k.destroy(srv, "killed by the operator")
    system.run()
    assert out == {"error": "pct_sync: env 1 died during the call: killed by the operator"}


def test_how_many_environments_can_exist_at_once(system):
    k = system.kernel
    made = [k.create_env(lambda sys: None, f"e{i}", 0) for i in range(MAX_ENVS)]
    with pytest.raises(ResourceExhausted, match=f"no environment left: {MAX_ENVS} exist"):
        k.create_env(lambda sys: None, "one too many", 0)
    assert len(set(made)) == MAX_ENVS
    assert len({k.envs[e].asid for e in made}) == MAX_ENVS  # one ASID each
    k.destroy(made[0])
    k.create_env(lambda sys: None, "room again", 0)  # an id and an ASID come free


def test_what_if_create_env_is_given_bad_time_slices(system):
    k = system.kernel
    k.create_env(lambda sys: None, "holder", [3])
    before = k.statistics()
    for slices in ([3], [NSLICES], [-1], [4, 4], ["0"]):
        with pytest.raises(BadSlice, match="out of range, taken, or listed twice"):
            k.create_env(lambda sys: None, "bad", slices)
    with pytest.raises(ResourceExhausted, match=f"asked for {NSLICES} time slices, {NSLICES - 1} free"):
        k.create_env(lambda sys: None, "greedy", NSLICES)
    with pytest.raises(Exception, match="main must be callable"):
        k.create_env("not a function", "bad", 1)
    assert k.statistics() == before


def test_does_creating_an_environment_walk_no_slice_it_does_not_take(system):
    # env_create gives no time slice (slice_alloc does): the kernel has no reason to look
    # at the slice vector, and its Python must not walk it either (bench/audit.py)
    def body(sys):
        audit = Audit()
        audit.start()
        eid, cap = sys.env_create(lambda s: None, "child")
        ops = audit.stop()
        sys.env_destroy(cap)
        return ops

    ops = run_in_env(system, body)
    assert ops.insns < NSLICES, ops


def test_is_the_lowest_free_asid_handed_out_and_a_dead_ones_scrubbed_before_reuse(system):
    # ASIDs come from a heap of free ones (no walk over the ASIDs in use), the lowest first.
    # A destroyed environment's ASID is dirty (STLB slots may still name it) until the free
    # ones run out; then one walk of the STLB, charged per slot, clears every dirty one.
    k = system.kernel
    made = [k.create_env(lambda sys: None, f"e{i}", 0) for i in range(10)]
    assert [k.envs[e].asid for e in made] == list(range(1, 11))
    for e in (made[6], made[2], made[8]):
        k.destroy(e)
        assert k.check_invariants() == []
    assert sorted(k.dirty_asids) == [3, 7, 9]
    again = [k.create_env(lambda sys: None, f"again{i}", 0) for i in range(4)]
    assert [k.envs[e].asid for e in again] == [11, 12, 13, 14]  # not the dirty ones
    assert k.stlb_scrubs == 0
    more = [k.create_env(lambda sys: None, f"more{i}", 0) for i in range(len(k.free_asids))]
    assert k.free_asids == [] and k.stlb_scrubs == 0
    before = system.machine.now
    last = k.create_env(lambda sys: None, "last", 0)  # no free ASID: scrub, then the lowest
    assert k.envs[last].asid == 3 and k.stlb_scrubs == 1 and sorted(k.free_asids) == [7, 9]
    c = k.c
    assert system.machine.now - before >= k.stlb.entries * c.stlb_scrub_slot  # the walk is charged
    assert k.check_invariants() == []
    k.free_asids.append(1)  # an ASID both free and held: caught
    assert any(b.startswith("I9: the free ASIDs") for b in k.check_invariants())
    k.free_asids.pop()
    again += more + [last]
    for e in made + again:
        if e in k.envs:
            k.destroy(e)


def test_does_a_destroyed_borrowers_stlb_slot_stay_unreachable_until_scrubbed(system):
    """A binding of a frame someone else owns outlives its environment in the STLB, under
    a dirty ASID that no one holds; the scrub clears it before the ASID is used again."""
    k = system.kernel
    box: dict = {}

    def lender(sys):
        cap = sys.frame_alloc(700)
        box["lent"] = sys.cap_derive(cap, Rights.READ)
        while "done" not in box:
            sys.yield_()

    def borrower(sys):
        while "lent" not in box:
            sys.yield_()
        sys.tlb_write(0x40000, box["lent"], False)
        box["value"] = sys.cpu.load(0x40000)

    k.create_env(lender, "lender", [0])
    b = k.create_env(borrower, "borrower", [1])
    asid = k.envs[b].asid
    system.run(until_us=2_000)
    assert b not in k.envs and asid in k.dirty_asids  # it exited: its ASID is dirty
    assert any(key & 0xFF == asid and e[2] == 700 for key, e in k.stlb.items())  # still named
    assert k.check_invariants() == []  # ... but unreachable: no one holds the ASID
    k._scrub_stlb()
    assert not any(key & 0xFF == asid for key, e in k.stlb.items()) and asid in k.free_asids
    assert k.check_invariants() == []
    key = 0x41 << 8 | asid
    k.stlb.insert(key, (700 * k.words_per_frame, False, 700))  # a free ASID named: caught
    assert any(b.startswith("I9: STLB slots name free ASIDs") for b in k.check_invariants())
    k.stlb.remove(key)
    box["done"] = True
    system.run()


def test_does_reading_the_free_frame_bitmap_cost_the_words_read(system):
    """free_frames reads Aegis' exposed bitmap: the lowest free frames, paid per word
    loaded up to the last one taken, and per frame's bit; no trap."""
    p = system.machine.profile
    bits = 8 * p.word_bytes

    def body(sys):
        taken = [sys.frame_alloc(pfn) for pfn in (0, 1, 3)]
        loop = system.machine.loop
        t0 = loop.now
        lowest = sys.free_frames(5)
        few = loop.now - t0
        t0 = loop.now
        every = sys.free_frames()
        alls = loop.now - t0
        for cap in taken:
            sys.frame_free(cap)
        return lowest, few, every, alls

    lowest, few, every, alls = run_in_env(system, body)
    assert lowest == [2, 4, 5, 6, 7]
    assert few == (7 // bits + 1) * (p.mem_ref + p.insn) + 5 * 2 * p.insn
    n = system.kernel.statistics().frames_total
    assert every[:3] == [2, 4, 5] and len(every) == n - 3  # all but the three taken
    assert alls == ((n - 1) // bits + 1) * (p.mem_ref + p.insn) + len(every) * 2 * p.insn
