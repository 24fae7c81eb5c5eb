"""Fixtures: a booted system whose teardown proves nothing leaked.

Every test that boots a system gets it from ``system`` or ``boot_system``;
at teardown the system is shut down and the test fails if any frame,
capability, time slice or environment is left, or if any invariant of
docs/invariants.md is violated (the xv6 habit: the suite checks that no
free page was lost). Networks a test builds with ``network_of`` are checked
the same way, machine by machine, and for what only a network holds: frames
left untaken in a NIC, filters, packet rings and ASHs in Aegis, ports in
ExOS' shared segment, sockets, PCBs and mbufs in unix, SPIN's bound ports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import exospin.systems
from exospin.systems import Network, System, boot, network
from helpers import assert_network_clean, assert_no_leaks


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



@pytest.fixture
def network_of() -> Iterator[Callable[..., Network]]:
    """A factory of networks: ``network_of(["aegis", "unix"], link="ethernet", ...)`` takes
    ``systems.network``'s arguments. At teardown each network is checked (``helpers.
    assert_network_clean``): no frame left in a NIC, every invariant holding on every
    machine, and after shutdown nothing held: frames, filters, rings, handlers, sockets."""
    built: list[Network] = []

    def factory(names: list[str], **kw: object) -> Network:
        net = network(names, **kw)  # type: ignore[arg-type]
        built.append(net)
        return net

    yield factory
    for net in built:
        assert_network_clean(net)


@pytest.fixture(autouse=True)
def _networks_leak_nothing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every network a test builds through ``systems.network`` is checked after the test,
    whoever built it: if the test shut it down, every count its shutdown reported must be
    zero; if not, it is checked and shut down here (``assert_network_clean``)."""
    built: list[Any] = []

    class Tracked(Network):
        reports: list[dict[str, int]] | None = None

        def __post_init__(self) -> None:
            built.append(self)

        def shutdown(self) -> list[dict[str, int]]:
            self.reports = super().shutdown()
            return self.reports

    monkeypatch.setattr(exospin.systems, "Network", dataclass_of(Tracked))
    yield
    for net in built:
        if net.world.failed is not None:  # a test that broke a machine on purpose: nothing to check
            continue
        if net.reports is None:
            assert_network_clean(net)
        else:
            left = [(s.name, h) for s, h in zip(net.systems, net.reports, strict=True) if any(h.values())]
            assert left == [], f"a network's shutdown found something held: {left}"


def dataclass_of(cls: type) -> type:
    """``cls`` made a dataclass again, so that its generated __init__ calls __post_init__."""
    from dataclasses import dataclass

    return dataclass(cls)
