"""Physical memory: numbered frames holding real bytes.

What this models
    The machine's DRAM, as the exokernel paper exposes it: a flat array of
    page-sized frames named by number. Kernels allocate frames by number;
    the MMU turns a virtual address into (frame, offset) and reads or writes
    a word here.

Why it is built this way
    All frames live in one ``bytearray`` with a word-typed ``memoryview`` on
    top, so a load is one index into a C array (no per-frame objects, no
    ``int.from_bytes``). Bytes are real: a frame zeroed, copied or written
    through one mapping reads back the same through another. Under the
    ``detailed`` memory model (caches.py) a zeroed or copied frame also goes
    through the caches and write buffer: ``attach`` gives this memory the
    hierarchy and the clock its stalls are charged on.

Interface
    ``words[i]`` (word index ``pfn * words_per_frame + offset // word``),
    ``frame(pfn)`` a writable byte view, ``span(pfn, offset, length)`` a
    writable view of bytes that may run on into the next frames (a device's
    DMA buffer), ``zero(pfn)``, ``copy(dst, src)``, ``attach(hierarchy, loop,
    issue)``, ``statistics()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .caches import MemoryHierarchy
    from .events import EventLoop


@dataclass(frozen=True, slots=True)
class MemoryStats:
    frames: int
    frame_bytes: int
    zero_fills: int
    frame_copies: int


class PhysicalMemory:
    """``nframes`` frames of ``page_size`` bytes, word-addressable."""

    def __init__(self, nframes: int, page_size: int, word_bytes: int) -> None:
        self.nframes = nframes
        self.page_size = page_size
        self.word_bytes = word_bytes
        self.words_per_frame = page_size // word_bytes
        self._bytes = bytearray(nframes * page_size)
        self.words = memoryview(self._bytes).cast("I" if word_bytes == 4 else "Q")
        self._zero = bytes(page_size)
        self.zero_fills = 0
        self.frame_copies = 0
        self._h: MemoryHierarchy | None = None
        self._loop: EventLoop | None = None
        self._issue = 1

    def attach(self, hierarchy: MemoryHierarchy, loop: EventLoop, issue: int) -> None:
        """Zeroes and copies go through ``hierarchy``; their stalls advance ``loop``'s
        clock (a kernel's block loop issuing one store every ``issue`` cycles)."""
        self._h, self._loop, self._issue = hierarchy, loop, issue

    def frame(self, pfn: int) -> memoryview:
        """The bytes of frame ``pfn`` (a writable view, no copy)."""
        base = pfn * self.page_size
        return memoryview(self._bytes)[base : base + self.page_size]

    def span(self, pfn: int, offset: int, length: int) -> memoryview:
        """``length`` bytes from ``offset`` in frame ``pfn``, on into the following
        frames (physically contiguous); a writable view, no copy. Raises ValueError
        if the range leaves memory."""
        base = pfn * self.page_size + offset
        if pfn < 0 or offset < 0 or length < 0 or base + length > len(self._bytes):
            raise ValueError(f"bytes {offset}..{offset + length} of frame {pfn} are not in memory "
                             f"({self.nframes} frames of {self.page_size} bytes)")
        return memoryview(self._bytes)[base : base + length]

    def zero(self, pfn: int) -> None:
        base = pfn * self.page_size
        self._bytes[base : base + self.page_size] = self._zero
        self.zero_fills += 1
        h, loop = self._h, self._loop
        if h is not None and loop is not None:
            loop.now += h.write_range(base, self.page_size, loop.now, self.word_bytes, self._issue)

    def copy(self, dst: int, src: int) -> None:
        ps = self.page_size
        self._bytes[dst * ps : (dst + 1) * ps] = self._bytes[src * ps : (src + 1) * ps]
        self.frame_copies += 1
        h, loop = self._h, self._loop
        if h is not None and loop is not None:
            loop.now += h.read_range(src * ps, ps, loop.now)
            loop.now += h.write_range(dst * ps, ps, loop.now, self.word_bytes, self._issue)

    def statistics(self) -> MemoryStats:
        return MemoryStats(self.nframes, self.page_size, self.zero_fills, self.frame_copies)
