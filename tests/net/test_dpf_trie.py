"""The DPF trie (net/dpf.py): merging, hashing, compiling, deleting, and the overlap rule."""

from __future__ import annotations

import pytest
from demux_cases import Spec, matches, satisfy, udp_frame
from hypothesis import given, settings
from hypothesis import strategies as st

from exospin.net import DPF, HASH_MIN, Atom, FilterError, Overlap, Shift, Test, unpack
from exospin.net.dpf import _ACCEPT_COST, _SHIFT_COST, _atom_cost, _hash_cost


def conn(port: int, host: str = "10.0.0.2") -> list[Test]:
    return Spec("udp", dst_host=host, dst_port=port).atoms()


def frame(port: int, host: str = "10.0.0.2") -> bytes:
    return udp_frame("10.0.0.1", host, 1234, port)


def test_do_filters_share_their_common_prefix():
    d = DPF()
    d.insert("a", conn(7000))
    one = d.statistics().nodes
    d.insert("b", conn(7001))
    # everything but the last atom (the port) is shared: one more node
    assert d.statistics().nodes == one + 1 == len(conn(7000)) + 2
    d.insert("c", conn(7000, "10.0.0.3"))
    # shares the Ethernet type and the protocol, then a new host branch of four nodes
    assert d.statistics().nodes == one + 1 + 4


def test_does_a_field_on_which_many_filters_differ_become_one_hash_lookup():
    d = DPF()
    for i in range(HASH_MIN - 1):
        d.insert(i, conn(7000 + i))
    assert d.statistics().hash_tables == 0
    d.insert("last", conn(9999))
    assert d.statistics().hash_tables == 1
    assert d.demux(frame(9999))[0].owner == "last" and d.demux(frame(7001))[0].owner == 1
    assert d.demux(frame(8000))[0] is None


def test_does_demux_work_not_grow_with_the_number_of_connection_filters():
    works = []
    for n in (HASH_MIN, 100, 1000):
        d = DPF()
        for i in range(n):
            d.insert(i, conn(10_000 + i))
        f, w = d.demux(frame(10_000 + n - 1))
        assert f is not None and f.owner == n - 1
        works.append(w)
    eth, proto, host, frag, _, port = conn(1)
    assert type(port) is Atom
    expect = (_atom_cost(eth) + _atom_cost(proto) + _atom_cost(host) + _atom_cost(frag) + _SHIFT_COST
              + _hash_cost(port.mask, port.length) + _ACCEPT_COST)
    assert works == [expect] * 3
    assert unpack(expect) == (1 + 1 + 1 + 1 + 1 + 1 + 1, 2 + 2 + 2 + 3 + 4 + 1, 1)


def test_is_the_code_compiled_once_per_shape():
    d = DPF()
    for i in range(HASH_MIN):
        d.insert(i, conn(7000 + i))
    before = d.statistics().sources_compiled
    for i in range(HASH_MIN, 50):
        d.insert(i, conn(7000 + i))
    s = d.statistics()
    assert s.sources_compiled == before and s.rebuilds == 50
    # the text names no value: ports and hosts are bound as globals
    assert "7000" not in d.source() and "0x1b58" not in d.source() and "167772162" not in d.source()


def test_does_delete_free_the_nodes_no_other_filter_uses():
    d = DPF()
    a = d.insert("a", conn(7000))
    alone = d.statistics().nodes
    b = d.insert("b", conn(7001))
    c = d.insert("c", conn(7000, "10.0.0.3"))
    d.delete(c)
    assert d.statistics().nodes == alone + 1
    d.delete(a)
    assert d.statistics().nodes == alone
    assert d.demux(frame(7000))[0] is None and d.demux(frame(7001))[0] is b
    d.delete(b)
    s = d.statistics()
    assert (s.nodes, s.filters, s.deletes) == (1, 0, 3)
    assert d.demux(frame(7001)) == (None, 0)


def test_is_deleting_a_filter_twice_or_from_another_trie_refused():
    d, other = DPF(), DPF()
    f = d.insert("a", conn(7000))
    g = other.insert("a", conn(7000))
    with pytest.raises(FilterError, match="is not installed here"):
        d.delete(g)  # same fid, another trie's filter
    d.delete(f)
    with pytest.raises(FilterError, match="is not installed here"):
        d.delete(f)


def test_is_a_filter_that_would_steal_another_owners_traffic_refused_readably():
    d = DPF()
    d.insert("server", conn(53))
    d.insert("server", Spec("udp").atoms())  # an owner may overlap itself
    before = (d.statistics().nodes, d.source(), d.filters)
    with pytest.raises(Overlap) as e:
        d.insert("thief", Spec("udp", dst_port=53).atoms())
    msg = str(e.value)
    assert "of 'thief' overlaps filter #" in msg and "of 'server'" in msg
    assert "[16:2] == 0x35" in msg and "would take traffic that owner claims" in msg
    assert (d.statistics().nodes, d.source(), d.filters) == before
    assert d.statistics().refusals == 1
    # the wider filter is refused too: it would take everything the narrower one claims
    with pytest.raises(Overlap):
        d.insert("thief", [Atom(12, 2, 0xFFFF, 0x0800)])
    # a disjoint one is not: TCP, or UDP to another port on a filter that tests the protocol
    d2 = DPF()
    d2.insert("server", conn(53))
    d2.insert("other", Spec("tcp", dst_port=53).atoms())
    d2.insert("third", conn(54))


def test_is_the_overlap_rule_conservative_across_shifts():
    # with the header length pinned to 5 words, the shifted port is at byte 36: the two
    # filters want 53 and 54 there, so no packet matches both, but bytes reached through a
    # shift are not compared with absolute ones, and the second filter is refused
    ihl5 = [Atom(12, 2, 0xFFFF, 0x0800), Atom(14, 1, 0xFF, 0x45)]
    d = DPF()
    d.insert("a", [*ihl5, Shift(14, 1, 0x0F, 2), Atom(16, 2, 0xFFFF, 53)])
    with pytest.raises(Overlap):
        d.insert("b", [*ihl5, Atom(36, 2, 0xFFFF, 54)])
    # through the same shift they are compared
    d.insert("b", [*ihl5, Shift(14, 1, 0x0F, 2), Atom(16, 2, 0xFFFF, 54)])


def test_does_a_bad_filter_change_nothing():
    d = DPF()
    d.insert("a", conn(7000))
    before = (d.statistics().nodes, d.source())
    with pytest.raises(FilterError, match="length must be one of"):
        d.insert("b", [Atom(12, 2, 0xFFFF, 0x0800), Atom(16, 3, 0xFF, 1)])
    assert (d.statistics().nodes, d.source()) == before and d.statistics().refusals == 1


def test_does_the_longer_filter_of_one_owner_win():
    d = DPF()
    wide = d.insert("me", Spec("udp").atoms())
    narrow = d.insert("me", conn(53))
    assert d.demux(frame(53))[0] is narrow and d.demux(frame(54))[0] is wide


def test_does_an_atom_past_the_packets_end_not_hold():
    d = DPF()
    f = d.insert("a", conn(53))
    p = frame(53)
    assert d.demux(p)[0] is f
    # the port ends at byte 37 of a 20-byte-header frame: 38 bytes match, 37 do not
    assert d.demux(p[:38])[0] is f and d.demux(p[:37])[0] is None and d.demux(b"")[0] is None
    g = d.insert("b", [Atom(12, 2, 0xFFFF, 0x0806), Atom(41, 1, 0, 0)])  # ARP of 42 bytes or more
    arp = bytes(12) + b"\x08\x06" + bytes(28)
    assert d.demux(arp)[0] is g and d.demux(arp[:41])[0] is None


# random filters over a few bytes, so that they share prefixes, hash and overlap
_atoms = st.builds(Atom, st.integers(0, 5), st.just(1), st.sampled_from([0xFF, 0xFF, 0x0F, 0]),
                   st.integers(0, 7)).filter(lambda a: not a.value & ~a.mask)
_tests = st.one_of(_atoms, _atoms, _atoms, st.builds(Shift, st.integers(0, 3), st.just(1),
                                                     st.just(0x03), st.integers(0, 1)))
_random = st.lists(_tests, min_size=1, max_size=4).map(lambda ts: ts + [Atom(0, 1, 0xFF, 1)]
                                                         if type(ts[-1]) is Shift else ts)
# connection-like: one of a few shared prefixes, then a field many filters test with different
# values (hashed from HASH_MIN of them on), sometimes one more atom after it
_prefixes = st.sampled_from([[Atom(0, 1, 0xFF, 1)], [Atom(0, 1, 0xFF, 1), Shift(1, 1, 0x03, 1)],
                             [Atom(0, 1, 0x0F, 2), Atom(1, 1, 0xFF, 0)]])
_tails = st.sampled_from([[], [], [Atom(6, 1, 0xFF, 9)], [Atom(6, 1, 0, 0)]])


@st.composite
def _filter_sets(draw: st.DrawFn) -> list[tuple[int, list[Test]]]:
    """A group of connection-like filters (each its own owner) among random ones."""
    pre = draw(_prefixes)
    ports = draw(st.lists(st.integers(0, 11), min_size=0, max_size=10, unique=True))
    group = [(100 + v, [*pre, Atom(4, 2, 0xFFFF, v), *draw(_tails)]) for v in ports]
    # filters on the same prefix that test another field: a packet may fail a hashed
    # branch's tail and still match one of these (the compiled code must fall through)
    side = [(200 + w, [*pre, Atom(6, 1, 0xFF, w)]) for w in draw(st.lists(st.integers(0, 9), max_size=3, unique=True))]
    others = draw(st.lists(st.tuples(st.integers(0, 3), _random), max_size=10))
    return draw(st.permutations(group + side + others))


# packets of a few bytes, often with a first byte the prefixes want
_packets = st.one_of(st.binary(max_size=10), st.builds(lambda h, t: h + t, st.sampled_from(
    [b"\x01", b"\x02\x00", b"\x01\x01"]), st.binary(min_size=0, max_size=8)))


@settings(max_examples=50, deadline=None)
@given(_filter_sets(),
       st.lists(_packets, min_size=1, max_size=20),
       st.randoms(use_true_random=False))
def test_does_the_compiled_trie_accept_what_its_filters_define(chosen, packets, rnd):
    d = DPF()
    for _, tests in chosen:  # packets meant for each filter, some with one byte changed
        p = satisfy(tests, rnd)
        packets.append(p)
        i = rnd.randrange(len(p))
        packets.append(p[:i] + bytes([rnd.randrange(256)]) + p[i + 1:])
        # and one edited for a second filter too: it may pass the first's hashed field, fail
        # its tail, and match the second further down the same node
        packets.append(satisfy(rnd.choice(chosen)[1], rnd, start=p))
    for owner, tests in chosen:
        try:
            d.insert(owner, tests)
        except FilterError:
            pass

    def check() -> None:
        for p in packets:
            f, _ = d.demux(p)
            hits = [g for g in d.filters if matches(g.tests, p)]
            assert len({g.owner for g in hits}) <= 1, "the overlap rule let two owners share a packet"
            if hits:
                assert f is not None and f.owner == hits[0].owner and matches(f.tests, p), p.hex()
            else:
                assert f is None, p.hex()

    check()
    installed = list(d.filters)
    rnd.shuffle(installed)
    for f in installed[: len(installed) // 2]:
        d.delete(f)
    check()


def test_does_a_packet_that_fails_a_hashed_branch_fall_through_to_the_next_edge():
    d = DPF()
    pre = Atom(0, 1, 0xFF, 1)
    for v in range(HASH_MIN):
        d.insert(v, [pre, Atom(4, 2, 0xFFFF, v), Atom(6, 1, 0xFF, 9)])
    side = d.insert("side", [pre, Atom(6, 1, 0xFF, 5)])
    assert d.statistics().hash_tables == 1
    assert d.demux(bytes([1, 0, 0, 0, 0, 2, 9]))[0].owner == 2
    # port 2's branch is taken and fails at byte 6; the next edge of the node takes it
    assert d.demux(bytes([1, 0, 0, 0, 0, 2, 5]))[0] is side
    assert d.demux(bytes([1, 0, 0, 0, 0, 2, 6]))[0] is None


def test_does_the_deepest_filter_compile_and_match():
    # MAX_TESTS tests, a third of them shifts (by 0): the generated code nests one block per test
    from exospin.net import MAX_TESTS
    tests: list[Test] = [Atom(i, 1, 0xFF, i % 7) if i % 3 else Shift(0, 1, 0, 0) for i in range(MAX_TESTS - 1)]
    d = DPF()
    f = d.insert("a", [*tests, Atom(40, 1, 0xFF, 1)])
    for v in range(HASH_MIN):  # and a hash table at the bottom, behind every shift
        d.insert(v, [*tests, Atom(40, 1, 0xFF, 10 + v)])
    p = bytearray(64)
    for i in range(MAX_TESTS - 1):
        p[i] = i % 7 if i % 3 else 0
    p[40] = 1
    assert d.demux(bytes(p))[0] is f
    p[40] = 12
    assert d.demux(bytes(p))[0].owner == 2 and d.statistics().hash_tables == 1
