"""The memory hierarchy (machine/caches.py): does each cache behave as its geometry says?

The hierarchy is tested on its own (addresses in, stall cycles out) and through the
CPU's loads and stores on a machine built with ``memory="detailed"``; ``ideal`` must
leave every figure as it was.
"""

from __future__ import annotations

import pytest

from exospin import posix
from exospin.machine import (
    HIERARCHIES,
    Footprint,
    KernelText,
    Machine,
    MemoryHierarchy,
    UnknownMemoryModel,
    default_memory,
    memory_model,
    tlb_key,
)
from exospin.systems import boot

DS, AXP = HIERARCHIES["ds5000"], HIERARCHIES["alpha3000"]


# ------------------------------------------------------------ geometry


@pytest.mark.parametrize("spec", [DS, AXP], ids=["ds5000", "alpha3000"])
def test_a_working_set_that_fits_hits_after_warm_up(spec):
    h = MemoryHierarchy(spec)
    line, size = spec.dcache.line.cycles, spec.dcache.size.cycles
    lines = [i * line for i in range(size // line)]  # exactly the cache
    first = sum(h.read(a, 0) for a in lines)
    miss = spec.l1_miss.cycles if spec.memory_miss is None else spec.memory_miss.cycles
    assert first == len(lines) * miss  # cold: every line from memory
    before = h.statistics().caches[1].misses
    assert sum(h.read(a, 0) for a in lines) == 0  # second pass: all hits
    assert h.statistics().caches[1].misses == before


@pytest.mark.parametrize("spec", [DS, AXP], ids=["ds5000", "alpha3000"])
def test_two_addresses_one_cache_size_apart_miss_on_every_alternate_access(spec):
    h = MemoryHierarchy(spec)
    a, b = 0x1000, 0x1000 + spec.dcache.size.cycles  # same set of a direct-mapped cache
    h.read(a, 0)
    h.read(b, 0)
    for _ in range(10):
        assert h.read(a, 0) > 0
        assert h.read(b, 0) > 0
    d = h.statistics().caches[1]
    assert d.name == "D-cache" and d.misses == d.accesses == 22


def test_addresses_in_different_sets_do_not_conflict():
    h = MemoryHierarchy(DS)
    a, b = 0, DS.dcache.line.cycles  # neighbouring lines
    h.read(a, 0)
    h.read(b, 0)
    assert h.read(a, 0) == 0 and h.read(b, 0) == 0


def test_the_instruction_cache_is_separate_from_the_data_cache():
    h = MemoryHierarchy(DS)
    h.read(0x4000, 0)
    assert h.fetch(0x4000, 0) == DS.l1_miss.cycles  # split caches: a data line is no instruction line
    assert h.fetch(0x4000, 0) == 0
    assert h.read(0x4000, 0) == 0


def test_the_ds5000_miss_costs_the_refill_from_memory():
    h = MemoryHierarchy(DS)
    assert h.read(0x100, 0) == DS.l1_miss.cycles == 15
    assert h.read(0x104, 0) == 0  # the same 16-byte line


def test_the_alpha_board_cache_catches_first_level_misses():
    h = MemoryHierarchy(AXP)
    a, b = 0x2000, 0x2000 + AXP.dcache.size.cycles  # conflict in the 8 KB D-cache, not in the 512 KB B-cache
    assert h.read(a, 0) == AXP.memory_miss.cycles  # cold: from memory
    assert h.read(b, 0) == AXP.memory_miss.cycles
    assert h.read(a, 0) == AXP.l1_miss.cycles  # evicted from the D-cache, caught by the B-cache
    assert AXP.l1_miss.cycles < AXP.memory_miss.cycles
    c = a + AXP.bcache.size.cycles  # conflicts in the B-cache too
    assert h.read(c, 0) == AXP.memory_miss.cycles
    assert h.read(a, 0) == AXP.memory_miss.cycles
    names = [c.name for c in h.statistics().caches]
    assert names == ["I-cache", "D-cache", "B-cache"]


# -------------------------------------------------------- write buffer


@pytest.mark.parametrize("spec", [DS, AXP], ids=["ds5000", "alpha3000"])
def test_a_write_through_store_stalls_only_when_the_write_buffer_is_full(spec):
    h = MemoryHierarchy(spec)
    depth, w = spec.write_buffer.cycles, spec.write_cycles.cycles
    line = spec.dcache.line.cycles
    # depth stores at one cycle, to different lines (no merging): they fit
    assert [h.write(i * line, 0) for i in range(depth)] == [0] * depth
    # the next one finds the buffer full: it waits for the oldest entry to leave
    assert h.write(depth * line, 0) == w
    assert h.statistics().write_stalls == 1
    # once the buffer has drained, a store is free again
    later = (depth + 2) * w
    assert h.write(0, later) == 0


def test_stores_spaced_at_the_drain_rate_never_stall():
    h = MemoryHierarchy(DS)
    w = DS.write_cycles.cycles
    assert all(h.write(i * 4, i * w) == 0 for i in range(100))
    assert h.statistics().write_stalls == 0


def test_the_alpha_write_buffer_merges_stores_to_a_waiting_block():
    h = MemoryHierarchy(AXP)
    h.write(0, 0)  # leaves at once
    h.write(64, 0)  # waits behind it
    assert h.write(72, 0) == 0  # same 32-byte block as the waiting entry: merged
    assert h.statistics().write_merges == 1
    assert MemoryHierarchy(DS).spec.write_merge is False  # the R3000's buffer holds words


def test_a_store_miss_allocates_on_the_r3000_but_not_on_the_21064():
    ds, axp = MemoryHierarchy(DS), MemoryHierarchy(AXP)
    ds.write(0x300, 0)
    axp.write(0x300, 0)
    assert ds.read(0x300, 100) == 0
    assert axp.read(0x300, 100) > 0  # read-allocate only


def test_a_footprint_is_replayed_through_the_caches():
    h = MemoryHierarchy(DS)
    fp = Footprint(fetches=(0x8000, 0x8010), reads=(0x9000,), writes=(0xA000,))
    first = h.run(fp, 0)
    assert first == 3 * DS.l1_miss.cycles
    assert h.run(fp, 1000) == 0  # warm, and the buffer drained


# ----------------------------------------------------- on the machine


def test_ideal_is_the_default_and_builds_no_hierarchy():
    assert default_memory() == "ideal"
    m = Machine("ds5000")
    assert m.memory_model == "ideal" and m.hierarchy is None and m.statistics().caches is None


def test_an_unknown_memory_model_is_refused():
    with pytest.raises(UnknownMemoryModel, match="known: ideal, detailed"):
        Machine("ds5000", memory="fast")
    with pytest.raises(UnknownMemoryModel):
        with memory_model("fast"):
            pass
    assert default_memory() == "ideal"


def test_memory_model_sets_the_default_within_its_block():
    with memory_model("detailed"):
        assert Machine("alpha3000").hierarchy is not None
    assert Machine("alpha3000").hierarchy is None


def _loads(memory: str, addrs: list[int]) -> tuple[int, Machine]:
    m = Machine("ds5000", memory=memory)
    m.cpu.install_vectors(lambda vpn, vaddr, write: None, lambda *a: 0, lambda irq: None)
    m.cpu.set_asid(1)
    for vpn in range(4):
        m.tlb.write_index(vpn, tlb_key(vpn, 1), ((vpn + 1) * m.tlb.words_per_frame, True, vpn + 1))
    t = m.now
    for a in addrs:
        m.cpu.load(a)
    return m.now - t, m


def test_cpu_loads_go_through_the_data_cache_under_detailed():
    addrs = [0x10, 0x14, 0x10, 0x1010]  # one line twice, then another page
    ideal, _ = _loads("ideal", addrs)
    detailed, m = _loads("detailed", addrs)
    assert ideal == len(addrs)  # mem_ref is one cycle on ds5000
    assert detailed == ideal + 2 * DS.l1_miss.cycles  # two lines missed, the rest hit
    d = m.statistics().caches.caches[1]
    assert (d.accesses, d.misses) == (4, 2)


def test_a_page_zero_under_detailed_is_paced_by_the_write_buffer():
    m = Machine("ds5000", memory="detailed")
    t = m.now
    m.memory.zero(3)
    words = m.profile.page_size // m.profile.word_bytes
    # a store a cycle against one leaving every write_cycles: once the buffer is full each
    # store waits write_cycles - 1 for a slot
    w, depth = DS.write_cycles.cycles, DS.write_buffer.cycles
    assert (words - 2 * depth) * (w - 1) <= m.now - t <= words * (w - 1)
    assert m.statistics().caches.writes == words
    ideal = Machine("ds5000")
    ideal.memory.zero(3)
    assert ideal.now == 0  # ideal: no stall (the kernel charges its loop itself)


def test_kernel_data_references_never_reach_the_tlb():
    # kseg0 (R3000) and KSEG (21064 superpages) are unmapped: the hierarchy is physical
    m = Machine("alpha3000", memory="detailed")
    before = m.tlb.statistics()
    m.cpu.save_registers([0] * 32, 32)
    m.cpu.restore_registers([0] * 32, 32)
    assert m.tlb.statistics() == before
    assert m.statistics().caches.writes == 32


def _program(argv: list[str]) -> int:
    """A posix program touching memory: it fills two pages, reads them back, and forks
    a child that does the same on its copy (page copies, loads, stores, system calls)."""
    a = posix.mmap(2)
    words = 2 * posix.page_size() // posix.word_size()
    step = posix.word_size()
    for i in range(0, words, 3):
        posix.store(a + i * step, i)
    total = sum(posix.load(a + i * step) for i in range(0, words, 3))
    pid = posix.fork(lambda: posix.load(a) + 1)
    posix.wait(pid)
    return 0 if total == sum(range(0, words, 3)) else 1


def _run(name: str, memory: str) -> tuple[int, object]:
    s = boot(name, "ds5000", memory=memory)
    pid = s.start(_program, [])
    s.run()
    assert s.exit_status(pid) == 0
    return s.machine.now, s.machine.statistics().caches


@pytest.mark.parametrize("name", ["aegis", "spin", "unix"])
def test_detailed_runs_are_deterministic_and_dearer_than_ideal(name):
    first = _run(name, "detailed")
    assert first == _run(name, "detailed")
    assert first[1].stall_cycles > 0
    ideal = _run(name, "ideal")
    assert ideal[1] is None and first[0] > ideal[0]


# ------------------------------------------------------------ the CLI


def test_the_cli_takes_memory_and_refuses_an_unknown_model(capsys, monkeypatch):
    from exospin.cli import main

    assert main(["bench", "demux", "--quick", "--memory", "fast"]) == 2
    assert "invalid choice: 'fast'" in capsys.readouterr().err
    built: list[str] = []
    real = Machine.__init__

    def spy(self, *args, **kwargs):
        real(self, *args, **kwargs)
        built.append(self.memory_model)

    monkeypatch.setattr(Machine, "__init__", spy)
    assert main(["demo", "spin", "--memory", "detailed"]) == 0
    assert built and set(built) == {"detailed"}
    assert default_memory() == "ideal"  # restored after the command


# ------------------------------------------------- kernel footprints


def test_a_kernel_paths_footprint_follows_from_its_layout():
    text = KernelText(base=0x10_0000)
    a = text.footprint("syscall", 8)
    b = text.footprint("exception", 4)
    assert a.fetches == (0x10_0000, 0x10_0010)  # one fetch per 16-byte line of its 8 instructions
    assert b.fetches[0] == 0x10_0020  # laid out after the first path
    assert text.footprint("syscall", 8).fetches == a.fetches  # the same path, the same lines
    with pytest.raises(ValueError, match="laid out with 8 instructions"):
        text.footprint("syscall", 9)


def test_touch_charges_a_kernel_path_only_under_detailed():
    fp = KernelText(base=0x10_0000).footprint("syscall", 8, reads=(0x20_0000,))
    ideal, detailed = Machine("ds5000"), Machine("ds5000", memory="detailed")
    ideal.cpu.touch(fp)
    detailed.cpu.touch(fp)
    assert ideal.now == 0
    assert detailed.now == 3 * DS.l1_miss.cycles  # two 16-byte code lines and one data line
    t = detailed.now
    detailed.cpu.touch(fp)
    assert detailed.now == t  # warm
    # user data in the same sets evicts the path's lines
    detailed.hierarchy.read(0x20_0000 + DS.dcache.size.cycles, detailed.now)
    detailed.cpu.touch(fp)
    assert detailed.now == t + DS.l1_miss.cycles
