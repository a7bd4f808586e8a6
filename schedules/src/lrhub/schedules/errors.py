"""The engine's exceptions."""

from __future__ import annotations

from typing import TypedDict


class ErrorDetail(TypedDict):
    """One validation problem: where it is (dotted path such as ``stages.1.schedule.factor``)."""

    loc: str
    msg: str


class ScheduleError(ValueError):
    """Base of every error the engine raises.

    A ``ValueError`` so that pydantic validators raising it report a validation error.
    """


class SpecError(ScheduleError):
    """An invalid spec; ``errors`` names each offending field."""

    def __init__(self, message: str, errors: list[ErrorDetail] | None = None) -> None:
        super().__init__(message)
        self.errors: list[ErrorDetail] = (
            errors if errors is not None else [{"loc": "", "msg": message}]
        )


class ExpressionError(SpecError):
    """An expression the engine refuses; the message names the construct."""


class EvaluationError(ScheduleError):
    """A valid spec that cannot give a rate here (non-finite result, missing steps_per_epoch...)."""
