"""Use cases of the event stream: where a stream starts, and its next events."""

from __future__ import annotations

from sqlalchemy import Engine

from lrhub.service.auth.principal import Principal
from lrhub.service.errors import InvalidRequest, NotFound
from lrhub.service.jobs import store as job_store
from lrhub.service.jobs.selectors import Selector
from lrhub.service.jobs.store import selector_condition
from lrhub.service.storage.database import read_transaction, write_transaction
from lrhub.service.stream import store as stream_store
from lrhub.service.stream.model import StreamItem


def open_stream(
    engine: Engine,
    principal: Principal,
    job_id: str | None,
    after: int | None,
    *,
    after_field: str = "query.after",
) -> int:
    """The position a stream starts after: `after` (resuming), else the newest one (new
    events only). The whole fleet is for viewers; a job token may follow its own job only, a
    creator the jobs it created. An `after` beyond the newest event is no id this stream
    sent: InvalidRequest on `after_field` (resuming there would silently skip the events up
    to it)."""
    if job_id is None:
        principal.require_viewer()
    else:
        principal.require_job(job_id, change=False)
        with read_transaction(engine) as connection:
            job = job_store.get_job(connection, job_id)
        if job is None:
            raise NotFound(f"there is no job {job_id!r}")
        principal.require_owner(job.creator_token)
    # What committed before this request is not "new": number all of it, then start after it.
    while number_pending(engine) >= stream_store.SEQUENCE_BATCH:
        pass
    with read_transaction(engine) as connection:
        newest = stream_store.head(connection)
    if after is None:
        return newest
    if after > newest:
        raise InvalidRequest.at(after_field, f"{after} is beyond the newest event id ({newest})")
    return after


def number_pending(engine: Engine) -> int:
    """Give positions to the decisions and audit events committed so far (one batch); how
    many it numbered."""
    with read_transaction(engine) as connection:
        if not stream_store.has_unnumbered(connection):
            return 0  # the common case, without taking a write lock
    with write_transaction(engine) as connection:
        return stream_store.number_rows(connection)


def next_events(
    engine: Engine,
    after: int,
    selector: Selector,
    job_id: str | None,
    limit: int,
    max_bytes: int | None = None,
) -> list[StreamItem]:
    """Up to `limit` events after position `after` that `selector` (and `job_id`) select, and
    with `max_bytes` no more than about that much JSON of them (at least one), numbering what
    committed since the last call first. Rollout events are about a fleet, not a job: only the
    stream of every job (no selector, no job) has them."""
    number_pending(engine)
    with read_transaction(engine) as connection:
        return stream_store.read_after(
            connection,
            after,
            where=selector_condition(selector),
            job_id=job_id,
            limit=limit,
            max_bytes=max_bytes,
            fleet=job_id is None and not selector,
        )
