"""Ethernet: ARP, and the output path of every protocol above (Plexus' Ethernet module).

The kernel's driver raises Ether.PacketArrived(ethertype, packet) for each
received frame (spin/net.py). This extension claims the ARP ethertype on
it: it answers requests for an interface's address and learns the
sender's address from requests to us and from replies. IPv4 (ethertype
0x0800) is claimed by the IP extension (ip.py).

``output(iface, dst_ip, frame)`` sends a frame built by a protocol above
with any destination MAC: it puts in the MAC of ``dst_ip`` from the ARP
table, or, if the address is not known yet, keeps the frame (at most
MAX_PENDING per address; more are dropped and counted), broadcasts a
request and sends what it kept when the reply comes.

Bad ARP packets (truncated, not Ethernet/IPv4) are dropped and counted.
"""

from spin import Errors, Ether

MAX_PENDING = 8

table = {}
pending = {}
counts = {"arp_in": 0, "arp_replies_sent": 0, "arp_requests_sent": 0, "malformed": 0,
          "pending_dropped": 0}
state = {"arp": None}


def arrived(ethertype, packet):
    a = Ether.arp(packet)
    if Errors.failed(a):
        counts["malformed"] = counts["malformed"] + 1
        return
    counts["arp_in"] = counts["arp_in"] + 1
    iface = packet.iface
    ours = a.tpa == iface.ip
    if ours or a.spa in table:
        table[a.spa] = a.sha
    if ours and a.op == Ether.REQUEST:
        reply = Ether.arp_frame(Ether.REPLY, iface.mac, iface.ip, a.spa, a.sha)
        if not Errors.failed(Ether.transmit(iface, reply)):
            counts["arp_replies_sent"] = counts["arp_replies_sent"] + 1
    if a.spa in table:
        flush(a.spa)


def flush(ip):
    waiting = pending.pop(ip, None)
    if waiting is None:
        return
    mac = table[ip]
    for item in waiting:
        Ether.transmit(item[0], mac + item[1][6:])


def output(iface, dst_ip, frame):
    """Send ``frame`` to ``dst_ip`` on ``iface``; its length, or a fail value."""
    mac = table.get(dst_ip)
    if mac is not None:
        return Ether.transmit(iface, mac + frame[6:])
    waiting = pending.get(dst_ip)
    if waiting is None:
        pending[dst_ip] = [(iface, frame)]
        request = Ether.arp_frame(Ether.REQUEST, iface.mac, iface.ip, dst_ip)
        r = Ether.transmit(iface, request)
        if Errors.failed(r):
            pending.pop(dst_ip, None)
            return r
        counts["arp_requests_sent"] = counts["arp_requests_sent"] + 1
        return len(frame)
    if len(waiting) >= MAX_PENDING:
        counts["pending_dropped"] = counts["pending_dropped"] + 1
        return Errors.fail("ENOBUFS", "output: too many frames wait for an ARP reply")
    waiting.append((iface, frame))
    return len(frame)


def statistics():
    return dict(counts)


def install():
    state["arp"] = Ether.claim(Ether.ARP, arrived)
