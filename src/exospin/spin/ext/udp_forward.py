"""A protocol forwarder in the kernel (the SPIN paper's forwarding experiment, section 5.3).

``forward(port, server_ip, server_port, inside, outside)`` claims UDP
``port``: a datagram from a client arriving on any interface is sent on to
the server (``server_ip``, 4 bytes, and ``server_port``) out of interface
``outside``, from ``port``; the server's answers to ``port`` go back to
the client that last sent, out of ``inside``. The datagrams never leave
the kernel: no process runs and nothing is copied into user space. With
one interface, ``inside`` and ``outside`` are the same.
"""

from spin import IP, UDP
from spin.udp import send

routes = {}
counts = {"to_server": 0, "to_client": 0}


class Route:
    def __init__(self, server_ip, server_port, inside, outside, binding):
        self.server_ip = server_ip
        self.server_port = server_port
        self.inside = inside
        self.outside = outside
        self.binding = binding
        self.client = None


def relay(port, packet):
    r = routes[port]
    h = IP.header(packet)
    d = UDP.datagram(packet)
    if h.src == r.server_ip and d.sport == r.server_port:
        if r.client is not None:
            send(r.inside, port, r.client[0], r.client[1], d.payload)
            counts["to_client"] = counts["to_client"] + 1
        return
    r.client = (h.src, d.sport)
    send(r.outside, port, r.server_ip, r.server_port, d.payload)
    counts["to_server"] = counts["to_server"] + 1


def forward(port, server_ip, server_port, inside, outside):
    b = UDP.claim(port, relay)
    routes[port] = Route(server_ip, server_port, inside, outside, b)


def statistics():
    return dict(counts)


def install():
    return None
