"""cBPF -> DPF (net/translate.py): does a translated expression take what libpcap takes?"""

from __future__ import annotations

import pcapy
import pytest
from demux_cases import Spec, frames, other_frame, satisfy, udp_frame
from hypothesis import given, settings
from hypothesis import strategies as st

from exospin.net import DPF, Atom, FilterError, Overlap, Shift
from exospin.net.cbpf import (
    ALU,
    IND,
    JEQ,
    JMP,
    LD,
    LDX,
    MSH,
    RET,
    TAX,
    B,
    H,
    K,
    Program,
    W,
    tcpdump,
)
from exospin.net.interp import Interpreted
from exospin.net.translate import MAX_PATHS, Untranslatable, from_tcpdump, install, translate

ABS, LEN = 0x20, 0x80
RETA = RET | 0x10

#: expressions that are conjunctions on every accepting path (some after a covering step)
TRANSLATABLE = [
    "ip", "arp", "ip6", "udp", "tcp", "icmp", "udp dst port 53", "udp dst port 53 and ip dst host 10.0.0.2",
    "ip and tcp and ip src host 10.0.0.1 and tcp src port 7000", "host 10.0.0.2", "port 53",
    "udp port 7 and host 10.0.0.1", "ether[0] & 1 = 0", "ip[0] & 0xf = 5", "ip[0] >> 4 = 4",
    "tcp[13] & 2 != 0", "udp and (dst port 7 or dst port 7000)", "ip proto 17 or ip proto 6",
    "ether host 02:02:02:02:02:02", "udp and ip[6:2] & 0x1fff = 0", "vlan", "ip6 and udp",
    "ether dst 04:04:04:04:04:04 and ip",
]


@pytest.mark.parametrize("expr", TRANSLATABLE)
def test_does_a_translated_expression_accept_exactly_what_libpcap_accepts(expr):
    filters = from_tcpdump(expr)
    d = DPF()
    install(d, "me", filters)
    theirs = pcapy.compile(pcapy.DLT_EN10MB, 65535, expr, 1, 0xFFFFFFFF)

    @settings(max_examples=25, deadline=None, database=None)
    @given(st.lists(frames, min_size=1, max_size=8))
    def agree(packets):
        for p in packets:
            assert (d.demux(p)[0] is not None) == bool(theirs.filter(p)), (expr, p.hex())

    agree()


def test_is_udp_dst_port_two_filters_ipv4_with_its_shift_and_ipv6():
    v6, v4 = from_tcpdump("udp dst port 7000")
    assert v4 == (Atom(12, 2, 0xFFFF, 0x0800), Atom(23, 1, 0xFF, 17), Atom(20, 2, 0x1FFF, 0),
                  Shift(14, 1, 0x0F, 2), Atom(16, 2, 0xFFFF, 7000))
    assert v6 == (Atom(12, 2, 0xFFFF, 0x86DD), Atom(20, 1, 0xFF, 17), Atom(56, 2, 0xFFFF, 7000))
    # a user can install it on DPF, and its IPv4 filter is the one the hand-written spec means
    d = DPF()
    install(d, "server", [v4])
    assert d.demux(udp_frame("10.0.0.1", "10.0.0.2", 9, 7000, opts=b"\x01" * 8))[0].owner == "server"
    with pytest.raises(Overlap):
        d.insert("other", Spec("udp", dst_port=7000).atoms())


@pytest.mark.parametrize("expr, reason", [
    # (the instruction numbers come from libpcap's optimiser, so only the reasons are pinned)
    ("ip and not udp", "it needs not ([23:1] == 0x11), a negation"),
    ("ip[0] != 0x45", "needs not ([14:1] == 0x45)"),
    ("portrange 7000-7002", "a range test (>= 0x1b58) on a packet field"),
    ("greater 100", "the packet's length (instruction 0 (0x0080, 0, 0, 0x0)); DPF atoms test bytes, not lengths"),
    ("ip and not udp", "instruction "),  # the refusal names the instruction
    ("ip[2:2] - 20 > 40", "arithmetic (sub) on a packet field"),
    ("ip multicast", "a range test (>= 0xe0)"),
    ("tcp[tcpflags] & (tcp-syn|tcp-ack) != 0", "needs not ([27:1] & 0x12 == 0x0) (after the header-length shift)"),
])
def test_is_an_expression_that_is_no_conjunction_refused_with_the_reason(expr, reason):
    with pytest.raises(Untranslatable) as e:
        from_tcpdump(expr)
    msg = str(e.value)
    assert msg.startswith(f"tcpdump expression {expr!r}: accepting path (ret at instruction ")
    assert "is not a conjunction of atoms" in msg and reason in msg


@pytest.mark.parametrize("prog, reason", [
    ([(LD | H | ABS, 0, 0, 12), (RETA, 0, 0, 0)], "returns the accumulator, which depends on the packet"),
    ([(LD | B | ABS, 0, 0, 14), (0x07 | TAX, 0, 0, 0), (LD | B | IND, 0, 0, 0), (JMP | JEQ | K, 0, 1, 1),
      (RET | K, 0, 0, 1), (RET | K, 0, 0, 0)], "an indirect load indexed by a field"),
    ([(LDX | W | LEN, 0, 0, 0), (LD | B | IND, 0, 0, 0), (JMP | JEQ | K, 0, 1, 1), (RET | K, 0, 0, 1),
      (RET | K, 0, 0, 0)], "an indirect load indexed by the packet's length"),
    ([(LDX | B | MSH, 0, 0, 14), (LD | B | IND, 0, 0, 0), (LDX | B | MSH, 0, 0, 34), (LD | B | IND, 0, 0, 0),
      (JMP | JEQ | K, 0, 1, 1), (RET | K, 0, 0, 1), (RET | K, 0, 0, 0)], "a second header-length shift"),
    ([(LD | B | ABS, 0, 0, 0), (ALU | 0x00 | K, 0, 0, 1), (JMP | JEQ | K, 0, 1, 2), (RET | K, 0, 0, 1),
      (RET | K, 0, 0, 0)], "arithmetic (add) on a packet field"),
    ([(LD | B | ABS, 0, 0, 0), (0x07 | TAX, 0, 0, 0), (LD | B | ABS, 0, 0, 1), (JMP | JEQ | 0x08, 0, 1, 0),
      (RET | K, 0, 0, 1), (RET | K, 0, 0, 0)], "a compare of a packet field with X"),
])
def test_is_each_untranslatable_program_refused_with_the_reason(prog, reason):
    with pytest.raises(Untranslatable, match="is not a conjunction of atoms") as e:
        translate(prog)
    assert reason in str(e.value)


def test_are_paths_that_reject_free_to_do_anything():
    # a range test on the way to a reject is no obstacle: only accepting paths become filters
    prog = [(LD | H | ABS, 0, 0, 12), (JMP | JEQ | K, 0, 3, 0x0800), (LD | W | LEN, 0, 0, 0),
            (JMP | 0x20 | K, 1, 0, 100), (RET | K, 0, 0, 0), (RET | K, 0, 0, 0)]
    assert translate(prog) == ()  # nothing accepted
    assert translate([(RET | K, 0, 0, 0)]) == ()
    with pytest.raises(Untranslatable, match="an empty filter would take every packet"):
        translate([(RET | K, 0, 0, 65535)])  # accepts all: no atom to say so


def test_does_a_load_nothing_tests_still_bound_the_packet():
    # ld [40] then accept if [12:2] == 0x800: a shorter packet is rejected by the load
    prog = [(LD | W | ABS, 0, 0, 40), (LD | H | ABS, 0, 0, 12), (JMP | JEQ | K, 0, 1, 0x0800),
            (RET | K, 0, 0, 1), (RET | K, 0, 0, 0)]
    assert translate(prog) == ((Atom(12, 2, 0xFFFF, 0x0800), Atom(40, 4, 0, 0)),)


def test_are_too_many_accepting_paths_refused():
    expr = " or ".join(f"udp dst port {p}" for p in range(MAX_PATHS // 2 + 1))
    with pytest.raises(Untranslatable, match=f"more than {MAX_PATHS} accepting paths"):
        from_tcpdump(expr)


def test_does_install_put_all_filters_or_none():
    d = DPF()
    d.insert("dns", Spec("udp", dst_port=53).atoms())
    before = (d.filters, d.source())
    with pytest.raises(Overlap):
        install(d, "thief", from_tcpdump("udp dst port 53"))  # the IPv6 one goes in, then IPv4 fails
    assert (d.filters, d.source()) == before
    m = Interpreted()
    assert len(install(m, "me", from_tcpdump("udp dst port 53"))) == 2
    assert m.demux(other_frame(1))[0].owner == "me"  # the IPv6 frame to port 53


def test_is_a_program_check_refuses_still_a_bpf_error():
    from exospin.net.cbpf import BPFError
    with pytest.raises(BPFError, match="must be a ret"):
        translate([(LD | H | ABS, 0, 0, 12)])
    assert translate(tcpdump("ip")) == ((Atom(12, 2, 0xFFFF, 0x0800),),)


@st.composite
def programs(draw: st.DrawFn) -> list[tuple[int, int, int, int]]:
    """Random valid cBPF programs shaped like libpcap's: blocks that load a field (absolute,
    or indirect after a header length or a constant in X), maybe mask or shift it, and test
    it, each way going on, accepting or rejecting (so conjunctions, disjunctions and
    negations all occur); now and then a range test, scratch words, a load nothing tests or
    ``ret a``. Jumps are
    written to labels and resolved at the end, where ``ret 1`` and ``ret 0`` wait."""
    body: list[tuple[int, object, object, int]] = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["test", "test", "test", "ldx", "mem", "range", "reta", "load", "load"]))
        size = draw(st.sampled_from([B, H, W]))
        if kind == "ldx":
            body.append(draw(st.sampled_from([(LDX | B | MSH, None, None, draw(st.integers(0, 4))),
                                              (LDX | W, None, None, draw(st.integers(0, 6)))])))
        elif kind == "mem":
            body += [(0x02, None, None, 1), (LD | W | 0x60, None, None, 1)]  # st M[1]; ld M[1]
        elif kind == "reta":
            body.append((RETA, None, None, 0))
        elif kind == "load":  # a load nothing tests: it still rejects a frame too short for it
            body.append((LD | size | ABS, None, None, draw(st.integers(0, 16))))
        else:
            mode = draw(st.sampled_from([ABS, ABS, IND]))
            body.append((LD | size | mode, None, None, draw(st.integers(0, 10))))
            if draw(st.booleans()):
                op = draw(st.sampled_from([0x50, 0x70]))  # and, rsh
                body.append((ALU | op | K, None, None, draw(st.integers(1, 7)) if op == 0x70 else
                             draw(st.sampled_from([0x0F, 0xF0, 0x01, 0xFF00]))))
            op = 0x20 if kind == "range" else draw(st.sampled_from([JEQ, JEQ, 0x40]))  # jgt; jeq, jset
            jt, jf = draw(st.sampled_from([("next", "rej"), ("next", "rej"), ("rej", "next"),
                                            ("acc", "next"), ("next", "acc")]))
            body.append((JMP | op | K, jt, jf, draw(st.sampled_from([0, 1, 2, 3, 0x45, 0x0F, 0x80, 0x0102]))))
    acc, rej = len(body), len(body) + 1
    prog = []
    for pc, (code, jt, jf, k) in enumerate(body):
        def rel(label: object, pc: int = pc) -> int:
            return {"next": pc + 1, "acc": acc, "rej": rej}[label] - (pc + 1)  # type: ignore[index]
        prog.append((code, 0, 0, k) if jt is None else (code, rel(jt), rel(jf), k))
    return [*prog, (RET | K, 0, 0, 1), (RET | K, 0, 0, 0)]


#: the bytes the programs compare with: frames made of them meet the programs' tests often
_POOL = [0, 1, 2, 3, 0x45, 0x0F, 0x80, 0xF0, 0x01, 0x02, 0x40]
_frames = st.lists(st.lists(st.sampled_from(_POOL), max_size=20).map(bytes), min_size=1, max_size=20)


@settings(max_examples=200, deadline=None)
@given(programs(), _frames, st.randoms(use_true_random=False))
def test_does_a_translated_random_program_accept_exactly_what_it_accepts(prog, packets, rnd):
    ours = Program(prog)
    try:
        filters = translate(prog)
    except FilterError:
        return  # refused (readably, tested above); nothing to compare
    d = DPF()
    install(d, "me", filters)
    for f in filters:  # frames each filter takes, of several lengths, and their neighbours
        for size in (6, 12, 20):
            q = satisfy(list(f), rnd, start=bytes(rnd.choice(_POOL) for _ in range(size)))
            i = rnd.randrange(size)
            packets += [q, q[:-1], q[:i] + bytes([rnd.choice(_POOL)]) + q[i + 1:]]
    for p in packets:
        assert (d.demux(p)[0] is not None) == bool(ours.run(p)[0]), (prog, p.hex(), filters)
