"""Issue 15: code a domain hands out as a value (its classes' methods and __init__, a closure
or a bound method it returns) runs as an activation of that domain when another domain calls
it, and its fault ends that domain (isolation_handed.py, in a child process)."""

from __future__ import annotations

from pathlib import Path

from attacks.harness import run_attack

ATTACK = Path(__file__).with_name("isolation_handed.py")


def test_does_code_handed_out_as_a_value_run_in_its_owners_activation() -> None:
    out = run_attack(ATTACK, timeout_s=60)
    assert out.survived, out.describe()
    v = out.verdict
    # two calls of 60,000 ticks each in one activation of cli: each an activation of svc
    assert v["methods"] == v["closures"] == v["bounds"] == "returned 120000", v
    assert v["fault"].startswith("caught: domain 'svc' was terminated: BudgetExceeded"), v
    assert list(v["unloaded"]) == ["svc"] and "from another domain faulted" in v["unloaded"]["svc"], v
    assert v["after"] == "caught: domain 'svc' was unloaded: Counter.__init__() cannot run", v
    assert v["loaded"] == ["cli"] and v["invariants"] == [], v
