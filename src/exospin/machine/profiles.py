"""Machine profiles: a clock rate plus the cost of each hardware primitive.

What this models
    The two machines of the 1995 papers. ``ds5000`` is the DECstation
    5000/125 (MIPS R3000 at 25 MHz) on which Aegis was measured (Engler et
    al., SOSP 1995, section 6); ``alpha3000`` is the DEC 3000/400 AXP (Alpha
    21064 at 133 MHz) on which SPIN was measured (Bershad et al., SOSP 1995,
    section 5).

Why it is built this way
    Kernels in exospin never charge "the cost of a system call". They charge
    the primitives their path performs (a trap entry, three register saves,
    two memory references, a TLB write) and the design differences between
    kernels show up in the totals by themselves. So the only numbers in the
    whole simulator are in the tables below, each a *hardware* primitive in
    cycles, with the source it was taken from. None was chosen to make a
    benchmark come out a certain way; where a figure is an estimate from the
    documented pipeline rather than a measured number, the source says so.

    The costs here are cache hits. Under the ``ideal`` memory model (the
    default) every reference is charged as one; under ``detailed`` the
    caches and write buffer of caches.py add their stalls on top
    (docs/memory.md, with the hierarchy's own constants and sources).

Interface
    ``PROFILES[name]`` -> :class:`Profile`; ``get_profile(name)`` raises
    :class:`UnknownProfile` with the list of known names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


class UnknownProfile(ValueError):
    """A profile name that is not in :data:`PROFILES`."""


@dataclass(frozen=True, slots=True)
class Cost:
    """One hardware primitive: its cost, unit and where the figure comes from."""

    cycles: int
    unit: str
    source: str


@dataclass(frozen=True, slots=True)
class Profile:
    """A machine: clock, memory geometry, TLB geometry and primitive costs."""

    name: str
    description: str
    clock_hz: int
    page_size: int  # bytes
    word_bytes: int  # bytes in a machine word (load/store granularity)
    memory_frames: int  # physical frames of page_size bytes
    tlb_entries: int
    tlb_wired: int  # low slots never chosen by replacement
    tlb_replacement: str  # "random" (R3000 Random register) or "round_robin" (21064)
    asid_bits: int
    costs: Mapping[str, Cost] = field(repr=False)

    def __getattr__(self, name: str) -> int:
        # profile.trap_entry -> cycles; only reached for names not in slots.
        try:
            return self.costs[name].cycles
        except KeyError:
            raise AttributeError(name) from None

    def us(self, cycles: float) -> float:
        """Cycles of this machine in microseconds."""
        return cycles * 1e6 / self.clock_hz

    def cycles_for_us(self, us: float) -> int:
        """Microseconds in cycles of this machine (rounded down, at least 1)."""
        return max(1, int(us * self.clock_hz / 1e6))


#: The primitives every profile must define, and what each one is.
PRIMITIVES: Mapping[str, str] = MappingProxyType(
    {
        "insn": "one simple ALU or branch instruction",
        "mem_ref": "one load or store that hits the cache",
        "reg_save": "save one register to memory",
        "reg_restore": "restore one register from memory",
        "copy_word": "copy one word memory to memory (load + store)",
        "tlb_write": "write one TLB entry",
        "tlb_probe": "probe the TLB for one entry",
        "trap_entry": "hardware entry to the kernel on an exception or trap",
        "trap_return": "return from the kernel to user mode",
        "interrupt": "acknowledge a device interrupt (beyond trap_entry)",
        "proc_call": "a procedure call and its return (call, return, delay slots)",
        "io_read": "one uncached read of a device register or FIFO word over the I/O bus",
        "io_write": "one uncached write of a device register or FIFO word over the I/O bus",
    }
)

_KH = "Kane & Heinrich, MIPS RISC Architecture (Prentice Hall, 1992)"
_R3K = "LSI/IDT R3000 family hardware user's manual"
_DS = "DECstation 5000/125 (KN02-BA) technical description"
_TC = "TURBOchannel Hardware Specification (DEC EK-369AA, 1991)"

DS5000 = Profile(
    name="ds5000",
    description="DECstation 5000/125, MIPS R3000 at 25 MHz (the exokernel paper's machine)",
    clock_hz=25_000_000,
    page_size=4096,
    word_bytes=4,
    memory_frames=2048,  # 8 MB, the smallest DS5000/125 configuration
    tlb_entries=64,
    tlb_wired=8,
    tlb_replacement="random",  # Kane & Heinrich ch. 6: Random decrements every cycle, 63..8
    asid_bits=6,
    costs=MappingProxyType(
        {
            "insn": Cost(1, "cycles", f"{_KH}, ch. 1: single-issue five-stage pipeline, one instruction per cycle"),
            "mem_ref": Cost(1, "cycles", f"{_KH}, ch. 1: a load that hits the on-chip-tag cache, delay slot filled"),
            "reg_save": Cost(1, "cycles", f"{_R3K}: a store retires in one cycle into the four-entry write buffer"),
            "reg_restore": Cost(1, "cycles", f"{_KH}, ch. 1: cached load, load-delay slot filled by the next restore"),
            "copy_word": Cost(2, "cycles", f"{_KH}: one load plus one store, both cache hits"),
            "tlb_write": Cost(4, "cycles", f"{_KH}, ch. 6: mtc0 EntryHi, mtc0 EntryLo, tlbwr, one hazard nop"),
            "tlb_probe": Cost(4, "cycles", f"{_KH}, ch. 6: mtc0 EntryHi, tlbp, one hazard nop, mfc0 Index"),
            "trap_entry": Cost(5, "cycles", f"{_KH}, ch. 5: estimate; flush of the instructions in flight (up to 4) and the jump to the exception vector"),
            "trap_return": Cost(2, "cycles", f"{_KH}, ch. 5: jr k0 with rfe in its delay slot"),
            "interrupt": Cost(12, "cycles", f"{_DS}: estimate; one uncached read of the IOASIC interrupt register over the TURBOchannel"),
            "proc_call": Cost(4, "cycles", f"{_KH}: jal and jr, each with its branch-delay slot"),
            "io_read": Cost(12, "cycles", f"{_TC}; {_DS}: estimate; the CPU stalls for a TURBOchannel read of about six bus cycles at 12.5 MHz (as interrupt above)"),
            "io_write": Cost(6, "cycles", f"{_TC}; {_R3K}: estimate; a TURBOchannel write of about three bus cycles at 12.5 MHz, the rate at which the write buffer drains in a run of them"),
        }
    ),
)

_AARM = "Sites (ed.), Alpha Architecture Reference Manual (Digital Press, 1992)"
_21064 = "DECchip 21064 hardware reference manual (1992)"

ALPHA3000 = Profile(
    name="alpha3000",
    description="DEC 3000/400 AXP, Alpha 21064 at 133 MHz (the SPIN paper's machine)",
    clock_hz=133_000_000,
    page_size=8192,
    word_bytes=8,
    memory_frames=2048,  # 16 MB of 8 KB pages
    tlb_entries=32,  # the 21064 data TLB
    tlb_wired=0,
    tlb_replacement="round_robin",  # 21064 HRM: the DTB fills its entries in turn
    asid_bits=6,
    costs=MappingProxyType(
        {
            "insn": Cost(1, "cycles", f"{_21064}: one integer instruction issued per cycle (dual issue not modelled)"),
            "mem_ref": Cost(3, "cycles", f"{_21064}: three-cycle load-use latency on a data-cache hit"),
            "reg_save": Cost(1, "cycles", f"{_21064}: stq issues once per cycle into the write buffer"),
            "reg_restore": Cost(1, "cycles", f"{_21064}: ldq issues once per cycle; latency hidden in a run of restores"),
            "copy_word": Cost(2, "cycles", f"{_21064}: ldq plus stq, pipelined"),
            "tlb_write": Cost(4, "cycles", f"{_21064}: PALcode fill, hw_mtpr DTB_TAG and DTB_PTE with their stalls (estimate)"),
            "tlb_probe": Cost(4, "cycles", f"{_21064}: PALcode tag compare (estimate)"),
            "trap_entry": Cost(10, "cycles", f"{_21064}: estimate; PALcode entry drains the pipeline"),
            "trap_return": Cost(10, "cycles", f"{_AARM}, OSF/1 PALcode rti/retsys: reload PS and PC, refill the pipeline (estimate)"),
            "interrupt": Cost(20, "cycles", f"{_21064}: estimate; read of the TURBOchannel interrupt status"),
            "proc_call": Cost(4, "cycles", f"{_21064}: bsr and ret, with one mispredicted return (estimate)"),
            "io_read": Cost(64, "cycles", f"{_TC}: estimate; a TURBOchannel read of about six bus cycles at 12.5 MHz (480 ns) on the 3000/400"),
            "io_write": Cost(32, "cycles", f"{_TC}: estimate; a TURBOchannel write of about three bus cycles at 12.5 MHz (240 ns), the write buffer's drain rate"),
        }
    ),
)

PROFILES: Mapping[str, Profile] = MappingProxyType({p.name: p for p in (DS5000, ALPHA3000)})

for _p in PROFILES.values():  # every profile defines every primitive, nothing else
    assert set(_p.costs) == set(PRIMITIVES), _p.name


def get_profile(name: str) -> Profile:
    """The profile called ``name``, or :class:`UnknownProfile`."""
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(PROFILES)
        raise UnknownProfile(f"unknown profile {name!r} (known: {known})") from None
