"""The README's examples are files in examples/: does each run and say what the README says,
and is the code the README quotes exactly the file? (So a README example cannot rot.)

Each quoted example is a fenced ``python`` block of README.md whose first line is the
comment ``# examples/NAME: what it is``; the block must equal that file byte for byte.
The examples run in this process (``runpy``), as ``python3 examples/NAME`` would.
"""

from __future__ import annotations

import re
import runpy
import sys
from pathlib import Path

import pytest

from exospin.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
#: The files README.md must quote.
QUOTED = {"hello.py", "spin/count.py", "spin/replace_count.py"}


def readme_quotes() -> dict[str, str]:
    """examples/NAME -> the code README.md quotes for it."""
    blocks = re.findall(r"^```python\n(.*?)^```$", (ROOT / "README.md").read_text(), re.S | re.M)
    quotes = {}
    for block in blocks:
        first = re.match(r"# examples/(\S+):", block)
        if first:
            assert first[1] not in quotes, f"README quotes examples/{first[1]} twice"
            quotes[first[1]] = block
    return quotes


def run_example(name: str, argv: list[str], capsys: pytest.CaptureFixture[str],
                monkeypatch: pytest.MonkeyPatch) -> str:
    path = EXAMPLES / name
    monkeypatch.setattr(sys, "argv", [str(path), *argv])
    runpy.run_path(str(path), run_name="__main__")
    return capsys.readouterr().out


def test_does_the_readme_quote_each_example_exactly_as_the_file_is() -> None:
    quotes = readme_quotes()
    assert QUOTED <= set(quotes), f"README.md does not quote {sorted(QUOTED - set(quotes))}"
    for name, code in quotes.items():
        assert (EXAMPLES / name).is_file(), f"README.md quotes examples/{name}, which does not exist"
        assert code == (EXAMPLES / name).read_text(), f"README.md's copy of examples/{name} differs from the file"


@pytest.mark.parametrize("system", ["aegis", "spin", "unix"])
def test_does_hello_run_unchanged_on_every_system(system: str, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # the child (pid 2) wrote its greeting into the pipe; the parent read it and waited for it
    assert run_example("hello.py", [system], capsys, monkeypatch) == "b'hello from 2' (2, 0)\n"


def test_does_the_count_extension_count_and_its_replacement_keep_its_own_state(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_example("spin/replace_count.py", [], capsys, monkeypatch) == "1\n2\n10\n"


def test_does_the_count_extension_pass_the_verifier(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(EXAMPLES / "spin" / "count.py")
    assert main(["spin", "check", path]) == 0
    assert capsys.readouterr().out == f"{path}: ok\n"
