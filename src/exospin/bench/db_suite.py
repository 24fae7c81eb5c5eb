"""A database on the file system (issue 19, item 3): SQLite's scans and lookups, LRU against the database's policy.

What it measures
    On every system with a file system, SQLite (apps/sqlite_vfs.py, apps/db.py)
    keeps a database of ``ROWS`` rows with an index in the system's files on a
    ``CYLINDERS``-cylinder HP 97560 in an image file. The database is built
    (untimed), the system rebooted onto a cold cache, and the timed phase runs:
    ``rounds`` rounds of a full table scan followed by ``lookups`` indexed
    lookups. Two rows per system:

    ==================  =========================================================
    sqlite_mixed_lru    the database gives no hints: the file system's own policy
    sqlite_mixed_app    the database's policy (``ScanFirst``): table leaves
                        replaced first, index pages kept, the scan prefetched;
                        started with the system's hint-taking cache (``START``)
    ==================  =========================================================

    One operation is the whole timed phase: ``sim_us`` its simulated time,
    ``wall_ns`` our Python for it (one run: noisy). ``figures``: ``ios`` (4 KB
    blocks the disk moved, sectors read plus written / 8), ``reads`` and
    ``writes`` (of them), ``queries``, ``result_digest`` (the first 48 bits of
    the SHA-256 of every query's rows, in order). Every row's digest must be
    the same on every system and policy (``BenchmarkError`` otherwise), every
    process must exit 0, and nothing may be left behind at shutdown.

    unix takes no hints (BSD's cache), so its ``_app`` row is the same I/O as
    its ``_lru`` row: the database asks, the kernel ignores. A system whose
    ``posix.open`` says ENOSYS (no file system yet) is skipped, and said so
    on stderr, through ``progress`` and in ``skipped()``.

    The database is sized against the caches: its table (325 leaves of 4 KB)
    is 2.6 times unix's buffer cache on the DECstation (127 buffers) and 1.4
    times on the DEC 3000 (230), its index (31 pages) fits in either. SQLite's
    own cache is 10 pages (apps/db.py), so the file system's cache is the
    buffer pool.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import posix
from ..apps.db import builder, digest_int, workload
from ..apps.sqlite_vfs import HINTS
from ..machine import get_profile
from ..systems import boot
from .harness import BenchmarkError, Result

SYSTEMS = ("aegis", "spin", "unix")
#: rows of the table (quick and full alike: the table must exceed every cache in both)
ROWS = 12000
#: (rounds, lookups per round): quick, full
MIX = ((2, 25), (4, 100))
#: cylinders of the disk (171 4-KB blocks each): the database is 358 pages
CYLINDERS = 6
#: system -> policy -> keyword arguments of ``System.start`` that choose the cache the policy needs
#: (ExOS: its LRU-SP manager, the one that takes hints: exos/bufcache/); none means the default
START: dict[str, dict[str, dict[str, Any]]] = {"aegis": {"app": {"cache": "lrusp"}}}
#: the simulated time past which a run is stuck (the full mix needs about 40 s)
SIM_LIMIT_US = 600_000_000.0

_skipped: list[str] = []


def skipped() -> list[str]:
    """The systems the last ``run`` skipped, each with its reason."""
    return list(_skipped)


def _blocks(disk: Any) -> tuple[int, int]:
    st = disk.statistics()
    per = 4096 // disk.sector_bytes
    return st.sectors_read // per, st.sectors_written // per


def _marker(marks: list[tuple[int, int]], disk: Any) -> Callable[[str], None]:
    """The workload's ``mark``: the disk's blocks read and written so far, into ``marks``."""
    def mark(what: str) -> None:
        marks.append(_blocks(disk))
    return mark


def _check_shutdown(s: Any, what: str) -> None:
    left = s.shutdown()
    if any(left.values()):
        raise BenchmarkError(f"db: {what} left behind {left}")


def _has_files(s: Any) -> str | None:
    """None if posix.open works on ``s``; else why not (ENOSYS's message)."""
    why: list[str] = []

    def probe(argv: list[str]) -> int:
        try:
            posix.close(posix.open("/.probe", posix.O_CREAT | posix.O_RDWR))
            posix.unlink("/.probe")
        except posix.PosixError as e:
            if e.errno != "ENOSYS":
                raise
            why.append(str(e))
        return 0
    s.start(probe, [], "probe")
    s.run(check=True)
    return why[0] if why else None


def system_rows(system: str, profile: str, quick: bool) -> tuple[list[Result], str | None]:
    """Both rows on ``system``; ([], reason) if it has no file system."""
    rounds, lookups = MIX[0 if quick else 1]
    hz = get_profile(profile).clock_hz
    out: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="exospin-db-") as tmp:
        image = Path(tmp) / f"{system}.img"
        s = boot(system, profile, disk=image, mkfs=True, disk_cylinders=CYLINDERS)
        why = _has_files(s)
        if why is not None:
            _check_shutdown(s, f"{system}'s probe")
            return [], why
        built: dict[str, Any] = {}
        s.start(builder("/db", ROWS, built), [], "build")
        s.run(check=True)
        _check_shutdown(s, f"the build on {system}")
        for policy in HINTS:
            s = boot(system, profile, disk=image, mkfs=False, disk_cylinders=CYLINDERS)
            disk = s.machine.disks[0]
            marks: list[tuple[int, int]] = []
            res: dict[str, Any] = {}
            prog = workload("/db", rounds, lookups, HINTS[policy](), res, _marker(marks, disk), ROWS,
                            built["leaves"])
            w0 = time.perf_counter_ns()
            pid = s.start(prog, [], f"sqlite_{policy}", **START.get(system, {}).get(policy, {}))
            s.run(until_us=SIM_LIMIT_US, check=True)
            wall = time.perf_counter_ns() - w0
            name = f"sqlite_mixed_{policy}"
            if s.exit_status(pid) != 0 or len(marks) != 2:
                raise BenchmarkError(f"{name} on {system}: the workload did not finish "
                                     f"(exit status {s.exit_status(pid)})")
            _check_shutdown(s, f"{name} on {system}")
            reads, writes = (marks[1][i] - marks[0][i] for i in range(2))
            us = float(res["us"])
            out.append(Result(name, system, us * hz / 1e6, us, float(wall), 1, figures={
                "ios": reads + writes, "reads": reads, "writes": writes, "queries": res["queries"],
                "result_digest": digest_int(res["digest"])}))
    return out, None


def check_digests(results: list[Result]) -> None:
    """Every row's query results must be the same: BenchmarkError naming the rows that differ."""
    seen: dict[float | int, list[str]] = {}
    for r in results:
        assert r.figures is not None
        seen.setdefault(r.figures["result_digest"], []).append(f"{r.benchmark} on {r.system}")
    if len(seen) > 1:
        raise BenchmarkError("db: the query results differ between runs: "
                             + "; ".join(f"{d:012x}: {', '.join(rows)}" for d, rows in seen.items()))


def run(profile: str, quick: bool = False, progress: Callable[[str], None] | None = None) -> list[Result]:
    results: list[Result] = []
    _skipped.clear()
    for system in SYSTEMS:
        if progress is not None:
            progress(system)
        rows, why = system_rows(system, profile, quick)
        if why is not None:
            _skipped.append(f"{system}: {why}")
            note = f"{system} skipped: no file system (posix.open: ENOSYS)"
            print(f"bench db on {profile}: {note}", file=sys.stderr, flush=True)  # the table just lacks its rows
            if progress is not None:
                progress(note)
        results.extend(rows)
    if not results:
        raise BenchmarkError("db: no system has a file system to run the database on")
    check_digests(results)
    return results
