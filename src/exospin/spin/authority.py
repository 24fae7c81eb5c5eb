"""The authorities of the SPIN kernel's events: who may handle what, decided by what a handler receives.

What this models
    In SPIN the module that defines an event is its *authority*: it is asked
    on every installation and may refuse it or impose guards (Bershad et
    al., SOSP 1995, section 3.3; Pardyak & Bershad, OSDI 1996). An event
    that carries another domain's data, or answers on another's behalf, is
    safe only if its authority decides from what a handler *will receive*,
    not from the shape of the guard it asked for: a predicate guard is
    opaque (``lambda number, args: number == 40`` and ``lambda n, a: True``
    look the same to the kernel), so an authority either imposes a guard of
    its own that admits only what the installer owns, or refuses.

    * ``TrapAuthority`` (the system-call event ``Trap(number, args)``): each
      number is owned by one domain, the first to claim it (an equality
      guard on the number, which only ``Trap.claim`` builds); a claim of a
      number another domain owns is refused. Any other installation (any
      guard, or none) gets the kernel's guard ``owns(number)``: the handler
      runs only on numbers its own domain has claimed, at load or at run
      time. A system call's answer is its owner's: when several of the
      owner's handlers run, the first result in handler order is the
      answer (``first_result``), so no later handler overrides it.
    * ``SpaceAuthority`` (``Translation.PageNotPresent``, ``ProtectionFault``,
      ``BadAddress``): a handler must sit behind the kernel's equality guard
      on an address space (``Translation.on_*(space, fn)``): holding the
      space is the authority to see its faults. Results combine as the
      memory module says (the first handler that fixed the fault wins).
    * ``PackageAuthority`` (``Strand.Checkpoint``, ``Resume``, ``Exit``,
      ``Block``, ``Unblock``): a handler must sit behind the kernel's guard
      on a thread package (``Strand.on_checkpoint(package, fn)`` ...): it
      sees only the strands that package made.

    The kernel itself (installer ``None``: trusted Python, e.g. a test or
    a library OS) is not restricted: authorities bound what *domains* can
    receive.

    Events to come plug in the same way: a packet event keyed by an
    endpoint, or a file system's events keyed by an open file, get a
    ``SpaceAuthority`` over that key's type (a handler only behind the
    kernel's equality guard on a key its domain holds), or an owner table
    like the Trap's where keys are claimed (port numbers); an event whose
    answer belongs to one domain names its combiner. ``PhysAddr.Reclaim``
    (a count of frames, nobody's data; results summed) needs none.

Why it is built this way
    The guards an authority recognises as the kernel's are objects verified
    code cannot make: ``Eq`` is not exported, and the package guards are
    registered in a weak set as the kernel makes them. Imposing the Trap's
    ownership guard only on installations that are not claims keeps a
    claim on the one-lookup indexed path (docs/spin.md, Dispatcher).

Interface
    ``TrapAuthority()`` (``owners``: number -> owning domain or None for the
    kernel; ``release(domain)``); ``first_result``; ``SpaceAuthority(space_type)``;
    ``PackageAuthority()`` with ``guard(package, test) -> guard`` (registers a
    kernel-made guard).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from .dispatcher import Decision, Eq, Event, Handler


def _name(d: Any) -> str:
    return getattr(d, "name", "the kernel")


def first_result(results: list[Any]) -> Any:
    """The Trap's combiner: several of the owner's handlers ran; the first one's answer stands."""
    return results[0]


class TrapAuthority:
    """System-call numbers are owned; a handler sees only the numbers its domain owns."""

    def __init__(self) -> None:
        #: number -> the domain that claimed it (None: the kernel)
        self.owners: dict[int, Any] = {}

    def on_install(self, event: Event, h: Handler, installer: Any) -> Decision | None:
        claims = [g for g in h.guards if type(g) is Eq and g.index == 0]
        if claims:
            owners = self.owners
            for g in claims:
                if g.value in owners and owners[g.value] is not installer:
                    raise PermissionError(f"system call {g.value} belongs to {_name(owners[g.value])!r}")
            for g in claims:
                owners[g.value] = installer
            return None
        if installer is None:
            return None  # the kernel's own handler
        owned = self.owners.get

        def owns(number: int, args: tuple[Any, ...]) -> bool:
            return owned(number) is installer
        return Decision(guards=(owns,))

    def release(self, domain: Any) -> list[int]:
        """``domain`` is unloaded: its numbers are free again. Returns them."""
        mine = [n for n, o in self.owners.items() if o is domain]
        for n in mine:
            del self.owners[n]
        return mine


class SpaceAuthority:
    """Address-space events: a domain's handler must be guarded by equality on a space it holds."""

    def __init__(self, space_type: type) -> None:
        self.space_type = space_type

    def on_install(self, event: Event, h: Handler, installer: Any) -> None:
        if installer is None:
            return None
        for g in h.guards:
            if type(g) is Eq and g.index == 0 and type(g.value) is self.space_type:
                return None
        raise PermissionError(f"a handler of {_name(installer)!r} on {event.name} would see every address "
                              f"space's faults: install it on a space it holds (Translation.on_...)")


class PackageAuthority:
    """Strand events: a domain's handler must be behind the kernel's guard on a thread package."""

    def __init__(self) -> None:
        self._guards: weakref.WeakSet[Callable[..., bool]] = weakref.WeakSet()

    def guard(self, test: Callable[..., bool]) -> Callable[..., bool]:
        """Register ``test`` (a kernel-made package guard) and return it."""
        self._guards.add(test)
        return test

    def on_install(self, event: Event, h: Handler, installer: Any) -> None:
        if installer is None:
            return None
        for g in h.guards:
            try:
                if g in self._guards:
                    return None
            except TypeError:  # not weakly referenceable: not one the kernel made
                pass
        raise PermissionError(f"a handler of {_name(installer)!r} on {event.name} would see every "
                              f"strand: install it on a thread package it holds (Strand.on_...)")
