"""Atoms, their checks and the cost of a demultiplexer's work (net/atoms.py)."""

from __future__ import annotations

import pytest

from exospin.machine import get_profile
from exospin.net import MAX_TESTS, Atom, DemuxCosts, FilterError, Shift, check_filter, unpack, work
from exospin.net.atoms import contradict

IP = Atom(12, 2, 0xFFFF, 0x0800)


@pytest.mark.parametrize("tests, message", [
    ([], "at least one atom"),
    ([IP] * (MAX_TESTS + 1), f"at most {MAX_TESTS}"),
    ([Atom(12, 3, 0xFF, 0)], "length must be one of (1, 2, 4)"),
    ([Atom(-1, 1, 0xFF, 0)], "offset must be in 0..65534"),
    ([Atom(65534, 2, 0xFF, 0)], "offset must be in 0..65533"),
    ([Atom(0, 1, 0x1FF, 0)], "mask 0x1ff does not fit in 1 byte(s)"),
    ([Atom(0, 1, 0x0F, 0x10)], "value 0x10 has bits outside mask 0xf, so it can never match"),
    ([Atom(0, 1, 0xFF, "a")], "value must be an int"),  # type: ignore[arg-type]
    ([Atom(0, 1.0, 0xFF, 0)], "length must be an int"),  # type: ignore[arg-type]
    ([IP, Shift(14, 1, 0x0F, 2)], "the last test is a shift"),
    ([Shift(14, 1, 0x0F, 9), IP], "shift must be an int in 0..8"),
    ([(12, 2, 0xFFFF, 0x800)], "test 0 is a tuple, not an Atom or a Shift"),
    ([IP, Atom(12, 2, 0xFFFF, 0x86DD)], "atoms 0 ([12:2] == 0x800) and 1 ([12:2] == 0x86dd) require different bits"),
    ([Atom(12, 1, 0xFF, 0x08), Atom(12, 2, 0xFFFF, 0x0900)], "require different bits of the same bytes"),
])
def test_is_each_bad_filter_refused_with_a_reason(tests, message):
    with pytest.raises(FilterError) as e:
        check_filter(tests)
    assert message in str(e.value)


def test_may_atoms_in_different_segments_require_different_bytes():
    # after a shift the base moved: [0:1] there is another byte than [0:1] before it
    check_filter([Atom(0, 1, 0xFF, 1), Shift(14, 1, 0x0F, 2), Atom(0, 1, 0xFF, 2)])


def test_do_compatible_atoms_on_the_same_bytes_pass():
    assert check_filter([Atom(12, 1, 0xFF, 0x08), IP, Atom(13, 1, 0x0F, 0)]) == (
        Atom(12, 1, 0xFF, 0x08), IP, Atom(13, 1, 0x0F, 0))


@pytest.mark.parametrize("a, b, expect", [
    (IP, Atom(12, 2, 0xFFFF, 0x86DD), True),
    (IP, Atom(12, 2, 0xFF00, 0x0800), False),  # agrees on the bits both test
    (IP, Atom(13, 1, 0xFF, 0x01), True),  # overlapping at byte 13
    (IP, Atom(14, 1, 0xFF, 0x01), False),  # disjoint bytes never contradict
    (Atom(12, 4, 0xFFFF0000, 0x08000000), Atom(14, 2, 0xFFFF, 0x1234), False),  # masks do not meet
    (Atom(12, 1, 0xF0, 0x40), Atom(12, 1, 0x0F, 0x05), False),
])
def test_does_contradict_compare_only_the_bits_both_atoms_cover(a, b, expect):
    assert contradict(a, b) is expect and contradict(b, a) is expect


def test_do_work_counts_pack_and_add_field_by_field():
    w = work(3, 5, 1) + work(2, 7) + work(0, 0, 2)
    assert unpack(w) == (5, 12, 3)
    assert unpack(work(0, 0)) == (0, 0, 0)


@pytest.mark.parametrize("profile", ["ds5000", "alpha3000"])
def test_is_a_demux_cost_its_primitives_from_the_profile(profile):
    p = get_profile(profile)
    c = DemuxCosts.from_profile(p)
    assert (c.mem_ref, c.insn, c.call) == (p.mem_ref, p.insn, p.proc_call)
    assert c.probe == 2 * p.mem_ref + 2 * p.insn
    assert c.cycles(0) == p.proc_call
    assert c.cycles(work(4, 6, 2)) == p.proc_call + 4 * p.mem_ref + 6 * p.insn + 2 * c.probe


def test_do_atoms_read_as_the_filter_they_are():
    assert str(IP) == "[12:2] == 0x800"
    assert str(Atom(20, 2, 0x1FFF, 0)) == "[20:2] & 0x1fff == 0x0"
    assert str(Atom(40, 1, 0, 0)) == "len >= 41"
    assert str(Shift(14, 1, 0x0F, 2)) == "base += ([14:1] & 0xf) << 2"
