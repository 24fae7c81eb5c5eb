"""Frames with real bytes: Ethernet, ARP, IPv4 and UDP, built and parsed with dpkt.

What this models
    The packet formats every stack in exospin speaks on the simulated wire
    (machine/link.py carries Ethernet frames on both of its links): Ethernet
    II (RFC 894), ARP (RFC 826), IPv4 (RFC 791) with its header checksum, UDP
    (RFC 768) with its checksum over the pseudo-header. The bytes are what
    tcpdump and Wireshark read from a capture (net/pcap.py).

Why it is built this way
    dpkt, a maintained packet library, builds and decodes the headers (and
    computes the checksums when it builds), so no kernel in exospin packs
    headers by hand. Parsing checks what dpkt does not: that the frame is
    long enough for every header it claims, that the IP total length fits
    the frame (an Ethernet frame may carry padding after it), and both
    checksums. A malformed frame raises :class:`FrameError` saying what is
    wrong; nothing is guessed.

    These helpers are the simulator's (the tests', the benchmarks', a
    kernel's stack): a kernel that builds frames is charged for doing so by
    its own code, not here.

Interface
    ``mac(text)``, ``ipv4(text)``; ``udp_frame(...) -> bytes``;
    ``arp_frame(...) -> bytes``; ``parse(frame, verify=True) -> Parsed``
    (``.ip``, ``.udp``, ``.arp``: None when the frame has none);
    :class:`FrameError`.
"""

from __future__ import annotations

from dataclasses import dataclass

import dpkt

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
IPPROTO_UDP = 17
ARP_REQUEST = 1
ARP_REPLY = 2
ETH_HEADER = 14
IP_HEADER = 20
UDP_HEADER = 8
BROADCAST = b"\xff" * 6


class FrameError(ValueError):
    """A frame (or a request to build one) that is malformed: the message says how."""


@dataclass(frozen=True, slots=True)
class IPv4Header:
    src: bytes
    dst: bytes
    proto: int
    ttl: int
    ident: int
    length: int  # total length, header included
    checksum_ok: bool


@dataclass(frozen=True, slots=True)
class UDPDatagram:
    sport: int
    dport: int
    payload: bytes
    checksum_ok: bool  # True also when the sender sent no checksum (0), as RFC 768 allows


@dataclass(frozen=True, slots=True)
class ARPPacket:
    op: int
    sha: bytes
    spa: bytes
    tha: bytes
    tpa: bytes


@dataclass(frozen=True, slots=True)
class Parsed:
    dst: bytes
    src: bytes
    ethertype: int
    ip: IPv4Header | None = None
    udp: UDPDatagram | None = None
    arp: ARPPacket | None = None


def mac(text: str) -> bytes:
    """``"08:00:2b:00:00:01"`` -> 6 bytes."""
    parts = text.split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise FrameError(f"not a MAC address: {text!r}")
    try:
        return bytes(int(p, 16) for p in parts)
    except ValueError:
        raise FrameError(f"not a MAC address: {text!r}") from None


def ipv4(text: str) -> bytes:
    """``"10.0.0.1"`` -> 4 bytes."""
    parts = text.split(".") if isinstance(text, str) else []
    if len(parts) != 4 or not all(p.isdigit() and int(p) <= 255 for p in parts):
        raise FrameError(f"not an IPv4 address: {text!r}")
    return bytes(int(p) for p in parts)


#: The subnet ``systems.network`` numbers its machines in: machine i is 10.0.0.(i+1).
SUBNET = "10.0.0."


def host_ip(index: int) -> str:
    """The IPv4 address ``systems.network`` gives machine ``index`` (0-based)."""
    if type(index) is not int or not 0 <= index < 254:
        raise FrameError(f"no host address for machine {index!r} (0 to 253)")
    return f"{SUBNET}{index + 1}"


def _check(name: str, value: bytes, n: int) -> None:
    if type(value) is not bytes or len(value) != n:
        raise FrameError(f"{name} must be {n} bytes, not {value!r}")


def udp_frame(
    src_mac: bytes, dst_mac: bytes, src_ip: bytes, dst_ip: bytes, sport: int, dport: int,
    payload: bytes, ident: int = 0, ttl: int = 64,
) -> bytes:
    """An Ethernet frame carrying one UDP datagram, both checksums computed."""
    for name, v, n in (("src_mac", src_mac, 6), ("dst_mac", dst_mac, 6), ("src_ip", src_ip, 4), ("dst_ip", dst_ip, 4)):
        _check(name, v, n)
    for name, port in (("sport", sport), ("dport", dport)):
        if type(port) is not int or not 0 <= port <= 0xFFFF:
            raise FrameError(f"{name} must be a port from 0 to 65535, not {port!r}")
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise FrameError(f"payload must be bytes, not {type(payload).__name__}")
    payload = bytes(payload)
    if IP_HEADER + UDP_HEADER + len(payload) > 0xFFFF:
        raise FrameError(f"a UDP payload of {len(payload)} bytes does not fit in one IPv4 datagram")
    udp = dpkt.udp.UDP(sport=sport, dport=dport, data=payload)
    udp.ulen = UDP_HEADER + len(payload)
    ip = dpkt.ip.IP(src=src_ip, dst=dst_ip, p=IPPROTO_UDP, ttl=ttl, id=ident & 0xFFFF, data=udp)
    ip.len = IP_HEADER + udp.ulen
    eth = dpkt.ethernet.Ethernet(src=src_mac, dst=dst_mac, type=ETH_P_IP, data=ip)
    return bytes(eth)  # dpkt fills in the IP and UDP checksums (they are 0 until now)


def arp_frame(op: int, src_mac: bytes, src_ip: bytes, dst_ip: bytes, dst_mac: bytes | None = None) -> bytes:
    """An ARP request (``op`` 1: to the broadcast address, target MAC unknown) or reply
    (``op`` 2: to ``dst_mac``)."""
    if op not in (ARP_REQUEST, ARP_REPLY):
        raise FrameError(f"ARP op must be 1 (request) or 2 (reply), not {op!r}")
    _check("src_mac", src_mac, 6)
    _check("src_ip", src_ip, 4)
    _check("dst_ip", dst_ip, 4)
    if op == ARP_REPLY:
        if dst_mac is None:
            raise FrameError("an ARP reply needs dst_mac")
        _check("dst_mac", dst_mac, 6)
    arp = dpkt.arp.ARP(op=op, sha=src_mac, spa=src_ip, tha=dst_mac if op == ARP_REPLY else bytes(6), tpa=dst_ip)
    eth = dpkt.ethernet.Ethernet(src=src_mac, dst=dst_mac if op == ARP_REPLY else BROADCAST, type=ETH_P_ARP, data=arp)
    return bytes(eth)


def _ones_sum_ok(data: bytes) -> bool:
    return dpkt.in_cksum(data) == 0


def parse(frame: bytes | bytearray | memoryview, verify: bool = True) -> Parsed:
    """Decode ``frame``; with ``verify``, a bad IP or UDP checksum is a FrameError too."""
    frame = bytes(frame)
    if len(frame) < ETH_HEADER:
        raise FrameError(f"truncated frame: {len(frame)} bytes, an Ethernet header has {ETH_HEADER}")
    dst, src = frame[0:6], frame[6:12]
    etype = int.from_bytes(frame[12:14], "big")
    body = frame[ETH_HEADER:]
    if etype == ETH_P_ARP:
        if len(body) < 28:
            raise FrameError(f"truncated ARP packet: {len(body)} bytes, 28 needed")
        try:
            a = dpkt.arp.ARP(body)
        except (dpkt.UnpackError, dpkt.NeedData) as e:
            raise FrameError(f"malformed ARP packet: {e}") from None
        if a.hrd != 1 or a.pro != ETH_P_IP or a.hln != 6 or a.pln != 4:
            raise FrameError(f"ARP for hardware {a.hrd}, protocol {a.pro:#06x}: only Ethernet/IPv4 is spoken")
        return Parsed(dst, src, etype, arp=ARPPacket(a.op, a.sha, a.spa, a.tha, a.tpa))
    if etype != ETH_P_IP:
        return Parsed(dst, src, etype)
    if len(body) < IP_HEADER:
        raise FrameError(f"truncated IPv4 header: {len(body)} bytes, at least {IP_HEADER} needed")
    vhl = body[0]
    if vhl >> 4 != 4:
        raise FrameError(f"not IPv4: version {vhl >> 4}")
    hl = (vhl & 0xF) * 4
    total = int.from_bytes(body[2:4], "big")
    if hl < IP_HEADER or hl > total:
        raise FrameError(f"bad IPv4 header length {hl} (total length {total})")
    if total > len(body):
        raise FrameError(f"truncated IPv4 datagram: total length {total}, {len(body)} bytes in the frame")
    ip_ok = _ones_sum_ok(body[:hl])
    if verify and not ip_ok:
        raise FrameError("bad IPv4 header checksum")
    try:
        ip = dpkt.ip.IP(body[:total])
    except (dpkt.UnpackError, dpkt.NeedData) as e:
        raise FrameError(f"malformed IPv4 datagram: {e}") from None
    hdr = IPv4Header(ip.src, ip.dst, ip.p, ip.ttl, ip.id, total, ip_ok)
    if ip.p != IPPROTO_UDP or int.from_bytes(body[6:8], "big") & 0x3FFF:  # not UDP, or a fragment
        return Parsed(dst, src, etype, ip=hdr)
    seg = body[hl:total]
    if len(seg) < UDP_HEADER:
        raise FrameError(f"truncated UDP header: {len(seg)} bytes, {UDP_HEADER} needed")
    ulen = int.from_bytes(seg[4:6], "big")
    if ulen < UDP_HEADER or ulen > len(seg):
        raise FrameError(f"bad UDP length {ulen} ({len(seg)} bytes after the IP header)")
    seg = seg[:ulen]
    csum = int.from_bytes(seg[6:8], "big")
    if csum == 0:
        udp_ok = True  # no checksum sent
    else:
        pseudo = ip.src + ip.dst + bytes([0, IPPROTO_UDP]) + ulen.to_bytes(2, "big")
        udp_ok = _ones_sum_ok(pseudo + seg)
    if verify and not udp_ok:
        raise FrameError("bad UDP checksum")
    udp = UDPDatagram(int.from_bytes(seg[0:2], "big"), int.from_bytes(seg[2:4], "big"), seg[UDP_HEADER:], udp_ok)
    return Parsed(dst, src, etype, ip=hdr, udp=udp)
