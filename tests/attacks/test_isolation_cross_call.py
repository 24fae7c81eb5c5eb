"""Issue 15: a direct call into another domain's exported procedure is an activation of the
callee, and the callee's fault ends the callee, not the caller (isolation_cross_call.py, in
a child process with a time limit)."""

from __future__ import annotations

from pathlib import Path

import pytest

from attacks.harness import run_attack

ATTACK = Path(__file__).with_name("isolation_cross_call.py").read_text()


@pytest.mark.parametrize("which, why", [("loop", "BudgetExceeded"), ("recurse", "RecursionError")])
def test_does_a_fault_in_a_called_domain_end_that_domain_and_not_the_caller(which: str, why: str) -> None:
    src = ATTACK.replace('sys.argv[1] if len(sys.argv) > 1 else "loop"', repr(which))
    out = run_attack(src, timeout_s=60)
    assert out.survived, out.describe()
    v = out.verdict
    # two calls of 60,000 ticks each in one activation of the caller: each is an activation
    # of svc, with svc's own budget restored (100,000 ticks would not cover both)
    assert v["twice"] == "120000", v
    assert v["fault"].startswith(f"caught: domain 'svc' was terminated: {why}"), v
    assert list(v["unloaded"]) == ["svc"] and "a call into it from another domain faulted" in v["unloaded"]["svc"], v
    assert v["loaded"] == ["bystander", "cli"] and v["bystander"] == 42 and v["invariants"] == [], v
    assert v["again"].startswith("caught: domain 'svc' was unloaded"), v
