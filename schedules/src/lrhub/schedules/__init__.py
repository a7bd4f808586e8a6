"""The math of lrhub: schedule specs, pure evaluation, plateau state, safe expressions.

No HTTP, no database, no TensorFlow: pydantic and the standard library only. The public API is
described in ``docs/engine-api.md``.
"""

from .decisions import Decision, decide
from .errors import EvaluationError, ExpressionError, ScheduleError, SpecError
from .metrics import METRIC_NAME_PATTERN, is_metric_name
from .operators import (
    Answer,
    AnsweredEpoch,
    Cooldown,
    IntervalSteps,
    OperatorSettings,
    StepRule,
    answer_epoch,
    apply_cooldown,
    apply_operator_settings,
    effective_clock_origin,
    fixed_rate,
    interval_steps,
)
from .previews import Preview, preview
from .specs import (
    Spec,
    SpecAdapter,
    error_location,
    evaluation_cost,
    needs_steps_per_epoch,
    parse_spec,
    refuse_negative_zero,
    spec_to_json,
)

__all__ = [
    "METRIC_NAME_PATTERN",
    "Answer",
    "AnsweredEpoch",
    "Cooldown",
    "Decision",
    "EvaluationError",
    "ExpressionError",
    "IntervalSteps",
    "OperatorSettings",
    "Preview",
    "ScheduleError",
    "Spec",
    "SpecAdapter",
    "SpecError",
    "StepRule",
    "answer_epoch",
    "apply_cooldown",
    "apply_operator_settings",
    "decide",
    "effective_clock_origin",
    "error_location",
    "evaluation_cost",
    "fixed_rate",
    "interval_steps",
    "is_metric_name",
    "needs_steps_per_epoch",
    "parse_spec",
    "preview",
    "refuse_negative_zero",
    "spec_to_json",
]
