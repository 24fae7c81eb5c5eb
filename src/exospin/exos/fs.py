"""ExOS' library file system: C-FFS on XN's secure bindings for disk blocks.

What this models
    The file system an ExOS process links with (Kaashoek et al., "Application
    performance and flexibility on exokernel systems", SOSP 1997, section 5:
    C-FFS as a library over XN), in the spirit of Ganger and Kaashoek's C-FFS
    ("Embedded inodes and explicit grouping", USENIX 1997):

    * **Embedded inodes.** A directory block holds its files' inodes, not
      names pointing at an inode table: an entry is 128 bytes (kind, name,
      size, 13 block pointers), 31 entries a 4 KB block after its header. A
      lookup reads the directory's blocks and nothing else; creating a file
      is one metadata block changed. The inode number is where the inode is
      (block x 32 + slot), so it changes when a rename moves the inode.
    * **Grouping.** A file's data blocks are placed at the free blocks
      nearest after its directory block (or its previous block), so the
      small files of a directory sit together on the platter, next to the
      inodes that name them (C-FFS's explicit grouping places them in
      64 KB groups read in one I/O; here each block is its own request).
    * **Typed metadata.** Every metadata block (the root block, directory
      blocks, a file's indirect block) is of one XN template whose UDF
      (``udf_source``) says what a block points to: a directory block's file
      entries name up to 12 data blocks and one indirect block, its directory
      entries up to 13 directory blocks; an indirect block names up to 1023
      data blocks. So the kernel checks every change the library makes.
    * **Ordering.** XN refuses to write a block that names one not yet on
      the disk; the library writes children before parents (``_flush``,
      from the dependencies it records at each attach) and XN keeps a
      dropped block until the parent's copy without it is on the disk.

Why it is built this way
    One process's library state is in ``Cffs`` (its root capability, its
    cache of blocks, its descriptors); what the processes share (open
    inodes, the lock, which blocks are dirty and which wait for which) is
    ``FsShared``, in the ExOS shared segment. Blocks are shared through XN's
    registry: a process reading a block another has cached gets the same
    frame (no I/O), and every metadata field is read from that frame, never
    kept in the library, so two processes see one file system. Operations
    hold the file system's lock (in the shared segment) across the I/O they
    sleep through, so they are atomic with respect to each other.

    A block's bytes are moved with loads and stores through a window the
    library maps the block's frame at (``WINDOW``), as ExOS' pipes move
    theirs; metadata changes go through ``xn_update`` only.

    Simplified (docs/storage.md, "ExOS"): names of at most 60 bytes; at most
    13 blocks (403 entries) a directory and 12 + 1023 blocks a file; no hard
    links; ``fsync`` writes every dirty block of the file system (a superset
    of the file's); open files are not inherited by a forked child; a file
    renamed into another directory block is copied (XN offers no moves), a
    directory is not (EXDEV).

Interface
    ``Cffs(proc)``: the posix file calls of :class:`exospin.posix.FileProcess`
    (``open`` ... ``fadvise``) plus ``read``/``write``/``close`` of its
    descriptors; ``owns(fd)``; ``exit()`` (flush, release, unmount) and
    ``forget()`` (killed: no system calls). ``FsShared(format)``: what
    ``System.mount`` puts in the shared segment. ``udf_source(t)``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .. import posix
from ..aegis import AegisError, BadDisk, Capability, DiskIOError, XNError
from ..posix import PosixError, Stat
from .bufcache import POLICIES, SharedCache
from .minimal import PTE

#: The root's name in XN's catalogue and the key ExOS' processes mount it with.
ROOT_NAME = "exos-cffs"
ROOT_KEY = b"exos-cffs: the ExOS library file system"
MAGIC = b"CFFS"
VERSION = 1
#: Where a block's frame is mapped while the library moves its bytes.
WINDOW = 0x7E00_0000
#: The layout of a metadata block: a tag in byte 0 (DIR, IND), 128-byte entries.
DIR, IND = 1, 2
ENTRY = 128
SLOTS = 32  # per block; slot 0 is the header
#: An entry's kind (byte 0); ORPHAN: unlinked while open, freed at its last close.
FREE, FILE, DIRECTORY, ORPHAN = 0, 1, 2, 3
NAME_AT, NAME_MAX = 12, 60
PTRS_AT, NDIRECT, NPTRS = 72, 12, 13
IND_PTRS = 1023
OPEN_MAX = 64
#: Blocks the shared buffer cache holds by default (FsShared(format, blocks)).
CACHE_BLOCKS = 64
ROOT_SLOT = 1  # the root directory's inode, in the root block

UDF = '''
def owns(b):
    out = []
    tag = b[0]
    if tag == 1:
        for s in range(1, 32):
            o = s * 128
            kind = b[o]
            if kind == 1 or kind == 3:
                for i in range(12):
                    p = o + 72 + 4 * i
                    n = int.from_bytes(b[p:p + 4], "little")
                    if n:
                        out.append((n, 0))
                n = int.from_bytes(b[o + 120:o + 124], "little")
                if n:
                    out.append((n, TYPE))
            elif kind == 2:
                for i in range(13):
                    p = o + 72 + 4 * i
                    n = int.from_bytes(b[p:p + 4], "little")
                    if n:
                        out.append((n, TYPE))
    elif tag == 2:
        for i in range(1, 1024):
            n = int.from_bytes(b[4 * i:4 * i + 4], "little")
            if n:
                out.append((n, 0))
    return out
'''
UDF_BUDGET = 50_000


def udf_source(t: int) -> str:
    """The template's UDF, naming its own type ``t`` for the metadata blocks it points to."""
    return UDF.replace("TYPE", str(t))


Loc = tuple[int, int]  # an inode: (block, slot)


@dataclass(eq=False)
class Inode:
    """An open inode, shared by every descriptor (of every process) that names it."""

    loc: Loc
    opens: int = 0


@dataclass(eq=False)
class FsShared:
    """The file system's state in the ExOS shared segment."""

    format: bool  # what System.mount was asked: format at the first use, or mount what is there
    blocks: int = CACHE_BLOCKS  # the shared buffer cache's size
    ready: bool = False  # formatted or found valid
    error: str = ""  # why the disk was refused ("" if it was not)
    type: int = 0
    block: int = 0  # the root block
    busy: bool = False  # the lock: an operation is in progress
    inodes: dict[Loc, Inode] = field(default_factory=dict)
    dirty: set[int] = field(default_factory=set)  # data blocks stored into and not written
    deps: dict[int, set[int]] = field(default_factory=dict)  # block -> blocks it names not yet written
    epoch: dict[int, int] = field(default_factory=dict)  # block -> times it was given back (a cached cap is stale)
    cache: SharedCache = field(init=False)  # the blocks kept cached, LRU-SP's list (bufcache/)

    def __post_init__(self) -> None:
        self.cache = SharedCache(self.blocks)


@dataclass(eq=False)
class OpenFile:
    inode: Inode
    flags: int
    offset: int = 0


def _err(errno: str, msg: str) -> PosixError:
    return PosixError(errno, msg)


class Cffs:
    """One process's library file system (see the module note)."""

    def __init__(self, proc: Any, shared: FsShared, policy: str = "lru") -> None:
        self.p = proc
        self.sys = proc.sys
        self.sh = shared
        self.root: Capability | None = None
        self.bb = self.sys.page_size
        self.wb = self.sys.word_bytes
        #: block -> (its frame's capability, the block's epoch when read), least recently used first
        self.cache: OrderedDict[int, tuple[Capability, int]] = OrderedDict()
        self.files: dict[int, OpenFile] = {}
        self.reads = self.writes = self.prefetched = 0
        self.policy = policy
        shared.cache.join(proc.pid, POLICIES[policy](proc.cpu.mem_refs))

    # ------------------------------------------------------------ the lock

    @contextmanager
    def _op(self, call: str) -> Iterator[Capability]:
        sh = self.sh
        if sh.busy:
            self.p.threads.block(lambda: not sh.busy)
        sh.busy = True
        try:
            try:
                root = self._mount(call)
                self._reap()
                yield root
            except DiskIOError as e:
                raise _err("EIO", f"{call}: {e}") from None
            except XNError as e:  # a refusal the library did not expect: its own bug, or a damaged disk
                raise _err("EIO", f"{call}: XN refused: {e}") from None
        finally:
            sh.busy = False

    def _mount(self, call: str) -> Capability:
        if self.root is not None:
            return self.root
        sh = self.sh
        if sh.error:
            raise _err("EINVAL", f"{call}: {sh.error}")
        sys = self.sys
        try:
            if not sh.ready:
                self._prepare(sys)
            cap, block, t = sys.xn_mount(ROOT_NAME, ROOT_KEY)
        except BadDisk as e:
            sh.error = f"the disk holds no ExOS file system: {e}"
            raise _err("EINVAL", f"{call}: {sh.error}") from None
        self.root = cap
        if not sh.ready:
            sh.type, sh.block, sh.ready = t, block, True
            self._reclaim_orphans()
        return cap

    def _prepare(self, sys: Any) -> None:
        """Format (``FsShared.format``) or check the disk, once, at the first file call."""
        sh = self.sh
        _, _, why = sys.xn_info()
        if sh.format:
            if why.startswith("the disk is blank"):
                sys.xn_format()
            else:
                sys.xn_format(force=True)
            t = sys.xn_type(udf_source(1), UDF_BUDGET)
            if t != 1:
                raise BadDisk(f"a fresh catalogue gave the template type {t}, not 1")
            block = sys.xn_free_blocks(1)[0]
            cap = sys.xn_root_create(ROOT_NAME, t, block, ROOT_KEY)
            self.root = cap
            sh.type, sh.block = t, block
            head = bytes([DIR, 0, 0, 0]) + MAGIC + VERSION.to_bytes(4, "little")
            self._update(block, 0, head)
            root = bytearray(ENTRY)
            root[0], root[1] = DIRECTORY, 1
            root[NAME_AT] = ord("/")
            self._update(block, ROOT_SLOT * ENTRY, bytes(root))
            self._flush(block)
            self._drop_all()
            sys.xn_unmount(cap)
            self.root = None
            sh.format = False
            return
        if why:
            raise BadDisk(why)
        try:
            cap, block, t = sys.xn_mount(ROOT_NAME, ROOT_KEY)
        except AegisError as e:
            raise BadDisk(f"{e}; refused, not reformatted") from None
        try:
            if sys.xn_type(udf_source(t), UDF_BUDGET) != t:
                raise BadDisk(f"root {ROOT_NAME!r}'s type {t} is not this file system's template; refused, "
                              "not reformatted")
            self.root = cap
            head = self._get(block, 0, 12)
            self._drop_all()
            if head[:1] != bytes([DIR]) or head[4:8] != MAGIC or head[8:12] != VERSION.to_bytes(4, "little"):
                raise BadDisk(f"root block {block} has no C-FFS header ({head!r}); refused, not reformatted")
        finally:
            self.root = None
            sys.xn_unmount(cap)

    # ------------------------------------------------------------ blocks

    def _cap(self, b: int, file: Hashable | None = None) -> Capability:
        """The frame capability for block ``b``, through the shared cache: a block another
        process cached is found in XN's registry (no I/O); a miss may replace a block, which
        the allocator picks (LRU-SP) and its owner's manager chooses."""
        sc = self.sh.cache
        if b in sc:
            sc.hit(b)
            return self._ref(b)
        mine = self.cache.get(b)
        miss = not (mine is not None and mine[1] == self.sh.epoch.get(b, 0)) and self.sys.xn_lookup(b) is None
        while sc.full():
            self._evict(sc.victim(b))
        c = self._ref(b)
        sc.insert(b, self.p.pid, file, miss)
        return c

    def _ref(self, b: int) -> Capability:
        """Our XN reference to ``b``'s frame: the one we hold, or the registry's (no I/O), or
        a frame of ours read into (I/O unless the block is new)."""
        hit = self.cache.get(b)
        ep = self.sh.epoch.get(b, 0)
        if hit is not None and hit[1] == ep:
            return hit[0]
        self.cache.pop(b, None)
        sys = self.sys
        assert self.root is not None
        if sys.xn_lookup(b) is not None:
            c = sys.xn_read(self.root, b)
        else:
            free = sys.free_frames(1)
            if not free:
                raise _err("ENOMEM", f"no frame free to cache block {b}")
            c = sys.xn_read(self.root, b, sys.frame_alloc(free[0]))
            self.reads += 1
        self.cache[b] = (c, ep)
        return c

    def _evict(self, b: int) -> None:
        """``b`` leaves the shared cache: written first if dirty (children before parents)."""
        sh = self.sh
        if b in sh.dirty or b in sh.deps:
            self._flush(b)
        sh.cache.remove(b)
        self._release(b)

    def _drop_all(self) -> None:
        """Every block we cached leaves the cache (written first if dirty), our references go."""
        self._flush_all()
        for b in [b for b, o in self.sh.cache.order.items() if o == self.p.pid]:
            self.sh.cache.remove(b)
        for b in list(self.cache):
            self._release(b)

    def _reap(self) -> None:
        """Drop our references to blocks that left the shared cache (another process replaced
        them) or were freed."""
        sh = self.sh
        for b in [b for b in self.cache if b not in sh.cache and b not in sh.dirty]:
            self._release(b)

    def _release(self, b: int) -> None:
        hit = self.cache.pop(b, None)
        if hit is None or hit[1] != self.sh.epoch.get(b, 0):
            return
        try:
            assert self.root is not None
            self.sys.xn_release(self.root, b)
        except AegisError:
            pass  # freed meanwhile (a parent's write freed it): nothing to give back

    @contextmanager
    def _window(self, c: Capability, writable: bool) -> Iterator[int]:
        vm = self.p.vm
        vpn = WINDOW >> vm._shift
        vm.pt[vpn] = PTE(c, writable, prot=3 if writable else 1, shared=True, dirty=True)
        self.sys.tlb_write(WINDOW, c, writable)
        try:
            yield WINDOW
        finally:
            vm.pt.pop(vpn, None)
            self.sys.tlb_unmap(WINDOW)

    def _get(self, b: int, off: int, n: int, file: Hashable | None = None) -> bytes:
        from .ipc import _get
        with self._window(self._cap(b, file), False) as va:
            return _get(self.p, va + off, n)

    def _put(self, b: int, off: int, data: bytes, file: Hashable | None = None) -> None:
        from .ipc import _put
        with self._window(self._cap(b, file), True) as va:
            _put(self.p, va + off, data)
        self.sh.dirty.add(b)

    def _update(self, b: int, off: int, data: bytes, gain: tuple[int, ...] = (), lose: tuple[int, ...] = ()) -> None:
        assert self.root is not None
        self._cap(b)
        self.sys.xn_update(self.root, b, off, data, gain, lose)
        if gain:
            self.sh.deps.setdefault(b, set()).update(gain)
        for c in lose:  # XN frees it (now, or once b is written): forget it
            self.cache.pop(c, None)
            self.sh.cache.remove(c)
            self.sh.epoch[c] = self.sh.epoch.get(c, 0) + 1
            self.sh.dirty.discard(c)
            self._drop_deps(c)
        self.sh.dirty.add(b)

    def _drop_deps(self, c: int) -> None:
        self.sh.deps.pop(c, None)
        for kids in self.sh.deps.values():
            kids.discard(c)

    def _alloc(self, near: int, t: int) -> int:
        """A free block, the nearest after ``near`` (C-FFS's grouping), allocated as type ``t``."""
        assert self.root is not None
        free = self.sys.xn_free_blocks()
        if not free:
            raise _err("ENOSPC", "the disk is full")
        b = next((f for f in free if f > near), free[0])
        self.sys.xn_alloc(self.root, b, t)
        self.sh.dirty.add(b)  # a new block goes to the disk (zeroes if nothing is stored) before its parent
        return b

    def _free_count(self) -> int:
        return len(self.sys.xn_free_blocks())

    def _flush(self, b: int) -> None:
        """Write ``b`` to the disk, after every block it names that is not there yet."""
        sh = self.sh
        for c in sorted(sh.deps.get(b, ())):
            self._flush(c)
        sh.deps.pop(b, None)
        if b in sh.dirty:
            assert self.root is not None
            self._ref(b)
            self.sys.xn_write(self.root, b)
            self.writes += 1
            sh.dirty.discard(b)

    def _flush_all(self) -> None:
        sh = self.sh
        while sh.deps or sh.dirty:
            self._flush(min(sh.deps) if sh.deps else min(sh.dirty))

    # ------------------------------------------------------------ entries

    def _entry(self, loc: Loc) -> bytes:
        return self._get(loc[0], loc[1] * ENTRY, ENTRY)

    @staticmethod
    def _ptrs(e: bytes) -> list[int]:
        return [int.from_bytes(e[PTRS_AT + 4 * i:PTRS_AT + 4 * i + 4], "little") for i in range(NPTRS)]

    @staticmethod
    def _size(e: bytes) -> int:
        return int.from_bytes(e[4:8], "little")

    @staticmethod
    def _name(e: bytes) -> str:
        return e[NAME_AT:NAME_AT + e[1]].decode()

    def _set_ptr(self, loc: Loc, i: int, value: int, gain: tuple[int, ...] = (), lose: tuple[int, ...] = ()) -> None:
        self._update(loc[0], loc[1] * ENTRY + PTRS_AT + 4 * i, value.to_bytes(4, "little"), gain, lose)

    def _set_size(self, loc: Loc, size: int) -> None:
        self._update(loc[0], loc[1] * ENTRY + 4, size.to_bytes(4, "little"))

    def _slots(self, d: Loc) -> Iterator[tuple[Loc, bytes]]:
        """Every used entry of directory ``d``: (its location, its bytes)."""
        for blk in self._ptrs(self._entry(d)):
            if not blk:
                continue
            data = self._get(blk, 0, self.bb)
            for s in range(1, SLOTS):
                e = data[s * ENTRY:(s + 1) * ENTRY]
                if e[0] != FREE:
                    yield (blk, s), e

    def _find(self, d: Loc, name: str) -> Loc | None:
        for loc, e in self._slots(d):
            if e[0] in (FILE, DIRECTORY) and self._name(e) == name:
                return loc
        return None

    def _parse(self, call: str, path: Any) -> list[str]:
        if not isinstance(path, str):
            raise _err("EINVAL", f"{call}: a path is a str, not {type(path).__name__}")
        if not path.startswith("/") or (path != "/" and path.endswith("/")):
            raise _err("EINVAL", f"{call}: {path!r} is not an absolute path without a trailing '/'")
        parts = [c for c in path.split("/")[1:] if c] if path != "/" else []
        if len(parts) != path.count("/") and path != "/":
            raise _err("EINVAL", f"{call}: {path!r} has an empty component")
        for c in parts:
            if c in (".", ".."):
                raise _err("EINVAL", f"{call}: {path!r}: '.' and '..' are not accepted")
            n = len(c.encode())
            if n > posix.NAME_MAX:
                raise _err("ENAMETOOLONG", f"{call}: the name {c[:20]!r}... is {n} bytes (NAME_MAX {posix.NAME_MAX})")
            if n > NAME_MAX:
                raise _err("ENAMETOOLONG", f"{call}: the name {c!r} is {n} bytes; this file system's names are "
                                           f"at most {NAME_MAX}")
        return parts

    def _walk(self, call: str, parts: list[str]) -> Loc:
        """The inode of the directory ``parts`` names."""
        d: Loc = (self.sh.block, ROOT_SLOT)
        for i, name in enumerate(parts):
            loc = self._find(d, name)
            where = "/" + "/".join(parts[:i + 1])
            if loc is None:
                raise _err("ENOENT", f"{call}: {where} does not exist")
            if self._entry(loc)[0] != DIRECTORY:
                raise _err("ENOTDIR", f"{call}: {where} is not a directory")
            d = loc
        return d

    def _lookup(self, call: str, path: Any) -> tuple[Loc, str, Loc | None]:
        """(the parent directory's inode, the last name, its inode or None)."""
        parts = self._parse(call, path)
        if not parts:
            return (self.sh.block, ROOT_SLOT), "", (self.sh.block, ROOT_SLOT)
        d = self._walk(call, parts[:-1])
        return d, parts[-1], self._find(d, parts[-1])

    def _new_entry(self, call: str, d: Loc, name: str, kind: int) -> Loc:
        """A new empty entry ``name`` of ``kind`` in directory ``d`` (a new directory block if need be)."""
        ptrs = self._ptrs(self._entry(d))
        for blk in ptrs:
            if blk:
                data = self._get(blk, 0, self.bb)
                for s in range(1, SLOTS):
                    if data[s * ENTRY] == FREE:
                        return self._fill(call, (blk, s), name, kind)
        if 0 not in ptrs:
            raise _err("ENOSPC", f"{call}: the directory is full ({NPTRS} blocks of {SLOTS - 1} entries)")
        if self._free_count() < 1:
            raise _err("ENOSPC", f"{call}: the disk is full")
        i = ptrs.index(0)
        blk = self._alloc(max(ptrs) if any(ptrs) else d[0], self.sh.type)
        self._cap(blk)
        self._update(blk, 0, bytes([DIR]))
        self._set_ptr(d, i, blk, gain=(blk,))
        return self._fill(call, (blk, 1), name, kind)

    def _fill(self, call: str, loc: Loc, name: str, kind: int) -> Loc:
        e = bytearray(ENTRY)
        nb = name.encode()
        e[0], e[1] = kind, len(nb)
        e[NAME_AT:NAME_AT + len(nb)] = nb
        self._update(loc[0], loc[1] * ENTRY, bytes(e))
        return loc

    def _truncate(self, loc: Loc) -> None:
        """Give back every block of the file at ``loc``; its size becomes 0."""
        e = self._entry(loc)
        ptrs = self._ptrs(e)
        ind = ptrs[NDIRECT]
        if ind:
            inner = self._ind(ind)
            lost = tuple(sorted({p for p in inner if p}))
            if lost:
                self._update(ind, 0, bytes([IND]) + bytes(self.bb - 1), lose=lost)
        lost = tuple(sorted({p for p in ptrs if p}))
        z = bytearray(e)
        z[4:8] = bytes(4)
        z[PTRS_AT:PTRS_AT + 4 * NPTRS] = bytes(4 * NPTRS)
        self._update(loc[0], loc[1] * ENTRY, bytes(z), lose=lost)

    def _ind(self, ind: int) -> list[int]:
        data = self._get(ind, 0, self.bb)
        return [int.from_bytes(data[4 * i:4 * i + 4], "little") for i in range(1, IND_PTRS + 1)]

    def _clear(self, loc: Loc) -> None:
        self._update(loc[0], loc[1] * ENTRY, bytes(ENTRY))

    def _remove(self, loc: Loc) -> None:
        """Free the file at ``loc``: its blocks, then its entry."""
        self._truncate(loc)
        self._clear(loc)

    def _reclaim_orphans(self) -> None:
        """At the first mount after boot: free files unlinked while open before a crash."""
        stack: list[Loc] = [(self.sh.block, ROOT_SLOT)]
        while stack:
            d = stack.pop()
            for loc, e in list(self._slots(d)):
                if e[0] == ORPHAN:
                    self._remove(loc)
                elif e[0] == DIRECTORY:
                    stack.append(loc)
        self._flush_all()

    # ------------------------------------------------------------ descriptors

    def owns(self, fd: Any) -> bool:
        return type(fd) is int and fd in self.files

    def _file(self, call: str, fd: Any) -> OpenFile:
        f = self.files.get(fd) if type(fd) is int else None
        if f is None:
            raise _err("EBADF", f"{call}: {fd!r} is not an open descriptor")
        return f

    def _new_fd(self, f: OpenFile) -> int:
        p = self.p
        fd = 0
        while fd in p.fds or fd in p.socks or fd in self.files:
            fd += 1
        self.files[fd] = f
        return fd

    # ------------------------------------------------------------ the posix calls

    def open(self, path: str, flags: int, mode: int) -> int:
        if type(flags) is not int or flags & ~(posix.O_ACCMODE | posix.O_CREAT | posix.O_EXCL | posix.O_TRUNC
                                               | posix.O_APPEND) or flags & posix.O_ACCMODE == 3:
            raise _err("EINVAL", f"open: bad flags {flags!r}")
        if len(self.files) >= OPEN_MAX:
            raise _err("EMFILE", f"open: {OPEN_MAX} files are open already")
        acc = flags & posix.O_ACCMODE
        with self._op("open"):
            d, name, loc = self._lookup("open", path)
            if loc is None:
                if not flags & posix.O_CREAT:
                    raise _err("ENOENT", f"open: {path} does not exist")
                loc = self._new_entry("open", d, name, FILE)
            else:
                if flags & posix.O_CREAT and flags & posix.O_EXCL:
                    raise _err("EEXIST", f"open: {path} exists (O_CREAT | O_EXCL)")
                kind = self._entry(loc)[0]
                if kind == DIRECTORY and acc != posix.O_RDONLY:
                    raise _err("EISDIR", f"open: {path} is a directory")
                if kind == FILE and flags & posix.O_TRUNC and acc != posix.O_RDONLY:
                    self._truncate(loc)
            ino = self.sh.inodes.get(loc)
            if ino is None:
                ino = self.sh.inodes[loc] = Inode(loc)
            ino.opens += 1
            self.p.cpu.mem_refs(4)
            return self._new_fd(OpenFile(ino, flags))

    def close(self, fd: int) -> None:
        f = self._file("close", fd)
        del self.files[fd]
        with self._op("close"):
            self._let_go(f.inode)

    def _let_go(self, ino: Inode) -> None:
        ino.opens -= 1
        if ino.opens == 0:
            del self.sh.inodes[ino.loc]
            if self._entry(ino.loc)[0] == ORPHAN:
                self._remove(ino.loc)

    def read(self, fd: int, n: int) -> bytes:
        f = self._file("read", fd)
        if type(n) is not int or n < 0:
            raise _err("EINVAL", f"read: count must be a non-negative int, not {n!r}")
        if f.flags & posix.O_ACCMODE == posix.O_WRONLY:
            raise _err("EBADF", f"read: descriptor {fd} is open for writing only")
        with self._op("read"):
            e = self._entry(f.inode.loc)
            if e[0] == DIRECTORY:
                raise _err("EISDIR", f"read: descriptor {fd} is a directory (readdir)")
            size = self._size(e)
            n = max(0, min(n, size - f.offset))
            out = bytearray()
            ptrs = self._ptrs(e)
            ind: list[int] | None = None
            pos = f.offset
            while len(out) < n:
                i, off = divmod(pos, self.bb)
                take = min(self.bb - off, n - len(out))
                if i < NDIRECT:
                    blk = ptrs[i]
                else:
                    if ind is None:
                        ind = self._ind(ptrs[NDIRECT]) if ptrs[NDIRECT] else [0] * IND_PTRS
                    blk = ind[i - NDIRECT]
                out += self._get(blk, off, take, f.inode.loc) if blk else bytes(take)  # a hole reads as zeros
                pos += take
            f.offset = pos
            return bytes(out)

    def write(self, fd: int, data: bytes) -> int:
        f = self._file("write", fd)
        if not isinstance(data, bytes | bytearray):
            raise _err("EINVAL", f"write: data must be bytes, not {type(data).__name__}")
        if f.flags & posix.O_ACCMODE == posix.O_RDONLY:
            raise _err("EBADF", f"write: descriptor {fd} is open for reading only")
        with self._op("write"):
            loc = f.inode.loc
            e = self._entry(loc)
            size = self._size(e)
            pos = size if f.flags & posix.O_APPEND else f.offset
            end = pos + len(data)
            if not data:
                return 0
            last = (end - 1) // self.bb
            if last >= NDIRECT + IND_PTRS:
                raise _err("EFBIG", f"write: a file holds at most {(NDIRECT + IND_PTRS) * self.bb} bytes")
            ptrs = self._ptrs(e)
            ind = self._ind(ptrs[NDIRECT]) if ptrs[NDIRECT] else None
            need = sum(1 for i in range(pos // self.bb, last + 1)
                       if (ptrs[i] if i < NDIRECT else (ind[i - NDIRECT] if ind else 0)) == 0)
            if last >= NDIRECT and not ptrs[NDIRECT]:
                need += 1
            if need > self._free_count():
                raise _err("ENOSPC", f"write: the disk is full ({need} blocks needed)")
            done = 0
            near = loc[0]
            while done < len(data):
                i, off = divmod(pos + done, self.bb)
                take = min(self.bb - off, len(data) - done)
                blk = self._block_for(loc, i, near)
                self._put(blk, off, bytes(data[done:done + take]), loc)
                near = blk
                done += take
            if end > size:
                self._set_size(loc, end)
            f.offset = end
            return done

    def _block_for(self, loc: Loc, i: int, near: int) -> int:
        """The data block of index ``i`` of the file at ``loc``, allocated and attached if new."""
        ptrs = self._ptrs(self._entry(loc))
        if i < NDIRECT:
            if ptrs[i]:
                return ptrs[i]
            blk = self._alloc(near, 0)
            self._set_ptr(loc, i, blk, gain=(blk,))
            return blk
        ind = ptrs[NDIRECT]
        if not ind:
            ind = self._alloc(near, self.sh.type)
            self._cap(ind)
            self._update(ind, 0, bytes([IND]))
            self._set_ptr(loc, NDIRECT, ind, gain=(ind,))
        j = i - NDIRECT
        cur = int.from_bytes(self._get(ind, 4 * (j + 1), 4), "little")
        if cur:
            return cur
        blk = self._alloc(near, 0)
        self._update(ind, 4 * (j + 1), blk.to_bytes(4, "little"), gain=(blk,))
        return blk

    def lseek(self, fd: int, offset: int, whence: int) -> int:
        f = self._file("lseek", fd)
        if type(offset) is not int or whence not in (posix.SEEK_SET, posix.SEEK_CUR, posix.SEEK_END):
            raise _err("EINVAL", f"lseek: bad offset {offset!r} or whence {whence!r}")
        if whence == posix.SEEK_SET:
            base = 0
        elif whence == posix.SEEK_CUR:
            base = f.offset
        else:
            with self._op("lseek"):
                base = self._size(self._entry(f.inode.loc))
        if base + offset < 0:
            raise _err("EINVAL", f"lseek: the offset would be negative ({base + offset})")
        f.offset = base + offset
        return f.offset

    def fsync(self, fd: int) -> None:
        self._file("fsync", fd)
        with self._op("fsync"):
            self._flush_all()

    def fadvise(self, fd: int, offset: int, length: int, advice: int, priority: int | None) -> None:
        f = self._file("fadvise", fd)
        if advice not in (posix.FADV_NORMAL, posix.FADV_RANDOM, posix.FADV_SEQUENTIAL, posix.FADV_WILLNEED,
                          posix.FADV_DONTNEED, posix.FADV_NOREUSE):
            raise _err("EINVAL", f"fadvise: unknown advice {advice!r}")
        if type(offset) is not int or type(length) is not int or offset < 0 or length < 0:
            raise _err("EINVAL", f"fadvise: bad range ({offset!r}, {length!r})")
        if priority is not None and type(priority) is not int:
            raise _err("EINVAL", f"fadvise: priority must be an int or None, not {priority!r}")
        with self._op("fadvise"):
            loc = f.inode.loc
            e = self._entry(loc)
            size = self._size(e)
            end = size if length == 0 else min(size, offset + length)
            blocks: list[int] = []
            if end > offset:
                ptrs = self._ptrs(e)
                ind = self._ind(ptrs[NDIRECT]) if ptrs[NDIRECT] and (end - 1) // self.bb >= NDIRECT else []
                for i in range(offset // self.bb, (end - 1) // self.bb + 1):
                    b = ptrs[i] if i < NDIRECT else ind[i - NDIRECT]
                    if b:
                        blocks.append(b)
            sc = self.sh.cache
            if advice == posix.FADV_WILLNEED:  # prefetch: read the range in now
                for b in blocks:
                    if b not in sc:
                        self._cap(b, loc)
                        self.prefetched += 1
            elif advice == posix.FADV_DONTNEED:  # flush: the range's dirty blocks go to the disk now
                for b in blocks:
                    if b in self.sh.dirty:
                        self._flush(b)
            sc.manager(self.p.pid).advise(loc, [b for b in blocks if b in sc], advice, priority)

    def unlink(self, path: str) -> None:
        with self._op("unlink"):
            _, _, loc = self._lookup("unlink", path)
            if loc is None:
                raise _err("ENOENT", f"unlink: {path} does not exist")
            e = self._entry(loc)
            if e[0] == DIRECTORY:
                raise _err("EISDIR", f"unlink: {path} is a directory (rmdir)")
            if loc in self.sh.inodes:  # open: the name goes now, the file at its last close
                z = bytearray(e)
                z[0], z[1] = ORPHAN, 0
                z[NAME_AT:NAME_AT + NAME_MAX] = bytes(NAME_MAX)
                self._update(loc[0], loc[1] * ENTRY, bytes(z))
            else:
                self._remove(loc)

    def mkdir(self, path: str, mode: int) -> None:
        with self._op("mkdir"):
            d, name, loc = self._lookup("mkdir", path)
            if loc is not None:
                raise _err("EEXIST", f"mkdir: {path} exists")
            self._new_entry("mkdir", d, name, DIRECTORY)

    def rmdir(self, path: str) -> None:
        with self._op("rmdir"):
            _, name, loc = self._lookup("rmdir", path)
            if not name:
                raise _err("EBUSY", "rmdir: / is the root")
            if loc is None:
                raise _err("ENOENT", f"rmdir: {path} does not exist")
            e = self._entry(loc)
            if e[0] != DIRECTORY:
                raise _err("ENOTDIR", f"rmdir: {path} is not a directory")
            if next(self._slots(loc), None) is not None:
                raise _err("ENOTEMPTY", f"rmdir: {path} is not empty")
            blocks = tuple(sorted(p for p in self._ptrs(e) if p))
            for b in blocks:
                self._cap(b)  # XN frees a metadata block only once it sees it points nowhere
            self._update(loc[0], loc[1] * ENTRY, bytes(ENTRY), lose=blocks)

    def readdir(self, path: str) -> list[str]:
        with self._op("readdir"):
            _, _, loc = self._lookup("readdir", path)
            if loc is None:
                raise _err("ENOENT", f"readdir: {path} does not exist")
            if self._entry(loc)[0] != DIRECTORY:
                raise _err("ENOTDIR", f"readdir: {path} is not a directory")
            return sorted(self._name(e) for _, e in self._slots(loc) if e[0] in (FILE, DIRECTORY))

    def stat(self, path: str) -> Stat:
        with self._op("stat"):
            _, _, loc = self._lookup("stat", path)
            if loc is None:
                raise _err("ENOENT", f"stat: {path} does not exist")
            return self._stat(loc)

    def _stat(self, loc: Loc) -> Stat:
        e = self._entry(loc)
        ptrs = [p for p in self._ptrs(e) if p]
        if e[0] == DIRECTORY:
            subdirs = sum(1 for _, x in self._slots(loc) if x[0] == DIRECTORY)
            return Stat(loc[0] * SLOTS + loc[1], True, len(ptrs) * self.bb, 2 + subdirs, len(ptrs), self.bb)
        blocks = len(ptrs)
        ind = self._ptrs(e)[NDIRECT]
        if ind:
            blocks += sum(1 for p in self._ind(ind) if p)
        return Stat(loc[0] * SLOTS + loc[1], False, self._size(e), 1, blocks, self.bb)

    def rename(self, old: str, new: str) -> None:
        with self._op("rename"):
            od, _, oloc = self._lookup("rename", old)
            if oloc is None:
                raise _err("ENOENT", f"rename: {old} does not exist")
            if oloc == (self.sh.block, ROOT_SLOT):
                raise _err("EBUSY", "rename: / is the root")
            nparts = self._parse("rename", new)
            if not nparts:
                raise _err("EEXIST", "rename: / exists")
            oe = self._entry(oloc)
            is_dir = oe[0] == DIRECTORY
            if is_dir and (new + "/").startswith(old + "/"):
                raise _err("EINVAL", f"rename: {new} is inside {old}")
            nd = self._walk("rename", nparts[:-1])
            name = nparts[-1]
            nloc = self._find(nd, name)
            if nloc == oloc:
                return
            if nloc is not None:
                ne = self._entry(nloc)
                if ne[0] == DIRECTORY:
                    raise _err("EEXIST", f"rename: {new} is a directory")
                if is_dir:
                    raise _err("ENOTDIR", f"rename: {new} is not a directory")
                if nloc in self.sh.inodes:
                    raise _err("EBUSY", f"rename: {new} is open")
                self._remove(nloc)
            self._move(oloc, od == nd, nd, name, oe)

    def _move(self, oloc: Loc, same: bool, nd: Loc, name: str, oe: bytes) -> None:
        nb = name.encode()
        if same:  # the same directory: the entry is renamed where it is (one update, nothing moves)
            e = bytearray(oe)
            e[1] = len(nb)
            e[NAME_AT:NAME_AT + NAME_MAX] = nb + bytes(NAME_MAX - len(nb))
            self._update(oloc[0], oloc[1] * ENTRY, bytes(e))
            return
        # another directory: XN offers no moves between parents, so a file's blocks are copied
        if oe[0] == DIRECTORY:
            raise _err("EXDEV", "rename: a directory cannot move to another directory here (XN offers no block "
                                "moves between parents and ExOS does not copy directory trees)")
        size = self._size(oe)
        need = self._stat(oloc).blocks
        if need + 1 > self._free_count():
            raise _err("ENOSPC", "rename: the disk is full (the file is copied into its new directory)")
        nloc = self._new_entry("rename", nd, name, FILE)
        ptrs = self._ptrs(oe)
        ind = self._ind(ptrs[NDIRECT]) if ptrs[NDIRECT] else []
        src = ptrs[:NDIRECT] + ind
        near = nloc[0]
        for i, b in enumerate(src):
            if b:
                nbk = self._block_for(nloc, i, near)
                self._put(nbk, 0, self._get(b, 0, self.bb, oloc), nloc)
                near = nbk
        self._set_size(nloc, size)
        ino = self.sh.inodes.pop(oloc, None)
        if ino is not None:
            ino.loc = nloc
            self.sh.inodes[nloc] = ino
        self._flush_all()  # the copy is on the disk before the old name goes
        self._remove(oloc)

    # ------------------------------------------------------------ life

    def exit(self) -> None:
        """The process ends: close its files, write what is dirty, release its blocks, unmount."""
        if self.root is None and not self.files:
            self.sh.cache.leave(self.p.pid)
            return
        try:
            with self._op("exit"):
                for fd in sorted(self.files):
                    self._let_go(self.files.pop(fd).inode)
                self._drop_all()
                self.sh.cache.leave(self.p.pid)
                assert self.root is not None
                self.sys.xn_unmount(self.root)
                self.root = None
        except PosixError:  # the disk failed (or is not this file system): what is not written is lost
            self.forget()

    # ------------------------------------------------------------ the checker

    def check(self) -> list[str]:
        """fsck: walk the whole tree from the root and report what is inconsistent (nothing,
        on a consistent file system). XN's walk at mount has already refused a tree that
        reaches a block twice or names a block its UDF cannot read; this checks the file
        system's own rules, and that XN's free map is exactly the blocks no entry reaches."""
        with self._op("fsck"):
            self._flush_all()  # what this process's library holds goes to the disk first
            bad: list[str] = []
            bb = self.bb
            root = self._get(self.sh.block, 0, 12)
            if root[:1] != bytes([DIR]) or root[4:8] != MAGIC:
                bad.append(f"root block {self.sh.block} has no C-FFS header")
            reached = {self.sh.block}
            stack: list[tuple[Loc, str]] = [((self.sh.block, ROOT_SLOT), "")]
            while stack:
                d, where = stack.pop()
                names: set[str] = set()
                entries: list[tuple[Loc, bytes]] = []
                for blk in self._ptrs(self._entry(d)):
                    if not blk:
                        continue
                    reached.add(blk)
                    data = self._get(blk, 0, bb)
                    if data[0] != DIR:
                        bad.append(f"{where or '/'}: directory block {blk} is not tagged as one")
                        continue
                    entries.extend(((blk, i), data[i * ENTRY:(i + 1) * ENTRY]) for i in range(1, SLOTS)
                                   if data[i * ENTRY] != FREE)
                for loc, e in entries:
                    kind, n = e[0], e[1]
                    if kind not in (FILE, DIRECTORY, ORPHAN):
                        bad.append(f"{where or '/'}: entry {loc} has kind {kind}")
                        continue
                    if kind == ORPHAN:
                        bad.append(f"{where or '/'}: entry {loc} is a file unlinked while open (not reclaimed)")
                        continue
                    try:
                        name = self._name(e)
                    except UnicodeDecodeError:
                        name = ""
                    if not 0 < n <= NAME_MAX or not name or "/" in name or name in names:
                        bad.append(f"{where or '/'}: entry {loc} has a bad or repeated name {e[NAME_AT:NAME_AT + n]!r}")
                        continue
                    names.add(name)
                    path = f"{where}/{name}"
                    ptrs = self._ptrs(e)
                    if kind == DIRECTORY:
                        stack.append((loc, path))
                        continue
                    size = self._size(e)
                    if size > (NDIRECT + IND_PTRS) * bb:
                        bad.append(f"{path}: size {size} is larger than a file can be")
                    reached.update(p for p in ptrs[:NDIRECT] if p)
                    if ptrs[NDIRECT]:
                        reached.add(ptrs[NDIRECT])
                        if self._get(ptrs[NDIRECT], 0, 1) != bytes([IND]):
                            bad.append(f"{path}: indirect block {ptrs[NDIRECT]} is not tagged as one")
                        else:
                            reached.update(p for p in self._ind(ptrs[NDIRECT]) if p)
            free = set(self.sys.xn_free_blocks())
            owned = self.sys.xn_statistics().blocks_owned
            if reached & free:
                bad.append(f"blocks {sorted(reached & free)[:8]} are reached and free in XN's map")
            if owned != len(reached):
                bad.append(f"XN counts {owned} blocks owned, the tree reaches {len(reached)}")
            return bad

    def forget(self) -> None:
        """The process was destroyed (no system calls): its open files close in the shared state."""
        for f in self.files.values():
            f.inode.opens -= 1
            if f.inode.opens == 0:
                self.sh.inodes.pop(f.inode.loc, None)
        self.files.clear()
        self.cache.clear()
        self.sh.cache.leave(self.p.pid)
        self.root = None


__all__ = ["Cffs", "FsShared", "ROOT_KEY", "ROOT_NAME", "udf_source"]
