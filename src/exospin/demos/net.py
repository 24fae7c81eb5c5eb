"""``exospin demo net``: three kernels on one Ethernet, one UDP echo told three ways.

The story (simulated time; every machine on the chosen profile, one link):

* Three machines share a 10 Mb/s Ethernet: **Aegis** with ExOS (10.0.0.1),
  **SPIN** (10.0.0.2) and the **unix** kernel (10.0.0.3). SPIN's protocol
  graph (Ethernet, IP, UDP as extensions) is attached and its in-kernel
  UDP echo loaded on port 7; unix runs the posix echo server on port 7 as a
  process; on Aegis, ExOS runs a library echo on port 7 and a second
  process binds port 9 and installs an **ASH** on it. Every socket ExOS
  binds is a **DPF filter** in Aegis: the demo prints one filter's atoms
  and the shape of the kernel's merged trie.
* **Act 1**: an ExOS client (apps/udp_exos.py, a posix program) sends three
  16-byte datagrams to SPIN: each is answered from the UDP handler, at
  interrupt level, with no process on SPIN's side.
* **Act 2**: the same client against the unix server: each datagram climbs
  the BSD stack (interrupt, mbufs, IP and UDP input, the socket buffer, a
  wake-up, ``recvfrom``'s copyout) and the echo goes down it again.
* **Act 3**: a unix client (apps/udp_unix.py) sends three datagrams to the
  ExOS library echo (the frame goes through the DPF trie into the
  process's packet ring, the library's UDP answers) and three to the ASH,
  which answers from Aegis' interrupt handler; a last datagram ("bye") the
  ASH passes on to the ring, and the ASH's process reads it and ends.

Every frame is read back from the link's capture (``--pcap FILE`` writes it
as a pcap file); for each echo the account gives the request's and the
reply's times on the wire and the server's turnaround (from the request's
last bit to the reply's first: the server's interrupt, its stack and the
reply's transmit set-up), with each layer's counters.

Interface: ``DEMO`` (a ``demos.Demo``); ``run_net(profile, trace_path,
pcap_path) -> NetReport`` (what ``exospin demo net --pcap`` calls);
``DEMO.render(report, console)``; ``story(profile, trace) -> NetDemo``.

Nothing in it is random (the network's seed draws nothing the story
depends on), so it takes no ``--seed``; its default machine is the
DECstation 5000/125, the exokernel paper's (whose network section ran on
its Ethernet).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from .. import posix
from ..apps import udp_exos, udp_unix
from ..machine import Profile
from ..net import parse
from ..spin import extensions
from ..spin import net as spin_net
from ..systems import Network, network
from .base import Demo, Ending, counters, print_table

AEGIS, SPIN, UNIX = 0, 1, 2
ECHOES = 3  # datagrams per act
SIZE = 16  # bytes of payload (the papers' small-message case)
ECHO_PORT, ASH_PORT = 7, 9

#: The ASH: answer from the kernel by swapping the MACs, the IP addresses and the ports
#: (both checksums are sums of the same fields, so they still hold); "bye" goes to the ring.
ASH_ECHO = '''
def handler(pkt):
    d = pkt.data
    hl = (d[14] & 15) * 4
    u = 14 + hl
    if d[u + 8:u + 11] == b"bye":
        pkt.to_ring()
        return
    pkt.reply(d[6:12] + d[0:6] + d[12:26] + d[30:34] + d[26:30] + d[34:u] + d[u + 2:u + 4] + d[u:u + 2] + d[u + 4:])
'''


@dataclass
class Snapshot:
    """Aegis' DPF while the servers are bound: the filters and the trie."""

    filters: list[str]  # each installed filter, "#fid of owner: atoms"
    shape: list[str]  # DPF.shape()
    ash_filter: list[str]  # the ASH socket's filter, one atom per line
    nodes: int
    ash_id: int


@dataclass(frozen=True)
class Echo:
    """One request and its reply, read off the link's capture (times in µs)."""

    server: str
    request_at: float  # the request's first bit on the wire
    wire_us: float  # its time on the wire
    reply_at: float  # the reply's first bit
    turnaround_us: float  # from the request's last bit to the reply's first

    @property
    def rtt_us(self) -> float:
        return self.reply_at + self.wire_us - self.request_at


@dataclass
class NetDemo:
    net: Network
    snapshot: Snapshot
    pids: dict[str, tuple[int, int]]  # role -> (machine, pid)
    ash_box: list[Any]


def _ash_server(box: list[Any]) -> Any:
    """An ExOS process: bind port 9, install the ASH, wait for what it passes on ("bye")."""
    def ash_server(argv: list[str]) -> int:
        p: Any = posix._p()  # ExOS' own process object: ash_install is ExOS', not posix
        s = posix.socket(posix.AF_INET, posix.SOCK_DGRAM)
        posix.bind(s, ("0.0.0.0", ASH_PORT))
        box.append(p.ash_install(s, ASH_ECHO))
        data, _peer = posix.recvfrom(s, posix.UDP_MAX_PAYLOAD)  # only what the ASH passes on
        box.append(data)
        box.append(list(p.net.ashes_removed))
        posix.close(s)
        return 0
    return ash_server


def _snapshot(system: Any, aid: int) -> Snapshot:
    """Aegis' DPF as it is now (read by the demo between two runs, not charged)."""
    d = system.kernel.net.dpf
    mine = [f for f in d.filters if any(getattr(t, "value", None) == ASH_PORT for t in f.tests)]
    return Snapshot([f"#{f.fid}, owner env {f.owner}: " + " and ".join(map(str, f.tests)) for f in d.filters], d.shape(), [str(t) for t in mine[-1].tests] if mine else [],
                    d.statistics().nodes, aid)


def _bye(argv: list[str]) -> int:
    """A posix client that sends one datagram, "bye", and leaves."""
    fd = posix.socket(posix.AF_INET, posix.SOCK_DGRAM)
    posix.sendto(fd, b"bye", (argv[0], int(argv[1])))
    posix.close(fd)
    return 0


def story(profile: str = "ds5000", trace: bool = False) -> NetDemo:
    net = network(["aegis", "spin", "unix"], link="ethernet", profile=profile, trace=trace)
    a, s, u = net.systems
    spin_net.attach(s)  # SPIN's stack is extensions: the driver, Ether, IP, UDP, sockets
    s.kernel.load(extensions.source("udp_echo"), "udp_echo.py")  # the in-kernel echo, port 7
    box: list[Any] = []
    pids: dict[str, tuple[int, int]] = {}
    # the servers: unix' posix echo, ExOS' library echo, the ExOS process with the ASH
    pids["unix server"] = (UNIX, u.start(udp_unix.server, [str(ECHO_PORT), str(ECHOES)], name="server"))
    pids["exos server"] = (AEGIS, a.start(udp_exos.server, [str(ECHO_PORT), str(ECHOES)], name="server"))
    pids["ash server"] = (AEGIS, a.start(_ash_server(box), [], name="ash_server"))
    net.run()  # every server bound, waiting
    if not box:
        raise RuntimeError(f"demo net: the ASH server did not install its handler: {a.failures()}")
    snap = _snapshot(a, box.pop(0))
    # act 1 and act 2: the same ExOS client against SPIN, then against unix
    for act, ip in (("act 1 client", s.iface.ip), ("act 2 client", u.iface.ip)):
        pids[act] = (AEGIS, a.start(udp_exos.client, [ip, str(ECHO_PORT), str(ECHOES), str(SIZE)], name="client"))
        net.run()
    # act 3: a unix client against ExOS' library echo, then against the ASH
    for act, port in (("act 3 client (library)", ECHO_PORT), ("act 3 client (ASH)", ASH_PORT)):
        pids[act] = (UNIX, u.start(udp_unix.client, [a.iface.ip, str(port), str(ECHOES), str(SIZE)], name="client"))
        net.run()
    pids["bye"] = (UNIX, u.start(_bye, [a.iface.ip, str(ASH_PORT)], name="bye"))
    net.run()
    return NetDemo(net, snap, pids, box)


def echoes(net: Network) -> list[Echo]:
    """Every UDP request to a port 7 or 9 and its reply, in the capture's order."""
    names = {sys.iface.ip: sys.name for sys in net.systems}
    spec = net.link.spec
    out: list[Echo] = []
    pending: dict[tuple[str, int, str, int], tuple[int, int]] = {}
    for at, frame in net.link.captured or []:
        p = parse(frame)
        if p.ip is None or p.udp is None:
            continue
        src, dst = ".".join(map(str, p.ip.src)), ".".join(map(str, p.ip.dst))
        wire = spec.wire_ps(len(frame))
        if p.udp.dport in (ECHO_PORT, ASH_PORT) and p.udp.payload != b"bye":
            pending[(src, p.udp.sport, dst, p.udp.dport)] = (at, wire)
        elif (req := pending.pop((dst, p.udp.dport, src, p.udp.sport), None)) is not None:
            server = names[src] + (" (ASH)" if p.udp.sport == ASH_PORT else "")
            out.append(Echo(server, req[0] / 1e6, req[1] / 1e6, at / 1e6, (at - req[0] - req[1]) / 1e6))
    return out


@dataclass(frozen=True)
class NetReport:
    profile: Profile
    snapshot: Snapshot
    echoes: list[Echo]
    frames: int  # on the wire, in all
    kinds: dict[str, int]  # ARP / UDP / other frames
    statuses: dict[str, int | None]
    layers: dict[str, list[tuple[str, object]]]  # per machine: its stack's counters
    now_us: float
    pcap: Path | None
    end: Ending


def _layers(net: Network) -> dict[str, list[tuple[str, object]]]:
    a, s, u = net.systems
    da = a.kernel.net.statistics()
    dpf = a.kernel.net.dpf.statistics()
    exos = [("NIC interrupts / frames taken", f"{da.interrupts} / {da.rx_frames}"),
            ("DPF: frames into rings / unmatched", f"{da.rx_delivered} / {da.rx_unmatched}"),
            ("DPF: cycles per frame demultiplexed", f"{da.demux_cycles / max(1, da.rx_frames):.1f}"),
            ("DPF: filters installed / compiled trie rebuilds", f"{dpf.inserts} / {dpf.rebuilds}"),
            ("ASH: runs / replies from the kernel / removed", f"{da.ash_runs} / {da.ash_replies} / {da.ash_removed}"),
            ("frames sent (library and ASH)", da.tx_frames)]
    exts = {d.name: d for d in s.kernel.extensions}

    def ext(name: str) -> dict[str, int]:
        d = exts.get(name)
        return dict(next(iter(d.exports.values()))["statistics"]()) if d is not None else {}
    ns = s.net.statistics() if s.net is not None else None
    spin = [("frames the driver took / sent", f"{ns.received} / {ns.transmitted}" if ns else "-")]
    for name in ("ether", "ip", "udp", "udp_echo"):
        st = ext(name)
        spin.append((f"{name}.py (extension)", ", ".join(f"{k} {v}" for k, v in sorted(st.items()) if v) or "-"))
    us = u.kernel.net.statistics()
    unix = [("le: frames in / out", f"{us.if_ipackets} / {us.if_opackets}"),
            ("ip: packets / delivered / sent", f"{us.ips_total} / {us.ips_delivered} / {us.ips_localout}"),
            ("udp: datagrams in / bad / no port", f"{us.udps_ipackets} / {us.udps_badsum + us.udps_badlen} / "
                                                   f"{us.udps_noport}"),
            ("mbufs / clusters in use at the end", f"{us.mbufs} / {us.clusters}")]
    return {"aegis + ExOS (10.0.0.1)": exos, "spin (10.0.0.2)": spin, "unix (10.0.0.3)": unix}


def run_net(profile: str, trace_path: Path | None, pcap_path: Path | None = None) -> NetReport:
    """Tell the story, read every counter, end the run; write the pcap and the trace."""
    d = story(profile, trace=trace_path is not None)
    net = d.net
    statuses = {role: net.systems[m].exit_status(pid) for role, (m, pid) in d.pids.items()}
    frames = list(net.link.captured or [])
    kinds = {"ARP": 0, "UDP": 0, "other": 0}
    for _, f in frames:
        p = parse(f)
        kinds["ARP" if p.arp is not None else "UDP" if p.udp is not None else "other"] += 1
    ech = echoes(net)
    layers = _layers(net)
    now = max(sys.machine.now for sys in net.systems)
    prof = net.systems[0].machine.profile
    ok = all(v == 0 for v in statuses.values()) and len(ech) == 4 * ECHOES and d.ash_box[:1] == [b"bye"]
    why = f"exit statuses {statuses}, {len(ech)} echoes;"
    violations = [f"{sys.name}: {v}" for sys in net.systems for v in sys.kernel.check_invariants()]
    leaked: dict[str, int] = {}
    for sys, held in zip(net.systems, net.shutdown(), strict=True):
        for key, v in held.items():
            if v:
                leaked[f"{sys.name} {key}"] = v
    if pcap_path is not None:
        net.write_pcap(pcap_path)
    if trace_path is not None:
        Path(trace_path).write_text(merged_trace(net))
    end = Ending(ok, why, violations, leaked, "frame, filter, ring, handler, socket and mbuf", trace_path)
    return NetReport(prof, d.snapshot, ech, len(frames), kinds, statuses, layers, prof.us(now), pcap_path, end)


def merged_trace(net: Network) -> str:
    """One Chrome/Perfetto trace of every machine: machine i is process i + 1 (its own
    tracks: environments, processes or strands, and its NIC with its interrupts)."""
    events: list[dict[str, Any]] = []
    for i, sys in enumerate(net.systems):
        tracer = sys.tracer
        if tracer is None:
            continue
        for ev in tracer.events:
            events.append({**ev, "pid": i + 1})
    return json.dumps({"traceEvents": events, "displayTimeUnit": "ns"}, sort_keys=True, separators=(",", ":"))


def render(r: NetReport, out: Console) -> None:
    p, snap = r.profile, r.snapshot
    out.print(f"[bold]exospin demo net[/bold]: Aegis + ExOS, SPIN and unix on one 10 Mb/s Ethernet, "
              f"each on a {p.description}")
    out.print("machine 0 aegis 10.0.0.1 (ExOS: a library echo on port 7, an ASH on port 9); machine 1 spin "
              "10.0.0.2 (the in-kernel echo on port 7); machine 2 unix 10.0.0.3 (a posix echo server on port 7)\n")
    out.print("[bold]DPF[/bold]: every socket ExOS binds is a filter in Aegis, checked once when installed "
              "(disjoint from every other environment's). The ASH socket's filter, a conjunction of atoms:")
    for atom in snap.ash_filter:
        out.print(f"    {atom}")
    out.print(f"The {len(snap.filters)} filters installed, merged into one trie of {snap.nodes} nodes "
              "(each test made once per frame, however many filters share it):")
    for f in snap.filters:
        out.print(f"    {f}")
    for line in snap.shape:
        out.print(f"    {line}", soft_wrap=True)
    out.print(f"[bold]ASH[/bold] {snap.ash_id} installed on port {ASH_PORT}: verified, run by the kernel in the "
              "interrupt on every packet its filter accepts; it answers with pkt.reply(), and passes \"bye\" "
              "to the ring.\n")
    out.print("[bold]act 1[/bold]: an ExOS client sends three 16-byte datagrams to SPIN's in-kernel echo; "
              "[bold]act 2[/bold]: the same client to the unix server; [bold]act 3[/bold]: a unix client to "
              "ExOS' library echo (port 7), then to the ASH (port 9). Each echo off the wire's capture, in µs:")
    t = Table(header_style="bold")
    for col in ("act", "server", "request sent", "wire", "turnaround", "round trip"):
        t.add_column(col, justify="left" if col in ("act", "server") else "right")
    acts = {"spin": "1", "unix": "2", "aegis": "3", "aegis (ASH)": "3"}
    names = {"spin": "SPIN echo (kernel)", "unix": "unix (process)", "aegis": "ExOS (library)",
             "aegis (ASH)": "ExOS ASH (kernel)"}
    for e in r.echoes:
        t.add_row(acts.get(e.server, "?"), names.get(e.server, e.server), f"{e.request_at:.1f}", f"{e.wire_us:.1f}",
                  f"{e.turnaround_us:.1f}", f"{e.rtt_us:.1f}")
    print_table(out, t)
    out.print("(turnaround: from the request's last bit to the reply's first: the server's NIC interrupt, "
              "its stack, and the reply's transmit set-up; round trip: the request's first bit to the reply's "
              "last)\n")
    for name, rows in r.layers.items():
        print_table(out, counters(f"{name}: the layers' counters", rows))
    out.print(f"{r.frames} frames on the wire ({r.kinds['ARP']} ARP, {r.kinds['UDP']} UDP, {r.kinds['other']} other); "
              f"the last machine stopped at {r.now_us:.1f} µs")
    bad = {k: v for k, v in r.statuses.items() if v != 0}
    out.print("every process exited with status 0" if not bad else f"[red]exit statuses: {bad}[/red]")
    if r.pcap is not None:
        out.print(f"Capture written to {r.pcap}: tcpdump -r {r.pcap}, or open it in Wireshark")
    _render_end(r.end, out)


def _render_end(end: Ending, out: Console) -> None:
    if end.clean:
        out.print(f"All invariants hold on every machine; every {end.held} came back to its kernel.")
    else:
        out.print(f"[red]problem: {end.why} invariants violated: {end.violations}; leaked: {end.leaked}[/red]")
    if end.trace is not None:
        out.print(f"Trace written to {end.trace}: one process per machine; open it in https://ui.perfetto.dev")


def _run(seed: int, profile: str, trace_path: Path | None) -> NetReport:
    return run_net(profile, trace_path)


DEMO: Demo[NetReport] = Demo("net", "ds5000", False, _run, render, run_net)
