"""The file-system suite (bench/fs_suite.py): its rows on unix, and what LRU does to Cao's scan."""

from __future__ import annotations

from typing import Any

import pytest

from exospin.bench import SUITES, fs_suite, run_suite

ROWS = ["fs_create_small", "fs_read_small", "fs_delete_small", "fs_seq_write", "fs_seq_read", "fs_rand_read",
        "fs_rand_write", "cao_scan_lru", "cao_join_lru", "cao_pair_lru"]


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return run_suite("fs", "ds5000", quick=True)


def test_does_the_suite_give_every_row_on_unix_with_its_ios(doc: dict[str, Any]) -> None:
    assert set(fs_suite.RUNNERS) == {"unix", "spin", "aegis"} and "unix" in SUITES["fs"][0]
    rows = {r["benchmark"]: r for r in doc["results"] if r["system"] == "unix"}
    assert list(rows) == ROWS
    assert all(r["system"] == "unix" and r["figures"]["ios"] > 0 and r["sim_us"] > 0 for r in rows.values())


def test_does_spin_give_every_row_and_its_mru_policy_cut_the_scans_ios(doc: dict[str, Any]) -> None:
    rows = {r["benchmark"]: r for r in doc["results"] if r["system"] == "spin"}
    assert list(rows) == [*ROWS, "cao_scan_app"]
    assert all(r["figures"]["ios"] > 0 and r["sim_us"] > 0 for r in rows.values())
    assert rows["cao_scan_lru"]["figures"]["ios"] >= 1.0  # LRU: every block from the disk, every scan
    assert rows["cao_scan_app"]["figures"]["ios"] < 0.8 * rows["cao_scan_lru"]["figures"]["ios"]
    assert rows["cao_scan_app"]["sim_us"] < rows["cao_scan_lru"]["sim_us"]


def test_does_exos_give_every_row_and_do_the_applications_hints_cut_its_ios(doc: dict[str, Any]) -> None:
    """ExOS under LRU-SP with the application's hints (Cao, Felten and Li): the SEQUENTIAL scan
    misses less than LRU, the join whose index has the higher priority keeps it, and in the
    pair, where only the scan gives a hint, the two together do fewer I/Os than under LRU."""
    rows = {r["benchmark"]: r for r in doc["results"] if r["system"] == "aegis"}
    assert list(rows) == [*ROWS, "cao_scan_app", "cao_join_app", "cao_pair_lrusp"]
    assert all(r["figures"]["ios"] > 0 and r["sim_us"] > 0 for r in rows.values())
    ios = {k: r["figures"]["ios"] for k, r in rows.items()}
    assert ios["cao_scan_lru"] >= 1.0 and ios["cao_scan_app"] < 0.8 * ios["cao_scan_lru"]
    assert ios["cao_join_app"] <= ios["cao_join_lru"]
    assert ios["cao_pair_lrusp"] < ios["cao_pair_lru"]


def test_does_lru_miss_on_every_block_of_a_scan_larger_than_the_cache(doc: dict[str, Any]) -> None:
    rows = {r["benchmark"]: r for r in doc["results"] if r["system"] == "unix"}
    assert rows["cao_scan_lru"]["figures"]["ios"] >= 1.0  # every block read comes from the disk, every scan
    assert rows["cao_join_lru"]["figures"]["ios"] < 0.75  # the hot index stays cached: about half the reads hit
    assert rows["fs_create_small"]["figures"]["ios"] == 2.0  # the inode, then the directory entry: synchronous


def test_is_the_suite_deterministic_in_simulated_time(doc: dict[str, Any]) -> None:
    again = [r.as_dict() for r in fs_suite.RUNNERS["unix"]("ds5000", True)]  # (one system: the others take long)
    first = [r for r in doc["results"] if r["system"] == "unix"]
    assert [(r["sim_us"], r["figures"]) for r in again] == [(r["sim_us"], r["figures"]) for r in first]
