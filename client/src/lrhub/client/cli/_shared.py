"""What every `lrhub` command shares: the options spelled alike in every command, the client
built from `--url` and `--token` (else `LRHUB_URL`, `LRHUB_TOKEN`), how service errors are
reported, paging and output."""

from __future__ import annotations

import functools
import importlib.util
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console as RichConsole
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from .._sync import Client
from ..errors import LrhubError, ProblemError
from ..models import Page

P = ParamSpec("P")
R = TypeVar("R")
ItemT = TypeVar("ItemT")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
Limit = Annotated[int | None, typer.Option(help="Page size (1..1000).")]
Cursor = Annotated[str | None, typer.Option(help="Cursor of the page to show.")]
AllPages = Annotated[bool, typer.Option("--all", help="Every page, not just the first.")]
LogAxis = Annotated[bool, typer.Option("--log", help="Log scale for the rate axis.")]
# A number argument may be negative (`lrhub jobs scale j -0.5` gets the service's answer), so
# tokens like `-0.5` must not be read as unknown options.
NUMBER_ARGUMENTS = {"ignore_unknown_options": True}


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
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
def open_client(ctx: typer.Context) -> Iterator[Client]:
    """The command's client: the root's `--url` and `--token`, else `ClientSettings` (the
    `LRHUB_*` variables); a malformed URL is a usage error naming `--url`."""
    options = ctx.find_root().obj or {}
    try:
        client = Client(options.get("url"), token=options.get("token"))
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--url") from error
    with client:
        yield client


def pages(
    fetch: Callable[[str | None], Page[ItemT]], cursor: str | None, every: bool
) -> Page[ItemT]:
    """The page at `cursor`, or with `every` all pages from there joined into one; a read of
    more than one page shows its progress on stderr (on a terminal; nothing when piped)."""
    page = fetch(cursor)
    if not every or not page.next_cursor:
        return page
    items = list(page.items)
    with progress_of_reading() as advance:
        advance(len(items))
        while page.next_cursor:
            page = fetch(page.next_cursor)
            items.extend(page.items)
            advance(len(page.items))
    return page.model_copy(update={"items": items, "next_cursor": None})


@contextmanager
def progress_of_reading(what: str = "items") -> Iterator[Callable[[int], None]]:
    """A spinner and a count of what was read so far, on stderr, gone once done; yields the
    function that adds to the count."""
    progress = Progress(
        SpinnerColumn(),
        TextColumn(f"reading {what}: {{task.completed:.0f}} so far"),
        TimeElapsedColumn(),
        console=RichConsole(stderr=True),
        transient=True,
    )
    with progress:
        task = progress.add_task("read", total=None)
        yield lambda count: progress.advance(task, count)


def say_if_truncated(page: Page[Any]) -> None:
    """On stderr, so `--json` output stays one document: there is more than was shown."""
    if page.next_cursor:
        typer.echo(
            f"showing the first {len(page.items)}; more with --cursor {page.next_cursor}, "
            "or --all for every page",
            err=True,
        )


def echo_json(data: Any) -> None:
    """Print a model, or plain JSON data, as indented JSON."""
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    typer.echo(json.dumps(data, indent=2))


def write_png(path: Path, rates: list[float], x_label: str, title: str, log: bool) -> None:
    """Plot `rates` to a PNG file with matplotlib, an optional dependency imported only here."""
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
