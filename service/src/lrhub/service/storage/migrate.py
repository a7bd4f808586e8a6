"""Create or upgrade the schema with the Alembic migrations shipped in this package."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, text

from lrhub.service.storage.database import write_transaction

SCRIPT_LOCATION = "lrhub.service.storage:migrations"
# Any fixed 64-bit key: every lrhub process upgrading one PostgreSQL database takes this lock.
_PG_MIGRATION_LOCK_KEY = 0x6C72687562  # "lrhub"


def alembic_config(connection: Connection) -> Config:
    """An Alembic Config built in code, running on `connection`."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    return config


def upgrade_schema(engine: Engine) -> None:
    """Bring the database to the newest revision; safe when several processes start at once.

    The upgrade runs in one write transaction (DDL is transactional on both databases). Several
    servers starting together queue: on PostgreSQL on an advisory lock, on SQLite on
    `BEGIN IMMEDIATE`; the later ones find the schema current and change nothing.
    """
    with write_transaction(engine) as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK_KEY}
            )
        command.upgrade(alembic_config(connection), "head")
