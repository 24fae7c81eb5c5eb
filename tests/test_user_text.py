"""User instruction fetches under ``detailed`` memory (docs/memory.md, "User instruction
fetches"): ``compute(n)`` fetches the first ``n`` instructions of the address space's
text through the I-cache, so a large enough user loop evicts kernel text, which the next
system call then refills; under ``ideal`` nothing of this reaches the clock."""

from __future__ import annotations

from typing import Any

import pytest

from exospin import posix
from exospin.machine import HIERARCHIES, MemoryHierarchy
from exospin.systems import boot


def _misses_after(op: Any, work: int, h: Any, out: dict[str, int]) -> None:
    """Warm ``op`` (a kernel entry), then ``compute(work)`` and ``op`` once, counting the
    I-cache misses of that ``op``; then the same user text twice (the second all hits)."""
    for _ in range(4):
        op()
    posix_compute = out.pop("_compute")  # type: ignore[misc]
    compute = posix_compute  # the system's compute (posix.compute or sys.cpu.compute)
    compute(work)
    before = h.icache.misses
    op()
    out["misses"] = h.icache.misses - before
    compute(work)
    before = h.icache.misses
    compute(work)
    out["again"] = h.icache.misses - before


def _run(name: str, profile: str, work: int) -> dict[str, int]:
    s = boot(name, profile, memory="detailed")
    h = s.machine.cpu.hierarchy
    out: dict[str, Any] = {}
    if name == "aegis":  # Aegis' null system call, from an environment
        def env(os_: Any, sys: Any) -> None:
            out["_compute"] = sys.cpu.compute
            _misses_after(sys.null, work, h, out)
        s.spawn(env, "t")
        s.run()
    else:  # a pipe round: write and read through the kernel's pipe path
        def main(argv: list[str]) -> int:
            r, w = posix.pipe()

            def op() -> None:
                posix.write(w, b"ab")
                posix.read(r, 2)
            out["_compute"] = posix.compute
            _misses_after(op, work, h, out)
            return 0
        pid = s.start(main, [], "t")
        s.run(until_us=5_000_000)
        assert s.exit_status(pid) == 0
    s.shutdown()
    return out


@pytest.mark.parametrize("name", ["aegis", "unix", "spin"])
@pytest.mark.parametrize("profile", ["ds5000", "alpha3000"])
def test_a_user_loop_as_large_as_the_icache_evicts_kernel_text(name: str, profile: str) -> None:
    whole = HIERARCHIES[profile].icache.size.cycles // 4  # instructions filling the I-cache
    small, big = _run(name, profile, 1), _run(name, profile, whole)
    assert big["misses"] >= 1  # the user text replaced the entry path's text lines
    assert big["misses"] > small["misses"]
    assert small["again"] == 0  # the same user text again hits (a long one may meet a clock tick)


def test_user_text_counts_lines_and_hits_when_warm() -> None:
    h = MemoryHierarchy(HIERARCHIES["ds5000"])
    line = HIERARCHIES["ds5000"].icache.line.cycles
    miss = HIERARCHIES["ds5000"].l1_miss.cycles
    assert h.user_text(0x100000, 10) == 3 * miss  # 40 bytes: three 16-byte lines
    assert h.user_text(0x100000, 10) == 0
    assert h.user_text(0x100000, 13) == miss  # 52 bytes: one line more
    assert h.icache.accesses == 3 + 3 + 4
    # a kernel line in the set of the text's first line evicts it; the text refetches it
    h.fetch(0x100000 + HIERARCHIES["ds5000"].icache.size.cycles, 0)
    assert h.user_text(0x100000, 13) == miss
    # capped at the cache: a longer run costs no more misses than the cache holds
    h2 = MemoryHierarchy(HIERARCHIES["ds5000"])
    sets = HIERARCHIES["ds5000"].icache.size.cycles // line
    assert h2.user_text(0, 10 * sets * line // 4) == sets * miss
    assert h2.user_text(0, 0) == 0


@pytest.mark.parametrize("profile", ["ds5000", "alpha3000"])
def test_ideal_machines_fetch_nothing_for_compute(profile: str) -> None:
    s = boot("unix", profile, memory="ideal")
    assert s.machine.cpu.hierarchy is None
    cyc = s.machine.cpu.cycles
    out: dict[str, int] = {}

    def main(argv: list[str]) -> int:
        t = cyc()
        posix.compute(5000)
        out["d"] = cyc() - t
        return 0
    pid = s.start(main, [], "t")
    s.run(until_us=5_000_000)
    assert s.exit_status(pid) == 0
    from exospin.machine import get_profile
    assert out["d"] == 5000 * get_profile(profile).insn
    s.shutdown()
