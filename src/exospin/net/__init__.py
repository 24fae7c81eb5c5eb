"""Packet demultiplexing on frame bytes: DPF and its baselines, for a kernel to adopt.

A leaf layer (it imports only machine, for the profile's primitive costs):
Aegis, SPIN, unix and the benchmarks may import it. See docs/net.md.
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

# -- the demultiplexer baselines and the cBPF -> DPF translator (docs/net.md)
from .cbpf import BPFDemux, BPFDemuxStats, BPFError, Endpoint, Program, tcpdump  # noqa: E402
from .interp import Interpreted, InterpretedStats  # noqa: E402
from .translate import MAX_PATHS, Untranslatable, from_tcpdump, install, translate  # noqa: E402

__all__ += [
    "BPFDemux", "BPFDemuxStats", "BPFError", "Endpoint", "Interpreted", "InterpretedStats", "MAX_PATHS",
    "Program", "Untranslatable", "from_tcpdump", "install", "tcpdump", "translate",
]
