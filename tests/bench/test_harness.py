"""The benchmark harness: rows measured together, each on its own clock."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from exospin.bench.harness import Timer, measure_together


def test_are_rows_a_target_compares_measured_round_by_round() -> None:
    """Rows compared by a target are measured in alternation, each with its own clock."""
    order: list[str] = []
    clocks = {"a": [0], "b": [0]}

    def loop(name: str, cost: int) -> Callable[[int], None]:
        def run(n: int) -> None:
            order.append(name)
            clocks[name][0] += cost * n
        return run

    ta, tb = Timer(lambda: clocks["a"][0]), Timer(lambda: clocks["b"][0])
    (sim_a, wall_a, call_a), (sim_b, wall_b, call_b) = measure_together(
        [(ta, loop("a", 3)), (tb, loop("b", 5))], 10, per=2)
    assert order == ["a", "b"] * ta.repeats
    assert (sim_a, sim_b) == (1.5, 2.5)  # cycles per operation: 3n / 2n and 5n / 2n
    assert min(wall_a, wall_b, call_a, call_b) > 0
    with pytest.raises(ValueError, match="same repeats"):
        measure_together([(ta, loop("a", 1)), (Timer(int, repeats=2), loop("b", 1))], 1)
