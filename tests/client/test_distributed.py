"""One lrhub job per distributed job: real torchrun runs, two CPU ranks with gloo on loopback,
against a real `lrhub serve`. DDP with `RemoteScheduler`, Lightning's `ddp` strategy and the
Transformers `Trainer` each train every rank with the same rates, end with the weights of the
same run driven by the framework's own scheduler, and the service sees one decision per
interval, with rank 0's metrics or their mean over ranks; a stop reaches every rank.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lrhub.client import Client
from tests.support.server import ServerProcess, free_port

pytest.importorskip("torch")

from tests.client.distributed_jobs import INTERVALS, STEPS, tiny_model, weights

pytestmark = [pytest.mark.torch, pytest.mark.slow]

REPOSITORY = Path(__file__).resolve().parents[2]
RANKS = 2


def launch(url: str, *program: str) -> subprocess.CompletedProcess[str]:
    """`torchrun` with two ranks on loopback: `program` is a script or `-m module` and its
    arguments, talking to lrhub at `url`."""
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes=1",
        f"--nproc_per_node={RANKS}", "--master_addr=127.0.0.1", f"--master_port={free_port()}",
        *program,
    ]  # fmt: skip
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LRHUB_")}
    environment |= {
        "LRHUB_URL": url, "PYTHONPATH": str(REPOSITORY), "GLOO_SOCKET_IFNAME": "lo",
        "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1",  # a crashed rank's Python stack
    }  # fmt: skip
    return subprocess.run(
        command, cwd=REPOSITORY, env=environment, capture_output=True, text=True, timeout=600
    )


def succeeded(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-8000:]


def torchrun(
    server: ServerProcess, out: Path, kind: str, job: str, *flags: str
) -> list[dict[str, Any]]:
    """Run `distributed_jobs.py KIND` on two ranks; what each rank wrote, rank 0 first."""
    out.mkdir()
    succeeded(
        launch(server.url, "-m", "tests.client.distributed_jobs", kind, str(out), job, *flags)
    )
    return [json.loads((out / f"{rank}.json").read_text()) for rank in range(RANKS)]


def halved_every_second_interval(intervals: int) -> list[float]:
    """The rate of every optimizer step under the tests' spec (StepLR(2, 0.5) from 0.1)."""
    return [0.1 * 0.5 ** ((step // STEPS) // 2) for step in range(intervals * STEPS)]


def assert_one_job(ranks: list[dict[str, Any]], reference: dict[str, Any]) -> None:
    """Every rank trained with the reference's rates and ended with its weights (which
    training moved away from the initial ones)."""
    assert reference["weights"] != weights(tiny_model())
    for rank in ranks:
        assert rank["rates"] == pytest.approx(reference["rates"], rel=1e-12)
        assert rank["weights"] == reference["weights"]
    assert len(set(reference["rates"])) > 1  # the schedule did change the rate


def assert_one_decision_per_interval(client: Client, job: str, intervals: int) -> list[Any]:
    """The service's history, superseded decisions included: each interval decided once."""
    history = client.history(job, superseded=True).items
    assert [entry.epoch for entry in history] == list(range(intervals))
    return history


@pytest.fixture
def client(live_server: ServerProcess) -> Iterator[Client]:
    with Client(live_server.url) as client:
        yield client


def test_ddp_trains_every_rank_with_rank_0s_decisions_as_torchs_steplr(
    live_server: ServerProcess, client: Client, tmp_path: Path
) -> None:
    (reference, reference_1) = torchrun(live_server, tmp_path / "own", "torch-own", "unused")
    assert reference == reference_1  # DDP keeps the ranks equal under torch's own scheduler
    ranks = torchrun(live_server, tmp_path / "lrhub", "torch", "ddp")
    assert_one_job(ranks, reference)
    assert reference["rates"] == pytest.approx(halved_every_second_interval(INTERVALS))
    history = assert_one_decision_per_interval(client, "ddp", INTERVALS)
    # Rank 0's metrics: its `rank` metric is 0, and every interval's came once.
    assert [entry.metrics["rank"] for entry in history if entry.metrics] == [0.0] * INTERVALS
    assert client.get_job("ddp").status == "completed"


def test_a_stop_reaches_every_rank_and_reduce_metrics_reports_the_mean(
    live_server: ServerProcess, client: Client, tmp_path: Path
) -> None:
    ranks = torchrun(live_server, tmp_path / "out", "torch", "stopped", "reduce", "stop-after=3")
    # Rank 0 alone heard the stop from the service: without the broadcast rank 1 would go on
    # into a fourth interval and wait forever in DDP's gradient exchange.
    assert [rank["intervals"] for rank in ranks] == [3, 3]
    assert ranks[0]["rates"] == ranks[1]["rates"] == halved_every_second_interval(3)
    assert ranks[0]["weights"] == ranks[1]["weights"]
    history = assert_one_decision_per_interval(client, "stopped", 4)
    reported = [entry.metrics for entry in history if entry.metrics]
    assert [metrics["rank"] for metrics in reported] == [0.5] * 3  # the mean of ranks 0 and 1
    assert client.get_job("stopped").status == "stopped"


def test_an_accelerate_loop_is_one_job_trained_as_with_torchs_steplr(
    live_server: ServerProcess, client: Client, tmp_path: Path
) -> None:
    reference, _ = torchrun(live_server, tmp_path / "own", "accelerate-own", "unused")
    ranks = torchrun(live_server, tmp_path / "lrhub", "accelerate", "accelerate-ddp")
    assert_one_job(ranks, reference)
    history = assert_one_decision_per_interval(client, "accelerate-ddp", INTERVALS)
    assert [entry.metrics["rank"] for entry in history if entry.metrics] == [0.0] * INTERVALS
    assert client.get_job("accelerate-ddp").status == "completed"


def test_lightning_ddp_is_one_job_trained_as_with_lightnings_scheduler(
    live_server: ServerProcess, client: Client, tmp_path: Path
) -> None:
    reference, _ = torchrun(live_server, tmp_path / "own", "lightning-own", "unused")
    ranks = torchrun(live_server, tmp_path / "lrhub", "lightning", "lightning-ddp", "reduce")
    assert_one_job(ranks, reference)
    history = assert_one_decision_per_interval(client, "lightning-ddp", INTERVALS)
    reported = [entry.metrics for entry in history if entry.metrics]
    assert [metrics["rank"] for metrics in reported] == [0.5] * INTERVALS
    assert client.get_job("lightning-ddp").status == "completed"


def test_the_transformers_trainer_on_two_ranks_is_one_job_trained_as_with_its_scheduler(
    live_server: ServerProcess, client: Client, tmp_path: Path
) -> None:
    reference, _ = torchrun(live_server, tmp_path / "own", "transformers-own", "unused")
    ranks = torchrun(live_server, tmp_path / "lrhub", "transformers", "trainer-ddp")
    assert_one_job(ranks, reference)
    assert reference["rates"] == pytest.approx(halved_every_second_interval(INTERVALS))
    history = assert_one_decision_per_interval(client, "trainer-ddp", INTERVALS)
    assert all(entry.metrics and "eval_loss" in entry.metrics for entry in history[1:])
    assert client.get_job("trainer-ddp").status == "completed"


def test_the_readme_example_runs_under_torchrun_as_one_job(
    live_server: ServerProcess, client: Client, tmp_path: Path
) -> None:
    readme = (REPOSITORY / "README.md").read_text()
    section = readme.split("\n## Distributed training\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the README's Distributed training section has no python example"
    script = tmp_path / "train.py"
    script.write_text(match.group(1))
    # Through tests.client.teardown: torch's gloo can abort the interpreter's teardown after
    # the example's last line, with or without lrhub (its docstring has the measurements).
    succeeded(launch(live_server.url, "-m", "tests.client.teardown", str(script)))
    history = assert_one_decision_per_interval(client, "ddp-run-1", 10)
    assert all(entry.metrics for entry in history)
    assert client.get_job("ddp-run-1").status == "completed"


def test_when_rank_0_raises_every_rank_raises_instead_of_waiting(tmp_path: Path) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens: every request is refused
    out = tmp_path / "out"
    out.mkdir()
    succeeded(
        launch(nobody, "-m", "tests.client.distributed_jobs", "torch", str(out), "down", "raise")
    )
    errors = [json.loads((out / f"{rank}.json").read_text())["error"] for rank in range(RANKS)]
    # Rank 0 raised lrhub's error; rank 1 heard of it through the broadcast and raised too,
    # rather than waiting in the broadcast forever.
    assert errors[0].startswith("ConnectError: cannot connect to lrhub")
    assert errors[1] == f"RuntimeError: rank 0 could not get lrhub's answer: {errors[0]}"
