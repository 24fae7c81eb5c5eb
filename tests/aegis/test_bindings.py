"""Secure bindings: the TLB, the software TLB in front of it, guaranteed mappings."""

from __future__ import annotations

from exospin.aegis import Rights
from exospin.aegis.param import STLB_ENTRIES
from exospin.aegis.stlb import stlb_index
from helpers import run_in_env

BASE = 0x0100_0000
PAGE = 4096


def test_is_a_tlb_miss_on_a_page_mapped_once_served_without_an_upcall(system):
    npages = 100  # more than the 64-entry TLB holds: the second pass misses in hardware

    def program(os_, sys):
        os_.map_region(BASE, npages)
        for i in range(npages):
            os_.store(BASE + i * PAGE, i)
        first = os_.statistics().tlb_miss_upcalls
        hits0 = system.kernel.statistics().stlb_hits
        total = sum(os_.load(BASE + i * PAGE) for i in range(npages))
        stats = system.kernel.statistics()
        return first, os_.statistics().tlb_miss_upcalls, stats.stlb_hits - hits0, total

    box = {}
    system.spawn(lambda os_, sys: box.setdefault("r", program(os_, sys)), "stlb")
    system.run()
    first, after, stlb_hits, total = box["r"]
    assert first == npages  # each page: one upcall, the first time
    assert after == npages  # none more: the STLB served every later miss
    assert stlb_hits >= npages - 64  # at least the pages the TLB could not keep
    assert total == sum(range(npages))


def test_does_an_stlb_hit_cost_less_than_an_upcall(system):
    def body(sys):
        cap = sys.frame_alloc(500)
        calls = []

        def miss(vaddr, write):
            calls.append(vaddr)
            sys.tlb_write(vaddr & ~(PAGE - 1), cap, True)

        sys.set_handler("tlb_miss", miss)
        tlb, asid = system.machine.tlb, system.machine.tlb.asid
        t0 = sys.cpu.cycles()
        sys.cpu.load(BASE)  # STLB miss: upcall and tlb_write
        upcall = sys.cpu.cycles() - t0
        tlb.invalidate((BASE // PAGE) << 8 | asid)  # knock it out of the hardware TLB only
        t0 = sys.cpu.cycles()
        sys.cpu.load(BASE)  # STLB hit
        hit = sys.cpu.cycles() - t0
        return upcall, hit, len(calls)

    upcall, hit, ncalls = run_in_env(system, body)
    assert ncalls == 1
    assert hit < upcall


def test_does_a_guaranteed_mapping_work_without_a_tlb_miss_handler(system):
    def body(sys):
        cap = sys.frame_alloc(501)
        sys.guarantee(0x5000, cap, True)
        sys.cpu.store(0x5000, 3)  # no tlb_miss handler: only the guarantee can serve this
        v = sys.cpu.load(0x5004) + sys.cpu.load(0x5000)
        system.machine.tlb.flush_asid(system.machine.tlb.asid)  # even after the TLB forgets
        return v + sys.cpu.load(0x5000)

    assert run_in_env(system, body) == 6
    assert system.kernel.statistics().exceptions == 0
    assert system.kernel.deaths == {1: "exited"}


def test_does_a_guaranteed_mapping_go_away_with_its_frame(system):
    def body(sys):
        cap = sys.frame_alloc(502)
        sys.guarantee(0x6000, cap, False)
        sys.cpu.load(0x6000)
        sys.frame_free(cap)
        sys.cpu.load(0x6000)  # no handler, no binding: the environment dies here
        return "survived"

    system.kernel.create_env(lambda sys: body(sys), "g", 1)
    system.run()
    assert system.kernel.deaths[1] == "unhandled tlb_miss exception at 0x6000: no handler registered"


def test_does_a_read_only_binding_keep_the_authority_of_a_writable_one(system):
    # tlb_write with WRITE, then a read-only guarantee of the same page with a
    # READ capability: the writable TLB entry is still backed by a capability
    # with WRITE (a false I1 report before the binding record was fixed).
    def body(sys):
        cap = sys.frame_alloc(503)
        ro = sys.cap_derive(cap, Rights.READ)
        sys.tlb_write(0x8000, cap, True)
        sys.guarantee(0x8000, ro, False)
        sys.tlb_write(0x8000, ro, False)
        sys.tlb_write(0x9000, ro, False)
        sys.guarantee(0x9000, cap, True)
        return system.kernel.check_invariants()

    assert run_in_env(system, body) == []


def test_does_tlb_unmap_remove_every_binding_of_the_page(system):
    def body(sys):
        cap = sys.frame_alloc(504)
        sys.tlb_write(0xA000, cap, True)
        sys.guarantee(0xA000, cap, True)
        sys.tlb_unmap(0xA000)
        key = 0xA << 8 | system.machine.tlb.asid
        assert system.machine.tlb.probe(key) is None
        assert all(k != key for k, _ in system.kernel.stlb.items())
        seen = []
        sys.set_handler("tlb_miss", lambda vaddr, write: seen.append(vaddr) or sys.tlb_write(0xA000, cap, True))
        sys.cpu.load(0xA000)
        return seen

    assert run_in_env(system, body) == [0xA000]


def test_do_two_environments_using_the_same_virtual_address_see_their_own_frames(system):
    out: dict[int, list[int]] = {}

    def program(tag):
        def main(sys):
            cap = sys.frame_alloc(600 + tag)
            sys.tlb_write(BASE, cap, True)
            sys.cpu.store(BASE, tag)
            vals = []
            for _ in range(3):
                sys.yield_()
                vals.append(sys.cpu.load(BASE))
            out[tag] = vals
        return main

    system.kernel.create_env(program(1), "one", 1)
    system.kernel.create_env(program(2), "two", 1)
    system.run()
    assert out == {1: [1, 1, 1], 2: [2, 2, 2]}


def test_does_a_guaranteed_mapping_replace_an_older_binding_of_the_page_at_once(system):
    from helpers import run_in_env

    def body(sys):
        a = sys.frame_alloc(600)
        b = sys.frame_alloc(601)
        sys.tlb_write(0x40000, a, True)
        sys.cpu.store(0x40000, 11)  # through frame 600
        sys.guarantee(0x40000, b, True)
        sys.cpu.store(0x40004, 22)  # must go to frame 601 now
        sys.tlb_write(0x50000, a, False)
        return sys.cpu.load(0x50004), sys.cpu.load(0x40004)

    assert run_in_env(system, body) == (0, 22)


def test_does_the_stlb_index_give_one_page_a_different_slot_under_every_asid():
    # the refill path compares a slot's page alone: the index must imply the ASID
    mask = STLB_ENTRIES - 1
    for vpn in (0, 1, 0x1000, 0x7FFFF, 12345):
        assert len({stlb_index(vpn, asid, mask) for asid in range(256)}) == 256
