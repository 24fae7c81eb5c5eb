"""PhysOS: a library OS with no virtual memory at all.

What this models
    The exokernel's point that the abstractions are the library's choice:
    a second library OS, deliberately unlike ExOS, runs next to it on the
    same Aegis. PhysOS exposes physical memory to its application
    directly. The application allocates frames *by number*, and the address
    of a word is its physical address (frame × page size + offset). The
    library OS identity-maps a frame on its first TLB miss, and only a frame
    the environment owns. There is no demand paging, no copy-on-write, no
    swap, no processes.

Why it is built this way
    It is the smallest library OS that makes a different choice at every
    point where ExOS makes one, and so shows that two library OSes share one
    kernel without seeing each other's frames. An application that touches
    a physical address it does not own gets nothing mapped: Aegis refuses
    the binding, because there is no capability for that frame. PhysOS ends
    the application with a message.

    On revocation it gives back the frames its application has released
    (``release``); if that is not enough it does nothing more, and the abort
    protocol takes the rest. It is deliberately less polite than ExOS.

Interface
    ``PhysOS(sys)``; ``alloc(n) -> [physical addresses]``, ``release(addr)``,
    ``load``, ``store``; ``statistics()``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..aegis import AegisError, Capability, Syscalls


@dataclass(frozen=True, slots=True)
class PhysOSStats:
    frames_held: int
    frames_released: int
    tlb_miss_upcalls: int
    frames_lost: int


class PhysOS:
    def __init__(self, sys: Syscalls) -> None:
        self.sys = sys
        self.cpu = sys.cpu
        self.page = sys.page_size
        self._shift = sys.page_size.bit_length() - 1
        self.frames: dict[int, Capability] = {}  # pfn -> capability
        self.spare: list[int] = []  # released by the application, still held
        self.save_area = [0] * 32
        self.tlb_miss_upcalls = 0
        self.frames_lost = 0
        self.released = 0
        for kind, fn in (("tlb_miss", self._tlb_miss), ("epilogue", self._epilogue),
                         ("prologue", self._prologue), ("revoke", self._revoke),
                         ("repossessed", self._repossessed)):
            sys.set_handler(kind, fn)
        self.load = self.cpu.load
        self.store = self.cpu.store

    def alloc(self, n: int) -> list[int]:
        """``n`` frames, the lowest free numbers; returns their physical addresses."""
        got: list[int] = []
        while len(got) < n:
            batch = self.sys.free_frames(n - len(got))  # the lowest free ones
            if not batch:
                raise MemoryError(f"PhysOS: only {len(got)} of {n} frames free")
            for pfn in batch:
                try:
                    self.frames[pfn] = self.sys.frame_alloc(pfn)
                except AegisError:
                    continue  # taken since we read the bitmap: the next read will not list it
                got.append(pfn * self.page)
        return got

    def release(self, addr: int) -> None:
        """The application no longer needs the frame at ``addr`` (given back on revocation)."""
        pfn = addr >> self._shift
        if pfn in self.frames and pfn not in self.spare:
            self.spare.append(pfn)

    def _tlb_miss(self, vaddr: int, write: bool) -> None:
        self.tlb_miss_upcalls += 1
        pfn = vaddr >> self._shift
        cap = self.frames.get(pfn)
        if cap is None or pfn in self.spare:
            self.sys.exit(f"PhysOS: physical address {vaddr:#x} is in frame {pfn}, which this "
                          "application does not hold")
            return
        self.sys.tlb_write(pfn << self._shift, cap, True)  # identity: virtual = physical

    def _epilogue(self) -> None:
        self.cpu.save_registers(self.save_area)

    def _prologue(self) -> None:
        self.cpu.restore_registers(self.save_area)

    def _revoke(self, nframes: int) -> None:
        while self.spare and nframes > 0:
            pfn = self.spare.pop()
            self.sys.tlb_unmap(pfn << self._shift)
            self.sys.frame_free(self.frames.pop(pfn))
            self.released += 1
            nframes -= 1

    def _repossessed(self, pfns: list[int]) -> None:
        for pfn in pfns:
            if self.frames.pop(pfn, None) is not None:
                self.frames_lost += 1
            if pfn in self.spare:
                self.spare.remove(pfn)
        self.sys.repossession_vector()

    def statistics(self) -> PhysOSStats:
        return PhysOSStats(len(self.frames), self.released, self.tlb_miss_upcalls, self.frames_lost)
