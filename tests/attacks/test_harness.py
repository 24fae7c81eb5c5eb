"""The attack harness itself: a crash, a hang and a clean verdict are told apart."""

from __future__ import annotations

from attacks.harness import run_attack


def test_a_clean_attack_reports_its_verdict() -> None:
    out = run_attack('import json\nprint(json.dumps({"contained": True}))\n')
    assert out.survived and out.verdict == {"contained": True}


def test_a_crash_is_a_failed_outcome_not_a_dead_suite() -> None:
    out = run_attack("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    assert not out.survived and out.returncode is not None and out.returncode < 0


def test_a_hang_is_cut_off_by_the_wall_clock() -> None:
    out = run_attack("while True:\n    pass\n", timeout_s=1.0)
    assert out.timed_out and not out.survived
