"""The event loop: one heap of (time, sequence, event), the only source of ordering."""

from __future__ import annotations

from exospin.machine import INFINITY, EventLoop


def test_what_order_do_events_fire_in():
    loop = EventLoop()
    fired: list[str] = []
    loop.schedule(30, fired.append, "c")
    loop.schedule(10, fired.append, "a1")
    loop.schedule(20, fired.append, "b")
    loop.schedule(10, fired.append, "a2")  # same time: scheduled later, fires later
    loop.now = 100
    loop.fire_due()
    assert fired == ["a1", "a2", "b", "c"]


def test_what_fires_when_the_clock_has_only_reached_some_events():
    loop = EventLoop()
    fired: list[int] = []
    for t in (5, 15, 25):
        loop.schedule(t, fired.append, t)
    assert loop.deadline == 5
    loop.now = 15
    loop.fire_due()
    assert fired == [5, 15]
    assert loop.deadline == 25
    assert loop.pending() == 1


def test_what_if_an_event_is_scheduled_in_the_past():
    loop = EventLoop()
    loop.now = 50
    ev = loop.schedule(10, lambda: None)
    assert ev.time == 50  # at the first boundary from now, never before now
    assert loop.deadline == 50


def test_what_if_an_event_is_cancelled():
    loop = EventLoop()
    fired: list[str] = []
    keep = loop.schedule(10, fired.append, "keep")
    drop = loop.schedule(5, fired.append, "drop")
    drop.cancel()
    drop.cancel()  # twice is harmless
    assert loop.pending() == 1
    loop.now = 10
    loop.fire_due()
    assert fired == ["keep"]
    keep.cancel()  # after it fired: a no-op
    assert loop.pending() == 0
    assert loop.deadline == INFINITY


def test_what_if_an_event_schedules_another_that_is_already_due():
    loop = EventLoop()
    fired: list[str] = []

    def first() -> None:
        fired.append("first")
        loop.schedule(loop.now, fired.append, "second")

    loop.schedule(1, first)
    loop.now = 1
    loop.fire_due()
    assert fired == ["first", "second"]


def test_what_if_thousands_of_events_are_cancelled():
    # A re-armed timer leaves one cancelled event behind each time; the heap
    # must not grow without bound, and the survivors must still fire in order.
    loop = EventLoop()
    fired: list[int] = []
    survivors = []
    for i in range(5000):
        ev = loop.schedule(1000 + i, fired.append, i)
        if i % 100 == 0:
            survivors.append(i)
        else:
            ev.cancel()
    assert loop.pending() == len(survivors)
    assert len(loop._heap) < 500  # compacted as it went (a private detail, checked on purpose)
    loop.now = 10_000
    loop.fire_due()
    assert fired == survivors
    assert loop.pending() == 0


def test_what_does_an_idle_machine_do_with_skip_to_next():
    loop = EventLoop()
    fired: list[int] = []
    loop.schedule(40, fired.append, 40)
    loop.schedule(90, fired.append, 90)
    assert loop.skip_to_next()
    assert loop.now == 40 and fired == [40]
    assert loop.skip_to_next()
    assert loop.now == 90 and fired == [40, 90]
    assert not loop.skip_to_next()
    assert loop.fired == 2
