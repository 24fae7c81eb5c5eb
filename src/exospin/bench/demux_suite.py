"""The demultiplexer suite: DPF against the interpreted demux and cBPF (DPF paper, section 5).

Each row classifies one received frame against N installed connection
filters, the experiment of Engler & Kaashoek's DPF paper (SIGCOMM 1996): the
time to find the endpoint of a packet as the number of filters grows.
Definitions (per frame):

=====================  ============================================================
demux_dpf_n{N}         DPF (net/dpf.py): the N filters merged into one trie,
                       compiled; the port field one hash lookup
demux_interp_n{N}      the interpreted demux (net/interp.py): the same N filters
                       tried in turn, MPF/CSPF style
demux_bpf_n{N}         classic BPF (net/cbpf.py): N programs compiled by libpcap,
                       interpreted in turn until one accepts
=====================  ============================================================

The filters. Endpoint i is ``ip and udp and ip dst host 10.0.0.2 and udp dst
port 7000+i``, one owner each: libpcap compiles it to the cBPF program the
bpf rows run, and net/translate.py turns that program into the DPF filter the
dpf and interp rows install (so all three take the same frames). The frames
are real Ethernet/IPv4/UDP frames built with dpkt, one to each of ``SAMPLE``
(20) endpoints spread evenly over the N (every endpoint when N <= 20),
classified in turn, whatever the number of iterations: the interpreted
engines try about (N + 1) / 2 filters on average. Before timing, every frame is classified once and must reach its own
endpoint (BenchmarkError otherwise).

Two clocks. ``sim_cycles`` is the work each engine counts (memory
references, instructions, hash probes; net/atoms.py) priced by the profile's
primitives (``DemuxCosts``: mem_ref, insn, proc_call), the same frames in the
same order, so it is exact; the loop adds the precomputed cycles of the
frames it classified, one addition per loop, not per frame. ``wall_ns`` is
our Python per frame.

Targets (a measured ratio of two rows, wall-clock, as the other suites):
``demux_dpf_n10`` at most 0.1 x ``demux_interp_n10`` (the DPF paper reports
DPF an order of magnitude faster than MPF and PATHFINDER for classifying
TCP/IP headers among ten filters, section 5; issue 16: "DPF at 10 filters >=
10x faster than the interpreted demux"), and ``demux_dpf_n1000`` at most 1.5 x
``demux_dpf_n10`` (issue 16: demultiplexing with 1,000 filters costs about
what it costs with 10). The same ratios in simulated cycles are checked by
tests/bench/test_demux_suite.py (exact, so a test, not a target).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable
from typing import Any

import dpkt

from ..machine import get_profile
from ..net import DPF, DemuxCosts, Test
from ..net.cbpf import BPFDemux, Program, tcpdump
from ..net.interp import Interpreted
from ..net.translate import install, translate
from . import harness
from .harness import BenchmarkError, Result, Timer, measure_together

SYSTEM = "aegis"
#: filters installed per row
FILTERS = (1, 10, 100, 1000)
ENGINES = ("dpf", "interp", "bpf")
#: Rows compared by a target: row -> (the row it is compared with, at most this many times
#: its wall-clock time). Sources in the module docstring.
TARGETS: dict[str, tuple[str, float]] = {
    "demux_dpf_n10": ("demux_interp_n10", 0.1),
    "demux_dpf_n1000": ("demux_dpf_n10", 1.5),
}
HOST, CLIENT, PORT0 = "10.0.0.2", "10.0.0.1", 7000
#: frames each DPF row classifies per repeat (and interp_n10, measured with them); the
#: interpreted rows classify fewer as N grows. Kept small: a DPF repeat of 5,000 frames is
#: a few milliseconds, short enough that the best of five is rarely one the host's
#: scheduler cut into (a longer loop on a shared machine almost always is)
FRAMES, QUICK_FRAMES = 5_000, 2_000
#: endpoints the frames of a row go to, spread evenly over the N (all of them if N is fewer)
SAMPLE = 20
#: repeats of each timed loop, best taken: two more than the harness' three, as a DPF row's
#: loop is a few milliseconds and one descheduling would spoil a whole repeat
REPEATS = harness.REPEATS + 2


def expression(i: int) -> str:
    """The tcpdump expression of endpoint i."""
    return f"ip and udp and ip dst host {HOST} and udp dst port {PORT0 + i}"


def frame(i: int) -> bytes:
    """A 16-byte UDP datagram from the client to endpoint i, as an Ethernet frame."""
    udp = dpkt.udp.UDP(sport=5000, dport=PORT0 + i, data=bytes(16))
    ip = dpkt.ip.IP(src=bytes(map(int, CLIENT.split("."))), dst=bytes(map(int, HOST.split("."))), p=17, data=udp)
    return bytes(dpkt.ethernet.Ethernet(src=b"\x08\x00\x2b\x00\x00\x01", dst=b"\x08\x00\x2b\x00\x00\x02",
                                        type=0x0800, data=ip))


class _Clock:
    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now = 0


@functools.cache
def _program(i: int) -> Program:
    """Endpoint i's cBPF program, compiled by libpcap and checked (once per process: the
    programs and their translations do not depend on the profile)."""
    return Program(tcpdump(expression(i)))


@functools.cache
def _filters(i: int) -> tuple[tuple[Test, ...], ...]:
    """Endpoint i's program translated into DPF filters (net/translate.py)."""
    return translate(_program(i).insns)


def _engine(kind: str, n: int) -> Any:
    """An engine with endpoints 0..n-1 installed (owner i: endpoint i)."""
    if kind == "bpf":
        b = BPFDemux()
        for i in range(n):
            b.insert(i, _program(i))
        return b
    e: DPF | Interpreted = DPF() if kind == "dpf" else Interpreted()
    for i in range(n):
        install(e, i, _filters(i))
    return e


class _Row:
    """One row set up: its engine, frames, the cycles of each prefix of them, its loop."""

    def __init__(self, kind: str, filters: int, profile: str, n: int) -> None:
        self.name = f"demux_{kind}_n{filters}"
        self.prof = get_profile(profile)
        self.n = n
        costs = DemuxCosts.from_profile(self.prof)
        engine = _engine(kind, filters)
        # the frames go to SAMPLE endpoints spread evenly (every endpoint when N <= SAMPLE), in
        # turn: the same frames whatever n, so --quick gives the same simulated cycles
        m = min(filters, SAMPLE)
        if n % m:
            raise ValueError(f"{self.name}: {n} frames is not a multiple of the {m} endpoints sampled")
        ends = [(2 * (j % m) + 1) * filters // (2 * m) for j in range(n)]
        frames = {e: frame(e) for e in set(ends)}
        seq = [frames[e] for e in ends]
        demux = engine.demux
        cum = [0]
        for e, p in zip(ends, seq, strict=True):  # classify each once: the right endpoint, its cost
            got, work = demux(p)
            owner: Hashable = None if got is None else got.owner
            if owner != e:
                raise BenchmarkError(f"{self.name}: frame for endpoint {e} went to {owner!r}")
            cum.append(cum[-1] + costs.cycles(work))
        #: simulated cycles of the first k frames, k = 0..n (exact: the engines are deterministic)
        self.cum = cum
        clock = _Clock()

        def loop(k: int) -> None:
            for p in seq[:k]:
                demux(p)
            clock.now += cum[k]

        self.loop = loop
        self.timer = Timer(lambda: clock.now, repeats=REPEATS)
        self.timer.warm_up(loop, n)

    def result(self, measured: tuple[float, float, float]) -> Result:
        cycles, wall, call = measured
        return Result(self.name, SYSTEM, cycles, self.prof.us(cycles), wall, self.n * self.timer.repeats, call,
                      py_cycles=self.timer.py_cycles(self.prof))


def _measure(*rows: _Row) -> list[Result]:
    """Rows measured round by round (harness.measure_together), so rows a target compares
    see the machine in the same state; they share ``n``."""
    measured = measure_together([(r.timer, r.loop) for r in rows], rows[0].n)
    return [r.result(m) for r, m in zip(rows, measured, strict=True)]


def run(profile: str, quick: bool = False, progress: Callable[[str], None] | None = None) -> list[Result]:
    base = QUICK_FRAMES if quick else FRAMES

    def note(name: str) -> None:
        if progress is not None:
            progress(name)

    out: dict[str, Result] = {}
    # the rows the targets compare, measured together: every DPF row and interp at 10
    note("demux_dpf_n*")
    together = [_Row("dpf", f, profile, base) for f in FILTERS] + [_Row("interp", 10, profile, base)]
    for r in _measure(*together):
        out[r.benchmark] = r
    for kind in ("interp", "bpf"):
        for f in FILTERS:
            name = f"demux_{kind}_n{f}"
            if name in out:
                continue
            note(name)
            # the interpreted engines' time grows with N: fewer frames (spread over the endpoints)
            per = base * (10 if kind == "interp" else 5) // max(f, 10)
            m = min(f, SAMPLE)
            [out[name]] = _measure(_Row(kind, f, profile, max(m, per // m * m)))
    return [out[f"demux_{kind}_n{f}"] for kind in ENGINES for f in FILTERS]
