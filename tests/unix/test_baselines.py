"""The faithful baselines (unix/baseline.py): Ultrix 4.2 and DEC OSF/1 beside the lean unix.

Each test asks whether a baseline's path does what docs/unix.md says it does,
and costs what its counted steps say, no more and no less. That every posix
program runs on them with the lean kernel's results is tests/test_posix_apps.py's
(its systems include ``unix:ultrix`` and ``unix:osf1``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import jsonschema
import pytest

from exospin import posix
from exospin.bench import SUITES, all_suites, run_suite, unix_suite
from exospin.machine import get_profile
from exospin.systems import UnixSystem, boot
from exospin.unix import UnixProcess
from exospin.unix import param as uparam
from exospin.unix.baseline import BASELINES, STEPS, UnknownBaseline, get_baseline
from exospin.unix.decthreads import DECThreads

Factory = Callable[..., UnixSystem]
SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "schemas" / "bench.schema.json").read_text())


@pytest.fixture
def unix() -> Iterator[Factory]:
    booted: list[UnixSystem] = []

    def factory(baseline: str | None = None, profile: str = "ds5000") -> UnixSystem:
        s = cast(UnixSystem, boot("unix", profile, baseline=baseline))
        booted.append(s)
        return s

    yield factory
    for s in booted:
        left = s.shutdown()
        assert not any(left.values()), left
        assert s.kernel.check_invariants() == []
        assert s.machine.tlb.statistics().valid == 0


def run(s: UnixSystem, program: Callable[..., Any]) -> int | None:
    pid = s.start(program, [], getattr(program, "__name__", "p"))
    s.run(until_us=2_000_000)
    return s.exit_status(pid)


def me() -> UnixProcess:
    return cast(UnixProcess, posix._p())


def getpid_cycles(s: UnixSystem) -> int:
    out: dict[str, int] = {}

    def prog(argv: list[str]) -> int:
        cpu = me().cpu
        posix.getpid()  # warm: the TLB and the first call's faults
        t0 = cpu.cycles()
        posix.getpid()
        out["c"] = cpu.cycles() - t0
        return 0

    assert run(s, prog) == 0
    return out["c"]


# ------------------------------------------------------------------ the counts


def test_does_every_step_of_every_baseline_say_what_it_stands_for_and_where_the_count_comes_from() -> None:
    for b in BASELINES.values():
        assert b.machine in ("ds5000", "alpha3000") and b.sigcontext_extra > 0 and b.mlen > 0
        assert b.sigcontext_source and b.mlen_source
        for name, w in b.steps.items():
            assert name in STEPS
            assert w.routine and w.source, (b.name, name)
            counts = (w.insns, w.loads, w.stores, w.calls, w.copies, w.tlb_probes, w.tlb_writes, w.pal_calls)
            assert all(type(c) is int and c >= 0 for c in counts) and any(counts), (b.name, name)


@pytest.mark.parametrize("bad", ["ultrix4.2", "", None, 3, "UNIX"])
def test_what_if_you_ask_for_a_baseline_that_does_not_exist(bad: Any) -> None:
    with pytest.raises(UnknownBaseline, match="known: ultrix, osf1"):
        get_baseline(bad)
    if bad is not None:
        with pytest.raises(UnknownBaseline):
            boot("unix", baseline=bad)


def test_is_a_baseline_unixs_option_only_and_is_the_lean_kernel_untouched_without_one() -> None:
    with pytest.raises(ValueError, match="baseline is unix's option"):
        boot("aegis", baseline="ultrix")
    s = boot("unix")
    assert s.kernel.baseline is None and s.kernel.bc is None
    assert s.kernel.sigframe_words == uparam.SIGFRAME_WORDS


@pytest.mark.parametrize("baseline, profile", [("ultrix", "ds5000"), ("osf1", "alpha3000")])
def test_does_getpid_cost_the_lean_path_plus_exactly_the_counted_steps(unix: Factory, baseline: str,
                                                                       profile: str) -> None:
    lean = getpid_cycles(unix(None, profile))
    faithful = getpid_cycles(unix(baseline, profile))
    bc = boot("unix", profile, baseline=baseline).kernel.bc
    assert bc is not None
    steps = ("entry", "syscall", "setjmp", "user_return")
    assert faithful - lean == sum(bc.cycles[s] for s in steps) > 0
    assert bc.group_cycles["syscall"] + bc.group_cycles["user_return"] == faithful - lean
    p = get_profile(profile)
    assert bc.cycles["syscall"] == get_baseline(baseline).steps["syscall"].cycles(p)


# ------------------------------------------------------------------- signals


@pytest.mark.parametrize("baseline", ["ultrix", "osf1"])
def test_is_the_signal_frame_the_whole_sigcontext_copied_out_and_back_in(unix: Factory, baseline: str) -> None:
    s = unix(baseline)
    words = uparam.SIGFRAME_WORDS + get_baseline(baseline).sigcontext_extra
    assert s.kernel.sigframe_words == words
    seen: dict[str, int] = {}

    def prog(argv: list[str]) -> int:
        a = posix.mmap(1)
        posix.store(a, 1)
        posix.mprotect(a, 1, posix.PROT_READ)
        before = s.kernel.statistics()

        def handler(vaddr: int, write: bool) -> bool:
            posix.mprotect(a, 1, posix.PROT_RW)
            return False  # retry the store

        posix.on_fault(handler)
        posix.store(a, 2)
        after = s.kernel.statistics()
        seen["out"] = after.copyout_words - before.copyout_words
        seen["in"] = after.copyin_words - before.copyin_words
        return 0 if posix.load(a) == 2 else 1

    assert run(s, prog) == 0
    assert seen["out"] == words and seen["in"] == words


def test_does_sigreturn_still_refuse_a_forged_frame_on_a_baseline(unix: Factory) -> None:
    s = unix("ultrix")
    got: dict[str, str] = {}

    def prog(argv: list[str]) -> int:
        p = me()
        top = s.kernel.sigstack_top(0)
        fa = top - s.kernel.sigframe_words * posix.word_size()
        try:
            p._sys(s.kernel.sysnum["sigreturn"], fa)  # no frame there: zeros, no magic
        except posix.PosixError as e:
            got["errno"] = e.errno
        return 0

    assert run(s, prog) == 0
    assert got["errno"] == "EINVAL"


# ------------------------------------------------------------------- threads


def test_are_osf1s_user_threads_decthreads_over_kernel_threads(unix: Factory) -> None:
    s = unix("osf1", "alpha3000")
    out: dict[str, Any] = {}

    def prog(argv: list[str]) -> int:
        ut = me().uthreads()
        out["kind"] = type(ut)
        m = ut.mutex()
        c = ut.condition(m)
        turn = [0]
        log: list[int] = []

        def player(who: int) -> int:
            for _ in range(3):
                with m:
                    while turn[0] != who:
                        c.wait()
                    log.append(who)
                    turn[0] = 1 - who
                    c.signal()
            return who

        before = s.kernel.statistics()
        ts = [ut.create(player, i) for i in (0, 1)]
        results = [ut.join(t) for t in ts]
        after = s.kernel.statistics()
        out["threads"] = after.threads_created - before.threads_created
        out["syscalls"] = after.syscalls - before.syscalls
        ut.close()
        return 0 if log == [0, 1] * 3 and results == [0, 1] else 1

    assert run(s, prog) == 0
    assert out["kind"] is DECThreads
    assert out["threads"] == 2 and out["syscalls"] > 10


def test_are_ultrixs_user_threads_still_the_user_level_library(unix: Factory) -> None:
    s = unix("ultrix")
    kinds: list[type] = []

    def prog(argv: list[str]) -> int:
        kinds.append(type(me().uthreads()))
        return 0

    assert run(s, prog) == 0
    assert kinds[0] is not DECThreads


# --------------------------------------------------------------- the suites


def test_are_the_baseline_suites_reachable_by_name_but_not_part_of_reproduce() -> None:
    assert "ultrix" in all_suites() and "osf1" in all_suites()
    assert "ultrix" not in SUITES and "osf1" not in SUITES


@pytest.mark.parametrize("baseline, profile", [("ultrix", "ds5000"), ("osf1", "alpha3000")])
def test_does_each_baseline_row_cost_more_than_the_lean_one_and_check_its_path(baseline: str,
                                                                                profile: str) -> None:
    rows = ("null_syscall", "exc_protection", "ipc_pipe", "cross_as_call", "vm_prot100", "fork_join_user")
    lean, faithful = unix_suite.table(), unix_suite.table(baseline)
    for name in rows:
        fn, _, _ = lean[name]
        n = 3
        a, b = fn(profile, n), faithful[name][0](profile, n)
        assert b.system == baseline and a.system == "unix"
        if name == "fork_join_user" and baseline == "ultrix":
            assert b.sim_cycles == a.sim_cycles  # Ultrix's user threads are the lean library's
        else:
            assert b.sim_cycles > a.sim_cycles, name


def test_is_a_baseline_suites_document_valid_against_the_bench_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    table = {k: (fn, 2, 2) for k, (fn, _, _) in unix_suite.table("osf1").items() if k in ("null_syscall", "vm_trap")}
    monkeypatch.setattr(unix_suite, "table", lambda baseline=None: table)
    doc = run_suite("osf1", "alpha3000", quick=True)
    jsonschema.validate(doc, SCHEMA)
    assert doc["suite"] == "osf1" and {r["system"] for r in doc["results"]} == {"osf1"}
    assert [r["benchmark"] for r in doc["results"]] == ["null_syscall", "vm_trap"]


def test_do_the_baselines_steps_reach_the_caches_under_detailed_memory_only() -> None:
    def cycles(baseline: str | None, memory: str) -> tuple[int, int]:
        s = cast(UnixSystem, boot("unix", "ds5000", baseline=baseline, memory=memory))
        c = getpid_cycles(s)
        h = s.machine.hierarchy
        fetches = 0 if h is None else h.statistics().caches[0].accesses
        s.shutdown()
        return c, fetches

    ideal, _ = cycles("ultrix", "ideal")
    detailed, fetched = cycles("ultrix", "detailed")
    lean_detailed, lean_fetched = cycles(None, "detailed")
    assert detailed > ideal  # the steps' stores go through the write buffer, their lines through the caches
    assert fetched > lean_fetched  # their instructions were fetched through the I-cache
    assert detailed - lean_detailed > ideal - cycles(None, "ideal")[0]  # the stalls are the baseline's
