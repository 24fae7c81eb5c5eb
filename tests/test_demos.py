"""The demos: does each run on its paper's machine, honour or refuse a seed, and report without a terminal?"""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from exospin.cli import main
from exospin.demos import DEMOS, Ending
from exospin.machine import get_profile

#: The machine of each demo's paper (unix: the exokernel paper's Ultrix role, like exos).
PAPERS = {"aegis": "ds5000", "exos": "ds5000", "spin": "alpha3000", "unix": "ds5000", "net": "ds5000"}


def told(name: str, seed: int, profile: str) -> str:
    """The demo rendered into a string, as a pipe would see it (whitespace normalised)."""
    demo = DEMOS[name]
    buf = io.StringIO()
    demo.render(demo.run(seed, profile, None), Console(file=buf, width=80, highlight=False))
    return " ".join(buf.getvalue().split())


def test_is_every_demo_registered_with_its_papers_machine() -> None:
    assert {n: d.profile for n, d in DEMOS.items()} == PAPERS
    assert {n for n, d in DEMOS.items() if not d.seeded} == {"spin", "net"}


@pytest.mark.parametrize("name", sorted(PAPERS))
def test_does_each_demo_run_on_its_papers_machine_by_default(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", name])
    out, err = capsys.readouterr()
    assert code == 0, err
    header = " ".join(" ".join(out.split("\n")[:2]).split())  # the first line may wrap at 80 columns
    assert get_profile(PAPERS[name]).description in header
    other = "alpha3000" if PAPERS[name] == "ds5000" else "ds5000"
    assert get_profile(other).description not in header


def test_does_spin_no_longer_say_it_runs_on_the_decstation(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "spin"]) == 0
    out = capsys.readouterr().out
    assert "DEC 3000/400" in out and "DECstation" not in out


def test_does_profile_still_choose_the_machine(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "spin", "--profile", "ds5000"]) == 0
    assert "SPIN on DECstation 5000/125" in capsys.readouterr().out


def test_is_a_seed_refused_by_the_demo_with_no_randomness(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "spin", "--seed", "3"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "--seed" in err and "spin" in err and "Traceback" not in err


def test_is_the_refusal_honest_spin_tells_the_same_story_for_any_seed() -> None:
    assert told("spin", 0, "alpha3000") == told("spin", 7, "alpha3000")


@pytest.mark.parametrize("name", ["exos", "unix"])
def test_do_the_seeded_demos_honour_the_seed(name: str) -> None:
    # the seed picks the page the second reader edits (a copy-on-write copy of that page);
    # the account reads the same whichever page it is, the story does not
    runs = {seed: DEMOS[name].run(seed, "ds5000", None) for seed in (0, 1, 2)}
    assert {s: r.story.edited for s, r in runs.items()} == {0: 3, 1: 1, 2: 0}
    assert all(r.end.clean for r in runs.values())
    assert DEMOS[name].run(2, "ds5000", None).story.edited == 0  # the same seed, the same choice


def test_can_a_demo_be_run_and_read_without_a_terminal() -> None:
    report = DEMOS["aegis"].run(1, "ds5000", None)
    assert isinstance(report.end, Ending) and report.end.clean
    assert report.kernel.aborts == 1 and report.kernel.revocations == 2  # read before shutdown
    assert report.end.leaked and not any(report.end.leaked.values())
