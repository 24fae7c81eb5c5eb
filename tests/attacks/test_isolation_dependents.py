"""Issue 15: a domain unloaded because its handler faulted takes its exports with it, not the
domains linked against it (isolation_dependents.py, in a child process with a time limit)."""

from __future__ import annotations

from pathlib import Path

from attacks.harness import run_attack

ATTACK = Path(__file__).with_name("isolation_dependents.py")


def test_does_a_dependent_of_a_faulted_domain_get_an_exception_and_go_on() -> None:
    out = run_attack(ATTACK, timeout_s=60)
    assert out.survived, out.describe()
    v = out.verdict
    assert v["before"] == "returned 45", v
    assert list(v["unloaded"]) == ["svc"] and "budget" in v["unloaded"]["svc"], v
    # svc's exports died with it: the call raises an ordinary exception that cli catches
    assert v["after"] == "caught: domain 'svc' was unloaded: work() cannot run", v
    assert v["again"] == v["after"] and v["loaded"] == ["cli"] and v["invariants"] == [], v
