"""Links and network controllers: what a frame costs on the wire and in the interface.

What this models
    Two networks of the 1995 papers, each with the interface that drove it:

    * ``ethernet``: 10 Mb/s Ethernet (IEEE 802.3) and the AMD Am7990 LANCE,
      the DECstation's (and the DEC 3000's) controller. The LANCE moves frames
      by DMA between memory and its 48-byte FIFO, through rings of buffer
      descriptors the driver owns.
    * ``atm``: a 155 Mb/s ATM link (SONET OC-3c: 155.52 Mb/s on the line, of
      which 149.76 Mb/s carry cells) and the FORE TCA-100, the TURBOchannel
      ATM interface of the SPIN paper. The TCA-100 has no DMA: the processor
      moves every cell into the transmit FIFO and out of the receive FIFO
      with programmed I/O, and does segmentation and reassembly itself.
      A frame travels as an AAL5 packet (8-byte trailer, padded to whole
      48-byte cell payloads) in 53-byte cells.

    Both links carry Ethernet frames, so that one protocol stack (ARP, IP,
    UDP) runs on either: the ATM link as a LAN-emulation segment (ATM Forum
    LAN Emulation 1.0, 1995: a 2-byte LE header, then the Ethernet frame
    without its FCS). A frame is the bytes a capture shows (destination MAC
    first, no preamble, no FCS); the controller adds the rest on the wire.

Why it is built this way
    Every figure is a property of the wire or of the controller, in the
    wire's own units (bits per second, nanoseconds, bytes), with its source,
    as the profile's primitives are. They are not in the processor profile
    because both ends of a link share them whatever their clocks, and because
    a wire time is not a whole number of cycles (the world keeps time in
    picoseconds, world.py). What the *processor* pays to drive a controller
    (an uncached register read or write, a programmed-I/O word) is in the
    profile: ``io_read`` and ``io_write``; nic.py charges them.

    Not modelled: collisions and deferral between stations on a shared
    Ethernet (each controller serialises its own frames; two stations' frames
    may overlap, as on a full-duplex or switched segment), an ATM switch's
    latency, errors on the wire.

Interface
    ``LINKS[name]`` -> :class:`LinkSpec` (``ETHERNET``, ``ATM``);
    :class:`Controller` (``LANCE``, ``TCA100``); ``LinkSpec.wire_bytes(n)``,
    ``wire_ps(n)``, ``cells(n)``, ``lookahead_ps()``; ``get_link(name)``;
    :class:`Link` (one segment: its NICs, ``carry``, ``captured``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol


class Station(Protocol):
    """What the wire needs of an interface on it (nic.NIC): a Protocol, so that the
    link, the lowest of the network's modules, imports neither the NIC nor the world."""

    machine: Any

    def cycles_at(self, ps: int) -> int: ...

    def _arrive(self, frame: bytes, first_bit_ps: int) -> None: ...


class Scheduler(Protocol):
    """What the wire needs of the world that orders the machines (world.World)."""

    def add_link(self, link: Link) -> None: ...

    def post(self, dst: Any, src: Any, at_ps: int, fn: Callable[..., Any], *args: Any) -> None: ...

    def wake(self, machine: Any) -> None: ...

PS_PER_S = 10**12
ETH_HEADER = 14  # destination, source, type


class UnknownLink(ValueError):
    """A link name that is not in :data:`LINKS`."""


@dataclass(frozen=True, slots=True)
class Figure:
    """One figure of a wire or a controller: its value, unit and where it comes from."""

    value: int
    unit: str
    source: str


@dataclass(frozen=True, slots=True)
class Controller:
    """A network interface: how it moves frames, and how many device accesses each step takes.

    The counts are the device's documented protocol (which registers and
    descriptor words a driver touches), each access charged ``io_read`` or
    ``io_write`` of the profile; the times are the device's own.
    """

    name: str
    description: str
    dma: bool  # frames move by DMA (LANCE) or by the processor's programmed I/O (TCA-100)
    figures: Mapping[str, Figure] = field(repr=False)

    def __getattr__(self, name: str) -> int:
        try:
            return self.figures[name].value
        except KeyError:
            raise AttributeError(name) from None


@dataclass(frozen=True, slots=True)
class LinkSpec:
    """A kind of link: rate, framing and propagation, and the controller at each end."""

    name: str
    description: str
    controller: Controller
    figures: Mapping[str, Figure] = field(repr=False)

    def __getattr__(self, name: str) -> int:
        try:
            return self.figures[name].value
        except KeyError:
            raise AttributeError(name) from None

    @property
    def max_frame(self) -> int:
        """The longest frame (header and payload, no FCS) the link carries."""
        return self.figures["max_frame"].value

    def cells(self, n: int) -> int:
        """ATM: the cells an ``n``-byte frame takes (LE header, frame, pad, AAL5 trailer)."""
        f = self.figures
        if "cell_bytes" not in f:
            raise ValueError(f"{self.name} does not carry cells")
        pdu = f["le_header"].value + n + f["aal5_trailer"].value
        payload = f["cell_payload"].value
        return -(-pdu // payload)

    def wire_bytes(self, n: int) -> int:
        """Bytes on the wire for an ``n``-byte frame, from first bit to last (no gap)."""
        f = self.figures
        if "cell_bytes" in f:
            return self.cells(n) * f["cell_bytes"].value
        return f["preamble"].value + max(n + f["fcs"].value, f["min_frame"].value)

    def wire_ps(self, n: int) -> int:
        """Time on the wire of an ``n``-byte frame, in picoseconds (rounded up)."""
        return -(-self.wire_bytes(n) * 8 * PS_PER_S // self.figures["bits_per_s"].value)

    def gap_ps(self) -> int:
        """The idle time a transmitter leaves after a frame before its next."""
        f = self.figures
        return -(-f["gap_bits"].value * PS_PER_S // f["bits_per_s"].value)

    def propagation_ps(self) -> int:
        return self.figures["propagation_ns"].value * 1000

    def lookahead_ps(self) -> int:
        """The least time from the start of a transmission to the end of its arrival:
        the shortest frame's wire time plus propagation (world.py's lookahead)."""
        return self.wire_ps(0) + self.propagation_ps()


_IEEE = "IEEE 802.3-1985 (10 Mb/s CSMA/CD)"
_CABLE = "100 m of cable at about 5 ns per metre (velocity factor about 0.66)"
_SONET = "ANSI T1.105 / ITU-T G.707 SONET OC-3c"
_I361 = "ITU-T I.361 (ATM cell: 5-byte header, 48-byte payload)"
_AAL5 = "ITU-T I.363.5 (AAL5 CPCS: pad to whole cells, 8-byte trailer, at most 65,535 bytes)"
_LANE = "ATM Forum LAN Emulation over ATM 1.0 (af-lane-0021, 1995)"
_AM7990 = "AMD Am7990 LANCE data sheet (1986)"
_FORE = ("FORE Systems TCA-100 TURBOchannel ATM interface, as described by Thekkath & Levy, "
         "Limits to low-latency communication on high-speed networks, TOCS 11(2), 1993")

LANCE = Controller(
    name="lance",
    description="AMD Am7990 LANCE: DMA through descriptor rings, a 48-byte FIFO",
    dma=True,
    figures=MappingProxyType({
        "transfer_ns": Figure(600, "ns per 16-bit DMA transfer", f"{_AM7990}: minimum bus-master cycle of 600 ns"),
        "transfer_bytes": Figure(2, "bytes per DMA transfer", f"{_AM7990}: a 16-bit data bus"),
        "fifo_bytes": Figure(48, "bytes", f"{_AM7990}: the transmit and receive FIFO"),
        "burst_bytes": Figure(16, "bytes", f"{_AM7990}: DMA bursts of eight transfers"),
        "descriptor_transfers": Figure(4, "transfers", f"{_AM7990}: a descriptor is four 16-bit words (TMD0-3, RMD0-3)"),
        "status_transfers": Figure(2, "transfers", f"{_AM7990}: on receive the LANCE writes back RMD1 (status) and RMD3 (byte count)"),
        "tx_writes": Figure(6, "io_write", f"{_AM7990}: the driver writes TMD0-3, then RAP and CSR0 (TDMD) to start transmission"),
        "rx_reads": Figure(2, "io_read", f"{_AM7990}: the driver reads RMD1 (ownership, errors) and RMD3 (length)"),
        "post_writes": Figure(1, "io_write", f"{_AM7990}: giving a buffer back sets OWN in RMD1"),
        "ack_reads": Figure(1, "io_read", f"{_AM7990}: read CSR0 (through RDP) to see the cause"),
        "ack_writes": Figure(2, "io_write", f"{_AM7990}: write RAP, then CSR0 to clear RINT/TINT"),
        "ring_max": Figure(128, "descriptors", f"{_AM7990}: a ring has 1 to 128 entries, a power of two"),
    }),
)

TCA100 = Controller(
    name="tca100",
    description="FORE TCA-100: cell FIFOs, programmed I/O, segmentation and reassembly by the host",
    dma=False,
    figures=MappingProxyType({
        "cell_words": Figure(13, "words of 4 bytes", f"{_FORE}: the host moves a cell as 52 bytes (header without HEC, payload); the card adds the HEC"),
        "fifo_cells": Figure(256, "cells", "assumption: the receive FIFO's size is not given by the sources at hand; 256 cells (12 KB of payload) is a round figure, not a measurement"),
        "rx_reads": Figure(1, "io_read", f"{_FORE}: the driver reads the receive status register"),
        "tx_writes": Figure(1, "io_write", f"{_FORE}: the driver writes the transmit control register"),
        "post_writes": Figure(0, "io_write", f"{_FORE}: receive buffers are the host's own; the card has no descriptors"),
        "ack_reads": Figure(1, "io_read", f"{_FORE}: read the interrupt status register"),
        "ack_writes": Figure(1, "io_write", f"{_FORE}: write it back to clear the interrupt"),
        "ring_max": Figure(128, "buffers", "exospin's bound on buffers posted to one interface (as the LANCE's)"),
    }),
)

ETHERNET = LinkSpec(
    name="ethernet",
    description="10 Mb/s Ethernet, AMD LANCE controllers (the DECstation's and the DEC 3000's)",
    controller=LANCE,
    figures=MappingProxyType({
        "bits_per_s": Figure(10_000_000, "bits/s", f"{_IEEE}"),
        "preamble": Figure(8, "bytes", f"{_IEEE}: 7 bytes of preamble and the start-of-frame delimiter"),
        "fcs": Figure(4, "bytes", f"{_IEEE}: the CRC-32 frame check sequence, added by the controller"),
        "min_frame": Figure(64, "bytes", f"{_IEEE}: shortest frame with FCS (the controller pads)"),
        "max_frame": Figure(1514, "bytes", f"{_IEEE}: 1518 bytes with the FCS, 1500 of payload"),
        "pad_to": Figure(60, "bytes", f"{_IEEE}: a shorter frame is padded to 60 bytes before its FCS"),
        "gap_bits": Figure(96, "bit times", f"{_IEEE}: the interframe gap, 9.6 us"),
        "propagation_ns": Figure(500, "ns", _CABLE),
    }),
)

ATM = LinkSpec(
    name="atm",
    description="155 Mb/s ATM (OC-3c, 149.76 Mb/s of cells), FORE TCA-100 interfaces, AAL5, LAN emulation",
    controller=TCA100,
    figures=MappingProxyType({
        "bits_per_s": Figure(149_760_000, "bits/s", f"{_SONET}: 155.52 Mb/s line rate, 149.76 Mb/s of payload capacity for cells"),
        "cell_bytes": Figure(53, "bytes", _I361),
        "cell_payload": Figure(48, "bytes", _I361),
        "aal5_trailer": Figure(8, "bytes", f"{_AAL5}: UU, CPI, length, CRC-32"),
        "le_header": Figure(2, "bytes", f"{_LANE}: the LE header (LEC id) before the Ethernet frame"),
        "max_frame": Figure(65_535 - 2, "bytes", f"{_AAL5}; {_LANE}: the largest AAL5 packet less the LE header"),
        "pad_to": Figure(0, "bytes", f"{_AAL5}: AAL5 pads to whole cells itself; the frame arrives at its own length"),
        "gap_bits": Figure(0, "bit times", f"{_SONET}: cells follow one another; idle cells fill the gaps"),
        "propagation_ns": Figure(500, "ns", _CABLE),
    }),
)

LINKS: Mapping[str, LinkSpec] = MappingProxyType({s.name: s for s in (ETHERNET, ATM)})


def get_link(name: str) -> LinkSpec:
    """The link called ``name``, or :class:`UnknownLink`."""
    try:
        return LINKS[name]
    except KeyError:
        raise UnknownLink(f"unknown link {name!r} (known: {', '.join(LINKS)})") from None


class Link:
    """One segment of a link kind: the NICs on it, and the frames it carried.

    Every NIC hears every frame (a broadcast medium, or LAN emulation's
    broadcast and unknown server); each keeps the ones addressed to it.
    ``captured`` holds ``(time in ps of the first bit, frame bytes)`` in the
    order transmissions started on each NIC, or None when not capturing.
    """

    def __init__(self, spec: LinkSpec | str, world: Scheduler | None = None, capture: bool = False) -> None:
        self.spec = get_link(spec) if isinstance(spec, str) else spec
        self.world = world
        self.nics: list[Station] = []
        self.captured: list[tuple[int, bytes]] | None = [] if capture else None
        self.frames = 0
        self.bytes = 0
        if world is not None:
            world.add_link(self)

    def attach(self, nic: Station) -> None:
        self.nics.append(nic)

    def carry(self, src: Station, frame: bytes, start_ps: int, end_ps: int) -> None:
        """``src`` transmits ``frame`` from ``start_ps`` to ``end_ps``: every other NIC on the
        segment receives it a propagation delay later (through the world's queue)."""
        self.frames += 1
        self.bytes += len(frame)
        if self.captured is not None:
            self.captured.append((start_ps, frame))
        arrive = end_ps + self.spec.propagation_ps()
        world = self.world
        for nic in self.nics:
            if nic is src:
                continue
            if world is None:  # one machine (a test): the other end is on the same clock
                nic.machine.loop.schedule(nic.cycles_at(arrive), nic._arrive, frame, start_ps + (arrive - end_ps))
            else:
                world.post(nic.machine, src.machine, arrive, nic._arrive, frame, start_ps + (arrive - end_ps))
