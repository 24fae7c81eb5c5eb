"""UDP: a handler on IP.PacketArrived for protocol 17, and the send path (Plexus' UDP module).

Input: the datagram's length and checksum (over the pseudo-header) are
checked, then UDP.PacketArrived(destination port, packet) is raised: the
application that claimed the port (UDP.claim, owned like a Trap number)
is found by the dispatcher's equality index. Malformed datagrams and bad
checksums are dropped and counted; a datagram for a port nobody holds is
counted by the kernel (``unclaimed_udp``).

Output: ``send`` builds the frame (net/frames.py through UDP.frame, both
checksums computed) and hands it to Ethernet's output (ARP resolution);
``reply`` answers a received datagram straight to the MAC it came from.
"""

from spin import IP, UDP, Errors, Ether
from spin.ether import output

counts = {"received": 0, "malformed": 0, "bad_checksum": 0, "delivered": 0, "sent": 0}
state = {"token": None, "ident": 0}

ZERO_MAC = b"\x00\x00\x00\x00\x00\x00"


def arrived(protocol, packet):
    counts["received"] = counts["received"] + 1
    d = UDP.datagram(packet)
    if Errors.failed(d):
        counts["malformed"] = counts["malformed"] + 1
        return
    if not d.checksum_ok:
        counts["bad_checksum"] = counts["bad_checksum"] + 1
        return
    counts["delivered"] = counts["delivered"] + 1
    UDP.raise_(state["token"], d.dport, packet)


def next_ident():
    state["ident"] = (state["ident"] + 1) % 65536
    return state["ident"]


def send(iface, sport, dst_ip, dport, payload):
    """One datagram from ``sport`` on ``iface`` to ``dst_ip`` (4 bytes), ``dport``."""
    f = UDP.frame(iface.mac, ZERO_MAC, iface.ip, dst_ip, sport, dport, payload, next_ident())
    if Errors.failed(f):
        return f
    r = output(iface, dst_ip, f)
    if not Errors.failed(r):
        counts["sent"] = counts["sent"] + 1
    return r


def reply(packet, payload):
    """Answer the datagram in ``packet`` from the port it was sent to, to the MAC it came
    from (no ARP needed)."""
    h = IP.header(packet)
    d = UDP.datagram(packet)
    iface = packet.iface
    f = UDP.frame(iface.mac, packet.data[6:12], iface.ip, h.src, d.dport, d.sport, payload,
                  next_ident())
    if Errors.failed(f):
        return f
    r = Ether.transmit(iface, f)
    if not Errors.failed(r):
        counts["sent"] = counts["sent"] + 1
    return r


def statistics():
    return dict(counts)


def install():
    state["token"] = IP.claim(IP.UDP, arrived)
