"""The command line, as a user and a script see it (shapes in docs/contracts.md)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from contract_schemas import validate
from exospin import __version__
from exospin.cli import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_does_the_installed_command_print_its_version() -> None:
    r = subprocess.run([sys.executable, "-m", "exospin", "--version"], capture_output=True, text=True)
    assert r.returncode == 0
    assert r.stdout.strip() == f"exospin {__version__}"


def test_does_info_json_list_every_primitive_with_a_source(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["info", "--json"], capsys)
    assert code == 0 and err == ""
    doc = json.loads(out)
    assert doc["exospin"] == __version__
    assert set(doc["profiles"]) == {"ds5000", "alpha3000"}
    for prof in doc["profiles"].values():
        assert prof["clock_hz"] > 0
        for name, cost in prof["costs"].items():
            assert cost["cycles"] > 0, name
            assert cost["unit"] and cost["source"], name


def test_does_info_for_one_profile_show_only_that_profile(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["info", "--profile", "alpha3000", "--json"], capsys)
    assert code == 0
    assert list(json.loads(out)["profiles"]) == ["alpha3000"]


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["demo", "plan9"], "unknown system 'plan9'"),
        (["demo", "vms"], "unknown system 'vms'"),
        (["bench", "nosuch"], "unknown suite 'nosuch'"),
        (["info", "--profile", "vax"], "invalid choice: 'vax'"),
        (["demo", "aegis", "--seed", "seven"], "invalid int value: 'seven'"),
        (["demo", "aegis", "--disk", "x.img"], "--disk: demo aegis uses no disk"),
        (["demo", "unix", "--pcap", "x.pcap"], "--pcap: demo unix has no network"),
        (["demo", "net", "--seed", "1"], "--seed: demo net draws nothing at random"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        ([], "no command given"),
    ],
)
def test_what_if_the_user_gets_the_command_line_wrong(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(argv, capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1, err  # one line, no traceback, no usage dump
    assert fragment in err
    assert "Traceback" not in err


def test_does_debug_show_the_traceback_instead() -> None:
    with pytest.raises(Exception):  # noqa: B017 - whatever the failure, it is raised, not summarised
        main(["--debug", "demo", "plan9"])


def test_does_the_demo_tell_the_whole_story(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["demo", "aegis", "--seed", "1"], capsys)
    assert code == 0, err
    for fragment in (
        "TLB-miss upcalls",  # demand-zero faults reach the library OS
        "protection fault",  # the Appel-Li checkpoint
        "asked hog by protected call",  # PCT
        "gave back the frames",  # cooperative revocation
        "ignored revocation: repossessed frames",  # the abort protocol
        "(intact)",  # the cooperative one kept its data
        "lost 8 pages",  # the other one did not
        "All invariants hold",
    ):
        assert fragment in out, fragment


def test_is_the_demo_the_same_for_the_same_seed_and_different_for_another(
    capsys: pytest.CaptureFixture[str],
) -> None:
    a = run(["demo", "aegis", "--seed", "4"], capsys)[1]
    b = run(["demo", "aegis", "--seed", "4"], capsys)[1]
    c = run(["demo", "aegis", "--seed", "5"], capsys)[1]
    assert a == b
    assert a != c


@pytest.mark.parametrize("profile", ["ds5000", "alpha3000"])
def test_does_the_demo_run_on_both_machines(profile: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["demo", "aegis", "--profile", profile], capsys)
    assert code == 0, err
    assert "repossessed frames" in out and "(intact)" in out


def test_does_the_trace_open_as_a_perfetto_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "demo.json"
    code, out, _ = run(["demo", "aegis", "--trace", str(path)], capsys)
    assert code == 0
    doc = json.loads(path.read_text())
    events = doc["traceEvents"]
    tracks = {e["args"]["name"] for e in events if e.get("name") == "thread_name"}
    assert tracks == {"env 1: editor", "env 2: hog"}
    by_kind: dict[str, set[int]] = {}
    for e in events:
        assert e["ph"] in {"M", "X", "i"}
        if e["ph"] == "X":
            assert e["dur"] >= 0 and e["ts"] >= 0
            by_kind.setdefault(e["cat"], set()).add(e["tid"])
    assert by_kind["cpu"] == {1, 2}  # each environment's time slices
    assert {1, 2} <= by_kind["exception"]  # TLB misses and faults on both tracks
    assert by_kind["upcall"]  # prologue / epilogue / revocation upcalls
    names = {e["name"] for e in events}
    assert {"revoke", "abort", "complied"} <= names


def test_does_bench_json_have_the_contract_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["bench", "aegis", "--quick", "--json", "--out", str(tmp_path)], capsys)
    assert code == 0, err
    doc = json.loads(out)  # nothing else on stdout
    assert doc["exospin"] == __version__ and doc["suite"] == "aegis" and doc["profile"] == "ds5000"
    assert doc["python_call_ns"] > 0
    names = [r["benchmark"] for r in doc["results"]]
    assert names == [
        "null_procedure_call", "null_syscall", "exc_overflow", "exc_unaligned", "exc_protection",
        "tlb_refill_stlb", "tlb_refill_upcall", "pct_sync", "pct_async", "yield",
    ]
    for r in doc["results"]:
        assert r["system"] == "aegis"
        assert r["sim_cycles"] > 0 and r["sim_us"] > 0 and r["wall_ns"] > 0 and r["iterations"] > 0
    assert json.loads((tmp_path / "bench-aegis-ds5000.json").read_text())["results"] == doc["results"]
    assert err == "bench aegis on ds5000...\n"  # stderr is no terminal here: one plain progress line


def test_are_simulated_figures_exactly_reproducible(capsys: pytest.CaptureFixture[str]) -> None:
    def sims() -> list[float]:
        code, out, _ = run(["bench", "aegis", "--quick", "--json", "--profile", "alpha3000"], capsys)
        assert code == 0
        return [r["sim_cycles"] for r in json.loads(out)["results"]]

    assert sims() == sims()


def test_does_the_bench_table_name_the_targets(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["bench", "aegis", "--quick"], capsys)
    assert code == 0
    for name in ("null_syscall", "tlb_refill_stlb", "pct_sync"):
        line = next(ln for ln in out.splitlines() if name in ln)
        assert "≤" in line


def test_does_the_exos_demo_show_fork_copy_on_write_and_a_pipeline(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["demo", "exos", "--seed", "3"], capsys)
    assert code == 0, err
    for fragment in ("fork -> pid 2", "shared copy-on-write", "1 copy-on-write copies",
                     "should be 216: exit 216", "All invariants hold"):
        assert fragment in out, fragment
    # the scanner under each page-replacement policy: FIFO and Clock fault on every
    # access of the four sweeps, MRU on fewer than half
    ins = {m[1]: int(m[0]) for m in re.findall(r"exit 0; (\d+) page-ins, \d+ page-outs \((\w+) under", out)}
    assert ins["fifo"] == ins["clock"] == 48 and ins["mru"] < 24


def test_does_bench_spin_run_what_spin_has_so_far(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["bench", "spin", "--quick", "--json"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    validate(doc, "bench")  # docs/schemas/bench.schema.json, ext_cycles included
    names = {r["benchmark"] for r in doc["results"]}
    assert {"in_kernel_call", "dispatch_call_a1", "dispatch_h50_a5", "dispatch_eq_h50"} <= names
    assert all(r["system"] == "spin" and r["sim_cycles"] > 0 for r in doc["results"])
    # the extensions' own code, measured by the static model on the rows that run one
    ext = {r["benchmark"]: r["ext_cycles"] for r in doc["results"] if "ext_cycles" in r}
    assert ext["null_syscall"] == 0  # the null handler: no call, no loop
    assert ext["cross_as_call"] > 0 and ext["ipc_pipe"] > ext["ipc_lrpc"]
    assert "dispatch_h1_a0" not in ext  # no extension on the dispatcher's own rows


def test_does_the_spin_demo_show_linking_rejection_refusal_and_termination(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(["demo", "spin"], capsys)
    assert code == 0, err
    for fragment in ("imports spin.Trap resolved against SpinPublic", "1000 null system calls answered {0}",
                     "handed out a frame as reference 1", "reference 1 was revoked",
                     "E101 access to a name beginning with '_' is not allowed: '__globals__'",
                     "snoop.py rejected: none of it ran", "may not link against 'SpinPrivileged'",
                     "budget exceeded", "the kernel goes on", "ended with status 0",
                     "thief.py refused", "All invariants hold"):
        assert fragment in out, fragment


def test_does_the_unix_demo_show_fork_pipes_and_signals(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["demo", "unix", "--seed", "3"], capsys)
    assert code == 0, err
    for fragment in ("fork -> pid 4", "shared copy-on-write", "1 copy-on-write copies",
                     "should be 216: exit 216", "SIGSEGV", "signals delivered / sigreturns", "All invariants hold"):
        assert fragment in out, fragment


def test_does_bench_unix_run_every_row_on_both_machines(capsys: pytest.CaptureFixture[str]) -> None:
    for profile in ("ds5000", "alpha3000"):
        code, out, err = run(["bench", "unix", "--quick", "--json", "--profile", profile], capsys)
        assert code == 0, err
        doc = json.loads(out)
        names = [r["benchmark"] for r in doc["results"]]
        assert {"null_syscall", "exc_protection", "ipc_pipe", "ipc_lrpc", "cross_as_call", "vm_appel2",
                "fork_join_kernel", "ping_pong_user"} <= set(names)
        assert all(r["system"] == "unix" and r["sim_cycles"] > 0 for r in doc["results"])
        assert not any("ext_cycles" in r for r in doc["results"])  # a SPIN-only field


def test_does_bench_audit_add_py_cycles_and_leave_sim_cycles_alone(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["bench", "aegis", "--quick", "--json", "--audit"], capsys)
    assert code == 0, err
    audited = {r["benchmark"]: r for r in json.loads(out)["results"]}
    code, out, err = run(["bench", "aegis", "--quick", "--json"], capsys)
    plain = {r["benchmark"]: r for r in json.loads(out)["results"]}
    assert all("py_cycles" not in r for r in plain.values())
    assert {k: r["sim_cycles"] for k, r in audited.items()} == {k: r["sim_cycles"] for k, r in plain.items()}
    assert audited["null_procedure_call"]["py_cycles"] == 0  # the application's own call
    assert audited["null_syscall"]["py_cycles"] > 0
    # an upcall to the library OS runs more of the system's Python than a refill from the STLB
    assert audited["tlb_refill_upcall"]["py_cycles"] > audited["tlb_refill_stlb"]["py_cycles"]
    code, out, err = run(["bench", "aegis", "--quick", "--audit"], capsys)
    assert code == 0 and "py cycles" in out


def test_does_the_spin_table_say_why_a0_has_no_target(capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = run(["bench", "spin", "--quick"], capsys)
    assert code == 0
    rows = {ln.split("│")[1].strip(): ln for ln in out.splitlines() if ln.count("│") > 2}
    assert "none: no argument to guard" in rows["dispatch_h1_a0"]
    assert "≤ 3× call_a1" in rows["dispatch_h1_a1"] and "≤ 3× call_a5" in rows["dispatch_h1_a5"]
    assert "≤ 2× eq_h1" in rows["dispatch_eq_h50"] and "≤ 1.5×" in rows["in_kernel_call"]


# ------------------------------------------------------------ output that fits


def test_are_benchmark_names_whole_at_80_columns_and_in_a_pipe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")  # captured stdout is a pipe: rich would assume 80 anyway
    code, out, err = run(["bench", "spin", "--quick", "--out", str(tmp_path)], capsys)
    assert code == 0, err
    names = [r["benchmark"] for r in json.loads((tmp_path / "bench-spin-ds5000.json").read_text())["results"]]
    assert len(names) > 30
    words = set(out.split())
    assert [n for n in names if n not in words] == []
    assert "…" not in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_are_the_aegis_demos_headers_whole_at_80_columns(capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run(["demo", "aegis"], capsys)
    assert code == 0
    assert "…" not in out
    header = next(line for line in out.splitlines() if "┃ slices ┃" in line).split()
    assert {"exceptions", "repossessed"} <= set(header)


@pytest.mark.parametrize("argv, option", [
    (["demo", "aegis", "--trace", "{}/t.json"], "--trace"),
    (["bench", "aegis", "--quick", "--out", "{}"], "--out"),
    (["reproduce", "--quick", "--out", "{}"], "--out"),
])
def test_is_an_output_path_with_a_file_in_the_way_refused_before_any_work(
    argv: list[str], option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, out, err = run([a.format(blocker / "sub") for a in argv], capsys)
    assert code == 2 and out == ""  # nothing ran: no progress line, no table
    assert err == f"exospin: error: {option}: {blocker} exists and is not a directory\n"
    assert blocker.read_text() == "x"


@pytest.mark.parametrize("argv, made", [
    (["demo", "aegis", "--trace", "{}/t.json"], "t.json"),
    (["bench", "aegis", "--quick", "--out", "{}"], "bench-aegis-ds5000.json"),
])
def test_is_a_missing_output_folder_made(argv: list[str], made: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "new" / "deeper"
    code, _, err = run([a.format(folder) for a in argv], capsys)
    assert code == 0, err
    assert (folder / made).is_file()


def test_is_a_directory_refused_as_a_trace_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["demo", "aegis", "--trace", str(tmp_path)], capsys)
    assert code == 2 and out == ""
    assert err == f"exospin: error: --trace: {tmp_path} is a directory\n"


def test_does_spin_check_report_every_file_readable_or_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    Path("good.py").write_text("def handler(x):\n    return x\n")
    Path("bad.py").write_text("def handler(x):\n    return x.__class__\n")
    Path("latin1.py").write_bytes(b"# caf\xe9\n")
    files = ["good.py", "missing.py", "bad.py", "latin1.py", "."]
    code, out, err = run(["spin", "check", *files], capsys)
    assert code == 2  # a file could not be read: bad usage, though the others were checked
    assert out.splitlines() == ["good.py: ok",
                                "bad.py:2:12: E101 access to a name beginning with '_' is not allowed: '__class__'"]
    lines = err.splitlines()
    assert lines[0] == "exospin: error: spin check: missing.py: no such file"
    assert lines[1].startswith("exospin: error: spin check: latin1.py: cannot read: 'utf-8' codec can't decode")
    assert lines[2] == "exospin: error: spin check: .: is a directory"
    assert len(lines) == 3
    code, out, err = run(["spin", "check", "good.py", "bad.py"], capsys)
    assert code == 1 and err == ""  # all read, one rejected
