"""Packet demultiplexing on frame bytes: DPF and its baselines, for a kernel to adopt.

A leaf layer (it imports only machine, for the profile's primitive costs):
Aegis, SPIN, unix and the benchmarks may import it. See docs/net.md, "DPF".
"""

from .atoms import (
    LENGTHS,
    MAX_OFFSET,
    MAX_SHIFT,
    MAX_TESTS,
    Atom,
    DemuxCosts,
    Filter,
    FilterError,
    Overlap,
    Shift,
    Test,
    check_filter,
    unpack,
    work,
)
from .dpf import DPF, HASH_MIN, DPFStats

__all__ = [
    "Atom", "DPF", "DPFStats", "DemuxCosts", "Filter", "FilterError", "HASH_MIN", "LENGTHS",
    "MAX_OFFSET", "MAX_SHIFT", "MAX_TESTS", "Overlap", "Shift", "Test", "check_filter", "unpack", "work",
]
