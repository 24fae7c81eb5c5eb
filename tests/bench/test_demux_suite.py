"""The demux suite (bench/demux_suite.py): its rows, its check, and its ratios in simulated cycles."""

from __future__ import annotations

import pytest

from exospin.bench import SUITES, TARGETS, BenchmarkError, demux_suite, run_suite
from exospin.bench.demux_suite import FILTERS, _Row


def sim(kind: str, filters: int, profile: str, n: int = 40) -> float:
    """Mean simulated cycles per frame of a row (exact, computed before any timing)."""
    r = _Row(kind, filters, profile, n)
    return r.cum[-1] / n


@pytest.mark.parametrize("profile", ["ds5000", "alpha3000"])
def test_are_the_targets_met_in_simulated_cycles(profile):
    # the same ratios the wall-clock targets ask for, exact here
    dpf10, dpf1000 = sim("dpf", 10, profile), sim("dpf", 1000, profile)
    assert sim("interp", 10, profile) >= 10 * dpf10
    assert dpf1000 <= 1.5 * dpf10
    assert dpf1000 == sim("dpf", 100, profile) == dpf10  # one hash lookup, whatever N
    assert sim("bpf", 10, profile) > sim("interp", 10, profile) > sim("interp", 1, profile)


def test_does_the_interpreted_demux_grow_with_the_filters_tried():
    # every endpoint in turn up to 20, then 20 spread evenly: the interpreter tries about
    # (N + 1) / 2 filters on average
    one, ten = sim("interp", 1, "ds5000", 20), sim("interp", 10, "ds5000", 20)
    per_filter = (ten - one) / 4.5  # 5.5 filters tried on average against 1
    assert per_filter > 0
    # endpoints 2, 7, 12, ... 97: 50.5 filters tried on average
    assert sim("interp", 100, "ds5000", 20) == pytest.approx(one + 49.5 * per_filter)
    # the same frames whatever the number of iterations: --quick's cycles are the full run's
    assert sim("interp", 100, "ds5000", 60) == sim("interp", 100, "ds5000", 20)
    with pytest.raises(ValueError, match="not a multiple of the 20 endpoints"):
        _Row("interp", 100, "ds5000", 30)


def test_does_a_frame_that_reaches_the_wrong_endpoint_fail_the_row(monkeypatch):
    real = demux_suite._filters
    monkeypatch.setattr(demux_suite, "_filters", lambda i: real((i + 1) % 3))
    with pytest.raises(BenchmarkError, match="frame for endpoint 0 went to 2"):
        _Row("dpf", 3, "ds5000", 3)


def test_does_the_suite_report_every_row_with_its_targets(monkeypatch):
    assert SUITES["demux"][0] == "aegis" and TARGETS["demux"] is demux_suite.TARGETS
    monkeypatch.setattr(demux_suite, "QUICK_FRAMES", 200)  # the shape, not the speed
    doc = run_suite("demux", "ds5000", quick=True)
    names = [r["benchmark"] for r in doc["results"]]
    assert names == [f"demux_{k}_n{f}" for k in ("dpf", "interp", "bpf") for f in FILTERS]
    for row, (base, limit) in demux_suite.TARGETS.items():
        assert row in names and base in names and 0 < limit
    rows = {r["benchmark"]: r for r in doc["results"]}
    assert rows["demux_dpf_n10"]["sim_cycles"] == sim("dpf", 10, "ds5000")
    assert all(r["wall_ns"] > 0 and r["iterations"] > 0 for r in doc["results"])
