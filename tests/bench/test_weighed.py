"""The weighed clock (bench/weighed.py): the system software's own Python on the clock, for
every system alike, deterministic, and nothing changed under the default charged clock."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable

import pytest

from exospin.bench import aegis_suite, run_suite, spin_threads, unix_suite
from exospin.bench.audit import unpack, weigh
from exospin.bench.harness import Result
from exospin.bench.weighed import WeighedClock, check_clock
from exospin.cli import main
from exospin.machine import get_profile
from exospin.systems import boot


def _system_code(table: dict[int, int]) -> int:
    """A stand-in for system software: two attribute reads, an item read, a call."""
    return len(table) + table[0]


def test_does_a_weighed_line_advance_the_clock_of_the_machine_built_last_by_its_weight() -> None:
    code = _system_code.__code__
    p = get_profile("ds5000")
    expected = sum(unpack(v).cycles(p) for off, v in weigh(code).items()
                   if off == min(o for o, _, ln in code.co_lines() if ln == code.co_firstlineno + 2))
    with WeighedClock("ds5000", scope=lambda c: c is code) as clock:
        old = boot("aegis").machine
        m = boot("aegis").machine
        before, old_before = m.loop.now, old.loop.now
        _system_code({0: 1})
        after = m.loop.now
    assert expected > 0 and after - before == expected == clock.cycles and clock.lines == 1
    assert old.loop.now == old_before  # only the machine built last is charged
    _system_code({0: 1})
    assert m.loop.now == after  # outside: nothing


def test_is_a_machine_of_another_profile_refused() -> None:
    with WeighedClock("ds5000", scope=lambda c: False), pytest.raises(ValueError, match="set up for ds5000"):
        boot("aegis", "alpha3000")


@pytest.mark.parametrize("fn", [aegis_suite.null_syscall, unix_suite.null_syscall, spin_threads.null_syscall],
                         ids=["aegis", "unix", "spin"])
def test_is_every_system_weighed_alike_and_the_same_run_the_same_clock(fn: Callable[[str, int], Result]) -> None:
    charged = fn("ds5000", 200).sim_cycles
    runs = []
    for _ in range(2):
        with WeighedClock("ds5000"):
            runs.append(fn("ds5000", 200).sim_cycles)
    assert runs[0] == runs[1]  # deterministic: same seed, same lines, same weights
    assert runs[0] > charged  # each kernel's own Python is now on its clock
    assert fn("ds5000", 200).sim_cycles == charged  # and gone again afterwards


def test_does_the_default_clock_leave_the_document_as_it_was() -> None:
    doc = run_suite("aegis", "ds5000", quick=True)
    assert "clock" not in doc
    assert check_clock("charged") == "charged"
    with pytest.raises(ValueError, match=r"unknown clock 'wall' \(known: charged, weighed\)"):
        check_clock("wall")


def test_are_audit_and_weighed_together_refused() -> None:
    with pytest.raises(ValueError, match="choose one"):
        run_suite("aegis", "ds5000", quick=True, audit=True, clock="weighed")


@pytest.mark.parametrize("argv", [["bench", "aegis", "--clock", "weighed", "--audit"],
                                  ["reproduce", "--clock", "weighed", "--audit"],
                                  ["bench", "aegis", "--clock", "wall"]])
def test_does_the_cli_refuse_a_bad_clock_readably(argv: list[str]) -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as e:
            code = int(e.code or 0)
    assert code == 2
    assert "clock" in err.getvalue()
