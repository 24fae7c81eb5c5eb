"""Issue 20, item 1: authority by what a handler can receive: the attack in isolation_hijack.py, in a child process with a time limit."""

from __future__ import annotations

from pathlib import Path

from attacks.harness import run_attack

ATTACK = Path(__file__).with_name("isolation_hijack.py")


def test_can_a_domain_see_or_answer_another_domains_events_through_the_shape_of_a_guard() -> None:
    out = run_attack(ATTACK, timeout_s=60)
    assert out.survived, out.describe()
    v = out.verdict
    assert v["contained"] is True, v
    assert v["answer"] == "('victim', ('secret',))" and v["spied"] == 0
    assert "belongs to 'victim'" in v["thief"]
    assert (v["faults"], v["exits"]) == ("refused", "refused")
    assert v["again"] == "('victim', ('later',))"
    assert v["invariants"] == []
