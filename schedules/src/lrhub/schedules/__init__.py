"""The math of lrhub: schedule specs, pure evaluation, plateau state, safe expressions.

No HTTP, no database, no TensorFlow: pydantic and the standard library only. The public API is
described in ``docs/engine-api.md``.
"""

from .decisions import Decision, decide
from .errors import EvaluationError, ExpressionError, ScheduleError, SpecError
from .operators import Answer, OperatorSettings, apply_operator_settings
from .previews import Preview, preview
from .specs import Spec, SpecAdapter, needs_steps_per_epoch, parse_spec, spec_to_json

__all__ = [
    "Answer",
    "Decision",
    "EvaluationError",
    "ExpressionError",
    "OperatorSettings",
    "Preview",
    "ScheduleError",
    "Spec",
    "SpecAdapter",
    "SpecError",
    "apply_operator_settings",
    "decide",
    "needs_steps_per_epoch",
    "parse_spec",
    "preview",
    "spec_to_json",
]
