"""The terminal curve of `lrhub schedules preview`."""

from __future__ import annotations

import itertools

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


def test_a_log_axis_shows_every_decade_of_a_decay() -> None:
    decay = [10.0**-k for k in range(1, 8)]  # 0.1 down to 1e-7
    linear = bars(render_curve(decay, width=7, height=4))
    assert [row[3:] for row in linear] == ["    "] * 4  # 1e-4 and below vanish
    logged = render_curve(decay, width=7, height=4, log=True)
    rows = bars(logged)
    # Heights fall by the same step per decade, and the smallest rate still has a bar.
    heights = [sum(" ▁▂▃▄▅▆▇█".index(row[column]) for row in rows) for column in range(7)]
    assert heights == sorted(heights, reverse=True) and heights[-1] > 0
    steps = {a - b for a, b in itertools.pairwise(heights)}
    assert max(steps) - min(steps) <= 1
    assert logged.splitlines()[0].lstrip().startswith("0.1 │") and "(log rate)" in logged


def test_a_log_axis_leaves_zero_rates_empty() -> None:
    rows = bars(render_curve([0.1, 0.0, 0.01], width=3, height=2, log=True))
    assert [row[1] for row in rows] == [" ", " "] and rows[-1][2] != " "
    assert set("".join(bars(render_curve([0.0, 0.0], width=2, height=2, log=True)))) == {" "}
