"""ExOS' buffer cache (exos/bufcache/): the application's replacement policy, LRU-SP's protection.

A small shared cache (``system.exos.fs.cache.blocks``) and files of a few
blocks on a one-cylinder disk; a process's misses are the blocks it had to
bring in (``SharedCache.misses_by``), each a disk read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from exospin import posix as P
from exospin.exos.bufcache import SharedCache
from exospin.systems import System, boot
from helpers import assert_no_leaks

BLOCK = 4096


def system(blocks: int, protect: bool = True) -> System:
    s = boot("aegis", disk=True, disk_cylinders=1)
    s.exos.fs.cache = SharedCache(blocks, protect)
    return s


def start(s: System, prog: Callable[[], Any], cache: str = "lru") -> tuple[int, dict[str, Any]]:
    out: dict[str, Any] = {}

    def main(argv: list[str]) -> int:
        out["result"] = prog()
        return 0

    return s.start(main, cache=cache), out


def make(s: System, files: dict[str, int]) -> None:
    def prog() -> None:
        for path, nblocks in files.items():
            fd = P.open(path, P.O_CREAT | P.O_WRONLY)
            for i in range(nblocks):
                P.write(fd, bytes([i % 256]) * BLOCK)
            P.close(fd)
    start(s, prog)
    s.run(check=True)


def scan(path: str, passes: int, hint: bool = False) -> Callable[[], None]:
    def prog() -> None:
        fd = P.open(path)
        if hint:
            P.fadvise(fd, P.FADV_SEQUENTIAL)
        for _ in range(passes):
            P.lseek(fd, 0)
            while P.read(fd, BLOCK):
                pass
        P.close(fd)
    return prog


def misses(policy: str, prog: Callable[[], None], blocks: int = 8, hint: bool = False) -> int:
    s = system(blocks)
    make(s, {"/big": 12})
    pid, _ = start(s, prog, policy)
    s.run(check=True)
    assert_no_leaks(s)
    return s.exos.fs.cache.misses_by[pid]


def test_does_mru_beat_lru_on_a_scan_larger_than_the_cache() -> None:
    lru = misses("lru", scan("/big", 4))
    mru = misses("mru", scan("/big", 4))
    hinted = misses("lrusp", scan("/big", 4, hint=True))
    assert lru >= 4 * 12  # LRU replaces each block just before it is read again: every read misses
    assert mru < 0.75 * lru and hinted < 0.75 * lru  # MRU, or the SEQUENTIAL hint, keeps most of the file


def join(hint: bool) -> Callable[[], None]:
    """A small hot index (4 blocks) probed once for every block of a large cold relation
    (12 blocks, read twice), as a join does."""
    def prog() -> None:
        idx, rel = P.open("/index"), P.open("/relation")
        if hint:
            P.fadvise(idx, P.FADV_NORMAL, priority=1)  # keep the index: the relation goes first
            P.fadvise(rel, P.FADV_SEQUENTIAL)
        probe = 0
        for _ in range(2):
            P.lseek(rel, 0)
            while P.read(rel, BLOCK):
                P.lseek(idx, (probe % 4) * BLOCK)
                P.read(idx, BLOCK)
                probe += 1
        P.close(idx)
        P.close(rel)
    return prog


def test_do_priorities_keep_a_hot_index_cached_through_a_join() -> None:
    def run(policy: str, hint: bool) -> int:
        s = system(8)
        make(s, {"/index": 4, "/relation": 12})
        pid, _ = start(s, join(hint), policy)
        s.run(check=True)
        assert_no_leaks(s)
        return s.exos.fs.cache.misses_by[pid]
    lru, app = run("lru", False), run("lrusp", True)
    assert lru >= 2 * 12 + 20 and app < 0.7 * lru  # LRU misses the index at almost every probe; the hints keep it


def test_do_willneed_prefetch_and_dontneed_flush() -> None:
    s = system(16)
    make(s, {"/f": 4})
    xn = s.kernel.xn

    def prog() -> tuple[int, int, int]:
        fd = P.open("/f", P.O_RDWR)
        P.fadvise(fd, P.FADV_WILLNEED)
        before = xn.statistics().reads
        P.read(fd, 4 * BLOCK)  # all prefetched: no disk read
        during = xn.statistics().reads - before
        P.lseek(fd, 0)
        P.write(fd, b"new" * 1000)
        w = xn.statistics().writes
        P.fadvise(fd, P.FADV_DONTNEED, 0, BLOCK)  # the dirty first block goes to the disk now
        flushed = xn.statistics().writes - w
        P.close(fd)
        return during, flushed, len(s.exos.fs.cache.managers[P.getpid()].dontneed)

    _, out = start(s, prog, "lrusp")
    s.run(check=True)
    during, flushed, marked = out["result"]
    assert during == 0 and flushed == 1 and marked == 1
    assert_no_leaks(s)


class Pick:
    """A manager that gives up the block named in ``pick`` (or the proposed one)."""

    def __init__(self, pick: int | None = None) -> None:
        self.pick = pick
        self.blocks: set[int] = set()

    def add(self, block: int, file: Any) -> None:
        self.blocks.add(block)

    def remove(self, block: int) -> None:
        self.blocks.discard(block)

    def referenced(self, block: int) -> None:
        pass

    def choose(self, proposed: int) -> int:
        return self.pick if self.pick in self.blocks else proposed


@pytest.mark.parametrize("protect", [True, False])
def test_does_lru_sp_keep_one_processs_choices_from_hurting_another(protect: bool) -> None:
    """A owns the LRU block 1 and chooses its newer block 3 instead (a wrong choice: it wants
    3 again at once). Swapping puts 1 in 3's place, so B's blocks stand where LRU would have
    them; 3's placeholder then makes A's miss on 3 replace A's own block 1. Without the
    placeholder, that miss replaces the LRU block, B's 2: B pays for A's choice."""
    c = SharedCache(4, protect)
    a, b = Pick(3), Pick()
    c.join(1, a)
    c.join(2, b)
    for block, pid in ((1, 1), (2, 2), (3, 1), (4, 2)):
        c.insert(block, pid, "f", miss=True)
    assert c.victim(5) == 3  # A's manager chose 3, not the proposed 1
    c.remove(3)
    c.insert(5, 2, "g", miss=True)
    assert list(c.order) == [2, 1, 4, 5]  # swapped: as if A had given up 1 and B's order is LRU's
    a.pick = None
    victim = c.victim(3)  # A wants 3 back
    assert victim == (1 if protect else 2)
    assert c.statistics().swaps == 1 and c.statistics().placeholder_hits == (1 if protect else 0)


def test_is_an_unknown_cache_policy_refused_by_name() -> None:
    s = boot("aegis")
    with pytest.raises(ValueError, match="unknown buffer-cache policy 'fifo' \\(known: lru, mru, lrusp\\)"):
        s.start(lambda argv: 0, cache="fifo")
