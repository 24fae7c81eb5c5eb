"""What the file-system tests of every system share: running a posix body as a process,
writing and reading whole files, an errno as a value, and the random workload the crash
property tests drive (unix' FFS in tests/unix/test_ffs.py, SPIN's SFS in tests/spin/test_sfs.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from exospin import posix

W = posix.O_WRONLY | posix.O_CREAT


def run(s: Any, program: Callable[[], Any], check: bool = True) -> Any:
    """Run ``program()`` as a posix process of system ``s``; its return value."""
    box: dict[str, Any] = {}

    def main(argv: list[str]) -> None:
        box["v"] = program()
    s.start(main, [], "test")
    s.run(check=check, report=check)
    return box.get("v")


def put(path: str, data: bytes, sync: bool = False) -> None:
    fd = posix.open(path, W | posix.O_TRUNC)
    posix.write(fd, data)
    if sync:
        posix.fsync(fd)
    posix.close(fd)


def get(path: str) -> bytes:
    fd = posix.open(path)
    out = b""
    while chunk := posix.read(fd, 10_000):
        out += chunk
    posix.close(fd)
    return out


def errno_of(fn: Callable[[], Any]) -> str:
    try:
        fn()
    except posix.PosixError as e:
        return e.errno
    return "no error"


def file_ops(max_size: int) -> st.SearchStrategy[list[tuple[str, int, int, int]]]:
    """Random file operations: (op, name index, second name index, bytes)."""
    return st.lists(st.tuples(st.sampled_from(["put", "sync", "unlink", "mkdir", "rmdir", "rename"]),
                              st.integers(0, 5), st.integers(0, 5), st.integers(0, 12_000)),
                    min_size=1, max_size=max_size)


def file_ops_body(ops: list[Any], synced: dict[str, bytes]) -> Callable[[], None]:
    """A posix body doing ``ops`` on six names; ``synced`` keeps each file fsynced last and
    not changed since (what a crash must keep). Refused calls are part of the workload; an
    EIO (the disk stopped) ends it."""
    names = [f"/n{i}" for i in range(6)]

    def body() -> None:
        for op, i, j, size in ops:
            a, b = names[i], names[j]
            try:
                if op in ("put", "sync"):
                    data = bytes([97 + i]) * size
                    synced.pop(a, None)
                    put(a, data, sync=op == "sync")
                    if op == "sync":
                        synced[a] = data
                elif op == "unlink":
                    synced.pop(a, None)
                    posix.unlink(a)
                elif op == "mkdir":
                    posix.mkdir(a)
                elif op == "rmdir":
                    posix.rmdir(a)
                else:
                    synced.pop(a, None)
                    synced.pop(b, None)
                    posix.rename(a, b)
            except posix.PosixError as e:
                if e.errno == "EIO":
                    raise
    return body
