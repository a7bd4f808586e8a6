"""`/v1/rollouts`: a change tried on a canary cohort, judged, then promoted or reverted."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Response

from lrhub.service.context import Caller, Context
from lrhub.service.http.paging import DEFAULT_LIMIT, Cursor, Limit, Page, decode_cursor, page_of
from lrhub.service.http.responses import model_response
from lrhub.service.http.routers import v1_router
from lrhub.service.rollouts import service as rollout_service
from lrhub.service.rollouts.model import RolloutState
from lrhub.service.rollouts.schemas import ROLLOUT_ID_PATTERN, Rollout, RolloutCreate

router = v1_router("/v1/rollouts", "rollouts")

RolloutId = Annotated[str, Path(max_length=36, pattern=ROLLOUT_ID_PATTERN)]


@router.post("", status_code=201, response_model=Rollout)
def create_rollout(body: RolloutCreate, context: Context, caller: Caller) -> Response:
    """Apply a change to a canary cohort of the selected jobs at once; the judge compares the
    cohorts and promotes or reverts it (or waits for an operator)."""
    rollout = rollout_service.create_rollout(context.engine, caller, body)
    return model_response(Rollout.of(rollout), status_code=201)


@router.get("", response_model=Page[Rollout])
def list_rollouts(
    context: Context, caller: Caller, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Response:
    """Rollouts by id."""
    after = decode_cursor(cursor, ROLLOUT_ID_PATTERN)
    rollouts = rollout_service.list_rollouts(context.engine, caller, after, limit)
    return model_response(page_of(rollouts, limit, lambda rollout: rollout.rollout_id, Rollout.of))


@router.get("/{rollout_id}", response_model=Rollout)
def get_rollout(rollout_id: RolloutId, context: Context, caller: Caller) -> Response:
    """A rollout: its cohorts, state and verdict with its figures."""
    return model_response(
        Rollout.of(rollout_service.get_rollout(context.engine, caller, rollout_id))
    )


def _act(context: Context, caller: Caller, rollout_id: str, state: RolloutState) -> Response:
    return model_response(
        Rollout.of(rollout_service.act(context.engine, caller, rollout_id, state))
    )


@router.post("/{rollout_id}/promote", response_model=Rollout)
def promote_rollout(rollout_id: RolloutId, context: Context, caller: Caller) -> Response:
    """Apply the change to the control jobs too (whatever the verdict); 409 once it ended."""
    return _act(context, caller, rollout_id, RolloutState.PROMOTED)


@router.post("/{rollout_id}/revert", response_model=Rollout)
def revert_rollout(rollout_id: RolloutId, context: Context, caller: Caller) -> Response:
    """Restore each canary job's changed fields to their values before the rollout."""
    return _act(context, caller, rollout_id, RolloutState.REVERTED)


@router.post("/{rollout_id}/abort", response_model=Rollout)
def abort_rollout(rollout_id: RolloutId, context: Context, caller: Caller) -> Response:
    """Stop the analysis and leave every job as it is now (the canary keeps the change)."""
    return _act(context, caller, rollout_id, RolloutState.ABORTED)
