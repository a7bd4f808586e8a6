"""Which names a reported metric may have: one rule for the service and every client.

A metric name is what an expression reads (`val_loss`) and what a plateau spec monitors, so it is
part of the engine's vocabulary.
"""

from __future__ import annotations

import re

_METRIC_NAME = re.compile(r"[A-Za-z0-9_.:/-]{1,128}")
METRIC_NAME_PATTERN = f"^{_METRIC_NAME.pattern}$"
"""The rule as an anchored pattern, for request schemas."""


def is_metric_name(name: str) -> bool:
    """True if `name` may be reported as a metric (1-128 of letters, digits and `_.:/-`)."""
    return _METRIC_NAME.fullmatch(name) is not None
