"""mbufs: the kernel's packet memory, small buffers and clusters from one bounded pool.

What this models
    The 4.4BSD memory buffers (Stevens, TCP/IP Illustrated vol. 2, ch. 2;
    4.4BSD-Lite sys/mbuf.h, kern/uipc_mbuf.c). A packet is a *chain* of
    mbufs linked by ``m_next``: a small mbuf holds ``MLEN`` (108) bytes, or
    ``MHLEN`` (100) when it is the first of a packet and carries the packet
    header (the packet's length); a larger piece of data goes into a
    *cluster* of ``MCLBYTES`` (2,048) bytes attached to an mbuf (``M_EXT``).
    Every mbuf and cluster lives in a kernel page: the pool takes pages from
    the core map on demand (``m_clalloc`` growing ``mb_map``), up to
    ``map_pages``; when none is left ``m_get`` fails, the caller drops what it
    was building and ``drops`` counts it (``mbstat.m_drops``). Pages stay in
    the pool once taken, as in 4.4BSD, until the interface is detached.

Why it is built this way
    The bytes are in simulated physical memory (``memory.span`` of the pool's
    pages), so a frame really is copied from the receive buffer into mbufs and
    from mbufs into the transmit buffer, and a leaked mbuf is a held page. The
    operations charge what the 4.4BSD macros do (``MGET``: splimp, pop the
    free list, count the type, set five fields, splx; ``MCLGET``; ``MFREE``),
    composed from the profile's primitives in ``MbufCosts``.

    Simplified: one type of mbuf (no MT_SONAME/MT_DATA distinction in the
    accounting beyond the counts), no ``m_pullup`` (the headers of a frame
    always land in its first mbuf: ``le_get`` puts at least the IP and UDP
    headers there), no reference-counted cluster sharing (``m_copy``).

Interface
    ``MbufPool(kernel_frames, memory, profile, map_pages)``; ``get(pkthdr)``,
    ``clget(m)``, ``free(m) -> next``, ``freem(chain)``; ``read(chain)``,
    ``write(m, data)``; ``in_use()``, ``statistics()``, ``release()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Stevens vol. 2, fig. 2.7 (4.4BSD on the 386; the same values on the other ports' param.h):
MSIZE = 128  # bytes of one mbuf
MLEN = 108  # data bytes of an mbuf without a packet header
MHLEN = 100  # data bytes of an mbuf with a packet header
MCLBYTES = 2048  # bytes of a cluster
MINCLSIZE = 208  # data this long or longer goes into a cluster (MHLEN + MLEN)
#: max_linkhdr + max_protohdr (16 + 40): the room sosend leaves in front of a small datagram.
MAX_HDR = 56


class Mbuf:
    """One mbuf: ``size`` bytes of storage at (``pfn``, ``base``), the data ``off``..``off+len``
    of it; ``ext`` when the storage is a cluster (then ``cl`` is the cluster's slot)."""

    __slots__ = ("pfn", "base", "size", "off", "len", "next", "pkthdr", "pkt_len", "ext", "cl", "slot")

    def __init__(self, pfn: int, base: int) -> None:
        self.pfn, self.base = pfn, base
        self.slot = (pfn, base)  # its own 128 bytes
        self.size = MLEN
        self.off = 0
        self.len = 0
        self.next: Mbuf | None = None
        self.pkthdr = False
        self.pkt_len = 0
        self.ext = False
        self.cl: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class MbufStats:
    mbufs: int  # in use
    clusters: int  # in use
    pages: int  # pool pages taken from the core map
    map_pages: int  # the pool's limit
    gets: int
    frees: int
    drops: int  # requests the pool could not meet


class MbufCosts:
    """What the mbuf macros cost, from the profile's primitives (4.4BSD mbuf.h)."""

    def __init__(self, p: Any) -> None:
        spl = 3 * p.insn  # splimp/splx: mfc0 Status, and/or, mtc0 Status (pmax locore.s)
        # MGET: splimp; pop mmbfree; mbstat.m_mtypes[type]++; m_type, m_next, m_nextpkt,
        # m_data, m_flags; splx (Stevens vol. 2, fig. 2.12)
        self.get = 2 * spl + 3 * p.mem_ref + 5 * p.mem_ref
        # MCLGET: splimp; pop mclfree; m_ext.ext_buf, m_data, m_flags |= M_EXT, ext_size; splx
        self.clget = 2 * spl + 2 * p.mem_ref + 4 * p.mem_ref
        # MFREE: splimp; m_mtypes--; cluster: push on mclfree; push on mmbfree; m_next read; splx
        self.free = 2 * spl + 5 * p.mem_ref + p.insn
        # a page carved into the pool (m_clalloc / m_expand): the core map, one store per slot
        self.page = 2 * p.mem_ref


class MbufPool:
    """The kernel's mbufs and clusters (see the module note)."""

    def __init__(self, alloc_page: Callable[[], int | None], memory: Any, profile: Any, map_pages: int) -> None:
        self._alloc_page = alloc_page  # a frame from the core map, or None when none is free
        self.memory = memory
        self.page = profile.page_size
        self.c = MbufCosts(profile)
        self.map_pages = map_pages
        self.pages: list[int] = []
        self._mfree: list[Mbuf] = []
        self._clfree: list[tuple[int, int]] = []
        self.mbufs = self.clusters = 0
        self.gets = self.frees = self.drops = 0

    def _grow(self, cluster: bool) -> bool:
        if len(self.pages) >= self.map_pages:
            return False
        pfn = self._alloc_page()
        if pfn is None:
            return False
        self.pages.append(pfn)
        if cluster:
            self._clfree.extend((pfn, b) for b in range(self.page - MCLBYTES, -1, -MCLBYTES))
        else:
            self._mfree.extend(Mbuf(pfn, b) for b in range(self.page - MSIZE, -1, -MSIZE))
        return True

    def get(self, pkthdr: bool) -> tuple[Mbuf | None, int]:
        """MGET / MGETHDR: an empty mbuf and the cycles it cost; (None, cost) when the pool
        is exhausted (counted in ``drops``)."""
        cost = self.c.get
        if not self._mfree:
            cost += self.c.page
            if not self._grow(False):
                self.drops += 1
                return None, cost
        m = self._mfree.pop()
        m.pfn, m.base = m.slot
        m.size = MHLEN if pkthdr else MLEN
        m.off = MSIZE - m.size  # after the header fields
        m.len = 0
        m.next = None
        m.pkthdr = pkthdr
        m.pkt_len = 0
        m.ext = False
        m.cl = None
        self.mbufs += 1
        self.gets += 1
        return m, cost

    def clget(self, m: Mbuf) -> tuple[bool, int]:
        """MCLGET: attach a cluster to ``m``; (False, cost) when none is left (counted)."""
        cost = self.c.clget
        if not self._clfree:
            cost += self.c.page
            if not self._grow(True):
                self.drops += 1
                return False, cost
        cl = self._clfree.pop()
        m.cl = cl
        m.pfn, m.base = cl
        m.size = MCLBYTES
        m.off = 0
        m.ext = True
        self.clusters += 1
        return True, cost

    def free(self, m: Mbuf) -> tuple[Mbuf | None, int]:
        """MFREE: give ``m`` (and its cluster) back; returns its successor and the cost."""
        nxt = m.next
        if m.cl is not None:
            self._clfree.append(m.cl)
            m.cl = None
            self.clusters -= 1
        m.next = None
        self._mfree.append(m)
        self.mbufs -= 1
        self.frees += 1
        return nxt, self.c.free

    def freem(self, m: Mbuf | None) -> int:
        """m_freem: free a whole chain; returns the cycles."""
        cost = 0
        while m is not None:
            m, c = self.free(m)
            cost += c
        return cost

    # ----------------------------------------------------------- the bytes

    def chain(self, data: bytes | memoryview, per_mbuf: Callable[[int], int],
              align: bool = False) -> tuple[Mbuf | None, int]:
        """The loop of m_devget and sosend: ``data`` copied into a new packet chain (a
        cluster for each piece of MINCLSIZE bytes or more; ``align``: a first small mbuf
        keeps its data at its end, MH_ALIGN, so headers can be prepended), each mbuf also
        costing ``per_mbuf(bytes it took)``. Returns (chain, cycles); (None, cycles) when
        the pool runs out, with what was taken freed again."""
        n = len(data)
        head: Mbuf | None = None
        tail: Mbuf | None = None
        done = total = 0
        while head is None or done < n:
            m, cost = self.get(head is None)
            total += cost
            if m is not None and n - done >= MINCLSIZE:
                ok, cost = self.clget(m)
                total += cost
                if not ok:
                    total += self.free(m)[1]
                    m = None
            if m is None:
                return None, total + self.freem(head)
            take = min(m.size, n - done)
            if align and head is None and not m.ext and take < m.size:
                m.off = MSIZE - take
            self.put(m, data[done:done + take])
            total += per_mbuf(take)
            done += take
            if head is None:
                head = m
            else:
                assert tail is not None
                tail.next = m
            tail = m
        head.pkt_len = n
        return head, total

    def data(self, m: Mbuf) -> memoryview:
        """The data bytes of one mbuf (a writable view into physical memory)."""
        return self.memory.span(m.pfn, m.base + m.off, m.len)

    def read(self, m: Mbuf | None) -> bytes:
        """The bytes of a chain from ``m`` on (the simulator's view: charged by the caller)."""
        out = bytearray()
        while m is not None:
            out += self.memory.span(m.pfn, m.base + m.off, m.len)
            m = m.next
        return bytes(out)

    def put(self, m: Mbuf, data: bytes | memoryview) -> None:
        """Append ``data`` after ``m``'s data (the caller checked the room)."""
        n = len(data)
        self.memory.span(m.pfn, m.base + m.off + m.len, n)[:] = data
        m.len += n

    def prepend(self, m: Mbuf, data: bytes) -> bool:
        """Put ``data`` in front of ``m``'s data if its leading space holds it (M_PREPEND's
        fast case); False if it does not."""
        n = len(data)
        lead = m.off - (MSIZE - m.size if not m.ext else 0)
        if lead < n:
            return False
        m.off -= n
        m.len += n
        self.memory.span(m.pfn, m.base + m.off, n)[:] = data
        return True

    def in_use(self) -> int:
        return self.mbufs + self.clusters

    def release(self) -> list[int]:
        """The pool's pages, for the core map (the interface is detached; nothing is in use)."""
        pages, self.pages = self.pages, []
        self._mfree.clear()
        self._clfree.clear()
        return pages

    def statistics(self) -> MbufStats:
        return MbufStats(self.mbufs, self.clusters, len(self.pages), self.map_pages, self.gets, self.frees,
                         self.drops)
