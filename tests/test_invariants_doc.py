"""Does docs/invariants.md name only tests that exist, and does every invariant name one?"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "invariants.md"


def test_does_every_test_named_in_the_invariants_document_exist():
    text = DOC.read_text()
    refs = re.findall(r"`(?:tests/)?((?:[a-z]+/)?test_[a-z0-9_]+\.py)::([A-Za-z0-9_]+)(?:\[[^\]]*\])?`", text)
    assert len(refs) > 50
    missing = []
    for file, name in refs:
        path = ROOT / "tests" / file
        if not path.exists() or not re.search(rf"\bdef {name}\b|^{name}\b[^=\n]*=", path.read_text(), re.M):
            missing.append(f"{file}::{name}")
    assert missing == []


def test_does_every_invariant_say_how_it_is_enforced_and_checked():
    sections = re.split(r"\n\*\*(I\d+)\. ", DOC.read_text())[1:]
    labels = sections[0::2]
    assert labels == [f"I{i}" for i in range(1, len(labels) + 1)]
    for label, body in zip(labels, sections[1::2], strict=True):
        assert "Enforced by:" in body and "Checked by:" in body, label
