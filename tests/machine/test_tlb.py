"""The hardware TLB: N entries, software-loaded, tagged by ASID."""

from __future__ import annotations

import pytest

from exospin.machine import PROFILES, Machine, tlb_key


def entry(m: Machine, pfn: int, writable: bool = True) -> tuple[int, bool, int]:
    return (pfn * m.tlb.words_per_frame, writable, pfn)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_does_the_tlb_ever_hold_more_than_n_entries(profile):
    m = Machine(profile)
    tlb = m.tlb
    for i in range(1000):
        tlb.write_random(tlb_key(i, 1 + i % 3), entry(m, i % 50), now=i * 7)
        assert tlb.statistics().valid <= tlb.entries
    assert len(tlb.entries_map) == tlb.statistics().valid <= tlb.entries
    assert tlb.statistics().writes == 1000


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_does_replacement_evict_exactly_one_entry_and_spare_the_wired_ones(profile):
    m = Machine(profile)
    tlb = m.tlb
    n = tlb.entries - tlb.wired  # the slots replacement may choose
    for i in range(3 * n):
        before = tlb.entries_map
        tlb.write_random(tlb_key(i, 1), entry(m, i), now=i * 13)
        after = tlb.entries_map
        assert tlb_key(i, 1) in after
        assert len(set(before) - set(after)) <= 1  # at most one victim
        assert all(s is None for s in tlb.slots[: tlb.wired])


def test_does_writing_a_key_that_is_present_replace_it_in_place():
    m = Machine("ds5000")
    tlb = m.tlb
    key = tlb_key(7, 3)
    tlb.write_random(key, entry(m, 10, True), now=1)
    tlb.write_random(key, entry(m, 11, False), now=2)
    assert tlb.probe(key) == entry(m, 11, False)
    assert tlb.statistics().valid == 1  # never two entries for one key


def test_do_asids_keep_address_spaces_apart():
    m = Machine("ds5000")
    tlb = m.tlb
    tlb.write_random(tlb_key(5, 1), entry(m, 100), now=0)
    tlb.write_random(tlb_key(5, 2), entry(m, 200, False), now=1)
    assert tlb.probe(tlb_key(5, 1)) == entry(m, 100)
    assert tlb.probe(tlb_key(5, 2)) == entry(m, 200, False)
    assert tlb.probe(tlb_key(5, 3)) is None
    tlb.set_asid(1)
    assert 5 in tlb.view
    tlb.set_asid(3)
    assert 5 not in tlb.view  # the CPU matches only the current ASID's entries


def test_does_invalidate_remove_exactly_one_entry():
    m = Machine("ds5000")
    tlb = m.tlb
    tlb.write_random(tlb_key(1, 1), entry(m, 1), now=0)
    tlb.write_random(tlb_key(2, 1), entry(m, 2), now=1)
    assert tlb.invalidate(tlb_key(1, 1))
    assert not tlb.invalidate(tlb_key(1, 1))  # already gone
    assert tlb.probe(tlb_key(1, 1)) is None
    assert tlb.probe(tlb_key(2, 1)) == entry(m, 2)
    s = tlb.statistics()
    assert (s.valid, s.invalidations) == (1, 1)


def test_does_flush_asid_remove_only_that_address_space():
    m = Machine("ds5000")
    tlb = m.tlb
    for vpn in range(10):
        tlb.write_random(tlb_key(vpn, 4), entry(m, vpn), now=vpn)
        tlb.write_random(tlb_key(vpn, 5), entry(m, 100 + vpn), now=100 + vpn)
    n4 = sum(1 for k in tlb.entries_map if k & 0xFF == 4)
    assert tlb.flush_asid(4) == n4
    assert all(k & 0xFF == 5 for k in tlb.entries_map)
    assert tlb.flush_asid(4) == 0


def test_does_tlbwi_write_the_slot_it_is_told_to():
    m = Machine("ds5000")
    tlb = m.tlb
    tlb.write_index(0, tlb_key(9, 1), entry(m, 9))  # a wired slot: a kernel's own choice
    tlb.write_index(0, tlb_key(10, 1), entry(m, 10))  # overwrites it
    assert tlb.probe(tlb_key(9, 1)) is None
    assert tlb.probe(tlb_key(10, 1)) == entry(m, 10)
    assert tlb.statistics().valid == 1


def test_does_the_alpha_tlb_replace_round_robin():
    m = Machine("alpha3000")
    tlb = m.tlb
    for i in range(tlb.entries):
        tlb.write_random(tlb_key(i, 1), entry(m, i), now=0)  # same cycle: Random would collide
    assert tlb.statistics().valid == tlb.entries
    tlb.write_random(tlb_key(999, 1), entry(m, 999), now=0)
    assert tlb.probe(tlb_key(0, 1)) is None  # the oldest goes first
    assert tlb.statistics().valid == tlb.entries


def test_does_the_r3000_tlb_replace_at_the_random_register():
    m = Machine("ds5000")
    tlb = m.tlb
    span = tlb.entries - tlb.wired
    tlb.write_random(tlb_key(1, 1), entry(m, 1), now=5)
    tlb.write_random(tlb_key(2, 1), entry(m, 2), now=5 + span)  # same Random value: same slot
    assert tlb.probe(tlb_key(1, 1)) is None
    assert tlb.probe(tlb_key(2, 1)) == entry(m, 2)


def test_does_flushing_an_asid_empty_exactly_its_stlb_slots():
    from exospin.aegis.stlb import EMPTY, STLB

    stlb = STLB(4096, 1 << 20)
    keys = [(vpn << 8) | asid for asid in (1, 2, 3) for vpn in range(0, 3000, 7)]
    for k in keys:
        stlb.insert(k, (k & 0xFFFF, True, k & 0x7FF))
    held = {a: sum(1 for s in stlb.slots if s[4] == a) for a in (1, 2, 3)}
    assert stlb.flush_asid(2) == held[2] > 0
    assert all(s[4] != 2 for s in stlb.slots) and EMPTY in stlb.slots
    assert {a: sum(1 for s in stlb.slots if s[4] == a) for a in (1, 3)} == {1: held[1], 3: held[3]}
    assert stlb.flush_asid(2) == 0 and stlb.flush_asid(9) == 0
