"""The network suite: UDP round trips, bandwidth, forwarding and ASHs between machines (issue 16).

What this measures
    Every row runs on a network of its own (``systems.network``): two or three
    machines of one system on one link, booted with the same seed, so every
    figure is deterministic. The applications are posix programs, the same on
    every system (ExOS on Aegis, SPIN through its Unix personality, unix),
    except where the row is about an in-kernel path:

    ===========================  ==================================================
    udp_rtt_{S}_{L}              a posix client sends an S-byte datagram to a posix
                                 echo server on the other machine and waits for
                                 it to come back (S = 16, 1472; L = ethernet, atm);
                                 one operation is one round trip
    kernel_echo_rtt_{S}_{L}      SPIN only: the same client, answered by the
                                 in-kernel echo (spin/ext/udp_echo.py), the SPIN
                                 paper's UDP latency experiment (section 5.3)
    ash_rtt_{S}_{L}              Aegis only: the same client, answered by an ASH
                                 of the ExOS server, in the kernel's receive path
                                 (aegis/netdrv.py); compare with udp_rtt on aegis
    udp_bandwidth_{L}            a posix sender streams 1,472-byte datagrams one
                                 way, in windows of WINDOW that the receiver
                                 acknowledges (a plain UDP stream overruns the
                                 slower receivers: datagrams lost); the sender's
                                 clock from the first send to the last ack: one
                                 operation is one datagram, ``mbps`` the payload
                                 bits per µs achieved
    forward_rtt_{L}              client, forwarder, server on three machines: a
                                 16-byte round trip through the forwarder (in the
                                 kernel on SPIN, spin/ext/udp_forward.py; a posix
                                 process on unix and ExOS)
    demux_{dpf,interp,bpf}_nN    bench/demux_suite.py's rows, in the same run, with
                                 the issue's targets checked (``targets``)
    ===========================  ==================================================

    Before timing, every client exchanges ``WARM`` round trips (ARP resolved
    both ways, first-touch faults and rings out of the way); the timed loop
    runs under ``harness.Timer`` on the client's simulated clock
    (``posix.time_us``), as the posix suites do. A reply that is not the
    datagram sent, from the address it was sent to, is a BenchmarkError, as
    is a run that does not end with every process exited and nothing leaked.

Why it is built this way
    One network per row keeps the rows independent (a row's figure does not
    depend on which rows ran before it) and lets ``--pcap`` write one capture
    per row. The server starts first and the network runs until it waits in
    ``recvfrom``, so no datagram is sent to a port not yet bound and nothing
    is retransmitted: the figures are the paths' own.

Interface
    ``run(profile, quick, progress, pcap=None, demux=True) -> list[Result]``;
    ``last_targets()`` (the target checks of the last run that had the demux
    rows); ``pcap_name(path, benchmark, system)``; ``TARGETS``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import posix
from ..machine import get_profile
from ..net import frames
from ..spin import extensions as spin_extensions
from ..spin.net import attach as spin_attach
from ..systems import network
from . import demux_suite
from .harness import BenchmarkError, Result, Timer, python_call_ns
from .posix_suite import sim_clock

SYSTEMS = ("aegis", "spin", "unix")
LINKS = ("ethernet", "atm")
SIZES = (16, 1472)
#: the datagram of the bandwidth rows: the largest one Ethernet carries unfragmented
STREAM_SIZE = 1472
PORT, FWD_PORT, ECHO_PORT = 7000, 9000, 7
#: the client's last datagram: the servers (and the posix forwarder) echo it and end
BYE = b"\xff"
#: round trips before timing (ARP resolved both ways, first touches done)
WARM = 3
#: round trips per timed repeat (Timer.measure runs three, after a warm-up of a tenth)
RTT_N, RTT_QUICK = 40, 10
#: datagrams per bandwidth stream
STREAM_N, STREAM_QUICK = 200, 40  # multiples of WINDOW
#: datagrams the sender may have unacknowledged: fits every receiver's queue (ExOS' ring
#: of 8 frames, the TCA-100's FIFO of 256 cells = 8 datagrams of 31 cells)
WINDOW = 4
#: a window not acknowledged within this long was lost (a BenchmarkError)
STREAM_IDLE_US = 200_000.0
#: a sender whose datagram is refused (ENOBUFS: the transmit queue is full) waits this long
BACKOFF_US = 200.0
RUN_CHUNK_US = 1_000_000.0
SETTLE_US = 20_000.0
SIM_LIMIT_US = 60_000_000.0  # a row needs far less simulated time: past this it is stuck
WALL_LIMIT_S = 600.0  # the same, on our clock

#: the demux rows' targets (bench/demux_suite.py): checked on both clocks in one run
TARGETS = demux_suite.TARGETS

#: An echo in the kernel's receive path (an ASH, verified): swap the MACs, the IP
#: addresses and the ports (both checksums are sums of fields whose order does not
#: matter, so they still hold) and reply from the interrupt. The client's last
#: datagram (one byte of payload: UDP length 9) goes to the ring instead, so that the
#: server process learns the run is over.
ASH_ECHO = '''
def handler(pkt):
    d = pkt.data
    hl = (d[14] & 15) * 4
    u = 14 + hl
    if d[u + 4] == 0 and d[u + 5] == 9:
        pkt.to_ring()
        return None
    pkt.reply(d[6:12] + d[0:6] + d[12:26] + d[30:34] + d[26:30] + d[34:u] + d[u + 2:u + 4] + d[u:u + 2] + d[u + 4:])
'''


def message(size: int) -> bytes:
    """The payload of every timed datagram of ``size`` bytes."""
    return bytes((7 * i) % 251 for i in range(size))


# ------------------------------------------------------------- posix programs


def echo_server(argv: list[str]) -> int:
    """``[port]``: echo every datagram to its sender until BYE (echoed too)."""
    fd = posix.socket()
    posix.bind(fd, ("0.0.0.0", int(argv[0])))
    while True:
        data, peer = posix.recvfrom(fd, posix.UDP_MAX_PAYLOAD)
        posix.sendto(fd, data, peer)
        if data == BYE:
            break
    posix.close(fd)
    return 0


def forwarder(argv: list[str]) -> int:
    """``[port, server_ip, server_port]``: a user-level forwarder, as the SPIN extension
    does it in the kernel: a datagram from the server goes back to the client that last
    sent, any other to the server; ends after relaying the server's echo of BYE."""
    port, server = int(argv[0]), (argv[1], int(argv[2]))
    fd = posix.socket()
    posix.bind(fd, ("0.0.0.0", port))
    client = None
    while True:
        data, peer = posix.recvfrom(fd, posix.UDP_MAX_PAYLOAD)
        if peer == server:
            if client is not None:
                posix.sendto(fd, data, client)
            if data == BYE:
                break
        else:
            client = peer
            posix.sendto(fd, data, server)
    posix.close(fd)
    return 0


def _send(fd: int, data: bytes, to: tuple[str, int]) -> None:
    """sendto, waiting (poll, BACKOFF_US) while the interface's queue is full."""
    while True:
        try:
            posix.sendto(fd, data, to)
            return
        except posix.PosixError as e:
            if e.errno != "ENOBUFS":
                raise
            posix.poll([fd], BACKOFF_US)


def _ash_server(box: dict[str, Any]) -> Callable[[list[str]], int]:
    def main(argv: list[str]) -> int:
        fd = posix.socket()
        posix.bind(fd, ("0.0.0.0", int(argv[0])))
        box["ash"] = posix._p().ash_install(fd, ASH_ECHO)  # type: ignore[attr-defined]  # ExOS' own call
        data, peer = posix.recvfrom(fd, posix.UDP_MAX_PAYLOAD)  # only BYE reaches the ring
        posix.sendto(fd, data, peer)
        posix.close(fd)
        return 0 if data == BYE else 2
    return main


def _rtt_client(box: dict[str, Any], to: tuple[str, int], size: int, n: int, clock_hz: int) -> Callable[[list[str]], int]:
    """The timed client: WARM echoes, then Timer.measure of n round trips, then BYE."""
    def main(argv: list[str]) -> int:
        fd = posix.socket()
        msg = message(size)
        sendto, recvfrom, biggest = posix.sendto, posix.recvfrom, posix.UDP_MAX_PAYLOAD

        def loop(k: int) -> None:
            for _ in range(k):
                sendto(fd, msg, to)
                data, peer = recvfrom(fd, biggest)
                if data != msg or peer != to:
                    raise BenchmarkError(f"echo of {size} bytes came back as {len(data)} bytes from {peer}")

        loop(WARM)
        timer = Timer(sim_clock(clock_hz))
        timer.warm_up(loop, n)
        box["measured"] = timer.measure(loop, n)
        box["timer"] = timer
        posix.sendto(fd, BYE, to)
        posix.recvfrom(fd, biggest)
        posix.close(fd)
        return 0
    return main


def _stream_sender(box: dict[str, Any], to: tuple[str, int], count: int, clock_hz: int) -> Callable[[list[str]], int]:
    """Stream ``count`` datagrams in windows of WINDOW, each window acknowledged by the
    receiver; the time from the first send to the last acknowledgement."""
    def main(argv: list[str]) -> int:
        fd = posix.socket()
        posix.sendto(fd, b"warm", to)  # one exchange: ARP resolved both ways
        posix.recvfrom(fd, 16)
        msg = message(STREAM_SIZE)
        cycles = sim_clock(clock_hz)
        w0, c0 = time.perf_counter_ns(), cycles()
        for _ in range(count // WINDOW):
            for _ in range(WINDOW):
                _send(fd, msg, to)
            if not posix.poll([fd], STREAM_IDLE_US):
                raise BenchmarkError(f"stream: a window of {WINDOW} datagrams was not acknowledged (lost)")
            posix.recvfrom(fd, 16)
        box["cycles"], box["wall_ns"] = cycles() - c0, time.perf_counter_ns() - w0
        posix.sendto(fd, BYE, to)
        posix.close(fd)
        return 0
    return main


def _stream_receiver(box: dict[str, Any], port: int) -> Callable[[list[str]], int]:
    """Receive the stream, acknowledging every WINDOW datagrams, until BYE."""
    def main(argv: list[str]) -> int:
        fd = posix.socket()
        posix.bind(fd, ("0.0.0.0", port))
        data, peer = posix.recvfrom(fd, 16)
        posix.sendto(fd, data, peer)
        got = 0
        while True:
            data, peer = posix.recvfrom(fd, posix.UDP_MAX_PAYLOAD)
            if data == BYE:
                break
            if data != message(STREAM_SIZE):
                raise BenchmarkError(f"stream: a datagram of {len(data)} bytes, not the one sent")
            got += 1
            if got % WINDOW == 0:
                posix.sendto(fd, b"ack", peer)
        box["received"] = got
        posix.close(fd)
        return 0
    return main


# ------------------------------------------------------------------ the runs


def pcap_name(path: str | Path, benchmark: str, system: str) -> Path:
    """The capture of one row: ``run.pcap`` -> ``run.udp_rtt_16_ethernet.aegis.pcap``."""
    p = Path(path)
    return p.with_name(f"{p.stem}.{benchmark}.{system}{p.suffix or '.pcap'}")


class _Net:
    """One row's network: ``machines`` of ``system`` on ``link``; SPIN's stack attached."""

    def __init__(self, name: str, system: str, link: str, profile: str, machines: int = 2) -> None:
        self.name, self.system = name, system
        self.net = network([system] * machines, link=link, profile=profile)
        self.pids: list[tuple[Any, int]] = []
        self.now_us = 0.0
        for s in self.net.systems:
            if system == "spin":
                spin_attach(s)

    def ip(self, i: int) -> str:
        return str(self.net.systems[i].iface.ip)

    def start(self, i: int, program: Callable[[list[str]], int], argv: list[str] | None = None) -> None:
        s = self.net.systems[i]
        self.pids.append((s, s.start(program, argv or [], name=f"{self.name} {i}")))

    def settle(self) -> None:
        """Run SETTLE_US, ample for the servers to bind and wait in recvfrom (a bound, not
        ``run()`` to the end: a machine with a time-out pending is stepped for ever)."""
        self.now_us = self.net.run(until_us=self.now_us + SETTLE_US)

    def finish(self, pcap: str | Path | None) -> None:
        """Run until every process has exited (0), write the capture, shut down clean."""
        start, t0 = self.now_us, time.monotonic()
        try:
            while any(s.exit_status(p) is None for s, p in self.pids):
                end = self.net.run(until_us=self.now_us + RUN_CHUNK_US)
                stuck = end == self.now_us
                self.now_us = end
                if stuck or end - start > SIM_LIMIT_US or time.monotonic() - t0 > WALL_LIMIT_S:
                    raise BenchmarkError(f"{self.name} on {self.system}: did not finish "
                                         f"(still running: {[p for s, p in self.pids if s.exit_status(p) is None]})")
            bad = [(s.name, p, s.exit_status(p), s.failures()) for s, p in self.pids if s.exit_status(p) != 0]
            if bad:
                raise BenchmarkError(f"{self.name} on {self.system}: processes failed: {bad}")
            if pcap is not None:
                self.net.write_pcap(pcap_name(pcap, self.name, self.system))
        finally:
            held = self.net.shutdown()
        leaked = [h for h in held if any(h.values())]
        if leaked:
            raise BenchmarkError(f"{self.name} on {self.system}: resources leaked: {leaked}")


def _rtt_result(name: str, system: str, profile: str, box: dict[str, Any], n: int) -> Result:
    if "measured" not in box:
        raise BenchmarkError(f"{name} on {system}: the client measured nothing")
    prof = get_profile(profile)
    cycles, wall, call = box["measured"]
    timer: Timer = box["timer"]
    return Result(name, system, cycles, prof.us(cycles), wall, n * timer.repeats, call,
                  py_cycles=timer.py_cycles(prof))


def udp_rtt(system: str, link: str, size: int, profile: str, n: int, pcap: Any = None,
            server: str = "posix") -> Result:
    """One round-trip row: ``server`` is ``posix`` (the echo process), ``kernel`` (SPIN's
    in-kernel echo) or ``ash`` (an ExOS server's ASH)."""
    kind = {"posix": "udp_rtt", "kernel": "kernel_echo_rtt", "ash": "ash_rtt"}[server]
    name = f"{kind}_{size}_{link}"
    row = _Net(name, system, link, profile)
    box: dict[str, Any] = {}
    port = PORT
    if server == "kernel":
        row.net.systems[1].kernel.load(spin_extensions.source("udp_echo"), "udp_echo.py")
        port = ECHO_PORT
    else:
        row.start(1, echo_server if server == "posix" else _ash_server(box), [str(port)])
        row.settle()
    row.start(0, _rtt_client(box, (row.ip(1), port), size, n, get_profile(profile).clock_hz))
    row.finish(pcap)
    return _rtt_result(name, system, profile, box, n)


def forward_rtt(system: str, link: str, profile: str, n: int, pcap: Any = None) -> Result:
    """Client (machine 0) -> forwarder (1) -> echo server (2) and back, 16 bytes."""
    name = f"forward_rtt_{link}"
    row = _Net(name, system, link, profile, machines=3)
    row.start(2, echo_server, [str(PORT)])
    if system == "spin":
        fwd = row.net.systems[1]
        fwd.kernel.load(spin_extensions.source("udp_forward"), "udp_forward.py")
        d = next(d for d in fwd.kernel.extensions if d.name == "udp_forward")
        iface = fwd.net.ifaces[0]
        dict(next(iter(d.exports.values())))["forward"](FWD_PORT, frames.ipv4(row.ip(2)), PORT, iface, iface)
    else:
        row.start(1, forwarder, [str(FWD_PORT), row.ip(2), str(PORT)])
    row.settle()
    box: dict[str, Any] = {}
    row.start(0, _rtt_client(box, (row.ip(1), FWD_PORT), 16, n, get_profile(profile).clock_hz))
    row.finish(pcap)
    return _rtt_result(name, system, profile, box, n)


def udp_bandwidth(system: str, link: str, profile: str, count: int, pcap: Any = None) -> Result:
    """A one-way stream of ``count`` 1,472-byte datagrams, timed on the receiver's clock."""
    name = f"udp_bandwidth_{link}"
    row = _Net(name, system, link, profile)
    box: dict[str, Any] = {}
    prof = get_profile(profile)
    row.start(1, _stream_receiver(box, PORT))
    row.settle()
    row.start(0, _stream_sender(box, (row.ip(1), PORT), count, prof.clock_hz))
    row.finish(pcap)
    if box.get("received") != count or "cycles" not in box:
        raise BenchmarkError(f"{name} on {system}: {box.get('received')} of {count} datagrams received")
    cycles = box["cycles"] / count
    call = python_call_ns(1_000)  # a plain call, measured next to the row
    return Result(name, system, cycles, prof.us(cycles), box["wall_ns"] / count, count, call,
                  mbps=STREAM_SIZE * 8 / prof.us(cycles))


# ------------------------------------------------------------------- targets

_targets: list[dict[str, Any]] = []


def check_targets(rows: dict[str, Result]) -> list[dict[str, Any]]:
    """The issue's demux targets on both clocks: per target, the ratios and whether each holds."""
    out = []
    for name, (base, limit) in TARGETS.items():
        if name not in rows or base not in rows:
            continue
        r, b = rows[name], rows[base]
        sim, wall = r.sim_cycles / b.sim_cycles, r.wall_ns / b.wall_ns
        out.append({"benchmark": name, "against": base, "limit": limit, "sim_ratio": round(sim, 4),
                    "sim_holds": sim <= limit, "wall_ratio": round(wall, 4), "wall_holds": wall <= limit})
    return out


def last_targets() -> list[dict[str, Any]]:
    """The target checks of the last ``run`` that measured the demux rows."""
    return list(_targets)


def run(profile: str, quick: bool = False, progress: Callable[[str], None] | None = None,
        pcap: str | Path | None = None, demux: bool = True) -> list[Result]:
    """Every row on every system that can run it (``demux``: the demux rows too)."""
    def note(name: str) -> None:
        if progress is not None:
            progress(name)

    n = RTT_QUICK if quick else RTT_N
    out: list[Result] = []
    for size in SIZES:
        for link in LINKS:
            note(f"udp_rtt_{size}_{link}")
            out += [udp_rtt(s, link, size, profile, n, pcap) for s in SYSTEMS]
    for size in SIZES:
        for link in LINKS:
            note(f"kernel_echo_rtt_{size}_{link}, ash_rtt_{size}_{link}")
            out.append(udp_rtt("spin", link, size, profile, n, pcap, server="kernel"))
            out.append(udp_rtt("aegis", link, size, profile, n, pcap, server="ash"))
    for link in LINKS:
        note(f"udp_bandwidth_{link}")
        out += [udp_bandwidth(s, link, profile, STREAM_QUICK if quick else STREAM_N, pcap) for s in SYSTEMS]
    for link in LINKS:
        note(f"forward_rtt_{link}")
        out += [forward_rtt(s, link, profile, n, pcap) for s in SYSTEMS]
    if demux:
        rows = demux_suite.run(profile, quick=quick, progress=progress)
        _targets[:] = check_targets({r.benchmark: r for r in rows})
        out += rows
    return out
