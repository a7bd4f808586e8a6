"""A small terminal chart of a learning-rate curve, drawn with Unicode eighth blocks."""

from __future__ import annotations

from collections.abc import Sequence

_EIGHTHS = " ▁▂▃▄▅▆▇█"


def _columns(values: Sequence[float], width: int) -> list[float]:
    """`values` resampled to at most `width` columns (each value repeated when there are few)."""
    if len(values) >= width:
        return [values[column * len(values) // width] for column in range(width)]
    repeat = width // len(values)
    return [value for value in values for _ in range(repeat)]


def render_curve(
    values: Sequence[float], *, width: int = 60, height: int = 10, x_label: str = "epoch"
) -> str:
    """An area chart of `values` from 0 to their maximum, with y and x axis labels."""
    if not values:
        raise ValueError("nothing to plot")
    if width < 1 or height < 1:
        raise ValueError("width and height must be positive")
    columns = _columns(values, width)
    top = max(values)
    # Bar heights in eighths of a row; a flat zero curve stays empty.
    eighths = [round(value / top * height * 8) if top > 0 else 0 for value in columns]
    y_labels = [f"{top:.3g}", f"{top / 2:.3g}", "0"]
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
    axis = f"0{x_label.center(max(0, len(columns) - 1 - len(last)))}{last}"
    lines.append(f"{'':>{label_width}}  {axis}")
    return "\n".join(lines)
