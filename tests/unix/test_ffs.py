"""The Unix file system (FFS in the kernel, its buffer cache, fsck), asked as questions.

Every program is a posix program run through libc on a booted unix with a small disk
(one or two cylinders, 684 KB each); images live in the test's tmp_path. Systems a test
shuts down must hold nothing: no frame, buffer, open file, leaked block or fsck finding.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exospin import posix
from exospin.machine import DiskError
from exospin.systems import UnixSystem, boot
from exospin.unix import MountError, fsck
from exospin.unix import ffs_layout as uffs
from exospin.unix import fsck_ffs as ufsck
from files_common import W, errno_of, file_ops, file_ops_body, get, put, run

CLEAN = {"frames": 0, "processes": 0, "threads": 0, "pipes": 0, "buffers": 0, "open_files": 0, "inodes": 0,
         "blocks": 0, "fs_problems": 0}


def unix(disk: Any = True, cylinders: int = 1, mkfs: bool | None = None, seed: int = 0) -> UnixSystem:
    return cast(UnixSystem, boot("unix", disk=disk, disk_cylinders=cylinders, mkfs=mkfs, seed=seed))






def shut(s: UnixSystem) -> None:
    assert s.shutdown() == CLEAN
    assert s.kernel.check_invariants() == []


# ------------------------------------------------------------------- the calls


def test_do_files_and_directories_survive_a_reboot_from_the_image(tmp_path: Path) -> None:
    img = tmp_path / "unix.img"
    s = unix(img)
    big = bytes(range(256)) * 300  # 76,800 bytes: 19 blocks, past the direct ones (indirect block)

    def write() -> None:
        posix.mkdir("/etc")
        put("/etc/motd", b"hello, world\n")
        put("/big", big)
    run(s, write)
    shut(s)
    assert fsck(img) == []
    s = unix(img, mkfs=False)

    def read() -> Any:
        return posix.readdir("/"), posix.readdir("/etc"), get("/etc/motd"), get("/big"), posix.stat("/big")
    top, etc, motd, data, st_ = run(s, read)
    assert (top, etc, motd) == (["big", "etc"], ["motd"], b"hello, world\n")
    assert data == big
    assert st_.size == len(big) and st_.blocks == 19 + 1 and st_.block_size == 4096 and not st_.is_dir
    shut(s)


def test_does_a_sequential_read_read_ahead_and_sleep_on_the_disk() -> None:
    s = unix()
    run(s, lambda: put("/f", b"z" * 40_960))
    s.kernel.fs.bio.flush()
    for b in s.kernel.fs.bio.bufs:  # an empty cache: every block comes from the disk
        if b.blkno >= 0 and not b.busy:
            s.kernel.fs.bio.forget(b.blkno)
    before, sleeps, irqs = s.kernel.fs.bio.statistics(), s.kernel.statistics().sleeps, s.machine.disks[0].interrupts
    assert run(s, lambda: get("/f")) == b"z" * 40_960
    after = s.kernel.fs.bio.statistics()
    assert after.reads - before.reads >= 10  # every data block read, and the inode's
    assert after.readaheads - before.readaheads >= 8  # blocks 1..9 came in while the one before was copied out
    assert s.kernel.statistics().sleeps > sleeps  # the reader slept ...
    assert s.machine.disks[0].interrupts > irqs  # ... and the disk's interrupt woke it
    shut(s)


def test_are_read_and_write_charged_their_copyout_and_copyin() -> None:
    s = unix()
    k = s.kernel
    run(s, lambda: put("/f", b""))
    w0 = k.statistics().copyin_words
    run(s, lambda: put("/f", b"a" * 8000))
    assert k.statistics().copyin_words - w0 >= 2000
    r0 = k.statistics().copyout_words
    run(s, lambda: get("/f"))
    assert k.statistics().copyout_words - r0 >= 2000
    shut(s)


def test_do_append_truncate_lseek_and_holes_behave_as_posix_says() -> None:
    s = unix()

    def body() -> Any:
        put("/f", b"abc")
        fd = posix.open("/f", posix.O_WRONLY | posix.O_APPEND)
        posix.write(fd, b"def")
        posix.close(fd)
        a = get("/f")
        fd = posix.open("/g", W)
        posix.lseek(fd, 10_000)
        posix.write(fd, b"!")
        end = posix.lseek(fd, 0, posix.SEEK_END)
        posix.close(fd)
        g = get("/g")
        fd = posix.open("/f", posix.O_RDWR | posix.O_TRUNC)
        t = posix.read(fd, 10)
        posix.close(fd)
        return a, end, g, t, posix.stat("/g").blocks
    a, end, g, t, blocks = run(s, body)
    assert a == b"abcdef" and end == 10_001 and g == bytes(10_000) + b"!" and t == b""
    assert blocks == 1  # the hole holds no block
    shut(s)


def test_does_rename_replace_a_file_and_move_a_directory() -> None:
    s = unix()

    def body() -> Any:
        posix.mkdir("/a")
        posix.mkdir("/b")
        posix.mkdir("/a/d")
        put("/a/d/x", b"x")
        put("/y", b"old y")
        posix.rename("/a/d/x", "/y")  # replaces /y
        posix.rename("/a/d", "/b/d")  # a directory to another parent
        return (posix.readdir("/"), posix.readdir("/a"), posix.readdir("/b/d"), get("/y"),
                posix.stat("/a").nlink, posix.stat("/b").nlink, posix.stat("/y").nlink)
    assert run(s, body) == (["a", "b", "y"], [], [], b"x", 2, 3, 1)
    shut(s)


def test_does_an_unlinked_open_file_live_until_its_last_close() -> None:
    s = unix()
    free0: list[int] = []

    def body() -> Any:
        put("/f", b"q" * 9000)
        fd = posix.open("/f")
        posix.unlink("/f")
        free0.append(s.kernel.fs.free_blocks)
        data = posix.read(fd, 9000)
        posix.close(fd)
        return data, posix.readdir("/")
    assert run(s, body) == (b"q" * 9000, [])
    assert s.kernel.fs.free_blocks == free0[0] + 3  # its three blocks, freed at the close
    shut(s)


def test_is_fadvise_accepted_checked_and_ignored_on_unix() -> None:
    s = unix()

    def body() -> Any:
        put("/f", b"abc")
        fd = posix.open("/f")
        posix.fadvise(fd, posix.FADV_SEQUENTIAL, 0, 0, priority=3)
        bad = errno_of(lambda: posix.fadvise(fd, 99)), errno_of(lambda: posix.fadvise(fd, 0, -1))
        posix.close(fd)
        r, _ = posix.pipe()
        return bad, errno_of(lambda: posix.fadvise(r, 0)), errno_of(lambda: posix.fadvise(77, 0))
    assert run(s, body) == (("EINVAL", "EINVAL"), "ESPIPE", "EBADF")
    assert s.kernel.fs.statistics()["fadvise_ignored"] == 1
    s.shutdown()


# -------------------------------------------------------------------- bad input


def test_does_each_bad_call_get_its_errno_and_change_nothing() -> None:
    s = unix()

    def body() -> Any:
        posix.mkdir("/d")
        put("/d/f", b"1")
        put("/f", b"2")
        before = (s.kernel.fs.free_blocks, s.kernel.fs.free_inodes)
        got = {
            "missing": errno_of(lambda: posix.open("/nope")),
            "missing_dir": errno_of(lambda: posix.open("/nope/x", W)),
            "through_file": errno_of(lambda: posix.open("/f/x")),
            "dir_for_write": errno_of(lambda: posix.open("/d", posix.O_WRONLY)),
            "excl": errno_of(lambda: posix.open("/f", W | posix.O_EXCL)),
            "unlink_dir": errno_of(lambda: posix.unlink("/d")),
            "rmdir_full": errno_of(lambda: posix.rmdir("/d")),
            "rmdir_file": errno_of(lambda: posix.rmdir("/f")),
            "rmdir_root": errno_of(lambda: posix.rmdir("/")),
            "mkdir_exists": errno_of(lambda: posix.mkdir("/d")),
            "readdir_file": errno_of(lambda: posix.readdir("/f")),
            "rename_onto_dir": errno_of(lambda: posix.rename("/f", "/d")),
            "rename_into_self": errno_of(lambda: posix.rename("/d", "/d/e")),
            "relative": errno_of(lambda: posix.stat("d/f")),
            "dotdot": errno_of(lambda: posix.stat("/d/../f")),
            "trailing": errno_of(lambda: posix.stat("/d/")),
            "long": errno_of(lambda: posix.stat("/" + "n" * 256)),
            "flags": errno_of(lambda: posix.open("/f", 3)),
            "whence": errno_of(lambda: posix.lseek(posix.open("/f"), 0, 7)),
            "read_wronly": errno_of(lambda: posix.read(posix.open("/f", posix.O_WRONLY), 1)),
            "bad_fd": errno_of(lambda: posix.fsync(99)),
        }
        return got, before, (s.kernel.fs.free_blocks, s.kernel.fs.free_inodes), posix.readdir("/")
    got, before, after, names = run(s, body)
    assert got == {
        "missing": "ENOENT", "missing_dir": "ENOENT", "through_file": "ENOTDIR", "dir_for_write": "EISDIR",
        "excl": "EEXIST", "unlink_dir": "EISDIR", "rmdir_full": "ENOTEMPTY", "rmdir_file": "ENOTDIR",
        "rmdir_root": "EBUSY", "mkdir_exists": "EEXIST", "readdir_file": "ENOTDIR", "rename_onto_dir": "EEXIST",
        "rename_into_self": "EINVAL", "relative": "EINVAL", "dotdot": "EINVAL", "trailing": "EINVAL",
        "long": "ENAMETOOLONG", "flags": "EINVAL", "whence": "EINVAL", "read_wronly": "EBADF", "bad_fd": "EBADF",
    }
    assert before == after and names == ["d", "f"]
    shut(s)


def test_is_a_full_disk_enospc_with_nothing_changed() -> None:
    s = unix()

    def body() -> Any:
        fd = posix.open("/fill", W)
        n = 0
        while errno_of(lambda: posix.write(fd, b"f" * 4096)) == "no error":
            n += 1
        posix.close(fd)
        size, free = posix.stat("/fill").size, s.kernel.fs.free_blocks
        err = errno_of(lambda: put("/fill2", b"g" * 8192))
        return n, size, free, err, s.kernel.fs.free_blocks, posix.stat("/fill2").size
    n, size, free, err, free2, size2 = run(s, body)
    assert n > 100 and size == n * 4096 and err == "ENOSPC" and size2 == 0
    assert free2 == free  # the refused write allocated nothing
    shut(s)


def test_are_too_many_open_files_emfile_and_nothing_leaks() -> None:
    s = unix()

    def body() -> Any:
        put("/f", b"")
        fds = []
        while (e := errno_of(lambda: fds.append(posix.open("/f")))) == "no error":
            pass
        return e, len(fds)
    e, n = run(s, body)
    assert e == "EMFILE" and n == 64  # 4.3BSD's NOFILE; the process's exit closes them all
    shut(s)


def test_are_corrupt_foreign_and_truncated_images_refused_untouched(tmp_path: Path) -> None:
    img = tmp_path / "fs.img"
    s = unix(img, cylinders=2)
    run(s, lambda: put("/f", b"data"))
    shut(s)
    good = img.read_bytes()
    # a flipped byte in the superblock
    bad = bytearray(good)
    bad[4096 + 12] ^= 1
    img.write_bytes(bad)
    with pytest.raises(MountError, match="corrupt superblock: its checksum"):
        unix(img, cylinders=2, mkfs=False)
    with pytest.raises(MountError, match="corrupt superblock"):
        unix(img, cylinders=2)  # not blank: never reformatted
    assert img.read_bytes() == bad
    # a foreign image
    img.write_bytes(bytes(range(256)) * (len(good) // 256))
    with pytest.raises(MountError, match="not a Unix file system: the superblock .* magic"):
        unix(img, cylinders=2)
    # truncated: the Disk refuses an image of another size; cut to one cylinder, the file system does
    img.write_bytes(good[:len(good) // 2])
    with pytest.raises(DiskError):
        unix(img, cylinders=2)
    with pytest.raises(MountError, match="the file system has 342 blocks but the disk holds 171 .truncated"):
        unix(img, cylinders=1)
    assert img.read_bytes() == good[:len(good) // 2]


# ------------------------------------------------------------------------- fsck


def _edit_inode(img: Path, ino: int, edit: Callable[[uffs.Inode], None]) -> None:
    data = bytearray(img.read_bytes())
    sb = uffs.parse_super(data[4096:8192], len(data) // 4096)
    blk, off = sb.inode_at(ino)
    at = blk * 4096 + off
    ip = uffs.Inode(ino, data[at:at + 128])
    edit(ip)
    ip.pack_into(memoryview(data), at)
    img.write_bytes(data)


def test_does_fsck_report_each_kind_of_inconsistency(tmp_path: Path) -> None:
    img = tmp_path / "fs.img"
    s = unix(img)

    def body() -> Any:
        put("/a", b"a" * 5000)
        put("/b", b"b" * 100)
        put("/c", b"c")
        return posix.stat("/a").ino, posix.stat("/b").ino, posix.stat("/c").ino
    a, b, c = run(s, body)
    shut(s)
    assert fsck(img) == []
    blocks: list[int] = []
    _edit_inode(img, a, lambda ip: blocks.append(ip.db[0]))
    _edit_inode(img, b, lambda ip: ip.db.__setitem__(1, blocks[0]))  # claims a's block too
    _edit_inode(img, c, lambda ip: setattr(ip, "mode", 0))  # free, but /c still names it
    _edit_inode(img, a, lambda ip: setattr(ip, "nlink", 0))  # named once, counted never
    found = fsck(img)
    kinds = {f.split(":")[0] for f in found}
    assert {"duplicate", "free_named", "nlink_low", "bitmap_block", "bitmap_inode"} <= kinds, found
    assert any(f"block {blocks[0]} is claimed by inode {a} and by inode {b}" in f for f in found)
    assert any(f"entry /c names inode {c}, which is free" in f for f in found)
    data = bytearray(img.read_bytes())
    sbraw = uffs.replace(uffs.parse_super(data[4096:8192], len(data) // 4096), 0).pack()
    data[4096:4096 + len(sbraw)] = sbraw  # marked not clean: the mount must preen
    img.write_bytes(data)
    with pytest.raises(MountError, match="needs a full fsck"):  # a preen refuses what no crash leaves
        unix(img, mkfs=False)
    assert img.read_bytes() == data  # and writes nothing


def test_does_fsck_find_a_leaked_block_that_the_preen_then_repairs(tmp_path: Path) -> None:
    img = tmp_path / "fs.img"
    s = unix(img)
    ino = run(s, lambda: (put("/a", b"a" * 5000), posix.stat("/a").ino)[1])
    shut(s)
    _edit_inode(img, ino, lambda ip: (ip.db.__setitem__(1, 0), setattr(ip, "nblocks", 1)))  # block 2 lost
    data = bytearray(img.read_bytes())
    sbraw = uffs.replace(uffs.parse_super(data[4096:8192], len(data) // 4096), 0).pack()
    data[4096:4096 + len(sbraw)] = sbraw
    img.write_bytes(data)
    found = fsck(img)
    assert len(found) == 1 and found[0].startswith("bitmap_block: cylinder group 0: 1 blocks marked allocated but "
                                                   "unreferenced"), found
    s = unix(img, mkfs=False)  # preened at mount
    assert s.kernel.fs.preened == [found[0].split(": ", 1)[1]]
    shut(s)
    assert fsck(img) == []


# ---------------------------------------------------------------- crash consistency


def _workload(synced: dict[str, bytes]) -> Callable[[], None]:
    def body() -> None:
        posix.mkdir("/d")
        for i in range(6):
            data = bytes([65 + i]) * (700 * i + 100) * (1 + (i == 3) * 20)  # file 3 has indirect blocks
            put(f"/d/f{i}", data, sync=i % 2 == 0)
            if i % 2 == 0:
                synced[f"/d/f{i}"] = data
        posix.mkdir("/e")
        posix.rename("/d/f1", "/e/g1")
        posix.unlink("/d/f3")
        posix.rename("/e", "/d/e")
        put("/d/e/h", b"h" * 9000)
        posix.rmdir("/d/e") if False else None
        posix.unlink("/d/f5")
    return body


def _crash_and_reboot(tmp_path: Path, n: int, body: Callable[[], None], synced: dict[str, bytes]) -> None:
    img = tmp_path / f"crash{n}.img"
    img.unlink(missing_ok=True)
    s = unix(img)  # formatted (and clean) before the doom counter starts
    s.machine.disks[0].fail_after_writes(n)
    run(s, body, check=False)
    s.shutdown()  # the disk has stopped: nothing more reaches it
    rep = ufsck.check_image(img)
    assert rep.errors == [], (n, [p.text for p in rep.errors])  # only what a preen repairs
    s = unix(img, mkfs=False)  # the reboot: the mount preens
    got = run(s, lambda: {p: get(p) for p in synced})
    assert got == synced, n  # every file fsync'ed before the crash, whole
    shut(s)
    assert fsck(img) == [], n


@pytest.mark.parametrize("n", [1, 3, 6, 10, 15, 22, 30, 45])
def test_is_the_disk_consistent_after_a_crash_at_the_nth_write(tmp_path: Path, n: int) -> None:
    synced: dict[str, bytes] = {}
    _crash_and_reboot(tmp_path, n, _workload(synced), synced)


def test_does_the_uncrashed_workload_write_more_than_the_sampled_crash_points(tmp_path: Path) -> None:
    s = unix()
    w0 = s.machine.disks[0].writes
    run(s, _workload({}))
    assert s.machine.disks[0].writes - w0 > 45  # so every sampled N crashes it midway
    shut(s)


OPS = file_ops(max_size=12)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS, n=st.integers(1, 60))
def test_do_random_operations_crashed_anywhere_leave_a_consistent_disk(tmp_path: Path, ops: list[Any],
                                                                       n: int) -> None:
    synced: dict[str, bytes] = {}
    _crash_and_reboot(tmp_path, n, file_ops_body(ops, synced), synced)


# ------------------------------------------------------------------ determinism


def test_does_the_same_run_give_the_same_clock_and_disk_trace() -> None:
    def once() -> tuple[Any, ...]:
        s = unix(seed=7)
        run(s, _workload({}))
        d = s.machine.disks[0].statistics()
        out = (s.machine.loop.now, d, s.kernel.fs.bio.statistics(), s.kernel.statistics().sleeps)
        shut(s)
        return out
    assert once() == once()


def test_is_a_file_call_enosys_without_a_disk() -> None:
    s = cast(UnixSystem, boot("unix"))
    assert run(s, lambda: errno_of(lambda: posix.open("/f"))) == "ENOSYS"
    assert s.shutdown() == {"frames": 0, "processes": 0, "threads": 0, "pipes": 0}


def test_does_the_superblock_round_trip() -> None:
    sb = uffs.geometry(342, 171)
    assert uffs.parse_super(sb.pack() + bytes(4096 - 40), 342) == sb
    assert struct.unpack_from("<I", sb.pack())[0] == 0x011954


def test_do_two_processes_share_the_file_system_and_a_forked_offset() -> None:
    s = unix()
    done: list[str] = []

    def worker(name: str) -> Callable[[list[str]], None]:
        def prog(argv: list[str]) -> None:
            for i in range(5):
                put(f"/{name}{i}", name.encode() * 3000, sync=True)  # sleeps on the disk, lock held
            done.append(name)
        return prog
    s.start(worker("a"), [], "a")
    s.start(worker("b"), [], "b")
    s.run(check=True)
    assert sorted(done) == ["a", "b"]

    def forked() -> Any:
        fd = posix.open("/shared", W)
        pid = posix.fork(lambda: posix.write(fd, b"child "))
        posix.wait(pid)
        posix.write(fd, b"parent")  # after the child's bytes: one offset, shared across fork
        posix.close(fd)
        return get("/shared"), sorted(posix.readdir("/"))
    data, names = run(s, forked)
    assert data == b"child parent"
    assert names == sorted([f"/{n}{i}"[1:] for n in "ab" for i in range(5)] + ["shared"])
    assert s.kernel.fs.bio.statistics().sync_writes > 20
    shut(s)
