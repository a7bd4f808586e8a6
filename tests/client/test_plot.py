"""The terminal curve of `lrhub schedules preview`."""

from __future__ import annotations

import pytest

from lrhub.client.plot import render_curve


def bars(chart: str) -> list[str]:
    """The plot area of a chart, one string per row, top first."""
    return [line.split("│", 1)[1] for line in chart.splitlines() if "│" in line]


def test_a_halving_curve_fills_full_then_half_height() -> None:
    chart = render_curve([0.1] * 5 + [0.05] * 5, width=10, height=4)
    rows = bars(chart)
    assert rows == ["█████     ", "█████     ", "██████████", "██████████"]
    assert chart.splitlines()[0].lstrip().startswith("0.1 │")
    assert chart.splitlines()[-1].strip().startswith("0") and chart.endswith("9")


def test_partial_rows_use_eighth_blocks() -> None:
    rows = bars(render_curve([1.0, 0.5625], width=2, height=2))
    assert rows == ["█▁", "██"]  # 0.5625 of 2 rows = 1 row and 1/8


def test_long_curves_are_sampled_to_the_width_and_short_ones_stretched() -> None:
    assert {len(row) for row in bars(render_curve(list(range(1, 1001)), width=40))} == {40}
    assert {len(row) for row in bars(render_curve([1.0, 2.0, 3.0], width=40))} == {39}


def test_a_zero_curve_stays_empty_and_nothing_to_plot_is_refused() -> None:
    assert set("".join(bars(render_curve([0.0, 0.0], width=4, height=2)))) == {" "}
    with pytest.raises(ValueError, match="nothing to plot"):
        render_curve([])
