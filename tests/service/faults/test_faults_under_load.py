"""Hundreds of training jobs against two servers on one PostgreSQL database, through faults.

200 jobs of 12 epochs (plateau schedules with deterministic metrics, stateless ones, a few
resumes from an older checkpoint) are driven by a bounded pool of client threads. Each request
goes to one of two `lrhub serve` processes and is retried on the other one after a connection
error or a 5xx. While they run, triggered by how many decisions have been answered:

1. one server is SIGKILLed and restarted on its port;
2. every connection to the test database is cut (its backends terminated), three times;
3. the database is unreachable for a while (new connections refused, existing ones cut):
   `/readyz` must say 503 on both servers during it and 200 after.

The machine's PostgreSQL is never stopped (other tests use it): faults touch only this test's
scratch database. The run happens once (a module fixture); each test checks one promise of it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.support.db_faults import DatabaseFaults
from tests.support.fault_window import FaultWindow, ServerErrorSeen
from tests.support.postgres import scratch_database
from tests.support.problems import assert_problem
from tests.support.prometheus import decisions_by_outcome
from tests.support.readiness import wait_for_readiness
from tests.support.resilient_requests import post_decision_riding_faults
from tests.support.server import ServerProcess, running_server, start_server
from tests.support.workload import (
    REQUEST_TIMEOUT_SECONDS,
    DecisionCounter,
    JobPlan,
    build_plans,
    create_job,
    decision_essence,
    fetch_history,
    final_decisions,
    run_sequentially,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

JOBS = 200
EPOCHS = 12
CLIENT_THREADS = 16
# The whole load must be answered by then (it takes about 15 s): clients retry until then,
# which covers every fault and bounds a hung run.
LOAD_DEADLINE_SECONDS = 150.0
# How long a fault may take to show (or to heal) before the run is declared stuck.
FAULT_DEADLINE_SECONDS = 60.0
# Fractions of all decision requests answered when each fault is injected; the connections are
# cut several times, so that some cuts land inside transactions and commits.
KILL_AT, CUTS_AT, OUTAGE_AT = 0.15, (0.3, 0.4, 0.5), 0.6
# Retries the clients must have made inside the outage before it ends: proof they met it.
OUTAGE_RETRIES = 3 * CLIENT_THREADS
# A job and a schedule made before the load, so that every operation has something to touch.
PROBE_JOB = "outage-probe"
PROBE_SCHEDULE = "outage-probe"
PROBE_SPEC = {"type": "constant", "learning_rate": 0.01}
# One request of each operation that needs the database: during the outage each must answer
# 503 (the database is unavailable; retry), never 500.
OUTAGE_PROBES: tuple[tuple[str, str, dict[str, Any] | None], ...] = (
    ("GET", f"/v1/jobs/{PROBE_JOB}", None),
    ("GET", "/v1/jobs?limit=5", None),
    ("PUT", f"/v1/jobs/{PROBE_JOB}-2", {"spec": PROBE_SPEC}),
    ("PATCH", f"/v1/jobs/{PROBE_JOB}", {"labels": {"seen": "outage"}}),
    ("GET", f"/v1/jobs/{PROBE_JOB}/events", None),
    ("POST", f"/v1/jobs/{PROBE_JOB}/epochs/0", {"metrics": {}}),
    ("GET", f"/v1/jobs/{PROBE_JOB}/epochs", None),
    ("GET", f"/v1/jobs/{PROBE_JOB}/epochs?format=csv", None),
    ("PUT", f"/v1/schedules/{PROBE_SCHEDULE}", {"spec": {**PROBE_SPEC, "learning_rate": 0.02}}),
    ("GET", "/v1/schedules", None),
    ("GET", f"/v1/schedules/{PROBE_SCHEDULE}", None),
    ("GET", f"/v1/schedules/{PROBE_SCHEDULE}/versions", None),
    ("POST", "/v1/preview", {"schedule": PROBE_SCHEDULE, "epochs": 3}),
    ("DELETE", f"/v1/schedules/{PROBE_SCHEDULE}", None),
)


@dataclass
class LoadRun:
    """What the run under faults produced, for the tests to judge."""

    plans: list[JobPlan]
    urls: tuple[str, str]  # survivor, then the server that was killed
    decisions: dict[str, list[dict[str, Any]]]  # final decision of each epoch, per job
    outcomes_seen: Counter[tuple[str, str]]  # (base URL, outcome) of every 200 answer
    histories: dict[str, list[dict[str, Any]]]
    decisions_counted: dict[str, Counter[str]]  # lrhub_decisions_total per base URL at the end
    readiness_in_outage: list[httpx.Response]
    probes_in_outage: list[tuple[str, str, httpx.Response]]  # method, URL, answer
    probe_targets_after: dict[str, httpx.Response]  # path: answer after the outage
    jobs_in_the_end: dict[str, list[dict[str, Any]]]  # each job as each server reads it
    reference: dict[str, list[dict[str, Any]]]  # final decisions of an undisturbed single server
    connections_cut: dict[str, int]
    errors: list[ServerErrorSeen]
    retries: int
    server_logs: list[str]  # of the survivor, the killed process, the restarted one
    timings: dict[str, float] = field(default_factory=dict)


def outcome_of(answer: dict[str, Any]) -> str:
    """The `lrhub_decisions_total` outcome label the server counted for this answer."""
    if answer["replayed"]:
        return "replayed"
    return "rewound" if answer["rewound"] else "new"


def drive_job(
    urls: tuple[str, str],
    plan: JobPlan,
    first: int,
    window: FaultWindow,
    counter: DecisionCounter,
    retry_until: float,
) -> tuple[list[dict[str, Any]], Counter[tuple[str, str]]]:
    """Send every step of `plan` in order, alternating servers; answers the final decision of
    each epoch and the (server, outcome) of each answer."""
    steps = plan.steps()
    answers = []
    seen: Counter[tuple[str, str]] = Counter()
    with httpx.Client(timeout=REQUEST_TIMEOUT_SECONDS) as client:
        for index, step in enumerate(steps):
            base_url, answer = post_decision_riding_faults(
                client, urls, plan.job_id, step,
                first=first + index, window=window, counter=counter, retry_until=retry_until,
            )  # fmt: skip
            answers.append(answer)
            seen[(base_url, outcome_of(answer))] += 1
    return final_decisions(steps, answers), seen


def wait_for_progress(counter: DecisionCounter, requests: int, fraction: float) -> None:
    """Block until `fraction` of all requests were answered."""
    assert counter.wait_for(int(requests * fraction), timeout=LOAD_DEADLINE_SECONDS), (
        f"only {counter.answered} of {requests} decisions answered"
    )


def probe_every_operation(
    servers: tuple[ServerProcess, ServerProcess],
) -> list[tuple[str, str, httpx.Response]]:
    """Send each of `OUTAGE_PROBES` to each server; answers (method, URL, answer) of each."""
    answers = []
    with httpx.Client(timeout=REQUEST_TIMEOUT_SECONDS) as client:
        for server in servers:
            for method, path, body in OUTAGE_PROBES:
                url = f"{server.url}{path}"
                answers.append((method, url, client.request(method, url, json=body)))
    return answers


@dataclass
class OutageSeen:
    """What the outage showed: connections cut, readiness and the probes' answers."""

    connections_cut: int
    readiness: list[httpx.Response]
    probes: list[tuple[str, str, httpx.Response]]


def inject_outage(
    faults: DatabaseFaults, servers: tuple[ServerProcess, ServerProcess], counter: DecisionCounter
) -> OutageSeen:
    """Make the database unreachable until the clients have retried `OUTAGE_RETRIES` times;
    probe every operation meanwhile. Returns once both servers are ready again."""
    with faults.outage() as cut:
        readiness = [
            wait_for_readiness(server.url, 503, FAULT_DEADLINE_SECONDS) for server in servers
        ]
        probes = probe_every_operation(servers)
        retried = counter.retried
        deadline = time.monotonic() + FAULT_DEADLINE_SECONDS
        while counter.retried < retried + OUTAGE_RETRIES:
            assert time.monotonic() < deadline, "clients stopped retrying during the outage"
            time.sleep(0.05)  # polling interval while clients retry, not a race guard
    for server in servers:
        wait_for_readiness(server.url, 200, FAULT_DEADLINE_SECONDS)
    return OutageSeen(connections_cut=cut, readiness=readiness, probes=probes)


def create_probe_targets(client: httpx.Client, base_url: str) -> None:
    """The job and schedule `OUTAGE_PROBES` touch."""
    for path in (f"/v1/jobs/{PROBE_JOB}", f"/v1/schedules/{PROBE_SCHEDULE}"):
        response = client.put(f"{base_url}{path}", json={"spec": PROBE_SPEC})
        assert response.status_code == 201, response.text


def read_probe_targets(client: httpx.Client, base_url: str) -> dict[str, httpx.Response]:
    """What `OUTAGE_PROBES` could have changed, read after the outage."""
    paths = (
        f"/v1/jobs/{PROBE_JOB}",
        f"/v1/jobs/{PROBE_JOB}-2",
        f"/v1/jobs/{PROBE_JOB}/epochs",
        f"/v1/schedules/{PROBE_SCHEDULE}",
    )
    return {path: client.get(f"{base_url}{path}") for path in paths}


def read_jobs(
    client: httpx.Client, urls: tuple[str, str], plans: list[JobPlan]
) -> dict[str, list[dict[str, Any]]]:
    """Each job as each server reads it."""
    jobs: dict[str, list[dict[str, Any]]] = {}
    for plan in plans:
        answers = [client.get(f"{url}/v1/jobs/{plan.job_id}") for url in urls]
        assert all(answer.status_code == 200 for answer in answers), answers
        jobs[plan.job_id] = [answer.json() for answer in answers]
    return jobs


def run_under_faults(
    tmp_path_factory: pytest.TempPathFactory, database_url: str, plans: list[JobPlan]
) -> LoadRun:
    """Drive `plans` against two fresh servers on `database_url` while injecting the faults."""
    requests = sum(len(plan.steps()) for plan in plans)
    counter = DecisionCounter()
    window = FaultWindow()
    faults = DatabaseFaults(database_url)
    timings: dict[str, float] = {}
    connections_cut: dict[str, int] = {}
    survivor = start_server(tmp_path_factory.mktemp("survivor"), database_url=database_url)
    victim_dir = tmp_path_factory.mktemp("victim")
    victim = start_server(victim_dir, database_url=database_url)
    servers = [survivor]  # every process that ran, for their logs
    try:
        urls = (survivor.url, victim.url)
        with httpx.Client(timeout=REQUEST_TIMEOUT_SECONDS) as client:
            create_probe_targets(client, survivor.url)
            for plan in plans:
                create_job(client, survivor.url, plan)
        started = time.monotonic()
        retry_until = started + LOAD_DEADLINE_SECONDS
        with ThreadPoolExecutor(max_workers=CLIENT_THREADS) as pool:
            running = [
                pool.submit(drive_job, urls, plan, index, window, counter, retry_until)
                for index, plan in enumerate(plans)
            ]
            try:
                wait_for_progress(counter, requests, KILL_AT)
                victim.kill()
                servers.append(victim)
                victim = start_server(victim_dir, database_url=database_url, port=victim.port)
                timings["restart done"] = time.monotonic() - started

                for cut_at in CUTS_AT:
                    wait_for_progress(counter, requests, cut_at)
                    with window.opened():
                        connections_cut[f"cut at {cut_at}"] = faults.cut_connections()
                        for server in (survivor, victim):
                            wait_for_readiness(server.url, 200, FAULT_DEADLINE_SECONDS)
                timings["cuts done"] = time.monotonic() - started

                wait_for_progress(counter, requests, OUTAGE_AT)
                outage_started = time.monotonic()
                with window.opened():
                    outage = inject_outage(faults, (survivor, victim), counter)
                connections_cut["outage"] = outage.connections_cut
                timings["outage"] = time.monotonic() - outage_started
                results = [future.result() for future in running]
            except BaseException:
                pool.shutdown(cancel_futures=True)  # jobs not started yet never start
                raise
        timings["load"] = time.monotonic() - started

        with httpx.Client(timeout=REQUEST_TIMEOUT_SECONDS) as client:
            histories = {
                plan.job_id: fetch_history(client, urls, plan.job_id, superseded="true")
                for plan in plans
            }
            counted = {url: decisions_by_outcome(client, url) for url in urls}
            jobs = read_jobs(client, urls, plans)
            probe_targets = read_probe_targets(client, victim.url)
    finally:
        victim.stop()
        survivor.stop()
        faults.close()
    servers.append(victim)
    with running_server(tmp_path_factory.mktemp("reference")) as undisturbed:
        reference = run_sequentially(undisturbed.url, plans)
    outcomes: Counter[tuple[str, str]] = Counter()
    for _, seen in results:
        outcomes.update(seen)
    return LoadRun(
        plans=plans,
        urls=urls,
        decisions={plan.job_id: result[0] for plan, result in zip(plans, results, strict=True)},
        outcomes_seen=outcomes,
        histories=histories,
        decisions_counted=counted,
        readiness_in_outage=outage.readiness,
        probes_in_outage=outage.probes,
        probe_targets_after=probe_targets,
        jobs_in_the_end=jobs,
        reference=reference,
        connections_cut=connections_cut,
        errors=window.errors,
        retries=counter.retried,
        server_logs=[server.log() for server in servers],
        timings=timings,
    )


@pytest.fixture(scope="module")
def load_run(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[LoadRun]:
    """One run of `JOBS` jobs through every fault, on a scratch database."""
    plans = build_plans("faulty", JOBS, EPOCHS, seed=11)
    with scratch_database(postgres_url, prefix="lrhub_faults") as database_url:
        run = run_under_faults(tmp_path_factory, database_url, plans)
    print(f"\nfaults under load: {run.timings}, retries {run.retries}, cut {run.connections_cut}")
    print(f"5xx seen: {Counter((e.status, e.in_fault_window) for e in run.errors)}")
    yield run


def test_the_faults_really_happened(load_run: LoadRun) -> None:
    # Connections were open to be cut, and clients had to retry: the faults met the load.
    assert all(cut > 0 for cut in load_run.connections_cut.values()), load_run.connections_cut
    assert load_run.retries >= OUTAGE_RETRIES
    assert any(error.status == 503 and error.in_fault_window for error in load_run.errors)


def test_every_job_ends_with_the_rates_of_an_undisturbed_run(load_run: LoadRun) -> None:
    for plan in load_run.plans:
        decisions = load_run.decisions[plan.job_id]
        rates = [decision["learning_rate"] for decision in decisions]
        assert rates == plan.expected_rates(), plan.job_id
        # Reasons, stops and engine state too: what one undisturbed server answered.
        reference = load_run.reference[plan.job_id]
        assert [decision_essence(d) for d in decisions] == [
            decision_essence(d) for d in reference
        ], plan.job_id
        assert [d["state"] for d in decisions] == [d["state"] for d in reference], plan.job_id
        for job in load_run.jobs_in_the_end[plan.job_id]:
            assert job["last_epoch"] == plan.epochs - 1, job
            assert job["learning_rate"] == rates[-1], job
            assert job["state"] == decisions[-1]["state"], job


def test_no_decision_is_lost_or_applied_twice(load_run: LoadRun) -> None:
    for plan in load_run.plans:
        rows = load_run.histories[plan.job_id]
        decisions = load_run.decisions[plan.job_id]
        current = sorted((row for row in rows if not row["superseded"]), key=lambda r: r["epoch"])
        # Exactly one row in force per epoch, with the rate the client was answered.
        assert [row["epoch"] for row in current] == list(range(plan.epochs)), plan.job_id
        for row, decision in zip(current, decisions, strict=True):
            assert row["learning_rate"] == decision["learning_rate"], (plan.job_id, row)
            assert row["input_metrics"] == plan.metrics[row["epoch"]], (plan.job_id, row)
        # Superseded rows only for the epochs a resume abandoned: a retried request that was
        # decided twice would leave one more.
        superseded = sorted(
            (row["epoch"], row["input_metrics"]) for row in rows if row["superseded"]
        )
        abandoned = [(plan.resume_epoch + i, m) for i, m in enumerate(plan.abandoned)]
        assert superseded == abandoned, plan.job_id


def test_decision_counters_match_the_answers_clients_got(load_run: LoadRun) -> None:
    survivor, restarted = load_run.urls
    seen = load_run.outcomes_seen
    # The survivor counted exactly the answers its clients received: a decision whose
    # transaction failed with the database is not counted, its retry is a replay.
    assert load_run.decisions_counted[survivor] == Counter(
        {outcome: count for (url, outcome), count in seen.items() if url == survivor}
    )
    # The restarted process counts only since its restart: at most what its port answered.
    for outcome, count in load_run.decisions_counted[restarted].items():
        assert count <= seen[(restarted, outcome)], outcome
    # Every decision made once: fresh (non-replayed) answers are at most one per request.
    requests = sum(len(plan.steps()) for plan in load_run.plans)
    fresh = sum(count for (_, outcome), count in seen.items() if outcome != "replayed")
    assert fresh <= requests


def assert_unavailable(response: httpx.Response) -> None:
    """A 503 problem saying the database is unavailable, without leaked internals."""
    assert_problem(
        response.status_code,
        response.headers.get("content-type"),
        response.content,
        expected_status=503,
        detail_words=["database"],
    )


def test_readiness_reports_the_outage(load_run: LoadRun) -> None:
    for response in load_run.readiness_in_outage:
        assert_unavailable(response)


def test_every_operation_answers_503_during_the_outage(load_run: LoadRun) -> None:
    wrong = [
        (method, url, response.status_code, response.text)
        for method, url, response in load_run.probes_in_outage
        if response.status_code != 503
    ]
    assert wrong == []
    for _, _, response in load_run.probes_in_outage:
        assert_unavailable(response)


def test_requests_refused_in_the_outage_changed_nothing(load_run: LoadRun) -> None:
    after = load_run.probe_targets_after
    job = after[f"/v1/jobs/{PROBE_JOB}"].json()
    assert (job["labels"], job["last_epoch"]) == ({}, None), job
    assert after[f"/v1/jobs/{PROBE_JOB}-2"].status_code == 404
    assert after[f"/v1/jobs/{PROBE_JOB}/epochs"].json()["items"] == []
    schedule = after[f"/v1/schedules/{PROBE_SCHEDULE}"].json()
    assert (schedule["versions"], schedule["spec"]["learning_rate"]) == (1, 0.01), schedule


def test_no_server_error_outside_the_fault_windows(load_run: LoadRun) -> None:
    outside = [error for error in load_run.errors if not error.in_fault_window]
    assert outside == []


def test_servers_log_no_unhandled_error(load_run: LoadRun) -> None:
    # Database failures are expected and logged as warnings; a traceback means one escaped.
    for log in load_run.server_logs:
        assert "Traceback" not in log, log[-5000:]
        assert "unhandled error" not in log, log[-5000:]


def test_database_faults_answer_503_not_500(load_run: LoadRun) -> None:
    """Inside a fault window the only right 5xx is 503 (the database is unavailable; retry)."""
    wrong = [error for error in load_run.errors if error.in_fault_window and error.status != 503]
    assert wrong == []
