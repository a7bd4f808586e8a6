"""Database faults for one PostgreSQL database without touching the server's other databases:
cut every connection to it, or refuse new ones for an outage window.

Other tests use the same PostgreSQL server concurrently, so nothing here stops the server:
faults are confined to the test's own (scratch) database.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

BACKEND_EXIT_DEADLINE_SECONDS = 30.0
BACKEND_EXIT_POLL_SECONDS = 0.02


class DatabaseFaults:
    """Fault injection for the database of `database_url`, through the `postgres` maintenance
    database (connections to the target itself are what the faults break)."""

    def __init__(self, database_url: str) -> None:
        url = sa.make_url(database_url)
        assert url.database, f"{database_url!r} names no database"
        self.database = url.database
        self._admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")

    def close(self) -> None:
        """Release the maintenance connection."""
        self._admin.dispose()

    def cut_connections(self) -> int:
        """Terminate every backend serving the database (open transactions abort, idle pooled
        connections die) and wait until they have exited; answers how many were terminated.

        pg_terminate_backend only signals a backend: waiting for it to be gone makes the cut
        complete when this returns, so a request sent afterwards cannot meet a dying one.
        """
        with self._admin.connect() as connection:
            # The call stays in the select list: in WHERE the planner may evaluate it before
            # the datname filter, terminating every backend on the server.
            terminated = connection.execute(
                sa.text(
                    "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :database AND pid <> pg_backend_pid()"
                ),
                {"database": self.database},
            ).all()
            pids = [pid for pid, signalled in terminated if signalled]
            deadline = time.monotonic() + BACKEND_EXIT_DEADLINE_SECONDS
            while connection.execute(
                sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)"),
                {"pids": pids},
            ).scalar_one():
                assert time.monotonic() < deadline, f"backends {pids} still alive"
                time.sleep(BACKEND_EXIT_POLL_SECONDS)  # polling interval, not a race guard
        return len(pids)

    def set_allow_connections(self, allowed: bool) -> None:
        """`ALTER DATABASE ... ALLOW_CONNECTIONS`: whether new connections are accepted."""
        allow = "true" if allowed else "false"
        with self._admin.connect() as connection:
            connection.execute(
                sa.text(f'ALTER DATABASE "{self.database}" ALLOW_CONNECTIONS {allow}')
            )

    @contextmanager
    def outage(self) -> Iterator[int]:
        """The database is unreachable inside the block: new connections are refused and the
        existing ones are cut; afterwards it accepts connections again. Yields how many
        connections were cut."""
        self.set_allow_connections(False)
        try:
            yield self.cut_connections()
        finally:
            self.set_allow_connections(True)
