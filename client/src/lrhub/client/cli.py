"""The `lrhub` command: run the server, manage schedules, inspect and steer jobs.

Human output (rich tables) by default, `--json` for scripts. `--url` and `--token` default to
`LRHUB_URL` and `LRHUB_TOKEN`.
"""

from __future__ import annotations

import csv
import functools
import importlib.util
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar, get_args

import typer
from pydantic import BaseModel
from rich.console import Console

from . import render
from ._sync import Client
from .errors import LrhubError, NotFound, ProblemError, TransportError
from .models import Job, JobPatch, JobStatus, JsonObject, Page, PreviewResult, TokenRole
from .plot import render_curve

P = ParamSpec("P")
R = TypeVar("R")
ItemT = TypeVar("ItemT")

app = typer.Typer(
    help="lrhub: learning-rate schedules and training jobs over HTTP.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
schedules_app = typer.Typer(help="Named, versioned schedules.", no_args_is_help=True)
jobs_app = typer.Typer(help="Training jobs: inspect and steer.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens with roles (admin).", no_args_is_help=True)
app.add_typer(schedules_app, name="schedules")
app.add_typer(jobs_app, name="jobs")
app.add_typer(tokens_app, name="tokens")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
Limit = Annotated[int | None, typer.Option(help="Page size (1..1000).")]
Cursor = Annotated[str | None, typer.Option(help="Cursor of the page to show.")]
AllPages = Annotated[bool, typer.Option("--all", help="Every page, not just the first.")]
LogAxis = Annotated[bool, typer.Option("--log", help="Log scale for the rate axis.")]
# A number argument may be negative (`lrhub jobs scale j -0.5` gets the service's answer), so
# tokens like `-0.5` must not be read as unknown options.
NUMBER_ARGUMENTS = {"ignore_unknown_options": True}
JobArg = Annotated[str, typer.Argument(help="Job id.")]
SpecOption = Annotated[str | None, typer.Option("--spec", help="The spec as JSON text.")]
FileOption = Annotated[
    Path | None, typer.Option("--file", exists=True, dir_okay=False, help="A JSON spec file.")
]

JOB_STATUSES = get_args(JobStatus)
SERVER_MODULES = ("lrhub.service", "fastapi", "uvicorn", "sqlalchemy", "alembic")
POLL_SECONDS = 0.5  # how often `jobs wait` asks


@app.callback()
def main_options(
    ctx: typer.Context,
    url: Annotated[str | None, typer.Option(help="Service URL (default: LRHUB_URL).")] = None,
    token: Annotated[str | None, typer.Option(help="Bearer token (default: LRHUB_TOKEN).")] = None,
) -> None:
    """lrhub: learning-rate schedules and training jobs over HTTP."""
    ctx.obj = {"url": url, "token": token}


def _reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn service errors into a message on stderr and exit status 1."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except LrhubError as error:
            typer.echo(_error_text(error), err=True)
            raise typer.Exit(code=1) from error

    return run


def _error_text(error: LrhubError) -> str:
    """What the CLI prints for `error`: each fact once (the detail repeats the field errors)."""
    if not isinstance(error, ProblemError) or not error.errors:
        return f"error: {error}"
    lines = [f"error: {error.status} {error.title}"]
    lines += [f"  {item.get('loc')}: {item.get('msg')}" for item in error.errors]
    return "\n".join(lines)


@contextmanager
def _client(ctx: typer.Context) -> Iterator[Client]:
    options = ctx.find_root().obj or {}
    try:
        client = Client(options.get("url"), token=options.get("token"))
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--url") from error
    with client:
        yield client


def _pages(
    fetch: Callable[[str | None], Page[ItemT]], cursor: str | None, every: bool
) -> Page[ItemT]:
    """The page at `cursor`, or with `every` all pages from there joined into one."""
    page = fetch(cursor)
    if not every:
        return page
    items = list(page.items)
    while page.next_cursor:
        page = fetch(page.next_cursor)
        items.extend(page.items)
    return page.model_copy(update={"items": items, "next_cursor": None})


def _say_if_truncated(page: Page[Any]) -> None:
    """On stderr, so `--json` output stays one document: there is more than was shown."""
    if page.next_cursor:
        typer.echo(
            f"showing the first {len(page.items)}; more with --cursor {page.next_cursor}, "
            "or --all for every page",
            err=True,
        )


def _echo_json(data: Any) -> None:
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    typer.echo(json.dumps(data, indent=2))


def _spec(spec: str | None, file: Path | None) -> JsonObject | None:
    """The spec given as `--spec` text or `--file`, parsed to a JSON object."""
    if spec is not None and file is not None:
        raise typer.BadParameter("give --spec or --file, not both")
    text = spec if spec is not None else file.read_text() if file is not None else None
    if text is None:
        return None
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        raise typer.BadParameter(f"the spec is not valid JSON: {error}") from error
    if not isinstance(parsed, dict):
        raise typer.BadParameter("the spec must be a JSON object with a 'type'")
    return parsed


def _metrics(text: str | None) -> list[dict[str, float]] | None:
    """`--metrics` as JSON text or `@file`: a list of per-epoch metric objects."""
    if text is None:
        return None
    if text.startswith("@"):
        path = Path(text[1:])
        if not path.is_file():
            raise typer.BadParameter(f"no such file: {path}", param_hint="--metrics")
        text = path.read_text()
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        raise typer.BadParameter(f"not valid JSON: {error}", param_hint="--metrics") from error
    if not isinstance(parsed, list) or not all(isinstance(item, dict) for item in parsed):
        raise typer.BadParameter(
            "a JSON list of objects, one per epoch: '[{\"val_loss\": 0.9}, ...]'",
            param_hint="--metrics",
        )
    return parsed


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def serve(ctx: typer.Context) -> None:
    """Run the server: `lrhub serve [--host 127.0.0.1] [--port 8000] [--workers N]`.

    Replaces this process with `python -m lrhub.service serve` and the same arguments; the
    database is LRHUB_DATABASE_URL (default: an SQLite file in the working directory).
    """
    missing = [name for name in SERVER_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        typer.echo(
            f"error: the server is not installed (missing {', '.join(missing)}); "
            "install it with: pip install lrhub-server",
            err=True,
        )
        raise typer.Exit(code=1)
    command = [sys.executable, "-m", "lrhub.service", "serve", *ctx.args]
    os.execv(sys.executable, command)


# -- schedules ----------------------------------------------------------------------------------


@schedules_app.command("put")
@_reports_errors
def schedules_put(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Schedule name.")],
    spec: SpecOption = None,
    file: FileOption = None,
    description: Annotated[str | None, typer.Option(help="Free text.")] = None,
    if_match: Annotated[str | None, typer.Option(help="Expected ETag, e.g. '\"drop@2\"'.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create or update a schedule; a changed spec makes a new version."""
    parsed = _spec(spec, file)
    if parsed is None:
        raise typer.BadParameter("give the spec with --spec '{...}' or --file spec.json")
    with _client(ctx) as client:
        try:
            before: int | None = client.get_schedule(name).version
        except NotFound:
            before = None
        schedule = client.put_schedule(name, parsed, description=description, if_match=if_match)
    if as_json:
        _echo_json(schedule)
        return
    console = Console()
    # The service answers an unchanged spec with the version it already had.
    if schedule.version == before:
        console.print(f"unchanged: {name} version {schedule.version} already has this spec")
    else:
        console.print(f"{'created' if before is None else 'new version of'} {name}")
    render.print_schedule(console, schedule)


@schedules_app.command("list")
@_reports_errors
def schedules_list(
    ctx: typer.Context,
    limit: Limit = None,
    cursor: Cursor = None,
    every: AllPages = False,
    as_json: JsonFlag = False,
) -> None:
    """List schedules (latest versions)."""
    with _client(ctx) as client:
        page = _pages(lambda at: client.list_schedules(limit=limit, cursor=at), cursor, every)
    if as_json:
        _echo_json(page)
    else:
        Console().print(render.schedules_table(page.items, "schedules"))
    _say_if_truncated(page)


@schedules_app.command("show")
@_reports_errors
def schedules_show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Schedule name.")],
    version: Annotated[int | None, typer.Option(help="Version (default latest).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Show a schedule version and its spec."""
    with _client(ctx) as client:
        schedule = client.get_schedule(name, version=version)
    if as_json:
        _echo_json(schedule)
    else:
        render.print_schedule(Console(), schedule)


@schedules_app.command("versions")
@_reports_errors
def schedules_versions(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Schedule name.")],
    limit: Limit = None,
    cursor: Cursor = None,
    every: AllPages = False,
    as_json: JsonFlag = False,
) -> None:
    """List a schedule's versions, oldest first."""
    with _client(ctx) as client:
        page = _pages(lambda at: client.list_versions(name, limit=limit, cursor=at), cursor, every)
    if as_json:
        _echo_json(page)
    else:
        Console().print(render.schedules_table(page.items, f"versions of {name}"))
    _say_if_truncated(page)


@schedules_app.command("delete")
@_reports_errors
def schedules_delete(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Schedule name.")],
    if_match: Annotated[str | None, typer.Option(help="Expected ETag.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Delete a schedule (refused while a running job uses it)."""
    with _client(ctx) as client:
        client.delete_schedule(name, if_match=if_match)
    if as_json:
        _echo_json({"deleted": name})
    else:
        Console().print(f"deleted {name}")


def _write_preview_csv(path: Path, preview: PreviewResult) -> None:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        if preview.step_learning_rates is None:
            writer.writerow(["epoch", "learning_rate", "reason"])
            for epoch, (rate, reason) in enumerate(
                zip(preview.learning_rates, preview.reasons, strict=True)
            ):
                writer.writerow([epoch, repr(rate), reason])
            return
        writer.writerow(["epoch", "step", "learning_rate"])
        steps = len(preview.step_learning_rates[0]) if preview.step_learning_rates else 0
        for epoch, rates in enumerate(preview.step_learning_rates):
            for batch, rate in enumerate(rates):
                writer.writerow([epoch, epoch * steps + batch, repr(rate)])


def _write_png(path: Path, rates: list[float], x_label: str, title: str, log: bool) -> None:
    if importlib.util.find_spec("matplotlib") is None:
        raise typer.BadParameter(
            "writing a PNG needs matplotlib, which is not installed: pip install matplotlib "
            "(or use --csv)",
            param_hint="--png",
        )
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(8, 4))
    # Each rate holds for its whole epoch (or step): a drop is a step, not a slope.
    axes.plot(range(len(rates)), rates, drawstyle="steps-post")
    if log:
        axes.set_yscale("log")
    axes.set_xlabel(x_label)
    axes.set_ylabel("learning rate")
    axes.set_title(title)
    figure.savefig(path, dpi=100, bbox_inches="tight")
    pyplot.close(figure)


@schedules_app.command("preview")
@_reports_errors
def schedules_preview(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Schedule reference: name or name@3.")] = None,
    spec: SpecOption = None,
    file: FileOption = None,
    epochs: Annotated[int, typer.Option(help="Epochs to compute.")] = 100,
    steps_per_epoch: Annotated[int | None, typer.Option(help="Per-step rates too.")] = None,
    png: Annotated[Path | None, typer.Option(help="Write a PNG plot (needs matplotlib).")] = None,
    csv_path: Annotated[Path | None, typer.Option("--csv", help="Write the rates as CSV.")] = None,
    metrics: Annotated[
        str | None,
        typer.Option(
            help="What-if metrics, as the API's `metrics`: a JSON list with one object per "
            "epoch, '[{\"val_loss\": 0.9}, ...]', item i observed at the end of epoch i (so it "
            "drives epoch i+1); or @file.json."
        ),
    ] = None,
    width: Annotated[int, typer.Option(help="Plot width in columns.")] = 60,
    height: Annotated[int, typer.Option(help="Plot height in rows.")] = 10,
    log: LogAxis = False,
    as_json: JsonFlag = False,
) -> None:
    """Compute a schedule's curve without storing anything and draw it in the terminal."""
    parsed = _spec(spec, file)
    if (name is None) == (parsed is None):
        raise typer.BadParameter("give a schedule NAME or --spec/--file, exactly one")
    what_if = _metrics(metrics)
    with _client(ctx) as client:
        preview = client.preview(
            spec=parsed,
            schedule=name,
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            metrics=what_if,
        )
    steps = preview.step_learning_rates
    rates = [rate for epoch in steps for rate in epoch] if steps else preview.learning_rates
    x_label = "step" if steps else "epoch"
    if csv_path is not None:
        _write_preview_csv(csv_path, preview)
    if png is not None:
        title = name or str(parsed and parsed.get("type"))
        _write_png(png, rates, x_label, title, log)
    if as_json:
        _echo_json(preview)
        return
    console = Console()
    console.print(render_curve(rates, width=width, height=height, x_label=x_label, log=log))
    console.print(render.preview_summary(preview))


# -- jobs ---------------------------------------------------------------------------------------


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
        _echo_json(job)
    else:
        render.print_job(Console(), job)


@jobs_app.command("list")
@_reports_errors
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
    with _client(ctx) as client:
        page = _pages(
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
        _echo_json(page)
    else:
        Console().print(render.jobs_table(page.items))
    _say_if_truncated(page)


@jobs_app.command("show")
@_reports_errors
def jobs_show(ctx: typer.Context, job: JobArg, as_json: JsonFlag = False) -> None:
    """Show a job's schedule, rate and state."""
    with _client(ctx) as client:
        _show_job(client.get_job(job), as_json)


@jobs_app.command("wait")
@_reports_errors
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
    with _client(ctx) as client:
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


@jobs_app.command("history")
@_reports_errors
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
    with _client(ctx) as client:
        if as_csv:
            typer.echo(client.history_csv(job, superseded=superseded), nl=False)
            return
        # A plot is of the whole run: every page.
        page = _pages(
            lambda at: client.history(job, superseded=superseded, limit=limit, cursor=at),
            cursor,
            every or plot or png is not None,
        )
    rates = [entry.learning_rate for entry in page.items if not entry.superseded]
    if png is not None and rates:
        _write_png(png, rates, "epoch", f"{job} history", log)
    if as_json:
        _echo_json(page)
    elif plot and rates:
        Console().print(render_curve(rates, log=log))
    elif plot:
        Console().print(f"{job} has no decided epochs yet")
    else:
        Console().print(render.history_table(job, page.items))
    _say_if_truncated(page)


@jobs_app.command("events")
@_reports_errors
def jobs_events(
    ctx: typer.Context,
    job: JobArg,
    limit: Limit = None,
    cursor: Cursor = None,
    every: AllPages = False,
    as_json: JsonFlag = False,
) -> None:
    """Show a job's audit log: who changed what, when."""
    with _client(ctx) as client:
        page = _pages(lambda at: client.events(job, limit=limit, cursor=at), cursor, every)
    if as_json:
        _echo_json(page)
    else:
        Console().print(render.events_table(job, page.items))
    _say_if_truncated(page)


def _patch(ctx: typer.Context, job: str, changes: JobPatch, as_json: bool) -> None:
    with _client(ctx) as client:
        _show_job(client.patch_job(job, changes), as_json)


@jobs_app.command("switch")
@_reports_errors
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


@jobs_app.command("scale", context_settings=NUMBER_ARGUMENTS)
@_reports_errors
def jobs_scale(
    ctx: typer.Context,
    job: JobArg,
    factor: Annotated[float, typer.Argument(help="Factor on the schedule's rate.")],
    as_json: JsonFlag = False,
) -> None:
    """Multiply a job's schedule rate by a factor from its next epoch."""
    _patch(ctx, job, JobPatch(scale=factor), as_json)


@jobs_app.command("override", context_settings=NUMBER_ARGUMENTS)
@_reports_errors
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


@jobs_app.command("pause")
@_reports_errors
def jobs_pause(ctx: typer.Context, job: JobArg, as_json: JsonFlag = False) -> None:
    """Hold a job's current rate until resumed."""
    _patch(ctx, job, JobPatch(paused=True), as_json)


@jobs_app.command("resume")
@_reports_errors
def jobs_resume(ctx: typer.Context, job: JobArg, as_json: JsonFlag = False) -> None:
    """Let a job follow its schedule again: un-pause it, and run it again if it was stopped
    (or had ended)."""
    _patch(ctx, job, JobPatch(paused=False, status="running"), as_json)


@jobs_app.command("stop")
@_reports_errors
def jobs_stop(ctx: typer.Context, job: JobArg, as_json: JsonFlag = False) -> None:
    """Stop a job: its next answer says stop."""
    _patch(ctx, job, JobPatch(status="stopped"), as_json)


@jobs_app.command("rotate-token")
@_reports_errors
def jobs_rotate_token(ctx: typer.Context, job: JobArg, as_json: JsonFlag = False) -> None:
    """Give a job a new token (printed once); its old token stops working at once."""
    with _client(ctx) as client:
        rotated = client.rotate_job_token(job)
    if as_json:
        _echo_json(rotated)
    else:
        typer.echo(rotated.token)


TokenName = Annotated[str, typer.Argument(help="Token name (the actor audit events record).")]


@tokens_app.command("create")
@_reports_errors
def tokens_create(
    ctx: typer.Context,
    name: TokenName,
    role: Annotated[TokenRole, typer.Option(help="What the token may do.")],
    expires_in: Annotated[
        int | None, typer.Option(help="Seconds until it stops working (default: never).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an API token and print its secret, which is shown this once."""
    with _client(ctx) as client:
        created = client.create_token(name, role=role, expires_in=expires_in)
    if as_json:
        _echo_json(created)
    else:
        typer.echo(created.token)


@tokens_app.command("list")
@_reports_errors
def tokens_list(
    ctx: typer.Context, limit: Limit = None, cursor: Cursor = None, as_json: JsonFlag = False
) -> None:
    """List API tokens: role, creation, expiry and last use (never secrets)."""
    with _client(ctx) as client:
        page = client.list_tokens(limit=limit, cursor=cursor)
    if as_json:
        _echo_json(page)
        return
    console = Console()
    console.print(render.tokens_table(page.items))
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}")


@tokens_app.command("revoke")
@_reports_errors
def tokens_revoke(ctx: typer.Context, name: TokenName, as_json: JsonFlag = False) -> None:
    """Revoke an API token: every server refuses it from the next request on."""
    with _client(ctx) as client:
        client.revoke_token(name)
    if as_json:
        _echo_json({"revoked": name})
    else:
        Console().print(f"revoked {name}")


@jobs_app.command("delete")
@_reports_errors
def jobs_delete(
    ctx: typer.Context,
    job: JobArg,
    if_match: Annotated[str | None, typer.Option(help="Expected ETag.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Delete a job that is not running, with its history (its token stops working)."""
    with _client(ctx) as client:
        client.delete_job(job, if_match=if_match)
    if as_json:
        _echo_json({"deleted": job})
    else:
        Console().print(f"deleted {job}")


SelectorOption = Annotated[
    str,
    typer.Option(
        "--selector",
        "-l",
        help="Kubernetes label selector, e.g. 'team=vision,stage!=prod' or 'status=running'.",
    ),
]


@jobs_app.command("patch")
@_reports_errors
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
    with _client(ctx) as client:
        change = client.patch_jobs(
            selector, JobPatch.model_validate(body), dry_run=dry_run, limit=limit, cursor=cursor
        )
    if as_json:
        _echo_json(change)
        return
    console = Console()
    console.print(render.bulk_table(change))
    if change.next_cursor:
        console.print(f"more: --cursor {change.next_cursor}")


@app.command("watch")
@_reports_errors
def watch(
    ctx: typer.Context,
    selector: Annotated[
        str | None, typer.Option("--selector", "-l", help="Only jobs this selector matches.")
    ] = None,
    job: Annotated[str | None, typer.Option("--job", help="Only this job.")] = None,
    after: Annotated[
        int | None, typer.Option(help="Start after this event id (0: from the beginning).")
    ] = None,
    count: Annotated[int | None, typer.Option(help="Exit after this many events.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Print every decision, change and status transition as it happens.

    Reconnects after a lost connection, resuming after the last event it printed, so nothing
    is missed or printed twice.
    """
    seen = 0
    position = after
    failures = 0
    with _client(ctx) as client:
        while True:
            try:
                for event in client.stream(selector=selector, job=job, after=position):
                    position = event.id
                    failures = 0
                    if as_json:
                        typer.echo(json.dumps(event.model_dump(mode="json")))
                    else:
                        typer.echo(render.stream_line(event))
                    seen += 1
                    if count is not None and seen >= count:
                        return
            except TransportError as error:
                if failures >= client.retry.max_retries:
                    raise
                typer.echo(f"connection lost ({error}); reconnecting", err=True)
            time.sleep(client.retry.backoff_delay(failures))
            failures += 1


def main() -> None:
    """Entry point of the `lrhub` console script."""
    app()


if __name__ == "__main__":
    main()
