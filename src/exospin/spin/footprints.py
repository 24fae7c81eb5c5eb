"""The cache lines of SPIN's kernel paths, for ``detailed`` memory.

What this models
    What SPIN's trap entry, event dispatch, TLB refill, fault entry, upcalls and
    strand switches fetch and touch (Bershad et al., SOSP 1995, sections 3-4): as
    for Aegis and the Unix kernel (aegis/core.py, unix/core.py), each path's text
    is as many instructions as its cost composition counts, evaluated over
    ``machine.instruction_profile`` (on the 21064 the PALcode of the trap entry and
    return included), laid out in the kernel's image in the order below; its data
    are the words it reads and writes: the Trap event's handler list, a strand's
    save area (callee-saved registers on a switch, every register on a fault), an
    address space's page-table root and a PTE.

Why it is built this way
    One mechanism for the four systems (docs/memory.md), so that no kernel is
    cheaper under ``detailed`` because its paths were left out. The module only
    lays out lines; the paths charge them through ``cpu.touch`` where they charge
    their cycles (kernel.py, memory.py, strands.py), and only when the machine has
    a hierarchy: under ``ideal`` nothing here is used.

Interface
    ``Footprints(machine, callee_saved)``: the footprints (``trap``, ``upcall``,
    ``refill``, ``root``, ``fault``, ``checkpoint``, ``resume``, ``checkpoint_all``,
    ``resume_all``, ``protect``, ``examine``); ``strand(sid)``, ``space(asid)``,
    ``pte(asid, vpn)`` the addresses of the objects their relative data are at.
"""

from __future__ import annotations

from ..machine import NREGS, Machine, instruction_profile
from .dispatcher import Costs

#: strand records in the image (a save area of every register each), by strand id
STRANDS = 256
#: address spaces' records (the page-table root), by ASID
SPACES = 64
#: second-level page-table pages, hashed by (ASID, first-level index)
PT_PAGES = 256


class Footprints:
    """SPIN's paths' lines (see the module note)."""

    __slots__ = ("trap", "upcall", "refill", "root", "fault", "checkpoint", "resume", "checkpoint_all",
                 "resume_all", "protect", "examine", "_strands", "_strand_bytes",
                 "_spaces", "_space_bytes", "_pt", "_page", "_ptes", "_pshift", "_w")

    def __init__(self, m: Machine, callee_saved: int) -> None:
        p = m.profile
        w = self._w = p.word_bytes
        ip = instruction_profile(p)
        cd = Costs.from_profile(ip)  # type: ignore[arg-type]
        img = m.cpu.kernel_image()
        handlers = img.region("trap_handlers", 8 * w)
        self._strands = img.region("strands", NREGS * w, STRANDS)
        self._strand_bytes = img.stride("strands")
        self._spaces = img.region("spaces", 4 * w, SPACES)
        self._space_bytes = img.stride("spaces")
        self._page = p.page_size
        self._pt = img.region("ptpages", PT_PAGES * p.page_size)
        self._ptes = p.page_size // w
        self._pshift = self._ptes.bit_length() - 1
        regs = tuple(i * w for i in range(NREGS))
        saved = regs[:callee_saved]
        # a system call: the trap, the Trap event's raise and its handler's call, the return
        self.trap = img.path("trap", ip.trap_entry + cd.raise_ + cd.handler + ip.trap_return,
                             reads=(handlers, handlers + w))
        self.upcall = img.path("upcall", ip.trap_return + ip.trap_entry + ip.insn)
        # the refill vector: the context's root, then the PTE (at pte())
        self.refill = img.path("tlb_refill", ip.trap_entry + 2 * ip.mem_ref + ip.trap_return, obj_reads=(0,))
        self.root = img.path("tlb_refill_root", 0, obj_reads=(0,))
        # a fault stops code anywhere: every register saved and restored in the strand's area
        self.fault = img.path("fault", NREGS * (ip.reg_save + ip.reg_restore) + ip.trap_return,
                              obj_reads=regs, obj_writes=regs)
        self.checkpoint = img.path("checkpoint", callee_saved * ip.reg_save, obj_writes=saved)
        self.resume = img.path("resume", callee_saved * ip.reg_restore, obj_reads=saved)
        # a preempted strand: every register
        self.checkpoint_all = img.path("checkpoint_all", NREGS * ip.reg_save, obj_writes=regs)
        self.resume_all = img.path("resume_all", NREGS * ip.reg_restore, obj_reads=regs)
        # Translation.protect, per page: the PTE read and rewritten, the TLB probed (the
        # invalidation's tlbwr is charged by the path when the page was in the TLB);
        # Translation.is_dirty: the PTE read (at pte())
        self.protect = img.path("translation_protect", 2 * ip.mem_ref + ip.tlb_probe, obj_reads=(0,),
                                obj_writes=(0,))
        self.examine = img.path("translation_examine", 2 * ip.mem_ref, obj_reads=(0,))

    def strand(self, sid: int) -> int:
        return self._strands + (sid % STRANDS) * self._strand_bytes

    def space(self, asid: int) -> int:
        return self._spaces + (asid % SPACES) * self._space_bytes

    def pte(self, asid: int, vpn: int) -> int:
        page = (asid * 64 + (vpn >> self._pshift)) % PT_PAGES
        return self._pt + page * self._page + (vpn & (self._ptes - 1)) * self._w
