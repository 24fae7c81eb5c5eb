"""Frames and filters for the demultiplexer tests: built with dpkt, drawn by hypothesis.

A filter is described once (``Spec``: the IP protocol, and optionally source
and destination host and port) and rendered twice: as DPF atoms
(``Spec.atoms()``) and as a tcpdump expression (``Spec.expr()``) that libpcap
compiles to cBPF. The two are meant to accept the same frames (the
expression starts with ``ip``, so libpcap does not add an IPv6 branch, and a
port test implies "not a later fragment", as libpcap's does).

Frames are real Ethernet/IPv4/UDP or TCP frames (with IP options, fragments,
truncation), ARP and IPv6 frames, and random bytes, drawn from small pools of
hosts and ports so that filters and frames meet often.

``matches(tests, frame)`` is the plain definition of a DPF filter (atoms.py),
the reference the engines are checked against; ``satisfy(tests, rnd)`` edits
random bytes into a frame a filter takes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import dpkt
from hypothesis import strategies as st

from exospin.net import Atom, Shift, Test

HOSTS = ("10.0.0.1", "10.0.0.2", "10.0.0.3", "192.168.1.7")
PORTS = (7, 53, 7000, 7001, 7002, 65535)
PROTOS = {"udp": 17, "tcp": 6}


def ip4(text: str) -> bytes:
    return bytes(int(x) for x in text.split("."))


@dataclass(frozen=True)
class Spec:
    """A connection-style filter: protocol and optional hosts and ports."""

    proto: str
    src_host: str | None = None
    dst_host: str | None = None
    src_port: int | None = None
    dst_port: int | None = None

    def atoms(self) -> list[Test]:
        out: list[Test] = [Atom(12, 2, 0xFFFF, 0x0800), Atom(23, 1, 0xFF, PROTOS[self.proto])]
        if self.src_host is not None:
            out.append(Atom(26, 4, 0xFFFFFFFF, int.from_bytes(ip4(self.src_host), "big")))
        if self.dst_host is not None:
            out.append(Atom(30, 4, 0xFFFFFFFF, int.from_bytes(ip4(self.dst_host), "big")))
        if self.src_port is not None or self.dst_port is not None:
            out += [Atom(20, 2, 0x1FFF, 0), Shift(14, 1, 0x0F, 2)]
            if self.src_port is not None:
                out.append(Atom(14, 2, 0xFFFF, self.src_port))
            if self.dst_port is not None:
                out.append(Atom(16, 2, 0xFFFF, self.dst_port))
        return out

    def expr(self) -> str:
        terms = ["ip", self.proto]
        if self.src_host is not None:
            terms.append(f"ip src host {self.src_host}")
        if self.dst_host is not None:
            terms.append(f"ip dst host {self.dst_host}")
        if self.src_port is not None:
            terms.append(f"{self.proto} src port {self.src_port}")
        if self.dst_port is not None:
            terms.append(f"{self.proto} dst port {self.dst_port}")
        return " and ".join(terms)


specs = st.builds(
    Spec, st.sampled_from(sorted(PROTOS)), st.none() | st.sampled_from(HOSTS),
    st.none() | st.sampled_from(HOSTS), st.none() | st.sampled_from(PORTS),
    st.none() | st.sampled_from(PORTS))


def udp_frame(src: str, dst: str, sport: int, dport: int, payload: bytes = b"x" * 16,
              proto: str = "udp", opts: bytes = b"", off: int = 0) -> bytes:
    """An Ethernet/IPv4 frame carrying UDP or TCP; ``opts`` IP options (a multiple of 4
    bytes), ``off`` the IP fragment field (flags and offset)."""
    seg: dpkt.Packet
    if proto == "udp":
        seg = dpkt.udp.UDP(sport=sport, dport=dport, data=payload)
    else:
        seg = dpkt.tcp.TCP(sport=sport, dport=dport, data=payload)
    ip = dpkt.ip.IP(src=ip4(src), dst=ip4(dst), p=PROTOS[proto], opts=opts, data=seg)
    ip.df, ip.mf, ip.offset = bool(off & 0x4000), bool(off & 0x2000), off & 0x1FFF
    ip.hl = 5 + len(opts) // 4  # dpkt leaves hl at 5 when options are given
    return bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, type=0x0800, data=ip))


@st.composite
def ip_frames(draw: st.DrawFn) -> bytes:
    frame = udp_frame(draw(st.sampled_from(HOSTS)), draw(st.sampled_from(HOSTS)),
                      draw(st.sampled_from(PORTS)), draw(st.sampled_from(PORTS)),
                      draw(st.binary(max_size=24)), draw(st.sampled_from(sorted(PROTOS))),
                      draw(st.sampled_from((b"", b"\x01" * 4, b"\x01" * 12))),
                      draw(st.sampled_from((0, 0, 0, 0x2000, 0x0001, 0x4000))))
    if draw(st.integers(0, 4)) == 0:  # truncated: anywhere, past the headers included
        frame = frame[: draw(st.integers(0, len(frame)))]
    return frame


def other_frame(kind: int) -> bytes:
    if kind == 0:
        arp = dpkt.arp.ARP(spa=ip4(HOSTS[0]), tpa=ip4(HOSTS[1]))
        return bytes(dpkt.ethernet.Ethernet(type=0x0806, data=arp))
    udp = dpkt.udp.UDP(sport=53, dport=53, data=b"v6")
    ip6 = dpkt.ip6.IP6(nxt=17, hlim=64, src=b"\x00" * 15 + b"\x01", dst=b"\x00" * 15 + b"\x02", data=udp)
    ip6.plen = len(udp)
    return bytes(dpkt.ethernet.Ethernet(type=0x86DD, data=ip6))


frames = st.one_of(
    ip_frames(), ip_frames(), ip_frames(),
    st.integers(0, 1).map(other_frame),
    st.binary(max_size=80),
)


def matches(tests: tuple[Test, ...] | list[Test], p: bytes) -> bool:
    """The reference semantics of a DPF filter, written plainly (atoms.py's definition)."""
    base = 0
    for t in tests:
        o = base + t.offset
        if o + t.length > len(p):
            return False
        x = int.from_bytes(p[o:o + t.length], "big")
        if type(t) is Atom:
            if x & t.mask != t.value:
                return False
        else:
            base += (x & t.mask) << t.shift
    return True


def satisfy(tests: list[Test], rnd: random.Random, size: int = 10, start: bytes | None = None) -> bytes:
    """A packet of ``size`` random bytes (or ``start``) edited so that it satisfies
    ``tests``, as far as it can."""
    p = bytearray(rnd.randrange(256) for _ in range(size)) if start is None else bytearray(start)
    base = 0
    for t in tests:
        o = base + t.offset
        if o + t.length > size:
            break
        if type(t) is Atom:
            x = int.from_bytes(p[o:o + t.length], "big") & ~t.mask | t.value
            p[o:o + t.length] = x.to_bytes(t.length, "big")
        else:
            base += (int.from_bytes(p[o:o + t.length], "big") & t.mask) << t.shift
    return bytes(p)
