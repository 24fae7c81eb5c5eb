"""A database on the file system: SQLite's table scans mixed with indexed lookups (issue 19, item 3).

What this is
    Two posix programs over one SQLite database kept in the system's file
    system through apps/sqlite_vfs.py (every page SQLite reads or writes is a
    posix call on the simulated disk):

    * ``builder(path, rows, out)`` creates table ``t(id INTEGER PRIMARY KEY,
      k INTEGER, pad TEXT)`` with ``rows`` rows (``k`` a permutation of
      ``0 .. rows-1``, ``pad`` 96 bytes), then the index ``t_k`` on ``k``
      (created after the rows, so the table's pages and the index's each lie
      together in the file, as a bulk load leaves them), in 4 KB pages. It
      records in ``out["leaves"]`` the table's leaf pages in key order (from
      SQLite's ``dbstat``): the database's knowledge of its own layout, which
      its buffer policy uses to prefetch a scan.
    * ``workload(path, rounds, lookups, hints, out, mark)`` opens the database
      with SQLite's own page cache at ``SQLITE_CACHE_PAGES`` pages, so that
      the buffer pool is the file system's cache whose policy is the
      experiment, and runs ``rounds`` rounds of one full table scan (an
      aggregate over every row: ``WHERE k % m = r``) followed by ``lookups``
      indexed lookups (``SELECT id, pad FROM t WHERE k = ?``, keys from a
      seeded generator: the index's pages, then one table leaf per row). With
      :class:`ScanFirst` hints it announces each scan (the VFS prefetches its
      leaves) and lets the VFS mark table leaves replace-first. ``mark(what)``
      is called at the timed phase's start and end (the suite reads the
      disk's statistics there; the program itself uses only posix).

    Figures written to ``out``: ``us`` (simulated time of the timed phase),
    ``queries``, ``scans``, ``lookups``, ``digest`` (SHA-256 of every
    query's rows, in order, as hex: the same on every system or something is
    wrong) and ``advised`` (the hints the VFS gave).

Interface
    ``builder``, ``workload``, ``SQLITE_CACHE_PAGES``, ``PAGE_SIZE``, ``digest_int``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from .. import posix
from .sqlite_vfs import NoHints, PosixVFS, connect

#: SQLite's page, the file systems' 4 KB block on the DECstation (two to a block on the Alpha's 8 KB pages under ExOS)
PAGE_SIZE = 4096
#: SQLite's own page cache in the timed phase, pages: small, so the file system's cache is the
#: buffer pool (the one policy here is that cache's); SQLite keeps at least 10 pages for itself
SQLITE_CACHE_PAGES = 10
#: the build's SQLite cache (KiB, SQLite's negative cache_size): the whole database, so the build
#: writes each page about once, at its commit
BUILD_CACHE_KIB = 4000
_PRIME = 7919  # k = i * 7919 mod rows: a permutation when rows is not a multiple of 7919
_A, _C, _M = 1103515245, 12345, 1 << 31  # the C library's rand(), for the lookups' keys

_vfs_count = 0


def _vfs(hints: NoHints | None) -> PosixVFS:
    global _vfs_count
    _vfs_count += 1
    return PosixVFS(f"exospin-{_vfs_count}", hints)


def _pad(i: int) -> str:
    return f"{i:08d}" * 12


def builder(path: str, rows: int, out: dict[str, Any]) -> Callable[[list[str]], int]:
    """The program that creates the database at ``path`` (module docstring)."""
    if type(rows) is not int or not 2 <= rows < _PRIME * 1000 or rows % _PRIME == 0:
        raise ValueError(f"rows must be an int of at least 2, not a multiple of {_PRIME} (not {rows!r})")

    def main(argv: list[str]) -> int:
        vfs = _vfs(None)
        try:
            db = connect(path, vfs)
            try:
                db.execute(f"PRAGMA page_size = {PAGE_SIZE}; PRAGMA journal_mode = DELETE; "
                           f"PRAGMA cache_size = -{BUILD_CACHE_KIB}")
                db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER NOT NULL, pad TEXT NOT NULL)")
                with db:
                    db.executemany("INSERT INTO t VALUES (?, ?, ?)",
                                   ((i, (i * _PRIME) % rows, _pad(i)) for i in range(1, rows + 1)))
                db.execute("CREATE INDEX t_k ON t(k)")
                out["leaves"] = [p for (p,) in db.execute(
                    "SELECT pageno FROM dbstat WHERE name = 't' AND pagetype = 'leaf' ORDER BY path")]
                out["pages"] = db.execute("PRAGMA page_count").fetchall()[0][0]
                out["index_pages"] = db.execute("SELECT count(*) FROM dbstat WHERE name = 't_k'").fetchall()[0][0]
            finally:
                db.close()
        finally:
            vfs.unregister()
        return 0
    return main


def workload(path: str, rounds: int, lookups: int, hints: NoHints, out: dict[str, Any],
             mark: Callable[[str], None] | None = None, rows: int | None = None,
             leaves: list[int] | None = None, seed: int = 19) -> Callable[[list[str]], int]:
    """The timed program over the database ``builder`` made (module docstring); ``rows`` and
    ``leaves`` are what the builder recorded (the keys' range, the scan's leaf order)."""
    for what, v in (("rounds", rounds), ("lookups", lookups)):
        if type(v) is not int or v < 0:
            raise ValueError(f"{what} must be a non-negative int, not {v!r}")
    if rows is None or leaves is None:
        raise ValueError("workload needs the builder's rows and leaves")

    def main(argv: list[str]) -> int:
        vfs = _vfs(hints)
        h = hashlib.sha256()
        queries = 0
        x = seed
        try:
            db = connect(path, vfs, create=False)
            try:
                db.execute(f"PRAGMA cache_size = {SQLITE_CACHE_PAGES}; PRAGMA locking_mode = EXCLUSIVE")
                if mark is not None:
                    mark("start")
                t0 = posix.time_us()
                for r in range(rounds):
                    hints.begin_scan(leaves)
                    got = db.execute("SELECT count(*), sum(k), max(pad) FROM t WHERE k % ? = ?",
                                     (7 + r, r)).fetchall()
                    hints.end_scan()
                    h.update(repr(got).encode())
                    queries += 1
                    for _ in range(lookups):
                        x = (_A * x + _C) % _M
                        got = db.execute("SELECT id, pad FROM t WHERE k = ?", (x % rows,)).fetchall()
                        h.update(repr(got).encode())
                        queries += 1
                t1 = posix.time_us()
                if mark is not None:
                    mark("end")
            finally:
                db.close()
        finally:
            vfs.unregister()
        out.update(us=t1 - t0, queries=queries, scans=rounds, lookups=rounds * lookups, digest=h.hexdigest(),
                   advised=dict(getattr(hints, "advised", {})))
        return 0
    return main


def digest_int(digest: str) -> int:
    """A hex digest's first 48 bits as an int: exact in JSON (a ``figures`` number)."""
    return int(digest[:12], 16)


__all__ = ["BUILD_CACHE_KIB", "PAGE_SIZE", "SQLITE_CACHE_PAGES", "builder", "digest_int", "workload"]
