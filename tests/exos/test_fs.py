"""ExOS' library file system on XN (exos/fs.py), through the posix file calls.

Programs run as ExOS processes (``system.start``) on a disk of one or two
cylinders; every test checks that nothing leaked (frames, capabilities,
XN's registry buffers and unattached blocks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from exospin import posix as P
from exospin.exos.fs import OPEN_MAX, ROOT_NAME
from exospin.posix import PosixError
from exospin.systems import System, boot
from helpers import assert_no_leaks


@pytest.fixture
def fs() -> Iterator[Callable[..., System]]:
    booted: list[System] = []

    def factory(**kw: Any) -> System:
        s = boot("aegis", disk=kw.pop("disk", True), disk_cylinders=kw.pop("disk_cylinders", 1), **kw)
        booted.append(s)
        return s

    yield factory
    for s in booted:
        assert_no_leaks(s)


def run(s: System, *programs: Callable[[], Any]) -> list[Any]:
    """Run each program as an ExOS process (all at once); their results, in order."""
    out: list[Any] = [None] * len(programs)
    for i, prog in enumerate(programs):
        def main(argv: list[str], i: int = i, prog: Callable[[], Any] = prog) -> int:
            out[i] = prog()
            return 0
        s.start(main, name=f"p{i}")
    s.run(check=True)
    return out


def errno(call: Callable[[], Any]) -> str:
    with pytest.raises(PosixError) as e:
        call()
    assert str(e.value).startswith(e.value.errno + ": ")
    return str(e.value)


def write_file(path: str, data: bytes, flags: int = P.O_CREAT | P.O_WRONLY | P.O_TRUNC) -> None:
    fd = P.open(path, flags)
    assert P.write(fd, data) == len(data)
    P.close(fd)


def read_file(path: str) -> bytes:
    fd = P.open(path)
    data = P.read(fd, 1 << 22)
    P.close(fd)
    return data


def test_do_files_and_directories_work_through_posix(fs: Callable[..., System]) -> None:
    s = fs(disk_cylinders=2)
    big = bytes(range(256)) * 300  # 76,800 bytes: 12 direct blocks and the indirect block's

    def prog() -> Any:
        write_file("/small", b"hello")
        P.mkdir("/d")
        P.mkdir("/d/e")
        write_file("/d/big", big)
        fd = P.open("/small", P.O_WRONLY | P.O_APPEND)
        P.write(fd, b", world")
        P.close(fd)
        fd = P.open("/d/e/holes", P.O_CREAT | P.O_RDWR)
        P.lseek(fd, 10_000)
        P.write(fd, b"end")
        assert P.lseek(fd, 0, P.SEEK_END) == 10_003
        P.lseek(fd, 0)
        hole = P.read(fd, 20_000)
        P.close(fd)
        return (read_file("/small"), read_file("/d/big") == big, hole == bytes(10_000) + b"end",
                P.readdir("/"), P.readdir("/d"), P.stat("/d/big"), P.stat("/d"), P.stat("/d/e/holes"))

    small, big_ok, hole_ok, root, d, st_big, st_d, st_h = run(s, prog)[0]
    assert small == b"hello, world" and big_ok and hole_ok
    assert root == ["d", "small"] and d == ["big", "e"]
    assert (st_big.size, st_big.blocks, st_big.is_dir) == (76_800, 19 + 1, False)  # 19 data blocks, 1 indirect
    assert st_d.is_dir and st_d.nlink == 3
    assert (st_h.size, st_h.blocks) == (10_003, 1)  # the hole holds no block


def test_do_files_survive_a_reboot_from_the_image(fs: Callable[..., System], tmp_path: Path) -> None:
    img = tmp_path / "exos.img"
    s = fs(disk=img)
    run(s, lambda: (P.mkdir("/etc"), write_file("/etc/motd", b"persistent" * 500)))
    s.shutdown()
    s.machine.disks[0].close()
    s2 = fs(disk=img, mkfs=False)
    got = run(s2, lambda: (P.readdir("/etc"), read_file("/etc/motd"), P.stat("/etc/motd").size))[0]
    assert got == (["motd"], b"persistent" * 500, 5000)


def test_is_an_image_that_is_not_this_file_system_refused_and_never_reformatted(
        fs: Callable[..., System], tmp_path: Path) -> None:
    img = tmp_path / "other.img"
    s0 = fs(disk=img)
    s0.machine.disks[0].close()
    with img.open("r+b") as f:
        f.write(b"UFS2 superblock, not XN" + bytes(100))
    before = img.read_bytes()
    s = fs(disk=img, mkfs=False)
    msgs = run(s, lambda: (errno(lambda: P.open("/x", P.O_CREAT | P.O_WRONLY)), errno(lambda: P.readdir("/"))))[0]
    assert msgs[0].startswith("EINVAL: open: the disk holds no ExOS file system: ")
    assert "block 0 is not a valid XN catalogue: its magic number" in msgs[0] and "not reformatted" in msgs[0]
    assert msgs[1].startswith("EINVAL: readdir: the disk holds no ExOS file system")
    s.machine.disks[0].close()
    assert img.read_bytes() == before


def test_is_an_xn_disk_without_this_file_system_refused(fs: Callable[..., System]) -> None:
    s = fs(mkfs=False)
    m = run(s, lambda: errno(lambda: P.stat("/")))[0]
    assert m.startswith("EINVAL: stat: the disk holds no ExOS file system: the disk is blank")
    from exospin.aegis import XNSyscalls

    def xn_only(sys: XNSyscalls) -> str:
        sys.xn_format()
        return "ok"
    s2 = fs(mkfs=False)
    from helpers import run_in_env
    run_in_env(s2, xn_only)
    m2 = run(s2, lambda: errno(lambda: P.stat("/")))[0]
    assert f"no root named {ROOT_NAME!r}" in m2 and "not reformatted" in m2


def test_are_bad_paths_and_calls_refused_with_their_errno(fs: Callable[..., System]) -> None:
    s = fs()

    def prog() -> list[str]:
        P.mkdir("/d")
        write_file("/d/f", b"x")
        write_file("/g", b"y")
        fd = P.open("/g")
        out = [
            errno(lambda: P.open("/nope")),
            errno(lambda: P.open("/nodir/f", P.O_CREAT | P.O_WRONLY)),
            errno(lambda: P.open("/g/f", P.O_CREAT | P.O_WRONLY)),
            errno(lambda: P.open("/d", P.O_WRONLY)),
            errno(lambda: P.open("/g", P.O_CREAT | P.O_EXCL | P.O_WRONLY)),
            errno(lambda: P.mkdir("/d")),
            errno(lambda: P.rmdir("/d")),
            errno(lambda: P.rmdir("/g")),
            errno(lambda: P.unlink("/d")),
            errno(lambda: P.write(fd, b"no")),
            errno(lambda: P.read(99, 1)),
            errno(lambda: P.lseek(fd, -1)),
            errno(lambda: P.open("relative")),
            errno(lambda: P.open("/a/")),
            errno(lambda: P.open("/" + "n" * 61, P.O_CREAT | P.O_WRONLY)),
            errno(lambda: P.open("/" + "n" * 256)),
            errno(lambda: P.rename("/d", "/d/inside")),
            errno(lambda: P.rename("/g", "/d")),
            errno(lambda: P.fadvise(fd, 99)),
            errno(lambda: P.open("/g", 0o7777777)),
        ]
        P.close(fd)
        out.append(str(P.readdir("/")))
        return out

    got = [m.split(":")[0] for m in run(s, prog)[0]]
    assert got == ["ENOENT", "ENOENT", "ENOTDIR", "EISDIR", "EEXIST", "EEXIST", "ENOTEMPTY", "ENOTDIR", "EISDIR",
                   "EBADF", "EBADF", "EINVAL", "EINVAL", "EINVAL", "ENAMETOOLONG", "ENAMETOOLONG", "EINVAL",
                   "EEXIST", "EINVAL", "EINVAL", "['d', 'g']"]


def test_is_too_many_open_files_refused_and_nothing_kept(fs: Callable[..., System]) -> None:
    s = fs()

    def prog() -> str:
        write_file("/f", b"z")
        fds = [P.open("/f") for _ in range(OPEN_MAX)]
        m = errno(lambda: P.open("/f"))
        for fd in fds[:10]:
            P.close(fd)
        return m  # the other descriptors are closed at exit

    assert run(s, prog)[0].startswith(f"EMFILE: open: {OPEN_MAX} files are open already")
    assert not s.exos.fs.inodes


def test_is_a_full_disk_refused_without_changing_the_file(fs: Callable[..., System]) -> None:
    s = fs()  # 171 blocks: 9 XN's, 1 root, 161 for files

    def prog() -> tuple[str, int, int, bytes]:
        fd = P.open("/big", P.O_CREAT | P.O_WRONLY)
        P.write(fd, b"a" * 4096 * 150)
        m = errno(lambda: P.write(fd, b"b" * 4096 * 20))
        P.close(fd)
        st = P.stat("/big")
        P.unlink("/big")
        write_file("/after", b"room again" * 1000)  # the blocks came back
        return m, st.size, st.blocks, read_file("/after")[:10]

    m, size, blocks, after = run(s, prog)[0]
    assert m.startswith("ENOSPC: write: the disk is full (20 blocks needed)")
    assert (size, blocks) == (4096 * 150, 151) and after == b"room again"


def test_does_unlink_of_an_open_file_keep_it_until_its_last_close(fs: Callable[..., System]) -> None:
    s = fs()

    def prog() -> tuple[list[str], bytes, int]:
        write_file("/tmpfile", b"still here")
        fd = P.open("/tmpfile")
        free = s.kernel.xn.statistics().blocks_free
        P.unlink("/tmpfile")
        names = P.readdir("/")
        data = P.read(fd, 100)
        P.close(fd)
        return names, data, s.kernel.xn.statistics().blocks_free - free

    names, data, freed = run(s, prog)[0]
    assert names == [] and data == b"still here"
    assert freed >= 0 and s.kernel.xn.statistics().blocks_free == 171 - 9 - 2  # the root and one directory block


def test_does_rename_move_files_within_and_across_directories(fs: Callable[..., System]) -> None:
    s = fs()
    data = b"r" * 9000

    def prog() -> Any:
        P.mkdir("/a")
        P.mkdir("/b")
        write_file("/a/x", data)
        ino = P.stat("/a/x").ino
        P.rename("/a/x", "/a/y")  # the same directory: renamed in place, the same inode
        same = P.stat("/a/y").ino == ino
        write_file("/b/z", b"old")
        P.rename("/a/y", "/b/z")  # across directories, replacing z: the file is copied (XN offers no moves)
        P.mkdir("/a/sub")
        m = errno(lambda: P.rename("/a/sub", "/b/sub"))
        P.rename("/a/sub", "/a/sub2")
        return same, P.readdir("/a"), P.readdir("/b"), read_file("/b/z") == data, m

    same, a, b, ok, m = run(s, prog)[0]
    assert same and a == ["sub2"] and b == ["z"] and ok
    assert m.startswith("EXDEV: rename: a directory cannot move to another directory")


def test_do_two_processes_share_the_file_system_coherently(fs: Callable[..., System]) -> None:
    s = fs()

    def writer() -> None:
        write_file("/shared", b"from the writer" * 100)
        P.mkdir("/w")

    def reader() -> Any:
        while True:
            try:
                if "w" in P.readdir("/"):
                    return read_file("/shared")
            except PosixError:
                pass
            P.thread_yield()

    got = run(s, writer, reader)
    assert got[1] == b"from the writer" * 100


def test_is_a_boot_without_a_disk_told_there_is_no_file_system() -> None:
    s = boot("aegis")
    m = run(s, lambda: errno(lambda: P.open("/x")))[0]
    assert m.startswith("ENOSYS: this system was booted without a disk")


def test_does_shutdown_report_what_a_killed_process_left() -> None:
    s = boot("aegis", disk=True, disk_cylinders=1)

    def prog(argv: list[str]) -> int:
        write_file("/kept", b"on the disk")
        fd = P.open("/kept", P.O_RDWR)
        fd2 = P.open("/new", P.O_CREAT | P.O_WRONLY)
        P.write(fd2, b"never fsynced")
        r, w = P.pipe()
        P.read(r, 1)  # blocks for ever: the pipe's writer is ourselves
        return fd

    s.start(prog)
    s.run(until_us=300_000)  # it is then blocked for ever
    assert sum(i.opens for i in s.exos.fs.inodes.values()) == 2 and len(s.exos.fs.cache) > 0
    left = s.shutdown()  # destroys it: its files close, its blocks leave the cache, its frames go
    # but the metadata it changed and never wrote stays in XN's registry (the kernel writes nothing
    # by itself): the root block and the root directory's first block, which holds both entries
    assert left == {"frames": 0, "capabilities": 0, "slices": 0, "environments": 0, "xn_buffers": 2,
                    "xn_orphans": 0, "open_files": 0, "fs_buffers": 0}
