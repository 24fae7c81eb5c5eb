"""The interval timer: one programmable countdown that raises an interrupt.

What this models
    The clock chip of the DECstation (and the Alpha's interval timer): the
    kernel programs it to interrupt after so many cycles; at expiry the
    processor takes an interrupt at its next boundary. Aegis uses it to end
    time slices.

Interface
    ``arm(cycles)`` (re-arming cancels the previous countdown), ``cancel()``,
    ``statistics()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .events import EventLoop, Scheduled

if TYPE_CHECKING:
    from .cpu import CPU

IRQ_TIMER = 0


@dataclass(frozen=True, slots=True)
class TimerStats:
    armed: int
    expired: int
    cancelled: int


class IntervalTimer:
    def __init__(self, loop: EventLoop, cpu: CPU) -> None:
        self._loop = loop
        self._cpu = cpu
        self._event: Scheduled | None = None
        self.armed = 0
        self.expired = 0
        self.cancelled = 0
        self.expires_at: int | None = None

    def arm(self, cycles: int) -> None:
        self.cancel()
        at = self._loop.now + cycles
        self.expires_at = at
        self._event = self._loop.schedule(at, self._expire)
        self.armed += 1

    def cancel(self) -> None:
        if self._event is not None:
            self._event.cancel()
            self._event = None
            self.expires_at = None
            self.cancelled += 1

    def _expire(self) -> None:
        self._event = None
        self.expires_at = None
        self.expired += 1
        self._cpu.interrupt(IRQ_TIMER)

    def statistics(self) -> TimerStats:
        return TimerStats(self.armed, self.expired, self.cancelled)
