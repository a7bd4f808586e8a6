"""The judge loop: a background thread per server process that runs the rollouts' judge
(`service.judge_pending`) every LRHUB_ROLLOUT_JUDGE_INTERVAL seconds with its own database
engine. A rollout's state is in the database, so a restart loses nothing: the next round of any
replica picks it up; the row lock taken for each round keeps two replicas off one rollout.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import timedelta

from sqlalchemy import Engine

from lrhub.service.errors import DATABASE_UNAVAILABLE_ERRORS
from lrhub.service.rollouts import service as rollout_service

LOGGER = logging.getLogger("lrhub.rollouts")


class JudgeLoop:
    """Judges rollouts every `interval` seconds until `stop`; `start` runs it in a thread."""

    def __init__(self, engine: Engine, *, interval: float, stale_after: timedelta) -> None:
        self.engine = engine
        self.interval = interval
        self.stale_after = stale_after
        # Named in each rollout it moves: which replica's judge acted.
        self.name = f"judge:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lrhub-rollouts", daemon=True)

    def start(self) -> None:
        """Start judging in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop after the round in progress."""
        self._stopped.set()
        self._thread.join()
        self.engine.dispose()

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                rollout_service.judge_pending(
                    self.engine, stale_after=self.stale_after, judged_by=self.name
                )
            except DATABASE_UNAVAILABLE_ERRORS as error:  # an outage: try again next round
                LOGGER.warning("rollout judge: the database is unavailable: %s", error)
            except Exception:  # a bug: say where, and never let the loop die
                LOGGER.exception("rollout judge could not complete a round")
