"""Visible revocation and the abort protocol."""

from __future__ import annotations

import pytest

from exospin.aegis import SLICE_US, AegisError, BadEnvironment, ResourceExhausted
from exospin.aegis.param import REVOKE_ROTATIONS
from helpers import run_in_env

BASE = 0x10000
PAGE = 4096


def quantum(system) -> int:
    return system.machine.profile.cycles_for_us(SLICE_US)


def paging_worker(npages, rounds, out, tag):
    def program(os_, sys):
        os_.map_region(BASE, npages)
        for i in range(npages):
            os_.store(BASE + i * PAGE, i + 1)
        for _ in range(rounds):
            for i in range(npages):
                os_.load(BASE + i * PAGE)
            sys.cpu.compute(500)
        out[tag] = ([os_.load(BASE + i * PAGE) for i in range(npages)], os_.statistics())
    return program


def test_does_a_cooperative_library_os_give_frames_back_when_asked(system):
    out: dict = {}
    eid = system.spawn(paging_worker(16, 300, out, "coop"), "coop", cooperative=True)
    k = system.kernel
    system.machine.loop.schedule(system.machine.profile.cycles_for_us(2_000), k.revoke, eid, 4)
    system.run()
    values, stats = out["coop"]
    assert values == list(range(1, 17))  # paged out and back in: nothing lost
    assert stats.page_outs == 4 and stats.pages_lost == 0
    s = k.statistics()
    assert (s.revocations, s.revocations_complied, s.aborts, s.frames_repossessed) == (1, 1, 0, 0)


def test_what_does_the_kernel_take_from_a_library_os_that_ignores_revocation(system):
    out: dict = {}
    eid = system.spawn(paging_worker(16, 300, out, "stubborn"), "stubborn", cooperative=False)
    k = system.kernel
    system.machine.loop.schedule(system.machine.profile.cycles_for_us(2_000), k.revoke, eid, 4)
    system.run()
    values, stats = out["stubborn"]
    assert stats.pages_lost == 4  # told by the repossessed upcall; they come back zeroed
    assert values.count(0) == 4 and values[:12] == list(range(1, 13))
    s = k.statistics()
    assert (s.revocations, s.revocations_complied, s.aborts, s.frames_repossessed) == (1, 0, 1, 4)
    assert k.env_statistics(eid).frames_repossessed == 4
    aborts = [j.text for j in k.journal if j.kind == "abort"]
    assert len(aborts) == 1 and "repossessed frames" in aborts[0]


def test_does_the_abort_protocol_respect_the_deadline_and_the_reserve(system):
    k = system.kernel
    seen: dict = {}

    def hoarder(sys):
        caps = [sys.frame_alloc(pfn) for pfn in range(700, 706)]
        sys.frame_reserve(caps[4])
        sys.frame_reserve(caps[5])  # the newest two: the first the abort would take
        with pytest.raises(ResourceExhausted, match="reserve is full"):
            sys.frame_reserve(caps[0])
        sys.set_handler("repossessed", lambda pfns: seen.setdefault("upcall", (list(pfns), k.loop.now)))
        seen["asked"] = k.loop.now
        k.revoke(sys.env_id(), 6)  # everything: only the reserve may survive
        while "upcall" not in seen:
            sys.cpu.compute(1000)
        seen["vector"] = sys.repossession_vector()
        seen["vector again"] = sys.repossession_vector()
        seen["kept"] = sorted(system.kernel.envs[sys.env_id()].frames)

    k.create_env(hoarder, "hoarder", 1)
    system.run()
    pfns, when = seen["upcall"]
    assert sorted(pfns) == [700, 701, 702, 703]
    assert seen["vector"] == pfns and seen["vector again"] == []
    assert seen["kept"] == [704, 705]
    deadline = seen["asked"] + REVOKE_ROTATIONS * 1 * quantum(system)
    assert deadline <= when < deadline + quantum(system)


def test_is_a_revocation_satisfied_by_frames_freed_before_the_upcall(system):
    k = system.kernel

    def quick(sys):
        caps = [sys.frame_alloc(pfn) for pfn in range(710, 714)]
        k.revoke(sys.env_id(), 2)  # no revoke handler: it just happens to free two
        sys.frame_free(caps[0])
        sys.frame_free(caps[1])
        for _ in range(6 * 10):
            sys.cpu.compute(quantum(system) // 10)

    k.create_env(quick, "quick", 1)
    system.run()
    s = k.statistics()
    assert (s.revocations_complied, s.aborts) == (1, 0)


def test_what_if_a_revoked_environment_exits_before_the_deadline(system):
    k = system.kernel

    def leaver(sys):
        sys.frame_alloc(720)
        k.revoke(sys.env_id(), 1)

    k.create_env(leaver, "leaver", 1)
    k.create_env(lambda sys: [sys.cpu.compute(1000) for _ in range(100)], "other", 1)
    system.run()
    assert k.statistics().aborts == 0  # the deadline event went with the environment


def test_what_if_the_kernel_revokes_with_bad_arguments(system):
    k = system.kernel
    errors: list[str] = []

    def body(sys):
        me = sys.env_id()
        cap = sys.frame_alloc(730)
        for eid, n in ((999, 1), ("x", 1), (me, 0), (me, -2), (me, "1")):
            try:
                k.revoke(eid, n)
            except AegisError as e:
                errors.append(str(e))
        k.revoke(me, 1)
        try:
            k.revoke(me, 1)
        except AegisError as e:
            errors.append(str(e))
        sys.frame_free(cap)  # complies
        return True

    assert run_in_env(system, body)
    assert errors == [
        "no environment 999", "no environment 'x'",
        "nframes must be a positive int, not 0", "nframes must be a positive int, not -2",
        "nframes must be a positive int, not '1'", "env 1 already has a revocation outstanding",
    ]
    with pytest.raises(BadEnvironment):
        k.revoke(1, 1)  # it has exited
