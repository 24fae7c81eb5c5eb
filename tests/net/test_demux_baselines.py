"""The baselines: the interpreted demux (net/interp.py) and classic BPF (net/cbpf.py)."""

from __future__ import annotations

import pytest
from demux_cases import Spec, udp_frame

from exospin.net import FilterError, Overlap, unpack
from exospin.net.cbpf import (
    ADD,
    ALU,
    DIV,
    JEQ,
    JGT,
    JMP,
    LD,
    LDX,
    MEM,
    RET,
    ST,
    TAX,
    BPFDemux,
    BPFError,
    Insn,
    Program,
    check,
    tcpdump,
)
from exospin.net.interp import ACCEPT_COST, ATOM_COST, FILTER_COST, SHIFT_COST, Interpreted

B, H, W, ABS, IMM, IND, LEN, MSH, K, X = 0x10, 0x08, 0x00, 0x20, 0x00, 0x40, 0x80, 0xA0, 0x00, 0x08


def conn(port: int) -> list:
    return Spec("udp", dst_host="10.0.0.2", dst_port=port).atoms()


def frame(port: int) -> bytes:
    return udp_frame("10.0.0.1", "10.0.0.2", 1234, port)


# ------------------------------------------------------------------ interpreted


def test_does_the_interpreter_try_each_filter_in_turn_and_count_it():
    m = Interpreted()
    fs = [m.insert(i, conn(7000 + i)) for i in range(5)]
    f, w = m.demux(frame(7003))
    assert f is fs[3]
    # three filters fail at the port (their last test), the fourth accepts
    per_filter = FILTER_COST + 5 * ATOM_COST + SHIFT_COST
    assert w == 4 * per_filter + ACCEPT_COST
    assert m.demux(frame(7004))[1] > w  # one more filter tried
    assert m.demux(b"\x00" * 60) == (None, 5 * (FILTER_COST + ATOM_COST))  # each fails at once
    assert unpack(ATOM_COST) == (5, 6, 0)


def test_does_the_interpreter_apply_dpfs_overlap_rule_and_forget_deleted_filters():
    m = Interpreted()
    a = m.insert("a", conn(53))
    with pytest.raises(Overlap):
        m.insert("b", Spec("udp", dst_port=53).atoms())
    with pytest.raises(FilterError, match="at least one atom"):
        m.insert("b", [])
    m.delete(a)
    b = m.insert("b", Spec("udp", dst_port=53).atoms())  # no longer overlaps anyone
    assert m.demux(frame(53))[0] is b
    with pytest.raises(FilterError, match="not installed"):
        m.delete(a)
    s = m.statistics()
    assert (s.filters, s.inserts, s.deletes, s.refusals) == (1, 2, 1, 2)


def test_does_a_shift_past_the_end_reject():
    m = Interpreted()
    m.insert("a", conn(53))
    assert m.demux(frame(53)[:14])[0] is None and m.demux(frame(53)[:37])[0] is None


# ------------------------------------------------------------------ cBPF


@pytest.mark.parametrize("prog, message", [
    ([], "1..4096 instructions, not 0"),
    ([(RET | K, 0, 0, 0)] * 4097, "not 4097"),
    ([(0xFFFF, 0, 0, 0), (RET | K, 0, 0, 0)], "unknown opcode 0xffff"),
    ([(LD | H | LEN, 0, 0, 0), (RET | K, 0, 0, 0)], "unknown opcode"),  # len is a word load
    ([(JMP | JEQ | K, 1, 0, 0), (RET | K, 0, 0, 0)], "jump to 2 is past the end (2 instructions)"),
    ([(JMP, 0, 0, 5), (RET | K, 0, 0, 0)], "jump to 6 is past the end"),
    ([(ST, 0, 0, 16), (RET | K, 0, 0, 0)], "scratch word 16 does not exist"),
    ([(ALU | DIV | K, 0, 0, 0), (RET | K, 0, 0, 0)], "division by the constant 0"),
    ([(ALU | 0x60 | K, 0, 0, 32), (RET | K, 0, 0, 0)], "shift by 32"),
    ([(LD | W | IMM, 0, 0, 1)], "the last instruction (0) must be a ret"),
    ([(RET | K, 256, 0, 0)], "out of range"),
    ([(RET | K, 0, 0, 1.5)], "fields must be ints"),
])
def test_is_each_unsafe_program_refused_with_a_reason(prog, message):
    with pytest.raises(BPFError) as e:
        check(prog)
    assert message in str(e.value)


def run(prog: list[tuple[int, int, int, int]], p: bytes = b"") -> int:
    return Program(prog).run(p)[0]


def test_does_the_interpreter_compute_as_the_machine_does():
    # A = 7; M[3] = A; X = A; A = A + X (14); A = A / 2 (7); jgt 6 -> ret a
    prog = [(LD | W | IMM, 0, 0, 7), (ST, 0, 0, 3), (0x07 | TAX, 0, 0, 0), (ALU | ADD | X, 0, 0, 0),
            (ALU | DIV | K, 0, 0, 2), (JMP | JGT | K, 0, 1, 6), (RET | 0x10, 0, 0, 0), (RET | K, 0, 0, 0)]
    assert run(prog) == 7
    # M[3] read back, then a packet word, then 32-bit wrap-around
    assert run([(LD | W | IMM, 0, 0, 9), (ST, 0, 0, 3), (LD | W | MEM, 0, 0, 3), (RET | 0x10, 0, 0, 0)]) == 9
    assert run([(LD | W | ABS, 0, 0, 0), (RET | 0x10, 0, 0, 0)], b"\x01\x02\x03\x04") == 0x01020304
    assert run([(LD | W | IMM, 0, 0, 0xFFFFFFFF), (ALU | ADD | K, 0, 0, 2), (RET | 0x10, 0, 0, 0)]) == 1
    # ldx msh and an indirect load: 4 * (p[0] & 0xf) = 4, then p[4 + 1]
    assert run([(LDX | B | MSH, 0, 0, 0), (LD | B | IND, 0, 0, 1), (RET | 0x10, 0, 0, 0)],
               b"\x01\x00\x00\x00\x00\x2a") == 0x2A
    assert run([(LD | W | LEN, 0, 0, 0), (RET | 0x10, 0, 0, 0)], b"abc") == 3


def test_do_a_load_past_the_end_and_a_division_by_x_zero_reject():
    assert run([(LD | H | ABS, 0, 0, 2), (RET | K, 0, 0, 1)], b"abc") == 0
    assert run([(LD | H | ABS, 0, 0, 1), (RET | K, 0, 0, 1)], b"abc") == 1
    assert run([(LDX | W | IMM, 0, 0, 2), (LD | B | IND, 0, 0, 1), (RET | K, 0, 0, 1)], b"abc") == 0
    assert run([(LD | W | IMM, 0, 0, 5), (ALU | DIV | X, 0, 0, 0), (RET | K, 0, 0, 1)]) == 0


def test_does_each_instruction_executed_count_its_work():
    prog = Program(tcpdump("udp dst port 53"))
    r, w = prog.run(frame(53))
    mem, insns, _ = unpack(w)
    assert r == 65535 and mem > 0 and insns > 0
    assert prog.run(frame(54))[1] == w  # the same path up to the last compare
    assert prog.run(b"")[1] < w  # ends at the first load


def test_is_a_bad_tcpdump_expression_a_readable_error():
    with pytest.raises(BPFError, match="tcpdump expression 'udp dst prot 53'"):
        tcpdump("udp dst prot 53")


def test_does_bpfdemux_run_each_program_until_one_accepts():
    b = BPFDemux()
    progs = [b.insert(i, tcpdump(f"udp dst port {7000 + i}")) for i in range(4)]
    e, w = b.demux(frame(7002))
    assert e is progs[2] and e.owner == 2
    assert b.demux(frame(7002))[1] > b.demux(frame(7000))[1]
    b.delete(progs[2])
    assert b.demux(frame(7002))[0] is None
    with pytest.raises(BPFError, match="not installed"):
        b.delete(progs[2])
    assert Insn(*tcpdump("ip")[0]) == (LD | H | ABS, 0, 0, 12)
    assert b.statistics().programs == 3


def test_is_a_malformed_instruction_refused_not_crashed_on():
    with pytest.raises(BPFError, match=r"instruction 1 \(\(6, 0\)\) is not a \(code, jt, jf, k\) tuple"):
        check([(RET | K, 0, 0, 0), (6, 0)])
    with pytest.raises(BPFError, match="fields must be ints"):
        Program([(RET | K, 0, 0, "1")])
