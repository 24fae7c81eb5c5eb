"""ExOS' UDP/IP stack and posix sockets, between two Aegis machines (exos/netstack.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from exospin import posix
from exospin.aegis import NetSyscalls
from exospin.apps import udp_exos
from exospin.net import ARPPacket, ipv4, parse, udp_frame
from exospin.systems import Network, network


def shut(net: Network) -> None:
    for s in net.systems:
        assert s.kernel.check_invariants() == []
    held = net.shutdown()
    assert [h for h in held if any(h.values())] == []
    for s in net.systems:
        assert not s.exos.ports and not s.exos.arp_owner and not s.exos.sharers and not s.exos.owner


@pytest.fixture
def net2() -> Iterator[Network]:
    net = network(["aegis", "aegis"])
    yield net
    shut(net)


def run_echo(link: str, count: int, size: int, seed: int = 0) -> tuple[Network, list[Any]]:
    net = network(["aegis", "aegis"], link=link, seed=seed)
    a, b = net.systems
    ps = a.start(udp_exos.server, ["7", str(count)])
    pc = b.start(udp_exos.client, ["10.0.0.1", "7", str(count), str(size)])
    net.run()
    assert (a.exit_status(ps), b.exit_status(pc)) == (0, 0), (a.failures(), b.failures())
    assert net.link.captured is not None
    return net, [(t, parse(f)) for t, f in ((c[0], c[1]) for c in net.link.captured)]


@pytest.mark.parametrize("link", ["ethernet", "atm"])
def test_does_a_posix_udp_echo_cross_two_aegis_machines_exactly(link: str) -> None:
    net, frames = run_echo(link, 3, 16)
    try:
        kinds = [("arp", p.arp.op) if p.arp else ("udp", p.udp.sport, p.udp.dport, p.udp.payload)
                 for _, p in frames if p is not None and (p.arp or p.udp)]
        client_port = 49152  # the first ephemeral port: sendto bound the client's socket
        assert kinds == [("arp", 1), ("arp", 2)] + [
            k for i in range(3) for k in (("udp", client_port, 7, bytes([i]) * 16), ("udp", 7, client_port, bytes([i]) * 16))
        ]
        assert all(p.ip is None or (p.ip.checksum_ok and p.udp is not None and p.udp.checksum_ok) for _, p in frames)
        arp: ARPPacket = frames[0][1].arp  # type: ignore[assignment]
        assert (arp.spa, arp.tpa) == (ipv4("10.0.0.2"), ipv4("10.0.0.1"))
        a, b = (s.kernel.net.statistics() for s in net.systems)
        assert (a.rx_delivered, a.rx_unmatched, b.rx_delivered, b.rx_unmatched) == (4, 0, 4, 0)
        assert net.nics[0].statistics().rx_dropped_full == 0
    finally:
        shut(net)


def test_is_the_echo_deterministic() -> None:
    runs = []
    for _ in range(2):
        net, frames = run_echo("ethernet", 2, 100, seed=3)
        runs.append(([t for t, _ in frames], [s.machine.loop.now for s in net.systems],
                     [bytes(c[1]) for c in net.link.captured or []]))
        shut(net)
    assert runs[0] == runs[1]


def test_are_port_in_use_and_use_after_close_refused_readably(net2: Network) -> None:
    out: list[str] = []

    def first(argv: list[str]) -> int:
        s = posix.socket()
        posix.bind(s, ("0.0.0.0", 7000))
        posix.poll([s], 2_000.0)  # hold the port while the other tries
        posix.close(s)
        return 0

    def second(argv: list[str]) -> int:
        r, w = posix.pipe()
        s = posix.socket()
        assert posix.poll([s], 500.0) == []  # an unbound socket never has a datagram: 0.5 ms for first to bind
        for call in (lambda: posix.bind(s, ("0.0.0.0", 7000)), lambda: posix.bind(s, ("10.0.0.9", 1)),
                     lambda: posix.bind(s, ("nowhere", 1)), lambda: posix.sendto(s, b"x" * 1473, ("10.0.0.2", 9)),
                     lambda: posix.recvfrom(s, 10), lambda: posix.recvfrom(r, 10), lambda: posix.socket(3, 2),
                     lambda: posix.socket(2, 1)):
            try:
                call()
            except posix.PosixError as e:
                out.append(e.errno)
        posix.bind(s, ("10.0.0.1", 7001))
        for call in (lambda: posix.bind(s, ("0.0.0.0", 7002)),):
            try:
                call()
            except posix.PosixError as e:
                out.append(e.errno)
        posix.close(s)
        for call in (lambda: posix.sendto(s, b"x", ("10.0.0.2", 9)), lambda: posix.recvfrom(s, 1),
                     lambda: posix.close(s), lambda: posix.poll([s], 0)):
            try:
                call()
            except posix.PosixError as e:
                out.append(e.errno)
        s2 = posix.socket()
        posix.bind(s2, ("0.0.0.0", 7001))  # free again after close
        assert posix.poll([s2], 0) == []
        return 0

    a = net2.systems[0]
    p1 = a.start(first)
    p2 = a.start(second)
    net2.run()
    assert (a.exit_status(p1), a.exit_status(p2)) == (0, 0), a.failures()
    assert out == ["EADDRINUSE", "EADDRNOTAVAIL", "EINVAL", "EMSGSIZE", "EINVAL", "ENOTSOCK",
                   "EAFNOSUPPORT", "EPROTONOSUPPORT", "EINVAL", "EBADF", "EBADF", "EBADF", "EBADF"]


def test_does_the_kernel_refuse_a_port_a_raw_environment_holds(net2: Network) -> None:
    out: list[str] = []
    a = net2.systems[0]

    def raw(sys: NetSyscalls) -> None:  # not ExOS: it claims the port with a tcpdump filter
        cap = sys.frame_alloc(sys.free_frames(1)[0])
        sys.filter_install(sys.ring_create([cap]), "udp dst port 7000")
        sys.sleep(sys.cpu.cycles() + 200_000)

    def app(argv: list[str]) -> int:
        s = posix.socket()
        try:
            posix.bind(s, ("0.0.0.0", 7000))
        except posix.PosixError as e:
            out.append(f"{e.errno}: {e}")
        return 0

    a.kernel.create_env(raw, "raw")
    a.start(app)
    net2.run()
    assert len(out) == 1 and out[0].startswith("EADDRINUSE: ") and "overlaps filter" in out[0], out


def test_are_malformed_and_bad_checksum_frames_dropped_and_counted(net2: Network) -> None:
    a, b = net2.systems
    got: list[Any] = []
    ia, ib = a.iface, b.iface
    assert ia is not None and ib is not None
    good = udp_frame(ib.mac, ia.mac, ipv4(ib.ip), ipv4(ia.ip), 5000, 7, b"good")
    bad_udp = bytearray(good)
    bad_udp[-1] ^= 0xFF  # payload changed after the checksum
    bad_ip = bytearray(good)
    bad_ip[24] ^= 0x01  # the IP header checksum no longer holds
    truncated = bytearray(good)
    truncated[16:18] = (200).to_bytes(2, "big")  # IP total length past the frame's end (and its checksum)
    short_udp = good[:14 + 20 + 4]  # cut inside the UDP header: the filter still matches (port at 36)
    frames = [bytes(bad_udp), bytes(bad_ip), bytes(truncated), short_udp, good]

    def server(argv: list[str]) -> int:
        s = posix.socket()
        posix.bind(s, ("0.0.0.0", 7))
        got.append(posix.recvfrom(s, 100))
        got.append(posix._p().net.statistics())  # type: ignore[attr-defined]
        posix.close(s)
        return 0

    def attacker(sys: NetSyscalls) -> None:  # raw frames, from its own memory
        cap = sys.frame_alloc(sys.free_frames(1)[0])
        sys.tlb_write(0x10000, cap, True)
        sys.sleep(sys.cpu.cycles() + 300_000)  # the server binds meanwhile
        for f in frames:
            data = f + bytes(-len(f) % 4)
            for j in range(0, len(data), 4):
                sys.cpu.store(0x10000 + j, int.from_bytes(data[j : j + 4], "little"))
            sys.net_send(cap, 0, len(f))
            sys.sleep(sys.cpu.cycles() + 50_000)

    ps = a.start(server)
    b.kernel.create_env(attacker, "attacker")
    net2.run()
    assert a.exit_status(ps) == 0, a.failures()
    assert got[0] == (b"good", (ib.ip, 5000))
    assert got[1].dropped_bad == 4 and got[1].datagrams_received == 1
