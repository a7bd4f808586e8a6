"""`lrhub rollouts`: a change tried on a canary cohort, judged, then promoted or reverted."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Table

from ..rollout_models import Rollout
from ._shared import Cursor, JsonFlag, Limit, echo_json, open_client, reports_errors

app = typer.Typer(
    help="Rollouts: a change tried on a canary cohort, then promoted or reverted.",
    no_args_is_help=True,
)

RolloutId = Annotated[str, typer.Argument(help="The rollout's id.")]


def _change(text: str) -> dict[str, Any]:
    try:
        change = json.loads(text)
    except json.JSONDecodeError as error:
        raise typer.BadParameter(f"not JSON: {error}", param_hint="--change") from error
    if not isinstance(change, dict):
        raise typer.BadParameter("a JSON object (a PATCH body)", param_hint="--change")
    return change


def _figure(value: float | None) -> str:
    return f"{value:+.4f}" if value is not None else "-"


def _summary(rollout: Rollout) -> Table:
    table = Table(title=f"rollout {rollout.rollout_id}", show_header=False)
    verdict = rollout.verdict
    analysis = rollout.analysis
    for name, value in (
        ("state", rollout.state),
        ("selector", rollout.selector),
        ("change", json.dumps(rollout.change)),
        ("change id", rollout.change_id),
        ("canary", f"{len(rollout.canary)} jobs"),
        ("control", f"{len(rollout.control)} jobs"),
        (
            "analysis",
            f"{analysis.metric} ({analysis.mode}) after {analysis.epochs} epochs, "
            f"max regression {analysis.max_regression}",
        ),
        ("promote / revert", f"{rollout.promote} / {rollout.revert}"),
        ("verdict", verdict.detail if verdict else "waiting for the cohorts' epochs"),
    ):
        table.add_row(name, str(value))
    return table


def _figures(rollout: Rollout) -> Table:
    table = Table(title="cohort jobs")
    for column in ("job", "cohort", "baseline", "value", "relative change", "left out"):
        table.add_column(column, no_wrap=column == "job")
    assert rollout.verdict is not None
    for figure in rollout.verdict.jobs:
        table.add_row(
            figure.job_id,
            figure.cohort,
            f"{figure.baseline:.6g}" if figure.baseline is not None else "-",
            f"{figure.value:.6g}" if figure.value is not None else "-",
            _figure(figure.relative_change),
            figure.left_out or "-",
        )
    return table


def _print(rollout: Rollout, as_json: bool) -> None:
    if as_json:
        echo_json(rollout)
        return
    console = Console()
    console.print(_summary(rollout))
    if rollout.verdict is not None:
        console.print(_figures(rollout))
    else:
        console.print(f"canary: {', '.join(rollout.canary)}")
        console.print(f"control: {', '.join(rollout.control)}")


@app.command("create")
@reports_errors
def rollouts_create(
    ctx: typer.Context,
    selector: Annotated[
        str, typer.Option("--selector", "-l", help="The jobs to roll the change out to.")
    ],
    change: Annotated[
        str, typer.Option(help="The change, a PATCH body as JSON, e.g. '{\"scale\": 0.5}'.")
    ],
    metric: Annotated[str, typer.Option(help="The metric the judge compares, e.g. val_loss.")],
    epochs: Annotated[int, typer.Option(help="Epochs each job reports after its baseline.")],
    canary: Annotated[
        float | None, typer.Option(help="The canary's share of the matched jobs, in (0, 1).")
    ] = None,
    canary_count: Annotated[
        int | None, typer.Option(help="The canary's number of jobs (instead of --canary).")
    ] = None,
    mode: Annotated[str, typer.Option(help="min: lower is better; max: higher is better.")] = "min",
    max_regression: Annotated[
        float, typer.Option(help="How much worse than the control the canary may be (0.02).")
    ] = 0.02,
    promote: Annotated[str, typer.Option(help="auto or manual.")] = "auto",
    revert: Annotated[str, typer.Option(help="auto or manual.")] = "auto",
    seed: Annotated[
        str | None, typer.Option(help="Chooses the canary: same seed, same jobs, same cohort.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Apply a change to a canary cohort now; the judge promotes or reverts it."""
    if (canary is None) == (canary_count is None):
        raise typer.BadParameter("give exactly one of --canary and --canary-count")
    choices: dict[str, tuple[str, ...]] = {
        "--mode": ("min", "max"),
        "--promote": ("auto", "manual"),
        "--revert": ("auto", "manual"),
    }
    for hint, value in (("--mode", mode), ("--promote", promote), ("--revert", revert)):
        if value not in choices[hint]:
            raise typer.BadParameter(f"one of {', '.join(choices[hint])}", param_hint=hint)
    with open_client(ctx) as client:
        rollout = client.create_rollout(
            selector,
            _change(change),
            canary=canary if canary is not None else int(canary_count or 0),
            metric=metric,
            mode=_literal(mode),
            epochs=epochs,
            max_regression=max_regression,
            promote=_mode(promote),
            revert=_mode(revert),
            seed=seed,
        )
    _print(rollout, as_json)


def _literal(mode: str) -> Literal["min", "max"]:
    return "max" if mode == "max" else "min"


def _mode(mode: str) -> Literal["auto", "manual"]:
    return "manual" if mode == "manual" else "auto"


@app.command("list")
@reports_errors
def rollouts_list(
    ctx: typer.Context, limit: Limit = None, cursor: Cursor = None, as_json: JsonFlag = False
) -> None:
    """List rollouts with their state and verdict."""
    with open_client(ctx) as client:
        page = client.list_rollouts(limit=limit, cursor=cursor)
    if as_json:
        echo_json(page)
        return
    table = Table(title="rollouts")
    for column in ("id", "state", "selector", "change", "canary", "control", "verdict"):
        table.add_column(column, no_wrap=column == "id")
    for rollout in page.items:
        verdict = rollout.verdict
        table.add_row(
            rollout.rollout_id,
            rollout.state,
            rollout.selector,
            json.dumps(rollout.change),
            str(len(rollout.canary)),
            str(len(rollout.control)),
            ("passed" if verdict.passed else "failed") if verdict else "-",
        )
    console = Console()
    if page.items:
        console.print(table)
    else:
        console.print("no rollouts")
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}")


@app.command("show")
@reports_errors
def rollouts_show(ctx: typer.Context, rollout_id: RolloutId, as_json: JsonFlag = False) -> None:
    """A rollout: state, verdict and each cohort job's figures."""
    with open_client(ctx) as client:
        _print(client.get_rollout(rollout_id), as_json)


@app.command("promote")
@reports_errors
def rollouts_promote(ctx: typer.Context, rollout_id: RolloutId, as_json: JsonFlag = False) -> None:
    """Apply the change to the control jobs too."""
    with open_client(ctx) as client:
        _print(client.promote_rollout(rollout_id), as_json)


@app.command("revert")
@reports_errors
def rollouts_revert(ctx: typer.Context, rollout_id: RolloutId, as_json: JsonFlag = False) -> None:
    """Restore each canary job's changed fields to their values before the rollout."""
    with open_client(ctx) as client:
        _print(client.revert_rollout(rollout_id), as_json)


@app.command("abort")
@reports_errors
def rollouts_abort(ctx: typer.Context, rollout_id: RolloutId, as_json: JsonFlag = False) -> None:
    """Stop the analysis; every job stays as it is (the canary keeps the change)."""
    with open_client(ctx) as client:
        _print(client.abort_rollout(rollout_id), as_json)
