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

Interface
    ``Published``; ``PUBLISHED``; ``published_text(benchmark)``.
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


__all__ = ["PUBLISHED", "Published", "published_text"]
