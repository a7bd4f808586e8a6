"""`lrhub jobs`: training jobs, inspected and steered one by one or by label selector."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any, get_args

import typer
from rich.console import Console

from .. import render
from ..errors import NotFound
from ..models import Cooldown, Job, JobPatch, JobStatus
from ..plot import render_curve
from ._shared import (
    NUMBER_ARGUMENTS,
    AllPages,
    Cursor,
    JsonFlag,
    Limit,
    LogAxis,
    echo_json,
    open_client,
    pages,
    reports_errors,
    say_if_truncated,
    write_png,
)

app = typer.Typer(help="Training jobs: inspect and steer.", no_args_is_help=True)

JobArg = Annotated[str, typer.Argument(help="Job id.")]
SelectorOption = Annotated[
    str,
    typer.Option(
        "--selector",
        "-l",
        help="Kubernetes label selector, e.g. 'team=vision,stage!=prod' or 'status=running'.",
    ),
]

JOB_STATUSES = get_args(JobStatus)
POLL_SECONDS = 0.5  # how often `jobs wait` asks


def _labels(pairs: list[str] | None) -> dict[str, str]:
    labels: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"labels are key=value, not {pair!r}", param_hint="--label")
        labels[key] = value
    return labels


def _show_job(job: Job, as_json: bool) -> None:
    if as_json:
        echo_json(job)
    else:
        render.print_job(Console(), job)


@app.command("list")
@reports_errors
def jobs_list(
    ctx: typer.Context,
    label: Annotated[list[str] | None, typer.Option(help="Filter: key=value (repeatable).")] = None,
    status: Annotated[
        str | None, typer.Option(help="running, stopped, completed or failed.")
    ] = None,
    selector: Annotated[
        str | None, typer.Option("--selector", "-l", help="Kubernetes label selector.")
    ] = None,
    limit: Limit = None,
    cursor: Cursor = None,
    every: AllPages = False,
    as_json: JsonFlag = False,
) -> None:
    """List jobs (`-l 'team=vision,stage!=prod'` selects like kubectl)."""
    if status not in (None, *JOB_STATUSES):
        raise typer.BadParameter(
            "status is running, stopped, completed or failed", param_hint="--status"
        )
    labels = _labels(label)
    with open_client(ctx) as client:
        page = pages(
            lambda at: client.list_jobs(
                labels=labels,
                status=status,  # type: ignore[arg-type]  # checked above
                limit=limit,
                cursor=at,
                selector=selector,
            ),
            cursor,
            every,
        )
    if as_json:
        echo_json(page)
    elif not page.items:
        Console().print(_nothing_matches(selector, labels, status, "no job"))
    else:
        Console().print(render.jobs_table(page.items))
    say_if_truncated(page)


def _nothing_matches(
    selector: str | None, labels: dict[str, str], status: str | None, subject: str
) -> str:
    """`no job matches team=x,status=running` (or `no job yet`, unfiltered)."""
    terms = [selector] if selector else []
    terms += [f"{key}={value}" for key, value in labels.items()]
    terms += [f"status={status}"] if status else []
    return f"{subject} matches {','.join(terms)}" if terms else f"{subject} yet"


@app.command("show")
@reports_errors
def jobs_show(ctx: typer.Context, job: JobArg, as_json: JsonFlag = False) -> None:
    """Show a job's schedule, rate and state."""
    with open_client(ctx) as client:
        _show_job(client.get_job(job), as_json)


@app.command("wait")
@reports_errors
def jobs_wait(
    ctx: typer.Context,
    job: JobArg,
    epoch: Annotated[
        int | None, typer.Option(help="Also wait until this epoch has been decided.")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 120.0,
    as_json: JsonFlag = False,
) -> None:
    """Wait until a job exists (a training process registers it when it starts), then show it."""
    deadline = time.monotonic() + timeout
    waiting = f"job {job}" + (f" to decide epoch {epoch}" if epoch is not None else "")
    typer.echo(f"waiting for {waiting} (up to {timeout:g} s)", err=True)
    with open_client(ctx) as client:
        while True:
            try:
                found: Job | None = client.get_job(job)
            except NotFound:
                found = None
            if found is not None and (
                epoch is None
                or found.status == "stopped"
                or (found.last_epoch is not None and found.last_epoch >= epoch)
            ):
                _show_job(found, as_json)
                return
            if time.monotonic() >= deadline:
                seen = "it does not exist" if found is None else f"last epoch {found.last_epoch}"
                typer.echo(
                    f"error: gave up waiting for {waiting} after {timeout:g} s ({seen})", err=True
                )
                raise typer.Exit(code=1)
            time.sleep(POLL_SECONDS)


@app.command("history")
@reports_errors
def jobs_history(
    ctx: typer.Context,
    job: JobArg,
    superseded: Annotated[bool, typer.Option(help="Include superseded decisions.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print the whole history as CSV.")] = False,
    limit: Limit = None,
    cursor: Cursor = None,
    every: AllPages = False,
    plot: Annotated[
        bool, typer.Option("--plot", help="Draw the rates of every epoch instead of a table.")
    ] = False,
    png: Annotated[Path | None, typer.Option(help="Write a PNG plot (needs matplotlib).")] = None,
    log: LogAxis = False,
    as_json: JsonFlag = False,
) -> None:
    """Show a job's decided epochs, oldest first."""
    with open_client(ctx) as client:
        if as_csv:
            typer.echo(client.history_csv(job, superseded=superseded), nl=False)
            return
        # A plot is of the whole run: every page.
        page = pages(
            lambda at: client.history(job, superseded=superseded, limit=limit, cursor=at),
            cursor,
            every or plot or png is not None,
        )
    rates = [entry.learning_rate for entry in page.items if not entry.superseded]
    if png is not None and rates:
        write_png(png, rates, "epoch", f"{job} history", log)
    if as_json:
        echo_json(page)
    elif plot and rates:
        Console().print(render_curve(rates, log=log))
    elif plot:
        Console().print(f"{job} has no decided epochs yet")
    else:
        Console().print(render.history_table(job, page.items))
    say_if_truncated(page)


@app.command("events")
@reports_errors
def jobs_events(
    ctx: typer.Context,
    job: JobArg,
    limit: Limit = None,
    cursor: Cursor = None,
    every: AllPages = False,
    as_json: JsonFlag = False,
) -> None:
    """Show a job's audit log: who changed what, when."""
    with open_client(ctx) as client:
        page = pages(lambda at: client.events(job, limit=limit, cursor=at), cursor, every)
    if as_json:
        echo_json(page)
    else:
        Console().print(render.events_table(job, page.items))
    say_if_truncated(page)


def _patch(ctx: typer.Context, job: str, changes: JobPatch, as_json: bool) -> None:
    with open_client(ctx) as client:
        _show_job(client.patch_job(job, changes), as_json)


@app.command("switch")
@reports_errors
def jobs_switch(
    ctx: typer.Context,
    job: JobArg,
    schedule: Annotated[str, typer.Argument(help="name or name@3.")],
    clock: Annotated[
        str, typer.Option(help="continue: at the job's epoch; restart: t starts at 0 now.")
    ] = "continue",
    follow: Annotated[
        str | None, typer.Option(help="latest: take new versions; pinned: stay on this one.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Switch a job to another schedule from its next epoch."""
    if clock not in ("continue", "restart"):
        raise typer.BadParameter("clock is continue or restart", param_hint="--clock")
    if follow not in (None, "latest", "pinned"):
        raise typer.BadParameter("follow is latest or pinned", param_hint="--follow")
    # `follow` only when given: otherwise the service derives it from the reference.
    fields = {"schedule": schedule, "clock": clock} | ({"follow": follow} if follow else {})
    _patch(ctx, job, JobPatch.model_validate(fields), as_json)


@app.command("scale", context_settings=NUMBER_ARGUMENTS)
@reports_errors
def jobs_scale(
    ctx: typer.Context,
    job: JobArg,
    factor: Annotated[float, typer.Argument(help="Factor on the schedule's rate.")],
    as_json: JsonFlag = False,
) -> None:
    """Multiply a job's schedule rate by a factor from its next epoch."""
    _patch(ctx, job, JobPatch(scale=factor), as_json)


@app.command("override", context_settings=NUMBER_ARGUMENTS)
@reports_errors
def jobs_override(
    ctx: typer.Context,
    job: JobArg,
    rate: Annotated[float | None, typer.Argument(help="A fixed learning rate.")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the override.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Fix a job's rate (or `--clear` it) from its next epoch."""
    if (rate is None) == (not clear):
        raise typer.BadParameter("give a RATE or --clear, exactly one")
    _patch(ctx, job, JobPatch(override=rate), as_json)


@app.command("pause")
@reports_errors
def jobs_pause(ctx: typer.Context, job: JobArg, as_json: JsonFlag = False) -> None:
    """Hold a job's current rate until resumed."""
    _patch(ctx, job, JobPatch(paused=True), as_json)


@app.command("resume")
@reports_errors
def jobs_resume(ctx: typer.Context, job: JobArg, as_json: JsonFlag = False) -> None:
    """Let a job follow its schedule again: un-pause it, and run it again if it was stopped
    (or had ended)."""
    _patch(ctx, job, JobPatch(paused=False, status="running"), as_json)


@app.command("stop")
@reports_errors
def jobs_stop(ctx: typer.Context, job: JobArg, as_json: JsonFlag = False) -> None:
    """Stop a job: its next answer says stop."""
    _patch(ctx, job, JobPatch(status="stopped"), as_json)


@app.command("rotate-token")
@reports_errors
def jobs_rotate_token(ctx: typer.Context, job: JobArg, as_json: JsonFlag = False) -> None:
    """Give a job a new token (printed once); its old token stops working at once."""
    with open_client(ctx) as client:
        rotated = client.rotate_job_token(job)
    if as_json:
        echo_json(rotated)
    else:
        typer.echo(rotated.token)


@app.command("delete")
@reports_errors
def jobs_delete(
    ctx: typer.Context,
    job: JobArg,
    if_match: Annotated[str | None, typer.Option(help="Expected ETag.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Delete a job that is not running, with its history (its token stops working)."""
    with open_client(ctx) as client:
        client.delete_job(job, if_match=if_match)
    if as_json:
        echo_json({"deleted": job})
    else:
        Console().print(f"deleted {job}")


@app.command("patch")
@reports_errors
def jobs_patch(
    ctx: typer.Context,
    selector: SelectorOption,
    scale: Annotated[float | None, typer.Option(help="Factor on the schedule's rate.")] = None,
    override: Annotated[float | None, typer.Option(help="A fixed learning rate.")] = None,
    clear_override: Annotated[
        bool, typer.Option("--clear-override", help="Remove the override.")
    ] = False,
    pause: Annotated[
        bool | None,
        typer.Option("--pause/--resume", help="Hold the current rate, or stop holding."),
    ] = None,
    stop: Annotated[bool, typer.Option("--stop", help="Stop the jobs for good.")] = False,
    schedule: Annotated[
        str | None, typer.Option(help="Switch to a schedule: name or name@3.")
    ] = None,
    clock: Annotated[
        str | None, typer.Option(help="continue or restart (with --schedule).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show each job's before and after; change nothing.")
    ] = False,
    limit: Annotated[
        int | None, typer.Option(help="Change at most this many matching jobs (in id order).")
    ] = None,
    cursor: Cursor = None,
    as_json: JsonFlag = False,
) -> None:
    """Change every job the selector matches, in one request (each job atomically)."""
    if override is not None and clear_override:
        raise typer.BadParameter("give --override RATE or --clear-override, not both")
    if clock not in (None, "continue", "restart"):
        raise typer.BadParameter("clock is continue or restart", param_hint="--clock")
    fields: dict[str, Any] = {
        "scale": scale,
        "override": override,
        "paused": pause,
        "schedule": schedule,
        "clock": clock,
        "status": "stopped" if stop else None,
    }
    body = {key: value for key, value in fields.items() if value is not None}
    if clear_override:
        body["override"] = None
    if not body:
        raise typer.BadParameter(
            "say what to change: --scale, --override, --clear-override, --pause, --resume, "
            "--stop or --schedule"
        )
    _patch_many(ctx, selector, JobPatch.model_validate(body), dry_run, limit, cursor, as_json)


def _patch_many(
    ctx: typer.Context,
    selector: str,
    changes: JobPatch,
    dry_run: bool,
    limit: int | None,
    cursor: str | None,
    as_json: bool,
) -> None:
    with open_client(ctx) as client:
        change = client.patch_jobs(selector, changes, dry_run=dry_run, limit=limit, cursor=cursor)
    if as_json:
        echo_json(change)
        return
    console = Console()
    if change.matched == 0:
        console.print(
            f"no job matches {selector}: nothing {'would change' if dry_run else 'changed'}"
        )
        return
    console.print(render.bulk_table(change))
    if change.next_cursor:
        console.print(f"more: --cursor {change.next_cursor}")


COOLDOWN_SHAPES = ("linear", "cosine", "1-sqrt")


@app.command("cooldown", context_settings=NUMBER_ARGUMENTS)
@reports_errors
def jobs_cooldown(
    ctx: typer.Context,
    job: Annotated[str | None, typer.Argument(help="Job id (or -l SELECTOR).")] = None,
    selector: Annotated[
        str | None,
        typer.Option("--selector", "-l", help="Every job this label selector matches."),
    ] = None,
    steps: Annotated[int | None, typer.Option(help="Decay over this many steps.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Decay over this many epochs.")] = None,
    shape: Annotated[
        str | None, typer.Option(help="linear, cosine or 1-sqrt (Transformers' WSD decay).")
    ] = None,
    min_lr: Annotated[
        float, typer.Option("--min-lr", help="The rate it decays to, and then holds.")
    ] = 0.0,
    cancel: Annotated[
        bool, typer.Option("--cancel", help="Cancel a cooldown not yet finished.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="With -l: show each job's before and after.")
    ] = False,
    limit: Annotated[
        int | None, typer.Option(help="With -l: change at most this many jobs (in id order).")
    ] = None,
    cursor: Cursor = None,
    as_json: JsonFlag = False,
) -> None:
    """Start a decay from the rate each job would have at its next decision, down to --min-lr
    over --steps or --epochs, then held (or --cancel it)."""
    if (job is None) == (selector is None):
        raise typer.BadParameter("give a JOB or -l SELECTOR, exactly one")
    if cancel:
        if steps is not None or epochs is not None or shape is not None:
            raise typer.BadParameter("--cancel takes no --steps, --epochs or --shape")
        changes = JobPatch(cooldown=None)
    else:
        if (steps is None) == (epochs is None):
            raise typer.BadParameter("give --steps N or --epochs N, exactly one (or --cancel)")
        if shape not in COOLDOWN_SHAPES:
            raise typer.BadParameter(
                f"shape is one of {', '.join(COOLDOWN_SHAPES)}", param_hint="--shape"
            )
        cooldown = Cooldown.model_validate(
            {"steps": steps, "epochs": epochs, "shape": shape, "min_learning_rate": min_lr}
        )
        changes = JobPatch(cooldown=cooldown)
    if job is not None:
        _patch(ctx, job, changes, as_json)
    else:
        assert selector is not None
        _patch_many(ctx, selector, changes, dry_run, limit, cursor, as_json)
