"""Capabilities: unforgeable names for resources, with rights.

What this models
    Aegis' capabilities (Engler et al., section 3.1 and 5): a library OS
    names a resource it holds (a physical frame, a time slice, an
    environment) by presenting a capability for it; the kernel checks it
    once, when a secure binding is made, and not on every use.

Why it is built this way
    A capability here is a Python object that only the kernel creates. The
    kernel keeps, for every live capability, its own record of what it
    names and what it allows; a check is "is this very object live, and does
    it still say what the kernel recorded" (a dict lookup by identity and a
    tuple compare). The object's fields are only a copy for its holder:
    one that was altered after it was minted (``cap._rights = ALL``) no
    longer matches the record and is refused like a forgery. An object built by hand, or one whose
    resource was freed or repossessed, is not in the set, so it cannot be
    forged or reused. Aegis used self-authenticating capabilities (a
    checksum); identity in a kernel table gives the same guarantee in Python
    and is cheaper.

    ``derive`` makes a capability for the same resource with a subset of the
    rights; it can be handed to another environment (delegation). Deriving
    needs no OWNER right: attenuation never grants more than the holder has.
    All capabilities derived from a resource die with it.

Interface
    ``Rights`` flags; ``Capability`` (read-only ``kind``, ``resource``,
    ``rights``); the kernel-side ``CapTable``.
"""

from __future__ import annotations

from enum import IntFlag


class Rights(IntFlag):
    READ = 1  # map the frame readable
    WRITE = 2  # map the frame writable
    OWNER = 4  # free the resource, mark it reserved, derive capabilities
    ALL = READ | WRITE | OWNER


class Capability:
    """A reference to a resource. Only the kernel creates live ones."""

    __slots__ = ("_kind", "_resource", "_rights", "__weakref__")

    def __init__(self, kind: str, resource: int, rights: Rights) -> None:
        self._kind = kind
        self._resource = resource
        #: a plain int: the kernel's checks test bits on every binding, and ``&`` on an
        #: IntFlag builds a new member each time (about 40 times slower)
        self._rights = int(rights)

    @property
    def kind(self) -> str:
        return self._kind

    @property
    def resource(self) -> int:
        return self._resource

    @property
    def rights(self) -> Rights:
        return Rights(self._rights)

    def __repr__(self) -> str:
        return f"<cap {self._kind} {self._resource} {self.rights!r}>"


class CapTable:
    """The kernel's live capabilities and its own record of each, grouped by resource."""

    def __init__(self) -> None:
        #: live capability -> (kind, resource, rights as an int) as minted: the kernel's truth
        self.live: dict[Capability, tuple[str, int, int]] = {}
        self._by_resource: dict[tuple[str, int], list[Capability]] = {}
        self.created = 0
        self.revoked = 0

    def mint(self, kind: str, resource: int, rights: Rights) -> Capability:
        cap = Capability(kind, resource, rights)
        self.live[cap] = (kind, resource, cap._rights)
        self._by_resource.setdefault((kind, resource), []).append(cap)
        self.created += 1
        return cap

    def revoke_all(self, kind: str, resource: int) -> int:
        """Kill every capability for the resource; returns how many."""
        caps = self._by_resource.pop((kind, resource), [])
        for c in caps:
            self.live.pop(c, None)
        self.revoked += len(caps)
        return len(caps)

    def revoke(self, cap: Capability) -> bool:
        """Kill one capability (its resource and the others for it live on); False if it was not live."""
        rec = self.live.pop(cap, None)
        if rec is None:
            return False
        caps = self._by_resource[(rec[0], rec[1])]
        caps.remove(cap)
        if not caps:
            del self._by_resource[(rec[0], rec[1])]
        self.revoked += 1
        return True

    def genuine(self, cap: Capability) -> bool:
        """Live, and unaltered since the kernel minted it."""
        rec = self.live.get(cap)
        return rec is not None and rec == (cap._kind, cap._resource, cap._rights)

    def count(self, kind: str | None = None) -> int:
        if kind is None:
            return len(self.live)
        return sum(1 for c in self.live if c._kind == kind)
