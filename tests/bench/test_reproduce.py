"""``exospin reproduce``: are the papers' tables, the report, the plots and the JSON right?

Most questions are asked of small synthetic result documents (fast, and they
can hold a ``unix`` row before the baseline exists); one runs a real suite,
the smallest, under one profile; the command-line ones run fake suites.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from exospin import __version__
from exospin.bench import SUITES, BenchmarkError, Result
from exospin.bench.report import reproduce as rp
from exospin.bench.report.plots import plot_table
from exospin.cli import main


def res(benchmark: str, system: str, sim_us: float, wall_ns: float = 500.0, call: float = 50.0) -> dict[str, Any]:
    return {"benchmark": benchmark, "system": system, "sim_cycles": sim_us * 25, "sim_us": sim_us,
            "wall_ns": wall_ns, "iterations": 100, "python_call_ns": call}


def run_doc(suite: str, profile: str, *results: dict[str, Any]) -> dict[str, Any]:
    return {"exospin": __version__, "suite": suite, "profile": profile, "python_call_ns": 50.0,
            "results": list(results)}


def synthetic() -> dict[str, Any]:
    """Aegis, SPIN and a unix baseline on both profiles; one row no table claims; a newcomer system."""
    runs = []
    for profile in ("ds5000", "alpha3000"):
        runs += [
            run_doc("aegis", profile, res("null_syscall", "aegis", 2.0), res("exc_overflow", "aegis", 4.0)),
            run_doc("spin", profile, res("in_kernel_call", "spin", 0.1), res("dispatch_h1_a0", "spin", 0.2)),
            run_doc("unix", profile, res("null_syscall", "unix", 20.0), res("exc_overflow", "unix", 100.0),
                    res("frobnicate", "unix", 7.0)),
            run_doc("plan9", profile, res("null_syscall", "plan9", 10.0)),
        ]
    return rp.document(runs, [], quick=True)


def table(tables: list[rp.ResultTable], profile: str, key: str) -> rp.ResultTable:
    return next(t for t in tables if t.profile == profile and t.group.key == key)


# ------------------------------------------------------------------ tables


def test_are_rows_benchmarks_and_columns_the_systems_that_ran_them() -> None:
    t = table(rp.build_tables(synthetic()), "ds5000", "primitives")
    assert [r.benchmark for r in t.rows] == ["null_syscall", "exc_overflow"]
    assert t.systems == ("aegis", "unix", "plan9")  # known systems in the papers' order, newcomers after


def test_is_each_time_given_as_a_ratio_to_the_unix_baseline() -> None:
    t = table(rp.build_tables(synthetic()), "ds5000", "primitives")
    row = t.rows[0]
    assert row.ratio("aegis") == pytest.approx(0.1)
    assert row.ratio("unix") is None  # the baseline itself has no ratio
    assert rp.sim_text(row, "aegis") == "2 (0.1×)" and rp.sim_text(row, "unix") == "20"


def test_is_a_benchmark_a_system_cannot_run_absent_never_zero() -> None:
    t = table(rp.build_tables(synthetic()), "ds5000", "primitives")
    exc = t.rows[1]
    assert "plan9" not in exc.cells
    assert rp.sim_text(exc, "plan9") == rp.MISSING and rp.wall_text(exc, "plan9") == rp.MISSING
    md = rp.markdown_table(t)
    line = next(ln for ln in md.splitlines() if "`exc_overflow`" in ln)
    assert line.count(rp.MISSING) == 2 and "| 0 |" not in line


def test_is_there_no_ratio_where_the_baseline_has_no_row() -> None:
    t = table(rp.build_tables(synthetic()), "alpha3000", "dispatch")
    assert t.systems == ("spin",)
    assert rp.sim_text(t.rows[0], "spin") == "0.2"
    assert "no ratio" in rp.caption(t)


def test_does_a_benchmark_no_table_claims_land_in_other() -> None:
    tables = rp.build_tables(synthetic())
    other = table(tables, "ds5000", "other")
    assert [r.benchmark for r in other.rows] == ["frobnicate"]
    shown = {r.benchmark for t in tables for r in t.rows}
    every = {r["benchmark"] for run in synthetic()["runs"] for r in run["results"]}
    assert shown == every  # nothing dropped


def test_does_null_syscall_sit_in_both_papers_tables() -> None:
    tables = rp.build_tables(synthetic())
    calls = table(tables, "alpha3000", "calls")
    assert [r.benchmark for r in calls.rows] == ["null_syscall", "in_kernel_call"]
    assert calls.systems == ("aegis", "spin", "unix", "plan9")


def test_are_tables_made_per_profile_in_the_documents_order() -> None:
    profiles = [t.profile for t in rp.build_tables(synthetic())]
    assert profiles.index("alpha3000") > max(i for i, p in enumerate(profiles) if p == "ds5000")


def test_is_wall_clock_time_also_a_multiple_of_a_plain_call() -> None:
    t = table(rp.build_tables(synthetic()), "ds5000", "primitives")
    assert rp.wall_text(t.rows[0], "aegis") == "500 ns (10.0× call)"


def test_what_if_two_suites_report_the_same_row_for_the_same_system() -> None:
    doc = synthetic()
    doc["runs"].append(run_doc("again", "ds5000", res("null_syscall", "aegis", 99.0)))
    _, cells, notes = rp.merge(doc, "ds5000")
    assert cells["null_syscall"]["aegis"].sim_us == 2.0  # the first is kept ...
    assert notes and "again" in notes[0]  # ... and the report says so
    assert "again" in rp.markdown_report(doc, rp.build_tables(doc))


# ------------------------------------------------------------------ report


def audited() -> dict[str, Any]:
    """ds5000 only: unix charges more than aegis on ipc_pipe but runs less Python; on null_syscall
    the order holds both ways; exc_overflow has one system audited; in_kernel_call none."""
    def py(r: dict[str, Any], cycles: float) -> dict[str, Any]:
        return r | {"py_cycles": cycles}
    runs = [run_doc("aegis", "ds5000", py(res("ipc_pipe", "aegis", 4.0), 900.0), py(res("null_syscall", "aegis", 1.0), 5.0),
                    py(res("exc_overflow", "aegis", 1.0), 7.0)),
            run_doc("unix", "ds5000", py(res("ipc_pipe", "unix", 8.0), 100.0), py(res("null_syscall", "unix", 4.0), 50.0),
                    res("exc_overflow", "unix", 10.0)),
            run_doc("spin", "ds5000", res("in_kernel_call", "spin", 0.1))]
    return rp.document(runs, [], quick=True)


def test_does_the_audit_compare_the_systems_charged_and_with_their_python() -> None:
    systems, rows = rp.audit_rows(audited(), "ds5000")
    assert systems == ["aegis", "unix"]
    assert [r.benchmark for r in rows] == ["ipc_pipe", "null_syscall"]  # rows two systems audited
    pipe, null = rows
    assert pipe.cycles == {"aegis": (100.0, 900.0), "unix": (200.0, 100.0)}
    assert pipe.order(False) == ["aegis", "unix"] and pipe.order(True) == ["unix", "aegis"]
    assert pipe.same_order is False and null.same_order is True
    md = "\n".join(rp.markdown_audit(audited(), "ds5000"))
    assert "| `ipc_pipe` | 100 + 900 = 1,000 | 200 + 100 = 300 | no: unix < aegis |" in md
    assert "| `null_syscall` | 25 + 5 = 30 | 100 + 50 = 150 | yes |" in md
    assert rp.markdown_audit(synthetic(), "ds5000") == []  # not audited: no section
    assert "The systems' own Python on ds5000" in rp.markdown_report(audited(), rp.build_tables(audited()))


def test_does_the_report_differ_only_in_wall_clock_figures_between_runs() -> None:
    a = synthetic()
    b = copy.deepcopy(a)
    for run in b["runs"]:
        run["python_call_ns"] = 61.0
        for r in run["results"]:
            r["wall_ns"], r["python_call_ns"] = 777.0, 61.0
    ra, rb = (rp.markdown_report(d, rp.build_tables(d)) for d in (a, b))
    assert ra == rp.markdown_report(a, rp.build_tables(a))  # deterministic
    assert not re.search(r"\b\d{4}-\d{2}-\d{2}\b", ra)  # no date
    strip = re.compile(r"[\d,.]+ ns( \([\d,.]+× call\))?")
    assert strip.sub("WALL", ra) == strip.sub("WALL", rb)


def test_does_the_report_name_the_version_profiles_calls_and_failures() -> None:
    doc = synthetic()
    doc["failed"].append({"suite": "broken", "profile": "ds5000", "error": "broken: did not measure the path"})
    md = rp.markdown_report(doc, rp.build_tables(doc), {"reproduce-ds5000-primitives": "p.png"})
    assert f"exospin {__version__}" in md and "--quick" in md
    assert "DECstation 5000/125" in md and "DEC 3000/400" in md
    assert "| aegis | ds5000 | aegis | 2 | 50.0 ns |" in md
    assert "`broken` on `ds5000`: broken: did not measure the path" in md
    assert "![Kernel primitives on ds5000](p.png)" in md


def test_do_the_outputs_hold_the_json_the_plots_and_a_report_linking_them(tmp_path: Path) -> None:
    doc = synthetic()
    written = rp.write_outputs(doc, tmp_path)
    assert json.loads((tmp_path / "results.json").read_text()) == doc
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert len(pngs) == len(rp.build_tables(doc)) and set(pngs) <= set(written)
    report = (tmp_path / "report.md").read_text()
    for name in pngs:
        assert f"]({name})" in report
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_is_the_same_plot_drawn_from_the_same_results(tmp_path: Path) -> None:
    t = table(rp.build_tables(synthetic()), "ds5000", "primitives")
    plot_table(t, tmp_path / "a.png")
    plot_table(t, tmp_path / "b.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


# ------------------------------------------------------------------ running


def test_does_a_real_suite_run_into_the_runs_shape() -> None:
    seen: list[tuple[str, str, str | None]] = []
    doc = rp.run_all(quick=True, suites=["aegis"], profiles=["ds5000"],
                     progress=lambda s, p, b: seen.append((s, p, b)))
    assert doc["exospin"] == __version__ and doc["failed"] == [] and len(doc["runs"]) == 1
    run = doc["runs"][0]
    assert run["suite"] == "aegis" and run["profile"] == "ds5000" and run["python_call_ns"] > 0
    assert seen[0] == ("aegis", "ds5000", None) and ("aegis", "ds5000", "null_syscall") in seen
    t = table(rp.build_tables(doc), "ds5000", "primitives")
    assert t.systems == ("aegis",) and len(t.rows) == len(run["results"])


def _tiny(system: str, benchmark: str, sim_us: float) -> Callable[..., list[Result]]:
    def run(profile: str, quick: bool = False, progress: Callable[[str], None] | None = None) -> list[Result]:
        if progress is not None:
            progress(benchmark)
        return [Result(benchmark, system, sim_us * 25, sim_us, 400.0, 10, 40.0)]
    return run


def _broken(profile: str, quick: bool = False, progress: Callable[[str], None] | None = None) -> list[Result]:
    raise BenchmarkError("null_syscall: expected 10 exceptions, saw 9 [bold]")


def _crashing(profile: str, quick: bool = False, progress: Callable[[str], None] | None = None) -> list[Result]:
    raise KeyError("oops")


@pytest.fixture
def fake_suites() -> Iterator[dict[str, Any]]:
    """SUITES replaced by two tiny suites and two that fail, restored afterwards."""
    saved = dict(SUITES)
    SUITES.clear()
    SUITES.update({"tiny": ("aegis", _tiny("aegis", "null_syscall", 2.0)), "broken": ("spin", _broken),
                   "crashing": ("spin", _crashing), "base": ("unix", _tiny("unix", "null_syscall", 4.0))})
    yield SUITES
    SUITES.clear()
    SUITES.update(saved)


def test_does_a_failing_suite_leave_the_others_standing(fake_suites: dict[str, Any]) -> None:
    doc = rp.run_all(quick=True)
    assert [(r["suite"], r["profile"]) for r in doc["runs"]] == [
        ("tiny", "ds5000"), ("base", "ds5000"), ("tiny", "alpha3000"), ("base", "alpha3000")]
    assert [(f["suite"], f["profile"]) for f in doc["failed"]] == [
        ("broken", "ds5000"), ("crashing", "ds5000"), ("broken", "alpha3000"), ("crashing", "alpha3000")]
    assert doc["failed"][1]["error"] == "KeyError: 'oops'"
    with pytest.raises(KeyError):  # --debug: an unexpected exception is not swallowed
        rp.run_all(quick=True, reraise=True)


def test_does_reproduce_json_print_only_the_runs_document(
    fake_suites: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["reproduce", "--quick", "--json"])
    out, err = capsys.readouterr()
    assert code == 1  # two suites failed: the command ran and found a problem
    doc = json.loads(out)
    assert doc["exospin"] == __version__ and len(doc["runs"]) == 4 and len(doc["failed"]) == 4
    assert all(set(r) >= {"exospin", "suite", "profile", "python_call_ns", "results"} for r in doc["runs"])
    assert "4 runs, 4 failed" in err


def test_does_reproduce_show_the_tables_and_write_the_report(
    fake_suites: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["reproduce", "--quick", "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 1
    assert "Kernel primitives on ds5000" in out and "(0.5×)" in out  # aegis 2 µs, unix 4 µs
    assert "suite broken failed on ds5000" in out and "expected 10 exceptions, saw 9 [bold]" in out
    assert (tmp_path / "out" / "report.md").exists() and (tmp_path / "out" / "results.json").exists()


def test_what_if_out_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    code = main(["reproduce", "--quick", "--out", str(path)])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1 and "exists and is not a directory" in err


def test_does_a_run_without_a_terminal_print_one_progress_line_per_suite(
    fake_suites: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["reproduce", "--quick", "--json"])  # captured stderr is no terminal
    err = capsys.readouterr().err.splitlines()
    assert code == 1
    assert err[:8] == [f"reproduce {i}/8: suite {s} on {p}..." for i, (p, s) in enumerate(
        [(p, s) for p in ("ds5000", "alpha3000") for s in ("tiny", "broken", "crashing", "base")], 1)]
    assert len(err) == 9 and err[8].startswith("reproduce: 4 runs, 4 failed")


def _runaway(profile: str, quick: bool = False, progress: Callable[[str], None] | None = None) -> list[Result]:
    from exospin.verifier import BudgetExceeded
    raise BudgetExceeded("budget of 100000 ticks exhausted")  # a BaseException, as extensions see it


def test_is_an_escaped_budget_a_failed_suite_not_a_crash(fake_suites: dict[str, Any]) -> None:
    fake_suites.clear()
    fake_suites.update({"runaway": ("spin", _runaway), "tiny": ("aegis", _tiny("aegis", "null_syscall", 2.0))})
    doc = rp.run_all(quick=True, profiles=["ds5000"])
    assert [r["suite"] for r in doc["runs"]] == ["tiny"]
    assert doc["failed"] == [{"suite": "runaway", "profile": "ds5000",
                              "error": "BudgetExceeded: budget of 100000 ticks exhausted"}]
