"""Do the real commands write the JSON that docs/contracts.md and its schemas describe?

Each ``--json`` document (and the files ``--out`` and ``--trace`` write) is
produced by running the command itself, in its quick or small variant, and
validated against its JSON Schema in docs/schemas/ (draft 2020-12).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from contract_schemas import SCHEMAS, errors, validate
from exospin.bench import SUITES, BenchmarkError, Result
from exospin.cli import main

DOCS = Path(__file__).resolve().parent.parent / "docs"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().out


def test_is_every_schema_a_draft_2020_12_schema_named_in_the_contracts() -> None:
    assert set(SCHEMAS) == {"bench", "reproduce", "info", "trace"}
    contracts = (DOCS / "contracts.md").read_text()
    for name, schema in SCHEMAS.items():
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        Draft202012Validator.check_schema(schema)
        assert f"schemas/{name}.schema.json" in contracts, name


@pytest.mark.parametrize("argv", [["info", "--json"], ["info", "--profile", "alpha3000", "--json"]])
def test_does_info_json_match_its_schema(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(argv, capsys)
    assert code == 0
    validate(json.loads(out), "info")


def test_do_bench_json_and_its_out_file_match_the_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["bench", "aegis", "--quick", "--audit", "--json", "--out", str(tmp_path)], capsys)
    assert code == 0
    doc = json.loads(out)
    validate(doc, "bench")
    assert all("py_cycles" in r for r in doc["results"])  # --audit's optional field was checked too
    validate(json.loads((tmp_path / "bench-aegis-ds5000.json").read_text()), "bench")


def test_does_a_weighed_bench_document_match_the_schema_and_say_so(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["bench", "aegis", "--quick", "--clock", "weighed", "--json"], capsys)
    assert code == 0
    doc = json.loads(out)
    validate(doc, "bench")
    assert doc["clock"] == "weighed"


def _broken(profile: str, quick: bool = False, progress: Callable[[str], None] | None = None) -> list[Result]:
    raise BenchmarkError("did not measure the path it claims to")


def test_do_reproduce_json_and_results_json_match_the_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the real command over fewer suites: aegis (real, both profiles) and one that fails
    for other in [s for s in SUITES if s != "aegis"]:
        monkeypatch.delitem(SUITES, other)
    monkeypatch.setitem(SUITES, "broken", ("spin", _broken))
    code, out = run(["reproduce", "--quick", "--json", "--out", str(tmp_path)], capsys)
    assert code == 1  # a suite failed
    doc = json.loads(out)
    validate(doc, "reproduce")
    assert len(doc["runs"]) == 2 and len(doc["failed"]) == 2
    validate(json.loads((tmp_path / "results.json").read_text()), "reproduce")


@pytest.mark.parametrize("demo", ["aegis", "spin", "net"])
def test_does_a_demo_trace_match_the_schema(demo: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.json"
    code, _ = run(["demo", demo, "--trace", str(path)], capsys)
    assert code == 0
    doc = json.loads(path.read_text())
    validate(doc, "trace")
    assert {e["ph"] for e in doc["traceEvents"]} >= {"M", "X", "i"}


def test_do_the_schemas_refuse_what_the_contract_forbids() -> None:
    row = {"benchmark": "null_syscall", "system": "aegis", "sim_cycles": 53, "sim_us": 2.12, "wall_ns": 310.5,
           "iterations": 10000, "python_call_ns": 28.4}
    doc = {"exospin": "0.1.0", "suite": "aegis", "profile": "ds5000", "python_call_ns": 28.4, "results": [row]}
    assert errors(doc, "bench") == []
    assert errors({**doc, "results": [{**row, "sim_cycles": 0}]}, "bench")  # absent, never zero
    assert errors({**doc, "results": [{**row, "speed": "fast"}]}, "bench")  # an undocumented field
    assert errors({k: v for k, v in doc.items() if k != "python_call_ns"}, "bench")
    repro = {"exospin": "0.1.0", "quick": True, "profiles": ["ds5000"], "runs": [doc], "failed": []}
    assert errors(repro, "reproduce") == []
    assert errors({**repro, "runs": [{**doc, "suite": 3}]}, "reproduce")  # runs are bench documents
