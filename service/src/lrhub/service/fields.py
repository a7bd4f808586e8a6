"""The value types every domain shares: names, labels, metrics, rates, their bounds, a job's
status, and the one rule for text both databases can store.

Each domain's own request and response bodies are in its `schemas.py`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints

from lrhub.schedules import METRIC_NAME_PATTERN, refuse_negative_zero

SCHEDULE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
SCHEDULE_REF_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}(@[1-9][0-9]{0,8})?$"
JOB_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,252}$"
LABEL_KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$"
MAX_EPOCH = 10_000_000
MAX_PREVIEW_EPOCHS = 10_000
MAX_METRICS = 256
MAX_LABELS = 32


def storable_text(text: str) -> str:
    """`text` if both databases can store and compare it, else ValueError.

    The one rule for every free-form string a request stores or filters by: PostgreSQL text
    cannot hold NUL, and a JSON document holding `\\u0000` cannot be turned into text (which
    label filters do), and lone surrogates are not UTF-8 at all.
    """
    if "\x00" in text:
        raise ValueError("must not contain NUL (\\u0000) characters")
    if any("\ud800" <= char <= "\udfff" for char in text):
        raise ValueError("must not contain unpaired surrogate characters")
    return text


StoredText = Annotated[str, AfterValidator(storable_text)]
ScheduleRef = Annotated[str, StringConstraints(pattern=SCHEDULE_REF_PATTERN)]
LabelKey = Annotated[str, StringConstraints(pattern=LABEL_KEY_PATTERN)]
LabelValue = Annotated[StoredText, StringConstraints(max_length=256)]
Labels = Annotated[dict[LabelKey, LabelValue], Field(max_length=MAX_LABELS)]
MetricName = Annotated[str, StringConstraints(pattern=METRIC_NAME_PATTERN)]
# Numbers are strict: "0.5" and true are not metric values, "5" is not a step count.
FiniteNumber = Annotated[float, Field(allow_inf_nan=False, strict=True)]
Metrics = Annotated[dict[MetricName, FiniteNumber], Field(max_length=MAX_METRICS)]
# Its upper bound is a setting (LRHUB_MAX_STEPS_PER_EPOCH), checked by lrhub.service.limits.
StepsPerEpoch = Annotated[int, Field(ge=1, strict=True)]
Rate = Annotated[
    float,
    Field(ge=0, le=1e6, allow_inf_nan=False, strict=True),
    AfterValidator(refuse_negative_zero),
]
Scale = Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False, strict=True)]
EngineState = Annotated[
    dict[str, Any],
    Field(
        description="The schedule engine's state, JSON, its shape set by the spec: `prev_lr` "
        "for stateless specs and expressions; plateau counters `best`, `wait`, "
        "`cooldown_counter`, `reductions`, `stop_wait` with `lr` (or the `base` spec's state); "
        "a sequence's `stage` and that stage's `state` (docs/engine-api.md)."
    ),
]


class JobStatus(StrEnum):
    """Where a job is in its life: training, stopped by an operator, or ended (as it reported)."""

    RUNNING = "running"
    STOPPED = "stopped"
    COMPLETED = "completed"
    FAILED = "failed"


# Jobs whose training is over: they can be deleted, purged after the retention, and their
# schedules deleted.
FINISHED = frozenset({JobStatus.STOPPED, JobStatus.COMPLETED, JobStatus.FAILED})
