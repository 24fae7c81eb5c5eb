"""spawn: fork a child that execs another program; the parent waits for its status.

The new program (``hello``) writes to memory it maps itself and exits with
a status computed from what it reads back; exec replaced the child's address
space, so the parent's marker is not there. Returns 0 if the status is right.
"""

from __future__ import annotations

from .. import posix


def hello(argv: list[str]) -> int:
    a = posix.mmap(1)
    posix.store(a, len(argv) + 40)
    return posix.load(a)


def _child(marker: int) -> int:
    posix.exec(hello, ["a", "b"])
    return 99  # not reached


def main(argv: list[str]) -> int:
    marker = posix.mmap(1)
    posix.store(marker, 7)
    pid = posix.fork(_child, marker)
    _, status = posix.wait(pid)
    return 0 if status == 42 and posix.load(marker) == 7 else 1
