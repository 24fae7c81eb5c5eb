"""Capabilities and their externalisation (SPIN, SOSP 1995, section 3.2).

What this models
    In SPIN a capability is a typed pointer to a kernel object (a frame, an
    interface, a service). An extension holds it as a reference it cannot
    forge or look inside, and using it costs nothing. In exospin the same
    guarantee comes from the verifier: verified code has no way from a
    value to its type, its module or its globals, and cannot name anything
    beginning with ``_`` (docs/verifier.md). So an ordinary Python reference
    *is* the capability, and there is no wrapper class: a wrapper would add a
    cost to every use and no protection.

    User space is not verified Python: a reference handed to it is
    *externalised*. The kernel keeps the reference in a per-application
    table and hands out the index, a small integer; when the index comes
    back it is *internalised*, checked against the table (and optionally
    against the type the interface expects). A forged, stale or revoked
    index gets a precise ``BadExternRef`` and changes nothing.

Decisions
    * Indexes are never reused: a revoked index stays revoked, so an old
      index cannot silently name a newer object (no ABA). The table keeps
      only a counter and the live entries.
    * Externalising an object that is already in the table returns its
      index: one entry per object, so revoking it revokes it for the
      application as a whole.
    * Index 0 is never issued; ``bool`` is not an index.

Interface
    ``ExternTable(owner)``: ``externalize(obj) -> int``, ``internalize(i,
    kind=None) -> obj``, ``revoke(i)``, ``statistics()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class BadExternRef(LookupError):
    """An index that names no live entry of this application's table (or the wrong type)."""


@dataclass(frozen=True, slots=True)
class ExternStatistics:
    owner: str
    live: int
    externalized: int
    internalized: int
    revoked: int
    #: internalize or revoke calls refused (forged, revoked, or of the wrong type)
    refused: int


class ExternTable:
    """One application's table of externalised references: index -> kernel object."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._entries: dict[int, Any] = {}
        self._index: dict[int, int] = {}  # id(obj) -> index, for live entries
        self._next = 1
        self._out = self._in = self._nrevoked = self._refused = 0

    def externalize(self, obj: Any) -> int:
        """The index user space will name ``obj`` by (the same index if it is already here)."""
        self._out += 1
        i = self._index.get(id(obj))
        if i is not None:
            return i
        i = self._next
        self._next += 1
        self._entries[i] = obj
        self._index[id(obj)] = i
        return i

    def _check(self, i: Any) -> int:
        if type(i) is not int:
            self._refused += 1
            raise BadExternRef(f"{self.owner}: an externalised reference is an int, "
                               f"not {type(i).__name__}: {i!r}")
        if i not in self._entries:
            self._refused += 1
            if 0 < i < self._next:  # issued, and only revoke removes an entry
                raise BadExternRef(f"{self.owner}: reference {i} was revoked")
            raise BadExternRef(f"{self.owner}: reference {i} was never issued "
                               f"(issued 1..{self._next - 1})" if self._next > 1 else
                               f"{self.owner}: reference {i} was never issued (none issued)")
        return i

    def internalize(self, i: Any, kind: type | None = None) -> Any:
        """The object behind index ``i``; ``kind``: the type the caller expects it to be."""
        obj = self._entries[self._check(i)]
        if kind is not None and not isinstance(obj, kind):
            self._refused += 1
            raise BadExternRef(f"{self.owner}: reference {i} names a {type(obj).__name__}, "
                               f"not a {kind.__name__}")
        self._in += 1
        return obj

    def revoke(self, i: Any) -> Any:
        """Remove index ``i``; later uses of it raise ``BadExternRef``. Returns the object."""
        obj = self._entries.pop(self._check(i))
        del self._index[id(obj)]
        self._nrevoked += 1
        return obj

    def revoke_all(self, ids: set[int]) -> int:
        """Revoke every index naming an object whose ``id`` is in ``ids`` (what an unloaded
        domain made: its references die with it); returns how many."""
        gone = [i for obj_id, i in self._index.items() if obj_id in ids]
        for i in gone:
            self.revoke(i)
        return len(gone)

    def names_any(self, ids: set[int]) -> bool:
        """Does an index still name an object whose ``id`` is in ``ids``?"""
        return any(obj_id in ids for obj_id in self._index)

    def __len__(self) -> int:
        return len(self._entries)

    def statistics(self) -> ExternStatistics:
        return ExternStatistics(self.owner, len(self._entries), self._out, self._in,
                                self._nrevoked, self._refused)
