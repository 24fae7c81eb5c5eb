"""Helpers shared by the tests: run code inside an environment, snapshot the kernel.

Interface
    ``run_in_env(system, body)`` runs ``body(syscalls)`` as the main of a new
    environment and hands its result (or its exception) back to the test.
    ``kernel_snapshot(kernel)`` is everything a system call could change,
    except the clock, so a test can assert that a refused call changed
    nothing. ``assert_no_leaks(system)`` is the teardown check of the
    ``system`` fixture, usable on its own for systems a test boots itself.
    ``assert_network_clean(net)`` is the teardown check of ``network_of``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exospin.aegis import Aegis, Syscalls
from exospin.systems import Network, System

#: How ``kernel_snapshot`` describes one environment's kernel-side state.
EnvState = tuple[Any, ...]


def run_in_env(
    system: System, body: Callable[[Syscalls], Any], name: str = "test", slices: int | list[int] = 1,
    until_us: float | None = None,
) -> Any:
    """Run ``body(sys)`` in a new environment until the system is idle; return its value.

    An exception raised by ``body`` (an assertion, say) would only kill the
    environment; it is caught there and raised again here, in the test.
    """
    box: dict[str, Any] = {}

    def main(sys: Syscalls) -> None:
        try:
            box["value"] = body(sys)
        except Exception as exc:  # carried out to the test; EnvironmentKilled is not caught
            box["error"] = exc

    system.kernel.create_env(main, name, slices)
    system.run(until_us)
    if "error" in box:
        raise box["error"]
    if "value" not in box:
        raise AssertionError(f"the environment did not finish: {system.kernel.deaths}")
    return box["value"]


def _env_state(env: Any) -> EnvState:
    return (
        env.name, env.asid, tuple(env.frames), tuple(sorted(env.reserved)), tuple(env.slices),
        tuple(sorted(env.handlers.items())), tuple(env.entries), tuple(sorted(env.guaranteed.items())),
        env.donated_to.id if env.donated_to is not None else None, env.pct_failure, env.dying,
        env.exc_depth, env.revoke_target, tuple(env.pending), tuple(env.repossession_vector),
        env.excess, env.strikes,
    )


def kernel_snapshot(kernel: Aegis) -> dict[str, Any]:
    """Everything in the kernel (and the hardware it manages) but the clock."""
    k = kernel
    return {
        "frame_owner": tuple(k.frame_owner),
        "caps_live": frozenset(id(c) for c in k.caps.live),
        "caps": sorted((c.kind, c.resource, int(c.rights)) for c in k.caps.live),
        "slices": tuple(e.id if e is not None else None for e in k.slices),
        "envs": {eid: _env_state(env) for eid, env in k.envs.items()},
        "tlb": k.tlb.entries_map,
        "stlb": sorted(k.stlb.items()),
        "bindings": {
            pfn: {key: id(cap) for key, cap in b.items()} for pfn, b in enumerate(k.frame_bindings) if b
        },
        "statistics": k.statistics(),
        "tlb_statistics": k.tlb.statistics(),
        "zero_fills": k.memory.statistics().zero_fills,
        "deaths": dict(k.deaths),
        "journal": len(k.journal),
        "current": k.current.id if k.current is not None else None,
    }


def leftovers(system: System) -> dict[str, int]:
    """Shut ``system`` down and return what it still holds (all zero unless something leaked)."""
    return system.shutdown()


def assert_no_leaks(system: System) -> None:
    """Destroy every environment; nothing may be left and every invariant must hold."""
    left = system.shutdown()
    assert left == dict.fromkeys(left, 0), left  # XN adds its buffers and orphan blocks when a disk is attached
    assert {"frames", "capabilities", "slices", "environments"} <= left.keys(), left
    assert system.kernel.check_invariants() == []
    assert system.kernel.stlb.statistics().valid == 0, "STLB entries outlived their environments"
    assert system.machine.tlb.statistics().valid == 0, "TLB entries outlived their environments"


def assert_network_clean(net: Network) -> None:
    """Every machine of ``net``: no frame left untaken in its NIC (if a driver has it), its kernel's invariants,
    then shut down with nothing held (every count of each ``shutdown()`` report zero: frames,
    capabilities, environments, filters, rings, handlers, sockets, PCBs, mbufs, strands...);
    on Aegis, no port or ARP duty left in ExOS' shared segment and no TLB entry left."""
    for i, (s, nic) in enumerate(zip(net.systems, net.nics, strict=True)):
        if nic.irq in s.kernel.irq_handlers:  # a driver took the NIC (a test may drive one by hand)
            assert nic.statistics().rx_ready == 0, f"machine {i}: frames received and never taken"
    for s in net.systems:
        violations = s.kernel.check_invariants()
        assert violations == [], f"{s.name}: {violations}"
    held = net.shutdown()
    assert [(s.name, h) for s, h in zip(net.systems, held, strict=True) if any(h.values())] == []
    for s in net.systems:
        violations = s.kernel.check_invariants()
        assert violations == [], f"{s.name}, after shutdown: {violations}"
        if s.name == "aegis":
            assert not s.exos.ports and not s.exos.arp_owner, "ExOS' network records outlived its processes"
            if s.kernel.net is not None:
                assert {"filters", "rings", "handlers"} <= set(held[net.systems.index(s)])
            assert s.machine.tlb.statistics().valid == 0, "TLB entries outlived their environments"
