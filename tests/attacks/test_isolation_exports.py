"""Issue 20, item 2: nothing shared is mutable: the attack in isolation_poison.py, in a child process with a time limit."""

from __future__ import annotations

from pathlib import Path

from attacks.harness import run_attack

ATTACK = Path(__file__).with_name("isolation_poison.py")


def test_can_a_domain_change_what_the_kernel_or_another_domain_exports() -> None:
    out = run_attack(ATTACK, timeout_s=60)
    assert out.survived, out.describe()
    v = out.verdict
    assert v["contained"] is True, v
    assert "E130" in v["direct"] and "Errors.fail.errno" in v["direct"]
    assert v["attempts"] == ["refused"] * 5
    assert v["after"] == v["later"] == "((7, ('a',)), 'ENOENT')"
    assert v["invariants"] == []
