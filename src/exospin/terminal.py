"""How the command line prints a table so that nothing in it is cut off, at any width.

What this models
    Nothing of a paper: the terminal side of the command line (``cli.py``
    and the demos' renderers). A rich ``Table`` laid out by rich alone
    shortens a cell with "…" when the columns do not fit the console's
    width: at 80 columns, or when the output is piped (rich then assumes
    80), ``bench spin`` showed ``dispatch…`` thirty times and ``demo aegis``
    ``exceptio…``. ``print_table`` lays the columns out itself, under one
    rule: **no word is ever cut**. Benchmark names and numbers are single
    words, so they are always whole; headers and prose wrap between words.

Why it is built this way
    * A table that fits at its natural width is left to rich untouched, so
      output that was fine before is byte for byte the same.
    * Otherwise every column gets at least its longest word (header
      included): from their natural widths the widest column is narrowed
      first, as rich does, but never below its longest word. If even the longest words do not
      fit with the table's frame, the frame is thinned (no outer edge, then
      no rules between columns); if they still do not fit, the table is
      printed wider than the console, which a terminal wraps and a pipe
      keeps, rather than cutting anything.
    * It decides from rich's own measurements (``Measurement.get``) and the
      table's public settings (box, edge, padding), so markup and
      multi-line cells count as they will be printed.

Interface
    ``print_table(console, table)``; ``fit(console, table) -> bool`` (lay
    the table out in place; False if it had to be wider than the console).
"""

from __future__ import annotations

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

#: A width no cell reaches: cells are measured against it, not against the console.
_UNBOUNDED = 1 << 20


def _overhead(table: Table) -> int:
    """Characters of a row that are not cell content: rules, edges and padding."""
    n = len(table.columns)
    rules = (n - 1 if table.box else 0) + (2 if table.box and table.show_edge else 0)
    _top, right, _bottom, left = table.padding
    pad = n * (left + right)
    if not table.pad_edge and n:
        pad -= left + right
    return rules + pad


def _ranges(console: Console, table: Table) -> list[tuple[int, int]]:
    """Per column, (its longest word, its longest line), over the header and every cell."""
    options = console.options.update_width(_UNBOUNDED)  # the words as they are, not as the console would cut them
    ranges = []
    for column in table.columns:
        parts = [column.header, *column.cells] if table.show_header else list(column.cells)
        sizes = [Measurement.get(console, options, part) for part in parts]
        ranges.append((max((m.minimum for m in sizes), default=1), max((m.maximum for m in sizes), default=1)))
    return ranges


def _shrink(ranges: list[tuple[int, int]], room: int) -> list[int]:
    """Column widths within ``room``: from the natural widths, narrow the widest column
    one character at a time (as rich collapses a table), never below its longest word."""
    widths = [hi for _lo, hi in ranges]
    for _ in range(sum(widths) - room):
        wide = [i for i, (lo, _hi) in enumerate(ranges) if widths[i] > lo]
        if not wide:
            break
        widths[max(wide, key=lambda i: (widths[i], i))] -= 1
    return widths


def fit(console: Console, table: Table) -> bool:
    """Lay ``table`` out for ``console``'s width so that no word is cut (see the module
    note); changes the table in place. False if it had to be wider than the console."""
    width = console.width
    ranges = _ranges(console, table)
    if sum(hi for _lo, hi in ranges) + _overhead(table) <= width:
        return True  # its natural width fits: rich lays it out as it always did
    least = sum(lo for lo, _hi in ranges)
    if least + _overhead(table) > width:  # thin the frame: no outer edge, then no rules
        table.show_edge = table.pad_edge = False
    if least + _overhead(table) > width:
        table.box = None
    widths = _shrink(ranges, width - _overhead(table))
    for column, w in zip(table.columns, widths, strict=True):
        column.width = w
    total = sum(widths) + _overhead(table)
    if total > width:
        table.width = total
        return False
    return True


def print_table(console: Console, table: Table) -> None:
    """Print ``table`` with no word in it cut off (``fit``)."""
    fits = fit(console, table)
    console.print(table, crop=fits)


__all__ = ["fit", "print_table"]
