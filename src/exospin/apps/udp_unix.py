"""udp_unix: a UDP echo server and its client, as the unix stack's tests run them.

The server binds ``argv[0]`` (a port) and echoes ``argv[1]`` datagrams to
whoever sent each. The client sends ``argv[2]`` datagrams of ``argv[3]``
bytes (byte i of datagram j is ``(i + j) % 251``) to ``(argv[0], argv[1])``,
waits for each echo (``poll``, 500 ms, sending again up to four times: UDP
may lose a datagram, or the server may not be up yet) and checks it is the same
bytes from the server's address. Exit status: 0 when every echo came back
exactly, 2 for a wrong echo, 3 for one that did not come. Written against
posix only: the same programs run on every system with a network stack.
"""

from __future__ import annotations

from .. import posix

#: how often the client sends one datagram, and how long it waits for each echo
TRIES, WAIT_US = 4, 500_000.0


def server(argv: list[str]) -> int:
    port, count = int(argv[0]), int(argv[1])
    fd = posix.socket(posix.AF_INET, posix.SOCK_DGRAM)
    posix.bind(fd, ("0.0.0.0", port))
    for _ in range(count):
        data, peer = posix.recvfrom(fd, posix.UDP_MAX_PAYLOAD)
        posix.sendto(fd, data, peer)
    posix.close(fd)
    return 0


def client(argv: list[str]) -> int:
    ip, port, count, size = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    fd = posix.socket(posix.AF_INET, posix.SOCK_DGRAM)
    status = 0
    for j in range(count):
        msg = bytes((i + j) % 251 for i in range(size))
        for _try in range(TRIES):  # UDP may lose it (or the server is not up yet): send again
            posix.sendto(fd, msg, (ip, port))
            if posix.poll([fd], WAIT_US):
                break
        else:
            status = 3
            break
        data, peer = posix.recvfrom(fd, posix.UDP_MAX_PAYLOAD)
        if data != msg or peer != (ip, port):
            status = 2
            break
    posix.close(fd)
    return status
