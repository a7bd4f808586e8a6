"""The Transformers callback through a real `lrhub serve`: a real `Trainer.train` of a tiny BERT
built from a config (no download) on CPU evaluates every few steps; the rate changes right after
each evaluation to the service's decision, and the Trainer's own log history records it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lrhub.client import Client
from tests.support.server import ServerProcess

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("accelerate")

from torch.utils.data import Dataset  # noqa: E402
from transformers import (  # noqa: E402
    BertConfig,
    BertForSequenceClassification,
    Trainer,
    TrainingArguments,
)

from lrhub.client.transformers import RemoteLearningRate  # noqa: E402

pytestmark = [pytest.mark.torch]

EVAL_STEPS = 4
EVALUATIONS = 3
HALVING = {"type": "step_decay", "initial_learning_rate": 0.01, "drop": 0.5, "every": 1}


class Sequences(Dataset[dict[str, Any]]):
    """Seeded random token sequences labelled by the parity of their first token."""

    def __init__(self, size: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.input_ids = torch.randint(1, 50, (size, 8), generator=generator)

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def __getitem__(self, index: int) -> dict[str, Any]:
        ids = self.input_ids[index]
        return {
            "input_ids": ids,
            "attention_mask": torch.ones_like(ids),
            "labels": int(ids[0]) % 2,
        }


def tiny_bert() -> Any:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=16,  # two labels: the default
    )  # fmt: skip
    return BertForSequenceClassification(config)


def train(
    tmp_path: Path,
    callback: RemoteLearningRate,
    extra_callbacks: list[Any] | None = None,
    **overrides: Any,
) -> Any:
    arguments = {
        "output_dir": str(tmp_path / "out"), "use_cpu": True, "report_to": [], "seed": 0,
        "eval_strategy": "steps", "eval_steps": EVAL_STEPS, "logging_steps": 1,
        "max_steps": EVAL_STEPS * EVALUATIONS, "per_device_train_batch_size": 4,
        "per_device_eval_batch_size": 8, "learning_rate": 0.01,
        "lr_scheduler_type": "constant", "save_strategy": "no", "disable_tqdm": True,
        **overrides,
    }  # fmt: skip
    trainer = Trainer(
        model=tiny_bert(),
        args=TrainingArguments(**arguments),
        train_dataset=Sequences(64, seed=1),
        eval_dataset=Sequences(16, seed=2),
        callbacks=[callback, *(extra_callbacks or [])],
    )
    trainer.train()
    return trainer


@pytest.fixture
def client(live_server: ServerProcess) -> Iterator[Client]:
    with Client(live_server.url) as client:
        yield client


def test_the_rate_changes_at_every_evaluation_and_the_trainer_logs_the_services_rate(
    client: Client, tmp_path: Path
) -> None:
    trainer = train(tmp_path, RemoteLearningRate(job="trainer", spec=HALVING, client=client))

    history = client.history("trainer").items
    assert [entry.epoch for entry in history] == list(range(EVALUATIONS))
    log = trainer.state.log_history
    evaluated = [entry["eval_loss"] for entry in log if "eval_loss" in entry]
    assert [entry.metrics["eval_loss"] for entry in history if entry.metrics] == evaluated
    assert all(entry.metrics and "epoch" not in entry.metrics for entry in history)
    # The Trainer's own log of every step's rate: the service's, changing after each evaluation.
    logged = [(entry["step"], entry["learning_rate"]) for entry in log if "learning_rate" in entry]
    assert [step for step, _ in logged] == list(range(1, EVAL_STEPS * EVALUATIONS + 1))
    expected = [history[(step - 1) // EVAL_STEPS].learning_rate for step, _ in logged]
    assert [rate for _, rate in logged] == expected
    assert len(set(expected)) == EVALUATIONS
    assert trainer.optimizer.param_groups[0]["lr"] == history[-1].learning_rate
    assert client.get_job("trainer").status == "completed"


def test_another_scheduler_type_is_overridden_with_a_warning(
    client: Client, tmp_path: Path
) -> None:
    with pytest.warns(RuntimeWarning, match='lr_scheduler_type="constant"'):
        trainer = train(
            tmp_path,
            RemoteLearningRate(job="linear", spec=HALVING, client=client),
            lr_scheduler_type="linear",
        )
    history = client.history("linear").items
    logged = [
        entry["learning_rate"] for entry in trainer.state.log_history if "learning_rate" in entry
    ]
    # The linear decay to zero would end near 0; lrhub's last rate holds instead.
    assert logged[-1] == history[-1].learning_rate == pytest.approx(0.0025)
    assert trainer.optimizer.param_groups[0]["lr"] == history[-1].learning_rate
