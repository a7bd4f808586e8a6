"""A small terminal chart of a learning-rate curve, drawn with Unicode eighth blocks.

Each column is the rate of one epoch (or a sample of them), held until the next one, so a drop
shows as a step, not a slope. `log=True` scales the y axis by decades: a decay to 1e-7 stays
visible instead of vanishing under the first epoch's rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

_EIGHTHS = " ▁▂▃▄▅▆▇█"


def _columns(values: Sequence[float], width: int) -> list[float]:
    """`values` resampled to at most `width` columns (each value repeated when there are few)."""
    if len(values) >= width:
        return [values[column * len(values) // width] for column in range(width)]
    repeat = width // len(values)
    return [value for value in values for _ in range(repeat)]


def _linear_fractions(columns: list[float], top: float) -> tuple[list[float], list[str]]:
    fractions = [value / top if top > 0 else 0.0 for value in columns]
    return fractions, [f"{top:.3g}", f"{top / 2:.3g}", "0"]


def _log_fractions(columns: list[float], values: Sequence[float]) -> tuple[list[float], list[str]]:
    positive = [value for value in values if value > 0]
    if not positive:
        return [0.0] * len(columns), ["0", "0", "0"]
    high, low = math.log10(max(positive)), math.log10(min(positive))
    # The lowest rate keeps a sliver of a bar, so it is told apart from zero (which a log axis
    # cannot show and leaves empty).
    floor = low - max(high - low, 1.0) / 16
    span = high - floor
    fractions = [(math.log10(value) - floor) / span if value > 0 else 0.0 for value in columns]
    labels = [f"{10**high:.3g}", f"{10 ** ((high + floor) / 2):.3g}", f"{10**floor:.2g}"]
    return fractions, labels


def render_curve(
    values: Sequence[float],
    *,
    width: int = 60,
    height: int = 10,
    x_label: str = "epoch",
    log: bool = False,
) -> str:
    """An area chart of `values` from 0 (or, with `log`, from below their least positive value)
    to their maximum, with y and x axis labels."""
    if not values:
        raise ValueError("nothing to plot")
    if width < 1 or height < 1:
        raise ValueError("width and height must be positive")
    columns = _columns(values, width)
    if log:
        fractions, y_labels = _log_fractions(columns, values)
    else:
        fractions, y_labels = _linear_fractions(columns, max(values))
    # Bar heights in eighths of a row; a flat zero curve stays empty.
    eighths = [round(fraction * height * 8) for fraction in fractions]
    label_width = max(len(label) for label in y_labels)
    lines = []
    for row in range(height, 0, -1):
        cells = "".join(_EIGHTHS[min(8, max(0, bar - (row - 1) * 8))] for bar in eighths)
        if row == height:
            label = y_labels[0]
        elif row == (height + 1) // 2:
            label = y_labels[1]
        else:
            label = ""
        lines.append(f"{label:>{label_width}} │{cells}")
    lines.append(f"{y_labels[2]:>{label_width}} └{'─' * len(columns)}")
    last = f"{len(values) - 1}"
    name = f"{x_label} (log rate)" if log else x_label
    axis = f"0{name.center(max(0, len(columns) - 1 - len(last)))}{last}"
    lines.append(f"{'':>{label_width}}  {axis}")
    return "\n".join(lines)
