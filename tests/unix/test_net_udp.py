"""Sockets in the unix kernel (BSD style) between two machines: echo, errors, drops, leaks.

Every test builds ``systems.network(["unix", "unix"])`` (machine 0 is 10.0.0.1, machine
1 is 10.0.0.2), runs posix programs on both, and at the end shuts both down: no process,
frame, socket, PCB or mbuf may be left, and every invariant must hold.
"""

from __future__ import annotations

from typing import Any

import pytest

from exospin import posix
from exospin.net import frames
from exospin.systems import network

SERVER = ("10.0.0.2", 7)


def _boot(link: str = "ethernet", **kw: Any) -> Any:
    return network(["unix", "unix"], link=link, **kw)


def _finish(net: Any) -> None:
    for s in net.systems:
        assert s.kernel.check_invariants() == []
    for left in net.shutdown():
        assert not any(left.values()), left
        assert {"sockets", "pcbs", "mbufs"} <= set(left)


def echo_server(argv: list[str]) -> int:
    n = int(argv[0])
    fd = posix.socket()
    posix.bind(fd, ("0.0.0.0", 7))
    for _ in range(n):
        data, peer = posix.recvfrom(fd, 2048)
        posix.sendto(fd, data, peer)
    posix.close(fd)
    return 0


def echo_client(argv: list[str], out: list[Any]) -> int:
    fd = posix.socket()
    for msg in argv:
        sent = posix.sendto(fd, msg.encode(), SERVER)
        data, peer = posix.recvfrom(fd, 2048)
        out.append((sent, data, peer))
    posix.close(fd)
    return 0


@pytest.mark.parametrize("link", ["ethernet", "atm"])
def test_does_a_posix_udp_echo_between_two_unix_machines_return_every_datagram(link: str) -> None:
    net = _boot(link)
    a, b = net.systems
    msgs = ["hello", "x" * 16, "y" * 300, "z" * 1472]
    out: list[Any] = []
    b.start(echo_server, [str(len(msgs))])
    a.start(lambda argv: echo_client(argv, out), msgs, name="client")
    net.run()
    assert [(n, d.decode()) for n, d, _ in out] == [(len(m), m) for m in msgs]
    assert {p for _, _, p in out} == {SERVER}
    sa, sb = a.kernel.net.statistics(), b.kernel.net.statistics()
    assert (sa.udps_opackets, sb.udps_ipackets, sa.udps_ipackets) == (4, 4, 4)
    assert sa.arp_requests_sent == 1 and sb.arp_requests_sent == 0  # b learned a from the request
    assert sb.arp_replies_sent == 1
    # what the wire carried reads back as the datagrams, checksums verified by dpkt
    udp = [frames.parse(f) for _, f in net.link.captured]
    udp = [p.udp for p in udp if p.udp is not None]
    assert [u.payload.decode() for u in udp[::2]] == msgs and all(u.dport == 7 for u in udp[::2])
    for s in net.systems:
        assert s.exit_status(1) == 0
    _finish(net)
