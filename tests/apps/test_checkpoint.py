"""Concurrent checkpointing against stop-and-copy (apps/checkpoint.py), on every system.

The program is posix only; each system runs it unchanged: ExOS on Aegis,
SPIN's Unix personality, unix. What must hold: the checkpoint is the heap at
one instant (the program checks every page's contents); stop-and-copy pauses
for the whole copy, which grows with the heap, while the concurrent pause does
not; a high write rate makes the mutator's own faults copy pages; the same
seed gives the same figures.
"""

from __future__ import annotations

from typing import Any

import pytest

from exospin.apps.checkpoint import MODES, checkpointer
from exospin.bench import checkpoint_suite
from exospin.systems import boot

SYSTEMS = ("aegis", "spin", "unix")


def _run(system: str, mode: str, pages: int, work: int = 200, writes: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    s = boot(system)
    pid = s.start(checkpointer(mode, pages, writes or 8 * pages, work, out), name="checkpoint")
    s.run(report=False)
    assert s.exit_status(pid) == 0, out
    assert not any(s.shutdown().values())
    return out


@pytest.mark.parametrize("system", SYSTEMS)
def test_is_every_checkpoint_exact_and_the_concurrent_pause_shorter(system: str) -> None:
    small = {m: _run(system, m, 4) for m in MODES}
    big = {m: _run(system, m, 48) for m in MODES}
    for out in (*small.values(), *big.values()):
        assert out["exact"] and out["copied"] == out["pages"]
    # stop-and-copy: the pause is the copy, and it grows with the heap (12x the pages)
    for out in (small["stop"], big["stop"]):
        assert out["pause_max_us"] >= out["checkpoint_us"] > 0 and out["by_fault"] == 0
    assert big["stop"]["pause_max_us"] > 10 * small["stop"]["pause_max_us"]
    # concurrent: the mutator goes on; its pause is a slice or a faulting store, not the copy
    conc = big["concurrent"]
    assert conc["pause_max_us"] < big["stop"]["pause_max_us"] / 4
    assert 0 < conc["by_fault"] < conc["copied"]  # some pages by the mutator's faults, some by the copier
    # the protection and the faults are not free: the concurrent run takes longer in all
    assert conc["total_us"] > big["stop"]["total_us"]


def test_does_a_higher_write_rate_fault_more() -> None:
    fast = _run("aegis", "concurrent", 32, work=20)
    slow = _run("aegis", "concurrent", 32, work=4000)
    assert fast["by_fault"] > slow["by_fault"]


def test_is_a_run_deterministic() -> None:
    assert _run("unix", "concurrent", 8) == _run("unix", "concurrent", 8)


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown checkpoint mode 'copy'"):
        checkpointer("copy", 4, 16, 0, {})
    with pytest.raises(ValueError, match="need pages >= 1"):
        checkpointer("stop", 0, 16, 0, {})


def test_the_suite_rows_carry_their_figures() -> None:
    r = checkpoint_suite._run("spin", "ds5000", "concurrent", 8, 200)
    d = r.as_dict()
    assert d["benchmark"] == "ckpt_concurrent_p8_w200" and d["system"] == "spin" and d["iterations"] == 1
    assert set(d["figures"]) == {"pause_max_us", "checkpoint_us", "store_us", "copied", "by_fault"}
    assert d["sim_us"] > d["figures"]["checkpoint_us"] > 0
