"""XN: disk blocks as secure bindings, metadata checked by the library's own functions.

What this models
    Xok's XN (Kaashoek et al., "Application performance and flexibility on
    exokernel systems", SOSP 1997, section 4.3): the kernel protects disk
    blocks without knowing any file system. Blocks are allocated by number
    from a free map the kernel keeps and every environment may read (as
    frames are, syscalls.free_frames). A library file system describes each
    kind of metadata block it uses by a *template*: a UDF (an untrusted
    deterministic function, verified by verifier/udf.py and run under a
    budget) that, given a block's bytes, says which blocks it points to and
    of which type each is (0: a data block). Everything a file system owns
    hangs off a *root*, a block named in XN's catalogue; a capability for
    the root (kind ``xnroot``) is what lets an environment act on its blocks.

    * **Updates.** A library changes a metadata block only through
      ``update``: it names the bytes and the blocks the change gains and
      loses; the kernel runs the UDF on the block before and after, and
      allows the change only if the UDF's difference is exactly what was
      claimed (a UDF that hides or invents a pointer is caught here), every
      block gained is free or an unattached block of the same root, and every
      block lost is released by XN's rules below. So one file system can never
      point at, read or write another's blocks.
    * **Ordering** (the paper's three rules, enforced, not trusted): a block
      allocated is *uninitialised* until written, and a metadata block may
      not be written while its UDF names an uninitialised block (never a
      persistent pointer to garbage); a block dropped from its parent stays
      the root's, *being freed*, until the parent's copy without the pointer
      is on the disk (never reuse a block an on-disk pointer still names);
      a block cannot be gained while some parent still names it (no move
      before the new pointer is set: moves are not offered, see storage.md).
    * **The buffer-cache registry.** Which cached block is in which frame is
      the kernel's: a library reads a block into a frame it gives up to the
      registry, and any environment holding the root's capability then finds
      the same frame (no I/O) and gets a capability for it, READ for
      metadata (which changes only through ``update``), READ and WRITE for
      data. Two environments share one copy, coherently.
    * **The kernel never starts an I/O by itself.** Every disk request is a
      library's system call (read, write; mount and format, which read or
      write XN's own catalogue); the caller sleeps until the disk's
      completion interrupt, which this module takes (``irq_handlers``).

    After a reboot XN rebuilds its free map by walking every root's tree
    with its UDFs (Xok does the same): a block is allocated if and only if
    an on-disk pointer reaches it, so a crash never leaks or double-allocates.

Why it is built this way
    The kernel's state is a few arrays indexed by block number (owner,
    state, type, parent: Xok keeps the same in its free map and registry);
    the catalogue (block 0: roots and types) and the types' UDF sources
    (blocks 1 to MAX_TYPES) are on the disk, so a rebooted kernel loads the
    templates again and verifies them again. A block is one page, so a
    cached block is one frame.

    Simplified: access is by the owner table (which root owns a block), not
    by walking the path from the root on each access as Xok's
    parent-pointer checks do; the table is rebuilt from the trees at mount,
    so it says the same thing. Blocks are released only leaves first (a
    metadata block is dropped only once its cached copy points nowhere). No
    ACL UDFs, no per-block size UDFs, no moves of a block between parents,
    no asynchronous I/O interface (each request is waited for); a root is
    protected by a key given at creation (Xok's persistent capabilities).

Interface
    ``XN(kernel, disk)`` (``Aegis.attach_disk``); ``XNSyscalls`` (xncalls.py)
    calls its methods; ``forget(env)`` at an environment's death; ``held()``;
    ``statistics()``; ``frames`` (the kernel's own: the scratch frame and the
    registry's); ``check()`` for the invariants.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..machine import Disk
from ..machine.disk import Completion, DiskError
from ..verifier import Budget, BudgetExceeded, OpCosts, QuotaExceeded, Rejected, verify_udf
from .caps import Capability
from .env import Environment
from .errors import AegisError, ResourceExhausted

#: The catalogue's block, and the blocks holding the types' UDF sources (1..MAX_TYPES).
CATALOGUE = 0
MAX_TYPES = 8
#: Roots the catalogue holds, and the longest root name (bytes of UTF-8).
MAX_ROOTS = 16
MAX_NAME = 20
#: A UDF's budget per run (verifier ticks), by default and at most; the most pointers one
#: metadata block may report.
UDF_BUDGET = 5_000
MAX_UDF_BUDGET = 50_000
MAX_POINTERS = 1024
#: The type of a data block (a UDF's answer names it for blocks it does not interpret).
DATA = 0
#: The owner the frame table records for the kernel's frames, and the block table for XN's own.
KERNEL_OWNER = -1
XN_OWNER = -1
#: A block's state when owned.
UNINIT, INIT, FREEING = 1, 2, 3
#: What a root's block records as its parent (the catalogue names it).
ROOTED = -2
MAGIC = b"XN97"
VERSION = 1
_HEAD = struct.Struct("<4sIIII")  # magic, version, blocks, types, roots
_TYPE = struct.Struct("<III")  # used, source length, budget
_ROOT = struct.Struct("<III20s32s")  # used, block, type, name, key digest
_TYPES_AT, _ROOTS_AT = 64, 256


class XNError(AegisError):
    """An XN call refused: the message says which block, root or template and why."""


class BadBlock(XNError):
    """A block number out of range, not the caller's root's, or in a state the call cannot take."""


class BadTemplate(XNError):
    """A UDF the verifier refused, or one that lied about its pointers, looped or failed."""


class BadDisk(XNError):
    """The disk holds no XN catalogue (blank, or another file system), or a damaged one."""


class DiskIOError(XNError):
    """The disk failed the request (it stopped: fail_after_writes)."""


@dataclass(eq=False, slots=True)
class Template:
    id: int
    source: str
    budget: int
    fn: Callable[[bytes], Any]
    meter: Budget


@dataclass(eq=False, slots=True)
class Root:
    id: int
    name: str
    block: int
    type: int
    key: bytes  # sha256 of the key given at creation
    mounters: set[int] = field(default_factory=set)  # environments holding it mounted
    damaged: str = ""  # why the walk at mount refused the tree ("" if it did not)


@dataclass(eq=False, slots=True)
class Buf:
    """A registry entry: block ``block`` cached in the kernel's frame ``pfn``."""

    block: int
    pfn: int
    dirty: bool = False
    busy: bool = False  # a write is in flight
    filling: bool = False  # the read that brings it in is in flight
    refs: set[int] = field(default_factory=set)  # environments that read it
    caps: dict[int, list[Capability]] = field(default_factory=dict)  # env -> the frame capabilities it was given


@dataclass(frozen=True, slots=True)
class XNStats:
    blocks: int  # blocks on the disk
    blocks_free: int
    blocks_owned: int  # by roots (every state)
    types: int
    roots: int
    buffers: int  # registry entries now
    buffers_dirty: int
    reads: int  # disk reads XN issued (blocks)
    writes: int  # disk writes XN issued (blocks)
    registry_hits: int  # reads served from the registry (no I/O)
    updates: int  # metadata updates allowed
    refused: int  # calls refused
    udf_runs: int
    interrupts: int


class XN:
    """The kernel's disk-block state (see the module note)."""

    def __init__(self, kernel: Any, disk: Disk) -> None:
        self.k = kernel
        self.disk = disk
        m = kernel.m
        p = m.profile
        self.memory = m.memory
        self.loop = m.loop
        self.bb = p.page_size  # a block is one page
        if self.bb % disk.sector_bytes:
            raise ValueError(f"XN: a {self.bb}-byte block is not a whole number of {disk.sector_bytes}-byte sectors")
        self.spb = self.bb // disk.sector_bytes
        self.nblocks = disk.sectors // self.spb
        if self.nblocks <= MAX_TYPES + 1:
            raise ValueError(f"XN: a disk of {self.nblocks} blocks leaves none for file systems")
        n = self.nblocks
        self.owner = [0] * n  # 0 free, XN_OWNER, or a root id
        self.state = [0] * n
        self.btype = [0] * n
        self.parent = [-1] * n  # the block whose UDF names it, ROOTED, or -1 (unattached)
        self.orphans: dict[int, set[int]] = {}  # env -> the unattached blocks it allocated (freed at its death)
        for b in range(MAX_TYPES + 1):
            self.owner[b] = XN_OWNER
            self.state[b] = INIT
        self.pending_free: dict[int, list[int]] = {}  # parent -> blocks freed once it is written
        self.registry: dict[int, Buf] = {}
        self.types: dict[int, Template] = {}
        self.roots: dict[int, Root] = {}
        self.bad = "the XN catalogue has not been read yet"  # "" once a valid one is loaded
        self.loaded = False
        self.cat_busy = False  # a call is reading or writing the catalogue (through the scratch frame)
        self.c_mem, self.c_insn, self.c_copy = p.mem_ref, p.insn, p.copy_word
        self.op_costs = OpCosts(insn=p.insn, mem_ref=p.mem_ref, proc_call=p.proc_call)
        self.done: dict[int, Completion] = {}  # tag -> completion not yet taken by its waiter
        self.waiter: dict[int, Environment] = {}
        owner = kernel.frame_owner
        free = [pfn for pfn in range(len(owner) - 1, -1, -1) if not owner[pfn]][:1]
        if not free:
            raise ResourceExhausted("attach_disk: no frame free for XN's scratch buffer")
        self.scratch = free[0]  # where the catalogue and walked metadata are read
        owner[self.scratch] = KERNEL_OWNER
        self.frames: set[int] = {self.scratch}
        self.reads = self.writes = self.hits = self.updates = self.refused = self.udf_runs = 0
        self.interrupts = 0
        kernel.irq_handlers[disk.irq] = self.interrupt

    # ------------------------------------------------------------------- I/O

    def interrupt(self, irq: int) -> None:
        """The disk's completion interrupt: take every completion, wake its waiter."""
        self.interrupts += 1
        self.disk.ack()
        while True:
            c = self.disk.complete()
            if c is None:
                break
            self.done[c.tag] = c
            env = self.waiter.pop(c.tag, None)
            if env is not None:
                env.wake_pending = True
                env.asleep = False

    def io(self, op: str, block: int, pfn: int) -> None:
        """Read or write ``block`` from or to frame ``pfn`` and wait (the caller sleeps until
        the interrupt). Raises DiskIOError if the disk fails it."""
        me = self.k.current
        assert me is not None
        sector = block * self.spb
        try:
            tag = (self.disk.read if op == "read" else self.disk.write)(sector, self.spb, pfn)
        except DiskError as e:
            raise DiskIOError(f"xn: {op} of block {block}: {e}") from None
        if op == "read":
            self.reads += 1
        else:
            self.writes += 1
        self.waiter[tag] = me
        sleep = self.k.syscalls.sleep
        while tag not in self.done:
            sleep()
        c = self.done.pop(tag)
        if not c.ok:
            raise DiskIOError(f"xn: {op} of block {block}: {c.error}")

    def _bytes(self, pfn: int) -> bytes:
        return bytes(self.memory.span(pfn, 0, self.bb))

    # -------------------------------------------------------------- the UDFs

    def run_udf(self, t: Template, data: bytes, call: str) -> dict[int, int]:
        """Run template ``t``'s UDF on ``data``: {block: type} it points to, checked."""
        t.meter.reset()
        self.udf_runs += 1
        self.loop.now += self.k.c.upcall  # enter the function (its code charges for itself)
        try:
            out = t.fn(data)
        except QuotaExceeded as e:  # (a UDF keeps no state: defence in depth)
            raise BadTemplate(f"{call}: the UDF of type {t.id} exceeded its memory quota ({e})") from None
        except BudgetExceeded as e:
            raise BadTemplate(f"{call}: the UDF of type {t.id} ran out of its budget ({e})") from None
        except Exception as e:  # LimitExceeded is a ValueError
            raise BadTemplate(f"{call}: the UDF of type {t.id} raised {type(e).__name__}: {e}") from None
        if not isinstance(out, list | tuple) or len(out) > MAX_POINTERS:
            raise BadTemplate(f"{call}: the UDF of type {t.id} must return a list of at most {MAX_POINTERS} "
                              f"(block, type) pairs, not {type(out).__name__}")
        got: dict[int, int] = {}
        for pair in out:
            if not (isinstance(pair, tuple) and len(pair) == 2 and type(pair[0]) is int and type(pair[1]) is int):
                raise BadTemplate(f"{call}: the UDF of type {t.id} returned {pair!r}, not a (block, type) pair")
            b, ty = pair
            if not MAX_TYPES < b < self.nblocks:
                raise BadTemplate(f"{call}: the UDF of type {t.id} names block {b}, which is not a file "
                                  f"system's block ({MAX_TYPES + 1}..{self.nblocks - 1})")
            if ty != DATA and ty not in self.types:
                raise BadTemplate(f"{call}: the UDF of type {t.id} names block {b} of type {ty}, "
                                  "which is not registered")
            if got.get(b, ty) != ty:
                raise BadTemplate(f"{call}: the UDF of type {t.id} names block {b} twice, with two types")
            got[b] = ty
        self.loop.now += len(got) * (self.c_mem + 2 * self.c_insn)  # the kernel reads each pair
        return got

    def _template(self, source: str, budget: int, tid: int) -> Template:
        v = verify_udf(source, f"udf{tid}.py", "owns", budget=budget, costs=self.op_costs, clock=self.loop)
        return Template(tid, source, budget, v.exports["owns"], v.budget)

    # ------------------------------------------------------------- catalogue

    def load(self) -> None:
        """Read the catalogue and rebuild the free map by walking every root (at the first
        XN call: the caller asked, and sleeps through the reads)."""
        self.io("read", CATALOGUE, self.scratch)
        head = self._bytes(self.scratch)
        if not any(head):
            self.bad = "the disk is blank (no XN catalogue in block 0): format it (xn_format)"
            return
        why = self._parse(head)
        if why:
            self.types.clear()
            self.roots.clear()
            self.bad = f"block 0 is not a valid XN catalogue: {why}; refused, not reformatted"
            return
        for r in self.roots.values():
            self._walk(r)
        self.bad = ""

    def unload(self) -> None:
        """Forget what a failed ``load`` learnt (nothing is cached or mounted yet)."""
        for b in range(MAX_TYPES + 1, self.nblocks):
            self.owner[b] = self.state[b] = self.btype[b] = 0
            self.parent[b] = -1
        self.types.clear()
        self.roots.clear()
        self.bad = "the XN catalogue has not been read yet"

    def _parse(self, head: bytes) -> str:
        magic, version, blocks, ntypes, nroots = _HEAD.unpack_from(head, 0)
        if magic != MAGIC:
            return f"its magic number is {magic!r}, not {MAGIC!r}"
        if version != VERSION:
            return f"version {version}, this kernel reads version {VERSION}"
        if blocks != self.nblocks:
            return f"it describes a disk of {blocks} blocks, this one has {self.nblocks}"
        for i in range(MAX_TYPES):
            used, length, budget = _TYPE.unpack_from(head, _TYPES_AT + i * _TYPE.size)
            if not used:
                continue
            if not 0 < length <= self.bb or not 1 <= budget <= MAX_UDF_BUDGET:
                return f"type {i + 1} has a source of {length} bytes and a budget of {budget}"
            self.io("read", 1 + i, self.scratch)
            try:
                src = self._bytes(self.scratch)[:length].decode()
                self.types[i + 1] = self._template(src, budget, i + 1)
            except (UnicodeDecodeError, Rejected) as e:
                return f"the UDF of type {i + 1} on block {1 + i} does not verify: {e}"
        for i in range(MAX_ROOTS):
            used, block, ty, name, key = _ROOT.unpack_from(head, _ROOTS_AT + i * _ROOT.size)
            if not used:
                continue
            if not MAX_TYPES < block < self.nblocks or ty not in self.types:
                return f"root {i + 1} names block {block} of type {ty}"
            try:
                nm = name.rstrip(b"\0").decode()
            except UnicodeDecodeError:
                return f"root {i + 1}'s name is not UTF-8"
            self.roots[i + 1] = Root(i + 1, nm, block, ty, key)
        if len(self.types) != ntypes or len(self.roots) != nroots:
            return f"it counts {ntypes} types and {nroots} roots, its tables hold {len(self.types)} and {len(self.roots)}"
        return ""

    def _walk(self, r: Root) -> None:
        """Claim every block reachable from root ``r`` (reading its metadata from the disk)."""
        mine: list[int] = []
        stack = [(r.block, r.type, ROOTED)]
        try:
            while stack:
                b, ty, par = stack.pop()
                if self.owner[b]:
                    raise BadTemplate(f"block {b} is reached twice (it is {'XN' if self.owner[b] < 0 else 'a root'}'s "
                                      "already)")
                self.owner[b], self.state[b], self.btype[b], self.parent[b] = r.id, INIT, ty, par
                mine.append(b)
                self.loop.now += 2 * self.c_mem  # the free map's word, the block's record
                if ty != DATA:
                    self.io("read", b, self.scratch)
                    kids = self.run_udf(self.types[ty], self._bytes(self.scratch), "mount")
                    stack.extend((c, t, b) for c, t in sorted(kids.items(), reverse=True))
        except XNError as e:  # what it reached stays its own (no one else gets a damaged tree's blocks)
            r.damaged = f"root {r.name!r}'s tree is damaged: {e}"

    def write_catalogue(self) -> None:
        head = bytearray(self.bb)
        _HEAD.pack_into(head, 0, MAGIC, VERSION, self.nblocks, len(self.types), len(self.roots))
        for tid, t in self.types.items():
            _TYPE.pack_into(head, _TYPES_AT + (tid - 1) * _TYPE.size, 1, len(t.source.encode()), t.budget)
        for rid, r in self.roots.items():
            _ROOT.pack_into(head, _ROOTS_AT + (rid - 1) * _ROOT.size, 1, r.block, r.type, r.name.encode(), r.key)
        self.memory.span(self.scratch, 0, self.bb)[:] = head
        self.loop.now += (self.bb // 4) * self.c_copy
        self.io("write", CATALOGUE, self.scratch)

    def format(self) -> None:
        """A fresh, empty catalogue (the caller checked nothing is mounted or cached)."""
        for b in range(MAX_TYPES + 1, self.nblocks):
            if self.owner[b]:
                self._set_free(b)
        self.types.clear()
        self.roots.clear()
        self.pending_free.clear()
        self.bad = ""
        self.write_catalogue()

    def add_type(self, source: str, budget: int) -> int:
        for t in self.types.values():
            if t.source == source and t.budget == budget:
                return t.id  # the same template again (a library registers its types at each mount)
        if len(self.types) >= MAX_TYPES:
            raise ResourceExhausted(f"xn_type: the catalogue holds {MAX_TYPES} types already")
        if len(source.encode()) > self.bb:
            raise BadTemplate(f"xn_type: a UDF's source is at most {self.bb} bytes, not {len(source.encode())}")
        tid = min(set(range(1, MAX_TYPES + 1)) - set(self.types))
        try:
            t = self._template(source, budget, tid)
        except Rejected as e:
            raise BadTemplate(f"xn_type: the verifier refused the UDF: {e}") from None
        self.loop.now += len(source) * self.c_insn  # the verifier's walk, per byte (as ash_install)
        self.types[tid] = t
        try:
            if self.run_udf(t, bytes(self.bb), "xn_type"):
                raise BadTemplate("xn_type: the UDF says a zeroed block points somewhere (a block just "
                                  "allocated is zeroes, and must point nowhere)")
            src = source.encode()
            self.memory.span(self.scratch, 0, self.bb)[:] = src + bytes(self.bb - len(src))
            self.loop.now += -(-len(src) // 4) * self.c_copy
            self.io("write", tid, self.scratch)  # the source first, then the catalogue naming it
            self.write_catalogue()
        except BaseException:
            del self.types[tid]
            raise
        return tid

    def add_root(self, env: Environment, name: str, ty: int, block: int, key: bytes) -> Root:
        rid = min(set(range(1, MAX_ROOTS + 1)) - set(self.roots))
        r = Root(rid, name, block, ty, hashlib.sha256(key).digest())
        self.owner[block], self.state[block], self.btype[block], self.parent[block] = rid, UNINIT, ty, ROOTED
        try:
            self.memory.zero(self.scratch)  # the root block initialised on disk before the catalogue names it
            self.io("write", block, self.scratch)
            self.state[block] = INIT
            self.roots[rid] = r
            self.write_catalogue()
        except BaseException:
            self.roots.pop(rid, None)
            self._set_free(block)
            raise
        r.mounters.add(env.id)
        return r

    # ---------------------------------------------------------- the free map

    def _set_free(self, b: int) -> None:
        buf = self.registry.pop(b, None)
        if buf is not None:
            self._drop_frame(buf.pfn)
        self.owner[b] = self.state[b] = self.btype[b] = 0
        if self.parent[b] == -1:
            self._attached(b)
        self.parent[b] = -1
        for c in self.pending_free.pop(b, ()):  # it was unreachable from the disk: so are they
            self._set_free(c)

    def allocated(self, env: Environment, b: int) -> None:
        """``b`` was allocated unattached by ``env`` (xn_alloc)."""
        self.orphans.setdefault(env.id, set()).add(b)

    def _attached(self, b: int) -> None:
        """``b`` is no longer unattached (attached by an update, or freed)."""
        for eid, mine in self.orphans.items():
            if b in mine:
                mine.discard(b)
                if not mine:
                    del self.orphans[eid]
                return

    def _drop_frame(self, pfn: int) -> None:
        self.frames.discard(pfn)
        self.k._release_frame(pfn)  # its readers' capabilities and bindings die

    def release_after_write(self, b: int, freed: list[int]) -> None:
        for c in freed:
            if self.owner[c] and self.state[c] == FREEING:
                self._set_free(c)

    # ---------------------------------------------------------------- update

    def update(self, r: Root, b: int, offset: int, data: bytes, gain: set[int], lose: set[int]) -> None:
        """Apply the change to cached metadata block ``b`` if its UDF agrees (see the module note)."""
        buf = self.registry[b]
        t = self.types[self.btype[b]]
        old = self._bytes(buf.pfn)
        new = old[:offset] + data + old[offset + len(data):]
        before = self.run_udf(t, old, "xn_update")
        after = self.run_udf(t, new, "xn_update")
        gained = {c for c in after if c not in before}
        lost = {c for c in before if c not in after}
        retyped = [c for c in after if c in before and after[c] != before[c]]
        if gained != gain or lost != lose:
            raise BadTemplate(f"xn_update: block {b}: its UDF says the change gains {sorted(gained)} and loses "
                              f"{sorted(lost)}; you claimed {sorted(gain)} and {sorted(lose)}")
        if retyped:
            raise BadBlock(f"xn_update: block {b}: the change would retype block {retyped[0]}")
        for c in sorted(gained):
            o = self.owner[c]
            if o == 0:
                continue
            if o != r.id:
                raise BadBlock(f"xn_update: block {b} would point to block {c}, which is "
                               f"{'XN' if o < 0 else 'another root'}'s")
            if self.parent[c] != -1 or self.state[c] != UNINIT:
                raise BadBlock(f"xn_update: block {b} would point to block {c}, which is attached already "
                               f"(to block {self.parent[c]}) or not newly allocated")
            if self.btype[c] != after[c]:
                raise BadBlock(f"xn_update: block {c} was allocated as type {self.btype[c]}, not {after[c]}")
        for c in sorted(lost):
            if self.btype[c] != DATA:
                kb = self.registry.get(c)
                if kb is None:
                    raise BadBlock(f"xn_update: dropping metadata block {c}: read it first (XN frees a metadata "
                                   "block only once it points nowhere)")
                if kb.busy:
                    raise BadBlock(f"xn_update: dropping block {c}: a write of it is in flight")
                if self.run_udf(self.types[self.btype[c]], self._bytes(kb.pfn), "xn_update"):
                    raise BadBlock(f"xn_update: dropping metadata block {c}: it still points to blocks "
                                   "(free its children first)")
        # allowed: apply
        self.memory.span(buf.pfn, offset, len(data))[:] = data
        self.loop.now += -(-len(data) // 4) * self.c_copy + (len(gained) + len(lost)) * 2 * self.c_mem
        buf.dirty = True
        self.updates += 1
        for c in sorted(gained):
            if self.owner[c]:
                self._attached(c)
            self.owner[c], self.btype[c], self.parent[c] = r.id, after[c], b
            if self.state[c] == 0:
                self.state[c] = UNINIT
        for c in sorted(lost):
            if self.state[c] == UNINIT:  # never on the disk: no on-disk pointer names it
                self._set_free(c)
            else:
                self.state[c] = FREEING
                self.parent[c] = -1
                self.pending_free.setdefault(b, []).append(c)

    def write_check(self, b: int) -> None:
        """Rule 2: a metadata block goes to the disk only if everything it names is initialised."""
        if self.btype[b] == DATA:
            return
        kids = self.run_udf(self.types[self.btype[b]], self._bytes(self.registry[b].pfn), "xn_write")
        for c in sorted(kids):
            if self.state[c] != INIT:
                raise BadBlock(f"xn_write: block {b} names block {c}, which is not initialised on the disk "
                               f"yet: write block {c} first")

    # -------------------------------------------------------------- lifetime

    def forget(self, env: Environment) -> None:
        """``env`` died: its references to cached blocks, its unattached blocks and its mounts go."""
        for b, buf in list(self.registry.items()):
            buf.refs.discard(env.id)
            for cap in buf.caps.pop(env.id, ()):
                self.k.caps.revoke(cap)
            if not buf.refs and not buf.dirty and not buf.busy:
                del self.registry[b]
                self._drop_frame(buf.pfn)
        for b in sorted(self.orphans.pop(env.id, ())):
            self._set_free(b)
        for r in self.roots.values():
            if env.id in r.mounters:
                r.mounters.discard(env.id)
                if not r.mounters:
                    self.k.caps.revoke_all("xnroot", r.id)

    def held(self) -> dict[str, int]:
        """What environments left behind: cached blocks never written or released, and blocks
        allocated but never attached (all zero after every environment died cleanly)."""
        return {"xn_buffers": len(self.registry), "xn_orphans": sum(len(v) for v in self.orphans.values())}

    def statistics(self) -> XNStats:
        owned = sum(1 for o in self.owner if o > 0)
        free = sum(1 for o in self.owner if o == 0)
        return XNStats(self.nblocks, free, owned, len(self.types), len(self.roots), len(self.registry),
                       sum(1 for b in self.registry.values() if b.dirty), self.reads, self.writes, self.hits,
                       self.updates, self.refused, self.udf_runs, self.interrupts)

    def check(self) -> list[str]:
        """XN's invariants from its state (docs/invariants.md), recomputed the slow way."""
        bad: list[str] = []
        for b in range(self.nblocks):
            o = self.owner[b]
            if o > 0 and o not in self.roots:
                bad.append(f"I39: block {b} is owned by root {o}, which does not exist")
            if o == 0 and (b in self.registry or self.state[b]):
                bad.append(f"I39: free block {b} is cached or has a state")
            p = self.parent[b]
            if o > 0 and p >= 0 and self.owner[p] != o:
                bad.append(f"I39: block {b} of root {o} hangs off block {p} of another owner")
        for b, buf in self.registry.items():
            if self.k.frame_owner[buf.pfn] != KERNEL_OWNER or buf.pfn not in self.frames:
                bad.append(f"I40: cached block {b}'s frame {buf.pfn} is not the kernel's")
        pfns = [buf.pfn for buf in self.registry.values()]
        if len(set(pfns)) != len(pfns):
            bad.append("I40: two cached blocks share a frame")
        for p, kids in self.pending_free.items():
            for c in kids:
                if self.state[c] != FREEING:
                    bad.append(f"I41: block {c} waits for block {p}'s write but is not being freed")
        return bad


__all__ = ["BadBlock", "BadDisk", "BadTemplate", "CATALOGUE", "DATA", "DiskIOError", "MAX_POINTERS", "MAX_ROOTS",
           "MAX_TYPES", "MAX_UDF_BUDGET", "UDF_BUDGET", "XN", "XNError", "XNStats"]
