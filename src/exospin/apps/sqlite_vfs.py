"""SQLite's file layer on ``exospin.posix``: an apsw VFS whose files are the system's files.

What this is
    SQLite (through apsw, a binding that lets Python supply SQLite's VFS,
    its operating-system layer) runs on the host; every byte it reads or
    writes goes through this module's VFS to ``posix.open``/``read``/
    ``write``/``lseek``/``fsync``/``unlink`` of the process the VFS method
    runs in, so the database, its rollback journal and its temporary files
    live in the simulated system's file system on the simulated disk. It is
    usable from inside any posix program on any system with a file system;
    SQLite's own computation is the host's and is not charged (below).

    Hints (the buffer policy the database asks for) are small classes
    behind one interface: :class:`NoHints` leaves the file system's own
    policy alone (LRU on every system today); :class:`ScanFirst` is the
    database's own (Stonebraker's argument: the database knows which pages
    a scan will not reuse). During a scan the application has announced
    (``begin_scan(leaves)``: the table's leaf pages in key order, which the
    database knows from its own layout), after reading a page whose b-tree
    header says *table leaf* (byte 0, or byte 100 on page 1, is 0x0d), it
    tells the file system ``FADV_DONTNEED`` for that page (replace it first:
    the scan does not come back to it), and it prefetches: ``FADV_WILLNEED``
    for the next ``PREFETCH`` leaves, a window at a time, contiguous pages in
    one call. Index pages (0x02/0x0a) and table interior pages (0x05) are
    kept by saying nothing about them; outside a scan (a lookup's index
    pages and its row) it says nothing at all. A system whose cache takes no hints (unix: BSD's cache) ignores
    them, so it runs LRU whatever the database says.

What is charged, and what is not
    Every posix call is the system's own: the trap, the argument checks, the
    copy of every byte, the buffer cache's work and the disk's time. SQLite's
    computation (parsing, the b-tree search, the VDBE) runs on the host CPU
    and is *not* charged: there is no measured per-page instruction count of
    SQLite on these machines to charge it by, so none is invented. The
    simulated time of a database workload is therefore its file-system and
    disk time, which dominate it on these disks (a page from the platter costs
    about 18 ms; SQLite's work per page is microseconds on a 1995 processor).

Decisions
    * **Locking is trivial**: one process uses a database at a time (the
      workloads here are one process), so ``xLock``/``xUnlock`` only record
      the level and ``xCheckReservedLock`` answers for this connection.
      Two processes opening one database through this VFS would not exclude
      each other: do not.
    * **One connection blocks at a time.** A VFS method may sleep (the disk)
      and other simulated processes run meanwhile, on the same host thread;
      SQLite's own mutexes are the host's, so two simulated processes should
      not both be inside SQLite at once.
    * ``xTruncate(n)``: posix has only ``O_TRUNC`` (truncation to 0), so a
      truncation to ``0 < n`` writes the first ``n`` bytes into a new file
      (``PATH-truncate``, fsynced) which then takes the file's name. With no
      room for the copy (a full disk: a transaction that grew the database
      rolls back by truncating it) the truncation is logical: the blocks
      past ``n`` stay, ``xFileSize`` says ``n`` while the file is open, and a
      later open ignores them (SQLite takes a database's size from its
      header). Emptying the file and writing the bytes back would lose it
      on a file system that frees the old blocks only later (ExOS on XN).
      SQLite truncates a database when a transaction that grew it rolls back
      and on VACUUM; a truncation to at least the size changes nothing.
    * ``xFileSize`` is ``lseek(fd, 0, SEEK_END)`` (one call, no path);
      ``xRead``/``xWrite`` seek only when the offset is not where the
      descriptor already is.
    * ``xRandomness`` is deterministic (a seeded generator): ``connect``
      reseeds SQLite's pseudo-random generator (the rollback journal's nonce)
      from it, so the same run writes the same bytes. ``xCurrentTime`` is
      the simulated clock (from 2000-01-01), ``xSleep`` returns at once
      (SQLite sleeps only to retry a busy lock, which trivial locking never
      reports).
    * A posix error becomes an SQLite error, never a crash: ENOSPC is
      ``SQLITE_FULL`` (``apsw.FullError``), a file that cannot be opened
      ``SQLITE_CANTOPEN``, anything else ``SQLITE_IOERR``. SQLite then rolls
      the transaction back as it would on any operating system.

Interface
    ``PosixVFS(name, hints=None, seed=0)`` registers the VFS (``unregister()``
    when done); ``connect(path, vfs, create=True) -> apsw.Connection``; ``NoHints``,
    ``ScanFirst(prefetch)``, ``HINTS`` (name -> class); ``PREFETCH``;
    ``page_kind(offset, page) -> str``.
"""

from __future__ import annotations

import random
from typing import Any

import apsw

from .. import posix

#: SQLite's b-tree page types (byte 0 of a b-tree page; byte 100 of page 1), sqlite.org/fileformat.html
INDEX_INTERIOR, TABLE_INTERIOR, INDEX_LEAF, TABLE_LEAF = 0x02, 0x05, 0x0A, 0x0D
_KIND = {INDEX_INTERIOR: "index", INDEX_LEAF: "index", TABLE_INTERIOR: "table_interior", TABLE_LEAF: "table_leaf"}

#: leaves prefetched ahead of a scan, a window at a time: a choice (32 KB, BSD's MAXBSIZE-sized
#: cluster of 4 KB pages), not a measurement, and not varied to make a row come out
PREFETCH = 8

#: what a posix errno becomes in SQLite (anything else: SQLITE_IOERR)
_CANTOPEN = frozenset({"ENOENT", "ENOTDIR", "EISDIR", "EMFILE", "ENFILE", "ENAMETOOLONG", "EEXIST", "EINVAL"})

_JULIAN_2000 = 2451544.5  # 2000-01-01 00:00 UTC as a Julian day: where the simulated clock starts


def page_kind(offset: int, page: bytes) -> str:
    """What a database page read at ``offset`` holds, by its b-tree header: ``index``,
    ``table_leaf``, ``table_interior`` or ``other`` (overflow, free-list, lock-byte pages)."""
    if not page:
        return "other"
    at = 100 if offset == 0 else 0
    return _KIND.get(page[at], "other") if len(page) > at else "other"


def _error(e: posix.PosixError, what: str, opening: bool = False) -> Exception:
    """The SQLite error a posix error becomes (apsw's exception classes carry the code)."""
    msg = f"{what}: {e.errno} {e}"
    if e.errno == "ENOSPC":
        return apsw.FullError(msg)
    if opening and e.errno in _CANTOPEN:
        return apsw.CantOpenError(msg)
    return apsw.IOError(msg)


class NoHints:
    """The file system's own buffer policy: the database tells it nothing."""

    name = "lru"

    def opened(self, f: PosixFile) -> None:
        """The main database file ``f`` is open."""

    def closed(self, f: PosixFile) -> None:
        """The main database file ``f`` is closing."""

    def read(self, f: PosixFile, offset: int, data: bytes) -> None:
        """SQLite read ``data`` at ``offset`` of the main database file ``f``."""

    def begin_scan(self, leaves: list[int]) -> None:
        """A full scan of a table whose leaf pages are ``leaves`` (1-based page numbers,
        in the order the scan reads them) begins."""

    def end_scan(self) -> None:
        """The scan ``begin_scan`` announced is over."""


class ScanFirst(NoHints):
    """The database's own policy: a scan's table-leaf pages replaced first, index pages kept,
    and the leaves of an announced scan prefetched ``prefetch`` at a time (module docstring)."""

    name = "app"

    def __init__(self, prefetch: int = PREFETCH, page_size: int = 4096) -> None:
        if type(prefetch) is not int or prefetch < 0:
            raise ValueError(f"prefetch must be a non-negative int, not {prefetch!r}")
        self.prefetch, self.page = prefetch, page_size
        self.file: PosixFile | None = None
        self.leaves: list[int] = []
        self.position: dict[int, int] = {}
        self.frontier = 0  # leaves[:frontier] have been prefetched
        self.advised = {"dontneed": 0, "willneed": 0}

    def opened(self, f: PosixFile) -> None:
        self.file = f

    def closed(self, f: PosixFile) -> None:
        if self.file is f:
            self.file = None

    def read(self, f: PosixFile, offset: int, data: bytes) -> None:
        if len(data) != self.page or offset % self.page:
            return
        if not self.leaves:  # not in a scan: the file system's own order
            return
        if page_kind(offset, data) == "table_leaf":
            posix.fadvise(f.fd, posix.FADV_DONTNEED, offset, self.page)
            self.advised["dontneed"] += 1
        at = self.position.get(offset // self.page + 1)
        if at is not None and at + self.prefetch >= self.frontier:
            self._prefetch()

    def begin_scan(self, leaves: list[int]) -> None:
        self.leaves = list(leaves)
        self.position = {p: i for i, p in enumerate(self.leaves)}
        self.frontier = 0
        self._prefetch()

    def end_scan(self) -> None:
        self.leaves, self.position, self.frontier = [], {}, 0

    def _prefetch(self) -> None:
        """WILLNEED for the next window of leaves, one call per run of consecutive pages."""
        f = self.file
        if f is None or self.prefetch == 0:
            return
        window = self.leaves[self.frontier:self.frontier + self.prefetch]
        self.frontier += len(window)
        i = 0
        while i < len(window):
            j = i
            while j + 1 < len(window) and window[j + 1] == window[j] + 1:
                j += 1
            posix.fadvise(f.fd, posix.FADV_WILLNEED, (window[i] - 1) * self.page, (j - i + 1) * self.page)
            self.advised["willneed"] += 1
            i = j + 1


HINTS: dict[str, type[NoHints]] = {"lru": NoHints, "app": ScanFirst}


class PosixFile:
    """One file SQLite opened: a posix descriptor (apsw calls these methods)."""

    def __init__(self, vfs: PosixVFS, path: str, flags: list[int]) -> None:
        want = flags[0]
        mode = posix.O_RDWR if want & apsw.SQLITE_OPEN_READWRITE else posix.O_RDONLY
        if want & apsw.SQLITE_OPEN_CREATE:
            mode |= posix.O_CREAT
        if want & apsw.SQLITE_OPEN_EXCLUSIVE:
            mode |= posix.O_EXCL
        try:
            self.fd = posix.open(path, mode)
        except posix.PosixError as e:
            raise _error(e, f"open {path}", opening=True) from None
        flags[1] = want & ~apsw.SQLITE_OPEN_EXCLUSIVE
        self.mode = mode & posix.O_ACCMODE  # to open it again (xTruncate)
        self.logical: int | None = None  # a size below the file's, after a truncation with no room (xTruncate)
        self.vfs, self.path, self.pos = vfs, path, 0
        self.main = bool(want & apsw.SQLITE_OPEN_MAIN_DB)
        self.delete_on_close = bool(want & apsw.SQLITE_OPEN_DELETEONCLOSE)
        self.lock = apsw.SQLITE_LOCK_NONE
        self.closed = False
        if self.main:
            vfs.hints.opened(self)

    def _seek(self, offset: int) -> None:
        if offset != self.pos:
            self.pos = posix.lseek(self.fd, offset)

    def xRead(self, amount: int, offset: int) -> bytes:  # noqa: N802 - SQLite's names
        try:
            self._seek(offset)
            parts = []
            got = 0
            while got < amount:
                part = posix.read(self.fd, amount - got)
                if not part:
                    break
                parts.append(part)
                got += len(part)
            self.pos += got
        except posix.PosixError as e:
            self.pos = -1  # unknown: seek next time
            raise _error(e, f"read {self.path}") from None
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        if self.main:
            self.vfs.hints.read(self, offset, data)
        return data  # shorter than asked: apsw zero-fills it and tells SQLite a short read

    def xWrite(self, data: Any, offset: int) -> None:  # noqa: N802
        buf = bytes(data)
        try:
            self._seek(offset)
            done = 0
            while done < len(buf):
                done += posix.write(self.fd, buf[done:])
            self.pos += done
            if self.logical is not None:
                self.logical = max(self.logical, self.pos)
        except posix.PosixError as e:
            self.pos = -1
            raise _error(e, f"write {self.path}") from None

    def xTruncate(self, newsize: int) -> None:  # noqa: N802
        size = self.xFileSize()
        if newsize >= size:
            return
        keep = self.xRead(newsize, 0) if newsize else b""
        if not keep:
            try:
                posix.close(posix.open(self.path, posix.O_WRONLY | posix.O_TRUNC))
            except posix.PosixError as e:
                raise _error(e, f"truncate {self.path}") from None
            return
        # posix has no ftruncate: the first newsize bytes go to a new file, which then takes the
        # name. Emptying this file and writing them back would lose it when the disk is full
        # (a file system may free the old blocks only later); this way a failure leaves it whole.
        tmp = f"{self.path}-truncate"
        try:
            fd = posix.open(tmp, posix.O_WRONLY | posix.O_CREAT | posix.O_TRUNC)
            try:
                done = 0
                while done < len(keep):
                    done += posix.write(fd, keep[done:])
                posix.fsync(fd)
            finally:
                posix.close(fd)
        except posix.PosixError as e:
            try:
                posix.unlink(tmp)
            except posix.PosixError:
                pass
            if e.errno != "ENOSPC":
                raise _error(e, f"truncate {self.path}") from None
            # no room for the copy: truncate logically (the blocks past newsize stay, unread;
            # SQLite reads a database's size from its header, so a later open ignores them)
            self.logical = newsize
            return
        try:
            posix.close(self.fd)  # a file system may refuse to rename onto an open file
            posix.rename(tmp, self.path)
        except posix.PosixError as e:
            raise _error(e, f"truncate {self.path}") from None
        finally:
            self.fd, self.pos, self.logical = posix.open(self.path, self.mode), 0, None

    def xSync(self, flags: int) -> None:  # noqa: N802
        try:
            posix.fsync(self.fd)
        except posix.PosixError as e:
            raise _error(e, f"fsync {self.path}") from None

    def xFileSize(self) -> int:  # noqa: N802
        try:
            self.pos = posix.lseek(self.fd, 0, posix.SEEK_END)
        except posix.PosixError as e:
            self.pos = -1
            raise _error(e, f"size of {self.path}") from None
        return self.pos if self.logical is None else min(self.pos, self.logical)

    def xLock(self, level: int) -> None:  # noqa: N802 - one process: nothing to exclude
        self.lock = max(self.lock, level)

    def xUnlock(self, level: int) -> None:  # noqa: N802
        self.lock = min(self.lock, level)

    def xCheckReservedLock(self) -> bool:  # noqa: N802
        return self.lock >= apsw.SQLITE_LOCK_RESERVED

    def xFileControl(self, op: int, ptr: int) -> bool:  # noqa: N802 - none understood
        return False

    def xSectorSize(self) -> int:  # noqa: N802 - the disk's sector (machine/disk.py)
        return 512

    def xDeviceCharacteristics(self) -> int:  # noqa: N802 - no atomic or safe-append writes claimed
        return 0

    def xClose(self) -> None:  # noqa: N802
        if self.closed:
            return
        self.closed = True
        if self.main:
            self.vfs.hints.closed(self)
        try:
            posix.close(self.fd)
            if self.delete_on_close:
                posix.unlink(self.path)
        except posix.PosixError as e:
            raise _error(e, f"close {self.path}") from None


class PosixVFS(apsw.VFS):
    """The VFS: SQLite's files are posix files of the process calling it (module docstring)."""

    def __init__(self, name: str = "exospin", hints: NoHints | None = None, seed: int = 0) -> None:
        super().__init__(name, "")
        self.vfs_name = name
        self.hints = hints if hints is not None else NoHints()
        self.random = random.Random(seed)
        self.temps = 0

    def xOpen(self, name: Any, flags: list[int]) -> PosixFile:  # type: ignore[override]  # apsw takes any object with VFSFile's methods
        if name is None:  # a temporary file: ours to name, deleted when closed
            self.temps += 1
            path = f"/.sqlite-temp-{self.temps}"
            flags[0] |= apsw.SQLITE_OPEN_DELETEONCLOSE | apsw.SQLITE_OPEN_CREATE
        else:
            path = name if isinstance(name, str) else name.filename()
        return PosixFile(self, path, flags)

    def xDelete(self, name: str, syncdir: bool) -> None:  # noqa: N802
        try:
            posix.unlink(name)
        except posix.PosixError as e:
            if e.errno == "ENOENT":  # already gone: what SQLite wanted (its unix VFS says DELETE_NOENT)
                return
            raise _error(e, f"delete {name}") from None

    def xAccess(self, name: str, flags: int) -> bool:  # noqa: N802
        try:
            posix.stat(name)
        except posix.PosixError as e:
            if e.errno in ("ENOENT", "ENOTDIR"):
                return False
            raise _error(e, f"access {name}") from None
        return True

    def xFullPathname(self, name: str) -> str:  # noqa: N802
        if not name.startswith("/"):
            raise apsw.CantOpenError(f"the exospin VFS takes absolute paths, not {name!r}")
        return name

    def xRandomness(self, numbytes: int) -> bytes:  # noqa: N802
        return bytes(self.random.getrandbits(8) for _ in range(numbytes))

    def xCurrentTime(self) -> float:  # noqa: N802
        return _JULIAN_2000 + posix.time_us() / 86_400e6

    def xCurrentTimeInt64(self) -> int:  # noqa: N802
        return int(self.xCurrentTime() * 86_400_000)

    def xSleep(self, microseconds: int) -> int:  # noqa: N802
        return 0


def connect(path: str, vfs: PosixVFS, create: bool = True) -> apsw.Connection:
    """Open the database at ``path`` through ``vfs`` (``create``: making it if it is not
    there; else a missing file is ``apsw.CantOpenError``); SQLite's pseudo-random
    generator is reseeded from the VFS first, so its journal nonces repeat run to run."""
    default = apsw.vfs_names()[0]
    apsw.set_default_vfs(vfs.vfs_name)  # SQLite seeds its generator from the default VFS
    try:
        apsw.randomness(0)  # reset: reseeded at its next use
        apsw.randomness(1)  # ... which is now, from vfs.xRandomness
    finally:
        apsw.set_default_vfs(default)
    flags = apsw.SQLITE_OPEN_READWRITE | (apsw.SQLITE_OPEN_CREATE if create else 0)
    return apsw.Connection(path, flags=flags, vfs=vfs.vfs_name)


__all__ = ["HINTS", "INDEX_INTERIOR", "INDEX_LEAF", "PREFETCH", "TABLE_INTERIOR", "TABLE_LEAF", "NoHints",
           "PosixFile", "PosixVFS", "ScanFirst", "connect", "page_kind"]
