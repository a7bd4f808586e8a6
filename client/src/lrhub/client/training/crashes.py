"""Crash reports: an exception nobody catches ends the process, and the runs it leaves
unfinished are reported `failed` first.

The net under every adapter, beside `RemoteScheduler.__exit__`; docs/design.md ("A crash") says
why both exist and why they never report twice. A SIGTERM or SIGKILL (a preemption) reports
nothing: the job goes on when a successor resumes it.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal, Protocol


class Unfinished(Protocol):
    """A run that can still be reported finished (a `JobRun`); named here, not imported, so
    that crash reports stand below the run that uses them."""

    def finish(self, status: Literal["completed", "failed"]) -> None: ...


# The runs that reported an epoch and have not finished: what a crash leaves unfinished.
_training: weakref.WeakSet[Unfinished] = weakref.WeakSet()


def track(run: Unfinished) -> None:
    """Count `run` as training; the first time, put `_report_crash` in front of sys.excepthook
    (chained: a hook installed before, such as an error reporter's, still runs). `forget` takes
    the run out again when it finishes, so a run reported failed elsewhere is not reported twice
    (docs/design.md, "A crash")."""
    global _previous_excepthook
    if _previous_excepthook is None:
        _previous_excepthook = sys.excepthook
        sys.excepthook = _report_crash
    _training.add(run)


def forget(run: Unfinished) -> None:
    """`run` finished: a crash after this has nothing of it to report."""
    _training.discard(run)


def _report_crash(
    kind: type[BaseException], error: BaseException, traceback: TracebackType | None
) -> None:
    """`sys.excepthook`: an uncaught exception ends the process; report its runs failed first."""
    for run in list(_training):
        run.finish("failed")
    assert _previous_excepthook is not None
    _previous_excepthook(kind, error, traceback)


_previous_excepthook: (
    Callable[[type[BaseException], BaseException, TracebackType | None], Any] | None
) = None
