"""Machine profiles: every primitive costed, with a unit and a source."""

from __future__ import annotations

import pytest

from exospin.machine import PRIMITIVES, PROFILES, Machine, UnknownProfile, get_profile


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_does_every_profile_cost_every_primitive_with_a_unit_and_a_source(name):
    p = PROFILES[name]
    assert set(p.costs) == set(PRIMITIVES)
    for prim, cost in p.costs.items():
        assert type(cost.cycles) is int and cost.cycles > 0, (name, prim)
        assert cost.unit.strip(), (name, prim)
        assert cost.source.strip(), (name, prim)
        assert getattr(p, prim) == cost.cycles  # profile.trap_entry and friends read the table


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_is_every_profile_a_plausible_machine(name):
    p = PROFILES[name]
    assert p.name == name and p.description
    assert p.clock_hz > 0 and p.memory_frames > 0
    assert p.page_size & (p.page_size - 1) == 0 and p.word_bytes in (4, 8)
    assert 0 <= p.tlb_wired < p.tlb_entries
    assert p.asid_bits >= 6


def test_what_if_a_profile_is_unknown():
    with pytest.raises(UnknownProfile, match=r"unknown profile 'vax780'") as info:
        get_profile("vax780")
    for known in PROFILES:
        assert known in str(info.value)
    with pytest.raises(UnknownProfile):
        Machine("vax780")


def test_what_if_someone_asks_a_profile_for_a_primitive_it_does_not_have():
    with pytest.raises(AttributeError):
        get_profile("ds5000").flux_capacitor  # noqa: B018


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_do_cycles_and_microseconds_convert_both_ways(name):
    p = PROFILES[name]
    assert p.us(p.clock_hz) == pytest.approx(1e6)
    assert p.cycles_for_us(1000.0) == p.clock_hz // 1000
    assert p.cycles_for_us(0.0) == 1  # never zero: a timer of 0 cycles would never advance
