"""The network interface: a receive ring, a transmit queue, DMA or programmed I/O, an interrupt.

What this models
    One controller of a link kind (link.py): the LANCE on Ethernet, the
    TCA-100 on ATM. The kernel names the memory frames are received into:
    it posts buffers (a physical frame number, an offset, a size) to the
    receive ring; a frame that arrives lands in the oldest posted buffer and
    the interface raises its interrupt (``irq``). The kernel acknowledges the
    interrupt (``ack``), takes each received frame (``receive``: where it
    landed and how long it is) and posts the buffer again. To send, the
    kernel names the bytes in memory (``transmit``); the interface queues
    the frame, sends it when the wire is free and frees the slot when the
    last bit is out (``tx_done`` counts them back).

    * LANCE (DMA): a frame is read from memory by DMA when its transmission
      starts (the descriptor fetch and a FIFO fill, then cut-through: the
      DMA, faster than the wire, keeps ahead of it) and written into the
      posted buffer as it arrives; the interrupt is raised when the last
      burst and the status words are written, after the last bit arrived.
      No buffer posted: the frame is dropped and counted (the LANCE's MISS).
    * TCA-100 (programmed I/O): the processor writes every cell of the frame
      into the transmit FIFO (``transmit`` charges it ``io_write`` per word),
      and the cells go on the wire; arriving cells wait in the receive FIFO,
      the interrupt is raised when a frame's last cell is in, and
      ``receive`` charges the processor ``io_read`` per word to copy the
      frame into the posted buffer. A full FIFO drops the frame, counted.

    Each NIC has a MAC address and keeps the frames addressed to it, to the
    broadcast address, or (``promiscuous``) all of them.

Why it is built this way
    The processor pays only for what a driver does: the register and
    descriptor accesses of each step (the controller's documented counts,
    link.py) at ``io_read``/``io_write``, and the programmed-I/O words; the
    device's own work (DMA transfers, wire time) delays the frame without
    charging the processor. The interrupt is the CPU's (trap entry and
    acknowledge, cpu.py); after one is raised no other is until ``ack()``, as
    the controller's interrupt line stays asserted until its cause is cleared.

    Bad input changes nothing: a frame longer than the link carries, a
    buffer outside memory or too short, a full ring or transmit queue, each
    is refused with :class:`NICError` before anything is charged or queued.

Interface
    ``NIC(machine, link, mac=None, rx_ring=32, tx_ring=16, promiscuous=False)``;
    ``post_rx(pfn, offset=0, size=None)``; ``ack() -> int``; ``receive() ->
    RxFrame | None``; ``transmit(pfn, offset, length)``; ``tx_done() -> int``;
    ``irq``, ``mac``; ``statistics()``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .link import ETH_HEADER, PS_PER_S

if TYPE_CHECKING:
    from .link import Link
    from .machine import Machine

#: The interrupt line of a machine's first NIC; its n-th NIC raises IRQ_NIC + n.
IRQ_NIC = 1
BROADCAST = b"\xff" * 6
_DEC_OUI = b"\x08\x00\x2b"  # Digital Equipment Corporation's Ethernet prefix


class NICError(ValueError):
    """A request the interface refuses (nothing was charged, queued or changed)."""


class FrameTooLarge(NICError):
    """A frame longer than the link carries."""


@dataclass(frozen=True, slots=True)
class RxFrame:
    """A received frame: where it landed and how many bytes it has."""

    pfn: int
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class NICStats:
    controller: str
    link: str
    mac: str
    tx_frames: int
    tx_bytes: int
    tx_queued: int
    tx_refused: int
    rx_frames: int
    rx_bytes: int
    rx_posted: int
    rx_ready: int
    rx_dropped_full: int  # no posted buffer (LANCE) or no room in the FIFO (TCA-100)
    rx_dropped_too_long: int  # longer than the posted buffer
    rx_filtered: int  # addressed to another station
    interrupts: int


def mac_address(index: int) -> bytes:
    """The MAC address exospin gives the ``index``-th interface of a network (DEC's prefix)."""
    if not 0 <= index < 1 << 24:
        raise ValueError(f"no MAC address for interface {index}")
    return _DEC_OUI + index.to_bytes(3, "big")


class NIC:
    """One network interface of ``machine`` on ``link``."""

    def __init__(
        self, machine: Machine, link: Link, mac: bytes | None = None, rx_ring: int = 32,
        tx_ring: int = 16, promiscuous: bool = False,
    ) -> None:
        spec = link.spec
        ctl = spec.controller
        for name, n in (("rx_ring", rx_ring), ("tx_ring", tx_ring)):
            if type(n) is not int or not 1 <= n <= ctl.ring_max or (ctl.dma and n & (n - 1)):
                kind = "a power of two " if ctl.dma else ""
                raise NICError(f"{name} must be {kind}from 1 to {ctl.ring_max}, not {n!r}")
        self.machine = machine
        self.link = link
        self.spec = spec
        self.controller = ctl
        self.mac = mac if mac is not None else mac_address(len(link.nics) + 1)
        if len(self.mac) != 6:
            raise NICError(f"a MAC address has 6 bytes, not {len(self.mac)}")
        self.promiscuous = promiscuous
        self.irq = IRQ_NIC + len(machine.nics)
        self.rx_ring = rx_ring
        self.tx_ring = tx_ring
        p = machine.profile
        self._hz = p.clock_hz
        # the figures the paths below use, read once (the spec's lookups are dict probes)
        f = {k: v.value for k, v in ctl.figures.items()}
        self._dma = ctl.dma
        self._max_frame = spec.max_frame
        self._pad_to = spec.pad_to
        self._gap_ps = spec.gap_ps()
        self._c_post = f["post_writes"] * p.io_write
        self._c_ack = f["ack_reads"] * p.io_read + f["ack_writes"] * p.io_write
        self._c_rx = f["rx_reads"] * p.io_read
        self._c_read = p.io_read
        self._c_tx = f["tx_writes"] * p.io_write
        if ctl.dma:
            self._xfer_ps = f["transfer_ns"] * 1000
            self._xfer_bytes = f["transfer_bytes"]
            self._fifo_bytes, self._burst_bytes = f["fifo_bytes"], f["burst_bytes"]
            self._desc_xfers, self._status_xfers = f["descriptor_transfers"], f["status_transfers"]
        else:
            cell_refs = 48 // p.word_bytes  # loads or stores of one cell's payload in memory
            self._c_cell_rx = f["cell_words"] * p.io_read + cell_refs * p.mem_ref
            self._c_cell_tx = f["cell_words"] * p.io_write + cell_refs * p.mem_ref
            self._fifo_max = f["fifo_cells"]
        self._posted: deque[tuple[int, int, int]] = deque()  # (pfn, offset, size), oldest first
        self._ready: deque[RxFrame] = deque()  # LANCE: written, not yet taken
        self._fifo: deque[bytes] = deque()  # TCA-100: frames whose cells wait in the FIFO
        self._fifo_cells = 0
        self._tx_busy = 0  # queued or on the wire
        self._tx_finished = 0  # completed since the last tx_done()
        self._wire_free_ps = 0  # when this transmitter may start its next frame
        self.pending = False  # the interrupt is raised and not yet acknowledged
        self.tx_frames = self.tx_bytes = self.tx_refused = 0
        self.rx_frames = self.rx_bytes = 0
        self.rx_dropped_full = self.rx_dropped_too_long = self.rx_filtered = 0
        self.interrupts = 0
        machine.nics.append(self)
        link.attach(self)
        if machine.tracer is not None:
            machine.tracer.track(self._tid, f"nic{self.irq - IRQ_NIC} ({ctl.name}, {spec.name})")

    @property
    def _tid(self) -> int:
        return 1000 + self.irq  # the NIC's track in a trace, after the kernels' own

    # ------------------------------------------------------------- time

    def _ps(self, cycles: int) -> int:
        return cycles * PS_PER_S // self._hz

    def cycles_at(self, ps: int) -> int:
        """The first cycle of this machine at or after ``ps``."""
        return -(-ps * self._hz // PS_PER_S)

    # ---------------------------------------------------------- receive

    def post_rx(self, pfn: int, offset: int = 0, size: int | None = None) -> None:
        """Give the interface a receive buffer: ``size`` bytes (default: the link's largest
        frame) at ``offset`` in physical frame ``pfn``, running on into the next frames."""
        if size is None:
            size = self.spec.max_frame
        for name, v in (("pfn", pfn), ("offset", offset), ("size", size)):
            if type(v) is not int:
                raise NICError(f"post_rx: {name} must be an int, not {type(v).__name__}")
        if size < ETH_HEADER:
            raise NICError(f"post_rx: a buffer of {size} bytes cannot hold a frame header ({ETH_HEADER})")
        try:
            self.machine.memory.span(pfn, offset, size)
        except ValueError as e:
            raise NICError(f"post_rx: {e}") from None
        if len(self._posted) + len(self._ready) >= self.rx_ring:
            raise NICError(f"post_rx: the receive ring is full ({self.rx_ring} buffers posted or unread)")
        self._posted.append((pfn, offset, size))
        self.machine.loop.now += self._c_post

    def ack(self) -> int:
        """Acknowledge the interrupt (read the cause, clear it); returns the frames ready to
        take. The interface may interrupt again."""
        self.machine.loop.now += self._c_ack
        self.pending = False
        return len(self._ready) if self._dma else len(self._fifo)

    def receive(self) -> RxFrame | None:
        """The next received frame, in the buffer it landed in (the buffer leaves the ring:
        post it again to reuse it); None if none is ready (TCA-100: or no buffer is posted),
        which costs the one status read that found out."""
        loop = self.machine.loop
        if self._dma:
            if not self._ready:
                loop.now += self._c_read  # RMD1 of the next buffer: still the LANCE's
                return None
            loop.now += self._c_rx
            return self._ready.popleft()
        if not self._fifo or not self._posted:
            loop.now += self._c_read  # the status register says: nothing (or nowhere) to read
            return None
        frame = self._fifo[0]
        pfn, offset, size = self._posted[0]
        cells = self.spec.cells(len(frame))
        # read the status, then each cell's words out of the FIFO, storing the payload's
        loop.now += self._c_rx + cells * self._c_cell_rx
        self._fifo.popleft()
        self._fifo_cells -= cells
        if len(frame) > size:
            self.rx_dropped_too_long += 1
            return None
        self._posted.popleft()
        self.machine.memory.span(pfn, offset, len(frame))[:] = frame
        return RxFrame(pfn, offset, len(frame))

    def _arrive(self, frame: bytes, first_bit_ps: int) -> None:
        """The last bit of ``frame`` has arrived (an event on this machine's clock)."""
        dst = frame[:6]
        if not (self.promiscuous or dst == self.mac or dst == BROADCAST):
            self.rx_filtered += 1
            return
        loop = self.machine.loop
        if not self._dma:
            cells = self.spec.cells(len(frame))
            if self._fifo_cells + cells > self._fifo_max:
                self.rx_dropped_full += 1
                return
            self._fifo.append(frame)
            self._fifo_cells += cells
            self._received(frame)
            return
        if not self._posted:
            self.rx_dropped_full += 1
            return
        pfn, offset, size = self._posted[0]
        if len(frame) > size:
            self.rx_dropped_too_long += 1
            return
        self._posted.popleft()
        # cut-through: the DMA kept pace with the wire; what is left after the last bit is
        # the last burst out of the FIFO and the two status words
        tail = (min(len(frame), self._burst_bytes) // self._xfer_bytes + self._status_xfers) * self._xfer_ps
        done = max(loop.now, self.cycles_at(self._ps(loop.now) + tail))
        loop.schedule(done, self._dma_done, frame, pfn, offset)

    def _dma_done(self, frame: bytes, pfn: int, offset: int) -> None:
        self.machine.memory.span(pfn, offset, len(frame))[:] = frame
        self._ready.append(RxFrame(pfn, offset, len(frame)))
        self._received(frame)

    def _received(self, frame: bytes) -> None:
        self.rx_frames += 1
        self.rx_bytes += len(frame)
        m = self.machine
        if m.tracer is not None:
            m.tracer.instant("rx", "nic", self._tid, m.loop.now, bytes=len(frame))
        if not self.pending:
            self.pending = True
            self.interrupts += 1
            if m.tracer is not None:
                m.tracer.instant("interrupt", "irq", self._tid, m.loop.now, irq=self.irq)
            m.cpu.interrupt(self.irq)

    # --------------------------------------------------------- transmit

    def transmit(self, pfn: int, offset: int, length: int) -> None:
        """Send the ``length``-byte frame at ``offset`` in physical frame ``pfn`` (header
        first: destination MAC, source MAC, type; no FCS)."""
        spec = self.spec
        if type(pfn) is not int or type(offset) is not int or type(length) is not int:
            for name, v in (("pfn", pfn), ("offset", offset), ("length", length)):
                if type(v) is not int:
                    raise NICError(f"transmit: {name} must be an int, not {type(v).__name__}")
        if length > self._max_frame:
            self.tx_refused += 1
            raise FrameTooLarge(
                f"transmit: a frame of {length} bytes is longer than {spec.name} carries "
                f"({spec.max_frame} bytes without the FCS{'; 1518 with it' if spec.name == 'ethernet' else ''})")
        if length < ETH_HEADER:
            self.tx_refused += 1
            raise NICError(f"transmit: a frame of {length} bytes has no Ethernet header ({ETH_HEADER} bytes)")
        try:
            data = bytes(self.machine.memory.span(pfn, offset, length))
        except ValueError as e:
            self.tx_refused += 1
            raise NICError(f"transmit: {e}") from None
        if self._tx_busy >= self.tx_ring:
            self.tx_refused += 1
            raise NICError(f"transmit: the transmit queue is full ({self.tx_ring} frames)")
        if len(data) < self._pad_to:
            data += bytes(self._pad_to - len(data))  # the controller pads a short frame
        loop = self.machine.loop
        loop.now += self._c_tx
        if self._dma:
            # the LANCE fetches the descriptor and fills its FIFO before the preamble goes out
            fill = self._desc_xfers + min(len(data), self._fifo_bytes) // self._xfer_bytes
            ready = self._ps(loop.now) + fill * self._xfer_ps
        else:
            # the processor writes every cell into the transmit FIFO (loading the payload's words)
            loop.now += spec.cells(len(data)) * self._c_cell_tx
            ready = self._ps(loop.now)
        start = max(ready, self._wire_free_ps)
        end = start + spec.wire_ps(len(data))
        self._wire_free_ps = end + self._gap_ps
        self._tx_busy += 1
        self.tx_frames += 1
        self.tx_bytes += len(data)
        m = self.machine
        if m.tracer is not None:
            m.tracer.span("tx", "nic", self._tid, self.cycles_at(start), self.cycles_at(end), bytes=len(data))
        loop.schedule(self.cycles_at(end), self._tx_complete)
        self.link.carry(self, data, start, end)

    def _tx_complete(self) -> None:
        self._tx_busy -= 1
        self._tx_finished += 1

    def tx_done(self) -> int:
        """Frames whose transmission ended since the last call (their slots are free)."""
        n = self._tx_finished
        self._tx_finished = 0
        return n

    def statistics(self) -> NICStats:
        return NICStats(
            self.controller.name, self.spec.name, self.mac.hex(":"), self.tx_frames, self.tx_bytes,
            self._tx_busy, self.tx_refused, self.rx_frames, self.rx_bytes, len(self._posted),
            len(self._ready) + len(self._fifo), self.rx_dropped_full, self.rx_dropped_too_long,
            self.rx_filtered, self.interrupts,
        )
