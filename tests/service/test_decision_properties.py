"""Any mix of new epochs, retries and rewinds answers what the engine gives for the run in force.

The model: the job's effective run is the list of metrics per epoch that are in force (a rewind
truncates it). Every answer must equal the engine's decision at that epoch, replayed from scratch
over the effective run, and a retry must be `replayed` with the same rate.
"""

from __future__ import annotations

import itertools
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lrhub.schedules import decide, parse_spec
from tests.service.helpers import create_job

SPEC = {
    "type": "reduce_on_plateau",
    "monitor": "val_loss",
    "factor": 0.5,
    "patience": 1,
    "cooldown": 1,
    "initial_learning_rate": 0.1,
}
job_numbers = itertools.count()

losses = st.sampled_from([0.3, 0.5, 0.7, 0.9])
operations = st.lists(
    st.one_of(
        st.tuples(st.just("next"), losses),
        st.tuples(st.just("retry"), st.integers(min_value=0, max_value=20)),
        st.tuples(st.just("rewind"), st.integers(min_value=0, max_value=20), losses),
    ),
    min_size=1,
    max_size=14,
)


def engine_answer(run: list[dict[str, float]]) -> tuple[float, dict[str, Any]]:
    """The rate and state of the last epoch of `run`, decided from scratch."""
    spec = parse_spec(SPEC)
    state: dict[str, Any] | None = None
    for epoch, metrics in enumerate(run):
        decision = decide(spec, state, epoch=epoch, metrics=metrics)
        state = decision.state
    assert state is not None
    return decision.learning_rate, state


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=operations)
def test_retries_and_rewinds_match_the_engine(
    api_on: TestClient, ops: list[tuple[Any, ...]]
) -> None:
    job_id = f"prop-{next(job_numbers)}"
    create_job(api_on, job_id, spec=SPEC)
    run: list[dict[str, float]] = []
    for op in ops:
        kind = op[0] if run else "next"
        if kind == "next":
            epoch, metrics, outcome = len(run), {"val_loss": op[-1]}, "new"
        elif kind == "retry":
            epoch = op[1] % len(run)
            metrics, outcome = run[epoch], "replayed"
        else:
            epoch = op[1] % len(run)
            metrics = {"val_loss": op[2]}
            outcome = "replayed" if metrics == run[epoch] else "rewound"
        if outcome != "replayed":
            del run[epoch:]
            run.append(metrics)
        response = api_on.post(f"/v1/jobs/{job_id}/epochs/{epoch}", json={"metrics": metrics})
        assert response.status_code == 200, response.text
        answer = response.json()
        assert (answer["learning_rate"], answer["state"]) == engine_answer(run[: epoch + 1])
        assert answer["replayed"] == (outcome == "replayed")
        if outcome != "replayed":
            assert answer["rewound"] == (outcome == "rewound")
