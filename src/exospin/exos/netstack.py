"""ExOS' network stack: ARP, IPv4 and UDP in the library, on DPF filters and packet rings.

What this models
    The exokernel's protocols as library code (Engler et al., section 6;
    Kaashoek et al., SOSP 1997): Aegis only demultiplexes frames into packet
    rings by the filters an environment installed (aegis/netdrv.py); Ethernet,
    ARP, IPv4 and UDP are this module, in the process's own address space,
    and posix's UDP sockets (socket, bind, sendto, recvfrom, poll, close) are
    built on them.

    * A socket bound to a port owns a packet ring (frames of its own, mapped
      in its address space) and one DPF filter: IPv4, UDP, our address, not
      a fragment, the port. Binding a port another environment's filter
      holds is refused by the kernel's overlap rule: EADDRINUSE (ports bound
      by this machine's ExOS processes are also recorded in the shared
      segment, so the error is found before the system call).
    * Receive reads the ring's slots in order with loads, parses the frame
      (net/frames.py, dpkt) and verifies both checksums (the library pays a
      word's add per 32 bits summed); a malformed or truncated frame or a
      bad checksum is dropped and counted (``statistics()``).
    * Send builds the frame with dpkt (headers and checksums, the checksum
      work charged), stores it into a transmit frame of its own and calls
      ``net_send``.
    * ARP: the first process of the machine to open a socket installs the
      filter for ARP packets addressed to the machine's IP (one owner per
      machine: DPF refuses a second), answers requests and learns from them;
      the cache is the shared segment's, so every process of the machine
      sees it. A peer is resolved by a broadcast request, retried.
    * Waiting: a thread blocked in recvfrom or poll blocks in the thread
      package; when no thread can run and one waits on the network, the
      scheduler *sleeps* (Aegis' sleep: until a packet reaches one of our
      rings, a wake-up PCT, or the earliest poll time-out) rather than
      yielding slice after slice.

Why it is built this way
    Everything above the wire is in the library, as the paper has it: the
    kernel neither knows what a port is nor copies a datagram to a socket
    buffer; the ring is the socket buffer. The library reads only the bytes
    it needs, through the MMU, as it would in C.

    A forked child does not inherit its parent's sockets (their rings and
    filters are bound to the parent's environment); exec closes them.

Interface
    ``NetStack(proc)`` (made by ExOS at its first socket call); the socket
    calls of posix.SocketProcess take it through ExOS (proc.py);
    ``ash_install(fd, source, entry, budget)`` (an application's own ASH,
    through ExOS: ``ExOS.ash_install``); ``statistics()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from ..aegis import AegisError, Capability, FilterRefused, NetSyscalls, ResourceExhausted
from ..net import Atom, FrameError, Shift, arp_frame, ipv4, parse, udp_frame
from ..posix import AF_INET, SOCK_DGRAM, UDP_MAX_PAYLOAD, PosixError
from .ipc import _get, _put

ETH_P_IP, ETH_P_ARP = 0x0800, 0x0806
ARP_REQUEST, ARP_REPLY = 1, 2
RING_SLOTS = 8  # frames in a socket's packet ring
ARP_SLOTS = 4
EPHEMERAL = 49152  # the first port sendto binds an unbound socket to (IANA's dynamic range)
ARP_TRIES = 3
ARP_WAIT_US = 20_000.0  # how long one ARP request is waited for
ARP_PEER_POLL_US = 1_000.0  # a process without the ARP ring re-reads the shared cache this often


@dataclass(frozen=True, slots=True)
class NetStackStats:
    sockets: int
    datagrams_sent: int
    datagrams_received: int
    dropped_bad: int  # malformed, truncated, or a bad checksum
    dropped_other: int  # well formed but not UDP to us (cannot pass our filter: counted if it does)
    arp_requests: int
    arp_replies: int
    arp_cache: int


@dataclass(eq=False)
class Socket:
    fd: int
    port: int = 0  # 0: not bound
    ring: int = 0  # the kernel's ring id
    va: int = 0  # where the ring's slots are mapped
    caps: list[Capability] = field(default_factory=list)
    head: int = 0  # the next slot to read
    filters: list[int] = field(default_factory=list)
    ready: tuple[bytes, tuple[str, int]] | None = None  # a datagram checked by poll, not yet read


def udp_endpoint(ip: str, port: int) -> list[Any]:
    """The DPF filter of a UDP endpoint: IPv4, UDP, to ``ip``, not a later fragment, ``port``."""
    return [Atom(12, 2, 0xFFFF, ETH_P_IP), Atom(23, 1, 0xFF, 17),
            Atom(30, 4, 0xFFFFFFFF, int.from_bytes(ipv4(ip), "big")), Atom(20, 2, 0x1FFF, 0),
            Shift(14, 1, 0x0F, 2), Atom(16, 2, 0xFFFF, port)]


def arp_for(ip: str) -> list[Any]:
    """The DPF filter of ARP packets whose target is ``ip``."""
    return [Atom(12, 2, 0xFFFF, ETH_P_ARP), Atom(38, 4, 0xFFFFFFFF, int.from_bytes(ipv4(ip), "big"))]


class NetStack:
    """One process's ARP, IPv4 and UDP, and its sockets (see the module note)."""

    def __init__(self, proc: Any) -> None:
        """``proc``: the ExOS process (proc.py, which imports this module: not imported here)."""
        sh = proc.shared
        if sh.ip is None:
            raise PosixError("ENETDOWN", "socket: this machine has no network interface")
        self.proc = proc
        self.sys = cast(NetSyscalls, proc.sys)  # Aegis' system calls are NetSyscalls
        self.cpu = proc.cpu
        self.ip = sh.ip
        self.ip_bytes = ipv4(sh.ip)
        self.mac, self.max_frame = self.sys.net_info()
        self.wb = self.sys.word_bytes
        self.page = self.sys.page_size
        self.socks: dict[int, Socket] = proc.socks
        self.waiting = 0  # threads blocked in a socket call
        self.deadlines: list[int] = []  # their time-outs, in cycles
        self.sent = self.received = self.bad = self.other = 0
        self.arp_requests = self.arp_replies = 0
        self.ident = 0
        # a transmit frame of our own, mapped
        self.tx_cap = proc.vm._grab_frame()
        self.tx_va = proc.vm.map_shared([self.tx_cap])
        # the machine's ARP ring, if no process of the machine holds it yet
        self.arp: Socket | None = None
        if not sh.arp_owner:
            s = self._ring(ARP_SLOTS)
            try:
                s.filters = self.sys.filter_install(s.ring, arp_for(self.ip))
            except FilterRefused:  # an environment that is not ExOS's holds it
                self._unring(s)
            else:
                self.arp = s
                sh.arp_owner = proc.pid
        proc.threads.idle = self._idle
        #: the ASHs the kernel removed from our rings: (id, why), as it told us
        self.ashes_removed: list[tuple[int, str]] = []
        self.sys.set_handler("ash_removed", self.ashes_removed.append)

    # ------------------------------------------------------------ rings

    def _ring(self, slots: int) -> Socket:
        vm = self.proc.vm
        caps: list[Capability] = []
        try:
            for _ in range(slots):
                caps.append(vm._grab_frame())
        except MemoryError:
            for c in caps:
                self.sys.frame_free(c)
            raise PosixError("ENOBUFS", "no free frame for a packet ring") from None
        va = vm.map_shared(caps)
        try:
            ring = self.sys.ring_create(caps)
        except ResourceExhausted as e:
            vm.munmap(va, len(caps))
            raise PosixError("ENOBUFS", str(e)) from None
        return Socket(-1, ring=ring, va=va, caps=caps)

    def _unring(self, s: Socket) -> None:
        self.sys.ring_destroy(s.ring)  # its filters go with it
        self.proc.vm.munmap(s.va, len(s.caps))
        s.ring = 0
        s.caps = []

    def _take(self, s: Socket) -> bytes | None:
        """The frame in ``s``'s next slot (the slot is freed), or None."""
        slot = s.va + s.head * self.page
        n = self.cpu.load(slot)
        if not n:
            return None
        data = _get(self.proc, slot + self.wb, n)
        self.cpu.store(slot, 0)  # the slot is the kernel's again
        s.head = (s.head + 1) % len(s.caps)
        return data

    def _has(self, s: Socket) -> bool:
        return s.ready is not None or (s.ring != 0 and self.cpu.load(s.va + s.head * self.page) != 0)

    # ----------------------------------------------------------- waiting

    def _idle(self) -> None:
        """The scheduler has no thread to run: sleep if one waits on the network."""
        if self.waiting:
            until = min(self.deadlines) if self.deadlines else None
            self.sys.sleep(until)
        else:
            self.sys.yield_()

    def _wait(self, ready: Any, deadline: int | None) -> None:
        """Block the calling thread until ``ready()`` or ``deadline`` (cycles), serving ARP."""
        cycles = self.cpu.cycles

        def pred() -> bool:
            return ready() or (self.arp is not None and self._has(self.arp)) or \
                (deadline is not None and cycles() >= deadline)

        self.waiting += 1
        if deadline is not None:
            self.deadlines.append(deadline)
        try:
            self.proc.threads.block(pred)
        finally:
            self.waiting -= 1
            if deadline is not None:
                self.deadlines.remove(deadline)
        self.serve_arp()

    def _cycles_after(self, us: float) -> int:
        return self.cpu.cycles() + int(us * self.sys.clock_hz / 1e6)

    # --------------------------------------------------------------- ARP

    def serve_arp(self) -> None:
        """Answer the ARP requests in our ring and learn from every packet in it."""
        s = self.arp
        if s is None:
            return
        cache = self.proc.shared.arp
        while True:
            frame = self._take(s)
            if frame is None:
                return
            self.cpu.compute(8)  # decode op, addresses
            try:
                a = parse(frame).arp
            except FrameError:
                self.bad += 1
                continue
            if a is None:
                self.other += 1
                continue
            cache[a.spa] = a.sha
            self.cpu.mem_refs(2)  # the cache entry
            if a.op == ARP_REQUEST and a.tpa == self.ip_bytes:
                self.arp_replies += 1
                self._send(arp_frame(ARP_REPLY, self.mac, self.ip_bytes, a.spa, a.sha))

    def resolve(self, ip: bytes) -> bytes:
        """The MAC address of ``ip`` on our link: the cache, else ask (EHOSTUNREACH)."""
        cache = self.proc.shared.arp
        self.cpu.mem_refs(2)
        m = cache.get(ip)
        if m is not None:
            return m
        for _ in range(ARP_TRIES):
            self.arp_requests += 1
            self._send(arp_frame(ARP_REQUEST, self.mac, self.ip_bytes, ip))
            end = self._cycles_after(ARP_WAIT_US)
            while ip not in cache and self.cpu.cycles() < end:
                poll = end if self.arp is not None else min(end, self._cycles_after(ARP_PEER_POLL_US))
                self._wait(lambda: ip in cache, poll)
            if ip in cache:
                return cache[ip]
        raise PosixError("EHOSTUNREACH", f"sendto: no ARP reply from {'.'.join(map(str, ip))} "
                         f"after {ARP_TRIES} requests")

    # -------------------------------------------------------------- send

    def _send(self, frame: bytes) -> None:
        if len(frame) < 60:
            frame += bytes(60 - len(frame))  # as the controller would pad it
        _put(self.proc, self.tx_va, frame)
        try:
            self.sys.net_send(self.tx_cap, 0, len(frame))
        except ResourceExhausted:  # the transmit queue is full: wait for a slot, once
            self.sys.sleep(self._cycles_after(1_000.0))
            try:
                self.sys.net_send(self.tx_cap, 0, len(frame))
            except ResourceExhausted as e:
                raise PosixError("ENOBUFS", f"sendto: {e}") from None

    # ----------------------------------------------------------- sockets

    def _sock(self, call: str, fd: Any) -> Socket:
        s = self.socks.get(fd) if type(fd) is int else None
        if s is None:
            if type(fd) is int and fd in self.proc.fds:
                raise PosixError("ENOTSOCK", f"{call}: descriptor {fd} is not a socket")
            raise PosixError("EBADF", f"{call}: {fd!r} is not an open descriptor")
        return s

    def socket(self, domain: int, type_: int) -> int:
        if domain != AF_INET:
            raise PosixError("EAFNOSUPPORT", f"socket: address family {domain!r} (only AF_INET)")
        if type_ != SOCK_DGRAM:
            raise PosixError("EPROTONOSUPPORT", f"socket: type {type_!r} (only SOCK_DGRAM: UDP)")
        fd = 0
        while fd in self.proc.fds or fd in self.socks:
            fd += 1
        self.socks[fd] = Socket(fd)
        self.cpu.mem_refs(4)
        return fd

    @staticmethod
    def _address(call: str, address: Any) -> tuple[str, int]:
        if not (isinstance(address, tuple) and len(address) == 2 and isinstance(address[0], str)
                and type(address[1]) is int and 0 <= address[1] <= 0xFFFF):
            raise PosixError("EINVAL", f"{call}: an address is (ip, port), port 0..65535, not {address!r}")
        try:
            ipv4(address[0])
        except FrameError as e:
            raise PosixError("EINVAL", f"{call}: {e}") from None
        return address[0], address[1]

    def bind(self, fd: int, address: Any) -> None:
        s = self._sock("bind", fd)
        ip, port = self._address("bind", address)
        if s.port:
            raise PosixError("EINVAL", f"bind: socket {fd} is bound already (port {s.port})")
        if ip not in ("0.0.0.0", self.ip):
            raise PosixError("EADDRNOTAVAIL", f"bind: {ip} is not this machine's address ({self.ip})")
        self._bind(s, port, "bind")

    def _bind(self, s: Socket, port: int, call: str) -> None:
        ports = self.proc.shared.ports
        if port == 0:
            port = EPHEMERAL
            while port in ports:
                port += 1
        elif port in ports:
            raise PosixError("EADDRINUSE", f"{call}: port {port} is bound by pid {ports[port]}")
        r = self._ring(RING_SLOTS)
        try:
            r.filters = self.sys.filter_install(r.ring, udp_endpoint(self.ip, port))
        except FilterRefused as e:
            self._unring(r)
            raise PosixError("EADDRINUSE", f"{call}: port {port}: {e}") from None
        s.port, s.ring, s.va, s.caps, s.head, s.filters = port, r.ring, r.va, r.caps, 0, r.filters
        ports[port] = self.proc.pid
        self.cpu.mem_refs(2)

    def sendto(self, fd: int, data: Any, address: Any) -> int:
        s = self._sock("sendto", fd)
        ip, port = self._address("sendto", address)
        if not isinstance(data, bytes | bytearray):
            raise PosixError("EINVAL", f"sendto: data must be bytes, not {type(data).__name__}")
        limit = min(UDP_MAX_PAYLOAD, self.max_frame - 42)
        if len(data) > limit:
            raise PosixError("EMSGSIZE", f"sendto: {len(data)} bytes is more than one datagram carries ({limit})")
        if port == 0:
            raise PosixError("EINVAL", "sendto: port 0 is no destination")
        if not s.port:
            self._bind(s, 0, "sendto")
        dst = ipv4(ip)
        self.serve_arp()
        mac = self.resolve(dst)
        self.ident = (self.ident + 1) & 0xFFFF
        frame = udp_frame(self.mac, mac, self.ip_bytes, dst, s.port, port, bytes(data), ident=self.ident)
        # the headers (about 20 instructions) and both checksums: an add per 32-bit word summed
        self.cpu.compute(20 + (len(frame) - 14 + 12) // 4)
        self._send(frame)
        self.sent += 1
        return len(data)

    def _next(self, s: Socket) -> tuple[bytes, tuple[str, int]] | None:
        """The next good datagram in ``s``'s ring (bad frames are dropped and counted)."""
        if s.ready is not None:
            d, s.ready = s.ready, None
            return d
        while True:
            frame = self._take(s)
            if frame is None:
                return None
            self.cpu.compute(20 + len(frame) // 4)  # header checks and both checksums
            try:
                p = parse(frame)
            except FrameError:
                self.bad += 1
                continue
            if p.udp is None or p.ip is None:
                self.other += 1
                continue
            self.received += 1
            return p.udp.payload, (".".join(map(str, p.ip.src)), p.udp.sport)

    def recvfrom(self, fd: int, n: int) -> tuple[bytes, tuple[str, int]]:
        s = self._sock("recvfrom", fd)
        if type(n) is not int or n < 0:
            raise PosixError("EINVAL", f"recvfrom: count must be a non-negative int, not {n!r}")
        if not s.port:
            raise PosixError("EINVAL", f"recvfrom: socket {fd} is not bound (bind it, or send first)")
        while True:
            self.serve_arp()
            got = self._next(s)
            if got is not None:
                data, addr = got
                return data[:n], addr
            self._wait(lambda: self._has(s) or fd not in self.socks, None)
            if fd not in self.socks:
                raise PosixError("EBADF", f"recvfrom: socket {fd} was closed while waiting")

    def poll(self, fds: Any, timeout_us: Any) -> list[int]:
        if not isinstance(fds, list | tuple):
            raise PosixError("EINVAL", f"poll: fds must be a list of descriptors, not {fds!r}")
        socks = [self._sock("poll", fd) for fd in fds]
        if timeout_us is not None and (not isinstance(timeout_us, int | float) or isinstance(timeout_us, bool)
                                       or timeout_us < 0):
            raise PosixError("EINVAL", f"poll: timeout_us must be a non-negative number or None, not {timeout_us!r}")
        deadline = None if timeout_us is None else self._cycles_after(float(timeout_us))
        while True:
            self.serve_arp()
            ready = []
            for s in socks:
                if s.ready is None and s.ring:
                    s.ready = self._next(s)
                if s.ready is not None:
                    ready.append(s.fd)
            self.cpu.mem_refs(len(socks))
            if ready or (deadline is not None and self.cpu.cycles() >= deadline):
                return ready
            self._wait(lambda: any(self._has(s) for s in socks), deadline)

    def ash_install(self, fd: int, source: str, entry: str, budget: int) -> int:
        """Have the kernel run the verified handler ``source`` (its function ``entry``) on
        the packets of socket ``fd`` (bound), before they reach its ring (aegis/netdrv.py)."""
        s = self._sock("ash_install", fd)
        if not s.port:
            raise PosixError("EINVAL", f"ash_install: socket {fd} is not bound")
        try:
            return self.sys.ash_install(s.ring, source, entry, budget)
        except AegisError as e:
            raise PosixError("EINVAL", str(e)) from None

    def close(self, fd: int) -> None:
        s = self.socks.pop(fd)
        if s.ring:
            self._unring(s)
            self.proc.shared.ports.pop(s.port, None)
        self.cpu.mem_refs(2)

    def close_all(self) -> None:
        """Exit or exec: every socket, the ARP ring, the transmit frame."""
        for fd in list(self.socks):
            self.close(fd)
        if self.arp is not None:
            self._unring(self.arp)
            self.arp = None
            self.proc.shared.arp_owner = 0
        self.proc.vm.munmap(self.tx_va, 1)

    def forget(self) -> None:
        """We are being destroyed: the kernel drops our rings and filters; the shared
        segment's records of us go here."""
        sh = self.proc.shared
        for s in self.socks.values():
            if s.port:
                sh.ports.pop(s.port, None)
        self.socks.clear()
        if self.arp is not None:
            sh.arp_owner = 0

    def statistics(self) -> NetStackStats:
        return NetStackStats(len(self.socks), self.sent, self.received, self.bad, self.other,
                             self.arp_requests, self.arp_replies, len(self.proc.shared.arp))


__all__ = ["NetStack", "NetStackStats", "Socket", "arp_for", "udp_endpoint"]
