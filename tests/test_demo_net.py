"""``exospin demo net``: is the story deterministic, does it say what happened, and do
its capture and its trace open in other tools' readers?"""

from __future__ import annotations

import io
import json
from pathlib import Path

import dpkt
import pytest
from rich.console import Console

from exospin.cli import main
from exospin.demos import net as demo_net


@pytest.fixture(scope="module")
def told(tmp_path_factory: pytest.TempPathFactory) -> tuple[demo_net.NetReport, str, Path, Path]:
    """One run with a pcap and a trace, rendered at 80 columns."""
    d = tmp_path_factory.mktemp("net")
    pcap, trace = d / "net.pcap", d / "net.json"
    r = demo_net.run_net("ds5000", trace, pcap)
    buf = io.StringIO()
    demo_net.render(r, Console(file=buf, width=80, highlight=False))
    return r, buf.getvalue(), pcap, trace


def test_does_the_net_demo_tell_the_same_story_twice(told: tuple[demo_net.NetReport, str, Path, Path]) -> None:
    r, text, _, _ = told
    again = demo_net.run_net("ds5000", None)  # no pcap, no trace: the story must not depend on them
    buf = io.StringIO()
    demo_net.render(again, Console(file=buf, width=80, highlight=False))
    story = "every process exited with status 0"  # then the files written, and the ending
    assert story in text and text.split(story)[0] == buf.getvalue().split(story)[0]
    assert again.echoes == r.echoes


def test_does_the_story_say_what_each_kernel_did(told: tuple[demo_net.NetReport, str, Path, Path]) -> None:
    r, text, _, _ = told
    assert r.end.clean, r.end
    assert set(r.statuses.values()) == {0}
    by = {s: [e for e in r.echoes if e.server == s] for s in ("spin", "unix", "aegis", "aegis (ASH)")}
    assert all(len(v) == demo_net.ECHOES for v in by.values()), by
    worst = {s: max(e.turnaround_us for e in v) for s, v in by.items()}
    best = {s: min(e.turnaround_us for e in v) for s, v in by.items()}
    # the ASH answers from the interrupt, sooner than ExOS' library through the ring; SPIN's
    # in-kernel echo answers sooner than the unix process behind its socket
    assert worst["aegis (ASH)"] < best["aegis"]
    assert worst["spin"] < best["unix"]
    # the filter shown is the ASH socket's: IPv4, UDP, our address, no fragment, port 9
    snap = r.snapshot
    assert snap.ash_filter[0] == "[12:2] == 0x800" and snap.ash_filter[-1] == "[16:2] == 0x9"
    assert len(snap.filters) == 3  # ARP, the library echo's port 7, the ASH's port 9
    # merged: the UDP prefix is tested once, and the two ports branch under it
    assert sum(1 for ln in snap.shape if ln.strip() == "[23:1] == 0x11") == 1
    ports = [ln for ln in snap.shape if ln.strip() in ("[16:2] == 0x9", "[16:2] == 0x7")]
    assert len(ports) == 2 and len({len(ln) - len(ln.lstrip()) for ln in ports}) == 1
    aegis = dict(r.layers["aegis + ExOS (10.0.0.1)"])
    assert aegis["ASH: runs / replies from the kernel / removed"] == "4 / 3 / 0"  # three echoes and "bye"
    for fact in ("act 1: an ExOS client sends three 16-byte datagrams to SPIN's in-kernel echo",
                 "ExOS ASH (kernel)", "udp_echo.py (extension)", "echoed 3",
                 "one trie", "ASH 1 installed on port 9", "All invariants hold on every machine"):
        assert fact in " ".join(text.split()), fact


def test_does_an_independent_reader_find_every_frame_in_the_pcap(
        told: tuple[demo_net.NetReport, str, Path, Path]) -> None:
    r, _, pcap, _ = told
    with pcap.open("rb") as f:
        records = list(dpkt.pcap.Reader(f))
    assert len(records) == r.frames
    times = [t for t, _ in records]
    assert times == sorted(times)
    udp = []
    for _, raw in records:
        eth = dpkt.ethernet.Ethernet(raw)
        if isinstance(eth.data, dpkt.ip.IP) and isinstance(eth.data.data, dpkt.udp.UDP):
            udp.append(eth.data.data)
    echoed = [u for u in udp if u.sport in (7, 9)]
    assert len(echoed) == 4 * demo_net.ECHOES and all(len(u.data) == demo_net.SIZE for u in echoed)
    assert sum(1 for u in udp if u.data == b"bye") == 1


def test_does_the_trace_show_each_machines_nic_and_interrupts(
        told: tuple[demo_net.NetReport, str, Path, Path]) -> None:
    _, _, _, trace = told
    events = json.loads(trace.read_text())["traceEvents"]
    names = {e["pid"]: e["args"]["name"] for e in events if e["name"] == "process_name"}
    assert sorted(names) == [1, 2, 3] and [n.split()[1] for n in (names[1], names[2], names[3])] == \
        ["aegis", "spin", "unix"]
    for pid in (1, 2, 3):
        nic = {e["tid"] for e in events if e["pid"] == pid and e["name"] == "thread_name"
               and e["args"]["name"].startswith("nic0")}
        assert len(nic) == 1, pid
        mine = [e for e in events if e["pid"] == pid and e.get("tid") in nic]
        assert any(e["name"] == "interrupt" and e["ph"] == "i" for e in mine), pid
        assert any(e["name"] == "tx" and e["ph"] == "X" for e in mine), pid
        assert any(e["name"] == "rx" for e in mine), pid


def test_is_pcap_on_the_command_line_written_and_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sub" / "run.pcap"
    assert main(["demo", "net", "--pcap", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Capture written to" in out and path.stat().st_size > 24
    with path.open("rb") as f:
        assert dpkt.pcap.Reader(f).datalink() == dpkt.pcap.DLT_EN10MB
