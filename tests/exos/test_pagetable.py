"""ExOS' page tables (exos/pagetable/): the linear one ExOS had, the inverted one the paper
added, each charged for what it does; a process picks one and its children inherit it."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exospin import posix
from exospin.exos import PTE
from exospin.exos.pagetable import TABLES, Inverted, Linear
from exospin.exos.pagetable import inverted as inv
from exospin.systems import boot


class Counter:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self, n: int) -> None:
        self.n += n


def table(kind: type) -> tuple[Any, Counter, Counter]:
    refs, insns = Counter(), Counter()
    return kind(refs, insns, 1024), refs, insns


def test_does_the_linear_table_charge_what_exos_charged_before() -> None:
    t, refs, insns = table(Linear)
    t.enter(0x10000, [PTE(None, False) for _ in range(3)])
    assert (refs.n, insns.n) == (3, 0)  # one PTE store per page
    assert t.lookup(0x10001) is t[0x10001] and t.lookup(0x20000) is None
    assert (refs.n, insns.n) == (3 + 2 + 2, 0)  # two references per walk, hit or miss
    assert [v for v, _ in t.scan()] == [0x10000, 0x10001, 0x10002] and refs.n == 7 + 3 * 2


def test_does_an_inverted_lookup_charge_each_entry_of_the_chain_it_walks() -> None:
    t, refs, insns = table(Inverted)
    n = len(t._heads)
    a, b, c = 5, 5 + n * n, 5 + 2 * n * n  # one bucket: (vpn ^ vpn >> bits) & mask is 5 for each
    assert t._bucket(a) == t._bucket(b) == t._bucket(c)
    for v in (a, b, c):
        t[v] = PTE(None, False)  # raw: uncharged
    assert (refs.n, insns.n) == (0, 0) and sorted(t.chains(), reverse=True)[:2] == [3, 0]
    # c is at the head (entered last), a at the tail
    t.lookup(c)
    assert (insns.n, refs.n) == (inv.HASH_INSNS + 1, 1 + 1 + 1)  # head, tag, PTE
    t.lookup(a)
    assert (insns.n, refs.n) == (2 * inv.HASH_INSNS + 1 + 3, 3 + (1 + 3 + 2 + 1))  # head, 3 tags, 2 links, PTE
    assert t.lookup(a + 1) is None  # another bucket, empty: the hash and its head
    assert t.statistics().entries_examined == 1 + 3 + 0 and t.statistics().lookups == 3


def test_does_the_inverted_table_double_when_it_holds_more_entries_than_buckets() -> None:
    t, refs, insns = table(Inverted)
    first = len(t._heads)
    t.enter(0x10000, [PTE(None, False, prot=i & 3) for i in range(first + 1)])
    st_ = t.statistics()
    assert st_.buckets == 2 * first and st_.grows == 1 and st_.entries == first + 1
    assert all(t[0x10000 + i].prot == i & 3 for i in range(first + 1))  # every entry moved
    # a contiguous region lands in distinct buckets: every chain one entry at most
    assert st_.longest_chain == 1
    moved = first + 1  # the doubling comes once the 65th is in: all 65 move
    assert insns.n == (first + 1) * inv.HASH_INSNS + moved * inv.HASH_INSNS
    assert refs.n == (first + 1) * inv.ENTER_REFS + first * inv.BUCKET_REFS + moved * inv.GROW_REFS


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("set del get"), st.integers(0, 600)), max_size=120))
def test_is_the_inverted_table_a_mapping_like_the_linear_one(ops: list[tuple[str, int]]) -> None:
    lin, _, _ = table(Linear)
    hashed, _, _ = table(Inverted)
    for op, vpn in ops:
        if op == "set":
            pte = PTE(None, False, prot=vpn & 3)
            lin[vpn] = pte
            hashed[vpn] = pte
        elif op == "del":
            assert lin.pop(vpn, None) is hashed.pop(vpn, None)
        else:
            assert lin.lookup(vpn) is hashed.lookup(vpn)
    assert dict(lin.items()) == dict(hashed.items()) and len(lin) == len(hashed)
    assert sum(hashed.chains()) == len(hashed)


def test_does_the_inverted_table_follow_what_is_mapped_not_the_address_span() -> None:
    lin, _, _ = table(Linear)
    hashed, _, _ = table(Inverted)
    for i in range(100):  # a page every 4 MB: each needs a second-level page of its own
        for t in (lin, hashed):
            t[i * 1024] = PTE(None, False)
    assert lin.words() == 1024 * 101
    assert hashed.words() == 128 + 3 * 100


def _program(argv: list[str]) -> int:
    """mmap, fork (copy-on-write), mprotect with a fault handler, dirty: on either table."""
    page = posix.page_size()
    a = posix.mmap(4)
    for i in range(4):
        posix.store(a + i * page, i + 1)

    def child() -> int:
        posix.store(a, 99)  # copy-on-write in the child
        return 0 if posix.load(a) == 99 and posix.load(a + page) == 2 else 1
    if posix.wait(posix.fork(child))[1] != 0 or posix.load(a) != 1:
        return 3
    faults: list[int] = []

    def handler(vaddr: int, write: bool) -> None:
        faults.append(vaddr)
        posix.mprotect(vaddr & -page, 1, posix.PROT_RW)
    posix.on_fault(handler)
    posix.mprotect(a, 4, posix.PROT_READ)
    for i in range(4):
        posix.store(a + i * page, 10 + i)
    ok = (posix.load(a) == 10 and faults == [a + i * page for i in range(4)]
          and all(posix.dirty(a + i * page) for i in range(4)))
    return 0 if ok else 2


@pytest.mark.parametrize("kind", list(TABLES))
def test_does_a_program_run_the_same_on_either_table_and_its_child_inherit_it(kind: str) -> None:
    system = boot("aegis")
    seen: list[str] = []

    def program(argv: list[str]) -> int:
        seen.append(posix._p().vm.pt.kind)  # type: ignore[attr-defined]
        return _program(argv)
    pid = system.start(program, [], "pt", page_table=kind)
    system.run()
    assert system.exit_status(pid) == 0
    assert seen == [kind]
    assert system.shutdown() == {"frames": 0, "capabilities": 0, "slices": 0, "environments": 0}
    assert not system.exos.procs and not system.exos.sharers


def test_does_a_forked_child_get_a_table_of_its_parents_kind() -> None:
    system = boot("aegis")
    kinds: list[str] = []

    def program(argv: list[str]) -> int:
        a = posix.mmap(1)
        posix.store(a, 7)

        def child() -> int:
            kinds.append(posix._p().vm.pt.kind)  # type: ignore[attr-defined]
            return 0 if posix.load(a) == 7 else 1
        return posix.wait(posix.fork(child))[1]
    pid = system.start(program, [], "pt", page_table="inverted")
    system.run()
    assert system.exit_status(pid) == 0 and kinds == ["inverted"]
    system.shutdown()


def test_is_an_unknown_page_table_refused_by_name_before_anything_starts() -> None:
    system = boot("aegis")
    with pytest.raises(ValueError, match=r"unknown page table 'hashed' \(known: linear, inverted\)"):
        system.start(lambda argv: 0, [], "x", page_table="hashed")
    assert not system.exos.procs and not system.kernel.envs
    system.shutdown()


def test_does_an_execed_program_keep_its_processs_table() -> None:
    system = boot("aegis")
    kinds: list[str] = []

    def second(argv: list[str]) -> int:
        kinds.append(posix._p().vm.pt.kind)  # type: ignore[attr-defined]
        a = posix.mmap(1)
        posix.store(a, 5)
        return 0 if posix.load(a) == 5 else 1

    def first(argv: list[str]) -> int:
        posix.exec(second, [])
        return 2
    pid = system.start(first, [], "pt", page_table="inverted")
    system.run()
    assert system.exit_status(pid) == 0 and kinds == ["inverted"]
    system.shutdown()


def test_the_inverted_tables_lookups_touch_bucket_tags_links_and_pte_through_the_caches() -> None:
    """Under ``detailed`` memory (``place``) a lookup loads the bucket's head, each entry's
    tag (and link when it goes on), and the PTE found; those words miss after a user
    working set evicted them, and hit when warm."""
    from exospin.exos.pagetable.inverted import ENTRY_WORDS, PLACED_BUCKETS
    from exospin.machine import HIERARCHIES, MemoryHierarchy

    h = MemoryHierarchy(HIERARCHIES["ds5000"])
    touched: list[tuple[list[int], bool]] = []
    stall = [0]

    def touch(words: list[int], write: bool) -> None:
        touched.append((list(words), write))
        for w in words:
            stall[0] += (h.write if write else h.read)(w * 4, 0)

    t = Inverted(lambda n: None, lambda n: None, 1024)
    base = 0x40000  # words
    t.place(touch, base)
    t.enter(0, [PTE(None, False) for _ in range(8)])
    assert [w for _, w in touched] == [False, True]  # heads loaded, entries and heads stored
    touched.clear()
    t.lookup(3)  # a chain of one entry: head, tag, PTE
    (words, write), = touched
    assert not write and len(words) == 3
    assert words[0] == base + t._bucket(3) % PLACED_BUCKETS
    assert words[1] == base + PLACED_BUCKETS + 3 * ENTRY_WORDS and words[2] == words[1] + 1
    stall[0] = 0
    t.lookup(3)
    assert stall[0] == 0  # warm
    for a in range(0, 65536, 16):  # a user working set over the whole D-cache
        h.read(0x200000 + a, 0)
    t.lookup(3)
    assert stall[0] >= HIERARCHIES["ds5000"].l1_miss.cycles  # the table's lines missed
    touched.clear()
    assert t.lookup(1 << 20) is None  # a miss walks the chain it finds: head, then tag and link per entry
    (words, _), = touched
    assert (len(words) - 1) % 2 == 0
    assert t.empty()._touch is touch  # a forked child's table is placed too
