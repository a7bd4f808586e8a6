"""`AsyncClient`: the asyncio lrhub client on `httpx.AsyncClient`."""

from __future__ import annotations

from asyncio import sleep
from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Literal, Self

import httpx

from . import _calls
from ._base import BaseClient
from ._http import (
    STREAM_PATH,
    Call,
    EventStreamParser,
    ResultT,
    RetryPolicy,
    problem_from_response,
    transport_error,
)
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
    JobStatus,
    JobToken,
    JsonObject,
    Page,
    PreviewResult,
    Readiness,
    Schedule,
    Series,
    SeriesOfJobs,
    StreamEvent,
    Token,
    TokenCreated,
    TokenRole,
    Webhook,
    WebhookCreated,
    WebhookEvent,
)
from .rollout_models import Rollout
from .settings import ClientSettings


class AsyncClient(BaseClient):
    """Asynchronous client for every lrhub resource; use with `async with` or await `aclose()`.

    Configuration comes from the arguments, else from `LRHUB_URL`, `LRHUB_TOKEN`,
    `LRHUB_TIMEOUT` and `LRHUB_MAX_RETRIES`. Connection errors, timeouts, 429 and 503 are retried
    with backoff; every other error status raises a `ProblemError` subclass at once.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        token: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        settings: ClientSettings | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            url,
            token=token,
            timeout=timeout,
            max_retries=max_retries,
            settings=settings,
            retry=retry,
        )
        self._http = httpx.AsyncClient(transport=transport, **self._http_options())

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _send(self, call: Call[ResultT]) -> ResultT:
        attempt = 0
        while True:
            try:
                response = await self._http.request(
                    call.method, call.path, **self._request_options(call)
                )
            except httpx.TransportError as error:
                delay = self._retry_delay(call, attempt, error=error)
                if delay is None:
                    raise transport_error(error, self.url) from error
            else:
                delay = self._retry_delay(call, attempt, response=response)
                if delay is None:
                    return self._result(call, response)
            await sleep(delay)
            attempt += 1

    async def put_schedule(
        self,
        name: str,
        spec: JsonObject,
        *,
        description: str | None = None,
        if_match: str | None = None,
    ) -> Schedule:
        """Create or update a named schedule; a changed spec makes a new version."""
        return await self._send(_calls.put_schedule(name, spec, description, if_match))

    async def get_schedule(self, name: str, *, version: int | None = None) -> Schedule:
        """A schedule's latest version, or the given one."""
        return await self._send(_calls.get_schedule(name, version))

    async def list_schedules(
        self, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[Schedule]:
        """One page of schedules (their latest versions)."""
        return await self._send(_calls.list_schedules(limit, cursor))

    async def list_versions(
        self, name: str, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[Schedule]:
        """One page of a schedule's versions, oldest first."""
        return await self._send(_calls.list_versions(name, limit, cursor))

    async def delete_schedule(self, name: str, *, if_match: str | None = None) -> None:
        """Delete a schedule (refused with `Conflict` while a running job uses it)."""
        return await self._send(_calls.delete_schedule(name, if_match))

    async def preview(
        self,
        *,
        epochs: int,
        spec: JsonObject | None = None,
        schedule: str | None = None,
        steps_per_epoch: int | None = None,
        metrics: Sequence[Mapping[str, float]] | None = None,
    ) -> PreviewResult:
        """The rates a spec or stored schedule gives over `epochs`; nothing is stored."""
        return await self._send(_calls.preview(spec, schedule, epochs, steps_per_epoch, metrics))

    async def put_job(
        self,
        job_id: str,
        *,
        schedule: str | None = None,
        spec: JsonObject | None = None,
        follow: Literal["latest", "pinned"] | None = None,
        scale: float = 1.0,
        labels: Mapping[str, str] | None = None,
    ) -> Job:
        """Create a job, or get the existing one unchanged (a restarted pod gets its own job)."""
        return await self._send(_calls.put_job(job_id, schedule, spec, follow, scale, labels))

    async def get_job(self, job_id: str) -> Job:
        """A job's state."""
        return await self._send(_calls.get_job(job_id))

    async def list_jobs(
        self,
        *,
        labels: Mapping[str, str] | None = None,
        status: JobStatus | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        selector: str | None = None,
    ) -> Page[Job]:
        """One page of jobs having all `labels` (and `status`) that `selector` (Kubernetes
        label-selector syntax, e.g. `team=vision,stage!=prod`) matches."""
        return await self._send(_calls.list_jobs(labels, status, limit, cursor, selector))

    async def patch_job(
        self, job_id: str, changes: JobPatch, *, if_match: str | None = None
    ) -> Job:
        """Change a job; effective at its next decided epoch. Not retried once sent."""
        return await self._send(_calls.patch_job(job_id, changes, if_match))

    async def patch_jobs(
        self,
        selector: str,
        changes: JobPatch,
        *,
        dry_run: bool = False,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> BulkChange:
        """Apply `changes` to every job `selector` matches (Kubernetes label-selector syntax);
        `dry_run` answers each job's before and after and changes nothing. Not retried once
        sent, unless a dry run."""
        return await self._send(_calls.patch_jobs(selector, changes, dry_run, limit, cursor))

    async def stream(
        self, *, selector: str | None = None, job: str | None = None, after: int | None = None
    ) -> AsyncIterator[StreamEvent]:
        """Follow `GET /v1/stream`: each decision, change and status transition as it happens
        (after the event id `after`, to resume; else from now). Ends when the connection does;
        resume with the last event's id. Raises a `ProblemError` for an error answer."""
        params = _calls.stream_params(selector, job, after)
        parser = EventStreamParser()
        try:
            async with self._http.stream(
                "GET", STREAM_PATH, params=tuple(params), timeout=self._stream_timeout()
            ) as response:
                if response.is_error:
                    await response.aread()
                    raise problem_from_response(response)
                async for line in response.aiter_lines():
                    event = parser.feed(line)
                    if event is not None:
                        yield event
        except httpx.TransportError as error:
            raise transport_error(error, self.url) from error

    async def decide(
        self,
        job_id: str,
        epoch: int,
        *,
        metrics: Mapping[str, float] | None,
        steps_per_epoch: int | None = None,
        applied: Applied | None = None,
    ) -> EpochAnswer:
        """The rate for `epoch`, given the metrics observed at the end of the epoch before.

        `metrics=None` means "not known" (resumed from a checkpoint); `{}` means "none observed".
        `applied`: what the optimizer held at the end of the epoch before (drift detection).
        """
        return await self._send(_calls.decide(job_id, epoch, metrics, steps_per_epoch, applied))

    async def delete_job(self, job_id: str, *, if_match: str | None = None) -> None:
        """Delete a job that is not running, with its history (its token stops working)."""
        return await self._send(_calls.delete_job(job_id, if_match))

    async def report_epoch_end(
        self,
        job_id: str,
        epoch: int,
        *,
        metrics: Mapping[str, float],
        applied: Applied | None = None,
    ) -> HistoryEntry:
        """Record the metrics observed at the end of `epoch` (the last epoch of a fit; the
        others reach the service with the next epoch's `decide`) and what its optimizer
        `applied`."""
        return await self._send(_calls.report_epoch_end(job_id, epoch, metrics, applied))

    async def history(
        self,
        job_id: str,
        *,
        superseded: bool = False,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[HistoryEntry]:
        """One page of a job's decisions, oldest first."""
        return await self._send(_calls.history(job_id, superseded, limit, cursor))

    async def series(
        self, job_id: str, *, limit: int | None = None, cursor: str | None = None
    ) -> Series:
        """A job's curve as columns, the decision in force for each epoch, oldest first (up to
        `limit` epochs; follow `next_cursor` for more): what a plot needs, much smaller than
        the history."""
        return await self._send(_calls.series(job_id, limit, cursor))

    async def series_of(
        self,
        job_ids: Sequence[str],
        *,
        fields: Sequence[str] | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> SeriesOfJobs:
        """Several jobs' curves in one request (`series` of each, by job id): only the columns
        in `fields` (e.g. `["learning_rates", "metrics"]`; all when None), up to `limit` epochs
        in all; follow `next_cursor` (same jobs) for more."""
        return await self._send(_calls.series_of(job_ids, fields, limit, cursor))

    async def history_csv(self, job_id: str, *, superseded: bool = False) -> str:
        """A job's whole history as CSV text."""
        return await self._send(_calls.history_csv(job_id, superseded))

    async def events(
        self, job_id: str, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[AuditEvent]:
        """One page of a job's audit log, oldest first."""
        return await self._send(_calls.events(job_id, limit, cursor))

    async def change(
        self, change_id: str, *, limit: int | None = None, cursor: str | None = None
    ) -> Change:
        """A change's record: who, when, of which job or selector, its body, and one page of
        what it did to each job (`next_cursor` for more). Every audit event names its change."""
        return await self._send(_calls.change(change_id, limit, cursor))

    async def rotate_job_token(self, job_id: str) -> JobToken:
        """A new token for the job (shown once); its old token stops working. Not retried."""
        return await self._send(_calls.rotate_job_token(job_id))

    async def create_token(
        self, name: str, *, role: TokenRole, expires_in: int | None = None
    ) -> TokenCreated:
        """Create an API token (admin); its secret is in the answer only. Not retried."""
        return await self._send(_calls.create_token(name, role, expires_in))

    async def list_tokens(
        self, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[Token]:
        """One page of API tokens by name (admin): roles and times, never secrets."""
        return await self._send(_calls.list_tokens(limit, cursor))

    async def revoke_token(self, name: str) -> None:
        """Revoke an API token (admin): every server refuses it from the next request on."""
        await self._send(_calls.revoke_token(name))

    async def create_webhook(
        self, url: str, *, events: Sequence[WebhookEvent], selector: str | None = None
    ) -> WebhookCreated:
        """Subscribe `url` to `events` of the jobs `selector` selects (admin); the signing
        secret is in the answer only. Not retried."""
        return await self._send(_calls.create_webhook(url, events, selector))

    async def list_webhooks(
        self, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[Webhook]:
        """One page of webhooks by id (admin), never their secrets."""
        return await self._send(_calls.list_webhooks(limit, cursor))

    async def delete_webhook(self, webhook_id: str) -> None:
        """Delete a webhook (admin) with its undelivered messages."""
        await self._send(_calls.delete_webhook(webhook_id))

    async def webhook_deliveries(
        self, webhook_id: str, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[Delivery]:
        """One page of a webhook's messages, oldest first, each with its attempts (admin)."""
        return await self._send(_calls.webhook_deliveries(webhook_id, limit, cursor))

    async def create_rollout(
        self,
        selector: str,
        change: JsonObject,
        *,
        canary: float | int,
        metric: str,
        mode: Literal["min", "max"] = "min",
        epochs: int,
        max_regression: float,
        promote: Literal["auto", "manual"] = "auto",
        revert: Literal["auto", "manual"] = "auto",
        seed: str | None = None,
    ) -> Rollout:
        """Try `change` (a PATCH body) on a canary cohort of the jobs `selector` matches
        (operator): `canary` is a fraction in (0, 1) or, as an int, a count of jobs. The judge
        compares `metric` `epochs` epochs on and promotes or reverts (or waits, when manual).
        Not retried."""
        body: JsonObject = {
            "selector": selector,
            "change": change,
            "canary": {"count": canary} if isinstance(canary, int) else canary,
            "analysis": {
                "metric": metric,
                "mode": mode,
                "epochs": epochs,
                "max_regression": max_regression,
            },
            "promote": promote,
            "revert": revert,
        }
        if seed is not None:
            body["seed"] = seed
        return await self._send(_calls.create_rollout(body))

    async def list_rollouts(
        self, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[Rollout]:
        """One page of rollouts by id."""
        return await self._send(_calls.list_rollouts(limit, cursor))

    async def get_rollout(self, rollout_id: str) -> Rollout:
        """A rollout: its cohorts, state and verdict."""
        return await self._send(_calls.get_rollout(rollout_id))

    async def promote_rollout(self, rollout_id: str) -> Rollout:
        """Apply the rollout's change to its control jobs too (operator)."""
        return await self._send(_calls.act_on_rollout(rollout_id, "promote"))

    async def revert_rollout(self, rollout_id: str) -> Rollout:
        """Restore each canary job's changed fields to their values before the rollout."""
        return await self._send(_calls.act_on_rollout(rollout_id, "revert"))

    async def abort_rollout(self, rollout_id: str) -> Rollout:
        """Stop the rollout's analysis, leaving every job as it is."""
        return await self._send(_calls.act_on_rollout(rollout_id, "abort"))

    async def probe(self, *, timeout: float = 1.0) -> bool:
        """One `GET /readyz` attempt of at most `timeout` seconds, never retried: True when the
        service answers ready. Cheap enough to ask before every request while it is down."""
        try:
            response = await self._http.get("/readyz", timeout=timeout)
        except httpx.TransportError:
            return False
        return response.status_code == 200

    async def health(self) -> Health:
        """Liveness: the process serves."""
        return await self._send(_calls.health())

    async def ready(self) -> Readiness:
        """Readiness: the database is reachable (`ServiceUnavailable` when not)."""
        return await self._send(_calls.ready())
