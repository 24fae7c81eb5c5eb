"""The interval timer: one programmable countdown."""

from __future__ import annotations

from exospin.machine import IRQ_TIMER, Machine


def machine_with_counter() -> tuple[Machine, list[int]]:
    m = Machine("ds5000")
    irqs: list[int] = []
    m.cpu.install_vectors(lambda *a: None, lambda *a: 0, irqs.append)
    return m, irqs


def test_does_the_timer_interrupt_after_the_cycles_it_was_armed_for():
    m, irqs = machine_with_counter()
    m.timer.arm(1000)
    assert m.timer.expires_at == 1000
    m.cpu.compute(999)
    assert irqs == []
    m.cpu.compute(1)
    assert irqs == [IRQ_TIMER]
    assert m.timer.expires_at is None


def test_does_rearming_cancel_the_previous_countdown():
    m, irqs = machine_with_counter()
    m.timer.arm(100)
    m.timer.arm(1000)
    m.cpu.compute(500)
    assert irqs == []
    m.cpu.compute(500)
    assert irqs == [IRQ_TIMER]
    s = m.timer.statistics()
    assert (s.armed, s.expired, s.cancelled) == (2, 1, 1)


def test_does_a_cancelled_timer_stay_quiet():
    m, irqs = machine_with_counter()
    m.timer.arm(10)
    m.timer.cancel()
    m.timer.cancel()  # nothing armed: not counted again
    m.cpu.compute(100)
    assert irqs == []
    assert m.timer.statistics().cancelled == 1


def test_how_much_does_taking_an_interrupt_cost():
    m, irqs = machine_with_counter()
    m.timer.arm(10)
    m.cpu.compute(10)
    assert irqs == [IRQ_TIMER]
    assert m.now == 10 + m.profile.trap_entry + m.profile.interrupt


def test_does_a_timer_rearmed_thousands_of_times_leave_the_event_heap_small():
    m, irqs = machine_with_counter()
    for _ in range(10_000):
        m.timer.arm(1_000_000)
    assert m.loop.pending() == 1
    assert len(m.loop._heap) < 200  # cancelled countdowns are compacted away
