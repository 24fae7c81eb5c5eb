"""SPIN's protocol graph on two machines: the driver, Ether/IP/UDP as extensions, the in-kernel echo and forwarder."""

from __future__ import annotations

from typing import Any

import dpkt
import pytest

from exospin import posix
from exospin.machine.link import Link
from exospin.machine.nic import NIC, mac_address
from exospin.net import frames
from exospin.spin import ExtensionFailed, extensions
from exospin.spin import net as spin_net
from exospin.systems import network


def _exports(system: Any, name: str) -> dict[str, Any]:
    d = next(d for d in system.kernel.extensions if d.name == name)
    return dict(next(iter(d.exports.values())))


def _stats(system: Any, name: str) -> dict[str, int]:
    return dict(_exports(system, name)["statistics"]())


def _net(names: list[str], link: str = "ethernet", seed: int = 0, echo: int | None = 1) -> Any:
    net = network(names, link=link, seed=seed)
    for s in net.systems:
        spin_net.attach(s)
    if echo is not None:
        net.systems[echo].kernel.load(extensions.source("udp_echo"), "udp_echo.py")
    return net


def _done(net: Any) -> None:
    held = net.shutdown()
    assert all(not any(h.values()) for h in held), held
    for s in net.systems:
        assert s.kernel.check_invariants() == []


def _echo_client(out: list[Any], payload: bytes, port: int = 7, to: str = "10.0.0.2") -> Any:
    def client(argv: list[str]) -> int:
        s = posix.socket()
        t0 = posix.time_us()
        posix.sendto(s, payload, (to, port))
        out.append(posix.recvfrom(s, 2048))
        out.append(posix.time_us() - t0)
        posix.close(s)
        return 0
    return client


@pytest.mark.parametrize("link", ["ethernet", "atm"])
def test_does_a_posix_client_get_its_datagram_back_from_the_in_kernel_echo(link: str) -> None:
    net = _net(["spin", "spin"], link=link)
    a, b = net.systems
    out: list[Any] = []
    pid = a.start(_echo_client(out, b"0123456789abcdef"))
    net.run()
    assert a.exit_status(pid) == 0 and a.failures() == []
    assert out[0] == (b"0123456789abcdef", ("10.0.0.2", 7))
    assert 0 < out[1] < 5000  # µs: an ARP exchange and one round trip
    assert _stats(b, "udp_echo") == {"echoed": 1}
    assert _stats(b, "udp")["delivered"] == 1 and _stats(a, "udp")["delivered"] == 1
    assert _stats(b, "ether")["arp_replies_sent"] == 1 and _stats(a, "ether")["arp_requests_sent"] == 1
    assert b.kernel.sched.statistics().strands_live == 0  # no process on the echo's machine
    sb = b.net.statistics()
    assert (sb.received, sb.transmitted, sb.unclaimed_udp) == (2, 2, 0)  # ARP request, datagram in; ARP reply, echo out
    ds = b.kernel.dispatcher.statistics()
    assert ds.index_lookups >= 3  # ethertype, protocol, port: each layer's handler found by the index
    _done(net)


def test_does_a_posix_server_answer_a_posix_client_exactly() -> None:
    net = _net(["spin", "spin"], echo=None)
    a, b = net.systems
    got: list[Any] = []

    def server(argv: list[str]) -> int:
        s = posix.socket()
        posix.bind(s, ("0.0.0.0", 9000))
        for _ in range(3):
            data, addr = posix.recvfrom(s, 2048)
            got.append((data, addr))
            posix.sendto(s, data[::-1], addr)
        posix.close(s)
        return 0

    def client(argv: list[str]) -> int:
        s = posix.socket()
        posix.bind(s, ("10.0.0.1", 5555))
        for msg in (b"one", b"two" * 100, b"x" * posix.UDP_MAX_PAYLOAD):
            posix.sendto(s, msg, ("10.0.0.2", 9000))
            got.append(posix.recvfrom(s, 4096))
        posix.close(s)
        return 0

    ps, pc = b.start(server), a.start(client)
    net.run()
    assert (b.exit_status(ps), a.exit_status(pc)) == (0, 0)
    peer = ("10.0.0.1", 5555)
    back = ("10.0.0.2", 9000)
    assert got == [(b"one", peer), (b"eno", back), (b"two" * 100, peer), (b"owt" * 100, back),
                   (b"x" * 1472, peer), (b"x" * 1472, back)]
    _done(net)


def test_does_the_in_kernel_forwarder_relay_between_client_and_server() -> None:
    # one NIC per machine (systems.network builds one link): the forwarder's inside and
    # outside are the same interface
    net = _net(["spin", "spin", "spin"], echo=2)
    a, fwd, c = net.systems
    fwd.kernel.load(extensions.source("udp_forward"), "udp_forward.py")
    iface = fwd.net.ifaces[0]
    _exports(fwd, "udp_forward")["forward"](9000, frames.ipv4("10.0.0.3"), 7, iface, iface)
    out: list[Any] = []
    pid = a.start(_echo_client(out, b"through the kernel", port=9000))
    net.run()
    assert a.exit_status(pid) == 0
    assert out[0] == (b"through the kernel", ("10.0.0.2", 9000))
    assert _stats(fwd, "udp_forward") == {"to_server": 1, "to_client": 1}
    assert _stats(c, "udp_echo") == {"echoed": 1}
    assert fwd.kernel.sched.statistics().strands_live == 0  # no process on the forwarder
    _done(net)


def test_does_the_forwarder_relay_between_two_interfaces_on_two_links() -> None:
    # SPIN's forwarding experiment: the client on segment A, the server on segment B, the
    # forwarder on both (a second NIC on a second link); the server's NIC on A is unused
    net = network(["spin", "spin", "spin"])
    client, fwd, server = net.systems
    link_b = Link("ethernet", net.world, capture=True)
    nic_f = NIC(fwd.machine, link_b, mac=mac_address(11))
    nic_s = NIC(server.machine, link_b, mac=mac_address(12))
    spin_net.attach(client)
    spin_net.attach(fwd, sockets=False, ifaces=[(fwd.iface.nic, "10.0.0.2"), (nic_f, "10.0.1.1")])
    spin_net.attach(server, sockets=False, ifaces=[(nic_s, "10.0.1.2")])
    server.kernel.load(extensions.source("udp_echo"), "udp_echo.py")
    fwd.kernel.load(extensions.source("udp_forward"), "udp_forward.py")
    inside, outside = fwd.net.ifaces
    _exports(fwd, "udp_forward")["forward"](9000, frames.ipv4("10.0.1.2"), 7, inside, outside)
    out: list[Any] = []
    pid = client.start(_echo_client(out, b"across two segments", port=9000))
    net.run()
    assert client.exit_status(pid) == 0
    assert out[0] == (b"across two segments", ("10.0.0.2", 9000))
    assert _stats(fwd, "udp_forward") == {"to_server": 1, "to_client": 1}
    on_a = [frames.parse(f) for _, f in net.link.captured]
    on_b = [frames.parse(f) for _, f in link_b.captured or []]
    assert {p.ip.src[:3] for p in on_a if p.ip} == {bytes([10, 0, 0])}
    assert {p.ip.src[:3] for p in on_b if p.ip} == {bytes([10, 0, 1])}
    assert [p.udp.payload for p in on_b if p.udp] == [b"across two segments"] * 2
    assert server.iface.nic.statistics().rx_frames == 0  # segment A never reached the server's stack
    _done(net)


def test_is_a_port_owned_by_the_domain_that_claimed_it() -> None:
    net = _net(["spin", "spin"])
    a, b = net.systems
    k = b.kernel
    thief = '''
from spin import UDP

def steal(port, packet):
    return None

def install():
    UDP.claim(7, steal)
'''
    with pytest.raises(ExtensionFailed, match="UDP port 7 belongs to 'udp_echo'"):
        k.load(thief, "thief.py")
    sniffer = '''
from spin import Dispatcher

def sniff(port, packet):
    return None

def install():
    Dispatcher.install(Dispatcher.event("UDP.PacketArrived"), sniff)
'''
    with pytest.raises(ExtensionFailed, match="would see every UDP port's packets"):
        k.load(sniffer, "sniffer.py", trusted=True)
    forger = '''
from spin import UDP

state = {}

def mine(port, packet):
    UDP.raise_(state["b"], 7, packet)

def install():
    state["b"] = UDP.claim(8000, mine)
'''
    k.load(forger, "forger.py")
    errors: list[str] = []

    def server(argv: list[str]) -> int:
        s = posix.socket()
        for port in (7, 8000):
            try:
                posix.bind(s, ("0.0.0.0", port))
            except posix.PosixError as e:
                errors.append(f"{e.errno}: {e}")
        posix.bind(s, ("0.0.0.0", 8001))
        t = posix.socket()
        try:
            posix.bind(t, ("0.0.0.0", 8001))
        except posix.PosixError as e:
            errors.append(e.errno)
        posix.close(t)
        posix.close(s)
        return 0

    pid = b.start(server)
    out: list[Any] = []  # meanwhile a datagram to the forger's port
    a.start(_echo_client(out, b"x", port=8000))
    net.run()
    assert b.exit_status(pid) == 0
    assert errors[0].startswith("EADDRINUSE") and "udp_echo" in errors[0]
    assert errors[1].startswith("EADDRINUSE") and "forger" in errors[1]
    assert errors[2] == "EADDRINUSE"
    # the forger's handler raised UDP.PacketArrived without the right: it was terminated
    assert "forger" in [n for n, _ in k.unloaded]
    why = dict(k.unloaded)["forger"]
    assert "UDP.PacketArrived is raised by the holder of protocol 17" in why
    assert _stats(b, "udp_echo") == {"echoed": 0}
    _done(net)


def test_does_an_unloaded_extension_release_its_port_and_handlers() -> None:
    net = _net(["spin", "spin"])
    a, b = net.systems
    k = b.kernel
    udp = b.net.domain.interface("spin.UDP")
    echo = next(d for d in k.extensions if d.name == "udp_echo")
    assert udp.holder(7) == "udp_echo"
    k.unload(echo, "test")
    assert udp.holder(7) is None and k.remaining(echo) == []
    assert all(h.installer is not echo for h in b.net.UDP.handlers)
    out: list[Any] = []

    def server(argv: list[str]) -> int:  # the port is free again: a process may take it
        s = posix.socket()
        posix.bind(s, ("0.0.0.0", 7))
        data, addr = posix.recvfrom(s, 100)
        posix.sendto(s, data + b"!", addr)
        posix.close(s)
        return 0

    b.start(server)
    a.start(_echo_client(out, b"hi"))
    net.run()
    assert out[0] == (b"hi!", ("10.0.0.2", 7))
    assert udp.holder(7) is None  # closed: released
    _done(net)


def _raw_sender(net: Any, frames_out: list[bytes]) -> Any:
    """Machine 0 sends ``frames_out`` from its NIC directly, one after another (no stack)."""
    m, nic = net.systems[0].machine, net.nics[0]
    f = net.systems[0].kernel.memory.allocate()
    pfn = f._pfn

    def send(i: int) -> None:
        m.memory.span(pfn, 0, len(frames_out[i]))[:] = frames_out[i]
        nic.transmit(pfn, 0, len(frames_out[i]))
        if i + 1 < len(frames_out):
            m.loop.schedule(m.loop.now + 20_000, send, i + 1)

    m.loop.schedule(1000, send, 0)
    return f


def test_are_bad_frames_dropped_and_counted_and_the_good_one_answered() -> None:
    net = network(["spin", "spin"])
    b = net.systems[1]
    spin_net.attach(b)
    b.kernel.load(extensions.source("udp_echo"), "udp_echo.py")
    a_mac, b_mac = net.nics[0].mac, net.nics[1].mac
    src, dst = frames.ipv4("10.0.0.1"), frames.ipv4("10.0.0.2")
    good = frames.udp_frame(a_mac, b_mac, src, dst, 4000, 7, b"payload")
    bad_ip = bytearray(good)
    bad_ip[14 + 10] ^= 0xFF  # the IP header checksum
    bad_udp = bytearray(good)
    bad_udp[-1] ^= 0x01  # the payload: the UDP checksum no longer holds
    truncated = bytearray(good)  # the IP header claims more bytes than the frame has
    truncated[14 + 2:14 + 4] = (1000).to_bytes(2, "big")
    truncated[14 + 10:14 + 12] = b"\x00\x00"
    truncated[14 + 10:14 + 12] = dpkt.in_cksum(bytes(truncated[14:34])).to_bytes(2, "big")
    short_udp = bytearray(good[:14 + 20 + 4])  # an IP datagram whose UDP header is cut
    short_udp[14 + 2:14 + 4] = (24).to_bytes(2, "big")
    short_udp[14 + 10:14 + 12] = b"\x00\x00"
    short_udp[14 + 10:14 + 12] = dpkt.in_cksum(bytes(short_udp[14:34])).to_bytes(2, "big")
    other_host = frames.udp_frame(a_mac, b_mac, src, frames.ipv4("10.0.0.9"), 4000, 7, b"p")
    no_port = frames.udp_frame(a_mac, b_mac, src, dst, 4000, 4444, b"p")
    arp_bad = b_mac + a_mac + b"\x08\x06" + bytes(10)  # truncated ARP
    other_type = b_mac + a_mac + b"\x86\xdd" + bytes(40)  # IPv6: nobody claims it
    sent = [bytes(bad_ip), bytes(bad_udp), bytes(truncated), bytes(short_udp), other_host, no_port,
            arp_bad, other_type, good]
    raw = _raw_sender(net, sent)
    net.run()
    ip, udp, ether = _stats(b, "ip"), _stats(b, "udp"), _stats(b, "ether")
    assert (ip["bad_checksum"], ip["malformed"], ip["not_ours"]) == (1, 1, 1)
    assert (udp["bad_checksum"], udp["malformed"], udp["delivered"]) == (1, 1, 2)
    assert ether["malformed"] == 1
    st = b.net.statistics()
    assert (st.received, st.unclaimed_ether, st.unclaimed_udp) == (9, 1, 1)
    assert _stats(b, "udp_echo") == {"echoed": 1}  # only the good one is answered
    reply = frames.parse(net.link.captured[-1][1])
    assert reply.udp is not None and reply.udp.payload == b"payload" and reply.udp.dport == 4000
    assert b.kernel.unloaded == []  # no handler failed on a bad frame
    net.systems[0].kernel.memory.deallocate(raw)
    _done(net)


def test_what_if_attach_is_misused() -> None:
    from exospin.systems import boot

    with pytest.raises(ValueError, match="no network interface"):
        spin_net.attach(boot("spin"))
    net = network(["spin", "aegis"])
    s = net.systems[0]
    stack = spin_net.attach(s, sockets=False)
    with pytest.raises(ValueError, match="already has its network stack"):
        spin_net.attach(s)
    with pytest.raises(ValueError, match="not on this kernel's machine"):
        spin_net.NetStack(s.kernel, [(net.nics[1], "10.0.0.9")])
    assert s.kernel.irq_handlers == {net.nics[0].irq: stack._interrupt}
    net.shutdown()
    assert s.kernel.irq_handlers == {} and s.kernel.memory.statistics().frames_allocated == 0
