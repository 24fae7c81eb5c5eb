"""Fixtures: a booted system whose teardown proves nothing leaked.

Every test that boots a system gets it from ``system`` or ``boot_system``;
at teardown the system is shut down and the test fails if any frame,
capability, time slice or environment is left, or if any invariant of
docs/invariants.md is violated (the xv6 habit: the suite checks that no
free page was lost).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from exospin.systems import System, boot
from helpers import assert_no_leaks


@pytest.fixture
def system() -> Iterator[System]:
    """Aegis on a DECstation 5000/125, seed 0."""
    s = boot("aegis", profile="ds5000", seed=0)
    yield s
    assert_no_leaks(s)


@pytest.fixture
def boot_system() -> Iterator[Callable[..., System]]:
    """A factory: ``boot_system(profile="ds5000", seed=0, trace=False)``; every system it
    boots is checked for leaks at teardown."""
    booted: list[System] = []

    def factory(profile: str = "ds5000", seed: int = 0, trace: bool = False) -> System:
        s = boot("aegis", profile=profile, seed=seed, trace=trace)
        booted.append(s)
        return s

    yield factory
    for s in booted:
        assert_no_leaks(s)


@pytest.fixture
def exos() -> Iterator[Callable[..., System]]:
    """A factory of systems for ExOS processes: ``exos(profile="ds5000", seed=0)``. At
    teardown each is shut down; nothing may be left, in the kernel or in ExOS' shared
    segment, and every invariant must hold."""
    booted: list[System] = []

    def factory(profile: str = "ds5000", seed: int = 0) -> System:
        s = boot("aegis", profile, seed=seed)
        booted.append(s)
        return s

    yield factory
    for s in booted:
        assert_no_leaks(s)
        assert not s.exos.sharers and not s.exos.owner, "sharing records outlived the processes"

