"""The socket layer: the system calls socket, bind, sendto, recvfrom, poll and close.

What this models
    The 4.4BSD socket layer above the protocols (uipc_socket.c, uipc_syscalls.c,
    sys_generic.c's select, in_pcb.c's binding; Stevens vol. 2, ch. 15-16, 22):
    ``socreate`` with its PCB, ``in_pcbbind`` (a port in use is EADDRINUSE; an
    unbound socket's first ``sendto`` takes an ephemeral port), ``sosend``
    (the user's data copied in, a word at a time, into a fresh mbuf chain,
    leaving room in front of a small datagram for the headers, then
    ``udp_output``), ``soreceive`` (sleep on the receive buffer until a
    datagram is there, copy it and the sender's address out, free its
    mbufs), ``select`` as ``poll``, and ``soclose``.

Why it is built this way
    The layer every system call of the network enters through, over the
    protocols of inet.py, as uipc_socket.c is over netinet/: it checks
    every argument before it changes anything, and says why it refuses with
    the errno posix names (docs/net.md, "Unix"). Functions over the kernel,
    as ipc.py is.

Interface
    ``sock_of(k, t, fd, call)``; ``socket``, ``bind``, ``sendto``,
    ``recvfrom``, ``poll`` (syscalls.py calls them); ``soclose(k, so)``
    (ipc.close_fd, for a socket descriptor).
"""

from __future__ import annotations

from typing import Any

from ..net.frames import host_ip
from . import inet
from . import mbuf as mb
from .inet import (
    AF_INET,
    IPPORT_RESERVED,
    IPPORT_USERRESERVED,
    SOCK_DGRAM,
    SOCKADDR_IN,
    UDP_MAXDGRAM,
    Inpcb,
    NetStack,
    Socket,
    ifconfig,
    ip_bytes,
    net_of,
)
from .proc import SysError, Thread
from .sched import Scheduler


def _sockaddr(call: str, address: Any) -> tuple[bytes, int]:
    if not isinstance(address, tuple) or len(address) != 2:
        raise SysError("EINVAL", f"{call}: the address must be an (ip, port) pair, not {address!r}")
    ip, port = address
    addr = ip_bytes(ip)
    if addr is None:
        raise SysError("EINVAL", f"{call}: {ip!r} is not a dotted IPv4 address")
    if type(port) is not int or not 0 <= port <= 0xFFFF:
        raise SysError("EINVAL", f"{call}: the port must be an int from 0 to 65535, not {port!r}")
    return addr, port


def _dotted(addr: bytes) -> str:
    return ".".join(str(b) for b in addr)


def _fail(net: NetStack, errno: str, message: str) -> SysError:
    net.errors[errno] = net.errors.get(errno, 0) + 1
    return SysError(errno, message)


def sock_of(k: Scheduler, t: Thread, fd: Any, call: str) -> Socket:
    """The socket descriptor ``fd`` names (EBADF if none, ENOTSOCK if a pipe)."""
    k.loop.now += k.c.mem_ref + k.c.insn
    f = t.proc.fds.get(fd) if type(fd) is int else None
    if f is None:
        raise SysError("EBADF", f"{call}: {fd!r} is not an open descriptor")
    so = getattr(f, "sock", None)
    if so is None:
        raise SysError("ENOTSOCK", f"{call}: descriptor {fd} is a pipe, not a socket")
    return so  # type: ignore[no-any-return]


def _autoconfig(k: Scheduler, net: NetStack) -> None:
    """The first socket of a networked machine brings its interface up: the driver attaches
    to the machine's first NIC with the address ``systems.network`` numbers it by
    (machine i: 10.0.0.(i+1)). Until then the kernel has posted no receive buffer (a bare
    host's frames are the machine's own to handle: tests/machine/test_network.py)."""
    nics = k.m.nics
    if net.ifp is None and nics and k.m.world is not None:
        try:
            ifconfig(k, nics[0], host_ip(k.m.index))
        except ValueError as e:
            raise _fail(net, "ENOBUFS", f"socket: the interface cannot come up: {e}") from None


def socket(k: Scheduler, t: Thread, domain: Any, type_: Any) -> Socket:
    """socreate: a UDP socket with its PCB (unbound). The caller gives it a descriptor."""
    net = net_of(k)
    _autoconfig(k, net)
    if domain != AF_INET or type(domain) is not int:
        raise SysError("EAFNOSUPPORT", f"socket: address family {domain!r} is not supported (AF_INET only)")
    if type_ != SOCK_DGRAM or type(type_) is not int:
        raise SysError("EPROTONOSUPPORT", f"socket: socket type {type_!r} is not supported (SOCK_DGRAM only)")
    k.loop.now += net.c.socreate
    so = Socket(net.next_so)
    net.next_so += 1
    net.sockets[so.id] = so
    net.used = True
    return so


def _pcbbind(k: Scheduler, net: NetStack, so: Socket, laddr: bytes, lport: int) -> None:
    c = net.c
    for p in net.udb:  # is the port in use? (in_pcblookup over the list)
        k.loop.now += c.bind_walk
        if lport and p.lport == lport:
            raise _fail(net, "EADDRINUSE", f"bind: port {lport} is in use by another socket")
    if lport == 0:  # an ephemeral port
        used = {p.lport for p in net.udb}
        for _ in range(IPPORT_USERRESERVED - IPPORT_RESERVED):
            net.lastport = net.lastport + 1 if net.lastport < IPPORT_USERRESERVED else IPPORT_RESERVED + 1
            k.loop.now += 2 * k.c.insn + k.c.mem_ref
            if net.lastport not in used:
                lport = net.lastport
                break
        else:
            raise _fail(net, "EADDRINUSE", "bind: no ephemeral port is free")
    pcb = Inpcb(so, laddr, lport)
    so.pcb = pcb
    net.udb.insert(0, pcb)
    k.loop.now += 4 * k.c.mem_ref


def bind(k: Scheduler, t: Thread, so: Socket, address: Any) -> None:
    net = net_of(k)
    laddr, lport = _sockaddr("bind", address)
    k.charge_copy(SOCKADDR_IN, out=False)  # the sockaddr copied in
    if so.pcb is not None:
        raise _fail(net, "EINVAL", f"bind: the socket is bound already (port {so.pcb.lport})")
    ifp = net.ifp
    if laddr != bytes(4) and (ifp is None or laddr != ifp.ip):
        raise _fail(net, "EADDRNOTAVAIL", f"bind: {_dotted(laddr)} is not an address of this machine")
    _pcbbind(k, net, so, laddr, lport)


def sendto(k: Scheduler, t: Thread, so: Socket, data: Any, address: Any) -> int:
    net = net_of(k)
    c = net.c
    pool = net.pool
    loop = k.loop
    if not isinstance(data, (bytes, bytearray)):
        raise SysError("EFAULT", f"sendto: the buffer must be bytes, not {type(data).__name__}")
    n = len(data)
    if n > UDP_MAXDGRAM:
        raise _fail(net, "EMSGSIZE", f"sendto: a datagram of {n} bytes is larger than one frame carries "
                                     f"({UDP_MAXDGRAM} bytes; no fragmentation)")
    dst, dport = _sockaddr("sendto", address)
    k.charge_copy(SOCKADDR_IN, out=False)
    ifp = net.ifp
    if ifp is None:
        raise _fail(net, "ENETUNREACH", "sendto: this machine has no network interface")
    if dst[:3] != ifp.ip[:3] or dst[3] in (0, 255) or dst == ifp.ip:
        why = ("this machine's own address (no loopback interface)" if dst == ifp.ip else
               "a broadcast address" if dst[3] == 255 else f"not on the interface's subnet {_dotted(ifp.ip[:3])}.0/24")
        raise _fail(net, "ENETUNREACH", f"sendto: no route to {_dotted(dst)}: {why}")
    if dport == 0:
        raise _fail(net, "EINVAL", "sendto: port 0 is not a destination")
    if so.pcb is None:
        _pcbbind(k, net, so, bytes(4), 0)  # an unbound socket gets an ephemeral port
    assert so.pcb is not None
    # sosend: copy the data in from user space into a fresh chain
    loop.now += c.sock_enter
    per = c.uio_per_mbuf
    head, cost = pool.chain(data, lambda _took: per, align=True)  # MH_ALIGN: room for the headers
    loop.now += cost
    if head is None:
        net.s["if_oerrors"] += 1
        raise _fail(net, "ENOBUFS", "sendto: no mbuf left for the datagram")
    k.charge_copy(n, out=False)  # copyin, a word at a time
    if not inet.udp_output(k, net, head, so.pcb.lport, dst, dport):
        raise _fail(net, "ENOBUFS", "sendto: the interface's transmit queue is full, or no mbuf for the headers")
    return n


def recvfrom(k: Scheduler, t: Thread, so: Socket, n: Any, fd: int) -> tuple[bytes, tuple[str, int]]:
    net = net_of(k)
    if type(n) is not int or n < 0:
        raise SysError("EINVAL", f"recvfrom: the count must be a non-negative int, not {n!r}")
    loop = k.loop
    loop.now += net.c.sock_enter
    while not so.rcv:
        k.sleep(("so_rcv", so.id))  # sbwait
        if so.closed or t.proc.fds.get(fd) is None:
            raise SysError("EBADF", f"recvfrom: descriptor {fd} was closed while waiting")
    (addr, port), m = inet.sbdrop_record(k, net, so)
    data = net.pool.read(m)
    take = min(n, len(data))
    nm = 0
    x: mb.Mbuf | None = m
    while x is not None:
        nm += 1
        x = x.next
    loop.now += nm * net.c.uio_per_mbuf
    k.charge_copy(take, out=True)  # copyout of the data (the rest of the datagram is discarded)
    k.charge_copy(SOCKADDR_IN, out=True)  # and of the sender's address
    loop.now += net.pool.freem(m)
    return data[:take], (_dotted(addr), port)


def poll(k: Scheduler, t: Thread, socks: list[Socket], timeout_us: Any) -> list[int]:
    """Indices of ``socks`` with a datagram; sleeps until one has (or the time-out)."""
    net = net_of(k)
    c = net.c
    loop = k.loop
    if timeout_us is None:
        deadline = None
    elif isinstance(timeout_us, (int, float)) and not isinstance(timeout_us, bool) and timeout_us >= 0:
        deadline = loop.now + k.m.profile.cycles_for_us(timeout_us) if timeout_us > 0 else loop.now
    else:
        raise SysError("EINVAL", f"poll: the time-out must be None or a non-negative number of µs, not {timeout_us!r}")
    chan = ("poll", t.tid)
    while True:
        loop.now += len(socks) * c.poll_fd
        ready = [i for i, so in enumerate(socks) if so.rcv]
        if ready or (deadline is not None and loop.now >= deadline):
            return ready
        for so in socks:
            loop.now += c.selrecord
            if chan not in so.sel:
                so.sel.append(chan)
        ev = None
        if deadline is not None:
            loop.now += c.callout
            ev = loop.schedule(deadline, k.wakeup, chan)
        k.sleep(chan)
        if ev is not None:
            ev.cancel()  # untimeout
        for so in socks:
            if chan in so.sel:
                so.sel.remove(chan)
        if any(so.closed for so in socks):
            raise SysError("EBADF", "poll: a descriptor was closed while waiting")


def soclose(k: Scheduler, so: Socket) -> None:
    """A descriptor naming ``so`` is closed; the last one frees it: its buffer flushed,
    its PCB detached, anyone asleep on it woken (to find it closed)."""
    net = net_of(k)
    so.refs -= 1
    if so.refs:
        return
    while so.rcv:
        _, m = inet.sbdrop_record(k, net, so)
        k.loop.now += net.pool.freem(m)
    if so.pcb is not None:
        net.udb.remove(so.pcb)
        if net.last is so.pcb:
            net.last = None
        so.pcb = None
    so.closed = True
    del net.sockets[so.id]
    k.loop.now += net.c.sofree
    k.wakeup(("so_rcv", so.id))
    for chan in so.sel:
        k.wakeup(chan)
    so.sel.clear()
