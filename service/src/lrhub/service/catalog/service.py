"""Use cases on named schedules; each function is one transaction and returns stored versions."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from lrhub.schedules import Spec
from lrhub.service.auth.principal import Principal
from lrhub.service.catalog import store as catalog_store
from lrhub.service.catalog.model import StoredVersion
from lrhub.service.clock import utc_now
from lrhub.service.errors import NotFound
from lrhub.service.revisions import ExpectedRevision, require_revision
from lrhub.service.storage.database import read_transaction, write_transaction
from lrhub.service.stored_specs import canonical_text, load_spec


def put_schedule(
    engine: Engine,
    principal: Principal,
    name: str,
    spec: Spec,
    description: str,
    expected_revision: ExpectedRevision | None,
) -> tuple[StoredVersion, bool]:
    """Create `name` or add a version when the spec differs from the latest; (version, created).

    A schedule's revision is its latest version number."""
    principal.require_operator()
    try:
        return _put_version(engine, name, spec, description, expected_revision)
    except IntegrityError:
        # A concurrent PUT created the schedule first (the row lock cannot cover a row that did
        # not exist yet); once more, now that the row exists and can be locked.
        return _put_version(engine, name, spec, description, expected_revision)


def _put_version(
    engine: Engine,
    name: str,
    spec: Spec,
    description: str,
    expected_revision: ExpectedRevision | None,
) -> tuple[StoredVersion, bool]:
    with write_transaction(engine) as connection:
        latest = catalog_store.latest_version_number(connection, name, lock=True)
        require_revision(expected_revision, latest, f"schedule {name!r}")
        current = catalog_store.get_version(connection, name, latest) if latest else None
        # Specs compare as parsed values, so a text stored by an older release (`10.0` where
        # this one writes `10`) is still the same spec.
        if current is not None and load_spec(current.spec) == spec:
            return current, False
        version = (latest or 0) + 1
        catalog_store.add_version(
            connection, name, version, canonical_text(spec), description, utc_now()
        )
        stored = catalog_store.get_version(connection, name, version)
    assert stored is not None
    return stored, version == 1


def get_schedule(engine: Engine, name: str, version: int | None) -> StoredVersion:
    """A version of `name` (the latest by default)."""
    with read_transaction(engine) as connection:
        found = catalog_store.get_version(connection, name, version)
    if found is None:
        if version is None:
            raise NotFound(f"there is no schedule {name!r}")
        raise NotFound(f"schedule {name!r} has no version {version}")
    return found


def list_schedules(engine: Engine, after: str | None, limit: int) -> list[StoredVersion]:
    """The latest versions of the schedules named after `after`, by name."""
    with read_transaction(engine) as connection:
        return catalog_store.list_latest(connection, after=after, limit=limit)


def list_versions(engine: Engine, name: str, after: int | None, limit: int) -> list[StoredVersion]:
    """The versions of `name` after version `after`, oldest first."""
    with read_transaction(engine) as connection:
        if catalog_store.latest_version_number(connection, name) is None:
            raise NotFound(f"there is no schedule {name!r}")
        return catalog_store.list_versions(connection, name, after=after, limit=limit)
