"""Sockets in the unix kernel (BSD style) between two machines: echo, errors, drops, leaks.

Every test builds ``systems.network(["unix", "unix"])`` (machine 0 is 10.0.0.1, machine
1 is 10.0.0.2), runs posix programs on both, and at the end shuts both down: no process,
frame, socket, PCB or mbuf may be left, and every invariant must hold.
"""

from __future__ import annotations

from typing import Any

import pytest

from exospin import posix
from exospin.apps import udp_unix
from exospin.net import frames
from exospin.systems import network

SERVER = ("10.0.0.2", 7)


def _boot(link: str = "ethernet", **kw: Any) -> Any:
    return network(["unix", "unix"], link=link, **kw)


def _finish(net: Any) -> None:
    for s in net.systems:
        assert s.kernel.check_invariants() == []
    used = [s.kernel.net.used for s in net.systems]
    for left, u in zip(net.shutdown(), used, strict=True):
        assert not any(left.values()), left
        assert u == ({"sockets", "pcbs", "mbufs"} <= set(left))  # the stack's leaks, once it was used


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


def _run_on(system: Any, body: Any) -> list[Any]:
    """Run ``body()`` as a posix process on ``system``; its result or its PosixError errno."""
    out: list[Any] = []

    def main(argv: list[str]) -> int:
        try:
            out.append(body())
        except posix.PosixError as e:
            out.append(e.errno)
        return 0
    system.start(main, name="body")
    return out


def test_are_bad_socket_calls_refused_with_the_posix_errno_and_change_nothing() -> None:
    net = _boot()
    a, _ = net.systems
    results: dict[str, Any] = {}

    def body() -> None:
        fd = posix.socket()
        posix.bind(fd, ("0.0.0.0", 7000))
        other = posix.socket()
        for name, call in [
            ("inuse", lambda: posix.bind(other, ("0.0.0.0", 7000))),
            ("again", lambda: posix.bind(fd, ("0.0.0.0", 7001))),
            ("notmine", lambda: posix.bind(other, ("10.0.0.9", 7002))),
            ("badaddr", lambda: posix.bind(other, ("10.0.0", 7002))),
            ("badport", lambda: posix.bind(other, ("0.0.0.0", 70000))),
            ("family", lambda: posix.socket(99, posix.SOCK_DGRAM)),
            ("type", lambda: posix.socket(posix.AF_INET, 1)),
            ("big", lambda: posix.sendto(fd, b"x" * (posix.UDP_MAX_PAYLOAD + 1), SERVER)),
            ("self", lambda: posix.sendto(fd, b"x", ("10.0.0.1", 7))),
            ("offnet", lambda: posix.sendto(fd, b"x", ("192.168.0.1", 7))),
            ("pipe", lambda: posix.recvfrom(posix.pipe()[0], 10)),
            ("count", lambda: posix.recvfrom(fd, -1)),
            ("timeout", lambda: posix.poll([fd], -5)),
            ("read", lambda: posix.read(fd, 10)),
        ]:
            try:
                call()
                results[name] = "no error"
            except posix.PosixError as e:
                results[name] = e.errno
        posix.close(fd)
        for name, call in [("recv", lambda: posix.recvfrom(fd, 10)), ("send", lambda: posix.sendto(fd, b"x", SERVER)),
                           ("close", lambda: posix.close(fd)), ("poll", lambda: posix.poll([fd], 0))]:
            try:
                call()
                results[name] = "no error"
            except posix.PosixError as e:
                results[name] = e.errno
        results["reuse"] = posix.bind(other, ("0.0.0.0", 7000))  # the port is free again

    _run_on(a, body)
    net.run()
    assert results == {
        "inuse": "EADDRINUSE", "again": "EINVAL", "notmine": "EADDRNOTAVAIL", "badaddr": "EINVAL",
        "badport": "EINVAL", "family": "EAFNOSUPPORT", "type": "EPROTONOSUPPORT", "big": "EMSGSIZE",
        "self": "ENETUNREACH", "offnet": "ENETUNREACH", "pipe": "ENOTSOCK", "count": "EINVAL",
        "timeout": "EINVAL", "read": "EBADF",
        "recv": "EBADF", "send": "EBADF", "close": "EBADF", "poll": "EBADF", "reuse": None,
    }
    st = a.kernel.net.statistics()
    assert st.udps_opackets == 0 and st.if_opackets == 0  # nothing refused went out
    assert net.nics[0].statistics().tx_frames == 0
    _finish(net)


def _inject(net: Any, frame: bytes) -> None:
    """Send raw bytes from machine 0's NIC, from a frame at the top of its memory (no
    kernel allocates there in these short tests)."""
    m, nic = net.systems[0].machine, net.nics[0]
    pfn = m.profile.memory_frames - 1
    m.memory.span(pfn, 0, len(frame))[:] = frame
    nic.transmit(pfn, 0, len(frame))


def _good(net: Any, payload: bytes = b"0123456789abcdef", dport: int = 7) -> bytes:
    return frames.udp_frame(net.nics[0].mac, net.nics[1].mac, frames.ipv4("10.0.0.1"), frames.ipv4("10.0.0.2"),
                            5000, dport, payload)


def test_are_bad_frames_dropped_and_counted_by_the_layer_that_finds_them() -> None:
    net = _boot()
    _, b = net.systems
    got: list[Any] = []

    def server() -> None:
        fd = posix.socket()
        posix.bind(fd, ("0.0.0.0", 7))
        got.append(posix.recvfrom(fd, 100))
        posix.close(fd)
    _run_on(b, server)
    net.run()  # the server sleeps in recvfrom
    good = _good(net)
    bad_ip = bytearray(good)
    bad_ip[14 + 10] ^= 0xFF  # the IP header checksum
    bad_udp = bytearray(good)
    bad_udp[-1] ^= 0x01  # a payload byte: the UDP checksum no longer matches
    short = bytearray(good)
    short[14 + 2:14 + 4] = (200).to_bytes(2, "big")  # total length beyond the frame
    short[14 + 10:14 + 12] = b"\0\0"
    short[14 + 10:14 + 12] = frames.dpkt.in_cksum(bytes(short[14:34])).to_bytes(2, "big")
    badlen = bytearray(good)
    badlen[34 + 4:34 + 6] = (100).to_bytes(2, "big")  # UDP length beyond the IP datagram
    noport = _good(net, dport=9)
    for f in (bad_ip, bad_udp, short, badlen, noport, bytes(good[:14]) + b"\x45"):
        _inject(net, bytes(f))
    net.run()
    assert got == []  # nothing bad reached the socket
    st = b.kernel.net.statistics()
    # the 15-byte frame is padded to 60 by the controller: a header of zeros, a bad checksum
    assert (st.ips_badsum, st.udps_badsum, st.ips_tooshort, st.udps_badlen, st.udps_noport) == (2, 1, 1, 1, 1)
    assert st.ips_total == 6 and st.ips_delivered == 3 and st.udps_ipackets == 3
    assert st.mbufs == 0 and st.clusters == 0  # every dropped frame's mbufs were freed
    _inject(net, good)
    net.run()
    assert got == [(b"0123456789abcdef", ("10.0.0.1", 5000))]
    _finish(net)


def test_does_a_full_socket_buffer_drop_and_count_and_then_take_more_once_read() -> None:
    net = _boot()
    a, b = net.systems
    box: list[Any] = []
    n = 45  # 45 datagrams of 1,024 bytes: udp_recvspace (41,600) holds 40 with their addresses

    def server() -> None:
        fd = posix.socket()
        posix.bind(fd, ("0.0.0.0", 7))
        while True:
            if posix.poll([fd], 200_000.0) == []:  # 200 ms of nothing: the burst is over
                break
            box.append(("poll-ready", len(box)))
            break
        posix.compute(10)
        # wait until the sender is done, then drain what was kept
        posix.poll([], 100_000.0)
        kept = 0
        while posix.poll([fd], 0):
            posix.recvfrom(fd, 2048)
            kept += 1
        box.append(kept)
        posix.close(fd)

    def client() -> None:
        fd = posix.socket()
        for i in range(n):
            posix.sendto(fd, bytes([i]) * 1024, SERVER)
            posix.poll([], 1500.0)  # about the wire time of one frame: no ENOBUFS from the ring
        posix.close(fd)
    _run_on(b, server)
    _run_on(a, client)
    net.run()
    st = b.kernel.net.statistics()
    kept = box[-1]
    assert kept == n - st.udps_fullsock and st.udps_fullsock > 0
    assert kept * (1024 + 16) <= 41_600
    assert st.mbufs == 0 and st.clusters == 0
    _finish(net)


def test_is_a_blocked_recvfrom_woken_by_the_arrival_and_does_poll_time_out() -> None:
    net = _boot()
    a, b = net.systems
    log: list[Any] = []

    def server() -> None:
        fd = posix.socket()
        posix.bind(fd, ("0.0.0.0", 7))
        t0 = posix.time_us()
        log.append(("poll", posix.poll([fd], 5_000.0), round(posix.time_us() - t0)))  # nothing comes: []
        data, peer = posix.recvfrom(fd, 100)  # sleeps until the client's datagram
        log.append(("recv", data, peer, posix.time_us() >= 20_000.0))
        log.append(("ready", posix.poll([fd], 1_000.0)))
        posix.close(fd)

    def client() -> None:
        fd = posix.socket()
        posix.poll([], 20_000.0)  # 20 ms
        posix.sendto(fd, b"wake up", SERVER)
        posix.sendto(fd, b"again", SERVER)
        posix.close(fd)
    _run_on(b, server)
    _run_on(a, client)
    sleeps = b.kernel.statistics().sleeps
    net.run()
    assert log[0][0:2] == ("poll", []) and 5_000 <= log[0][2] < 5_100
    # 4.4BSD's ARP holds one packet per unresolved address: the second replaced the first
    assert log[1] == ("recv", b"again", ("10.0.0.1", 1025), True)
    assert log[2] == ("ready", [])
    assert a.kernel.net.statistics().arp_hold_drops == 1
    assert b.kernel.statistics().sleeps >= sleeps + 2
    _finish(net)


def test_does_an_exhausted_mbuf_pool_drop_and_count_and_leak_nothing() -> None:
    net = _boot()
    a, b = net.systems
    b.kernel.net.pool.map_pages = 2  # a pool of two pages: 32 mbufs and 2 clusters on the ds5000
    kept: list[int] = []

    def server() -> None:
        fd = posix.socket()
        posix.bind(fd, ("0.0.0.0", 7))
        posix.poll([fd], None)
        posix.poll([], 100_000.0)
        n = 0
        while posix.poll([fd], 0):
            posix.recvfrom(fd, 2048)
            n += 1
        kept.append(n)
        posix.close(fd)

    def client() -> None:
        fd = posix.socket()
        posix.sendto(fd, b"arp", ("10.0.0.2", 9))  # resolves the server's MAC (port 9: no one)
        posix.poll([], 5_000.0)
        for i in range(5):
            posix.sendto(fd, bytes([i]) * 1000, SERVER)
        posix.close(fd)
    _run_on(b, server)
    _run_on(a, client)
    net.run()
    st = b.kernel.net.statistics()
    assert kept == [2] and st.mbuf_drops == 3 and st.pool_pages == 2
    _finish(net)


def test_does_shutdown_free_the_sockets_and_mbufs_of_processes_still_running() -> None:
    net = _boot()
    a, b = net.systems

    def server() -> None:
        fd = posix.socket()
        posix.bind(fd, ("0.0.0.0", 7))
        posix.socket()  # another, never used
        posix.poll([], 50_000.0)
        posix.recvfrom(posix.socket(), 10)  # sleeps for ever; the datagrams stay queued on fd

    def client() -> None:
        fd = posix.socket()
        for i in range(3):
            posix.sendto(fd, bytes([i]) * (10 + 500 * i), SERVER)
    _run_on(b, server)
    _run_on(a, client)
    net.run()
    st = b.kernel.net.statistics()
    assert st.sockets == 3 and st.pcbs == 1 and st.mbufs > 0 and st.clusters == 1
    _finish(net)


@pytest.mark.parametrize("profiles", [["ds5000", "ds5000"], ["alpha3000", "ds5000"]])
@pytest.mark.parametrize("link", ["ethernet", "atm"])
def test_does_the_posix_udp_echo_application_run_unchanged_on_unix(link: str, profiles: list[str]) -> None:
    net = _boot(link, profile=profiles)
    a, b = net.systems
    srv = b.start(udp_unix.server, ["7", "6"])
    cli = a.start(udp_unix.client, ["10.0.0.2", "7", "3", "1472"])
    # a second client once the first is done (ARP holds one packet per address meanwhile)
    cli2 = a.start(lambda argv: posix.poll([], 20_000.0) or udp_unix.client(argv), ["10.0.0.2", "7", "3", "40"])
    net.run()
    assert (a.exit_status(cli), a.exit_status(cli2), b.exit_status(srv)) == (0, 0, 0)
    assert b.kernel.net.statistics().udps_ipackets == 6
    _finish(net)


def _echo_run() -> tuple[Any, ...]:
    net = _boot()
    a, b = net.systems
    out: list[Any] = []
    b.start(echo_server, ["3"])
    a.start(lambda argv: echo_client(argv, out), ["one", "two" * 100, "three" * 200], name="client")
    net.run()
    result = (tuple(net.link.captured or []), tuple(s.machine.loop.now for s in net.systems),
              tuple(s.kernel.net.statistics() for s in net.systems), tuple(out))
    _finish(net)
    return result


def test_is_a_networked_unix_run_deterministic() -> None:
    assert _echo_run() == _echo_run()


def test_does_an_arrival_preempt_a_busy_user_process_for_the_woken_receiver() -> None:
    net = _boot()
    a, b = net.systems
    when: list[float] = []

    def server() -> None:
        fd = posix.socket()
        posix.bind(fd, ("0.0.0.0", 7))
        posix.recvfrom(fd, 100)
        when.append(posix.time_us())
        posix.close(fd)

    def busy() -> None:
        for _ in range(3_000):  # about 12 ms of user computation on the ds5000
            posix.compute(100)

    def client() -> None:
        fd = posix.socket()
        posix.poll([], 2_000.0)
        posix.sendto(fd, b"now", SERVER)
        when.append(posix.time_us())
        posix.close(fd)
    _run_on(b, server)
    _run_on(b, busy)
    _run_on(a, client)
    preempted = b.kernel.statistics().preemptions
    net.run()
    sent, got = when[0], when[1]
    # without the preemption the receiver would wait for the end of the busy quantum (10 ms)
    assert sent < got < sent + 1_000.0
    assert b.kernel.statistics().preemptions > preempted
    _finish(net)


def test_does_a_forked_child_share_the_socket_until_both_have_closed_it() -> None:
    net = _boot()
    a, b = net.systems
    got: list[Any] = []

    def server() -> None:
        fd = posix.socket()
        posix.bind(fd, ("0.0.0.0", 7))

        def child() -> int:
            posix.close(fd)  # the child's descriptor only
            return 0
        pid = posix.fork(child)
        posix.wait(pid)
        got.append(posix.recvfrom(fd, 100)[0])  # still bound, still receiving
        posix.close(fd)

    def client() -> None:
        fd = posix.socket()
        posix.poll([], 5_000.0)
        posix.sendto(fd, b"shared", SERVER)
        posix.close(fd)
    _run_on(b, server)
    _run_on(a, client)
    net.run()
    assert got == [b"shared"]
    _finish(net)
