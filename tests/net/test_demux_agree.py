"""Do DPF, the interpreted demux and cBPF pick the same owner for every frame?

Random frames (dpkt-built Ethernet/IPv4/UDP/TCP with options, fragments and
truncation; ARP; IPv6; random bytes) against random sets of connection
filters, each filter written both as DPF atoms and as a tcpdump expression.
A filter the overlap rule refuses is installed nowhere; the others go into
all three engines. The reference is libpcap itself: the owner whose
expression libpcap's own filter (``BPFProgram.filter``) accepts.
"""

from __future__ import annotations

import pcapy
from demux_cases import Spec, frames, matches, specs, udp_frame
from hypothesis import given, settings
from hypothesis import strategies as st

from exospin.net import DPF, Overlap
from exospin.net.cbpf import BPFDemux, Program, tcpdump
from exospin.net.interp import Interpreted

_compiled: dict[str, tuple[Program, pcapy.BPFProgram]] = {}


def programs(expr: str) -> tuple[Program, pcapy.BPFProgram]:
    """Our checked program and libpcap's, compiled once per expression."""
    if expr not in _compiled:
        _compiled[expr] = (Program(tcpdump(expr)),
                           pcapy.compile(pcapy.DLT_EN10MB, 65535, expr, 1, 0xFFFFFFFF))
    return _compiled[expr]


@settings(max_examples=60, deadline=None)
@given(st.lists(specs, min_size=1, max_size=8), st.lists(frames, min_size=1, max_size=25))
def test_do_dpf_interp_and_cbpf_agree_with_libpcap_on_random_frames(chosen: list[Spec], packets: list[bytes]):
    dpf, interp, bpf = DPF(), Interpreted(), BPFDemux()
    installed: dict[int, Spec] = {}
    for owner, spec in enumerate(chosen):
        try:
            dpf.insert(owner, spec.atoms())
        except Overlap:
            try:  # the interpreter applies the same rule
                interp.insert(owner, spec.atoms())
            except Overlap:
                continue
            raise AssertionError("DPF refused a filter the interpreted demux accepted") from None
        interp.insert(owner, spec.atoms())
        bpf.insert(owner, programs(spec.expr())[0])
        installed[owner] = spec
    for p in packets:
        want = [o for o, s in installed.items() if programs(s.expr())[1].filter(p)]
        assert len(want) <= 1, f"two owners' filters accept one frame: {want}"
        expect = want[0] if want else None
        f, _ = dpf.demux(p)
        g, _ = interp.demux(p)
        e, _ = bpf.demux(p)
        got = (None if f is None else f.owner, None if g is None else g.owner, None if e is None else e.owner)
        assert got == (expect, expect, expect), (p.hex(), [installed[o].expr() for o in installed])
        if f is not None:
            assert matches(f.tests, p)


@settings(max_examples=40, deadline=None)
@given(st.lists(frames, min_size=1, max_size=30), st.sampled_from([
    "ip", "arp", "ip6", "udp", "tcp", "udp dst port 53", "port 7000", "host 10.0.0.2",
    "ip src host 10.0.0.1 and tcp", "ip[8] > 32", "len < 60", "ip[0] & 0xf != 5",
    "udp[8:2] = 0x7878", "ether[0] & 1 = 0", "ip and not udp", "portrange 7000-7002",
    "ip proto 17 or ip proto 6", "tcp[13] & 2 != 0", "greater 50", "ip[2:2] - 20 > 40",
    "ether host 02:02:02:02:02:02", "ip multicast", "vlan", "udp and ip[6:2] & 0x1fff = 0",
]))
def test_does_our_cbpf_interpreter_agree_with_libpcaps_filter(packets: list[bytes], expr: str):
    ours, theirs = programs(expr)
    for p in packets:
        assert ours.run(p)[0] == theirs.filter(p), (expr, p.hex())


def test_do_the_frame_builders_make_what_libpcap_expects():
    # the test's own instruments: a frame to 10.0.0.2:53 is what "udp dst port 53" takes
    p = udp_frame("10.0.0.1", "10.0.0.2", 1234, 53)
    assert programs("ip and udp and ip dst host 10.0.0.2 and udp dst port 53")[1].filter(p)
    assert programs("ip and udp and udp src port 1234")[1].filter(udp_frame("10.0.0.1", "10.0.0.2", 1234, 53, opts=b"\x01" * 8))
    assert not programs("ip and udp and udp dst port 53")[1].filter(udp_frame("10.0.0.1", "10.0.0.2", 1, 53, off=1))
    assert matches(Spec("udp", dst_port=53).atoms(), udp_frame("10.0.0.1", "10.0.0.2", 1, 53, opts=b"\x01" * 4))
