"""The network's leaf layer: frames, captures, and packet demultiplexing for a kernel to adopt.

A leaf layer (it imports only machine, for the profile's primitive costs):
Aegis, SPIN, unix and the benchmarks may import it. See docs/net.md, "DPF".
Frames with real bytes (Ethernet, ARP, IPv4, UDP, built and parsed with dpkt)
and pcap captures of the simulated wire: frames.py, pcap.py, docs/net.md ("The hardware").
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
from .frames import (
    SUBNET,
    ARPPacket,
    FrameError,
    IPv4Header,
    Parsed,
    UDPDatagram,
    arp_frame,
    host_ip,
    ipv4,
    mac,
    parse,
    udp_frame,
)
from .pcap import pcap_bytes, write_pcap

__all__ = [
    "Atom", "DPF", "DPFStats", "DemuxCosts", "Filter", "FilterError", "HASH_MIN", "LENGTHS",
    "MAX_OFFSET", "MAX_SHIFT", "MAX_TESTS", "Overlap", "Shift", "Test", "check_filter", "unpack", "work",
    # frames with real bytes (dpkt) and captures of the wire (frames.py, pcap.py)
    "ARPPacket", "FrameError", "IPv4Header", "Parsed", "UDPDatagram", "arp_frame", "ipv4", "mac",
    "parse", "pcap_bytes", "udp_frame", "write_pcap", "SUBNET", "host_ip",
]

# -- the demultiplexer baselines and the cBPF -> DPF translator (docs/net.md)
from .cbpf import BPFDemux, BPFDemuxStats, BPFError, Endpoint, Program, tcpdump  # noqa: E402
from .interp import Interpreted, InterpretedStats  # noqa: E402
from .translate import MAX_PATHS, Untranslatable, from_tcpdump, install, translate  # noqa: E402

__all__ += [
    "BPFDemux", "BPFDemuxStats", "BPFError", "Endpoint", "Interpreted", "InterpretedStats", "MAX_PATHS",
    "Program", "Untranslatable", "from_tcpdump", "install", "tcpdump", "translate",
]
