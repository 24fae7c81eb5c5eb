"""The JSON Schemas of docs/schemas/ (one per JSON document the command line writes), for tests.

``validate(doc, "bench")`` fails the test with every way ``doc`` breaks
docs/schemas/bench.schema.json (draft 2020-12); references between the
schemas (reproduce's runs are bench documents) resolve among these files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

FOLDER = Path(__file__).resolve().parent.parent / "docs" / "schemas"
#: name (bench, reproduce, info, trace) -> the schema
SCHEMAS: dict[str, dict[str, Any]] = {
    p.name.removesuffix(".schema.json"): json.loads(p.read_text()) for p in sorted(FOLDER.glob("*.schema.json"))
}
REGISTRY = Registry().with_resources(
    (s["$id"], Resource.from_contents(s)) for s in SCHEMAS.values()
)


def errors(doc: Any, name: str) -> list[str]:
    """Every way ``doc`` breaks the schema ``name``, one readable line each."""
    validator = Draft202012Validator(SCHEMAS[name], registry=REGISTRY)
    return sorted(f"{'/'.join(map(str, e.absolute_path)) or '(document)'}: {e.message}"
                  for e in validator.iter_errors(doc))


def validate(doc: Any, name: str) -> None:
    found = errors(doc, name)
    assert not found, f"not a {name} document:\n" + "\n".join(found[:20])
