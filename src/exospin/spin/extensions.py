"""The extensions exospin ships: verified Python source files in ``spin/ext/``.

They are data, not modules of exospin: the kernel reads each one, the
verifier checks it and the linker links it (``Spin.load``). Each can be
checked from the command line like any user's extension:
``exospin spin check src/exospin/spin/ext/*.py``.

Interface: ``NAMES``; ``path(name)``; ``source(name)``.
"""

from __future__ import annotations

from pathlib import Path

DIR = Path(__file__).resolve().parent / "ext"


def names() -> list[str]:
    return sorted(p.stem for p in DIR.glob("*.py"))


def path(name: str) -> Path:
    p = DIR / f"{name}.py"
    if not p.is_file():
        raise LookupError(f"no shipped extension {name!r} (shipped: {', '.join(names())})")
    return p


def source(name: str) -> str:
    return path(name).read_text(encoding="utf-8")
