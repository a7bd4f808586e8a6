"""`GET /v1/stream`: decisions, changes and status transitions as Server-Sent Events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from lrhub.service.auth.principal import Principal
from lrhub.service.context import AppContext, Caller, Context
from lrhub.service.errors import InvalidRequest
from lrhub.service.fields import JOB_ID_PATTERN
from lrhub.service.http.routers import v1_router
from lrhub.service.jobs.routes import SelectorQuery
from lrhub.service.jobs.selectors import Selector
from lrhub.service.stream import service as stream_service
from lrhub.service.stream.schemas import server_sent_event
from lrhub.service.stream.slots import StreamSlots

router = v1_router("/v1/stream", "stream")


def _stream_slots(request: Request) -> StreamSlots:
    """This server process's stream slots (`create_app` makes them)."""
    slots: StreamSlots = request.app.state.stream_slots
    return slots


Slots = Annotated[StreamSlots, Depends(_stream_slots)]

MAX_POSITION = 2**63 - 1
# How often an open stream checks that its token still authenticates it.
REVALIDATE_SECONDS = 1.0


def _start_position(after: int | None, last_event_id: str | None) -> int | None:
    """`Last-Event-ID` (what a reconnecting EventSource sends) or else `after`."""
    if last_event_id is None:
        return after
    text = last_event_id.strip()
    # ASCII digits only: str.isdigit admits other scripts' digits and superscripts ("²"),
    # which int() refuses.
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_POSITION:
        raise InvalidRequest.at("header.last-event-id", "must be an event id this stream sent")
    return int(text)


class EventStreamResponse(StreamingResponse):
    """A StreamingResponse that calls `on_close` however it ends, even before its first byte."""

    def __init__(self, body: AsyncIterator[str], on_close: Callable[[], None]) -> None:
        super().__init__(
            body,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.on_close()


async def _events(
    context: AppContext,
    caller: Principal,
    position: int,
    selector: Selector,
    job: str | None,
) -> AsyncIterator[str]:
    settings = context.settings
    quiet_since = time.monotonic()
    checked_at = time.monotonic()
    yield ": lrhub event stream\n\n"  # headers and a first byte at once
    # No disconnect polling here: StreamingResponse itself ends this generator when the client
    # goes (by listening for the disconnect, or by a failing send on ASGI 2.4 servers); a
    # second reader of `receive` would take messages from it.
    while True:
        if time.monotonic() - checked_at >= REVALIDATE_SECONDS:
            # A token revoked, rotated or expired (on any replica) ends its open streams: the
            # database says so, as it does for every new request.
            if not await run_in_threadpool(context.authenticator.still_valid, caller):
                yield ": the token was revoked or has expired\n\n"
                return
            checked_at = time.monotonic()
        items = await run_in_threadpool(
            stream_service.next_events,
            context.engine,
            position,
            selector,
            job,
            settings.stream_batch,
            settings.stream_batch_bytes,
        )
        count = len(items)
        if items:
            text = "".join(server_sent_event(item) for item in items)
            position = items[-1].seq
            # A batch full by count, or cut by size: a backlog, read on without waiting.
            backlog = (
                count == settings.stream_batch or len(text) >= settings.stream_batch_bytes // 2
            )
            del items  # a slow reader holds the batch's text only
            yield text
            del text
            quiet_since = time.monotonic()
            if backlog:
                continue
        elif time.monotonic() - quiet_since >= settings.stream_keepalive_seconds:
            yield ": keep-alive\n\n"
            quiet_since = time.monotonic()
        await asyncio.sleep(settings.stream_poll_seconds)


@router.get(
    "",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "The event stream."}},
)
async def stream(
    context: Context,
    slots: Slots,
    caller: Caller,
    selector: SelectorQuery,
    job: Annotated[
        str | None, Query(pattern=JOB_ID_PATTERN, max_length=253, description="One job only.")
    ] = None,
    after: Annotated[
        int | None,
        Query(ge=0, le=MAX_POSITION, description="Resume after this event id (0: from the start)."),
    ] = None,
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", description="Resume after this event id (wins over after)."),
    ] = None,
) -> StreamingResponse:
    """Every decision, change and status transition from now on (or after an event id), as
    Server-Sent Events: `id:` the event id, `event:` decision, change or status, `data:` the
    history item or audit event with its `job_id`; a keep-alive comment every 15 s of quiet."""
    start = _start_position(after, last_event_id)
    field = "query.after" if last_event_id is None else "header.last-event-id"
    position = await run_in_threadpool(
        partial(stream_service.open_stream, after_field=field), context.engine, caller, job, start
    )
    slots.acquire()
    body = _events(context, caller, position, selector, job)
    return EventStreamResponse(body, on_close=slots.release)
