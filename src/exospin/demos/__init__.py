"""The demos: each boots one system on its paper's machine and tells a short story.

What this is
    One module per demo, each the story (``run``) and its telling on a
    terminal (``render``) behind the small interface of ``base.Demo``:

    * ``aegis``: two library OSes on one exokernel (TLB-miss upcalls, an
      Appel-Li checkpoint, PCT, directed yield, revocation and the abort
      protocol); DECstation 5000/125, seeded.
    * ``exos``: ExOS processes in user space (copy-on-write fork, a pipeline
      over pipes, page replacement chosen per process); DECstation, seeded.
    * ``spin``: extensions verified, linked and run on events, replaced,
      rejected, refused and terminated; the Unix personality; DEC 3000/400,
      no seed (nothing in it is random).
    * ``unix``: the monolithic baseline telling the exos story, plus signals;
      DECstation (the exokernel paper's Ultrix role), seeded.
    * ``net``: Aegis + ExOS, SPIN and unix on one Ethernet: an ExOS client
      against SPIN's in-kernel echo and a unix server, a DPF filter and the
      merged trie shown, an ASH answering from the kernel; DECstation, no
      seed; ``--pcap FILE`` (``Demo.capture``).

Why it is built this way
    The command line only parses and dispatches: ``exospin demo NAME`` looks
    the demo up here, takes its machine as the default profile, refuses a
    seed it would ignore, runs it and renders the report. Tests and
    notebooks can run a demo and read its report with no terminal at all.
    Like the command line, this package is glue: it may import every layer.

Interface
    ``DEMOS`` (name -> ``Demo``); ``Demo.profile`` (the paper's machine),
    ``Demo.seeded``, ``Demo.run(seed, profile, trace_path) -> report``,
    ``Demo.render(report, console)``; every report's ``end`` is an
    ``Ending`` (``end.clean``: the story went right, invariants hold, no leak).
"""

from __future__ import annotations

from typing import Any

from . import aegis, exos, net, spin, unix
from .base import Demo, Ending

#: Every demo by name, in the order the README lists them.
DEMOS: dict[str, Demo[Any]] = {d.name: d for d in (aegis.DEMO, exos.DEMO, spin.DEMO, unix.DEMO, net.DEMO)}

__all__ = ["DEMOS", "Demo", "Ending"]
