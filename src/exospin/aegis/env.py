"""Environments: Aegis' unit of accounting and of execution.

What this models
    An Aegis environment (Engler et al., section 5.1) holds the four
    contexts the kernel needs to run a library OS:

    * exception context: the handler entry points for each exception and a
      save area where the kernel puts the few registers it must clobber;
    * interrupt context: the prologue and epilogue upcalls run at the start
      and end of each of its time slices;
    * protected entry context: the entry points other environments may
      reach by protected control transfer;
    * addressing context: guaranteed mappings the kernel always installs
      for it (so its handlers never fault on themselves), and its ASID.

    Plus what it owns: frames (in allocation order, which is the order the
    abort protocol repossesses them in, newest first), time slices, and the
    bookkeeping of excess time and revocation.

Why it is built this way
    An environment starts as one greenlet, ``base``: the Python stack of the
    library OS and its application is the context the epilogue "saves". A
    library OS may run threads of its own (greenlets descending from
    ``base``); the kernel records in ``g`` whichever one was running when the
    environment lost the processor, as a real kernel saves whatever context
    trapped, and resumes that one. Upcalls,
    exception handlers and protected entries all run on the environment's
    own greenlet, so library-OS code never needs ``yield``.

    The fields are slots: the kernel reads and writes them on every
    protected control transfer, yield and exception, and a slot is cheaper
    to reach than an entry of an instance dict (an environment has more
    fields than CPython's shared-key instance dicts hold, so without slots
    every access would be a hashed dict lookup).

Interface
    Kernel-private. Library OSes see environment ids, never this object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from greenlet import greenlet

from ..machine import NREGS, Entry
from .param import MAX_ENTRIES

#: Names of the handlers an environment may register, and their signatures.
HANDLER_KINDS: dict[str, str] = {
    "tlb_miss": "(vaddr: int, write: bool) -> None: STLB miss; map the page with tlb_write",
    "protection": "(vaddr: int) -> bool | None: store to a read-only page; return True to skip the store, else it is retried",
    "address_error": "(vaddr: int, write: bool, value: int) -> int: unaligned or kernel address",
    "overflow": "(result: int) -> int: signed add overflowed; return the value to use",
    "syscall": "(number: int, args: tuple) -> object: a system call Aegis does not implement",
    "prologue": "() -> None: start of one of its time slices",
    "epilogue": "() -> None: end of its slice; save context and return promptly",
    "revoke": "(nframes: int) -> None: give back nframes frames with frame_free",
    "repossessed": "(pfns: list[int]) -> None: the kernel took these frames (abort protocol)",
    "ash_removed": "(info: tuple[int, str]) -> None: the kernel removed your ASH (its id, why)",
}


@dataclass(eq=False, slots=True)
class Environment:
    id: int
    name: str
    asid: int
    main: Callable[..., Any]
    g: greenlet  # the context to resume (set_context); initially base
    base: greenlet | None = None  # the environment's first greenlet (its threads descend from it)
    tlb_view: dict[int, int] = field(default_factory=dict)  # the TLB's view for our ASID
    handlers: dict[str, Callable[..., Any]] = field(default_factory=dict)
    entries: list[Callable[..., Any] | None] = field(default_factory=lambda: [None] * MAX_ENTRIES)
    save_area: list[int] = field(default_factory=lambda: [0] * NREGS)
    frames: list[int] = field(default_factory=list)
    reserved: set[int] = field(default_factory=set)
    guaranteed: dict[int, Entry] = field(default_factory=dict)
    slices: list[int] = field(default_factory=list)
    # execution state
    donated_to: Environment | None = None  # sync PCT in progress: our slices go to the callee
    pct_failure: str | None = None  # the callee of our sync PCT died while we were parked
    dying: bool = False
    exc_depth: int = 0
    in_epilogue: bool = False
    epilogue_preempted: bool = False
    excess: int = 0  # cycles of overrun still to be paid back out of future slices
    strikes: int = 0  # consecutive overrunning epilogues
    pending: list[tuple[str, Any]] = field(default_factory=list)  # upcalls due at next resume
    # sleeping (netcalls.py): its slices are skipped until a packet, a PCT or a time-out wakes it
    asleep: bool = False
    wake_pending: bool = False  # a packet was delivered to it since it last slept
    sleep_event: Any = None  # the time-out of its sleep, if it gave one
    # revocation
    revoke_target: int | None = None  # frames it may keep once it has complied
    revoke_event: Any = None
    repossession_vector: list[int] = field(default_factory=list)
    repossessed_total: int = 0
    # accounting
    exit_status: Any = None
    exceptions: int = 0
    upcalls: int = 0
    slices_run: int = 0
    slices_lost: int = 0

    def __repr__(self) -> str:
        return f"<env {self.id} {self.name!r}>"
