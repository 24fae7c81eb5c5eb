"""Kernel paths' footprints under ``detailed`` memory (docs/memory.md).

Each system's entry paths declare the lines they touch (machine.KernelImage); these
tests check that the lines follow the caches: a warm path adds no stall, a user
working set run between kernel entries evicts the path's data lines and the next
entry misses them, and under ``ideal`` nothing of this reaches the clock.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exospin import posix
from exospin.machine import HIERARCHIES, Footprint, Machine, MemoryHierarchy, instruction_profile
from exospin.systems import boot


def _sweep(base: int, nbytes: int, line: int) -> None:
    """A user working set: one load per cache line of ``nbytes`` from ``base``."""
    for a in range(base, base + nbytes, line):
        posix.load(a)


def _evicting_bytes(profile: str) -> tuple[int, int]:
    """The bytes a user sweep needs to replace every line of the largest data cache, and the
    line size it steps by."""
    spec = HIERARCHIES[profile]
    biggest = spec.bcache if spec.bcache is not None else spec.dcache
    return biggest.size.cycles, spec.dcache.line.cycles


def _pipe_rounds(profile: str, cyc: Any) -> tuple[Any, dict[str, int]]:
    """A program timing (with the machine's cycle counter ``cyc``) a warm pipe round, the
    round after a user sweep, another warm round, on the system's pipe path."""
    out: dict[str, int] = {}
    nbytes, line = _evicting_bytes(profile)

    def main(argv: list[str]) -> int:
        page = posix.page_size()
        buf = posix.mmap(nbytes // page)
        _sweep(buf, nbytes, line)  # fault it in
        r, w = posix.pipe()

        def round_() -> int:
            t = cyc()
            posix.write(w, b"abcd")
            posix.read(r, 4)
            return cyc() - t
        for _ in range(4):
            round_()
        out["warm"] = round_()
        _sweep(buf, nbytes, line)
        out["cold"] = round_()
        out["again"] = round_()
        return 0
    return main, out


@pytest.mark.parametrize("name", ["unix", "spin"])
@pytest.mark.parametrize("profile", ["ds5000", "alpha3000"])
def test_a_user_working_set_evicts_the_kernels_pipe_path_which_then_misses(name: str, profile: str) -> None:
    got = {}
    for memory in ("ideal", "detailed"):
        s = boot(name, profile, memory=memory)
        main, out = _pipe_rounds(profile, s.machine.cpu.cycles)
        pid = s.start(main, [], "pipes")
        s.run(until_us=5_000_000)
        assert s.exit_status(pid) == 0
        got[memory] = out
        s.shutdown()
    ideal, detailed = got["ideal"], got["detailed"]
    assert ideal["warm"] == ideal["cold"] == ideal["again"]  # every reference hits
    # the kernel's lines were evicted: the round after the sweep misses them (at least one
    # refill more than either warm round; warm rounds differ only by the write buffer's state)
    miss = HIERARCHIES[profile].l1_miss.cycles
    assert detailed["cold"] >= max(detailed["warm"], detailed["again"]) + miss


def test_a_user_working_set_evicts_aegis_system_call_lines() -> None:
    """Aegis' null system call reads its system-call table entry: warm, it adds no
    stall; after the user sweeps the D-cache it misses that one line."""
    out: dict[str, int] = {}
    nbytes, line = _evicting_bytes("ds5000")
    base = 0x0100_0000
    s = boot("aegis", "ds5000", memory="detailed")

    def prog(os_: Any, sys: Any) -> int:
        os_.map_region(base, nbytes // sys.page_size)
        cyc = sys.cpu.cycles

        def call() -> int:
            t = cyc()
            sys.null()
            return cyc() - t
        for a in range(base, base + nbytes, line):
            sys.cpu.load(a)
        call()
        out["warm"] = call()
        for a in range(base, base + nbytes, line):
            sys.cpu.load(a)
        out["cold"] = call()
        return 0

    s.spawn(prog, "p")
    s.run(until_us=2_000_000)
    c = s.kernel.c
    assert out["warm"] == c.syscall  # warm: exactly the composition's hits
    assert out["cold"] == c.syscall + HIERARCHIES["ds5000"].l1_miss.cycles  # the table's line, refilled
    s.shutdown()


def test_a_paths_text_is_as_long_as_its_cost_composition_counts() -> None:
    """Aegis' null system call: trap (no instruction), decode (two), the table's load
    (one), jr/rfe (two): five instructions, two 16-byte lines."""
    from exospin.aegis.core import Costs, Footprints

    m = Machine("ds5000")
    ip = instruction_profile(m.profile)
    assert Costs(type("M", (), {"profile": ip})()).syscall == 5  # type: ignore[arg-type]
    fp = Footprints(m).syscall
    assert len(fp.fetches) == 2 and len(fp.reads) == 1
    # the Alpha's trap entry and return run PALcode: its instructions are fetched too
    assert instruction_profile(Machine("alpha3000").profile).trap_entry > 0


addrs = st.lists(st.integers(0, 1 << 20).map(lambda a: a & -4), max_size=12).map(tuple)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["ds5000", "alpha3000"]), st.lists(st.tuples(addrs, addrs, addrs, st.integers(0, 1 << 16)),
                                                             min_size=1, max_size=6))
def test_run_replays_a_footprint_as_its_references_one_by_one(profile: str, runs: list[Any]) -> None:
    """``run`` (with its warm shortcut) charges what a fetch, read and write per address
    charge, issued one a cycle, on the same caches: the same stalls, the same state."""
    fast, slow = MemoryHierarchy(HIERARCHIES[profile]), MemoryHierarchy(HIERARCHIES[profile])
    now = 0
    for _ in range(2):  # twice: the second pass may take the warm shortcut
        for fetches, reads, writes, base in runs:
            fp = Footprint(fetches, reads, (), (), writes)
            got = fast.run(fp, now, base)
            want = 0
            for a in fetches:
                want += slow.fetch(a, now)
            for a in reads:
                want += slow.read(a, now)
            t = now + want
            for a in writes:
                s = slow.write(base + a, t)
                want += s
                t += s + 1
            assert got == want
            now += want + 50
    assert fast.icache.tags == slow.icache.tags and fast.dcache.tags == slow.dcache.tags
    assert fast.statistics().stall_cycles == slow.statistics().stall_cycles


def test_the_r3000_random_register_does_not_count_stall_cycles() -> None:
    """The Random register decrements once per run cycle: cycles the pipeline spends
    stalled on a cache miss do not move it (docs/memory.md), so the slot a refill takes
    follows from the run cycles alone, and a loop whose misses add a multiple of the
    register's period does not keep hitting the same few slots."""
    m = Machine("ds5000", memory="detailed")
    span = m.tlb.entries - m.tlb.wired
    m.loop.now = 1000
    assert m.tlb.victim(m.loop.now) == m.tlb.wired + 1000 % span
    m.hierarchy.read(0x4000, m.loop.now)  # a miss: stall cycles
    stall = m.hierarchy.stall_cycles
    m.loop.now += stall
    assert stall > 0
    assert m.tlb.victim(m.loop.now) == m.tlb.wired + 1000 % span


def test_ideal_charges_no_footprint() -> None:
    """Under ``ideal`` the kernels build no touch: their paths charge what they did."""
    for name in ("aegis", "unix"):
        s = boot(name, "ds5000")
        assert s.machine.hierarchy is None
        touch = s.kernel._touch if name == "aegis" else s.kernel.touch
        assert touch is None
        s.shutdown()


def test_the_detailed_machine_runs_the_21064s_palcode_and_ideal_keeps_the_old_costs() -> None:
    """Under ``detailed`` the Alpha's trap entry and return cost the PALcode they run
    (caches.DETAILED_COSTS); ``ideal`` keeps profiles.py's figures; the R3000's stand."""
    from exospin.machine import DETAILED_COSTS, PAL_INSNS, get_profile

    a = Machine("alpha3000", memory="detailed").profile
    assert a.trap_entry == DETAILED_COSTS["alpha3000"]["trap_entry"].cycles > PAL_INSNS["trap_entry"].cycles
    assert a.trap_return == DETAILED_COSTS["alpha3000"]["trap_return"].cycles
    assert Machine("alpha3000").profile is get_profile("alpha3000")
    assert Machine("ds5000", memory="detailed").profile is get_profile("ds5000")
    assert a.insn == get_profile("alpha3000").insn  # nothing else revised
