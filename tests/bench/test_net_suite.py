"""bench net: do its rows measure the paths they name, deterministically, and write their captures?

Small sizes throughout (a round trip or two per repeat); the full rows are `exospin bench net`.
"""

from __future__ import annotations

import json
from pathlib import Path

import dpkt
import pytest

from contract_schemas import validate
from exospin.bench import SUITES, net_suite
from exospin.bench.report import reproduce as rp
from exospin.cli import main
from exospin.net import parse


@pytest.mark.parametrize("system", ["aegis", "spin", "unix"])
def test_is_a_udp_round_trip_the_same_on_every_run(system: str) -> None:
    a = net_suite.udp_rtt(system, "ethernet", 16, "ds5000", 2)
    b = net_suite.udp_rtt(system, "ethernet", 16, "ds5000", 2)
    assert a.benchmark == "udp_rtt_16_ethernet" and a.system == system
    assert (a.sim_cycles, a.sim_us) == (b.sim_cycles, b.sim_us) and a.sim_us > 0
    # a 16-byte datagram each way: at least two minimum frames on a 10 Mb/s wire (57.6 µs each)
    assert a.sim_us > 2 * 57.6


def test_do_the_in_kernel_answers_beat_the_posix_echo_on_their_own_systems() -> None:
    ash = net_suite.udp_rtt("aegis", "atm", 16, "ds5000", 2, server="ash")
    exos = net_suite.udp_rtt("aegis", "atm", 16, "ds5000", 2)
    kernel = net_suite.udp_rtt("spin", "atm", 16, "ds5000", 2, server="kernel")
    spin = net_suite.udp_rtt("spin", "atm", 16, "ds5000", 2)
    assert ash.benchmark == "ash_rtt_16_atm" and kernel.benchmark == "kernel_echo_rtt_16_atm"
    assert ash.sim_us < exos.sim_us and kernel.sim_us < spin.sim_us


def test_is_a_large_datagram_slower_than_a_small_one_and_atm_faster_than_ethernet() -> None:
    small = net_suite.udp_rtt("unix", "ethernet", 16, "ds5000", 1)
    large = net_suite.udp_rtt("unix", "ethernet", 1472, "ds5000", 1)
    atm = net_suite.udp_rtt("unix", "atm", 1472, "ds5000", 1)
    # 1,472 bytes each way: 1,526 bytes of frame at 10 Mb/s is 1.22 ms on the wire alone
    assert large.sim_us > 2 * 1220 > small.sim_us and atm.sim_us < large.sim_us


@pytest.mark.parametrize("link, rate", [("ethernet", 10.0), ("atm", 149.76)])
def test_is_the_bandwidth_achieved_below_the_links_rate(link: str, rate: float) -> None:
    r = net_suite.udp_bandwidth("unix", link, "ds5000", 8)
    assert r.mbps is not None and 0 < r.mbps < rate and r.iterations == 8
    assert r.mbps == pytest.approx(net_suite.STREAM_SIZE * 8 / r.sim_us)


def test_does_the_forwarder_relay_in_spins_kernel_and_through_a_process_elsewhere() -> None:
    spin = net_suite.forward_rtt("spin", "atm", "ds5000", 1)
    unix = net_suite.forward_rtt("unix", "atm", "ds5000", 1)
    direct = net_suite.udp_rtt("unix", "atm", 16, "ds5000", 1)
    assert spin.benchmark == unix.benchmark == "forward_rtt_atm"
    assert unix.sim_us > direct.sim_us  # two more hops and a process on the way
    assert spin.sim_us < unix.sim_us  # no process on SPIN's forwarder


def test_does_a_rows_capture_hold_every_datagram_it_timed(tmp_path: Path) -> None:
    n = 2
    net_suite.udp_rtt("aegis", "ethernet", 16, "ds5000", n, pcap=tmp_path / "run.pcap")
    path = tmp_path / "run.udp_rtt_16_ethernet.aegis.pcap"
    with path.open("rb") as f:  # an independent reader: dpkt's
        reader = dpkt.pcap.Reader(f)
        assert reader.datalink() == dpkt.pcap.DLT_EN10MB
        frames = [bytes(buf) for _, buf in reader]
    udp = [p.udp for p in map(parse, frames) if p.udp is not None]
    # warm-up, Timer's warm-up (max(1, n // 10)), three repeats of n, BYE: each there and back
    echoes = net_suite.WARM + 1 + 3 * n + 1
    assert len(udp) == 2 * echoes and all(u.checksum_ok for u in udp)
    assert sum(u.payload == net_suite.message(16) for u in udp) == 2 * (echoes - 1)


def test_does_bench_net_write_schema_valid_json_with_its_targets_and_captures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the real command on a cut-down suite: one system, one link, one size
    monkeypatch.setattr(net_suite, "SYSTEMS", ("unix",))
    monkeypatch.setattr(net_suite, "LINKS", ("atm",))
    monkeypatch.setattr(net_suite, "SIZES", (16,))
    monkeypatch.setattr(net_suite, "RTT_QUICK", 1)
    monkeypatch.setattr(net_suite, "STREAM_QUICK", 4)
    assert main(["bench", "net", "--quick", "--json", "--pcap", str(tmp_path / "n.pcap")]) == 0
    doc = json.loads(capsys.readouterr().out)
    validate(doc, "bench")
    names = [(r["benchmark"], r["system"]) for r in doc["results"]]
    assert names[:5] == [("udp_rtt_16_atm", "unix"), ("kernel_echo_rtt_16_atm", "spin"),
                         ("ash_rtt_16_atm", "aegis"), ("udp_bandwidth_atm", "unix"), ("forward_rtt_atm", "unix")]
    assert {r["benchmark"] for r in doc["results"]} >= {f"demux_{k}_n{n}" for k in ("dpf", "interp", "bpf")
                                                         for n in (1, 10, 100, 1000)}
    targets = {t["benchmark"]: t for t in doc["targets"]}
    assert set(targets) == {"demux_dpf_n10", "demux_dpf_n1000"}
    assert targets["demux_dpf_n10"]["sim_holds"] and targets["demux_dpf_n1000"]["sim_ratio"] == 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"n.{b}.{s}.pcap" for b, s in names[:5])


def test_is_pcap_refused_for_a_suite_without_a_network(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "aegis", "--pcap", str(tmp_path / "x.pcap")]) == 2
    err = capsys.readouterr()
    assert err.out == "" and "--pcap: suite aegis runs no network" in err.err
    assert list(tmp_path.iterdir()) == []


def test_does_reproduce_give_the_network_rows_their_tables_and_published_figures() -> None:
    assert "net" in SUITES
    doc = {"exospin": "0.1.0", "quick": True, "profiles": ["alpha3000"], "failed": [], "runs": [{
        "exospin": "0.1.0", "suite": "net", "profile": "alpha3000", "python_call_ns": 50.0, "results": [
            {"benchmark": "udp_rtt_16_ethernet", "system": "unix", "sim_cycles": 100.0, "sim_us": 0.75,
             "wall_ns": 9.0, "iterations": 1, "python_call_ns": 50.0},
            {"benchmark": "udp_bandwidth_atm", "system": "spin", "sim_cycles": 100.0, "sim_us": 0.75,
             "wall_ns": 9.0, "iterations": 1, "python_call_ns": 50.0, "mbps": 30.5}]}]}
    validate(doc, "reproduce")
    tables = {t.group.key: t for t in rp.build_tables(doc)}
    assert tables["net_rtt"].published == {"udp_rtt_16_ethernet": "OSF/1 789 µs"}
    assert tables["net_bandwidth"].published_values["udp_bandwidth_atm"] == (("unix", 27.9), ("spin", 33.0))
    md = rp.markdown_table(tables["net_bandwidth"])
    assert "30.5 Mb/s" in md and "OSF/1 27.9 Mb/s; SPIN 33 Mb/s" in md
