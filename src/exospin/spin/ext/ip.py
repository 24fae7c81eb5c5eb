"""IPv4 input: a handler on Ether.PacketArrived for ethertype 0x0800 (Plexus' IP module).

It checks the header (version, lengths) and its checksum, keeps only
datagrams addressed to the interface they came in on (or broadcast), and
raises IP.PacketArrived(protocol, packet): the protocol's handler (udp.py
for 17) is found by the dispatcher's equality index. Raising that event is
the right of the holder of the IPv4 claim on Ether (the token below).

Malformed headers and bad checksums are dropped and counted, as are
datagrams for another host; fragments are not reassembled (udp.py
refuses them).
"""

from spin import IP, Errors, Ether

BROADCAST = b"\xff\xff\xff\xff"

counts = {"received": 0, "malformed": 0, "bad_checksum": 0, "not_ours": 0, "delivered": 0}
state = {"token": None}


def arrived(ethertype, packet):
    counts["received"] = counts["received"] + 1
    h = IP.header(packet)
    if Errors.failed(h):
        counts["malformed"] = counts["malformed"] + 1
        return
    if not h.checksum_ok:
        counts["bad_checksum"] = counts["bad_checksum"] + 1
        return
    if h.dst != packet.iface.ip and h.dst != BROADCAST:
        counts["not_ours"] = counts["not_ours"] + 1
        return
    counts["delivered"] = counts["delivered"] + 1
    IP.raise_(state["token"], h.proto, packet)


def statistics():
    return dict(counts)


def install():
    state["token"] = Ether.claim(Ether.IPV4, arrived)
