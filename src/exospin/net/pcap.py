"""Captures of the simulated wire as pcap files that tcpdump and Wireshark open.

What this models
    Nothing of the hardware: it is the network analyser on the bench. A
    link (machine/link.py) keeps, when asked, every frame it carried with
    the time its first bit went out, in picoseconds of the world's clock;
    this module writes them as a classic pcap file (link type Ethernet,
    nanosecond timestamps), the format every capture tool reads.

Why it is built this way
    dpkt's pcap writer produces the file; the bytes depend only on the
    frames and their simulated times, so the same seed gives the same file
    bit for bit (the determinism tests compare them), on any host: the
    headers are dpkt's little-endian records, the times exact integers. Frames are written in
    order of time (ties in the order they were sent), as a capture on a
    shared segment would see them.

Interface
    ``write_pcap(path_or_file, frames)`` with ``frames`` an iterable of
    ``(time_ps, bytes)``; returns the number of frames written.
    ``pcap_bytes(frames) -> bytes`` (the same, in memory).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import dpkt

SNAPLEN = 65535


def _write(f: BinaryIO, frames: Iterable[tuple[int, bytes]]) -> int:
    # dpkt's header records, little-endian whatever the host (dpkt.pcap.Writer would take the
    # host's order and a float timestamp): the file is the same on every machine, to the ns
    f.write(bytes(dpkt.pcap.LEFileHdr(snaplen=SNAPLEN, linktype=dpkt.pcap.DLT_EN10MB,
                                      magic=dpkt.pcap.TCPDUMP_MAGIC_NANO)))
    n = 0
    for ps, data in sorted(frames, key=lambda x: x[0]):  # stable: ties keep their order
        if type(ps) is not int or ps < 0:
            raise ValueError(f"a capture time must be a non-negative int of picoseconds, not {ps!r}")
        sec, ns = divmod(ps // 1000, 10**9)
        data = bytes(data)
        f.write(bytes(dpkt.pcap.LEPktHdr(tv_sec=sec, tv_usec=ns, caplen=len(data), len=len(data))) + data)
        n += 1
    return n


def pcap_bytes(frames: Iterable[tuple[int, bytes]]) -> bytes:
    buf = io.BytesIO()
    _write(buf, frames)
    return buf.getvalue()


def write_pcap(dest: str | Path | BinaryIO, frames: Iterable[tuple[int, bytes]]) -> int:
    """Write ``frames`` (``(time_ps, bytes)``) to ``dest`` as a pcap file; returns how many."""
    if isinstance(dest, str | Path):
        with open(dest, "wb") as f:
            return _write(f, frames)
    return _write(dest, frames)
