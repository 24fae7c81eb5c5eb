"""UDP/IP sockets in the kernel, as 4.4BSD does them: driver, ARP, IP, UDP, PCBs, socket buffers.

What this models
    The networking half of a 1995 BSD kernel (4.4BSD-Lite; Stevens, TCP/IP
    Illustrated vol. 2, is the map), for UDP over IPv4 on one Ethernet
    interface, every step charged for what it does:

    * **the driver** (``le_intr``, ``le_read``, ``le_start``: pmax if_le.c):
      the receive interrupt acknowledges the LANCE, copies each frame from
      the receive buffer the controller wrote into an mbuf chain (a cluster
      for a frame of ``MINCLSIZE`` or more) and posts the buffer again;
      output copies a chain into a transmit buffer and starts the
      controller. The buffers are kernel frames from the core map.
    * **ether_input** reads the type and queues the packet on ``ipintrq`` (or
      ``arpintrq``), then asks for the network software interrupt
      (``schednetisr``); ``ipintr`` runs when the hardware interrupt returns.
    * **ip_input** checks the version, header length, header checksum and
      total length (dropping and counting each failure as ``ipstat`` does),
      trims the Ethernet padding, accepts only datagrams for this host and
      hands UDP to **udp_input**, which checks the length and the checksum
      over the pseudo-header, finds the PCB by port (the one-entry cache
      ``udp_last_inpcb``, then a walk of the ``udb`` list, as 4.4BSD), and
      appends the datagram with its sender's address to the socket's
      receive buffer (``sbappendaddr``) if it has room (``udps_fullsock``
      otherwise), waking a receiver asleep on it or polling it.
    * **output**: ``sendto`` copies the data in from user space into mbufs
      (``sosend``), ``udp_output`` prepends the UDP/IP overlay and computes
      the checksum, ``ip_output`` fills and checksums the IP header,
      ``ether_output`` resolves the next hop with ARP (a cache; on a miss the
      packet is held and a request broadcast, and the reply sends it) and
      prepends the Ethernet header; the driver transmits.
    The socket layer above (the system calls, ``sosend``/``soreceive``,
    ``poll``, binding) is sockets.py.

Why it is built this way
    Functions over the kernel (typed ``sched.Scheduler``, the lowest layer
    with sleep and wakeup), with the stack's state in one ``NetStack`` the
    kernel owns, as ipc.py is. The interrupt is not preemptible and kernel
    code never reaches an interrupt boundary (docs/unix.md), which is the
    guarantee 4.4BSD gets from ``splnet``/``splimp``: the socket calls and
    the interrupt path never interleave. We charge the spl pairs BSD
    executes where it executes them (``spl``). Costs are composed in
    ``InetCosts`` from the profile's primitives; checksums are charged per
    word summed (RFC 1071's loop: a load, an add, and on a MIPS, which has
    no carry flag, an sltu and an add for the end-around carry).

    Headers are built by hand as the C kernel fills its structs
    (``struct.pack``); the checksums are the real ones (``dpkt.in_cksum``),
    and the tests read the frames back with dpkt (net/frames.py).

    Simplified (and said): one interface, no routing table beyond its
    subnet, no loopback, no broadcast sends, no IP options on output, no
    fragmentation or reassembly (a datagram larger than one frame is
    EMSGSIZE, a fragment is dropped and counted), no ICMP (a datagram for
    no socket is counted, not answered), ARP entries do not expire, the
    driver's transmit ring is the interface queue (full: ENOBUFS, as a full
    ``if_snd`` gives), the network software interrupt runs at once after the
    device interrupt, the interrupt saves the full trap frame even when it
    interrupts the idle loop.

Interface
    ``NetStack(kernel)`` (made by ``Unix``), ``net_of(k)``; ``ifconfig(k, nic, ip)``
    (done by the first ``socket`` on a machine of ``systems.network``, or by the
    boot code); ``udp_output`` (for sockets.py's ``sendto``), ``sbdrop_record``;
    the records ``Socket`` and ``Inpcb``; ``detach(k) -> leaks``;
    ``NetStack.statistics()``.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import dpkt
from greenlet import getcurrent

from . import mbuf as mb
from .mbuf import MbufPool
from .proc import RUNNING
from .sched import Scheduler

AF_INET, SOCK_DGRAM = 2, 2
ETHERTYPE_IP, ETHERTYPE_ARP = 0x0800, 0x0806
ETHER_HDR, IP_HDR, UDP_HDR = 14, 20, 8
ETHER_MAX = 1514  # the largest frame without the FCS: the receive and transmit buffers
UDP_MAXDGRAM = 1500 - IP_HDR - UDP_HDR  # 1,472: one Ethernet frame, no fragmentation
SOCKADDR_IN = 16  # sizeof(struct sockaddr_in): what recvfrom copies out, sendto copies in
BROADCAST = b"\xff" * 6
#: 4.4BSD udp_usrreq.c: udp_recvspace = 40 * (1024 + sizeof(struct sockaddr_in))
UDP_RECVSPACE = 40 * (1024 + SOCKADDR_IN)
#: sb_max (4.4BSD uipc_socket2.c): the most a socket buffer may reserve
SB_MAX = 256 * 1024
IFQ_MAXLEN = 50  # the protocol input queues' limit (4.4BSD net/if.h)
IPDEFTTL = 64
IPPORT_RESERVED, IPPORT_USERRESERVED = 1024, 5000  # ephemeral ports: 1024..5000 (in_pcbbind)
#: mb_map: pages the mbuf pool may take from the core map (4.4BSD NMBCLUSTERS 256 x 2 KB)
MB_MAP_BYTES = 256 * mb.MCLBYTES


@dataclass(frozen=True, slots=True)
class NetStats:
    """The stack's counters, by the 4.4BSD names they stand for."""

    sockets: int
    pcbs: int
    arp_entries: int
    arp_held: int
    mbufs: int
    clusters: int
    pool_pages: int
    mbuf_drops: int  # mbstat.m_drops: the pool could not meet a request
    if_ipackets: int
    if_opackets: int
    if_oerrors: int  # transmit ring full (ENOBUFS) or no mbuf for output
    if_noproto: int  # neither IP nor ARP
    ipintrq_drops: int
    ips_total: int
    ips_badsum: int
    ips_tooshort: int  # the frame is shorter than the IP total length (truncated)
    ips_toosmall: int  # shorter than an IP header
    ips_badhlen: int
    ips_badlen: int
    ips_badvers: int
    ips_fragdropped: int
    ips_cantforward: int  # not for this host
    ips_noproto: int
    ips_delivered: int
    ips_localout: int
    udps_ipackets: int
    udps_hdrops: int
    udps_badsum: int
    udps_badlen: int
    udps_noport: int
    udps_fullsock: int
    udps_opackets: int
    arp_requests_sent: int
    arp_replies_sent: int
    arp_received: int
    arp_bad: int
    arp_hold_drops: int  # a held packet replaced by a later one before the reply came
    interrupts: int
    softints: int
    by_error: dict[str, int] = field(default_factory=dict)


class InetCosts:
    """Cycle costs of the stack's steps, each composed from the profile's primitives."""

    def __init__(self, k: Scheduler) -> None:
        p = k.m.profile
        i, r, call = p.insn, p.mem_ref, p.proc_call
        self.wb = p.word_bytes
        self.copy_word = p.copy_word
        # splnet()/splimp() and splx(): mfc0 Status, and/or the mask, mtc0 Status (pmax locore.s)
        self.spl = 2 * 3 * i
        # in_cksum: per word summed, a load, an add, sltu + add for the end-around carry
        # (RFC 1071); per call: the call, the fold of the sum to 16 bits and the complement
        self.cksum_word = r + 3 * i
        self.cksum_call = call + 6 * i
        # the device interrupt's dispatch to leintr (read the line, call), the driver's
        # per-frame work besides the controller's registers: the descriptor's status and
        # length, the buffer's address (le_read), and its per-mbuf call to copy into it
        self.le_intr = 2 * i + r + call
        self.le_frame = 4 * r + 4 * i
        self.le_per_mbuf = call + 2 * r
        # ether_input: the type, IF_QFULL, IF_ENQUEUE (three stores), schednetisr (set the
        # bit, setsoftnet: mtc0 Cause)
        self.ether_input = 2 * r + 2 * i + 2 * r + i + 3 * r + r + 3 * i + self.spl
        # the network software interrupt: the exception entry, Cause's soft bit tested and
        # cleared (mfc0, and, mtc0), netisr read, the call to ipintr/arpintr
        self.softint = p.trap_entry + 4 * i + r + call
        # IF_DEQUEUE (two loads, a store) under splimp
        self.dequeue = 3 * r + self.spl
        # ip_input's checks: version and header length, total length, offset, the
        # destination against the interface's address and broadcast, the protocol switch
        self.ip_checks = 8 * r + 10 * i
        self.ip_proto = 2 * r + call
        # udp_input: the lengths; the pseudo-header written into the overlay (ih_next,
        # ih_prev, ih_x1, ih_len: four stores)
        self.udp_checks = 6 * r + 6 * i
        self.udp_overlay = 4 * r
        # PCB lookup: the cached PCB compared (faddr, fport, laddr, lport) ...
        self.pcb_cache = 4 * r + 4 * i
        # ... else per PCB on the list: load next, lport, laddr, compare
        self.pcb_walk = 3 * r + 3 * i
        # sbappendaddr: the space check, the address copied into its mbuf (16 bytes), per
        # mbuf sballoc (cc, mbcnt) and the links; sorwakeup: the selwakeup flag, the call
        self.sb_space = 4 * r + 3 * i
        self.sb_addr = (SOCKADDR_IN // p.word_bytes) * p.copy_word + 3 * r
        self.sballoc = 3 * r + i
        self.sorwakeup = 2 * r + i + call
        # sosend / soreceive: sblock and splnet; per mbuf the uiomove call and sbfree
        self.sock_enter = 4 * r + 2 * i + self.spl
        self.uio_per_mbuf = call + 2 * r
        self.sbfree = 3 * r + i
        # udp_output: M_PREPEND's room check and data pointer, the overlay filled (ten
        # stores: ih_*, ui_src, ui_dst, ui_sport, ui_dport, ui_ulen, ui_sum)
        self.prepend = 3 * r + 2 * i
        self.udp_fill = 10 * r
        # ip_output: the cached route checked, ip_v/hl, ip_off, ip_id, ip_ttl, ip_len, the
        # MTU test, the call to the interface's output
        self.ip_fill = 3 * r + 2 * i + 5 * r + 2 * i + call
        # arpresolve: hash the address, load the entry, compare, load the MAC (or hold)
        self.arp_lookup = 4 * r + 3 * i
        # ether_output: the header filled (three words and a half), IF_ENQUEUE and the
        # call to lestart under splimp
        self.ether_fill = 4 * r + 3 * r + call + self.spl
        # a socket created (socreate + in_pcballoc + soreserve: the structures zeroed and
        # linked, about 24 words) or freed (sofree + in_pcbdetach: unlinked)
        self.socreate = 24 * r + 6 * i + 2 * call
        self.sofree = 10 * r + 4 * i + 2 * call
        # in_pcbbind: per PCB compared in the list walk (lport, laddr)
        self.bind_walk = 3 * r + 2 * i
        # select/poll: per descriptor its file, the socket's sbpoll (sb_cc, the flag);
        # selrecord (sb_sel, SB_SEL); a callout queued (timeout: walk and link, 5 words)
        self.poll_fd = 4 * r + 2 * i + call
        self.selrecord = 2 * r + i
        self.callout = 5 * r + 3 * i
        # an ARP packet: arpinput's checks (hrd, pro, op, target) and the entry's update
        self.arp_input = 8 * r + 8 * i

    def words(self, nbytes: int) -> int:
        return -(-nbytes // self.wb)

    def cksum(self, nbytes: int) -> int:
        return self.cksum_call + self.words(nbytes) * self.cksum_word

    def copy(self, nbytes: int) -> int:
        return self.words(nbytes) * self.copy_word


@dataclass(eq=False)
class Inpcb:
    """An Internet protocol control block: the socket's local address and port."""

    so: Socket
    laddr: bytes  # 0.0.0.0: any
    lport: int


@dataclass(eq=False)
class Socket:
    """A UDP socket: its PCB and its receive buffer (records of address and data)."""

    id: int
    pcb: Inpcb | None = None
    rcv: deque[tuple[tuple[bytes, int], mb.Mbuf | None, mb.Mbuf]] = field(default_factory=deque)
    cc: int = 0  # sb_cc: bytes in the buffer (data and addresses)
    mbcnt: int = 0  # sb_mbcnt: storage held (MSIZE per mbuf, MCLBYTES per cluster)
    hiwat: int = UDP_RECVSPACE
    mbmax: int = min(2 * UDP_RECVSPACE, SB_MAX)
    refs: int = 1  # descriptors naming it (fork shares them)
    sel: list[Any] = field(default_factory=list)  # poll channels recorded on it
    closed: bool = False


class Ifnet:
    """The one interface: its NIC, addresses, and the driver's buffers."""

    def __init__(self, nic: Any, ip: bytes, rx: list[tuple[int, int]], tx: list[tuple[int, int]],
                 pages: list[int]) -> None:
        self.nic = nic
        self.ip = ip
        self.mac: bytes = nic.mac
        self.bcast = ip[:3] + b"\xff"
        self.rx = rx  # (pfn, offset) of each receive buffer
        self.tx_free = list(reversed(tx))
        self.tx_busy: deque[tuple[int, int]] = deque()  # in the controller's ring, oldest first
        self.pages = pages


class NetStack:
    """Everything the stack keeps (see the module note)."""

    def __init__(self, k: Scheduler) -> None:
        self.k = k
        self.c = InetCosts(k)
        p = k.m.profile
        self.pool = MbufPool(lambda: _alloc_page(k, "mbuf"), k.memory, p, MB_MAP_BYTES // p.page_size)
        self.ifp: Ifnet | None = None
        self.used = False  # a socket was ever made, or an interface configured
        self.sockets: dict[int, Socket] = {}
        self.next_so = 1
        self.udb: list[Inpcb] = []  # the UDP PCB list, newest first (in_pcballoc inserts at the head)
        self.last: Inpcb | None = None  # udp_last_inpcb
        self.lastport = IPPORT_RESERVED
        self.arptab: dict[bytes, bytes] = {}
        self.arp_hold: dict[bytes, mb.Mbuf] = {}  # la_hold: one packet per unresolved address
        #: when the last request for each unresolved address went out (cycles): 4.4BSD's
        #: arpresolve asks again at most once a second (la_asked / rt_expire), so a request
        #: lost (nobody listening yet) is not the end of the address
        self.arp_asked: dict[bytes, int] = {}
        self.arp_retry = k.m.profile.clock_hz  # one second, in cycles
        self.ipintrq: deque[mb.Mbuf] = deque()
        self.arpintrq: deque[mb.Mbuf] = deque()
        self.ip_id = 1
        self.s: dict[str, int] = dict.fromkeys(
            ("if_ipackets", "if_opackets", "if_oerrors", "if_noproto", "ipintrq_drops", "ips_total",
             "ips_badsum", "ips_tooshort", "ips_toosmall", "ips_badhlen", "ips_badlen", "ips_badvers",
             "ips_fragdropped", "ips_cantforward", "ips_noproto", "ips_delivered", "ips_localout",
             "udps_ipackets", "udps_hdrops", "udps_badsum", "udps_badlen", "udps_noport", "udps_fullsock",
             "udps_opackets", "arp_requests_sent", "arp_replies_sent", "arp_received", "arp_bad", "arp_hold_drops",
             "interrupts", "softints"), 0)
        self.errors: dict[str, int] = {}

    def statistics(self) -> NetStats:
        ps = self.pool.statistics()
        return NetStats(len(self.sockets), len(self.udb), len(self.arptab), len(self.arp_hold), ps.mbufs,
                        ps.clusters, ps.pages, ps.drops, **self.s, by_error=dict(self.errors))


def ip_bytes(text: Any) -> bytes | None:
    parts = text.split(".") if isinstance(text, str) else []
    if len(parts) != 4 or not all(p.isdigit() and int(p) <= 255 for p in parts):
        return None
    return bytes(int(p) for p in parts)


def _alloc_page(k: Scheduler, kind: str) -> int | None:
    if not k.frames.free:
        return None
    k.loop.now += k.c.frame_alloc
    return k.frames.alloc(kind)


def net_of(k: Scheduler) -> NetStack:
    return k.net  # type: ignore[attr-defined,no-any-return]


# ------------------------------------------------------------- the interface


def ifconfig(k: Scheduler, nic: Any, ip: str) -> None:
    """Attach the driver to ``nic`` (its buffers from the core map, every receive buffer
    posted, its interrupt handler installed) and give the interface address ``ip``."""
    net = net_of(k)
    if net.ifp is not None:
        raise ValueError("this kernel's network interface is configured already (one interface)")
    addr = ip_bytes(ip)
    if addr is None:
        raise ValueError(f"ifconfig: not an IPv4 address: {ip!r}")
    per_page = k.page // 2048  # LANCE buffers on 2 KB boundaries
    need = -(-(nic.rx_ring + nic.tx_ring) // per_page)
    if len(k.frames.free) < need:
        raise ValueError(f"ifconfig: no {need} free frames for the interface's buffers")
    pages = [_alloc_page(k, "netbuf") for _ in range(need)]
    slots = [(pfn, j * 2048) for pfn in pages if pfn is not None for j in range(per_page)]
    rx, tx = slots[:nic.rx_ring], slots[nic.rx_ring:nic.rx_ring + nic.tx_ring]
    net.ifp = Ifnet(nic, addr, rx, tx, [p for p in pages if p is not None])
    net.used = True
    for pfn, off in rx:
        nic.post_rx(pfn, off, ETHER_MAX)
    k.irq_handlers[nic.irq] = lambda irq: le_intr(k, irq)


def detach(k: Scheduler) -> dict[str, int]:
    """Shutdown (every process has ended, so every socket is closed): free what the stack
    holds (held ARP packets, queued input, the driver's buffers, the pool's pages) and
    return what was still held before that and should not have been."""
    net = net_of(k)
    held = {"sockets": len(net.sockets), "pcbs": len(net.udb)}
    for m in list(net.arp_hold.values()) + list(net.ipintrq) + list(net.arpintrq):
        net.pool.freem(m)
    net.arp_hold.clear()
    net.ipintrq.clear()
    net.arpintrq.clear()
    held["mbufs"] = net.pool.in_use()
    if not held["mbufs"]:
        for pfn in net.pool.release():
            k.frames.unref(pfn)
    ifp = net.ifp
    if ifp is not None:
        k.irq_handlers.pop(ifp.nic.irq, None)
        for pfn in ifp.pages:
            k.frames.unref(pfn)
        ifp.pages = []
        net.ifp = None
    return held


# -------------------------------------------------------------- the driver


def le_intr(k: Scheduler, irq: int) -> None:
    """The receive interrupt (the CPU charged the trap and the acknowledge): save the trap
    frame, take every frame the controller wrote, run the network software interrupt,
    return; a receiver it woke preempts the user thread it interrupted."""
    net = net_of(k)
    ifp = net.ifp
    assert ifp is not None
    c = net.c
    loop = k.loop
    loop.now += k.c.entry + c.le_intr
    net.s["interrupts"] += 1
    nic = ifp.nic
    nic.ack()
    woke = k.wakeups
    while (r := nic.receive()) is not None:
        le_read(k, net, r.pfn, r.offset, r.length)
        nic.post_rx(r.pfn, r.offset, ETHER_MAX)
    if net.ipintrq or net.arpintrq:
        loop.now += c.softint
        net.s["softints"] += 1
        while net.arpintrq:
            loop.now += c.dequeue
            arp_input(k, net, net.arpintrq.popleft())
        while net.ipintrq:
            loop.now += c.dequeue
            ip_input(k, net, net.ipintrq.popleft())
    t = k.current
    if k.wakeups != woke and t is not None and t.state == RUNNING and getcurrent() is not k._root:
        k.preemptions += 1  # a sleeper at PSOCK outranks a user-mode thread: need_resched
        k._make_runnable(t)
        k._swtch()
    loop.now += k.c.exit_checks + k.c.leave


def le_read(k: Scheduler, net: NetStack, pfn: int, offset: int, length: int) -> None:
    """One received frame: copy it into an mbuf chain (m_devget), then ether_input."""
    c = net.c
    pool = net.pool
    k.loop.now += c.le_frame
    net.s["if_ipackets"] += 1
    src = k.memory.span(pfn, offset, length)
    head, cost = pool.chain(src, lambda took: c.le_per_mbuf + c.copy(took))
    k.loop.now += cost
    if head is None:
        return  # no mbuf: the frame is dropped (counted by the pool)
    ether_input(k, net, head)


def ether_input(k: Scheduler, net: NetStack, m: mb.Mbuf) -> None:
    k.loop.now += net.c.ether_input
    hdr = net.pool.data(m)
    etype = int.from_bytes(hdr[12:14], "big")
    m.off += ETHER_HDR  # m_adj past the header
    m.len -= ETHER_HDR
    m.pkt_len -= ETHER_HDR
    if etype == ETHERTYPE_IP:
        q = net.ipintrq
    elif etype == ETHERTYPE_ARP:
        q = net.arpintrq
    else:
        net.s["if_noproto"] += 1
        k.loop.now += net.pool.freem(m)
        return
    if len(q) >= IFQ_MAXLEN:
        net.s["ipintrq_drops"] += 1
        k.loop.now += net.pool.freem(m)
        return
    q.append(m)


def le_start(k: Scheduler, net: NetStack, m: mb.Mbuf) -> bool:
    """Copy the frame ``m`` into a transmit buffer and hand it to the controller; the chain
    is freed. False (and the chain freed) when the transmit ring is full."""
    ifp = net.ifp
    assert ifp is not None
    c = net.c
    loop = k.loop
    pool = net.pool
    for _ in range(ifp.nic.tx_done()):  # the slots of frames that have left
        ifp.tx_free.append(ifp.tx_busy.popleft())
    if not ifp.tx_free:
        net.s["if_oerrors"] += 1
        loop.now += pool.freem(m)
        return False
    pfn, off = ifp.tx_free.pop()
    total = 0
    dst = k.memory.span(pfn, off, ETHER_MAX)
    n: mb.Mbuf | None = m
    while n is not None:
        dst[total:total + n.len] = pool.data(n)
        loop.now += c.le_per_mbuf + c.copy(n.len)
        total += n.len
        n = n.next
    loop.now += pool.freem(m)
    ifp.nic.transmit(pfn, off, total)
    ifp.tx_busy.append((pfn, off))
    net.s["if_opackets"] += 1
    return True


# ----------------------------------------------------------------- ARP


def _arp_frame(op: int, src_mac: bytes, src_ip: bytes, dst_mac: bytes, dst_ip: bytes) -> bytes:
    eth_dst = BROADCAST if op == 1 else dst_mac
    return (eth_dst + src_mac + struct.pack("!H", ETHERTYPE_ARP)
            + struct.pack("!HHBBH", 1, ETHERTYPE_IP, 6, 4, op) + src_mac + src_ip
            + (bytes(6) if op == 1 else dst_mac) + dst_ip)


def _send_raw(k: Scheduler, net: NetStack, frame: bytes) -> None:
    """An ARP packet built in one mbuf (arprequest / the reply in in_arpinput)."""
    m, cost = net.pool.get(True)
    k.loop.now += cost + net.c.ether_fill + 7 * k.c.mem_ref  # 28 bytes of ARP stored
    if m is None:
        net.s["if_oerrors"] += 1
        return
    m.off = mb.MSIZE - len(frame)  # MH_ALIGN
    net.pool.put(m, frame)
    m.pkt_len = len(frame)
    le_start(k, net, m)


def arp_input(k: Scheduler, net: NetStack, m: mb.Mbuf) -> None:
    ifp = net.ifp
    assert ifp is not None
    k.loop.now += net.c.arp_input
    net.s["arp_received"] += 1
    a = bytes(net.pool.data(m))[:28]
    k.loop.now += net.pool.freem(m)
    if len(a) < 28:
        net.s["arp_bad"] += 1
        return
    hrd, pro, hln, pln, op = struct.unpack("!HHBBH", a[:8])
    sha, spa, tpa = a[8:14], a[14:18], a[24:28]
    if hrd != 1 or pro != ETHERTYPE_IP or hln != 6 or pln != 4 or sha == ifp.mac:
        net.s["arp_bad"] += 1
        return
    if spa in net.arptab or tpa == ifp.ip:  # update, or create when it is for us
        net.arptab[spa] = sha
        held = net.arp_hold.pop(spa, None)
        net.arp_asked.pop(spa, None)
        if held is not None:
            _ether_send(k, net, held, sha)
    if op == 1 and tpa == ifp.ip:
        net.s["arp_replies_sent"] += 1
        _send_raw(k, net, _arp_frame(2, ifp.mac, ifp.ip, sha, spa))


def _ether_send(k: Scheduler, net: NetStack, m: mb.Mbuf, dst_mac: bytes) -> bool:
    """The Ethernet header prepended (M_PREPEND: in place, or a new mbuf), then the driver."""
    ifp = net.ifp
    assert ifp is not None
    hdr = dst_mac + ifp.mac + b"\x08\x00"
    k.loop.now += net.c.prepend + net.c.ether_fill
    if not net.pool.prepend(m, hdr):
        h, cost = net.pool.get(True)
        k.loop.now += cost
        if h is None:
            net.s["if_oerrors"] += 1
            k.loop.now += net.pool.freem(m)
            return False
        h.off = mb.MSIZE - ETHER_HDR
        net.pool.put(h, hdr)
        h.next, h.pkt_len, m.pkthdr = m, m.pkt_len, False
        m = h
    m.pkt_len += ETHER_HDR
    return le_start(k, net, m)


def ether_output(k: Scheduler, net: NetStack, m: mb.Mbuf, dst: bytes) -> bool:
    """arpresolve, then send: a miss holds the packet (replacing one held before) and
    broadcasts a request; the reply sends it. False if the packet was dropped."""
    ifp = net.ifp
    assert ifp is not None
    k.loop.now += net.c.arp_lookup
    mac = net.arptab.get(dst)
    if mac is not None:
        return _ether_send(k, net, m, mac)
    old = net.arp_hold.get(dst)
    net.arp_hold[dst] = m
    if old is not None:
        net.s["arp_hold_drops"] += 1
        k.loop.now += net.pool.freem(old)
        if k.loop.now - net.arp_asked.get(dst, 0) < net.arp_retry:
            return True  # a request went out less than a second ago
    net.arp_asked[dst] = k.loop.now
    net.s["arp_requests_sent"] += 1
    _send_raw(k, net, _arp_frame(1, ifp.mac, ifp.ip, BROADCAST, dst))
    return True


# ------------------------------------------------------------------ IP, UDP


def _trim(m: mb.Mbuf, excess: int) -> None:
    """m_adj(m, -excess): drop ``excess`` bytes from the end of the chain."""
    segs: list[mb.Mbuf] = []
    n: mb.Mbuf | None = m
    while n is not None:
        segs.append(n)
        n = n.next
    m.pkt_len -= excess
    for s in reversed(segs):
        cut = min(excess, s.len)
        s.len -= cut
        excess -= cut
        if not excess:
            break


def ip_input(k: Scheduler, net: NetStack, m: mb.Mbuf) -> None:
    ifp = net.ifp
    assert ifp is not None
    c = net.c
    s = net.s
    pool = net.pool
    loop = k.loop
    s["ips_total"] += 1
    loop.now += c.ip_checks
    if m.len < IP_HDR:
        s["ips_toosmall"] += 1
        loop.now += pool.freem(m)
        return
    hdr = bytes(pool.data(m)[:m.len])
    vhl = hdr[0]
    hl = (vhl & 0xF) << 2
    why = ""
    if vhl >> 4 != 4:
        why = "ips_badvers"
    elif hl < IP_HDR or hl > m.len:
        why = "ips_badhlen"
    else:
        loop.now += c.cksum(hl)
        ip_len = int.from_bytes(hdr[2:4], "big")
        if dpkt.in_cksum(hdr[:hl]) != 0:
            why = "ips_badsum"
        elif ip_len < hl:
            why = "ips_badlen"
        elif m.pkt_len < ip_len:
            why = "ips_tooshort"
        elif hdr[16:20] != ifp.ip and hdr[16:20] not in (ifp.bcast, b"\xff" * 4):
            why = "ips_cantforward"
        elif int.from_bytes(hdr[6:8], "big") & 0x3FFF:
            why = "ips_fragdropped"
        elif hdr[9] != 17:
            why = "ips_noproto"
    if why:
        s[why] += 1
        loop.now += pool.freem(m)
        return
    if m.pkt_len > ip_len:
        _trim(m, m.pkt_len - ip_len)  # the Ethernet padding
    loop.now += c.ip_proto
    s["ips_delivered"] += 1
    udp_input(k, net, m, hdr, hl, ip_len)


def udp_input(k: Scheduler, net: NetStack, m: mb.Mbuf, hdr: bytes, hl: int, ip_len: int) -> None:
    c = net.c
    s = net.s
    pool = net.pool
    loop = k.loop
    s["udps_ipackets"] += 1
    loop.now += c.udp_checks
    why = ""
    if ip_len - hl < UDP_HDR or m.len < hl + UDP_HDR:
        why = "udps_hdrops"
    else:
        uh = hdr[hl:hl + UDP_HDR]
        sport, dport, ulen, usum = struct.unpack("!HHHH", uh)
        if ulen < UDP_HDR or ulen > ip_len - hl:
            why = "udps_badlen"
        else:
            if ulen < ip_len - hl:
                _trim(m, ip_len - hl - ulen)
            if usum:
                loop.now += c.udp_overlay + c.cksum(IP_HDR + ulen)
                seg = pool.read(m)[hl:hl + ulen]
                pseudo = hdr[12:20] + bytes([0, 17]) + ulen.to_bytes(2, "big")
                if dpkt.in_cksum(pseudo + seg) != 0:
                    why = "udps_badsum"
    if why:
        s[why] += 1
        loop.now += pool.freem(m)
        return
    # the PCB: the one-entry cache, then the list
    pcb = net.last
    loop.now += c.pcb_cache
    if pcb is None or pcb.lport != dport or pcb.laddr not in (bytes(4), hdr[16:20]):
        pcb = None
        for p in net.udb:
            loop.now += c.pcb_walk
            if p.lport == dport and p.laddr in (bytes(4), hdr[16:20]):
                pcb = p
                net.last = p
                break
    if pcb is None:
        s["udps_noport"] += 1
        loop.now += pool.freem(m)
        return
    so = pcb.so
    m.off += hl + UDP_HDR  # m_adj past the IP and UDP headers
    m.len -= hl + UDP_HDR
    m.pkt_len -= hl + UDP_HDR
    if not _sbappendaddr(k, net, so, (hdr[12:16], sport), m):
        s["udps_fullsock"] += 1
        loop.now += pool.freem(m)
        return
    loop.now += c.sorwakeup
    k.wakeup(("so_rcv", so.id), front=True)
    if so.sel:
        for chan in so.sel:
            k.wakeup(chan, front=True)
        so.sel.clear()


def _sbappendaddr(k: Scheduler, net: NetStack, so: Socket, frm: tuple[bytes, int], m: mb.Mbuf) -> bool:
    c = net.c
    k.loop.now += c.sb_space
    space = SOCKADDR_IN + m.pkt_len
    if space > min(so.hiwat - so.cc, so.mbmax - so.mbcnt):
        return False
    a, cost = net.pool.get(False)  # the address, in an mbuf of its own (MT_SONAME)
    k.loop.now += cost + c.sb_addr
    if a is None:
        return False
    mbcnt = mb.MSIZE
    n: mb.Mbuf | None = m
    while n is not None:
        k.loop.now += c.sballoc
        mbcnt += mb.MSIZE + (mb.MCLBYTES if n.ext else 0)
        n = n.next
    so.cc += space
    so.mbcnt += mbcnt
    so.rcv.append((frm, a, m))
    return True


def sbdrop_record(k: Scheduler, net: NetStack, so: Socket) -> tuple[tuple[bytes, int], mb.Mbuf]:
    frm, a, m = so.rcv.popleft()
    mbcnt = mb.MSIZE
    n: mb.Mbuf | None = m
    while n is not None:
        k.loop.now += net.c.sbfree
        mbcnt += mb.MSIZE + (mb.MCLBYTES if n.ext else 0)
        n = n.next
    so.cc -= SOCKADDR_IN + m.pkt_len
    so.mbcnt -= mbcnt
    k.loop.now += net.pool.freem(a)
    return frm, m


def udp_output(k: Scheduler, net: NetStack, head: mb.Mbuf, lport: int, dst: bytes, dport: int) -> bool:
    """udp_output and ip_output: the UDP/IP headers prepended to the datagram ``head`` (the
    overlay, its checksum; the IP header, its checksum), then ether_output. False if the
    packet was dropped (no mbuf for the headers, a full transmit ring), its chain freed."""
    # udp_output: the UDP header and its checksum over the pseudo-header (the overlay)
    ifp = net.ifp
    assert ifp is not None
    c = net.c
    pool = net.pool
    loop = k.loop
    n = head.pkt_len
    src = ifp.ip
    ulen = UDP_HDR + n
    pseudo = src + dst + bytes([0, 17]) + ulen.to_bytes(2, "big")
    uh = struct.pack("!HHHH", lport, dport, ulen, 0)
    loop.now += c.udp_fill + c.cksum(IP_HDR + ulen)
    csum = dpkt.in_cksum(pseudo + uh + pool.read(head)) or 0xFFFF
    uh = uh[:6] + csum.to_bytes(2, "big")
    # ip_output: the IP header, its checksum
    iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, IP_HDR + ulen, net.ip_id & 0xFFFF, 0, IPDEFTTL, 17, 0, src, dst)
    net.ip_id += 1
    loop.now += c.ip_fill + c.cksum(IP_HDR)
    iph = iph[:10] + dpkt.in_cksum(iph).to_bytes(2, "big") + iph[12:]
    m = head
    loop.now += c.prepend
    if not pool.prepend(m, iph + uh):
        h, cost = pool.get(True)
        loop.now += cost
        if h is None:
            loop.now += pool.freem(m)
            net.s["if_oerrors"] += 1
            return False
        h.off = mb.MSIZE - IP_HDR - UDP_HDR  # MH_ALIGN
        pool.put(h, iph + uh)
        h.next, h.pkt_len, m.pkthdr = m, m.pkt_len, False
        m = h
    m.pkt_len += IP_HDR + UDP_HDR
    net.s["udps_opackets"] += 1
    net.s["ips_localout"] += 1
    return ether_output(k, net, m, dst)
