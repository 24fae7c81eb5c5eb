"""A UDP echo server in the kernel (the SPIN paper's in-kernel application, section 5.3).

It claims UDP port 7 (the echo service, RFC 862): the datagram is answered
from the handler, at interrupt level, without a process, a copy into user
space or a trip through the scheduler. ``serve(port)`` claims another
port too (the port is owned by this extension: no other domain may take
it while it is loaded).
"""

from spin import UDP
from spin.udp import reply

ECHO_PORT = 7

counts = {"echoed": 0}
bindings = []


def echo(port, packet):
    d = UDP.datagram(packet)
    reply(packet, d.payload)
    counts["echoed"] = counts["echoed"] + 1


def serve(port):
    bindings.append(UDP.claim(port, echo))


def statistics():
    return dict(counts)


def install():
    serve(ECHO_PORT)
