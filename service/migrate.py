"""Create or upgrade the schema with the Alembic migrations shipped in this package."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, text

# Any fixed 64-bit key: every lrhub process upgrading one PostgreSQL database takes this lock.
_PG_MIGRATION_LOCK_KEY = 0x6C72687562  # "lrhub"


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", "lrhub.service:migrations")
    config.attributes["connection"] = connection
    return config


def upgrade_schema(engine: Engine) -> None:
    """Bring the database to the newest revision; safe when several processes start at once.

    On PostgreSQL an advisory lock serializes concurrent upgrades (two replicas starting
    together); the second one finds the schema current and does nothing.
    """
    with engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection.execute(
                text("SELECT pg_advisory_lock(:key)"), {"key": _PG_MIGRATION_LOCK_KEY}
            )
            connection.commit()
        try:
            command.upgrade(_alembic_config(connection), "head")
            connection.commit()
        finally:
            if postgres:
                connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_MIGRATION_LOCK_KEY}
                )
                connection.commit()
