"""XN after a crash: a random workload stopped after its N-th disk write, rebooted from the image.

The workload builds a tree of metadata blocks (up to 16 pointers each, the
type of test_xn.py's TREE, whose pointers name blocks of the same type or,
for data, type 0) under one root, stamps every block it allocates with its
own number (offset 64), writes blocks in a random order (XN refuses those
that would put a pointer to an unwritten block on the disk) and drops leaves.
The disk stops after ``n`` writes. The checker (``fsck``) then reads the
image through a rebooted kernel and its own reads of the platter: the
root mounts (the walk found no damage), every block an on-disk pointer
reaches carries its own stamp (none is uninitialised or another's old
contents; the root may still be the zeroes XN wrote), no block is reached twice, and XN's rebuilt free map is exactly
the blocks no pointer reaches.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exospin.aegis import AegisError, XNSyscalls
from exospin.machine import Disk
from exospin.systems import boot
from helpers import run_in_env

TREE = '''
def owns(b):
    out = []
    for i in range(0, 64, 4):
        n = int.from_bytes(b[i:i + 4], "little")
        if n:
            t = 0
            if b[68 + i // 4]:
                t = 1
            out.append((n, t))
    return out
'''
#: byte 68 + slot: 1 if the slot's block is metadata (type 1), else data
VA = 0x40000
BLOCK = 4096


def workload(sys: XNSyscalls, ops: list[tuple[int, int]], box: dict[str, Any]) -> None:
    sys.xn_format()
    t = sys.xn_type(TREE)
    rb = sys.xn_free_blocks(1)[0]
    root = sys.xn_root_create("crash", t, rb, b"k")
    box["armed"]()  # the doom counter starts after the root exists
    kids: dict[int, list[int | None]] = {}  # cached metadata block -> its 16 slots (the block numbers)
    meta: list[int] = []
    kinds: dict[int, list[bool]] = {}  # metadata block -> which slots name metadata

    def header(b: int) -> bytes:
        """Block ``b``'s pointers (bytes 0..63), its stamp (64..67), its slots' kinds (68..83)."""
        ptrs = b"".join((c or 0).to_bytes(4, "little") for c in kids[b])
        flags = bytes(int(k) for k in kinds.get(b, [False] * 16))
        return ptrs + b.to_bytes(4, "little") + flags

    def load(b: int, is_meta: bool) -> None:
        c = sys.xn_read(root, b, sys.frame_alloc(sys.free_frames(1)[0]))
        if is_meta:
            kids[b] = [None] * 16
            meta.append(b)
            sys.xn_update(root, b, 64, b.to_bytes(4, "little"))
        else:
            sys.tlb_write(VA, c, True)
            sys.cpu.store(VA + 64, b)
            sys.tlb_unmap(VA)

    try:
        load(rb, True)
        for op, arg in ops:
            if op == 0:  # allocate a child (metadata if arg is odd) under some metadata block
                parent = meta[arg % len(meta)]
                slots = kids[parent]
                if None not in slots:
                    continue
                free = sys.xn_free_blocks(1)
                if not free:
                    continue
                c, i, is_meta = free[0], slots.index(None), bool(arg & 1)
                slots[i] = c
                kinds.setdefault(parent, [False] * 16)[i] = is_meta
                sys.xn_update(root, parent, 0, header(parent), gain=[c])
                load(c, is_meta)
            elif op == 1:  # write some cached block
                blocks = sorted(kids) + sorted(b for s in kids.values() for b in s if b is not None and b not in kids)
                b = blocks[arg % len(blocks)]
                try:
                    sys.xn_write(root, b)
                except AegisError as e:
                    if "not initialised" not in str(e) and "being freed" not in str(e):
                        raise
            else:  # drop a leaf: a data block, or a metadata block that points nowhere
                parent = meta[arg % len(meta)]
                slots = kids[parent]
                full = [i for i, b in enumerate(slots) if b is not None and not any(kids.get(b, [None]))]
                if not full:
                    continue
                i = full[arg % len(full)]
                c = slots[i]
                assert c is not None
                slots[i] = None
                sys.xn_update(root, parent, 0, header(parent), lose=[c])
                if c in kids:
                    del kids[c]
                    meta.remove(c)
        for b in sorted(kids, reverse=True):  # then write everything, children first (a clean end)
            for c in kids[b]:
                if c is not None and c not in kids:
                    sys.xn_write(root, c)
        for b in sorted(kids, key=lambda b: -depth(kids, b, rb)):
            sys.xn_write(root, b)
    except AegisError as e:
        if "the disk stopped" not in str(e):
            raise
        box["stopped"] = str(e)


def depth(kids: dict[int, list[int | None]], b: int, rb: int) -> int:
    d = 0
    while b != rb:
        b = next(p for p, s in kids.items() if b in s)
        d += 1
    return d


def fsck(image: Path) -> list[str]:
    """What is wrong with the XN tree on ``image`` (empty: consistent)."""
    s = boot("aegis", disk=image, disk_cylinders=1)
    problems: list[str] = []

    def body(sys: XNSyscalls) -> None:
        sys.xn_mount("crash", b"k")  # refused (BadDisk) if the walk found the tree damaged
        x = s.kernel.xn
        free = set(sys.xn_free_blocks())
        reached: dict[int, int] = {}
        for b in range(x.nblocks):
            if x.owner[b] > 0:
                reached[b] = x.btype[b]
        disk = s.machine.disks[0]
        for b in sorted(reached):
            raw = disk._load(b * 8, 8)  # the platter itself, as fsck reads the raw device
            if b == x.roots[1].block and not any(raw):
                continue  # the root as XN wrote it, zeroed, before the library's first write of it
            if int.from_bytes(raw[64:68], "little") != b:
                problems.append(f"block {b} is reached but does not carry its stamp (uninitialised)")
        everything = set(range(9, x.nblocks))
        if free != everything - set(reached):
            problems.append(f"free map wrong: {sorted(free ^ (everything - set(reached)))}")

    try:
        run_in_env(s, body)
    except AegisError as e:
        problems.append(f"mount: {e}")
    problems.extend(s.kernel.check_invariants())
    s.machine.disks[0].close()
    return problems


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 1000)), min_size=4, max_size=24),
       n=st.integers(0, 40))
def test_does_a_crash_after_any_write_leave_a_consistent_tree(ops: list[tuple[int, int]], n: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        img = Path(d) / "xn.img"
        s = boot("aegis", disk=img, disk_cylinders=1)
        disk: Disk = s.machine.disks[0]
        box: dict[str, Any] = {"armed": lambda: disk.fail_after_writes(n)}
        run_in_env(s, lambda sys: workload(sys, ops, box))
        disk.close()
        assert fsck(img) == []


def test_does_the_checker_see_a_pointer_to_an_uninitialised_block() -> None:
    """The checker itself: a tree whose root names a block never written is reported (a
    disk written behind XN's back, since XN would not write it)."""
    with tempfile.TemporaryDirectory() as d:
        img = Path(d) / "xn.img"
        s = boot("aegis", disk=img, disk_cylinders=1)
        run_in_env(s, lambda sys: workload(sys, [], {"armed": lambda: None}))
        x = s.kernel.xn
        rb = next(b for b in range(x.nblocks) if x.owner[b] > 0)
        s.machine.disks[0].close()
        with img.open("r+b") as f:  # the root names block 100, which holds zeroes
            f.seek(rb * BLOCK)
            f.write((100).to_bytes(4, "little"))
        assert fsck(img) == ["block 100 is reached but does not carry its stamp (uninitialised)"]
