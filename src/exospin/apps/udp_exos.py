"""A UDP echo server and client, written against posix sockets only (issue 16).

The ExOS tests run them between two Aegis machines (tests/exos/test_exos_sockets.py);
being posix and nothing else, the same two programs run on any system whose
stack implements ``posix.SocketProcess``.

``server(argv)``: ``[port, count]``: bind ``port``, echo ``count`` datagrams
back to their senders, close; status 0.

``client(argv)``: ``[server_ip, port, count, size]``: send ``count`` datagrams
of ``size`` bytes (``size`` 0: 16), each ``i`` filled with byte ``i``, and wait
for each echo; status 0 if every echo came back from the server with the
same bytes, else the number of the first that did not (1-based).
"""

from __future__ import annotations

from .. import posix


def server(argv: list[str]) -> int:
    port, count = int(argv[0]), int(argv[1])
    s = posix.socket(posix.AF_INET, posix.SOCK_DGRAM)
    posix.bind(s, ("0.0.0.0", port))
    for _ in range(count):
        data, peer = posix.recvfrom(s, posix.UDP_MAX_PAYLOAD)
        posix.sendto(s, data, peer)
    posix.close(s)
    return 0


def client(argv: list[str]) -> int:
    ip, port, count, size = argv[0], int(argv[1]), int(argv[2]), int(argv[3]) or 16
    s = posix.socket(posix.AF_INET, posix.SOCK_DGRAM)
    for i in range(count):
        msg = bytes([i & 0xFF]) * size
        posix.sendto(s, msg, (ip, port))
        data, peer = posix.recvfrom(s, posix.UDP_MAX_PAYLOAD)
        if data != msg or peer != (ip, port):
            posix.close(s)
            return i + 1
    posix.close(s)
    return 0
