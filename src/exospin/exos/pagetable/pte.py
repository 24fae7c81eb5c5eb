"""The library OS's page-table entry, whichever table holds it (a leaf module)."""

from __future__ import annotations

from dataclasses import dataclass

from ...aegis import Capability


@dataclass
class PTE:
    cap: Capability | None  # None: not resident (demand-zero, or swapped out)
    writable: bool  # as bound in the TLB now
    swapped: bytes | None = None
    # used by ExOS (vm.py); the minimal library OS leaves them alone
    prot: int = 3  # PROT_READ | PROT_WRITE
    cow: bool = False
    dirty: bool = False
    shared: bool = False  # a shared-memory segment page (never copy-on-write)
    alias_of: int | None = None  # this page maps the frame of another page of ours
    aliased: bool = False  # another page of ours maps this page's frame too
