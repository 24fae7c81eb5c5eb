"""Issue 20, item 4: results cross the boundary checked: the attack in isolation_result.py, in a child process with a time limit."""

from __future__ import annotations

from pathlib import Path

from attacks.harness import run_attack

ATTACK = Path(__file__).with_name("isolation_result.py")


def test_does_a_result_too_deep_or_too_large_terminate_the_extension_that_returned_it() -> None:
    out = run_attack(ATTACK, timeout_s=60)
    assert out.survived, out.describe()
    v = out.verdict
    assert v["contained"] is True, v
    assert "the result of deep is nested more than 32 containers deep" in v["deep"]
    assert "the result of wide has more than 4096 items" in v["wide"]
    assert set(v["unloaded"]) == {"deep", "wide"} and v["loaded"] == ["victim"]
    assert v["victim"] == "('victim', (1, (2, (3,))))"
    assert v["invariants"] == []
