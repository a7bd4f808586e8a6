"""Alembic environment: runs on the connection `lrhub.service.storage.migrate` hands over, or, when
Alembic runs by hand with `alembic.ini`, on LRHUB_DATABASE_URL."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection

from lrhub.service.storage.database import DEFAULT_DATABASE_URL, make_engine, write_transaction
from lrhub.service.storage.tables import metadata


def run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


handed_over = context.config.attributes.get("connection")
if handed_over is not None:
    run_migrations(handed_over)
else:
    # By hand: the variable the server reads (storage stands below the settings).
    engine = make_engine(os.environ.get("LRHUB_DATABASE_URL", DEFAULT_DATABASE_URL))
    try:
        with write_transaction(engine) as connection:
            run_migrations(connection)
    finally:
        engine.dispose()
