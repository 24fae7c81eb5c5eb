"""SPIN's network device and packet events: the NIC driver, the layers' events and their authority.

What this models
    The kernel half of SPIN's protocol graph (Bershad et al., SOSP 1995,
    section 5.3; Fiuczynski & Bershad, "An Extensible Protocol Architecture
    for Application-Specific Networking", USENIX 1996: Plexus). The kernel
    owns the device: its driver posts receive buffers in frames it
    allocated, takes the NIC's interrupt (``irq_handlers[nic.irq]``: the
    timer's path is not touched), and raises one event per received frame,
    ``Ether.PacketArrived(ethertype, packet)``. Each protocol is an
    extension (spin/ext/ether.py, ip.py, udp.py) that handles the event of
    the layer below behind an equality guard on its own protocol number and
    raises the event of its layer:

        Ether.PacketArrived(ethertype, pkt)  raised by the driver
          -> ip.py (0x0800), ether.py's ARP (0x0806)
        IP.PacketArrived(protocol, pkt)      raised by ip.py
          -> udp.py (17)
        UDP.PacketArrived(port, pkt)         raised by udp.py
          -> applications: udp_echo.py, udp_forward.py, udp_sockets.py

    The key each event is raised with is the field of the lower header the
    next layer is identified by, so every handler's guard is ``Eq(0, key)``
    and the dispatcher's equality index finds it with one lookup, however
    many protocols or ports are claimed.

Authority
    A protocol number (an ethertype, an IP protocol, a UDP port) is owned by
    the domain that claimed it first (``Ether.claim``, ``IP.claim``,
    ``UDP.claim``: an ``Eq`` guard only the kernel builds), like a Trap
    number; a claim of a number another domain holds is refused; a domain's
    handler that is not a claim is refused (it would see every protocol's
    packets). A claim lapses when its handler is uninstalled, by the
    extension or by its unload. Raising a layer's event is the right of the
    holder of that layer's claim below: ``IP.raise_(token, ...)`` takes the
    Binding of the claim of IPv4 on Ether, ``UDP.raise_`` the Binding of the
    claim of protocol 17 on IP, so no other extension can forge packets of a
    layer it does not implement. ``Ether.transmit`` checks what it is given:
    an interface the kernel handed out, a frame of bytes that fits the
    transmit buffer, with the interface's own source MAC.

Why it is built this way
    Plexus runs protocol and application handlers in the kernel, at
    interrupt level, on the buffer the device filled: no copy until a
    handler keeps data (a socket buffer), and one dispatch per layer. The
    packet handed to handlers is a kernel object (its fields are ``_``:
    verified code reads ``data``, ``iface`` and ``length`` only). The header
    helpers (``IP.header``, ``UDP.datagram``) parse with net/frames.py and
    its constants, charge the processor for the header loads and the
    one's-complement checksum (per 32-bit word: a load and two adds), and
    remember the result on the packet, so a later layer reading the same
    header pays only the loads. Bad input is answered with
    ``Errors.fail`` values, not exceptions, so a malformed frame is dropped
    and counted by the layer that found it, never terminating a handler.

    The NIC takes the frame's bytes when ``transmit`` is called (nic.py), but
    the driver keeps a ring of ``tx_ring`` transmit buffers anyway, as a
    real driver must (a slot is reused only after as many later frames). A
    frame is at most 1514 bytes on both links (the Ethernet MTU: the stack
    speaks Ethernet frames on the ATM link too, in LAN emulation).

Interface
    ``NetStack(kernel, ifaces)`` (``ifaces``: (nic, ip) pairs) registers the
    kernel domain ``SpinNet`` (interfaces ``spin.Net``, ``spin.Ether``,
    ``spin.IP``, ``spin.UDP``), installs the driver, posts the buffers;
    ``attach(system)`` builds one for a booted ``SpinSystem`` on a network
    and loads the shipped protocol extensions (and the sockets extension);
    ``detach()``; ``statistics()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dpkt

from ..machine.nic import NIC, NICError
from ..net import frames
from .dispatcher import Decision, Eq, Event, Handler
from .domain import Domain, anyone
from .kernel import Binding, Spin, _fail
from .memory import Frame

#: the largest frame the driver sends: the Ethernet MTU plus its header (no FCS)
TX_MAX = frames.ETH_HEADER + 1500

#: the protocol extensions ``attach`` loads, in link order (each imports the ones before)
PROTOCOLS = ("ether", "ip", "udp")


class Packet:
    """A received frame as handlers see it: its bytes (in the kernel's receive buffer) and
    the interface it came in on. The kernel's memo of parsed headers is not reachable."""

    __slots__ = ("_data", "_iface", "_ip", "_udp")

    def __init__(self, data: bytes, iface: NetIface) -> None:
        self._data = data
        self._iface = iface
        self._ip: Any = None
        self._udp: Any = None

    @property
    def data(self) -> bytes:
        return self._data

    @property
    def iface(self) -> NetIface:
        return self._iface

    @property
    def length(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"<Packet {len(self._data)} bytes on {self._iface.name}>"


class NetIface:
    """A network interface as the kernel hands it to extensions: its addresses, nothing to
    reach the device by."""

    __slots__ = ("_nic", "_index", "_mac", "_ip", "_ip_text", "_tx", "_txi")

    def __init__(self, nic: NIC, index: int, ip: str, tx: list[Frame]) -> None:
        self._nic = nic
        self._index = index
        self._mac = nic.mac
        self._ip = frames.ipv4(ip)
        self._ip_text = ip
        self._tx = tx
        self._txi = 0

    @property
    def index(self) -> int:
        return self._index

    @property
    def mac(self) -> bytes:
        return self._mac

    @property
    def ip(self) -> bytes:
        return self._ip

    @property
    def ip_text(self) -> str:
        return self._ip_text

    @property
    def name(self) -> str:
        return f"if{self._index}"

    def __repr__(self) -> str:
        return f"<NetIface {self.name} {self._ip_text}>"


class Alarm:
    """A pending wake-up (``Net.alarm``): pass it to ``Net.cancel``."""

    __slots__ = ("_ev",)

    def __init__(self, ev: Any) -> None:
        self._ev = ev


class ClaimAuthority:
    """A layer's protocol numbers are owned: the first domain to claim one holds it while its
    claim's handler is installed; a domain's handler must be a claim."""

    def __init__(self, what: str, layer: str) -> None:
        self.what = what
        self.layer = layer

    @staticmethod
    def holder(event: Event, key: int) -> tuple[bool, Any]:
        """(held, by whom: a domain or None for the kernel) for ``key`` on ``event``."""
        for h in event.handlers:
            for g in h.guards:
                if type(g) is Eq and g.index == 0 and g.value == key:
                    return True, h.installer
        return False, None

    def on_install(self, event: Event, h: Handler, installer: Any) -> Decision | None:
        claims = [g for g in h.guards if type(g) is Eq and g.index == 0]
        if not claims:
            if installer is None:
                return None
            raise PermissionError(f"a handler of {_name(installer)!r} on {event.name} would see "
                                  f"every {self.what}'s packets: claim one ({self.layer}.claim)")
        for g in claims:
            held, by = self.holder(event, g.value)
            if held and by is not installer:
                raise PermissionError(f"{self.what} {g.value} belongs to {_name(by)!r}")
        return None


def _name(d: Any) -> str:
    return getattr(d, "name", "the kernel")


@dataclass(frozen=True, slots=True)
class NetStackStats:
    interfaces: int
    #: frames the driver took from the NICs and raised Ether.PacketArrived for
    received: int
    transmitted: int
    #: transmits refused by the checks or by the NIC (full queue): nothing sent
    tx_refused: int
    #: packets no handler claimed, per layer
    unclaimed_ether: int
    unclaimed_ip: int
    unclaimed_udp: int
    #: checksums the kernel computed for the layers (IP headers, UDP datagrams)
    checksums: int


class NetStack:
    """The driver, the three events and the ``SpinNet`` interfaces of one SPIN kernel."""

    def __init__(self, kernel: Spin, ifaces: list[tuple[NIC, str]]) -> None:
        if not ifaces:
            raise ValueError("NetStack: at least one (nic, ip) interface")
        self.k = kernel
        m = kernel.m
        p = m.profile
        self._loop = m.loop
        self._mem = m.memory
        self._word = p.word_bytes
        self._c_copy_word = p.copy_word
        self._c_load = p.mem_ref
        # the one's-complement sum: per 32-bit word a load and two adds (with the carry)
        self._c_sum_word = p.mem_ref + 2 * p.insn
        self.received = self.transmitted = self.tx_refused = self.checksums = 0
        self.unclaimed = {"ether": 0, "ip": 0, "udp": 0}
        d = kernel.dispatcher
        self.Ether = d.define(Event("Ether.PacketArrived", (int, Packet), None,
                                    authority=ClaimAuthority("ethertype", "Ether"),
                                    default=self._unclaimed("ether")))
        self.IP = d.define(Event("IP.PacketArrived", (int, Packet), None,
                                 authority=ClaimAuthority("IP protocol", "IP"),
                                 default=self._unclaimed("ip")))
        self.UDP = d.define(Event("UDP.PacketArrived", (int, Packet), None,
                                  authority=ClaimAuthority("UDP port", "UDP"),
                                  default=self._unclaimed("udp")))
        #: the claims that may raise the next layer's event (IPv4 on Ether; UDP on IP)
        self._raisers: dict[Event, dict[Handler, None]] = {self.IP: {}, self.UDP: {}}
        self.ifaces: list[NetIface] = []
        self._by_irq: dict[int, NetIface] = {}
        self._rx: list[Frame] = []
        self._rx_size: dict[int, int] = {}  # irq -> the size of that NIC's receive buffers
        for nic, ip in ifaces:  # checked before anything is allocated or posted
            if nic.machine is not m:
                raise ValueError(f"NetStack: {nic!r} is not on this kernel's machine")
            if nic.irq in kernel.irq_handlers:
                raise ValueError(f"NetStack: interrupt {nic.irq} already has a handler")
            frames.ipv4(ip)
        for nic, ip in ifaces:
            tx = [kernel.memory.allocate() for _ in range(nic.tx_ring)]
            iface = NetIface(nic, len(self.ifaces), ip, tx)
            self.ifaces.append(iface)
            self._by_irq[nic.irq] = iface
            size = self._rx_size[nic.irq] = min(nic.spec.max_frame, p.page_size)
            for _ in range(nic.rx_ring):
                f = kernel.memory.allocate()
                self._rx.append(f)
                nic.post_rx(f._pfn, 0, size)
            kernel.irq_handlers[nic.irq] = self._interrupt
        members = self._interfaces()
        self.domain = Domain.kernel("SpinNet", members)
        kernel.names.register("SpinNet", self.domain, anyone)
        kernel.services.append(("SpinNet", self.domain))

    # ------------------------------------------------------------ the exported interfaces

    def _interfaces(self) -> dict[str, dict[str, Any]]:
        return {
            "spin.Net": {"interfaces": lambda: tuple(self.ifaces), "alarm": self._alarm,
                         "cancel": self._cancel, "copy": self.k.copy_bytes},
            "spin.Ether": {"claim": self._claimer(self.Ether, 0xFFFF), "uninstall": self.k._uninstall,
                           "transmit": self._transmit, "arp": self._arp, "arp_frame": self._arp_frame,
                           "IPV4": frames.ETH_P_IP, "ARP": frames.ETH_P_ARP,
                           "BROADCAST": frames.BROADCAST, "REQUEST": frames.ARP_REQUEST,
                           "REPLY": frames.ARP_REPLY},
            "spin.IP": {"claim": self._claimer(self.IP, 0xFF), "uninstall": self.k._uninstall,
                        "raise_": self._raiser(self.IP), "header": self._ip_header,
                        "address": self._address, "text": self._text, "UDP": frames.IPPROTO_UDP},
            "spin.UDP": {"claim": self._claimer(self.UDP, 0xFFFF), "uninstall": self.k._uninstall,
                         "raise_": self._raiser(self.UDP), "datagram": self._datagram,
                         "frame": self._udp_frame, "holder": self._holder,
                         "MAX_PAYLOAD": TX_MAX - frames.ETH_HEADER - frames.IP_HEADER - frames.UDP_HEADER},
        }

    def _claimer(self, event: Event, top: int) -> Callable[..., Binding]:
        """``claim(key, fn)``: ``fn(key, packet)`` handles ``event`` for ``key`` alone."""
        nxt = self.IP if event is self.Ether else self.UDP if event is self.IP else None
        up = frames.ETH_P_IP if event is self.Ether else frames.IPPROTO_UDP

        def claim(key: int, fn: Any) -> Binding:
            if type(key) is not int or not 0 <= key <= top:
                raise ValueError(f"{event.name}: a key from 0 to {top}, not {key!r}")
            b = self.k._install(event, fn, [Eq(0, key)])  # the authority refuses another's key
            if nxt is not None and key == up:
                self._raisers[nxt][b._handler] = None
            return b
        claim.__name__ = f"claim_{event.name.split('.')[0].lower()}"
        return claim

    def _raiser(self, event: Event) -> Callable[[Any, int, Any], Any]:
        """``raise_(token, key, packet)``: only with the Binding of the claim below."""
        allowed = self._raisers[event]
        below = "IPv4 on Ether.PacketArrived" if event is self.IP else "protocol 17 on IP.PacketArrived"

        def raise_(token: Any, key: int, packet: Any) -> Any:
            h = token._handler if token.__class__ is Binding else None
            if h is None or h not in allowed or not h.installed:
                raise PermissionError(f"{event.name} is raised by the holder of {below}")
            if packet.__class__ is not Packet or type(key) is not int:
                raise TypeError(f"{event.name}: raise_(token, key: int, packet: Packet)")
            return event.raise_(key, packet)
        return raise_

    def _holder(self, port: Any) -> str | None:
        """spin.UDP.holder: the name of the domain (or "the kernel") holding ``port``, or None."""
        held, by = ClaimAuthority.holder(self.UDP, port)
        return _name(by) if held else None

    def _unclaimed(self, layer: str) -> Callable[[int, Packet], None]:
        counts = self.unclaimed

        def default(key: int, packet: Packet) -> None:
            counts[layer] += 1
        return default

    # ------------------------------------------------------------ the driver

    def _interrupt(self, irq: int) -> None:
        """The NIC's receive interrupt: acknowledge, take every frame, raise its event, post
        the buffer again (the handlers ran on it, at interrupt level)."""
        iface = self._by_irq[irq]
        nic = iface._nic
        nic.ack()
        span, loop, c, size = self._mem.span, self._loop, self._c_load, self._rx_size[irq]
        while (r := nic.receive()) is not None:
            data = bytes(span(r.pfn, r.offset, r.length))
            loop.now += c  # the driver loads the type field
            self.received += 1
            try:
                self.Ether.raise_((data[12] << 8) | data[13], Packet(data, iface))
            finally:
                nic.post_rx(r.pfn, r.offset, size)

    def _transmit(self, iface: Any, frame: Any) -> Any:
        """spin.Ether.transmit: send ``frame`` (bytes, with this interface's source MAC) out of
        ``iface``; returns its length, or a fail value (nothing sent)."""
        if iface.__class__ is not NetIface:
            raise TypeError(f"Ether.transmit: an interface from Net.interfaces(), not {iface!r}")
        if type(frame) is not bytes:
            self.tx_refused += 1
            return _fail("EINVAL", f"transmit: a frame is bytes, not {type(frame).__name__}")
        n = len(frame)
        if not frames.ETH_HEADER <= n <= TX_MAX:
            self.tx_refused += 1
            return _fail("EMSGSIZE", f"transmit: a frame of {n} bytes (from {frames.ETH_HEADER} to {TX_MAX})")
        if frame[6:12] != iface._mac:
            self.tx_refused += 1
            return _fail("EPERM", f"transmit: source MAC {frame[6:12].hex(':')} is not {iface.name}'s")
        slot = iface._tx[iface._txi]
        self._loop.now += -(-n // self._word) * self._c_copy_word  # into the transmit buffer
        self._mem.span(slot._pfn, 0, n)[:] = frame
        try:
            iface._nic.transmit(slot._pfn, 0, n)
        except NICError as e:
            self.tx_refused += 1
            return _fail("ENOBUFS", f"transmit: {e}")
        iface._txi = (iface._txi + 1) % len(iface._tx)
        self.transmitted += 1
        return n

    # ------------------------------------------------------------ headers, for the layers

    def _sum(self, nbytes: int) -> None:
        self.checksums += 1
        self._loop.now += -(-nbytes // 4) * self._c_sum_word

    def _ip_header(self, packet: Any) -> Any:
        """spin.IP.header: the IPv4 header (frames.IPv4Header) of ``packet``, its checksum
        verified (``checksum_ok``), or a fail value saying what is malformed."""
        if packet.__class__ is not Packet:
            raise TypeError(f"IP.header: a Packet, not {packet!r}")
        if packet._ip is not None:
            self._loop.now += 2 * self._c_load
            return packet._ip
        body = packet._data[frames.ETH_HEADER:]
        if len(body) < frames.IP_HEADER:
            return _fail("EINVAL", f"truncated IPv4 header: {len(body)} bytes")
        vhl = body[0]
        hl = (vhl & 0xF) * 4
        total = int.from_bytes(body[2:4], "big")
        self._loop.now += 5 * self._c_load
        if vhl >> 4 != 4:
            return _fail("EINVAL", f"not IPv4: version {vhl >> 4}")
        if hl < frames.IP_HEADER or hl > total or total > len(body):
            return _fail("EINVAL", f"bad IPv4 lengths: header {hl}, total {total}, {len(body)} in the frame")
        self._sum(hl)
        ok = dpkt.in_cksum(body[:hl]) == 0
        packet._ip = frames.IPv4Header(body[12:16], body[16:20], body[9], body[8],
                                       int.from_bytes(body[4:6], "big"), total, ok)
        return packet._ip

    def _datagram(self, packet: Any) -> Any:
        """spin.UDP.datagram: the UDP datagram (frames.UDPDatagram) of ``packet`` (parsed by
        net/frames.py, its checksum verified: ``checksum_ok``), or a fail value."""
        if packet.__class__ is not Packet:
            raise TypeError(f"UDP.datagram: a Packet, not {packet!r}")
        if packet._udp is not None:
            self._loop.now += 2 * self._c_load
            return packet._udp
        try:
            parsed = frames.parse(packet._data, verify=False)
        except frames.FrameError as e:
            return _fail("EINVAL", str(e))
        if parsed.udp is None or parsed.ip is None:
            return _fail("EINVAL", "not a UDP datagram (or a fragment)")
        self._loop.now += 2 * self._c_load
        self._sum(12 + frames.UDP_HEADER + len(parsed.udp.payload))
        packet._udp = parsed.udp
        return parsed.udp

    def _arp(self, packet: Any) -> Any:
        """spin.Ether.arp: the ARP packet (frames.ARPPacket) in ``packet``, or a fail value."""
        if packet.__class__ is not Packet:
            raise TypeError(f"Ether.arp: a Packet, not {packet!r}")
        self._loop.now += 7 * self._c_load  # 28 bytes of ARP
        try:
            parsed = frames.parse(packet._data)
        except frames.FrameError as e:
            return _fail("EINVAL", str(e))
        if parsed.arp is None:
            return _fail("EINVAL", "not an ARP packet")
        return parsed.arp

    def _arp_frame(self, op: Any, src_mac: Any, src_ip: Any, dst_ip: Any, dst_mac: Any = None) -> Any:
        """spin.Ether.arp_frame: an ARP request or reply (net/frames.py builds it)."""
        try:
            f = frames.arp_frame(op, src_mac, src_ip, dst_ip, dst_mac)
        except frames.FrameError as e:
            return _fail("EINVAL", str(e))
        self._loop.now += -(-len(f) // self._word) * self._c_load  # stores of the header
        return f

    def _udp_frame(self, src_mac: Any, dst_mac: Any, src_ip: Any, dst_ip: Any, sport: Any, dport: Any,
                   payload: Any, ident: Any = 0) -> Any:
        """spin.UDP.frame: an Ethernet frame with one UDP datagram, both checksums computed
        (net/frames.py builds it), or a fail value."""
        if isinstance(payload, bytes) and len(payload) > TX_MAX - 42:
            return _fail("EMSGSIZE", f"a UDP payload of {len(payload)} bytes is more than one frame carries "
                                     f"({TX_MAX - 42})")
        try:
            f = frames.udp_frame(src_mac, dst_mac, src_ip, dst_ip, sport, dport, payload,
                                 ident=ident if type(ident) is int else 0)
        except frames.FrameError as e:
            return _fail("EINVAL", str(e))
        # the headers' stores (42 bytes), the IP header's sum and the UDP sum over the datagram
        self._loop.now += -(-42 // self._word) * self._c_load
        self._sum(frames.IP_HEADER)
        self._sum(12 + frames.UDP_HEADER + len(payload))
        return f

    @staticmethod
    def _address(text: Any) -> Any:
        """spin.IP.address: ``"10.0.0.2"`` -> 4 bytes, or a fail value."""
        try:
            return frames.ipv4(text)
        except frames.FrameError as e:
            return _fail("EINVAL", str(e))

    @staticmethod
    def _text(addr: Any) -> str:
        """spin.IP.text: 4 bytes -> ``"10.0.0.2"``."""
        if type(addr) is not bytes or len(addr) != 4:
            raise ValueError(f"IP.text: 4 bytes, not {addr!r}")
        return ".".join(str(b) for b in addr)

    # ------------------------------------------------------------ time-outs

    def _alarm(self, delay_us: Any, strand: Any) -> Alarm:
        """spin.Net.alarm: unblock ``strand`` after ``delay_us`` µs (if it is blocked then)."""
        if not isinstance(delay_us, int | float) or delay_us < 0:
            raise ValueError(f"Net.alarm: a delay in µs >= 0, not {delay_us!r}")
        k = self.k
        at = self._loop.now + k.m.profile.cycles_for_us(delay_us)
        return Alarm(self._loop.schedule(at, k.sched.unblock, strand))

    @staticmethod
    def _cancel(alarm: Any) -> None:
        if alarm.__class__ is not Alarm:
            raise TypeError(f"Net.cancel: an Alarm, not {alarm!r}")
        alarm._ev.cancel()

    # ------------------------------------------------------------ the rest

    def detach(self) -> None:
        """Stop the driver: its interrupt handlers go, its buffers are given back."""
        for irq, iface in self._by_irq.items():
            if self.k.irq_handlers.get(irq) == self._interrupt:
                del self.k.irq_handlers[irq]
            iface._nic._posted.clear()  # the device forgets the ring we are about to free
            for f in iface._tx:
                self.k.memory.deallocate(f)
            iface._tx.clear()
        for f in self._rx:
            self.k.memory.deallocate(f)
        self._rx.clear()
        if self.k.names.registered("SpinNet") is self.domain:  # a new stack may be attached
            self.k.names.unregister("SpinNet")
            self.k.services.remove(("SpinNet", self.domain))

    def held(self) -> dict[str, int]:
        """What processes still hold of the stack: ports bound by sockets (0 once every
        process has ended; a shutdown's leak check)."""
        return {"sockets": sum(1 for h in self.UDP.handlers
                               if getattr(h.installer, "name", None) == "udp_sockets")}

    def statistics(self) -> NetStackStats:
        u = self.unclaimed
        return NetStackStats(len(self.ifaces), self.received, self.transmitted, self.tx_refused,
                        u["ether"], u["ip"], u["udp"], self.checksums)


def attach(system: Any, sockets: bool = True, ifaces: list[tuple[NIC, str]] | None = None) -> NetStack:
    """Give a ``SpinSystem`` booted by ``systems.network`` its network stack: the driver on
    its interface (or on ``ifaces``: (nic, ip) pairs, e.g. a second NIC on a second link),
    then the protocol extensions (ether, ip, udp) and, with ``sockets``, the Unix
    personality's sockets (udp_sockets, after unix_as)."""
    from . import extensions

    if ifaces is None:
        if system.iface is None:
            raise ValueError("attach: this system has no network interface (boot it with systems.network)")
        ifaces = [(system.iface.nic, system.iface.ip)]
    k: Spin = system.kernel
    if system.net is not None:
        raise ValueError("attach: this system already has its network stack")
    stack = NetStack(k, ifaces)
    system.net = stack
    loaded = []
    try:
        for name in PROTOCOLS:
            loaded.append(k.load(extensions.source(name), f"{name}.py"))
        if sockets:
            system._unix("pids")  # the Unix personality, loaded on first use
            loaded.append(k.load(extensions.source("udp_sockets"), "udp_sockets.py"))
    except Exception:  # nothing of the stack stays behind
        for d in reversed(loaded):
            if d in k.extensions:
                k.unload(d, "attach failed")
        stack.detach()
        system.net = None
        raise
    return stack


__all__ = ["Alarm", "ClaimAuthority", "NetIface", "NetStack", "NetStackStats", "Packet", "attach"]
