"""What every demo has: the interface, the way it ends, and the pieces its rendering shares.

What this models
    Nothing of a paper: a demo is a short story told by one booted system.
    ``Demo`` is the small interface each demo module fills in once (its name,
    its paper's machine, whether the story draws on a seed, ``run`` and
    ``render``); ``Ending`` is how every story ends (the kernel's invariants,
    what leaked, the trace file).

Why it is built this way
    The story and its telling are kept apart: ``run`` does all the work and
    returns a report of plain records (statistics read before shutdown, the
    journal, the ending), ``render`` only prints that report. So a test or a
    notebook can run a demo and read its report without a terminal, and the
    command line only picks a demo and dispatches. The end of a run is the
    same for every system: invariants are checked, the system is shut down
    and must give back everything it handed out, and the trace (if one was
    asked for) is written after the shutdown, so it shows the whole run.

Interface
    ``Demo(name, profile, seeded, run, render, capture=None)``; ``demo.run(seed,
    profile, trace_path) -> report`` (every report has ``end: Ending``);
    ``demo.capture(profile, trace_path, pcap_path)`` for a demo with a network;
    ``demo.render(report, console)``; ``finish(system, trace_path, ok, why,
    held) -> Ending`` for a demo's ``run``; ``render_end``, ``counters`` and
    ``pid_account`` for a demo's ``render``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from rich.console import Console
from rich.table import Table

from .. import terminal
from ..machine import Profile


@dataclass(frozen=True)
class Ending:
    """How a demo ended: the story's own verdict, the invariants, the leaks, the trace."""

    ok: bool  # the story went as it should (exit statuses, answers)
    why: str  # what went wrong, when not ok (for the problem line)
    violations: list[str]  # the kernel's check_invariants() after the run
    leaked: dict[str, int]  # what shutdown() found still held (all zero if nothing leaked)
    held: str  # what the system hands out and must get back, in words
    trace: Path | None  # where the trace was written, if one was asked for

    @property
    def clean(self) -> bool:
        """The story went right, every invariant holds and nothing leaked."""
        return self.ok and not self.violations and not any(self.leaked.values())


class Report(Protocol):
    """What ``run`` returns: a demo's own record, ending with ``end``."""

    @property
    def end(self) -> Ending: ...


R = TypeVar("R", bound=Report)


@dataclass(frozen=True)
class Demo(Generic[R]):
    """One demo: its name, its paper's machine, and how it is run and told."""

    name: str
    profile: str  # the machine of the demo's paper: the default profile
    seeded: bool  # does the story draw anything from the seed? (if not, --seed is refused)
    run: Callable[[int, str, Path | None], R]  # (seed, profile, trace_path) -> report
    render: Callable[[R, Console], None]
    #: a demo with a network: ``(profile, trace_path, pcap_path) -> report``, also writing
    #: the wire's frames as a pcap file (``--pcap``); None for a demo with no network
    capture: Callable[[str, Path | None, Path | None], R] | None = None


def finish(system: Any, trace_path: Path | None, ok: bool = True, why: str = "",
           held: str = "frame, capability and slice") -> Ending:
    """End a demo's run: check the invariants, shut the system down, write the trace.

    Call it after reading every statistic the report needs: shutdown ends processes
    and gives back their resources, so the counters move.
    """
    violations = system.kernel.check_invariants()
    leaked = system.shutdown()
    if trace_path is not None:
        system.tracer.write(trace_path)
    return Ending(ok, why, violations, leaked, held, trace_path)


def render_end(end: Ending, out: Console) -> None:
    """The last lines of every demo: invariants and leaks, then the trace file."""
    if end.clean:
        out.print(f"All invariants hold; every {end.held} came back to the kernel.")
    else:
        out.print(f"[red]problem: {end.why} invariants violated: {end.violations}; "
                  f"leaked: {end.leaked}[/red]")
    if end.trace is not None:
        out.print(f"Trace written to {end.trace}: open it in https://ui.perfetto.dev")


def counters(title: str, rows: Sequence[tuple[str, object]]) -> Table:
    """A two-column table of counters, names left and values right."""
    t = Table(title=title, header_style="bold", show_header=False)
    t.add_column("counter")
    t.add_column("value", justify="right")
    for name, val in rows:
        t.add_row(name, str(val))
    return t


def print_table(out: Console, table: Table) -> None:
    """Print a table, with no word in it cut off at any width (terminal.print_table)."""
    terminal.print_table(out, table)


def pid_account(out: Console, profile: Profile, account: Sequence[tuple[int, int, str]]) -> None:
    """A process journal, one line per entry: simulated time, pid, what happened."""
    for cycles, pid, text in account:
        out.print(f"[cyan]{profile.us(cycles):10.1f} µs[/cyan]  [bold]pid {pid:<3}[/bold] {text}", soft_wrap=True)
