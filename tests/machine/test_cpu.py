"""The processor: loads and stores through the TLB, exceptions, interrupts.

The machine-level tests install a tiny stand-in kernel (three vectors) so
that the CPU's contract is tested on its own; the Aegis-level tests check
that each exception reaches the environment's own handler.
"""

from __future__ import annotations

import pytest

from exospin.aegis import Rights
from exospin.machine import USER_TOP, Exc, Machine, MachineCheck, tlb_key
from helpers import run_in_env


class StandIn:
    """The smallest kernel: records what the CPU hands it."""

    def __init__(self, m: Machine, asid: int = 1) -> None:
        self.m = m
        self.exceptions: list[tuple[Exc, int, bool, int]] = []
        self.refills: list[tuple[int, bool]] = []
        self.interrupts: list[int] = []
        self.exception_result = 0
        self.on_refill = None
        self.on_interrupt = None
        m.cpu.install_vectors(self.refill, self.exception, self.interrupt)
        m.cpu.set_asid(asid)

    def map(self, vpn: int, pfn: int, writable: bool = True) -> None:
        m = self.m
        m.tlb.write_random(tlb_key(vpn, m.tlb.asid), (pfn * m.tlb.words_per_frame, writable, pfn), m.loop.now)

    def refill(self, vpn: int, vaddr: int, write: bool):
        self.m.loop.now += 10  # the vector pays for its own trap
        self.refills.append((vaddr, write))
        if self.on_refill is not None:
            self.on_refill(vpn)
        return None  # mapped (or not) by writing the TLB itself

    def exception(self, code: Exc, vaddr: int, write: bool, value: int) -> int:
        self.exceptions.append((code, vaddr, write, value))
        if code is Exc.MOD:
            return self.exception_result  # True: skip the store
        return self.exception_result

    def interrupt(self, irq: int) -> None:
        self.interrupts.append(irq)
        if self.on_interrupt is not None:
            self.on_interrupt()


def test_what_does_a_cpu_with_no_kernel_do_on_a_tlb_miss():
    m = Machine("ds5000")
    with pytest.raises(MachineCheck):
        m.cpu.load(0x1000)


def test_do_loads_and_stores_reach_the_frame_the_tlb_names():
    m = Machine("ds5000")
    k = StandIn(m)
    k.map(3, 77)
    m.cpu.store(3 * 4096 + 16, 1234)
    assert m.cpu.load(3 * 4096 + 16) == 1234
    assert m.memory.words[77 * 1024 + 4] == 1234
    assert k.refills == [] and k.exceptions == []


def test_is_a_stored_value_taken_modulo_the_word():
    m = Machine("ds5000")
    k = StandIn(m)
    k.map(1, 5)
    m.cpu.store(4096, -1)
    assert m.cpu.load(4096) == 0xFFFF_FFFF


def test_what_happens_on_a_tlb_miss_the_kernel_fills():
    m = Machine("ds5000")
    k = StandIn(m)
    k.on_refill = lambda vpn: k.map(vpn, 40 + vpn)
    m.cpu.store(2 * 4096, 9)
    assert k.refills == [(2 * 4096, True)]
    assert m.cpu.load(2 * 4096) == 9
    assert len(k.refills) == 1  # the second access hits


@pytest.mark.parametrize("vaddr", [0x1002, 0x1001, USER_TOP, USER_TOP + 4096, -4])
def test_what_does_a_load_from_a_bad_address_raise(vaddr):
    m = Machine("ds5000")
    k = StandIn(m)
    k.exception_result = 4242  # what the handler emulates the load as
    assert m.cpu.load(vaddr) == 4242
    assert k.exceptions == [(Exc.ADEL, vaddr, False, 0)]


def test_what_does_a_store_to_an_unaligned_address_raise():
    m = Machine("ds5000")
    k = StandIn(m)
    m.cpu.store(0x2003, 7)
    assert k.exceptions == [(Exc.ADES, 0x2003, True, 7)]


def test_what_does_an_overflowing_add_return():
    m = Machine("ds5000")
    k = StandIn(m)
    k.exception_result = -1
    assert m.cpu.add(2, 3) == 5
    assert m.cpu.add(0x7FFF_FFFF, 1) == -1  # the handler's value is the result
    assert k.exceptions == [(Exc.OV, 0, False, 0x8000_0000)]
    assert m.cpu.add(-0x8000_0000, -1) == -1
    assert m.cpu.statistics().exceptions == {"OV": 2}


def test_what_if_a_store_hits_a_read_only_page():
    m = Machine("ds5000")
    k = StandIn(m)
    k.map(4, 60, writable=False)
    k.exception_result = True  # skip the store
    m.cpu.store(4 * 4096, 5)
    assert k.exceptions == [(Exc.MOD, 4 * 4096, True, 5)]
    assert m.cpu.load(4 * 4096) == 0
    # Now the handler makes the page writable and lets the store retry.
    k.exceptions.clear()
    k.exception_result = False
    original = k.exception

    def unprotect(code, vaddr, write, value):
        k.map(4, 60, writable=True)
        return original(code, vaddr, write, value)

    m.cpu.install_vectors(k.refill, unprotect, k.interrupt)
    m.cpu.store(4 * 4096, 6)
    assert m.cpu.load(4 * 4096) == 6
    assert len(k.exceptions) == 1


def test_can_a_fault_that_is_never_fixed_keep_the_timer_from_firing():
    # The refill vector maps nothing, so the load faults again and again; the
    # interrupt must still be taken between retries (here, it fixes the page).
    m = Machine("ds5000")
    k = StandIn(m)
    k.on_interrupt = lambda: k.map(8, 80)
    m.timer.arm(500)
    m.memory.words[80 * 1024] = 31
    assert m.cpu.load(8 * 4096) == 31
    assert k.interrupts == [0]
    assert 40 < len(k.refills) < 60  # about 500 cycles of 10-cycle retries
    k.on_interrupt = lambda: k.map(9, 81)
    m.timer.arm(500)
    m.cpu.store(9 * 4096, 3)
    assert m.memory.words[81 * 1024] == 3


def test_are_interrupts_taken_at_the_next_boundary():
    m = Machine("ds5000")
    k = StandIn(m)
    m.timer.arm(100)
    m.cpu.compute(99)
    assert k.interrupts == []
    m.cpu.compute(1)
    assert k.interrupts == [0]
    assert m.cpu.statistics().interrupts == 1


def test_does_compute_charge_one_cycle_per_instruction():
    m = Machine("ds5000")
    StandIn(m)
    t = m.cpu.cycles()
    m.cpu.compute(1000)
    m.cpu.mem_refs(10)
    assert m.cpu.cycles() - t == 1000 * m.profile.insn + 10 * m.profile.mem_ref


def test_do_register_saves_copy_and_charge_what_they_save():
    m = Machine("ds5000")
    m.cpu.regs[:4] = [1, 2, 3, 4]
    area = [0] * 32
    t = m.now
    m.cpu.save_registers(area, 3)
    assert area[:4] == [1, 2, 3, 0]
    assert m.now - t == 3 * m.profile.reg_save
    m.cpu.regs[:3] = [0, 0, 0]
    m.cpu.restore_registers(area, 3)
    assert m.cpu.regs[:3] == [1, 2, 3]


# ------------------------------------------------------------ under Aegis


def test_does_an_unaligned_load_reach_the_address_error_handler(system):
    def body(sys):
        seen = []
        sys.set_handler("address_error", lambda vaddr, write, value: seen.append((vaddr, write)) or 99)
        return sys.cpu.load(0x1006), seen

    assert run_in_env(system, body) == (99, [(0x1006, False)])


def test_does_the_overflow_handlers_return_value_become_the_result(system):
    def body(sys):
        sys.set_handler("overflow", lambda result: result & 0xFFFF_FFFF)
        return sys.cpu.add(0x7FFF_FFFF, 0x7FFF_FFFF)

    assert run_in_env(system, body) == 0xFFFF_FFFE
    assert system.kernel.statistics().exceptions == 1


def test_does_a_store_to_a_read_only_page_reach_the_protection_handler(system):
    def body(sys):
        cap = sys.frame_alloc(400)
        sys.tlb_write(0x7000, cap, False)
        faults = []

        def protection(vaddr):
            faults.append(vaddr)
            sys.tlb_write(0x7000, cap, True)  # unprotect; the store is retried

        sys.set_handler("protection", protection)
        sys.cpu.store(0x7004, 5)
        return faults, sys.cpu.load(0x7004)

    assert run_in_env(system, body) == ([0x7004], 5)


def test_can_a_protection_handler_skip_the_store(system):
    def body(sys):
        cap = sys.frame_alloc(401)
        sys.tlb_write(0x7000, cap, False)
        sys.set_handler("protection", lambda vaddr: True)
        sys.cpu.store(0x7000, 5)
        return sys.cpu.load(0x7000)

    assert run_in_env(system, body) == 0


# ------------------------------------------------------------ the copy instruction


def test_does_copy_move_words_across_page_boundaries(system):
    def body(sys):
        a, b, c = (sys.frame_alloc(p) for p in (410, 411, 412))
        sys.tlb_write(0x10000, a, True)
        sys.tlb_write(0x11000, b, True)
        sys.tlb_write(0x20000, c, True)
        for i in range(8):
            sys.cpu.store(0x10FF0 + 4 * i, 100 + i)  # straddles the first two pages
        sys.cpu.copy(0x20008, 0x10FF0, 8)
        return [sys.cpu.load(0x20008 + 4 * i) for i in range(8)]

    assert run_in_env(system, body) == [100 + i for i in range(8)]


def test_can_copy_write_into_a_page_mapped_read_only(system):
    # The protection handler skips the store; the block copy must not write either.
    def body(sys):
        src, dst = sys.frame_alloc(420), sys.frame_alloc(421)
        sys.tlb_write(0x10000, src, True)
        sys.tlb_write(0x20000, dst, False)
        sys.cpu.store(0x10000, 1234)
        sys.set_handler("protection", lambda vaddr: True)
        sys.cpu.copy(0x20000, 0x10000, 4)
        return sys.cpu.load(0x20000)

    assert run_in_env(system, body) == 0


def test_can_a_read_only_capability_be_turned_into_a_write_with_copy(system):
    box: dict = {}

    def lender(sys):
        cap = sys.frame_alloc(430)
        sys.tlb_write(0x10000, cap, True)
        sys.cpu.store(0x10000, 1)
        box["ro"] = sys.cap_derive(cap, Rights.READ)
        sys.yield_()
        box["lender sees"] = sys.cpu.load(0x10000)

    def borrower(sys):
        sys.cpu.compute(1)
        mine = sys.frame_alloc(431)
        sys.tlb_write(0x30000, mine, True)
        sys.cpu.store(0x30000, 666)
        sys.tlb_write(0x40000, box["ro"], False)  # all a READ capability allows
        sys.set_handler("protection", lambda vaddr: True)
        sys.cpu.copy(0x40000, 0x30000, 1)

    system.kernel.create_env(lender, "lender", 1)
    system.kernel.create_env(borrower, "borrower", 1)
    system.run()
    assert box["lender sees"] == 1


def test_what_if_translating_the_destination_evicts_the_source():
    m = Machine("ds5000")
    k = StandIn(m)
    k.map(1, 11)
    m.memory.words[11 * 1024] = 77
    evicted = []

    def refill(vpn):
        if vpn == 2 and not evicted:  # the destination's refill evicts the source entry
            evicted.append(m.tlb.invalidate(tlb_key(1, m.tlb.asid)))
        k.map(vpn, 10 + vpn)

    k.on_refill = refill
    m.cpu.copy(2 * 4096, 1 * 4096, 1)
    assert evicted == [True]
    assert m.memory.words[12 * 1024] == 77
