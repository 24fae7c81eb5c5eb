"""pingpong: two processes pass a counter back and forth over two pipes.

Each side reads a number, checks it is one more than what it sent, and sends
the next. Returns 0 if the count reaches ``argv[0]`` (default 10) in order.
"""

from __future__ import annotations

from .. import posix


def _player(rd: int, wr: int, first: bool, limit: int) -> int:
    n = 0
    if first:
        posix.write(wr, n.to_bytes(4, "little"))
    while True:
        got = int.from_bytes(posix.read(rd, 4), "little")
        if got != n + (1 if first or n else 0) and not (not first and n == 0 and got == 0):
            return 2
        n = got + 1
        if got >= limit:
            return 0
        posix.write(wr, n.to_bytes(4, "little"))
        if n >= limit:
            return 0


def main(argv: list[str]) -> int:
    limit = int(argv[0]) if argv else 10
    a_r, a_w = posix.pipe()  # parent -> child
    b_r, b_w = posix.pipe()  # child -> parent
    child = posix.fork(_player, a_r, b_w, False, limit)
    posix.close(a_r)
    posix.close(b_w)
    mine = _player(b_r, a_w, True, limit)
    _, theirs = posix.wait(child)
    return 0 if mine == 0 and theirs == 0 else 1
