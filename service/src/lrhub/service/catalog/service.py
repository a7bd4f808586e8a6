"""Use cases on named schedules; each function is one transaction."""

from __future__ import annotations

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from lrhub.schedules import Spec
from lrhub.service.auth.tokens import Principal
from lrhub.service.catalog import store as schedule_store
from lrhub.service.catalog.store import StoredVersion
from lrhub.service.clock import as_utc, utc_now
from lrhub.service.errors import Conflict, NotFound
from lrhub.service.http.etags import check_if_match, schedule_etag
from lrhub.service.http.paging import decode_cursor, decode_int_cursor, encode_cursor
from lrhub.service.http.schemas import Page, ScheduleOut
from lrhub.service.jobs import store as job_store
from lrhub.service.storage.database import read_transaction, write_transaction
from lrhub.service.storage.specs import canonical_text, spec_document


def schedule_view(version: StoredVersion) -> ScheduleOut:
    """The answer for one stored version."""
    return ScheduleOut(
        name=version.name,
        version=version.version,
        spec=spec_document(version.spec),
        description=version.description,
        created_at=as_utc(version.created_at),
        versions=version.versions,
    )


def etag_of(schedule: ScheduleOut) -> str:
    """The ETag of a schedule answer."""
    return schedule_etag(schedule.name, schedule.version)


def parse_reference(reference: str) -> tuple[str, int | None]:
    """`"name"` → (name, None); `"name@3"` → (name, 3). The pattern was validated already."""
    name, _, version = reference.partition("@")
    return name, int(version) if version else None


def resolve_reference(connection: Connection, reference: str, loc: str) -> StoredVersion:
    """The schedule version `reference` names; 404 naming the field `loc` if there is none."""
    name, version = parse_reference(reference)
    found = schedule_store.get_version(connection, name, version)
    if found is None:
        what = f"version {version} of schedule {name!r}" if version else f"schedule {name!r}"
        raise NotFound(f"{loc}: there is no {what}")
    return found


def put_schedule(
    engine: Engine,
    principal: Principal,
    name: str,
    spec: Spec,
    description: str,
    if_match: str | None,
) -> tuple[ScheduleOut, bool]:
    """Create `name` or add a version when the spec differs from the latest; (answer, created)."""
    principal.require_admin()
    text = canonical_text(spec)
    try:
        return _put_version(engine, name, text, description, if_match)
    except IntegrityError:
        # A concurrent PUT created the schedule first (the row lock cannot cover a row that did
        # not exist yet); once more, now that the row exists and can be locked.
        return _put_version(engine, name, text, description, if_match)


def _put_version(
    engine: Engine, name: str, text: str, description: str, if_match: str | None
) -> tuple[ScheduleOut, bool]:
    with write_transaction(engine) as connection:
        latest = schedule_store.latest_version_number(connection, name, lock=True)
        check_if_match(if_match, schedule_etag(name, latest) if latest else None)
        current = schedule_store.get_version(connection, name, latest) if latest else None
        if current is not None and current.spec == text:
            return schedule_view(current), False
        version = (latest or 0) + 1
        schedule_store.add_version(connection, name, version, text, description, utc_now())
        stored = schedule_store.get_version(connection, name, version)
    assert stored is not None
    return schedule_view(stored), version == 1


def get_schedule(engine: Engine, name: str, version: int | None) -> ScheduleOut:
    """A version of `name` (the latest by default)."""
    with read_transaction(engine) as connection:
        found = schedule_store.get_version(connection, name, version)
    if found is None:
        if version is None:
            raise NotFound(f"there is no schedule {name!r}")
        raise NotFound(f"query.version: schedule {name!r} has no version {version}")
    return schedule_view(found)


def list_schedules(engine: Engine, cursor: str | None, limit: int) -> Page[ScheduleOut]:
    """A page of schedules (their latest versions) by name."""
    with read_transaction(engine) as connection:
        rows = schedule_store.list_latest(connection, after=decode_cursor(cursor), limit=limit)
    next_cursor = encode_cursor(rows[-1].name) if len(rows) == limit else None
    return Page[ScheduleOut](items=[schedule_view(row) for row in rows], next_cursor=next_cursor)


def list_versions(engine: Engine, name: str, cursor: str | None, limit: int) -> Page[ScheduleOut]:
    """A page of every version of `name`, oldest first."""
    after = decode_int_cursor(cursor)
    with read_transaction(engine) as connection:
        if schedule_store.latest_version_number(connection, name) is None:
            raise NotFound(f"there is no schedule {name!r}")
        rows = schedule_store.list_versions(connection, name, after=after, limit=limit)
    next_cursor = encode_cursor(rows[-1].version) if len(rows) == limit else None
    return Page[ScheduleOut](items=[schedule_view(row) for row in rows], next_cursor=next_cursor)


def delete_schedule(engine: Engine, principal: Principal, name: str, if_match: str | None) -> None:
    """Remove `name` and its versions; 409 while a job that is not stopped uses it."""
    principal.require_admin()
    with write_transaction(engine) as connection:
        latest = schedule_store.latest_version_number(connection, name, lock=True)
        if latest is None:
            raise NotFound(f"there is no schedule {name!r}")
        check_if_match(if_match, schedule_etag(name, latest))
        in_use = job_store.count_active_jobs_using(connection, name)
        if in_use:
            raise Conflict(
                f"schedule {name!r} is used by {in_use} job(s) that are not stopped; "
                "switch or stop them first"
            )
        schedule_store.delete_schedule(connection, name)
