"""Shared virtual memory across machines (apps/svm.py): a Jacobi relaxation on 1, 2 and 4 machines.

The program is posix only; each system runs it unchanged on a network of its own
machines: ExOS on Aegis, SPIN's Unix personality, unix. What must hold: the grid
equals a sequential run's; pages move by read and write faults, counted as
messages; with enough computation per point more machines are faster, and with
none the network makes them slower; a node whose peer never answers ends with a
clear error, not a hang; the same seed gives the same figures; every network is
shut down with nothing held.
"""

from __future__ import annotations

from typing import Any

import pytest

from exospin import posix
from exospin.apps import svm
from exospin.bench import BenchmarkError, svm_suite
from exospin.spin.net import attach
from exospin.systems import network

SYSTEMS = ("aegis", "spin", "unix")


def _run(system: str, machines: int, size: int = 32, iterations: int = 2, work: int = 0,
         manager: str = "distributed") -> dict[Any, Any]:
    return svm_suite.run_one(system, "ds5000", machines, size, iterations, work, manager)


@pytest.mark.parametrize("system", SYSTEMS)
def test_does_a_server_thread_blocked_in_recvfrom_answer_while_another_thread_computes(system: str) -> None:
    """What the runtime's design stands on, on every system: one thread blocks in a socket
    call while another computes without yielding, and the blocked one still serves."""
    log: list[tuple[str, float]] = []

    def node0(argv: list[str]) -> int:
        fd = posix.socket()
        posix.bind(fd, ("0.0.0.0", 5000))

        def server() -> int:
            data, peer = posix.recvfrom(fd, posix.UDP_MAX_PAYLOAD)
            log.append(("served", posix.time_us()))
            posix.sendto(fd, data, peer)
            return 0

        tid = posix.thread_create(server)
        for _ in range(100):
            posix.compute(5000)  # 20 ms of ds5000 time, never yielding
        log.append(("computed", posix.time_us()))
        posix.thread_join(tid)
        posix.close(fd)
        return 0

    def node1(argv: list[str]) -> int:
        fd = posix.socket()
        posix.sendto(fd, b"ping", ("10.0.0.1", 5000))
        ok = posix.poll([fd], 1_000_000)
        posix.close(fd)
        return 0 if ok else 3

    net = network([system, system])
    try:
        for s in net.systems:
            if s.name == "spin":
                attach(s)
        p0 = net.systems[0].start(node0)
        net.run(until_us=1000)
        p1 = net.systems[1].start(node1)
        net.run(until_us=2_000_000)
        assert (net.systems[0].exit_status(p0), net.systems[1].exit_status(p1)) == (0, 0)
    finally:
        assert not any(any(h.values()) for h in net.shutdown())
    assert [k for k, _ in log] == ["served", "computed"]  # answered before the computing thread was done


@pytest.mark.parametrize("system", SYSTEMS)
def test_is_the_grid_the_sequential_runs_on_two_and_four_machines(system: str) -> None:
    for machines in (2, 4):
        out = _run(system, machines)  # run_one checks the grid against reference(): BenchmarkError if not
        f = svm_suite.figures(out, machines)
        # every middle node read its neighbours' boundary pages and wrote its own again
        assert f["read_faults"] >= 2 * (machines - 1) and f["write_faults"] >= machines - 1
        assert f["messages"] > 0 and f["datagrams"] > f["messages"]  # a 4 KB page is three datagrams
        assert f["read_fault_us"] > 0 and f["write_fault_us"] > 0


def test_is_one_machine_free_of_faults_and_messages() -> None:
    f = svm_suite.figures(_run("aegis", 1), 1)
    assert f["read_faults"] == f["write_faults"] == f["messages"] == 0


def test_does_the_central_manager_give_the_same_grid_with_more_messages_to_node_0() -> None:
    dist = _run("unix", 4, manager="distributed")
    cent = _run("unix", 4, manager="central")
    assert dist["result"] == cent["result"] == svm.reference(32, 2)
    assert cent[0]["served"] > dist[0]["served"]  # every request goes through node 0


def test_is_the_speedup_sensible() -> None:
    """With a heavy relaxation, more machines are faster (but not more than N times);
    with the bare stencil a page fetch costs more than a node's share of an iteration."""
    def elapsed(machines: int, work: int) -> float:
        return float(_run("aegis", machines, size=64, iterations=2, work=work)[0]["elapsed_us"])

    heavy = [elapsed(n, 400) for n in (1, 2, 4)]
    assert heavy[0] > heavy[1] > heavy[2] > heavy[0] / 4
    assert elapsed(2, 0) > elapsed(1, 0)


def test_is_a_run_deterministic() -> None:
    a, b = _run("spin", 2), _run("spin", 2)
    del a["wall_ns"], b["wall_ns"]
    assert a == b


def _silent(argv: list[str]) -> int:
    """A process with a socket (its machine's stack is up and answers ARP) that never
    listens on the runtime's port: its node takes no part."""
    fd = posix.socket()
    posix.bind(fd, ("0.0.0.0", 9))
    posix.poll([fd], 1_000_000)
    posix.close(fd)
    return 0


@pytest.mark.parametrize(("peer", "error"), [
    (None, "node 0: cannot reach node 1 at 10.0.0.2: EHOSTUNREACH"),  # no stack up: no ARP reply
    (_silent, "node 0: no answer to hello (every node's socket bound) within 200 ms: a machine stopped answering"),
])
def test_does_a_node_whose_peer_never_answers_end_with_a_clear_error(peer: Any, error: str) -> None:
    """Node 1 never runs the program: its machine does not answer at all, or answers ARP
    but nothing listens on the runtime's port."""
    net = network(["aegis", "unix"])
    out: dict[Any, Any] = {}
    try:
        prog = svm.jacobi(["10.0.0.1", "10.0.0.2"], 32, 2, out, timeout_us=200_000.0)
        pid = net.systems[0].start(prog, ["0"])
        if peer is not None:
            net.systems[1].start(peer)
        net.run(until_us=5_000_000)
        assert net.systems[0].exit_status(pid) == 2
    finally:
        assert not any(any(h.values()) for h in net.shutdown())
    assert out[0]["error"].startswith(error)


def test_bad_parameters_are_refused() -> None:
    hosts = ["10.0.0.1", "10.0.0.2"]
    with pytest.raises(ValueError, match="unknown manager 'ring'"):
        svm.jacobi(hosts, 32, 2, {}, manager="ring")
    with pytest.raises(ValueError, match="size must be an int >= 3 that the 2 nodes divide"):
        svm.jacobi(hosts, 33, 2, {})
    with pytest.raises(ValueError, match="iterations must be an int >= 1"):
        svm.jacobi(hosts, 32, 0, {})
    with pytest.raises(ValueError, match="hosts must be 1 to 32 dotted IPv4 addresses"):
        svm.jacobi([], 32, 2, {})
    with pytest.raises(ValueError, match="node 2 is not one of the 2 nodes"):
        svm.Svm(hosts, 2, 4)


def test_does_a_wrong_result_fail_the_row(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(svm_suite, "reference", lambda size, iterations: [])
    with pytest.raises(BenchmarkError, match="differs from the sequential run's"):
        _run("aegis", 1)


def test_the_suite_rows_carry_their_figures() -> None:
    rows = {(r.benchmark, r.system): r.as_dict() for r in svm_suite.run("ds5000", quick=True, systems=("unix",),
                                                                   work_per_point=(0,))}
    assert set(rows) == {(f"svm_jacobi_n{n}_w0", "unix") for n in (1, 2, 4)}
    for d in rows.values():
        assert set(d["figures"]) == {"read_fault_us", "write_fault_us", "read_faults", "write_faults", "messages",
                                     "datagrams", "speedup"}
        assert d["iterations"] == 1 and d["sim_us"] > 0
    assert rows[("svm_jacobi_n1_w0", "unix")]["figures"]["speedup"] == 1.0
