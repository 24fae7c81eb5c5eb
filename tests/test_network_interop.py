"""The same posix UDP programs on every system, against every other (issue 16).

One echo server and one client (apps/udp_unix.py), written against posix
sockets only, run unchanged between each pair of systems on one Ethernet:
ExOS on Aegis (DPF filters, packet rings, the library's UDP), SPIN (the
protocol graph as extensions, sockets through its Unix personality) and the
unix kernel (4.4BSD-style sockets). Both start at once, so the client's first
datagram may go out before the server has bound its port: it is sent again,
as a UDP client does (and unix' ARP asks again after a second, as 4.4BSD's).
"""

from __future__ import annotations

import itertools

import pytest

from exospin import posix
from exospin.apps import udp_unix
from exospin.net import parse
from exospin.spin.net import attach
from exospin.systems import network

SYSTEMS = ("aegis", "spin", "unix")


def _echo(server: str, client: str, count: int = 3, size: int = 64) -> tuple[int | None, int | None, list[bytes]]:
    net = network([server, client])
    try:
        for s in net.systems:
            if s.name == "spin":
                attach(s)  # SPIN's stack is extensions: loaded on demand
        srv = net.systems[0].start(udp_unix.server, ["7000", str(count)], name="server")
        cli = net.systems[1].start(udp_unix.client, ["10.0.0.1", "7000", str(count), str(size)], name="client")
        net.run(until_us=5_000_000)
        frames = [f for _, f in net.link.captured or []]
        return net.systems[0].exit_status(srv), net.systems[1].exit_status(cli), frames
    finally:
        net.shutdown()


@pytest.mark.parametrize(("server", "client"), list(itertools.product(SYSTEMS, repeat=2)))
def test_does_the_same_udp_echo_run_between_every_pair_of_systems(server: str, client: str) -> None:
    s, c, frames = _echo(server, client)
    assert (s, c) == (0, 0), f"{client} client against {server} server: statuses {(s, c)}"
    # three echoes (a datagram sent before the server was up is sent again), every
    # datagram carrying the client's 64 bytes with a good checksum
    udp = [p.udp for p in map(parse, frames) if p.udp is not None]
    assert len(udp) >= 6 and all(len(u.payload) == 64 and u.checksum_ok for u in udp)
    assert sum(1 for u in udp if u.sport == 7000) == 3  # the server echoed each once


def test_is_a_mixed_network_run_deterministic() -> None:
    assert _echo("unix", "aegis") == _echo("unix", "aegis")


@pytest.mark.parametrize("name", SYSTEMS)
def test_does_a_process_started_between_two_runs_on_an_idle_machine_run(name: str) -> None:
    """A machine that went idle in one run wakes for a process started before the next
    (the world would otherwise wait for an event or a frame that never comes)."""
    net = network([name, name])
    try:
        net.run()  # both machines are idle now
        ran: list[int] = []

        def main(argv: list[str]) -> int:
            ran.append(len(argv))
            return 3

        pid = net.systems[1].start(main, ["x"])
        net.run()
        assert ran == [1] and net.systems[1].exit_status(pid) == 3
    finally:
        net.shutdown()


@pytest.mark.parametrize("name", SYSTEMS)
def test_does_a_bare_run_return_while_processes_sleep_in_recvfrom_and_a_later_datagram_wake_them(name: str) -> None:
    """A run without a time limit ends once no machine can do anything but wait for a
    frame (the world's horizon is not work: with a sleeper on each machine, unix used to
    step from horizon to horizon for ever); the datagrams of a later run wake them."""
    net = network([name, "unix"])
    try:
        if name == "spin":
            attach(net.systems[0])
        got: list[bytes] = []

        def receiver(argv: list[str]) -> int:
            fd = posix.socket()
            posix.bind(fd, ("0.0.0.0", 7000))
            got.append(posix.recvfrom(fd, 100)[0])  # no time-out: it sleeps until a datagram comes
            posix.close(fd)
            return 0

        def sender(argv: list[str]) -> int:
            fd = posix.socket()
            for _ in range(3):  # (the first may go out before ARP has an answer)
                posix.sendto(fd, argv[0].encode(), (argv[0], 7000))
                posix.poll([fd], 20_000)
            posix.close(fd)
            return 0

        pids = [s.start(receiver) for s in net.systems]
        net.run()  # returns: both receivers sleep, nothing else can happen
        assert got == [] and [s.exit_status(p) for s, p in zip(net.systems, pids, strict=True)] == [None, None]
        net.systems[1].start(sender, ["10.0.0.1"])
        net.systems[0].start(sender, ["10.0.0.2"])
        net.run()
        assert sorted(got) == [b"10.0.0.1", b"10.0.0.2"]
        assert [s.exit_status(p) for s, p in zip(net.systems, pids, strict=True)] == [0, 0]
    finally:
        net.shutdown()
