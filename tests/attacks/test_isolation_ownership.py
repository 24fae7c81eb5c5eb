"""Issue 20, item 3: everything a domain makes is its own: the attack in isolation_outlive.py, in a child process with a time limit."""

from __future__ import annotations

from pathlib import Path

from attacks.harness import run_attack

ATTACK = Path(__file__).with_name("isolation_outlive.py")


def test_does_anything_a_domain_made_at_run_time_outlive_its_unload() -> None:
    out = run_attack(ATTACK, timeout_s=60)
    assert out.survived, out.describe()
    v = out.verdict
    assert v["contained"] is True, v
    assert v["planted"] == "('ghost', 1, 1)"  # it did make them, at run time
    assert v["after91"].startswith("no handler") and v["claimed"] == "claimer"
    assert v["after"] == v["before"] and v["remaining"] == []
    assert v["victim"] == "victim"
    assert v["invariants"] == []
