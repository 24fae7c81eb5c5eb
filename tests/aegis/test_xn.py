"""XN: disk blocks as secure bindings, metadata checked by the library's UDFs (aegis/xn.py).

Environments use the raw system calls (no library file system): a metadata
type whose blocks hold up to 16 little-endian block numbers of data blocks
(``PTRS``), or of metadata blocks of the same type (``TREE``). Disks are one
cylinder (171 blocks of 4 KB).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from exospin.aegis import (
    AegisError,
    BadArgument,
    BadBlock,
    BadDisk,
    BadTemplate,
    DiskIOError,
    XNSyscalls,
)
from exospin.systems import System, boot
from helpers import assert_no_leaks, run_in_env

#: A block of up to 16 pointers to data blocks (0: no pointer).
PTRS = '''
def owns(b):
    out = []
    for i in range(0, 64, 4):
        n = int.from_bytes(b[i:i + 4], "little")
        if n:
            out.append((n, 0))
    return out
'''
#: The same, pointing to blocks of type 1 (a tree of blocks of the first type registered).
TREE = PTRS.replace("(n, 0)", "(n, 1)")
VA = 0x20000


def ptr(slot: int, block: int) -> tuple[int, bytes]:
    return 4 * slot, block.to_bytes(4, "little")


@pytest.fixture
def xn() -> Iterator[Callable[..., System]]:
    booted: list[System] = []

    def factory(**kw: Any) -> System:
        s = boot("aegis", disk=kw.pop("disk", True), disk_cylinders=1, **kw)
        booted.append(s)
        return s

    yield factory
    for s in booted:
        assert_no_leaks(s)


def mkfs(sys: XNSyscalls, name: str = "a", key: bytes = b"k", source: str = PTRS) -> tuple[Any, int, int]:
    """Format if blank, register the type, make a root; (root cap, root block, type)."""
    if sys.xn_info()[2]:
        sys.xn_format()
    t = sys.xn_type(source)
    block = sys.xn_free_blocks(1)[0]
    return sys.xn_root_create(name, t, block, key), block, t


def frame(sys: XNSyscalls) -> Any:
    return sys.frame_alloc(sys.free_frames(1)[0])


def test_does_the_kernel_start_no_io_by_itself(xn: Callable[..., System]) -> None:
    s = xn()
    run_in_env(s, lambda sys: sys.null())
    assert s.machine.disks[0].statistics().requests == 0
    n = run_in_env(s, lambda sys: sys.xn_info())
    assert n[:2] == (171, 4096) and "blank" in n[2]
    assert s.machine.disks[0].statistics().requests == 1  # the catalogue, read when a library asked


def test_is_every_call_refused_on_a_blank_disk_until_it_is_formatted(xn: Callable[..., System]) -> None:
    s = xn()

    def body(sys: XNSyscalls) -> str:
        with pytest.raises(BadDisk, match="the disk is blank"):
            sys.xn_type(PTRS)
        sys.xn_format()
        with pytest.raises(BadDisk, match="holds an XN catalogue"):
            sys.xn_format()
        return "ok"

    assert run_in_env(s, body) == "ok"


def test_is_an_image_that_is_not_xn_refused_and_never_reformatted(xn: Callable[..., System], tmp_path: Path) -> None:
    img = tmp_path / "other.img"
    s0 = xn(disk=img)
    s0.machine.disks[0].close()
    with img.open("r+b") as f:
        f.write(b"UFS2 superblock, not XN" + bytes(100))
    before = img.read_bytes()
    s = xn(disk=img)

    def body(sys: XNSyscalls) -> str:
        with pytest.raises(BadDisk, match="block 0 is not a valid XN catalogue: its magic number"):
            sys.xn_type(PTRS)
        with pytest.raises(BadDisk, match="xn_format: refused: block 0 is not a valid XN catalogue"):
            sys.xn_format()
        return sys.xn_info()[2]

    assert "not reformatted" in run_in_env(s, body)
    s.machine.disks[0].close()
    assert img.read_bytes() == before


def test_can_an_environment_reach_another_file_systems_blocks(xn: Callable[..., System]) -> None:
    s = xn()
    box: dict[str, Any] = {}

    def a(sys: XNSyscalls) -> None:
        root, rb, _ = mkfs(sys, "a", b"secret")
        d = sys.xn_free_blocks(1)[0]
        sys.xn_read(root, rb, frame(sys))
        sys.xn_update(root, rb, *ptr(0, d), gain=[d])
        sys.xn_read(root, d, frame(sys))
        sys.xn_write(root, d)
        sys.xn_write(root, rb)
        box["a"] = (rb, d)
        sys.xn_release(root, d)
        sys.xn_release(root, rb)

    def b(sys: XNSyscalls) -> list[str]:
        t = sys.xn_type(PTRS)
        root = sys.xn_root_create("b", t, sys.xn_free_blocks(1)[0], b"b")
        rb, d = box["a"]
        errs = []
        for call in (lambda: sys.xn_read(root, d, frame(sys)), lambda: sys.xn_alloc(root, d, 0),
                     lambda: sys.xn_write(root, rb)):
            with pytest.raises(BadBlock) as e:
                call()
            errs.append(str(e.value))
        myroot = sys.xn_mount("b", b"b")[1]
        sys.xn_read(root, myroot, frame(sys))
        with pytest.raises(BadBlock, match=f"would point to block {d}, which is another root's"):
            sys.xn_update(root, myroot, *ptr(0, d), gain=[d])
        with pytest.raises(BadArgument, match="wrong key for root 'a'"):
            sys.xn_mount("a", b"guess")
        sys.xn_release(root, myroot)
        return errs

    run_in_env(s, a)
    errs = run_in_env(s, b)
    assert errs[0] == f"xn_read: block {box['a'][1]} is not root 'b''s (it is another file system's)"
    assert "xn_alloc: block" in errs[1] and "another file system's" in errs[1]
    assert "another file system's" in errs[2]


def test_is_a_udf_that_lies_about_its_pointers_refused(xn: Callable[..., System]) -> None:
    s = xn()
    hides = "def owns(b):\n    return []\n"

    def body(sys: XNSyscalls) -> None:
        root, rb, _ = mkfs(sys, source=hides)
        d = sys.xn_free_blocks(1)[0]
        sys.xn_read(root, rb, frame(sys))
        with pytest.raises(BadTemplate, match=r"its UDF says the change gains \[\] .* you claimed \[" + str(d)):
            sys.xn_update(root, rb, *ptr(0, d), gain=[d])
        sys.xn_update(root, rb, *ptr(0, d))  # what it hides is not the library's: d stays free
        assert d in sys.xn_free_blocks()
        sys.xn_write(root, rb)
        sys.xn_release(root, rb)
        # one that invents a pointer to XN's own catalogue block
        with pytest.raises(BadTemplate, match="names block 0, which is not a file system's block"):
            t = sys.xn_type("def owns(b):\n    if b[0]:\n        return [(0, 0)]\n    return []\n")
            root2 = sys.xn_root_create("c", t, sys.xn_free_blocks(1)[0], b"")
            sys.xn_read(root2, sys.xn_mount("c", b"")[1], frame(sys))
            sys.xn_update(root2, sys.xn_mount("c", b"")[1], 0, b"\1", gain=[0])

    run_in_env(s, body)
    assert s.kernel.xn.statistics().refused == 2


@pytest.mark.parametrize("source, message", [
    ("def owns(b):\n    while True:\n        pass\n", "ran out of its budget"),
    ("seen = []\ndef owns(b):\n    seen.append(1)\n    return []\n", "E501 a UDF module defines only functions"),
    ("def owns(b):\n    global n\n    return []\n", "E502"),
    ("def owns(b, memo=[]):\n    return memo\n", "E503"),
    ("def owns(b):\n    return [(20, 0)]\n", "a zeroed block points somewhere"),
    ("def owns(b):\n    return b.__class__\n", "E101"),
    ("def other(b):\n    return []\n", "E505 the UDF module defines no function 'owns'"),
])
def test_is_a_bad_udf_refused_and_a_looping_one_terminated(xn: Callable[..., System], source: str,
                                                          message: str) -> None:
    s = xn()

    def body(sys: XNSyscalls) -> int:
        sys.xn_format()
        with pytest.raises(BadTemplate, match=message):
            sys.xn_type(source)
        return sys.xn_statistics().types

    assert run_in_env(s, body) == 0


def test_is_metadata_written_only_after_what_it_points_to(xn: Callable[..., System]) -> None:
    s = xn()

    def body(sys: XNSyscalls) -> None:
        root, rb, _ = mkfs(sys)
        d = sys.xn_free_blocks(1)[0]
        sys.xn_read(root, rb, frame(sys))
        sys.xn_update(root, rb, *ptr(0, d), gain=[d])
        with pytest.raises(BadBlock, match=f"names block {d}, which is not initialised on the disk yet"):
            sys.xn_write(root, rb)
        sys.xn_read(root, d, frame(sys))
        sys.xn_write(root, d)
        sys.xn_write(root, rb)
        # dropping d: it stays the root's until the parent's copy without it is on the disk
        sys.xn_update(root, rb, *ptr(0, 0), lose=[d])
        assert d not in sys.xn_free_blocks()
        with pytest.raises(BadBlock, match="is being freed"):
            sys.xn_write(root, d)
        sys.xn_write(root, rb)
        assert d in sys.xn_free_blocks()
        assert sys.xn_lookup(d) is None  # its buffer went with it
        sys.xn_release(root, rb)

    run_in_env(s, body)


def test_do_two_environments_share_a_cached_block_through_the_registry(xn: Callable[..., System]) -> None:
    s = xn()
    box: dict[str, Any] = {}

    def writer(sys: XNSyscalls) -> None:
        root, rb, _ = mkfs(sys, "shared", b"k")
        d = sys.xn_free_blocks(1)[0]
        sys.xn_read(root, rb, frame(sys))
        sys.xn_update(root, rb, *ptr(0, d), gain=[d])
        c = sys.xn_read(root, d, frame(sys))
        sys.tlb_write(VA, c, True)
        sys.cpu.store(VA, 0xCAFE)
        sys.xn_write(root, d)
        sys.xn_write(root, rb)
        box["d"] = d
        box["pfn"] = sys.xn_lookup(d)
        box["reads"] = sys.xn_statistics().reads
        sys.yield_()  # the reader runs while the writer still holds the block
        sys.cpu.store(VA, 0xBEEF)
        sys.yield_()
        sys.xn_write(root, d)
        sys.xn_release(root, d)
        sys.xn_release(root, rb)

    def reader(sys: XNSyscalls) -> None:
        while "d" not in box:
            sys.yield_()
        root, _, _ = sys.xn_mount("shared", b"k")
        c = sys.xn_read(root, box["d"])  # cached: no frame needed, no I/O
        assert c.resource == box["pfn"] and sys.xn_statistics().reads == box["reads"]
        sys.tlb_write(VA, c, False)
        box["first"] = sys.cpu.load(VA)
        sys.yield_()
        box["second"] = sys.cpu.load(VA)
        sys.xn_release(root, box["d"])

    s.kernel.create_env(lambda sys: writer(sys), "writer", 1)
    s.kernel.create_env(lambda sys: reader(sys), "reader", 1)
    s.run()
    assert s.failures() == [] and (box["first"], box["second"]) == (0xCAFE, 0xBEEF)
    assert s.kernel.xn.statistics().registry_hits == 1


def test_do_two_first_reads_of_a_block_at_once_share_one_read(xn: Callable[..., System]) -> None:
    s = xn()
    box: dict[str, Any] = {}

    def setup(sys: XNSyscalls) -> None:
        root, rb, _ = mkfs(sys, "two", b"k")
        d = sys.xn_free_blocks(1)[0]
        sys.xn_read(root, rb, frame(sys))
        sys.xn_update(root, rb, *ptr(0, d), gain=[d])
        sys.tlb_write(VA, sys.xn_read(root, d, frame(sys)), True)
        sys.cpu.store(VA, 0x5EED)
        sys.xn_write(root, d)
        sys.xn_write(root, rb)
        sys.xn_release(root, d)
        sys.xn_release(root, rb)
        box["d"] = d

    run_in_env(s, setup)

    def user(sys: XNSyscalls) -> None:
        root, _, _ = sys.xn_mount("two", b"k")
        c = sys.xn_read(root, box["d"], frame(sys))
        sys.tlb_write(VA, c, False)
        box.setdefault("seen", []).append((c.resource, sys.cpu.load(VA)))
        sys.yield_()
        sys.xn_release(root, box["d"])

    reads = s.kernel.xn.reads
    s.kernel.create_env(user, "a", 1)
    s.kernel.create_env(user, "b", 1)
    s.run()
    assert len(box["seen"]) == 2, s.kernel.deaths
    assert box["seen"][0] == box["seen"][1] and box["seen"][0][1] == 0x5EED
    assert s.kernel.xn.reads == reads + 1  # one read, the second environment waited for it


def test_does_a_reboot_rebuild_the_free_map_from_the_trees(xn: Callable[..., System], tmp_path: Path) -> None:
    img = tmp_path / "xn.img"
    s = xn(disk=img)
    box: dict[str, Any] = {}

    def build(sys: XNSyscalls) -> None:
        root, rb, t = mkfs(sys, "tree", b"k", source=TREE)
        mid, leaf = sys.xn_free_blocks(2)
        sys.xn_read(root, rb, frame(sys))
        sys.xn_update(root, rb, *ptr(0, mid), gain=[mid])
        sys.xn_read(root, mid, frame(sys))
        sys.xn_update(root, mid, *ptr(3, leaf), gain=[leaf])
        sys.xn_read(root, leaf, frame(sys))
        for b in (leaf, mid, rb):
            sys.xn_write(root, b)
        for b in (leaf, mid, rb):
            sys.xn_release(root, b)
        box["tree"] = {rb, mid, leaf}
        box["free"] = sys.xn_free_blocks()
        stray = sys.xn_free_blocks(1)[0]
        sys.xn_alloc(root, stray, 0)  # allocated, never attached: not on the disk's trees

    run_in_env(s, build)
    s.machine.disks[0].close()
    s2 = xn(disk=img)

    def after(sys: XNSyscalls) -> tuple[list[int], int]:
        cap, rb, t = sys.xn_mount("tree", b"k")
        assert sys.xn_type(TREE) == t  # the same template, verified again from the disk
        return sys.xn_free_blocks(), sys.xn_statistics().blocks_owned

    free, owned = run_in_env(s2, after)
    assert free == box["free"] and owned == 3
    s2.machine.disks[0].close()


def test_is_a_write_the_disk_fails_reported_and_nothing_freed() -> None:
    s = boot("aegis", disk=True, disk_cylinders=1)

    def body(sys: XNSyscalls) -> None:
        root, rb, _ = mkfs(sys)
        d = sys.xn_free_blocks(1)[0]
        sys.xn_read(root, rb, frame(sys))
        sys.xn_update(root, rb, *ptr(0, d), gain=[d])
        sys.xn_read(root, d, frame(sys))
        sys.xn_write(root, d)
        sys.xn_write(root, rb)
        sys.xn_update(root, rb, *ptr(0, 0), lose=[d])
        s.machine.disks[0].fail_after_writes(0)
        with pytest.raises(DiskIOError, match="xn: write of block .*the disk stopped"):
            sys.xn_write(root, rb)
        assert d not in sys.xn_free_blocks()  # the parent on the disk still names it
        assert s.kernel.check_invariants() == []

    run_in_env(s, body)
    left = s.shutdown()  # the dirty root block, never written, is reported left behind, and only it
    assert left == {"frames": 0, "capabilities": 0, "slices": 0, "environments": 0, "xn_buffers": 1,
                    "xn_orphans": 0}
    assert s.kernel.check_invariants() == []


def test_are_bad_arguments_refused_and_change_nothing(xn: Callable[..., System]) -> None:
    s = xn()
    x = s.kernel.xn

    def body(sys: XNSyscalls) -> None:
        root, rb, _ = mkfs(sys)
        sys.xn_read(root, rb, frame(sys))
        pfn = x.registry[rb].pfn
        before = (list(x.owner), list(x.state), bytes(s.kernel.memory.span(pfn, 0, 4096)))
        with pytest.raises(BadBlock, match="block must be an int in 0..170, not 999"):
            sys.xn_read(root, 999)
        with pytest.raises(AegisError, match="data must be bytes inside the block"):
            sys.xn_update(root, rb, 4094, b"abcd")
        with pytest.raises(AegisError, match="gain must be a collection of block numbers"):
            sys.xn_update(root, rb, 0, b"\0", gain="12")
        with pytest.raises(AegisError, match="expected a capability"):
            sys.xn_write("root", rb)
        with pytest.raises(BadBlock, match="is free"):
            sys.xn_write(root, sys.xn_free_blocks(1)[0])
        assert (list(x.owner), list(x.state), bytes(s.kernel.memory.span(pfn, 0, 4096))) == before
        mine = sys.xn_free_blocks(1)[0]
        sys.xn_alloc(root, mine, 0)
        with pytest.raises(BadBlock, match=f"block {mine} is not in the registry for you"):
            sys.xn_write(root, mine)
        sys.xn_update(root, rb, 100, b"x")
        with pytest.raises(BadBlock, match="is dirty: write it first"):
            sys.xn_release(root, rb)
        sys.xn_write(root, rb)
        sys.xn_release(root, rb)

    run_in_env(s, body)


def test_does_a_dead_environment_leave_no_orphan_blocks_or_clean_buffers(xn: Callable[..., System]) -> None:
    s = xn()

    def body(sys: XNSyscalls) -> None:
        root, rb, _ = mkfs(sys)
        sys.xn_alloc(root, sys.xn_free_blocks(1)[0], 0)
        sys.xn_read(root, rb, frame(sys))

    run_in_env(s, body)
    st = s.kernel.xn.statistics()
    assert st.buffers == 0 and st.blocks_owned == 1  # only the root block, on the disk
    assert s.kernel.caps.count("xnroot") == 0


def test_is_a_corrupt_tree_on_the_image_refused_at_mount_with_its_reason(xn: Callable[..., System],
                                                                        tmp_path: Path) -> None:
    img = tmp_path / "xn.img"
    s = xn(disk=img)
    box: dict[str, Any] = {}

    def build(sys: XNSyscalls) -> None:
        root, rb, _ = mkfs(sys, "bad", b"k", source=TREE)
        sys.xn_root_create("good", sys.xn_type(TREE), sys.xn_free_blocks(1)[0], b"g")
        box["rb"] = rb

    run_in_env(s, build)
    s.machine.disks[0].close()
    with img.open("r+b") as f:  # the root block now names itself: a cycle
        f.seek(box["rb"] * 4096)
        f.write(box["rb"].to_bytes(4, "little"))
    s2 = xn(disk=img)

    def after(sys: XNSyscalls) -> int:
        with pytest.raises(BadDisk, match=f"root 'bad''s tree is damaged: block {box['rb']} is reached twice"):
            sys.xn_mount("bad", b"k")
        cap, _, _ = sys.xn_mount("good", b"g")  # the other root is untouched
        sys.xn_unmount(cap)
        return sys.xn_statistics().blocks_owned

    assert run_in_env(s2, after) == 2  # the damaged tree's root stays its own: no one else gets it
    s2.machine.disks[0].close()
