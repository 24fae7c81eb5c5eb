"""SPIN's file system (spin/ext/sfs.py) and block cache (spin/storage.py): posix files as
extensions, the cache's replacement policy an application's extension, crash consistency."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exospin import posix
from exospin.spin import LinkError, extensions
from exospin.spin.sfs_check import check_image, fsck
from exospin.spin.storage import MountRefused
from exospin.systems import SpinSystem, boot
from files_common import W, errno_of, file_ops, file_ops_body, get, put, run

CLEAN = {"frames": 0, "address_spaces": 0, "strands": 0, "processes": 0, "frame_refs": 0, "segments": 0,
         "open_files": 0, "orphan_blocks": 0, "buffers": 0}


def spin(disk: Any = True, cylinders: int = 1, mkfs: bool | None = None) -> SpinSystem:
    return cast(SpinSystem, boot("spin", disk=disk, disk_cylinders=cylinders, mkfs=mkfs))






def shut(s: SpinSystem) -> None:
    assert s.shutdown() == CLEAN
    assert s.kernel.check_invariants() == []


# ------------------------------------------------------------------- the calls


def test_are_the_file_system_and_the_policy_verified_extensions() -> None:
    s = spin()
    assert "sfs" in [d.name for d in s.kernel.extensions]
    assert s.fs_domain is not None and s.fs_domain.budget is not None  # verified code, on a budget
    d = s.kernel.load(extensions.source("cache_mru"), "cache_mru.py")
    assert d in s.kernel.extensions
    shut(s)


SNOOP = '''
from spin import Cache

def install():
    Cache.read(0)
'''


def test_may_only_the_trusted_file_system_link_the_blocks_and_any_extension_the_policy() -> None:
    s = spin()
    with pytest.raises(LinkError, match="may not link against 'SpinStorage'"):
        s.kernel.load(SNOOP, "snoop.py")  # an application's extension reaching for disk blocks
    assert "snoop" not in [d.name for d in s.kernel.extensions]
    s.kernel.load(extensions.source("cache_mru"), "cache_mru.py")  # the policy interface: anyone
    shut(s)


def test_do_files_and_directories_survive_a_reboot_from_the_image(tmp_path: Path) -> None:
    img = tmp_path / "s.img"
    s = spin(img, cylinders=2)
    big = bytes(range(256)) * 300  # 76800 bytes: direct and indirect blocks

    def write() -> None:
        posix.mkdir("/d")
        put("/d/big", big)
        put("/small", b"x" * 10)
    run(s, write)
    shut(s)
    assert fsck(img) == [] and check_image(img).problems == []
    s = spin(img, cylinders=2)  # not blank: mounted, not formatted
    got = run(s, lambda: (posix.readdir("/"), posix.readdir("/d"), get("/d/big"), get("/small"),
                          posix.stat("/d/big")))
    assert got[:4] == (["d", "small"], ["big"], big, b"x" * 10)
    st_ = got[4]
    assert (st_.size, st_.is_dir, st_.nlink, st_.blocks, st_.block_size) == (76800, False, 1, 20, 4096)
    shut(s)


def test_do_append_truncate_lseek_and_holes_behave_as_posix_says() -> None:
    s = spin()

    def body() -> Any:
        fd = posix.open("/f", posix.O_RDWR | posix.O_CREAT)
        posix.write(fd, b"abc")
        posix.lseek(fd, 8192 + 5)
        posix.write(fd, b"z")
        end = posix.lseek(fd, 0, posix.SEEK_END)
        posix.lseek(fd, 0)
        data = posix.read(fd, 100_000)
        posix.close(fd)
        fd = posix.open("/f", posix.O_WRONLY | posix.O_APPEND)
        posix.write(fd, b"!")
        posix.close(fd)
        size = posix.stat("/f").size
        fd = posix.open("/f", posix.O_WRONLY | posix.O_TRUNC)
        posix.close(fd)
        return end, data, size, posix.stat("/f").size, posix.stat("/f").blocks
    end, data, size, after, blocks = run(s, body)
    assert end == 8198 and data == b"abc" + bytes(8192 + 2) + b"z" and size == 8199
    assert after == 0 and blocks == 0
    shut(s)


def test_does_rename_replace_a_file_and_move_a_directory() -> None:
    s = spin()

    def body() -> Any:
        put("/a", b"A")
        put("/b", b"B")
        posix.rename("/a", "/b")
        posix.mkdir("/d")
        posix.mkdir("/e")
        put("/d/x", b"X")
        posix.rename("/d", "/e/d")
        return posix.readdir("/"), get("/b"), posix.readdir("/e/d"), errno_of(lambda: posix.rename("/e", "/e/d/f"))
    assert run(s, body) == (["b", "e"], b"A", ["x"], "EINVAL")
    shut(s)


def test_does_an_unlinked_open_file_live_until_its_last_close() -> None:
    s = spin()

    def body() -> Any:
        put("/f", b"data" * 2000)
        fd = posix.open("/f")
        posix.unlink("/f")
        gone = errno_of(lambda: posix.stat("/f"))
        data = posix.read(fd, 100_000)
        held = s._fs("held")["orphan_blocks"]
        posix.close(fd)
        return gone, data, held, s._fs("held")["orphan_blocks"]
    gone, data, held, after = run(s, body)
    assert gone == "ENOENT" and data == b"data" * 2000 and held == 3 and after == 0
    shut(s)


def test_does_each_bad_call_get_its_errno_and_change_nothing(tmp_path: Path) -> None:
    img = tmp_path / "e.img"
    s = spin(img)

    def body() -> Any:
        posix.mkdir("/d")
        put("/d/f", b"f")
        put("/g", b"g")
        return {
            "ENOENT": errno_of(lambda: posix.open("/nope")),
            "ENOENT2": errno_of(lambda: posix.unlink("/d/nope")),
            "ENOTDIR": errno_of(lambda: posix.open("/g/x", W)),
            "ENOTDIR2": errno_of(lambda: posix.rmdir("/g")),
            "EISDIR": errno_of(lambda: posix.open("/d", posix.O_WRONLY)),
            "EISDIR2": errno_of(lambda: posix.unlink("/d")),
            "ENOTEMPTY": errno_of(lambda: posix.rmdir("/d")),
            "EEXIST": errno_of(lambda: posix.open("/g", W | posix.O_EXCL)),
            "EEXIST2": errno_of(lambda: posix.mkdir("/d")),
            "EEXIST3": errno_of(lambda: posix.rename("/g", "/d")),
            "EINVAL": errno_of(lambda: posix.open("relative")),
            "EINVAL2": errno_of(lambda: posix.open("/g", 0o7777777)),
            "EINVAL3": errno_of(lambda: posix.lseek(posix.open("/g"), -1)),
            "ENAMETOOLONG": errno_of(lambda: posix.open("/" + "n" * 256, W)),
            "EBADF": errno_of(lambda: posix.fsync(99)),
            "EBADF2": errno_of(lambda: posix.read(posix.open("/g", posix.O_WRONLY), 1)),
            "EINVAL4": errno_of(lambda: posix.fadvise(posix.open("/g"), 9)),
            "listing": (posix.readdir("/"), posix.readdir("/d"), get("/d/f"), get("/g")),
        }
    got = run(s, body)
    listing = got.pop("listing")
    assert {k: v for k, v in got.items()} == {k: k.rstrip("234") for k in got}
    assert listing == (["d", "g"], ["f"], b"f", b"g")
    shut(s)
    assert check_image(img).problems == []


def test_is_a_full_disk_enospc_with_nothing_changed(tmp_path: Path) -> None:
    img = tmp_path / "full.img"
    s = spin(img)

    def body() -> Any:
        put("/keep", b"k" * 100)
        fd = posix.open("/big", W)
        n = 0
        while True:
            try:
                n += posix.write(fd, b"b" * 65536)
            except posix.PosixError as e:
                err = e.errno
                break
        posix.close(fd)
        create = errno_of(lambda: [posix.close(posix.open(f"/f{i}", W)) for i in range(200)])
        return err, n, create, get("/keep"), posix.stat("/big").size == n
    err, n, create, keep, sized = run(s, body)
    assert err == "ENOSPC" and n > 0 and create == "ENOSPC" and keep == b"k" * 100 and sized
    shut(s)
    assert fsck(img) == []


def test_are_too_many_open_files_emfile_and_nothing_leaks() -> None:
    s = spin()

    def body() -> Any:
        put("/f", b"f")
        fds = []
        try:
            while True:
                fds.append(posix.open("/f"))
        except posix.PosixError as e:
            err = e.errno
        n = len(fds)
        for fd in fds[:3]:
            posix.close(fd)
        return err, n  # the rest are closed when the process exits
    err, n = run(s, body)
    assert err == "EMFILE" and n == 64
    shut(s)


def test_do_forked_processes_share_a_file_and_its_offset() -> None:
    s = spin()

    def body() -> Any:
        fd = posix.open("/f", posix.O_RDWR | posix.O_CREAT)
        posix.write(fd, b"parent ")

        def child() -> int:
            posix.write(fd, b"child ")
            posix.close(fd)
            return 0
        pid = posix.fork(child)
        posix.wait(pid)
        posix.write(fd, b"end")
        posix.close(fd)
        return get("/f")
    assert run(s, body) == b"parent child end"
    shut(s)


def test_does_a_strand_sleep_on_the_disk_while_another_process_runs(tmp_path: Path) -> None:
    img = tmp_path / "w.img"
    s = spin(img)
    run(s, lambda: put("/f", b"f" * 40_000))
    shut(s)
    s = spin(img)  # a cold cache
    ticks: list[float] = []

    def reader() -> bytes:
        return get("/f")

    def counter() -> None:
        for _ in range(200):
            ticks.append(posix.time_us())
            posix.thread_yield()

    def body() -> Any:
        pid = posix.fork(counter)
        t0 = posix.time_us()
        data = reader()
        t1 = posix.time_us()
        posix.wait(pid)
        return data, t0, t1
    b0, r0 = s.kernel.sched.statistics().blocks, s.storage.statistics().reads  # mount's reads idled
    data, t0, t1 = run(s, body)
    reads = s.storage.statistics().reads - r0
    assert data == b"f" * 40_000 and reads >= 10
    assert s.kernel.sched.statistics().blocks - b0 >= reads  # one sleep per disk read, no spinning
    assert sum(1 for t in ticks if t0 < t < t1) > 0  # the other process ran meanwhile
    shut(s)


def test_is_a_file_call_enosys_without_a_disk() -> None:
    s = cast(SpinSystem, boot("spin"))
    assert run(s, lambda: errno_of(lambda: posix.open("/f"))) == "ENOSYS"
    s.shutdown()


# ------------------------------------------------------------------ mounting


def test_are_foreign_corrupt_and_blank_images_refused_untouched(tmp_path: Path) -> None:
    img = tmp_path / "good.img"
    s = spin(img)
    run(s, lambda: put("/f", b"f"))
    shut(s)
    good = img.read_bytes()
    foreign = tmp_path / "foreign.img"
    foreign.write_bytes(bytes([7]) * len(good))
    with pytest.raises(MountRefused, match="does not hold a SPIN file system"):
        spin(foreign)
    assert foreign.read_bytes() == bytes([7]) * len(good)  # never reformatted
    corrupt = tmp_path / "corrupt.img"
    corrupt.write_bytes(good[:8] + (5).to_bytes(4, "little") + good[12:])
    with pytest.raises(MountRefused, match="corrupt superblock: 5 blocks"):
        spin(corrupt)
    assert corrupt.read_bytes()[8:12] == (5).to_bytes(4, "little")
    noroot = tmp_path / "noroot.img"
    noroot.write_bytes(good[:2 * 4096 + 64] + bytes(2) + good[2 * 4096 + 66:])
    with pytest.raises(MountRefused, match="inode 1 is not a directory"):
        spin(noroot)
    with pytest.raises(MountRefused, match="does not hold"):
        spin(True, mkfs=False)  # a blank disk, told not to format
    unix_img = tmp_path / "unix.img"
    boot("unix", disk=unix_img, disk_cylinders=1).shutdown()
    with pytest.raises(MountRefused, match="does not hold a SPIN file system"):
        spin(unix_img)
    assert fsck(corrupt) != [] and fsck(foreign) == ["bad_super: no SPINSFS1 superblock"]


def test_does_fsck_report_each_kind_of_inconsistency(tmp_path: Path) -> None:
    img = tmp_path / "k.img"
    s = spin(img)
    run(s, lambda: (posix.mkdir("/d"), put("/d/f", b"f" * 5000)))
    shut(s)
    good = bytearray(img.read_bytes())
    # inode 3 (/d/f) is in block 2 at 3 * 64; its first direct pointer at +8
    blk = int.from_bytes(good[2 * 4096 + 3 * 64 + 8:][:4], "little")
    bad = bytearray(good)
    bad[1 * 4096 + blk // 8] &= 255 - (1 << (blk % 8))  # its block free in the bitmap
    img.write_bytes(bad)
    assert any(e.startswith("free_claimed") for e in fsck(img))
    bad = bytearray(good)
    bad[2 * 4096 + 3 * 64 + 8:][:4] = (9999).to_bytes(4, "little")
    bad[2 * 4096 + 3 * 64 + 8: 2 * 4096 + 3 * 64 + 12] = (9999).to_bytes(4, "little")
    img.write_bytes(bad)
    assert any(e.startswith("bad_pointer") for e in fsck(img))
    bad = bytearray(good)
    bad[2 * 4096 + 3 * 64: 2 * 4096 + 3 * 64 + 2] = bytes(2)  # the inode freed, its name still there
    img.write_bytes(bad)
    assert any(e.startswith("dangling") for e in fsck(img))
    bad = bytearray(good)
    bad[2 * 4096 + 4 * 64: 2 * 4096 + 4 * 64 + 4] = bytes([1, 0, 1, 0])  # an unnamed inode: benign
    img.write_bytes(bad)
    rep = check_image(img)
    assert rep.errors == [] and [p.kind for p in rep.problems] == ["unreferenced"]


# ------------------------------------------------------------------ crashes


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
        posix.unlink("/d/f5")
    return body


def _crash_and_reboot(tmp_path: Path, n: int, body: Callable[[], None], synced: dict[str, bytes]) -> None:
    img = tmp_path / f"crash{n}.img"
    img.unlink(missing_ok=True)
    s = spin(img)  # formatted before the doom counter starts
    s.machine.disks[0].fail_after_writes(n)
    run(s, body, check=False)
    assert s.kernel.unloaded == []  # the program got EIO; no extension failed
    assert all("EIO" in (f.reason or "") for f in s.failures()), s.failures()
    s.shutdown()  # the disk has stopped: nothing more reaches it
    s.machine.disks[0].close()
    rep = check_image(img)
    assert rep.errors == [], (n, [p.text for p in rep.errors])  # at most leaks
    s = spin(img, mkfs=False)
    got = run(s, lambda: {p: get(p) for p in synced})
    assert got == synced, n  # every file fsync'ed before the crash, whole
    shut(s)


@pytest.mark.parametrize("n", [1, 3, 6, 10, 15, 22, 30, 45])
def test_is_the_disk_consistent_after_a_crash_at_the_nth_write(tmp_path: Path, n: int) -> None:
    synced: dict[str, bytes] = {}
    _crash_and_reboot(tmp_path, n, _workload(synced), synced)


def test_does_the_uncrashed_workload_write_more_than_the_sampled_crash_points() -> None:
    s = spin()
    w0 = s.storage.statistics().writes
    run(s, _workload({}))
    assert s.storage.statistics().writes - w0 > 45  # so every sampled N crashes it midway
    shut(s)


OPS = file_ops(max_size=10)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS, n=st.integers(1, 50))
def test_do_random_operations_crashed_anywhere_leave_a_consistent_disk(tmp_path: Path, ops: list[Any],
                                                                       n: int) -> None:
    synced: dict[str, bytes] = {}
    _crash_and_reboot(tmp_path, n, file_ops_body(ops, synced), synced)


# ------------------------------------------------------------------ the policy


SCAN_BLOCKS = 40  # a file of 40 blocks, scanned through a cache of 32 buffers


def _scan(s: SpinSystem, passes: int = 3) -> tuple[int, bytes]:
    data = bytes(range(256)) * (16 * SCAN_BLOCKS)

    def body() -> bytes:
        put("/scan", data, sync=True)
        out = b""
        for _ in range(passes):
            fd = posix.open("/scan")
            out = b""
            while chunk := posix.read(fd, 4096):
                out += chunk
            posix.close(fd)
        return out
    r0 = s.storage.statistics().reads
    got = run(s, body)
    return s.storage.statistics().reads - r0, got


def test_does_an_installed_mru_policy_cut_the_reads_of_a_repeated_scan() -> None:
    lru = spin(cylinders=2)
    lru_reads, lru_data = _scan(lru)
    shut(lru)
    mru = spin(cylinders=2)
    d = mru.kernel.load(extensions.source("cache_mru"), "cache_mru.py")
    mru_reads, mru_data = _scan(mru)
    decisions = next(iter(d.exports.values()))["statistics"]()["decisions"]
    shut(mru)
    assert lru_data == mru_data == bytes(range(256)) * (16 * SCAN_BLOCKS)
    assert lru_reads >= 2 * SCAN_BLOCKS  # LRU misses every block on every later pass
    assert mru_reads < lru_reads // 2 and decisions > 0


LOOPING = '''
from spin import CachePolicy

def choose(candidates, owners):
    while True:
        pass

def install():
    CachePolicy.install(choose)
'''

RAISING = '''
from spin import CachePolicy

def choose(candidates, owners):
    return candidates[len(candidates) + 5]

def install():
    CachePolicy.install(choose)
'''

LYING = '''
from spin import CachePolicy

def choose(candidates, owners):
    return 0

def install():
    CachePolicy.install(choose)
'''


@pytest.mark.parametrize("source,gone", [(LOOPING, True), (RAISING, True), (LYING, False)])
def test_is_a_broken_policy_terminated_and_the_cache_back_on_lru_with_nothing_lost(source: str,
                                                                                  gone: bool) -> None:
    s = spin(cylinders=2)
    d = s.kernel.load(source, "policy.py")
    reads, data = _scan(s, passes=2)
    assert data == bytes(range(256)) * (16 * SCAN_BLOCKS)
    st_ = s.storage.statistics()
    assert (d not in s.kernel.extensions) == gone
    if gone:
        assert any("policy" in name for name, _ in s.kernel.unloaded)
    else:
        assert st_.policy_refused > 0  # block 0 (the superblock) is held by nobody: not a candidate
    ref = spin(cylinders=2)
    ref_reads, _ = _scan(ref, passes=2)
    assert reads == ref_reads  # LRU's choices, exactly
    shut(ref)
    shut(s)


def test_does_the_same_run_give_the_same_clock_and_io() -> None:
    def once() -> tuple[Any, ...]:
        s = spin()
        run(s, _workload({}))
        t = s.machine.loop.now
        st_ = s.storage.statistics()
        s.shutdown()
        return t, st_
    assert once() == once()
