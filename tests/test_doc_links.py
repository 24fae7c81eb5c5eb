"""Is everything README.md and docs/*.md point to in the repository?

Two questions of every document: does each relative link (``[text](target)``,
images too) lead to a file or folder that exists (and each ``#anchor`` to a
heading of its document)? And does each repository path the prose names
(``src/...``, ``tests/...``, ``docs/...``, ``examples/...``, or a path in
backticks such as ``unix/kernel.py``; a ``*`` is a glob that must match)
exist? A path in backticks is looked up
from the repository's root, from ``src/exospin/`` (the docs name modules by
their layer, ``bench/audit.py``), from ``tests/`` (``verifier/test_verifier.py``)
and from the document's own folder. Fenced
code blocks are left out: they hold commands and code, not references.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
NAMED = re.compile(r"(?<![\w/.-])(?:src|tests|docs|examples)/[\w./*-]*[\w/]")
TICKED = re.compile(r"`([\w.-]+(?:/[\w.-]+)+/?)`")
FILE_LIKE = re.compile(r"(\.[a-z]{1,4}|/)$")


def prose(doc: Path) -> str:
    """The document without its fenced code blocks."""
    return re.sub(r"^```.*?^```", "", doc.read_text(), flags=re.S | re.M)


def anchors(doc: Path) -> set[str]:
    """The anchors of the document's headings, as GitHub makes them."""
    out = set()
    for title in re.findall(r"^#+\s+(.*)$", prose(doc), re.M):
        text = re.sub(r"[`*_]", "", title).strip().lower()
        out.add(re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", text)))
    return out


def where(doc: Path, path: str) -> Path | None:
    """Where ``path`` (a glob if it has ``*``) is, or None."""
    for base in (ROOT, ROOT / "src" / "exospin", ROOT / "tests", doc.parent):
        found = sorted(base.glob(path)) if "*" in path else [base / path] if (base / path).exists() else []
        if found:
            return found[0]
    return None


def relative_links(doc: Path) -> list[str]:
    return [t for t in LINK.findall(prose(doc)) if not re.match(r"^[a-z]+:", t)]


@pytest.mark.parametrize("doc", DOCUMENTS, ids=lambda d: d.name)
def test_does_every_relative_link_lead_somewhere_in_the_repository(doc: Path) -> None:
    broken = []
    for target in relative_links(doc):
        path, _, anchor = target.partition("#")
        dest = (doc.parent / path).resolve() if path else doc
        if not dest.exists() or ROOT not in (dest, *dest.parents):
            broken.append(f"{target}: no such file in the repository")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.name}")
    assert broken == [], f"{doc.name}: " + "; ".join(broken)


@pytest.mark.parametrize("doc", DOCUMENTS, ids=lambda d: d.name)
def test_does_every_path_the_document_names_exist(doc: Path) -> None:
    text = prose(doc)
    named = set(NAMED.findall(text)) | {p for p in TICKED.findall(text) if FILE_LIKE.search(p)}
    missing = sorted(p for p in named if where(doc, p.rstrip("/.")) is None)
    assert missing == [], f"{doc.name} names paths that do not exist: {missing}"


def test_are_the_links_and_paths_actually_read() -> None:
    # the scanners find what the README is known to point to (so an empty scan cannot pass)
    readme = ROOT / "README.md"
    assert {"docs/design.md", "docs/invariants.md", "docs/contracts.md"} <= set(relative_links(readme))
    assert "src/exospin/spin/ext/" in NAMED.findall(prose(readme))
    assert "reproduce-the-papers" in anchors(readme)
