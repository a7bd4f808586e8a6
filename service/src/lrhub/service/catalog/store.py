"""Storage of named schedules and their immutable versions, and what a schedule reference
(`"name"` or `"name@3"`) names."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, RowMapping, delete, insert, select, update

from lrhub.service.catalog.model import StoredVersion
from lrhub.service.errors import NotFound
from lrhub.service.storage.tables import schedule_versions, schedules

_VERSION_COLUMNS = (
    schedule_versions.c.name,
    schedule_versions.c.version,
    schedule_versions.c.spec,
    schedule_versions.c.description,
    schedule_versions.c.created_at,
    schedules.c.latest_version.label("versions"),
)
_JOINED = schedule_versions.join(schedules, schedules.c.name == schedule_versions.c.name)


def _version(row: RowMapping) -> StoredVersion:
    return StoredVersion(**row)


def parse_reference(reference: str) -> tuple[str, int | None]:
    """`"name"` → (name, None); `"name@3"` → (name, 3). The pattern was validated already."""
    name, _, version = reference.partition("@")
    return name, int(version) if version else None


def resolve_reference(
    connection: Connection, reference: str, *, share_lock: bool = False
) -> StoredVersion:
    """The schedule version `reference` (a job's or a preview's `schedule`) names; NotFound
    if there is none. `share_lock` (for a job about to use it) holds the schedule's row until
    commit, so a concurrent delete waits for the job, or the job finds the schedule gone."""
    name, version = parse_reference(reference)
    found = get_version(connection, name, version, share_lock=share_lock)
    if found is None:
        what = f"version {version} of schedule {name!r}" if version else f"schedule {name!r}"
        raise NotFound(f"there is no {what}", field="schedule")
    return found


def latest_version_number(connection: Connection, name: str, *, lock: bool = False) -> int | None:
    """The newest version number of `name`, optionally row-locked; None if it does not exist."""
    query = select(schedules.c.latest_version).where(schedules.c.name == name)
    if lock:
        query = query.with_for_update()
    value = connection.execute(query).scalar_one_or_none()
    return int(value) if value is not None else None


def latest_version_numbers(connection: Connection, names: set[str]) -> dict[str, int]:
    """The newest version number of each of `names` that exists."""
    if not names:
        return {}
    query = select(schedules.c.name, schedules.c.latest_version).where(
        schedules.c.name.in_(sorted(names))
    )
    return {row.name: int(row.latest_version) for row in connection.execute(query)}


def get_version(
    connection: Connection, name: str, version: int | None, *, share_lock: bool = False
) -> StoredVersion | None:
    """Version `version` of `name` (the latest when None), optionally share-locking the
    schedule's row (PostgreSQL; SQLite's write transactions are serialized anyway)."""
    wanted = schedules.c.latest_version if version is None else version
    query = (
        select(*_VERSION_COLUMNS)
        .select_from(_JOINED)
        .where(schedule_versions.c.name == name, schedule_versions.c.version == wanted)
    )
    if share_lock:
        query = query.with_for_update(read=True, of=schedules)
    row = connection.execute(query).mappings().first()
    return _version(row) if row else None


def add_version(
    connection: Connection, name: str, version: int, spec: str, description: str, now: datetime
) -> None:
    """Store a new version and make it the latest (creating the schedule for version 1)."""
    if version == 1:
        connection.execute(insert(schedules).values(name=name, latest_version=1, created_at=now))
    else:
        connection.execute(
            update(schedules).where(schedules.c.name == name).values(latest_version=version)
        )
    connection.execute(
        insert(schedule_versions).values(
            name=name, version=version, spec=spec, description=description, created_at=now
        )
    )


def list_latest(connection: Connection, *, after: str | None, limit: int) -> list[StoredVersion]:
    """The latest version of each schedule, by name, after the name `after`."""
    query = (
        select(*_VERSION_COLUMNS)
        .select_from(_JOINED)
        .where(schedule_versions.c.version == schedules.c.latest_version)
    )
    if after is not None:
        query = query.where(schedules.c.name > after)
    rows = connection.execute(query.order_by(schedules.c.name).limit(limit)).mappings()
    return [_version(row) for row in rows]


def list_versions(
    connection: Connection, name: str, *, after: int | None, limit: int
) -> list[StoredVersion]:
    """Every version of `name`, oldest first, after version `after`."""
    query = select(*_VERSION_COLUMNS).select_from(_JOINED).where(schedule_versions.c.name == name)
    if after is not None:
        query = query.where(schedule_versions.c.version > after)
    rows = connection.execute(query.order_by(schedule_versions.c.version).limit(limit)).mappings()
    return [_version(row) for row in rows]


def delete_schedule(connection: Connection, name: str) -> None:
    """Remove a schedule and all its versions."""
    connection.execute(delete(schedule_versions).where(schedule_versions.c.name == name))
    connection.execute(delete(schedules).where(schedules.c.name == name))
