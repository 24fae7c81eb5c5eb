"""Physical memory: numbered frames holding real bytes, reached through the TLB."""

from __future__ import annotations

from exospin.aegis import Rights
from exospin.machine import Machine, PhysicalMemory
from helpers import run_in_env


def test_does_a_store_through_one_mapping_read_back_through_another(system):
    def body(sys):
        cap = sys.frame_alloc(300)
        sys.tlb_write(0x10000, cap, True)
        sys.tlb_write(0x20000, cap, False)  # the same frame, read-only, elsewhere
        sys.cpu.store(0x10000 + 8, 0xDEADBEEF)
        return sys.cpu.load(0x20000 + 8), sys.cpu.load(0x20000 + 12)

    assert run_in_env(system, body) == (0xDEADBEEF, 0)


def test_are_the_bytes_in_the_frame_the_bytes_that_were_stored(system):
    def body(sys):
        cap = sys.frame_alloc(301)
        sys.tlb_write(0x30000, cap, True)
        sys.cpu.store(0x30000 + 4, 0x04030201)
        return bytes(system.machine.memory.frame(301)[4:8])

    assert run_in_env(system, body) == b"\x01\x02\x03\x04"  # little-endian words


def test_do_two_environments_sharing_a_frame_see_each_others_stores(system):
    box: dict = {}

    def owner(sys):
        cap = sys.frame_alloc(302)
        sys.tlb_write(0x40000, cap, True)
        sys.cpu.store(0x40000, 41)
        box["ro"] = sys.cap_derive(cap, Rights.READ)  # delegated by passing it along
        sys.yield_()
        sys.cpu.store(0x40000, 42)
        sys.yield_()
        sys.frame_free(cap)

    def reader(sys):
        sys.cpu.compute(1)
        sys.tlb_write(0x50000, box["ro"], False)  # its own address, someone else's frame
        box["first"] = sys.cpu.load(0x50000)
        sys.yield_()
        box["second"] = sys.cpu.load(0x50000)

    system.kernel.create_env(owner, "owner", 1)
    system.kernel.create_env(reader, "reader", 1)
    system.run()
    assert (box["first"], box["second"]) == (41, 42)
    assert system.kernel.deaths == {1: "exited", 2: "exited"}


def test_does_a_frame_come_back_zeroed_after_someone_else_used_it(system):
    box: dict = {}

    def first(sys):
        cap = sys.frame_alloc(303)
        sys.tlb_write(0x60000, cap, True)
        for off in range(0, 4096, 4):
            sys.cpu.store(0x60000 + off, 0x5A5A5A5A)
        sys.frame_free(cap)

    def second(sys):
        cap = sys.frame_alloc(303)
        sys.tlb_write(0x60000, cap, False)
        box["words"] = {sys.cpu.load(0x60000 + off) for off in range(0, 4096, 4)}
        sys.frame_free(cap)

    system.kernel.create_env(first, "first", 1)
    system.run()
    system.kernel.create_env(second, "second", 1)
    system.run()
    assert box["words"] == {0}


def test_do_zero_and_copy_move_whole_frames():
    mem = PhysicalMemory(4, 4096, 4)
    mem.frame(1)[:4] = b"abcd"
    mem.copy(2, 1)
    assert bytes(mem.frame(2)[:4]) == b"abcd"
    assert mem.words[2 * mem.words_per_frame] == int.from_bytes(b"abcd", "little")
    mem.zero(1)
    assert bytes(mem.frame(1)) == bytes(4096)
    s = mem.statistics()
    assert (s.frames, s.frame_bytes, s.zero_fills, s.frame_copies) == (4, 4096, 1, 1)


def test_are_words_as_wide_as_the_profile_says():
    m = Machine("alpha3000")
    assert m.memory.words.itemsize == 8
    m.memory.words[0] = (1 << 64) - 1
    assert bytes(m.memory.frame(0)[:8]) == b"\xff" * 8
