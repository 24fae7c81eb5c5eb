"""SQLite in the simulated file system (apps/sqlite_vfs.py, apps/db.py, bench/db_suite.py).

What must hold: every query gives the rows plain SQLite on the host gives, on
every system with a file system and under either buffer policy; the same run
twice is the same run (figures, I/Os, time); the VFS's error paths (a missing
database, a full disk) reach SQLite as SQLite errors, the program goes on and
the database is still whole; a truncation SQLite asks for is done; unix ignores
the database's hints; nothing is left behind at shutdown.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import apsw
import pytest

from exospin import posix
from exospin.apps import db
from exospin.apps.sqlite_vfs import HINTS, PosixVFS, ScanFirst, connect, page_kind
from exospin.bench import db_suite
from exospin.bench.harness import BenchmarkError, Result
from exospin.systems import boot

SYSTEMS = ("aegis", "spin", "unix")
ROWS, ROUNDS, LOOKUPS = 700, 2, 6


def _system(name: str, image: Path | bool = True, fmt: bool = True, cylinders: int = 2) -> Any:
    return boot(name, disk=image, mkfs=fmt, disk_cylinders=cylinders)


def _run(s: Any, program: Any) -> None:
    pid = s.start(program, [], "db")
    s.run(check=True)
    assert s.exit_status(pid) == 0


def _shutdown(s: Any) -> None:
    left = s.shutdown()
    assert not any(left.values()), left


def _host_digest(rows: int, rounds: int, lookups: int, seed: int = 19) -> str:
    """The workload's queries on plain SQLite in host memory: what every system must answer."""
    c = apsw.Connection(":memory:")
    c.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER NOT NULL, pad TEXT NOT NULL)")
    c.executemany("INSERT INTO t VALUES (?, ?, ?)", ((i, (i * 7919) % rows, f"{i:08d}" * 12)
                                                     for i in range(1, rows + 1)))
    c.execute("CREATE INDEX t_k ON t(k)")
    h, x = hashlib.sha256(), seed
    for r in range(rounds):
        h.update(repr(c.execute("SELECT count(*), sum(k), max(pad) FROM t WHERE k % ? = ?",
                                (7 + r, r)).fetchall()).encode())
        for _ in range(lookups):
            x = (1103515245 * x + 12345) % (1 << 31)
            h.update(repr(c.execute("SELECT id, pad FROM t WHERE k = ?", (x % rows,)).fetchall()).encode())
    return h.hexdigest()


def _mixed(system: str, image: Path, policy: str) -> dict[str, Any]:
    """Build on a fresh image, reboot, run the workload: its figures and the disk's blocks."""
    built: dict[str, Any] = {}
    s = _system(system, image)
    _run(s, db.builder("/db", ROWS, built))
    _shutdown(s)
    s = _system(system, image, fmt=False)
    disk = s.machine.disks[0]
    marks: list[tuple[int, int]] = []
    out: dict[str, Any] = {}
    _run(s, db.workload("/db", ROUNDS, LOOKUPS, HINTS[policy](), out,
                        lambda _: marks.append(db_suite._blocks(disk)), ROWS, built["leaves"]))
    out["ios"] = (marks[1][0] - marks[0][0], marks[1][1] - marks[0][1])
    out["stats"] = s.statistics()
    _shutdown(s)
    return out


def _has_files(system: str) -> bool:
    s = _system(system)
    ok = db_suite._has_files(s) is None
    _shutdown(s)
    return ok


def test_are_the_query_results_those_of_plain_sqlite_on_every_system(tmp_path: Path) -> None:
    want = _host_digest(ROWS, ROUNDS, LOOKUPS)
    ran = []
    for system in SYSTEMS:
        if not _has_files(system):
            continue
        for policy in HINTS:
            out = _mixed(system, tmp_path / f"{system}-{policy}.img", policy)
            assert out["digest"] == want, (system, policy)
            assert out["queries"] == ROUNDS * (1 + LOOKUPS)
            assert out["ios"][0] > 0 and out["ios"][1] == 0  # the timed phase only reads
            if policy == "app":  # every scan's leaves were marked and prefetched
                assert out["advised"]["dontneed"] >= ROUNDS * 5 and out["advised"]["willneed"] >= ROUNDS
        ran.append(system)
    assert "unix" in ran


def test_is_a_run_deterministic(tmp_path: Path) -> None:
    a = _mixed("unix", tmp_path / "a.img", "app")
    b = _mixed("unix", tmp_path / "b.img", "app")
    assert a == b
    assert (tmp_path / "a.img").read_bytes() == (tmp_path / "b.img").read_bytes()  # the journal's nonce too


def test_does_unix_ignore_the_databases_hints(tmp_path: Path) -> None:
    lru = _mixed("unix", tmp_path / "l.img", "lru")
    app = _mixed("unix", tmp_path / "a.img", "app")
    assert app["ios"] == lru["ios"] and app["digest"] == lru["digest"]
    assert app["advised"]["dontneed"] > 0


def _files_or_skip(system: str) -> None:
    if not _has_files(system):
        pytest.skip(f"{system} has no file system on this tree (posix.open: ENOSYS)")


@pytest.mark.parametrize("system", SYSTEMS)
def test_is_a_missing_database_an_sqlite_error_not_a_crash(system: str) -> None:
    _files_or_skip(system)
    s = _system(system)
    seen: list[str] = []

    def prog(argv: list[str]) -> int:
        vfs = PosixVFS("exospin-missing")
        try:
            with pytest.raises(apsw.CantOpenError):
                connect("/nowhere/db", vfs, create=False).execute("SELECT 1").fetchall()
            with pytest.raises(apsw.CantOpenError):
                connect("relative.db", vfs)
            seen.append("ok")
        finally:
            vfs.unregister()
        return 0
    _run(s, prog)
    assert seen == ["ok"]
    _shutdown(s)


@pytest.mark.parametrize("system", SYSTEMS)
def test_is_a_full_disk_sqlite_full_and_the_database_still_whole(system: str) -> None:
    _files_or_skip(system)
    s = _system(system, cylinders=1)  # 171 blocks: the inserts below need more
    seen: dict[str, Any] = {}

    def prog(argv: list[str]) -> int:
        vfs = PosixVFS("exospin-full")
        try:
            c = connect("/db", vfs)
            c.execute("PRAGMA page_size = 4096; CREATE TABLE t(x TEXT)")
            committed = 0
            with pytest.raises(apsw.FullError):
                for _ in range(100):
                    with c:
                        c.executemany("INSERT INTO t VALUES (?)", (("y" * 1000,) for _ in range(200)))
                    committed += 200
            seen["committed"] = committed
            seen["count"] = c.execute("SELECT count(*) FROM t").fetchall()[0][0]
            seen["check"] = c.execute("PRAGMA integrity_check").fetchall()
            c.close()
            c = connect("/db", vfs, create=False)  # and again from the disk
            seen["again"] = c.execute("SELECT count(*) FROM t").fetchall()[0][0]
            c.close()
        finally:
            vfs.unregister()
        return 0
    _run(s, prog)
    assert seen["committed"] > 0 and seen["count"] == seen["again"] == seen["committed"]
    assert seen["check"] == [("ok",)]
    _shutdown(s)


@pytest.mark.parametrize("system", SYSTEMS)
def test_does_a_vacuum_truncate_the_file_to_its_pages(system: str) -> None:
    _files_or_skip(system)
    s = _system(system)
    seen: dict[str, Any] = {}

    def prog(argv: list[str]) -> int:
        vfs = PosixVFS("exospin-vacuum")
        try:
            c = connect("/db", vfs)
            c.execute("PRAGMA page_size = 4096; CREATE TABLE t(x TEXT)")
            with c:
                c.executemany("INSERT INTO t VALUES (?)", ((f"{i}" * 300,) for i in range(200)))
            c.execute("DELETE FROM t WHERE rowid > 20; VACUUM")
            seen["pages"] = c.execute("PRAGMA page_count").fetchall()[0][0]
            seen["check"] = c.execute("PRAGMA integrity_check").fetchall()
            seen["rows"] = c.execute("SELECT count(*) FROM t").fetchall()[0][0]
            c.close()
            seen["size"] = posix.stat("/db").size
            seen["names"] = posix.readdir("/")
        finally:
            vfs.unregister()
        return 0
    _run(s, prog)
    assert seen["check"] == [("ok",)] and seen["rows"] == 20
    assert seen["size"] == seen["pages"] * 4096 < 200 * 4096
    assert seen["names"] == ["db"]  # the journal and the temporary files are gone
    _shutdown(s)


def test_does_page_kind_read_sqlites_page_headers(tmp_path: Path) -> None:
    path = tmp_path / "host.db"
    c = apsw.Connection(str(path))
    c.execute("PRAGMA page_size = 4096; CREATE TABLE t(id INTEGER PRIMARY KEY, k)")
    with c:
        c.executemany("INSERT INTO t VALUES (?, ?)", ((i, i * 7) for i in range(3000)))
    c.execute("CREATE INDEX t_k ON t(k)")
    kinds = {(name, kind): n for name, kind, n in c.execute(
        "SELECT name, pagetype, count(*) FROM dbstat GROUP BY 1, 2")}
    pages = {p: (name, kind) for p, name, kind in c.execute("SELECT pageno, name, pagetype FROM dbstat")}
    c.close()
    data = path.read_bytes()
    got: dict[str, int] = {}
    for p, (name, kind) in pages.items():
        k = page_kind((p - 1) * 4096, data[(p - 1) * 4096:p * 4096])
        want = "index" if name == "t_k" else ("table_leaf" if kind == "leaf" else "table_interior")
        assert k == want, (p, name, kind)
        got[k] = got.get(k, 0) + 1
    assert got["table_leaf"] == kinds[("t", "leaf")] + kinds[("sqlite_schema", "leaf")]
    assert page_kind(4096, b"") == "other" and page_kind(4096, b"\x00" * 4096) == "other"


def test_are_bad_arguments_refused() -> None:
    with pytest.raises(ValueError):
        ScanFirst(prefetch=-1)
    with pytest.raises(ValueError):
        db.builder("/db", 7919, {})
    with pytest.raises(ValueError):
        db.workload("/db", -1, 1, HINTS["lru"](), {}, rows=10, leaves=[])


def test_does_the_suite_check_the_digests_and_skip_systems_without_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db_suite, "ROWS", ROWS)
    monkeypatch.setattr(db_suite, "MIX", ((1, 3), (1, 3)))
    notes: list[str] = []
    rows = db_suite.run("ds5000", quick=True, progress=notes.append)
    ran = {r.system for r in rows}
    skipped = {s.split(":")[0] for s in db_suite.skipped()}
    assert "unix" in ran and ran | skipped == set(SYSTEMS) and not ran & skipped
    for system in skipped:
        assert f"{system} skipped: no file system (posix.open: ENOSYS)" in notes
    assert {r.benchmark for r in rows} == {"sqlite_mixed_lru", "sqlite_mixed_app"}
    assert len({r.figures["result_digest"] for r in rows if r.figures}) == 1
    assert all(r.figures and r.figures["ios"] == r.figures["reads"] > 0 for r in rows)
    bad = Result("sqlite_mixed_lru", "x", 1, 1, 1, 1, figures={"result_digest": 1})
    with pytest.raises(BenchmarkError, match="differ"):
        db_suite.check_digests([rows[0], bad])
