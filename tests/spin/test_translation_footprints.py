"""SPIN's Translation.protect and is_dirty under ``detailed`` memory (docs/memory.md):
each page's PTE goes through the caches, so after a user working set evicted the page
table's lines the next protection change (and dirty test) misses them; warm, they hit."""

from __future__ import annotations

import pytest

from exospin import posix
from exospin.machine import HIERARCHIES
from exospin.systems import boot


def _measure(op: str, memory: str) -> dict[str, int]:
    profile = "alpha3000"
    spec = HIERARCHIES[profile]
    assert spec.bcache is not None
    sweep = spec.bcache.size.cycles
    s = boot("spin", profile, memory=memory)
    cyc = s.machine.cpu.cycles
    out: dict[str, int] = {}

    def main(argv: list[str]) -> int:
        page = posix.page_size()
        buf = posix.mmap(sweep // page)
        target = posix.mmap(4)
        for a in range(buf, buf + sweep, spec.dcache.line.cycles):
            posix.load(a)
        posix.store(target, 1)

        def once() -> int:
            t = cyc()
            if op == "mprotect":
                posix.mprotect(target, 4, posix.PROT_READ)
                posix.mprotect(target, 4, posix.PROT_RW)
            else:
                posix.dirty(target)
            return cyc() - t
        for _ in range(3):
            once()
        out["warm"] = once()
        for a in range(buf, buf + sweep, spec.dcache.line.cycles):
            posix.load(a)
        mem = s.kernel.memory
        ctx = next(c for c in mem.contexts.values() if target >> mem.page_shift in c._pt)
        h = s.machine.cpu.hierarchy
        line = None if h is None else mem.fp.pte(ctx._asid, target >> mem.page_shift) >> h.dcache.lshift
        if h is not None:
            assert line is not None
            out["before"] = int(h.dcache.tags[line & h.dcache.mask] == line)  # evicted by the sweep
        out["cold"] = once()
        if h is not None:
            assert line is not None
            out["after"] = int(h.dcache.tags[line & h.dcache.mask] == line)  # read back in
        return 0
    pid = s.start(main, [], "t")
    s.run(until_us=20_000_000)
    assert s.exit_status(pid) == 0
    s.shutdown()
    return out


@pytest.mark.parametrize("op", ["mprotect", "dirty"])
def test_spins_protection_change_and_dirty_test_miss_their_pte_after_eviction(op: str) -> None:
    spec = HIERARCHIES["alpha3000"]
    got = {memory: _measure(op, memory) for memory in ("ideal", "detailed")}
    assert got["ideal"]["warm"] == got["ideal"]["cold"]
    assert got["detailed"]["cold"] >= got["detailed"]["warm"] + spec.l1_miss.cycles
    assert (got["detailed"]["before"], got["detailed"]["after"]) == (0, 1)  # the PTE's own line
