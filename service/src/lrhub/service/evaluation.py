"""Where an engine evaluation runs: in the server process, or, when it is costly, in a pool of
separate processes (docs/design.md "Where a costly evaluation runs").

The engine is pure Python and holds the GIL while it computes, so a request of seconds of
evaluation in the server process makes every other request of that process wait for the GIL.
Above `LRHUB_PROCESS_EVALUATION_COST` (measured as the limits measure it,
`limits.evaluation_steps`) the evaluation runs in a `ProcessPoolExecutor` of
`LRHUB_EVALUATION_PROCESSES` processes instead, and the calling thread waits without the GIL.
Only the pure engine call moves: its arguments and result are the engine's own picklable values,
and everything around it (reads, the compare-and-set write, retries) stays where it was. Below
the threshold the engine is called directly, with no hop.

The pool starts with the first costly request (a server that never gets one starts no process)
and stops with the app. Its processes come from a forkserver that imports only the engine, never
a fork of the threaded server. A pool whose process died (killed, out of memory) is replaced: a
request that found it broken before handing over its work is sent to a fresh pool, and one whose
work was lost with the process is answered 503, which clients retry.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import ParamSpec, TypeVar

from lrhub.service.errors import Unavailable

DEFAULT_EVALUATION_PROCESSES = 1
# Evaluation steps (limits.evaluation_steps) above which a request is evaluated in the pool:
# about 4 ms of the engine's work on a quiet benchmark machine (4,000 step rates of a built-in
# schedule), where the process hop (0.6 ms: pickling, two pipe transfers, a thread wake-up) is
# already small beside the GIL time it frees. A plateau decision costs 25, so the common path
# never hops.
DEFAULT_PROCESS_EVALUATION_COST = 100_000
# What the forkserver imports once, so that each pool process is a fork of it that imports
# nothing more: the main module (as multiprocessing does by default; a process started from it
# would import it again otherwise) and the engine.
WORKER_PRELOAD = ["__main__", "lrhub.schedules"]

Parameters = ParamSpec("Parameters")
Result = TypeVar("Result")


class Evaluator:
    """Runs engine calls in the server process, or in the process pool when they cost more than
    `threshold` and `processes` > 0."""

    def __init__(self, *, processes: int, threshold: int) -> None:
        self.processes = processes
        self.threshold = threshold
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def isolates(self, cost: int) -> bool:
        """Whether an evaluation of `cost` runs in the pool."""
        return self.processes > 0 and cost > self.threshold

    def run(
        self,
        cost: int,
        function: Callable[Parameters, Result],
        *args: Parameters.args,
        **kwargs: Parameters.kwargs,
    ) -> Result:
        """`function(*args, **kwargs)`, in the pool when `cost` is above the threshold.

        `function` must be importable by name and its arguments and result picklable (the
        engine's functions and values are). Whatever it raises is raised here, as in-process.
        Raises Unavailable when the pool's process died with the work.
        """
        if not self.isolates(cost):
            return function(*args, **kwargs)
        pool = self._current_pool()
        try:
            future = pool.submit(function, *args, **kwargs)
        except BrokenProcessPool:
            # It broke while idle (a process killed between requests): nothing was handed over.
            self._discard(pool)
            pool = self._current_pool()
            future = pool.submit(function, *args, **kwargs)
        try:
            return future.result()
        except BrokenProcessPool as error:
            self._discard(pool)
            raise Unavailable(
                "the process evaluating this request ended before it answered; retry"
            ) from error

    def close(self) -> None:
        """Stop the pool's processes (after the work they have); the next costly request would
        start a new pool."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _current_pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(WORKER_PRELOAD)
                self._pool = ProcessPoolExecutor(self.processes, mp_context=context)
            return self._pool

    def _discard(self, broken: ProcessPoolExecutor) -> None:
        """Forget `broken` (unless another request did already): the next request starts a new
        pool."""
        with self._lock:
            if self._pool is broken:
                self._pool = None
        broken.shutdown(wait=False, cancel_futures=True)


IN_PROCESS = Evaluator(processes=0, threshold=0)
"""Evaluates everything in the calling process (where no pool is at hand)."""
