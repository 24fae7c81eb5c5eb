"""The decomposition of reproduce --baselines (issue 17, item 6): does it add up, is it schema-valid?"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from contract_schemas import validate
from exospin.bench import BASELINE_SUITES, SUITES, Result
from exospin.bench.report import decompose
from exospin.bench.report import reproduce as rp


def _suite(system: str, us: dict[str, float]) -> Callable[..., list[Result]]:
    def run(profile: str, quick: bool = False, progress: Callable[[str], None] | None = None) -> list[Result]:
        scale = 1.0 if profile == "ds5000" else 0.5
        return [Result(b, system, v * scale * 25, v * scale, 400.0, 10, 40.0) for b, v in us.items()]
    return run


ROWS = {"null_syscall": 1.0, "vm_trap": 2.0, "fork_join_user": 3.0}


@pytest.fixture
def tiny_suites() -> Iterator[None]:
    """Tiny stand-ins for every suite and both baselines, restored afterwards."""
    saved, saved_b = dict(SUITES), dict(BASELINE_SUITES)
    SUITES.clear()
    SUITES.update({
        "aegis": ("aegis", _suite("aegis", {"null_syscall": 0.4, "vm_trap": 0.5})),
        "spin": ("spin", _suite("spin", {"null_syscall": 0.3, "vm_trap": 0.6, "fork_join_user_layered": 0.2})),
        "unix": ("unix", _suite("unix", ROWS)),
    })
    BASELINE_SUITES.clear()
    BASELINE_SUITES.update({
        "ultrix": ("ultrix", _suite("ultrix", {k: 3 * v for k, v in ROWS.items()})),
        "osf1": ("osf1", _suite("osf1", {k: 5 * v for k, v in ROWS.items()})),
    })
    yield
    SUITES.clear()
    SUITES.update(saved)
    BASELINE_SUITES.clear()
    BASELINE_SUITES.update(saved_b)


def test_does_reproduce_leave_the_baselines_out_when_told(tiny_suites: None) -> None:
    doc = rp.run_all(quick=True, baselines=False)
    assert "decomposition" not in doc
    assert {r["suite"] for r in doc["runs"]} == {"aegis", "spin", "unix"}
    validate(doc, "reproduce")


def test_does_each_ratio_split_exactly_into_architecture_times_implementation(tiny_suites: None) -> None:
    doc = rp.run_all(quick=True, baselines=True)
    validate(doc, "reproduce")
    # each baseline ran on its own paper's machine only
    assert sorted((r["suite"], r["profile"]) for r in doc["runs"] if r["suite"] in ("ultrix", "osf1")) == [
        ("osf1", "alpha3000"), ("ultrix", "ds5000")]
    rows = doc["decomposition"]
    got = {(r["profile"], r["ext_benchmark"]): r for r in rows}
    r = got[("ds5000", "null_syscall")]
    assert (r["ext_us"], r["lean_us"], r["faithful_us"]) == (0.4, 1.0, 3.0)
    assert r["architecture"] == pytest.approx(0.4) and r["implementation"] == pytest.approx(1 / 3)
    assert r["paper_baseline_us"] == 21.3 and r["paper_source"] == "issue 17"
    for r in rows:
        if r["ratio"] is not None:
            assert r["ratio"] == pytest.approx(r["architecture"] * r["implementation"])
            share = math.log(r["architecture"]) / math.log(r["ratio"])
            assert r["architecture_share"] == pytest.approx(share)
    # a row the extensible system cannot run keeps the baselines' figures and no ratio
    layered, integrated = got[("alpha3000", "fork_join_user_layered")], got[("alpha3000", "fork_join_user_integrated")]
    assert layered["ext_us"] == 0.1 and layered["ratio"] == pytest.approx(0.1 / 7.5)
    assert integrated["ext_us"] is None and integrated["ratio"] is None and integrated["faithful_us"] == 7.5
    # rows whose lean or faithful figure is missing are left out, not zero
    assert ("ds5000", "ipc_pipe") not in got
    text = rp.markdown_report(doc, rp.build_tables(doc))
    assert "## The decomposition: architecture and baseline" in text and "ultrix" in text


def test_are_the_paper_figures_only_ever_data_with_a_provenance() -> None:
    for pr in decompose.PAPER_ROWS:
        has = pr.paper_ext_us is not None or pr.paper_baseline_us is not None
        assert (not has) or pr.source.startswith(("issue 17", "recalled")), pr
        assert pr.profile in decompose.BASELINE_OF


def test_does_out_write_one_decomposition_figure_per_paper_and_link_it(tiny_suites: None, tmp_path: Path) -> None:
    doc = rp.run_all(quick=True, baselines=True)
    written = rp.write_outputs(doc, tmp_path)
    assert {"decomposition-ds5000.png", "decomposition-alpha3000.png"} <= set(written)
    assert (tmp_path / "decomposition-ds5000.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (tmp_path / "report.md").read_text()
    assert "![decomposition on ds5000](decomposition-ds5000.png)" in report
    plain = rp.run_all(quick=True, baselines=False)
    (tmp_path / "plain").mkdir()
    assert not any(n.startswith("decomposition") for n in rp.write_outputs(plain, tmp_path / "plain"))


def test_does_the_default_reproduction_carry_the_decomposition_and_does_it_add_up(tiny_suites: None) -> None:
    """``reproduce`` runs the faithful baselines by default (whenever the lean unix runs):
    its document has the decomposition, every ratio the product of its two parts."""
    doc = rp.run_all(quick=True)
    validate(doc, "reproduce")
    assert {r["suite"] for r in doc["runs"]} == {"aegis", "spin", "unix", "ultrix", "osf1"}
    rows = doc["decomposition"]
    assert rows and {r["profile"] for r in rows} == {"ds5000", "alpha3000"}
    for r in rows:
        assert r["implementation"] == pytest.approx(r["lean_us"] / r["faithful_us"])
        if r["ratio"] is not None:
            assert r["ratio"] == pytest.approx(r["architecture"] * r["implementation"])
            assert r["ext_us"] / r["faithful_us"] == pytest.approx(r["ratio"])
    # without the lean unix there is nothing to stand beside: no baselines run
    assert "decomposition" not in rp.run_all(quick=True, suites=["aegis"])


def test_does_the_cli_run_the_baselines_by_default_and_accept_both_spellings() -> None:
    from exospin.cli import _parser
    p = _parser()
    assert p.parse_args(["reproduce"]).baselines is True
    assert p.parse_args(["reproduce", "--baselines"]).baselines is True
    assert p.parse_args(["reproduce", "--no-baselines"]).baselines is False
