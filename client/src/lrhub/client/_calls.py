"""Every lrhub API operation as a `Call`: its method, path, parameters, body, headers, whether
it may be sent twice, and how to read its answer. `Client` and `AsyncClient` send the same calls,
one blocking and one with asyncio."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import TypeAdapter

from ._http import Call, ResultT
from .models import (
    Applied,
    AuditEvent,
    BulkChange,
    Change,
    Delivery,
    EpochAnswer,
    Health,
    HistoryEntry,
    Job,
    JobPatch,
    JobToken,
    JsonObject,
    Page,
    PreviewResult,
    Readiness,
    Schedule,
    Series,
    SeriesOfJobs,
    Token,
    TokenCreated,
    TokenRole,
    Webhook,
    WebhookCreated,
    WebhookEvent,
)
from .rollout_models import Rollout


def _model(adapter: TypeAdapter[ResultT]) -> Callable[[httpx.Response], ResultT]:
    return lambda response: adapter.validate_json(response.content)


def _with_etag(model: type[Schedule] | type[Job]) -> Callable[[httpx.Response], Any]:
    def parse(response: httpx.Response) -> Any:
        data = response.json()
        data["etag"] = response.headers.get("ETag")
        return model.model_validate(data)

    return parse


def _no_content(response: httpx.Response) -> None:
    return None


def _text(response: httpx.Response) -> str:
    return response.text


_SCHEDULE_PAGE = TypeAdapter(Page[Schedule])
_JOB_PAGE = TypeAdapter(Page[Job])
_HISTORY_PAGE = TypeAdapter(Page[HistoryEntry])
_HISTORY_ENTRY = TypeAdapter(HistoryEntry)
_CHANGE = TypeAdapter(Change)
_SERIES = TypeAdapter(Series)
_SERIES_OF_JOBS = TypeAdapter(SeriesOfJobs)
_EVENT_PAGE = TypeAdapter(Page[AuditEvent])
_PREVIEW = TypeAdapter(PreviewResult)
_DECISION = TypeAdapter(EpochAnswer)
_TOKEN_PAGE = TypeAdapter(Page[Token])
_TOKEN_CREATED = TypeAdapter(TokenCreated)
_JOB_TOKEN = TypeAdapter(JobToken)
_WEBHOOK_CREATED = TypeAdapter(WebhookCreated)
_WEBHOOK_PAGE = TypeAdapter(Page[Webhook])
_DELIVERY_PAGE = TypeAdapter(Page[Delivery])
_BULK = TypeAdapter(BulkChange)
_ROLLOUT = TypeAdapter(Rollout)
_ROLLOUT_PAGE = TypeAdapter(Page[Rollout])
_HEALTH = TypeAdapter(Health)
_READINESS = TypeAdapter(Readiness)


def _segment(value: str) -> str:
    # Names never contain "/" when valid; quoting keeps an invalid one inside its path segment so
    # the service answers 404/422 for it instead of routing it elsewhere.
    return quote(value, safe="")


def _paging(limit: int | None, cursor: str | None) -> list[tuple[str, str | int]]:
    params: list[tuple[str, str | int]] = []
    if limit is not None:
        params.append(("limit", limit))
    if cursor is not None:
        params.append(("cursor", cursor))
    return params


def _if_match(etag: str | None) -> dict[str, str]:
    return {"If-Match": etag} if etag is not None else {}


def put_schedule(
    name: str, spec: JsonObject, description: str | None, if_match: str | None
) -> Call[Schedule]:
    body: JsonObject = {"spec": spec}
    if description is not None:
        body["description"] = description
    return Call(
        "PUT",
        f"/v1/schedules/{_segment(name)}",
        _with_etag(Schedule),
        body=body,
        has_body=True,
        headers=_if_match(if_match),
    )


def get_schedule(name: str, version: int | None) -> Call[Schedule]:
    params: list[tuple[str, str | int]] = [] if version is None else [("version", version)]
    return Call("GET", f"/v1/schedules/{_segment(name)}", _with_etag(Schedule), params=params)


def list_schedules(limit: int | None, cursor: str | None) -> Call[Page[Schedule]]:
    return Call("GET", "/v1/schedules", _model(_SCHEDULE_PAGE), params=_paging(limit, cursor))


def list_versions(name: str, limit: int | None, cursor: str | None) -> Call[Page[Schedule]]:
    return Call(
        "GET",
        f"/v1/schedules/{_segment(name)}/versions",
        _model(_SCHEDULE_PAGE),
        params=_paging(limit, cursor),
    )


def delete_schedule(name: str, if_match: str | None) -> Call[None]:
    return Call(
        "DELETE", f"/v1/schedules/{_segment(name)}", _no_content, headers=_if_match(if_match)
    )


def preview(
    spec: JsonObject | None,
    schedule: str | None,
    epochs: int,
    steps_per_epoch: int | None,
    metrics: Sequence[Mapping[str, float]] | None,
) -> Call[PreviewResult]:
    body = {
        "spec": spec,
        "schedule": schedule,
        "epochs": epochs,
        "steps_per_epoch": steps_per_epoch,
        "metrics": None if metrics is None else [dict(m) for m in metrics],
    }
    return Call("POST", "/v1/preview", _model(_PREVIEW), body=body, has_body=True)


def put_job(
    job_id: str,
    schedule: str | None,
    spec: JsonObject | None,
    follow: str | None,
    scale: float,
    labels: Mapping[str, str] | None,
) -> Call[Job]:
    body = {
        "schedule": schedule,
        "spec": spec,
        "follow": follow,
        "scale": scale,
        "labels": dict(labels or {}),
    }
    return Call("PUT", f"/v1/jobs/{_segment(job_id)}", _with_etag(Job), body=body, has_body=True)


def get_job(job_id: str) -> Call[Job]:
    return Call("GET", f"/v1/jobs/{_segment(job_id)}", _with_etag(Job))


def list_jobs(
    labels: Mapping[str, str] | None,
    status: str | None,
    limit: int | None,
    cursor: str | None,
    selector: str | None = None,
) -> Call[Page[Job]]:
    params: list[tuple[str, str | int]] = [
        ("label", f"{key}={value}") for key, value in (labels or {}).items()
    ]
    if status is not None:
        params.append(("status", status))
    if selector:
        params.append(("selector", selector))
    return Call("GET", "/v1/jobs", _model(_JOB_PAGE), params=params + _paging(limit, cursor))


def patch_job(job_id: str, changes: JobPatch, if_match: str | None) -> Call[Job]:
    return Call(
        "PATCH",
        f"/v1/jobs/{_segment(job_id)}",
        _with_etag(Job),
        body=changes.model_dump(mode="json", exclude_unset=True),
        has_body=True,
        headers=_if_match(if_match),
        idempotent=False,
    )


def patch_jobs(
    selector: str, changes: JobPatch, dry_run: bool, limit: int | None, cursor: str | None
) -> Call[BulkChange]:
    params: list[tuple[str, str | int]] = [
        ("selector", selector),
        ("dry_run", str(dry_run).lower()),
    ]
    return Call(
        "PATCH",
        "/v1/jobs",
        _model(_BULK),
        params=params + _paging(limit, cursor),
        body=changes.model_dump(mode="json", exclude_unset=True),
        has_body=True,
        # One key for every attempt of this call: a retry resumes the change the first
        # attempt started (only the jobs it did not reach change), so retrying is safe.
        headers={} if dry_run else {"Idempotency-Key": str(uuid.uuid4())},
        idempotent=True,
    )


def stream_params(
    selector: str | None, job: str | None, after: int | None
) -> list[tuple[str, str | int]]:
    params: list[tuple[str, str | int]] = []
    if selector:
        params.append(("selector", selector))
    if job is not None:
        params.append(("job", job))
    if after is not None:
        params.append(("after", after))
    return params


def _decision(response: httpx.Response) -> EpochAnswer:
    """A decision with its step rates computed here from its `steps` (none cross the wire)."""
    return _DECISION.validate_json(response.content).with_step_rates()


def decide(
    job_id: str,
    epoch: int,
    metrics: Mapping[str, float] | None,
    steps_per_epoch: int | None,
    applied: Applied | None = None,
) -> Call[EpochAnswer]:
    body: dict[str, Any] = {
        "metrics": None if metrics is None else dict(metrics),
        "steps_per_epoch": steps_per_epoch,
    }
    if applied is not None:  # only when known: an older server refuses the field
        body["applied"] = applied.model_dump(exclude_none=True)
    return Call(
        "POST",
        f"/v1/jobs/{_segment(job_id)}/epochs/{epoch}",
        _decision,
        body=body,
        has_body=True,
    )


def delete_job(job_id: str, if_match: str | None) -> Call[None]:
    return Call("DELETE", f"/v1/jobs/{_segment(job_id)}", _no_content, headers=_if_match(if_match))


def report_epoch_end(
    job_id: str, epoch: int, metrics: Mapping[str, float], applied: Applied | None = None
) -> Call[HistoryEntry]:
    body: dict[str, Any] = {"metrics": dict(metrics)}
    if applied is not None:
        body["applied"] = applied.model_dump(exclude_none=True)
    return Call(
        "PUT",
        f"/v1/jobs/{_segment(job_id)}/epochs/{epoch}/metrics",
        _model(_HISTORY_ENTRY),
        body=body,
        has_body=True,
    )


def history(
    job_id: str, superseded: bool, limit: int | None, cursor: str | None
) -> Call[Page[HistoryEntry]]:
    params: list[tuple[str, str | int]] = [("superseded", str(superseded).lower())]
    return Call(
        "GET",
        f"/v1/jobs/{_segment(job_id)}/epochs",
        _model(_HISTORY_PAGE),
        params=params + _paging(limit, cursor),
    )


def series(job_id: str, limit: int | None, cursor: str | None) -> Call[Series]:
    return Call(
        "GET",
        f"/v1/jobs/{_segment(job_id)}/series",
        _model(_SERIES),
        params=_paging(limit, cursor),
    )


def series_of(
    job_ids: Sequence[str],
    fields: Sequence[str] | None,
    limit: int | None,
    cursor: str | None,
) -> Call[SeriesOfJobs]:
    params: list[tuple[str, str | int]] = [("jobs", ",".join(job_ids))]
    if fields is not None:
        params.append(("fields", ",".join(fields)))
    params += _paging(limit, cursor)
    return Call("GET", "/v1/series", _model(_SERIES_OF_JOBS), params=params)


def history_csv(job_id: str, superseded: bool) -> Call[str]:
    params: list[tuple[str, str | int]] = [("superseded", str(superseded).lower())]
    return Call("GET", f"/v1/jobs/{_segment(job_id)}/epochs.csv", _text, params=params)


def events(job_id: str, limit: int | None, cursor: str | None) -> Call[Page[AuditEvent]]:
    return Call(
        "GET",
        f"/v1/jobs/{_segment(job_id)}/events",
        _model(_EVENT_PAGE),
        params=_paging(limit, cursor),
    )


def change(change_id: str, limit: int | None, cursor: str | None) -> Call[Change]:
    return Call(
        "GET",
        f"/v1/changes/{_segment(change_id)}",
        _model(_CHANGE),
        params=_paging(limit, cursor),
    )


def rotate_job_token(job_id: str) -> Call[JobToken]:
    # Not idempotent: a second rotation would replace the token the first one answered.
    return Call("POST", f"/v1/jobs/{_segment(job_id)}/token", _model(_JOB_TOKEN), idempotent=False)


def create_token(name: str, role: TokenRole, expires_in: int | None) -> Call[TokenCreated]:
    body: JsonObject = {"name": name, "role": role}
    if expires_in is not None:
        body["expires_in"] = expires_in
    return Call(
        "POST",
        "/v1/tokens",
        _model(_TOKEN_CREATED),
        body=body,
        has_body=True,
        idempotent=False,
    )


def list_tokens(limit: int | None, cursor: str | None) -> Call[Page[Token]]:
    return Call("GET", "/v1/tokens", _model(_TOKEN_PAGE), params=_paging(limit, cursor))


def revoke_token(name: str) -> Call[None]:
    return Call("DELETE", f"/v1/tokens/{_segment(name)}", _no_content)


def create_webhook(
    url: str, events: Sequence[WebhookEvent], selector: str | None
) -> Call[WebhookCreated]:
    body: JsonObject = {"url": url, "events": list(events)}
    if selector is not None:
        body["selector"] = selector
    # Not idempotent: a second request would make a second webhook with another secret.
    return Call(
        "POST",
        "/v1/webhooks",
        _model(_WEBHOOK_CREATED),
        body=body,
        has_body=True,
        idempotent=False,
    )


def list_webhooks(limit: int | None, cursor: str | None) -> Call[Page[Webhook]]:
    return Call("GET", "/v1/webhooks", _model(_WEBHOOK_PAGE), params=_paging(limit, cursor))


def delete_webhook(webhook_id: str) -> Call[None]:
    return Call("DELETE", f"/v1/webhooks/{_segment(webhook_id)}", _no_content)


def webhook_deliveries(
    webhook_id: str, limit: int | None, cursor: str | None
) -> Call[Page[Delivery]]:
    return Call(
        "GET",
        f"/v1/webhooks/{_segment(webhook_id)}/deliveries",
        _model(_DELIVERY_PAGE),
        params=_paging(limit, cursor),
    )


def create_rollout(body: JsonObject) -> Call[Rollout]:
    # Not idempotent: a second request would start a second rollout on another canary.
    return Call(
        "POST", "/v1/rollouts", _model(_ROLLOUT), body=body, has_body=True, idempotent=False
    )


def list_rollouts(limit: int | None, cursor: str | None) -> Call[Page[Rollout]]:
    return Call("GET", "/v1/rollouts", _model(_ROLLOUT_PAGE), params=_paging(limit, cursor))


def get_rollout(rollout_id: str) -> Call[Rollout]:
    return Call("GET", f"/v1/rollouts/{_segment(rollout_id)}", _model(_ROLLOUT))


def act_on_rollout(rollout_id: str, action: str) -> Call[Rollout]:
    # Not retried after it may have arrived: a repeat would answer 409 for the rollout it ended.
    return Call(
        "POST",
        f"/v1/rollouts/{_segment(rollout_id)}/{action}",
        _model(_ROLLOUT),
        idempotent=False,
    )


def health() -> Call[Health]:
    return Call("GET", "/healthz", _model(_HEALTH))


def ready() -> Call[Readiness]:
    return Call("GET", "/readyz", _model(_READINESS))
