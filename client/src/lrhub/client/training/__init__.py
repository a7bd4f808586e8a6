"""`JobRun`: one training job's conversation with lrhub, free of any framework.

The Keras callback (and any other framework adapter) drives it with the job's own epoch numbers:

    run = JobRun("train-42", spec={...})
    run.start()                                    # register (idempotent), check for a conflict
    answer = run.decide(0, {})                     # epoch 0's rate
    for epoch in range(epochs):
        ...train epoch with answer.learning_rate...
        if epoch + 1 < epochs:
            answer = run.decide(epoch + 1, logs)   # epoch `epoch`'s end: its metrics, the next rate
        else:
            run.end_epoch(epoch, logs)             # the last epoch's metrics
    run.finish("completed")

What it adds to a `Client`: the `on_error` modes (hold, compute locally, raise), the outage
buffer replayed in order once the service answers again, a circuit breaker that makes epochs fail
fast during an outage, and the job's lifecycle reports: `failed` too when an exception nobody
catches ends the process between a run's first report and its `finish` (a crash in the middle of
training; a SIGTERM or SIGKILL, such as a preemption, reports nothing: the job goes on when a
successor resumes it). That hook and `RemoteScheduler`'s context manager are the two ways a crash
is reported; docs/design.md ("A crash") says why both exist and why they never report twice.
A `JobRun` can be deep-copied and pickled
(a hyperparameter tuner copies its callbacks): the copy gets a new `Client` with the same
configuration and starts without the original's buffer or breaker state.

The adapters take their job's options as `**options: Unpack[JobOptionKeywords]` (documented
there, once) and make their `JobRun` with `JobRun.for_adapter`; `UsesJobRun` gives them its `job`
and `client`.

One module per concern: `run` (`JobRun`, `UsesJobRun`), `options` (`JobOptionKeywords`,
`JobOptions`), `breaker` (`CircuitBreaker`), `crashes` (the `sys.excepthook` net), `logs`
(what a framework logged, as the service takes it) and `momentum` (`ScheduledMomentum`: the
scheduled momentum or beta1 set in a torch optimizer). The outage buffer is `lrhub.client.outage`
and the local answers `lrhub.client.local_decisions`.
"""

from .breaker import CircuitBreaker
from .logs import ending_status, loss_of, reported_metrics
from .options import JobOptionKeywords, JobOptions, OnConflict, OnError, RunOptionKeywords
from .run import JobRun, UsesJobRun

__all__ = [
    "CircuitBreaker",
    "JobOptionKeywords",
    "JobOptions",
    "JobRun",
    "OnConflict",
    "OnError",
    "RunOptionKeywords",
    "UsesJobRun",
    "ending_status",
    "loss_of",
    "reported_metrics",
]
