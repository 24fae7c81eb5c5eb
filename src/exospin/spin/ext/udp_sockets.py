"""posix UDP sockets for the Unix personality: socket, bind, sendto, recvfrom, poll, close.

A socket is a descriptor in its process's table (unix_as.py: the table
pipes use; ``close``, ``fork`` and ``exit`` treat it like a pipe's end, a
shared reference counted by ``readers``). Binding claims the UDP port on
UDP.PacketArrived for this extension (the kernel's authority: a port held
by another domain, e.g. the in-kernel echo, is refused with EADDRINUSE, as
is one another socket holds). A datagram that arrives is copied into the
socket's buffer (at most SOCKBUF datagrams; more are dropped and counted)
by the handler, at interrupt level, which wakes a blocked reader:
``recvfrom`` blocks the strand (no busy wait), ``poll`` waits on several
sockets with an optional time-out (a kernel alarm unblocks it). Closing the
last reference releases the port (the handler is uninstalled).

Only the first interface is used to send; addresses are (dotted str, port).
"""

from spin import IP, UDP, Errors, Net, Strand, Trap, User
from spin.udp import send
from spin.unix_as import me, new_fd

SYS_SOCKET = 26
SYS_BIND = 27
SYS_SENDTO = 28
SYS_RECVFROM = 29
SYS_POLL = 30

AF_INET = 2
SOCK_DGRAM = 2
SOCKBUF = 16
EPHEMERAL = 49152
ANY = "0.0.0.0"

ports = {}
counts = {"datagrams_in": 0, "dropped_full": 0, "datagrams_out": 0}


class Socket:
    def __init__(self):
        self.port = None
        self.binding = None
        self.queue = []
        self.waiting = []
        self.readers = 1
        self.writers = 0
        self.closed = False

    def share(self):
        self.readers = self.readers + 1

    def close(self):
        self.readers = self.readers - 1
        if self.readers > 0 or self.closed:
            return
        self.closed = True
        if self.binding is not None:
            UDP.uninstall(self.binding)
            ports.pop(self.port, None)
            self.binding = None
        self.queue.clear()


def fail(errno, message):
    return Errors.fail(errno, message)


def sock_of(p, fd, who):
    end = p.fds.get(fd)
    if end is None:
        return fail("EBADF", f"{who}: {fd} is not an open descriptor")
    if end[1] is not None:
        return fail("ENOTSOCK", f"{who}: {fd} is not a socket")
    return end[0]


def delivered(port, packet):
    s = ports.get(port)
    if s is None:
        return
    if len(s.queue) >= SOCKBUF:
        counts["dropped_full"] = counts["dropped_full"] + 1
        return
    d = UDP.datagram(packet)
    h = IP.header(packet)
    Net.copy(len(d.payload))
    s.queue.append((d.payload, (IP.text(h.src), d.sport)))
    counts["datagrams_in"] = counts["datagrams_in"] + 1
    for w in s.waiting:
        Strand.unblock(w)
    s.waiting.clear()


def address_of(address, who):
    if not isinstance(address, tuple) or len(address) != 2:
        return fail("EINVAL", f"{who}: an address is (ip, port), not {address!r}")
    ip = address[0]
    port = address[1]
    if not isinstance(ip, str) or not isinstance(port, int) or isinstance(port, bool):
        return fail("EINVAL", f"{who}: an address is (str, int), not {address!r}")
    if port < 0 or port > 65535:
        return fail("EINVAL", f"{who}: port {port} is not from 0 to 65535")
    raw = IP.address(ip)
    if Errors.failed(raw):
        return fail("EINVAL", f"{who}: {ip!r} is not an IPv4 address")
    return (raw, port)


def claim(s, port):
    s.binding = UDP.claim(port, delivered)
    s.port = port
    ports[port] = s


def free_port():
    port = EPHEMERAL
    while port in ports or UDP.holder(port) is not None:
        port = port + 1
        if port > 65535:
            return None
    return port


def sys_socket(p, domain, kind):
    if domain != AF_INET:
        return fail("EAFNOSUPPORT", f"socket: address family {domain!r} (only AF_INET)")
    if kind != SOCK_DGRAM:
        return fail("EPROTONOSUPPORT", f"socket: type {kind!r} (only SOCK_DGRAM)")
    return new_fd(p, [Socket(), None])


def sys_bind(p, fd, address):
    s = sock_of(p, fd, "bind")
    if Errors.failed(s):
        return s
    a = address_of(address, "bind")
    if Errors.failed(a):
        return a
    if s.port is not None:
        return fail("EINVAL", f"bind: socket {fd} is already bound to port {s.port}")
    iface = Net.interfaces()[0]
    if address[0] != ANY and a[0] != iface.ip:
        return fail("EADDRNOTAVAIL", f"bind: {address[0]} is not this machine's address")
    port = a[1]
    if port == 0:
        port = free_port()
        if port is None:
            return fail("EADDRINUSE", "bind: no free port")
    elif port in ports:
        return fail("EADDRINUSE", f"bind: port {port} is held by another socket")
    else:
        holder = UDP.holder(port)
        if holder is not None:
            return fail("EADDRINUSE", f"bind: port {port} belongs to {holder!r}")
    claim(s, port)
    return 0


def sys_sendto(p, fd, data, address):
    s = sock_of(p, fd, "sendto")
    if Errors.failed(s):
        return s
    if not isinstance(data, bytes):
        return fail("EINVAL", "sendto: data must be bytes")
    if len(data) > UDP.MAX_PAYLOAD:
        return fail("EMSGSIZE", f"sendto: {len(data)} bytes is more than one datagram carries "
                                f"({UDP.MAX_PAYLOAD})")
    a = address_of(address, "sendto")
    if Errors.failed(a):
        return a
    if a[1] == 0:
        return fail("EINVAL", "sendto: port 0")
    if s.port is None:
        port = free_port()
        if port is None:
            return fail("EADDRINUSE", "sendto: no free port")
        claim(s, port)
    User.copyin(len(data))
    r = send(Net.interfaces()[0], s.port, a[0], a[1], data)
    if Errors.failed(r):
        return r
    counts["datagrams_out"] = counts["datagrams_out"] + 1
    return len(data)


def sys_recvfrom(p, fd, n):
    s = sock_of(p, fd, "recvfrom")
    if Errors.failed(s):
        return s
    if not isinstance(n, int) or n < 0:
        return fail("EINVAL", f"recvfrom: bad count {n!r}")
    while not s.queue:
        if s.port is None:
            return fail("EINVAL", f"recvfrom: socket {fd} is not bound (bind or sendto first)")
        s.waiting.append(Strand.current())
        Strand.block()
        if s.closed or fd not in p.fds:
            return fail("EBADF", f"recvfrom: {fd} was closed")
    item = s.queue.pop(0)
    data = item[0][:n]
    User.copyout(len(data))
    return (data, item[1])


def sys_poll(p, fds, timeout_us):
    if not isinstance(fds, list) or not fds:
        return fail("EINVAL", f"poll: a non-empty list of descriptors, not {fds!r}")
    if timeout_us is not None and (not isinstance(timeout_us, int | float) or timeout_us < 0):
        return fail("EINVAL", f"poll: a time-out in µs >= 0 or None, not {timeout_us!r}")
    socks = []
    for fd in fds:
        s = sock_of(p, fd, "poll")
        if Errors.failed(s):
            return s
        socks.append(s)
    deadline = None
    if timeout_us is not None:
        deadline = User.time_us() + timeout_us
    alarm = None
    me_now = Strand.current()
    while True:
        ready = [fds[i] for i in range(len(socks)) if socks[i].queue]
        if ready or (deadline is not None and User.time_us() >= deadline):
            break
        if alarm is None and deadline is not None:
            alarm = Net.alarm(deadline - User.time_us(), me_now)
        for s in socks:
            s.waiting.append(me_now)
        Strand.block()
        for s in socks:
            if me_now in s.waiting:
                s.waiting.remove(me_now)
    if alarm is not None:
        Net.cancel(alarm)
    return ready


CALLS = {SYS_SOCKET: (sys_socket, 2), SYS_BIND: (sys_bind, 2), SYS_SENDTO: (sys_sendto, 3),
         SYS_RECVFROM: (sys_recvfrom, 2), SYS_POLL: (sys_poll, 2)}


def entry(call, nargs):
    def handler(number, args):
        p = me()
        if p is None:
            return fail("ENOSYS", "not a Unix process")
        if len(args) != nargs:
            return fail("EINVAL", f"system call {number}: {nargs} arguments, not {len(args)}")
        if nargs == 2:
            return call(p, args[0], args[1])
        return call(p, args[0], args[1], args[2])
    return handler


def statistics():
    return dict(counts, bound=len(ports))


def install():
    for number in CALLS:
        Trap.claim(number, entry(CALLS[number][0], CALLS[number][1]))
