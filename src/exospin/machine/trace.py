"""The trace recorder: a Chrome / Perfetto trace-event file of a run.

What this models
    Nothing of the hardware: it is the instrument on the bench. Each
    environment (or, later, process, strand or domain) is a track; its time
    slices, exceptions, upcalls and system calls are spans or instants on it,
    in simulated microseconds. The file opens in ui.perfetto.dev or
    chrome://tracing.

Why it is built this way
    The trace-event JSON format is the simplest one Perfetto reads, and it
    is plain data, so the determinism test can hash it. Recording is off
    unless a tracer is attached; the kernels test ``tracer is not None``
    before building any event, so an untraced run pays one comparison.

Interface
    ``Tracer(clock_hz)``; ``track(tid, name)``; ``span(name, cat, tid,
    start, end, **args)`` and ``instant(name, cat, tid, at, **args)`` with
    times in cycles; ``counter(name, at, **values)``; ``to_json()``,
    ``write(path)``, ``digest()``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

PID = 1  # one simulated machine per trace


class Tracer:
    """Collects trace events in cycles; writes them in microseconds."""

    def __init__(self, clock_hz: int, name: str = "exospin") -> None:
        self.clock_hz = clock_hz
        self.events: list[dict[str, Any]] = [
            {"ph": "M", "pid": PID, "name": "process_name", "args": {"name": name}}
        ]
        self._tracks: set[int] = set()

    def _us(self, cycles: int) -> float:
        return round(cycles * 1e6 / self.clock_hz, 3)

    def track(self, tid: int, name: str) -> None:
        """Name a track (a thread row in the viewer)."""
        if tid in self._tracks:
            return
        self._tracks.add(tid)
        self.events.append(
            {"ph": "M", "pid": PID, "tid": tid, "name": "thread_name", "args": {"name": name}}
        )
        self.events.append(
            {"ph": "M", "pid": PID, "tid": tid, "name": "thread_sort_index", "args": {"sort_index": tid}}
        )

    def span(self, name: str, cat: str, tid: int, start: int, end: int, **args: Any) -> None:
        ev: dict[str, Any] = {
            "ph": "X", "pid": PID, "tid": tid, "name": name, "cat": cat,
            "ts": self._us(start), "dur": self._us(max(0, end - start)),
        }
        if args:
            ev["args"] = args
        self.events.append(ev)

    def instant(self, name: str, cat: str, tid: int, at: int, **args: Any) -> None:
        ev: dict[str, Any] = {
            "ph": "i", "s": "t", "pid": PID, "tid": tid, "name": name, "cat": cat,
            "ts": self._us(at),
        }
        if args:
            ev["args"] = args
        self.events.append(ev)

    def counter(self, name: str, at: int, **values: float) -> None:
        self.events.append(
            {"ph": "C", "pid": PID, "name": name, "ts": self._us(at), "args": values}
        )

    def to_json(self) -> str:
        return json.dumps(
            {"traceEvents": self.events, "displayTimeUnit": "ns"}, sort_keys=True, separators=(",", ":")
        )

    def write(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json())

    def digest(self) -> str:
        """SHA-256 of the trace: equal digests mean identical runs."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()
