"""The rates a spec or stored schedule would give, storing nothing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import Engine

from lrhub.schedules import EvaluationError, Preview, Spec, preview
from lrhub.service.catalog import store as catalog_store
from lrhub.service.errors import EvaluationFailed, InvalidChange
from lrhub.service.evaluation import Evaluator
from lrhub.service.limits import Limits
from lrhub.service.storage.database import read_transaction
from lrhub.service.stored_specs import load_spec


def preview_schedule(
    engine: Engine,
    limits: Limits,
    evaluator: Evaluator,
    *,
    spec: Spec | None,
    schedule: str | None,
    epochs: int,
    steps_per_epoch: int | None,
    metrics: Sequence[Mapping[str, float]] | None,
) -> Preview:
    """Evaluate `spec`, or the stored schedule `schedule` names, for `epochs` epochs (in the
    evaluation pool when it is costly)."""
    if (spec is None) == (schedule is None):
        raise InvalidChange("spec", "give exactly one of spec and schedule")
    if metrics is not None and len(metrics) > epochs:
        raise InvalidChange("metrics", "at most one metrics object per epoch")
    if spec is None:
        assert schedule is not None
        with read_transaction(engine) as connection:
            spec = load_spec(catalog_store.resolve_reference(connection, schedule).spec)
    cost = limits.check_preview(spec, epochs, steps_per_epoch)
    try:
        return evaluator.run(
            cost, preview, spec, epochs, steps_per_epoch=steps_per_epoch, metrics=metrics
        )
    except EvaluationError as error:
        raise EvaluationFailed(str(error)) from error
