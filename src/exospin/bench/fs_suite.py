"""The file-system suite (issue 18, item 6): small files, large files, and Cao's caching workloads.

Each row is a posix program run on a system booted with a disk (an HP 97560
cut to ``CYLINDERS`` cylinders, in an image file in a temporary directory, so
that a row can reboot onto a cold cache). The timed phase is measured inside
the program: simulated time from ``posix.time_us``, and ``ios``, the 4 KB
blocks the disk moved (sectors read plus written, / 8) during it, both per
operation (``ios`` is the row's figure, ``figures["ios"]`` in ``--json``,
shown beside ``sim µs``). Definitions:

=================  =============================================================
fs_create_small    create, write 1 KB into and close one file of ``SMALL``
fs_read_small      after a reboot (cold cache): open, read and close one of them
fs_delete_small    unlink one of them
fs_seq_write       write a ``BIG``-block file in 4 KB writes, then fsync: per block
fs_seq_read        after a reboot: read it in 4 KB reads, per block
fs_rand_read       4 KB reads at seeded random block offsets of it, per read
fs_rand_write      4 KB writes at seeded random block offsets, then fsync, per write
cao_scan_lru       a file 1.5 x the buffer cache scanned ``SCANS`` times (cscope,
                   dinero), per block read: under LRU every read misses
cao_join_lru       a join: per block of a cold relation (1.5 x the cache), one
                   block of a small hot index (``INDEX`` blocks), per block read
cao_pair_lru       the scan and the join at once, two processes, per block read
=================  =============================================================

Under unix every row runs with the kernel's fixed LRU cache: it takes no
hints (``fadvise`` is ignored), so there are no ``_app``/``_lrusp`` rows to
compare here. SPIN runs the same rows on its file system extension under the
cache's default LRU, and ``cao_scan_app``: the scan with the application's
MRU policy extension (spin/ext/cache_mru.py) installed in the kernel. Other systems add their runs to ``RUNNERS`` (system name ->
``runner(profile, quick) -> list[Result]``); ``posix_rows`` runs the same
programs on any system ``boot`` can give a disk and a file system.

``sim_us`` is exact (deterministic); ``wall_ns`` is our Python per operation,
one run (the disk's simulated milliseconds dominate these rows, so they have
no speed target).
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import posix
from ..machine import get_profile
from ..spin import extensions as spin_extensions
from ..systems import boot
from .harness import BenchmarkError, Result

#: cylinders of the benchmark disk (171 4-KB blocks each: room for two Cao files of 1.5 x the
#: largest cache, 230 buffers on the DEC 3000)
CYLINDERS = 6
#: small files per row (quick, full); 1 KB each
SMALL = (10, 40)
#: blocks of the large file (quick, full)
BIG = (64, 256)
#: random operations (quick, full)
RANDOM = (32, 128)
#: scans of the Cao scan file (quick, full)
SCANS = (2, 3)
#: blocks of the join's hot index
INDEX = 16
SEED = 18
BLOCK = 4096

Boot = Callable[[Path, bool], Any]


def _blocks(disk: Any) -> int:
    st = disk.statistics()
    return int((st.sectors_read + st.sectors_written) * disk.sector_bytes // BLOCK)


class _Run:
    """One system booted on an image, rebootable onto a cold cache."""

    def __init__(self, system: str, profile: str, image: Path, boot_fn: Boot) -> None:
        self.system, self.profile, self.image, self.boot_fn = system, profile, image, boot_fn
        self.s = boot_fn(image, True)

    def reboot(self) -> None:
        left = self.s.shutdown()
        if any(left.values()):
            raise BenchmarkError(f"fs: {self.system} leaked {left}")
        self.s = self.boot_fn(self.image, False)

    def untimed(self, body: Callable[[], Any]) -> None:
        def prog(argv: list[str]) -> None:
            body()
        self.s.start(prog, [], "setup")
        self.s.run(check=True)

    def timed(self, name: str, bodies: list[Callable[[], Any]], ops: int, **start: Any) -> Result:
        """Run ``bodies`` as processes at once; time from the first start to the last end.
        ``start``: options of the system's ``start`` (ExOS: ``cache=``, its buffer-cache manager)."""
        disk = self.s.machine.disks[0]
        marks: list[tuple[float, int]] = []

        def wrap(body: Callable[[], Any]) -> Callable[[list[str]], None]:
            def prog(argv: list[str]) -> None:
                marks.append((posix.time_us(), _blocks(disk)))
                body()
                marks.append((posix.time_us(), _blocks(disk)))
            return prog
        w0 = time.perf_counter_ns()
        for i, body in enumerate(bodies):
            self.s.start(wrap(body), [], f"{name}{i}", **start)
        self.s.run(check=True)
        wall = time.perf_counter_ns() - w0
        if len(marks) != 2 * len(bodies):
            raise BenchmarkError(f"{name}: a program did not finish on {self.system}")
        us = max(m[0] for m in marks) - min(m[0] for m in marks)
        ios = max(m[1] for m in marks) - min(m[1] for m in marks)
        hz = get_profile(self.profile).clock_hz
        return Result(name, self.system, us * hz / 1e6 / ops, us / ops, wall / ops, ops,
                      figures={"ios": round(ios / ops, 4)})


def _write(path: str, data: bytes, sync: bool = False) -> None:
    fd = posix.open(path, posix.O_WRONLY | posix.O_CREAT | posix.O_TRUNC)
    posix.write(fd, data)
    if sync:
        posix.fsync(fd)
    posix.close(fd)


def _read_blocks(path: str, blocks: list[int], advice: int | None = None) -> None:
    fd = posix.open(path)
    if advice is not None:  # the application's hint for the whole file (posix_fadvise)
        posix.fadvise(fd, advice)
    for b in blocks:
        posix.lseek(fd, b * BLOCK)
        if len(posix.read(fd, BLOCK)) != BLOCK:
            raise BenchmarkError(f"{path}: block {b} read short")
    posix.close(fd)


def posix_rows(system: str, profile: str, quick: bool, boot_fn: Boot, nbuf: int,
               app: dict[str, Any] | None = None) -> list[Result]:
    """Every row on ``system`` (booted by ``boot_fn(image, format)``), whose cache holds ``nbuf``
    blocks (the Cao files are 1.5 x that). ``app``: the ``start`` options under which the
    application's hints count (ExOS: ``{"cache": "lrusp"}``): then also ``cao_scan_app``,
    ``cao_join_app`` and ``cao_pair_lrusp``."""
    q = 0 if quick else 1
    small, big, nrand, scans = SMALL[q], BIG[q], RANDOM[q], SCANS[q]
    rng = random.Random(SEED)
    out: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="exospin-fs-") as tmp:
        def fresh(tag: str) -> _Run:
            return _Run(system, profile, Path(tmp) / f"{tag}.img", boot_fn)

        r = fresh("small")
        r.untimed(lambda: posix.mkdir("/s"))
        def create_small() -> None:
            for i in range(small):
                _write(f"/s/f{i}", b"s" * 1024)
        out.append(r.timed("fs_create_small", [create_small], small))
        r.reboot()

        def read_small() -> None:
            for i in range(small):
                fd = posix.open(f"/s/f{i}")
                if len(posix.read(fd, 2048)) != 1024:
                    raise BenchmarkError("fs_read_small: a file read short")
                posix.close(fd)
        out.append(r.timed("fs_read_small", [read_small], small))
        def delete_small() -> None:
            for i in range(small):
                posix.unlink(f"/s/f{i}")
        out.append(r.timed("fs_delete_small", [delete_small], small))
        r.s.shutdown()

        r = fresh("big")

        def seq_write() -> None:
            fd = posix.open("/big", posix.O_WRONLY | posix.O_CREAT)
            for i in range(big):
                posix.write(fd, bytes([i & 0xFF]) * BLOCK)
            posix.fsync(fd)
            posix.close(fd)
        out.append(r.timed("fs_seq_write", [seq_write], big))
        r.reboot()
        out.append(r.timed("fs_seq_read", [lambda: _read_blocks("/big", list(range(big)))], big))
        r.reboot()
        picks = [rng.randrange(big) for _ in range(nrand)]
        out.append(r.timed("fs_rand_read", [lambda: _read_blocks("/big", picks)], nrand))
        wpicks = [rng.randrange(big) for _ in range(nrand)]

        def rand_write() -> None:
            fd = posix.open("/big", posix.O_WRONLY)
            for b in wpicks:
                posix.lseek(fd, b * BLOCK)
                posix.write(fd, b"w" * BLOCK)
            posix.fsync(fd)
            posix.close(fd)
        out.append(r.timed("fs_rand_write", [rand_write], nrand))
        r.s.shutdown()

        # Cao, Felten and Li's workloads
        scan_blocks = nbuf * 3 // 2
        r = fresh("cao")
        def files() -> None:
            _write("/scan", b"c" * scan_blocks * BLOCK)
            _write("/index", b"i" * INDEX * BLOCK)
            _write("/rel", b"r" * scan_blocks * BLOCK)
        r.untimed(files)
        r.reboot()
        out.append(r.timed("cao_scan_lru", [lambda: _read_blocks("/scan", list(range(scan_blocks)) * scans)],
                           scan_blocks * scans))
        r.reboot()
        iprobe = [rng.randrange(INDEX) for _ in range(scan_blocks)]

        def join(hints: bool = False) -> None:
            rel = posix.open("/rel")
            idx = posix.open("/index")
            if hints:  # the relation is read once in order; the index is worth keeping
                posix.fadvise(rel, posix.FADV_SEQUENTIAL)
                posix.fadvise(idx, posix.FADV_NORMAL, priority=1)
            for i in range(scan_blocks):
                posix.read(rel, BLOCK)
                posix.lseek(idx, iprobe[i] * BLOCK)
                posix.read(idx, BLOCK)
            posix.close(rel)
            posix.close(idx)
        out.append(r.timed("cao_join_lru", [join], 2 * scan_blocks))
        r.reboot()
        out.append(r.timed("cao_pair_lru", [lambda: _read_blocks("/scan", list(range(scan_blocks)) * scans), join],
                           scan_blocks * scans + 2 * scan_blocks))
        if app is not None:  # the application's policy: hints, under the manager that takes them
            r.reboot()
            out.append(r.timed("cao_scan_app", [lambda: _read_blocks("/scan", list(range(scan_blocks)) * scans,
                                                                     posix.FADV_SEQUENTIAL)],
                               scan_blocks * scans, **app))
            r.reboot()
            out.append(r.timed("cao_join_app", [lambda: join(True)], 2 * scan_blocks, **app))
            r.reboot()
            # the scan gives its hint, the join gives none: LRU-SP keeps the scan's choice
            # from costing the join its blocks
            out.append(r.timed("cao_pair_lrusp", [lambda: _read_blocks("/scan", list(range(scan_blocks)) * scans,
                                                                       posix.FADV_SEQUENTIAL), join],
                               scan_blocks * scans + 2 * scan_blocks, **app))
        left = r.s.shutdown()
        if any(left.values()):
            raise BenchmarkError(f"fs: {system} leaked {left}")
    return out


def _unix(profile: str, quick: bool) -> list[Result]:
    def boot_fn(image: Path, fmt: bool) -> Any:
        return boot("unix", profile, disk=image, mkfs=fmt, disk_cylinders=CYLINDERS)
    probe = boot("unix", profile, disk=True, disk_cylinders=1)
    nbuf = probe.kernel.fs.bio.nbuf
    probe.shutdown()
    return posix_rows("unix", profile, quick, boot_fn, nbuf)


def _spin(profile: str, quick: bool) -> list[Result]:
    """SPIN's rows: the same programs on its file system extension (sfs.py), the cache under
    its default LRU; then ``cao_scan_app``: the scan with the application's MRU policy
    (cache_mru.py) loaded into the kernel, verified, before it runs."""
    def boot_fn(image: Path, fmt: bool) -> Any:
        return boot("spin", profile, disk=image, mkfs=fmt, disk_cylinders=CYLINDERS)
    probe = boot("spin", profile, disk=True, disk_cylinders=1)
    nbuf = probe.storage.nbuf
    probe.shutdown()
    out = posix_rows("spin", profile, quick, boot_fn, nbuf)
    scans, scan_blocks = SCANS[0 if quick else 1], nbuf * 3 // 2
    with tempfile.TemporaryDirectory(prefix="exospin-fs-") as tmp:
        r = _Run("spin", profile, Path(tmp) / "cao.img", boot_fn)
        r.untimed(lambda: _write("/scan", b"c" * scan_blocks * BLOCK))
        r.reboot()
        r.s.kernel.load(spin_extensions.source("cache_mru"), "cache_mru.py")
        out.append(r.timed("cao_scan_app", [lambda: _read_blocks("/scan", list(range(scan_blocks)) * scans)],
                           scan_blocks * scans))
        left = r.s.shutdown()
        if any(left.values()):
            raise BenchmarkError(f"fs: spin leaked {left}")
    return out


def _exos(profile: str, quick: bool) -> list[Result]:
    """ExOS' rows: the same programs on its library file system (exos/fs.py) over XN, every
    process under the shared cache's LRU manager; then the Cao rows with the application's
    hints under LRU-SP (``start(cache="lrusp")``): a SEQUENTIAL scan, a join whose index has
    the higher priority, and the pair in which only the scan gives a hint."""
    def boot_fn(image: Path, fmt: bool) -> Any:
        return boot("aegis", profile, disk=image, mkfs=fmt, disk_cylinders=CYLINDERS)
    probe = boot("aegis", profile, disk=True, disk_cylinders=1)
    nbuf = probe.exos.fs.blocks
    probe.shutdown()
    return posix_rows("aegis", profile, quick, boot_fn, nbuf, app={"cache": "lrusp"})


#: system -> runner(profile, quick): the systems with a file system add theirs here
RUNNERS: dict[str, Callable[[str, bool], list[Result]]] = {"unix": _unix, "spin": _spin, "aegis": _exos}


def run(profile: str, quick: bool = False, progress: Callable[[str], None] | None = None) -> list[Result]:
    out: list[Result] = []
    for system, runner in RUNNERS.items():
        if progress is not None:
            progress(f"{system}")
        out.extend(runner(profile, quick))
    return out
