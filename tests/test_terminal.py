"""Tables on a terminal or in a pipe: is a word ever cut off, at any width (exospin.terminal)?"""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.table import Table

from exospin.terminal import print_table

NAMES = ["ping_pong_user_integrated", "dispatch_h50_a5", "null_syscall"]


def table() -> Table:
    t = Table(title="a table", header_style="bold")
    for col in ("benchmark", "sim cycles", "ext cycles", "wall ns", "× Python call", "target"):
        t.add_column(col, justify="left" if col == "benchmark" else "right")
    for i, name in enumerate(NAMES):
        t.add_row(name, f"{627.5 * (i + 1):.1f}", "2304.0", f"{75452 * (i + 1)}", "1306.0",
                  "none: no argument to guard" if i else "[green]≤ 1.5× ok[/green]")
    return t


def printed(width: int) -> str:
    buf = io.StringIO()
    print_table(Console(file=buf, width=width, highlight=False), table())
    return buf.getvalue()


@pytest.mark.parametrize("width", [200, 80, 72, 64, 40, 12])
def test_is_every_word_of_every_cell_whole_at_any_width(width: int) -> None:
    out = printed(width)
    assert "…" not in out
    words = set(out.split())
    for word in (*NAMES, "1882.5", "2304.0", "226356", "1306.0", "argument", "cycles"):
        assert word in words, (width, word)


@pytest.mark.parametrize("width", [200, 80, 72, 67])
def test_does_the_table_stay_within_the_width_when_its_words_fit(width: int) -> None:
    assert max(len(line) for line in printed(width).splitlines()) <= width


def test_is_a_table_too_wide_for_its_words_printed_wider_not_cut() -> None:
    lines = printed(40).splitlines()
    assert max(len(line) for line in lines) > 40
    assert all(name in "".join(lines) for name in NAMES)


def test_is_a_table_that_fits_left_as_rich_lays_it_out() -> None:
    buf = io.StringIO()
    Console(file=buf, width=200, highlight=False).print(table())
    assert printed(200) == buf.getvalue()
