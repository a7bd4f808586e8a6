"""`lrhub schedules`: named, versioned schedules, and previews of any spec."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from .. import render
from ..errors import NotFound
from ..models import JsonObject, PreviewResult
from ..plot import render_curve
from ._shared import (
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

app = typer.Typer(help="Named, versioned schedules.", no_args_is_help=True)

SpecOption = Annotated[str | None, typer.Option("--spec", help="The spec as JSON text.")]
FileOption = Annotated[
    Path | None, typer.Option("--file", exists=True, dir_okay=False, help="A JSON spec file.")
]


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


@app.command("put")
@reports_errors
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
    with open_client(ctx) as client:
        try:
            before: int | None = client.get_schedule(name).version
        except NotFound:
            before = None
        schedule = client.put_schedule(name, parsed, description=description, if_match=if_match)
    if as_json:
        echo_json(schedule)
        return
    console = Console()
    # The service answers an unchanged spec with the version it already had.
    if schedule.version == before:
        console.print(f"unchanged: {name} version {schedule.version} already has this spec")
    else:
        console.print(f"{'created' if before is None else 'new version of'} {name}")
    render.print_schedule(console, schedule)


@app.command("list")
@reports_errors
def schedules_list(
    ctx: typer.Context,
    limit: Limit = None,
    cursor: Cursor = None,
    every: AllPages = False,
    as_json: JsonFlag = False,
) -> None:
    """List schedules (latest versions)."""
    with open_client(ctx) as client:
        page = pages(lambda at: client.list_schedules(limit=limit, cursor=at), cursor, every)
    if as_json:
        echo_json(page)
    else:
        Console().print(render.schedules_table(page.items, "schedules"))
    say_if_truncated(page)


@app.command("show")
@reports_errors
def schedules_show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Schedule name.")],
    version: Annotated[int | None, typer.Option(help="Version (default latest).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Show a schedule version and its spec."""
    with open_client(ctx) as client:
        schedule = client.get_schedule(name, version=version)
    if as_json:
        echo_json(schedule)
    else:
        render.print_schedule(Console(), schedule)


@app.command("versions")
@reports_errors
def schedules_versions(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Schedule name.")],
    limit: Limit = None,
    cursor: Cursor = None,
    every: AllPages = False,
    as_json: JsonFlag = False,
) -> None:
    """List a schedule's versions, oldest first."""
    with open_client(ctx) as client:
        page = pages(lambda at: client.list_versions(name, limit=limit, cursor=at), cursor, every)
    if as_json:
        echo_json(page)
    else:
        Console().print(render.schedules_table(page.items, f"versions of {name}"))
    say_if_truncated(page)


@app.command("delete")
@reports_errors
def schedules_delete(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Schedule name.")],
    if_match: Annotated[str | None, typer.Option(help="Expected ETag.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Delete a schedule (refused while a running job uses it)."""
    with open_client(ctx) as client:
        client.delete_schedule(name, if_match=if_match)
    if as_json:
        echo_json({"deleted": name})
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


@app.command("preview")
@reports_errors
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
    with open_client(ctx) as client:
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
        write_png(png, rates, x_label, title, log)
    if as_json:
        echo_json(preview)
        return
    console = Console()
    console.print(render_curve(rates, width=width, height=height, x_label=x_label, log=log))
    console.print(render.preview_summary(preview))
