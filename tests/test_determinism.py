"""Same seed, same workload: the same trace, bit for bit.

The workload has everything that could make two runs differ: several
environments preempted by the timer, a cooperative and an uncooperative
library OS under revocation (so the abort protocol runs), a server called
by synchronous PCT, and a callee that dies during a call.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from exospin.aegis import CalleeDied
from exospin.systems import boot
from helpers import assert_no_leaks

BASE = 0x10000
PAGE = 4096


def workload(revoke_at_us: float = 3_000.0, rounds: int = 200, seed: int = 0) -> tuple[str, Any, Any]:
    """Run the workload on a fresh traced system; return (trace digest, kernel stats, machine stats)."""
    system = boot("aegis", "ds5000", seed=seed, trace=True)
    k = system.kernel
    shared: dict[str, Any] = {}

    def worker(os_, sys):
        os_.map_region(BASE, 12)
        for i in range(12):
            os_.store(BASE + i * PAGE, i + 1)
        for _ in range(rounds):
            for i in range(12):
                os_.load(BASE + i * PAGE)
            sys.cpu.compute(700)

    def server(os_, sys):
        sys.pct_register(0, lambda x: x * 2)
        sys.pct_register(1, lambda: 1 // 0)
        while not shared.get("done"):
            sys.cpu.compute(50)
            sys.yield_()

    def client(os_, sys):
        sys.yield_()
        total = 0
        for i in range(20):
            total += sys.pct_sync(shared["server"], 0, i)
            sys.cpu.compute(300)
        shared["done"] = True
        try:
            sys.pct_sync(shared["server"], 1)
        except CalleeDied:
            pass
        return total

    a = system.spawn(worker, "coop", slices=2, cooperative=True)
    b = system.spawn(worker, "stubborn", slices=1, cooperative=False)
    shared["server"] = system.spawn(server, "server")
    system.spawn(client, "client")

    def pressure() -> None:
        k.revoke(a, 3)
        k.revoke(b, 3)

    system.machine.loop.schedule(system.machine.profile.cycles_for_us(revoke_at_us), pressure)
    system.run()
    assert system.tracer is not None
    result = (system.tracer.digest(), k.statistics(), system.machine.statistics())
    assert k.statistics().aborts == 1 and k.statistics().revocations_complied == 1
    assert_no_leaks(system)
    return result


def test_does_the_same_workload_give_the_same_trace():
    first = workload()
    second = workload()
    assert first == second


def test_does_a_different_workload_give_a_different_trace():
    base = workload()
    later_revocation = workload(revoke_at_us=3_500.0)
    longer = workload(rounds=201)
    assert len({base[0], later_revocation[0], longer[0]}) == 3


def test_is_the_trace_independent_of_python_hash_randomisation():
    # Another interpreter with another string-hash seed must agree bit for bit.
    here = Path(__file__).resolve().parent
    code = "import test_determinism as t; print(t.workload()[0])"
    # the child runs in tests/: a relative PYTHONPATH entry (PYTHONPATH=src) must still name this tree
    inherited = [str(Path(p).resolve()) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = dict(os.environ, PYTHONHASHSEED="12345", PYTHONPATH=os.pathsep.join([str(here), *inherited]))
    out = subprocess.run([sys.executable, "-c", code], cwd=here, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == workload()[0]


def test_does_the_trace_record_every_environment_and_the_kernel_events():
    system = boot("aegis", "ds5000", seed=0, trace=True)
    system.spawn(lambda os_, sys: sys.cpu.compute(30_000), "busy")
    system.spawn(lambda os_, sys: sys.cpu.compute(10), "brief")
    system.run()
    events = system.tracer.events
    names = {e["args"]["name"] for e in events if e.get("name") == "thread_name"}
    assert names == {"env 1: busy", "env 2: brief"}
    kinds = {e["name"] for e in events if e.get("cat") == "kernel"}
    assert {"create", "destroy"} <= kinds
    assert any(e.get("cat") == "cpu" and e["ph"] == "X" for e in events)
    assert_no_leaks(system)
