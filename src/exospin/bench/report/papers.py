"""The papers' published network figures: the comparison column of reproduce's network tables.

What this is
    For a few rows of ``bench net`` the papers report a figure measured on
    their hardware: the SPIN paper's UDP round trip and bandwidth between
    two DEC 3000/400s on Ethernet and ATM against DEC OSF/1 (Bershad et al.,
    SOSP 1995, section 5.3, table 5), its protocol forwarder (table 6), and
    the exokernel paper's DPF against MPF and PATHFINDER (Engler et al.,
    SOSP 1995, table 10; Engler & Kaashoek, SIGCOMM 1996). ``PUBLISHED``
    maps a benchmark to them, each with the system column of ours it stands
    beside (``unix`` for OSF/1, ``spin`` for SPIN, ``aegis`` for DPF).

Why it is built this way
    They are a comparison column only: nothing in exospin reads them to set
    a cost (every cost is a hardware primitive with its source, in
    machine/profiles.py), and no test compares our figures with them.

    **Caveat.** They were transcribed without a copy of the papers at hand
    (from the author's reading of them); the forwarding figures (table 6)
    least surely: they carry ``sure=False`` and are shown with a "?". Check
    them against the papers before citing them.

    The same holds for the exokernel paper's and SPIN's own tables of
    primitives (``PAPER_ROWS``: Aegis/ExOS against Ultrix 4.2 on the
    DECstation 5000/125, SPIN against DEC OSF/1 on the DEC 3000/400), which
    ``reproduce``'s decomposition (decompose.py) shows beside ours, absolute
    and as a ratio. Each carries its provenance: "issue 17" for the figures
    issue 17 quotes, "recalled" for ones taken from memory of the papers
    (check them against the papers), None where we have no figure to vouch for.

Interface
    ``Published``; ``PUBLISHED``; ``published_text(benchmark)``; ``PaperRow``;
    ``PAPER_ROWS``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Published:
    """One published figure: ``value`` in ``unit`` for ``label`` (the paper's system), shown
    beside our ``system``'s cell; ``source`` is the paper and table."""

    label: str
    system: str
    value: float
    unit: str
    source: str
    sure: bool = True

    def text(self) -> str:
        return f"{self.label} {self.value:g}{'?' if not self.sure else ''} {self.unit}"


_SPIN5 = "Bershad et al., SOSP 1995, table 5 (DEC 3000/400)"
_SPIN6 = "Bershad et al., SOSP 1995, table 6 (DEC 3000/400), UDP"
_DPF = "Engler et al., SOSP 1995, table 10; Engler & Kaashoek, SIGCOMM 1996 (DECstation 5000/200, 10 TCP/IP filters)"

#: benchmark -> the papers' figures for it. The SPIN paper's UDP echo on SPIN runs in the
#: kernel (our kernel_echo_rtt rows); on OSF/1 it is a user process (our udp_rtt on unix).
PUBLISHED: dict[str, tuple[Published, ...]] = {
    "udp_rtt_16_ethernet": (Published("OSF/1", "unix", 789, "µs", _SPIN5),),
    "udp_rtt_16_atm": (Published("OSF/1", "unix", 631, "µs", _SPIN5),),
    "kernel_echo_rtt_16_ethernet": (Published("SPIN", "spin", 565, "µs", _SPIN5),),
    "kernel_echo_rtt_16_atm": (Published("SPIN", "spin", 421, "µs", _SPIN5),),
    "udp_bandwidth_ethernet": (Published("OSF/1", "unix", 8.9, "Mb/s", _SPIN5),
                               Published("SPIN", "spin", 8.9, "Mb/s", _SPIN5)),
    "udp_bandwidth_atm": (Published("OSF/1", "unix", 27.9, "Mb/s", _SPIN5),
                          Published("SPIN", "spin", 33, "Mb/s", _SPIN5)),
    "forward_rtt_ethernet": (Published("OSF/1", "unix", 1607, "µs", _SPIN6, sure=False),
                             Published("SPIN", "spin", 1344, "µs", _SPIN6, sure=False)),
    "forward_rtt_atm": (Published("OSF/1", "unix", 1389, "µs", _SPIN6, sure=False),
                        Published("SPIN", "spin", 1024, "µs", _SPIN6, sure=False)),
    "demux_dpf_n10": (Published("DPF", "aegis", 1.5, "µs", _DPF),),
    "demux_interp_n10": (Published("MPF", "aegis", 35.0, "µs", _DPF),
                         Published("PATHFINDER", "aegis", 19.0, "µs", _DPF)),
}


def published_text(benchmark: str) -> str | None:
    """The published cell of a row (``OSF/1 789 µs``), or None if no paper reports it."""
    figures = PUBLISHED.get(benchmark)
    return None if not figures else "; ".join(p.text() for p in figures)


@dataclass(frozen=True, slots=True)
class PaperRow:
    """One row of a paper's table: which of our benchmarks it is, and the paper's µs."""

    profile: str
    benchmark: str  # the baseline's (and lean unix's) benchmark
    extensible: str  # the extensible system
    ext_benchmark: str  # the extensible system's benchmark (SPIN's user threads have two)
    paper_ext_us: float | None
    paper_baseline_us: float | None
    source: str


_I, _R = "issue 17", "recalled"


def _exo(b: str, ext: float | None, base: float | None, src: str) -> PaperRow:
    return PaperRow("ds5000", b, "aegis", b, ext, base, src)


def _spin(b: str, ext: float | None, base: float | None, src: str, ext_b: str | None = None) -> PaperRow:
    return PaperRow("alpha3000", b, "spin", ext_b or b, ext, base, src)


#: The rows of the exokernel paper (Aegis/ExOS against Ultrix 4.2, DECstation 5000/125) and of
#: SPIN's (SPIN against DEC OSF/1, DEC 3000/400), in µs. None: no figure we can vouch for.
PAPER_ROWS: tuple[PaperRow, ...] = (
    _exo("null_procedure_call", None, None, ""),
    _exo("null_syscall", 1.6, 21.3, _I),
    _exo("exc_overflow", 1.5, 130.0, _I),
    _exo("exc_unaligned", 1.5, None, f"{_R} (Ultrix: n/a)"),
    _exo("exc_protection", 1.5, None, _R),
    _exo("ipc_pipe", None, 199.0, _I),
    _exo("ipc_shm", None, None, ""),
    _exo("ipc_lrpc", None, None, "Ultrix: n/a"),
    _exo("vm_dirty", 9.8, None, f"{_I} (ExOS; Ultrix: n/a)"),
    _exo("vm_prot1", None, None, ""),
    _exo("vm_prot100", None, None, ""),
    _exo("vm_unprot100", None, None, ""),
    _exo("vm_trap", None, None, ""),
    _exo("vm_appel1", None, None, ""),
    _exo("vm_appel2", None, None, ""),
    _spin("null_syscall", 4.0, 5.0, f"{_I} (OSF/1), {_R} (SPIN)"),
    _spin("cross_as_call", 89.0, 845.0, f"{_I} (OSF/1: sockets and SUN RPC), {_R} (SPIN)"),
    _spin("fork_join_kernel", 22.0, 198.0, _R),
    _spin("ping_pong_kernel", 17.0, 21.0, _R),
    _spin("fork_join_user", 262.0, 1230.0, f"{_R} (SPIN layered)", "fork_join_user_layered"),
    _spin("fork_join_user", 111.0, 1230.0, f"{_R} (SPIN integrated)", "fork_join_user_integrated"),
    _spin("ping_pong_user", 159.0, 264.0, f"{_R} (SPIN layered)", "ping_pong_user_layered"),
    _spin("ping_pong_user", 85.0, 264.0, f"{_R} (SPIN integrated)", "ping_pong_user_integrated"),
    _spin("vm_dirty", 2.0, None, f"{_R} (OSF/1: n/a)"),
    _spin("vm_fault", 29.0, 329.0, _R),
    _spin("vm_trap", 7.0, 260.0, f"{_I} (OSF/1), {_R} (SPIN)"),
    _spin("vm_prot1", 16.0, 45.0, _R),
    _spin("vm_prot100", 213.0, 1041.0, _R),
    _spin("vm_unprot100", 214.0, 1016.0, _R),
    _spin("vm_appel1", 39.0, 382.0, _R),
    _spin("vm_appel2", 29.0, 351.0, _R),
)


__all__ = ["PAPER_ROWS", "PUBLISHED", "PaperRow", "Published", "published_text"]
