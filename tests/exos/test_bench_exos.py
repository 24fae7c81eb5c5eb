"""The ExOS benchmark suite: its JSON document, its determinism, matmul's acceptance
criterion (user-level VM costs nothing when unused), and that no run leaks."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from exospin import __version__
from exospin.bench import exos_suite, run_suite
from exospin.cli import main
from exospin.systems import System, boot

NAMES = [
    "ipc_pipe", "ipc_shm", "ipc_lrpc", "ipc_lrpc_trusted",
    "vm_dirty", "vm_prot1", "vm_prot100", "vm_unprot100", "vm_trap", "vm_fault", "vm_appel1", "vm_appel2",
    "matmul_exos", "matmul_bare",
    "vm_dirty_inverted", "vm_prot1_inverted", "vm_prot100_inverted", "vm_unprot100_inverted",
    "vm_trap_inverted", "vm_appel1_inverted", "vm_appel2_inverted",
]


def _bench_json(argv: list[str]) -> dict[str, Any]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    assert code == 0, err.getvalue()
    doc: dict[str, Any] = json.loads(out.getvalue())  # nothing else on stdout
    return doc


@pytest.fixture(scope="module")
def ds5000() -> Iterator[tuple[dict[str, Any], list[System]]]:
    """`exospin bench exos --quick --json`, and every system the run booted."""
    booted: list[System] = []

    def recording_boot(*args: Any, **kwargs: Any) -> System:
        s = boot(*args, **kwargs)
        booted.append(s)
        return s

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(exos_suite, "boot", recording_boot)
        doc = _bench_json(["bench", "exos", "--quick", "--json"])
    yield doc, booted


@pytest.fixture(scope="module")
def alpha3000() -> dict[str, Any]:
    return run_suite("exos", "alpha3000", quick=True)


def _sims(doc: dict[str, Any]) -> list[tuple[str, float, float, int]]:
    return [(r["benchmark"], r["sim_cycles"], r["sim_us"], r["iterations"]) for r in doc["results"]]


def test_does_bench_exos_json_have_the_contract_shape(ds5000: tuple[dict[str, Any], list[System]]) -> None:
    doc, _ = ds5000
    assert doc["exospin"] == __version__ and doc["suite"] == "exos" and doc["profile"] == "ds5000"
    assert doc["python_call_ns"] > 0
    assert [r["benchmark"] for r in doc["results"]] == NAMES
    for r in doc["results"]:
        assert r["system"] == "aegis"
        assert r["sim_cycles"] > 0 and r["sim_us"] > 0 and r["wall_ns"] > 0 and r["iterations"] > 0, r
        assert r["python_call_ns"] > 0, r


def test_are_the_simulated_figures_exactly_reproducible(ds5000: tuple[dict[str, Any], list[System]]) -> None:
    doc, _ = ds5000
    assert _sims(run_suite("exos", "ds5000", quick=True)) == _sims(doc)


@pytest.mark.parametrize("profile", ["ds5000", "alpha3000"])
def test_does_user_level_vm_cost_nothing_when_unused(
    profile: str, ds5000: tuple[dict[str, Any], list[System]], alpha3000: dict[str, Any]
) -> None:
    doc = ds5000[0] if profile == "ds5000" else alpha3000
    cycles = {r["benchmark"]: r["sim_cycles"] for r in doc["results"]}
    # the ExOS run includes its demand-zero faults, frame zeroing and munmap; the bare one does not
    assert cycles["matmul_bare"] <= cycles["matmul_exos"] <= 1.10 * cycles["matmul_bare"]
    assert cycles["matmul_bare"] >= 200_000  # a few hundred thousand cycles, as the issue asks


def test_does_every_run_leave_nothing_behind(ds5000: tuple[dict[str, Any], list[System]]) -> None:
    _, booted = ds5000
    assert len(booted) == len(NAMES)  # one fresh system per benchmark
    for s in booted:
        assert not s.kernel.envs
        assert s.shutdown() == {"frames": 0, "capabilities": 0, "slices": 0, "environments": 0}
        assert not s.exos.procs and not s.exos.pipes and not s.exos.sharers
        assert s.kernel.check_invariants() == []


def test_do_the_ipc_rows_take_the_paths_they_name(ds5000: tuple[dict[str, Any], list[System]]) -> None:
    cycles = {r["benchmark"]: r["sim_cycles"] for r in ds5000[0]["results"]}
    # trusted LRPC saves no registers: cheaper than LRPC by the 12 saves and 12 restores
    assert cycles["ipc_lrpc"] - cycles["ipc_lrpc_trusted"] == pytest.approx(24, abs=1)
    # a page-protection fault round trip costs more than reaching the handler
    assert cycles["vm_trap"] < cycles["vm_fault"]
    assert cycles["vm_prot100"] > cycles["vm_prot1"]


@pytest.mark.parametrize("profile", ["ds5000", "alpha3000"])
def test_does_the_inverted_table_cost_a_hash_and_a_chain_on_every_row(
    profile: str, ds5000: tuple[dict[str, Any], list[System]], alpha3000: dict[str, Any]
) -> None:
    doc = ds5000[0] if profile == "ds5000" else alpha3000
    cycles = {r["benchmark"]: r["sim_cycles"] for r in doc["results"]}
    for name in ("vm_dirty", "vm_prot1", "vm_prot100", "vm_unprot100", "vm_trap", "vm_appel1", "vm_appel2"):
        # the same path (the suite checked its counters), plus per lookup the hash and the
        # chain, less the linear walk: never cheaper, and dearer by about the lookups' count
        lookups = exos_suite.PT_LOOKUPS[name]
        extra = cycles[f"{name}_inverted"] - cycles[name]
        assert extra > 0, name
        assert extra < 3 * lookups * 16, (name, extra)  # a few chain entries at most, not a scan
    # a range pays it page by page: prot100's extra is about 100 times prot1's
    one = cycles["vm_prot1_inverted"] - cycles["vm_prot1"]
    hundred = cycles["vm_prot100_inverted"] - cycles["vm_prot100"]
    assert 80 * one < hundred < 120 * one
