"""`openapi.json` as outside tools read it: Redocly's linter, `openapi-typescript` types checked by
`tsc` against the README's own specs and request bodies, and an `openapi-python-client` client
driving a real server.

The npm tools are pinned in `tests/contract/package.json` (`npm ci --prefix tests/contract`
installs them; `.ci/run` does). Without them the npm tests skip saying so, except under CI,
where they must run.
"""

from __future__ import annotations

import csv
import importlib
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import ServerProcess, running_server

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OPENAPI = ROOT / "openapi.json"
README = ROOT / "README.md"
NPM_BIN = HERE / "node_modules" / ".bin"
# No telemetry, no update checks: tests reach nothing but loopback.
TOOL_ENV = {**os.environ, "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"}


def npm_tool(name: str) -> Path:
    """The pinned tool from node_modules; skip (fail under CI) when it is not installed."""
    path = NPM_BIN / name
    if not path.exists():
        message = f"{name} is not installed: run `npm ci --prefix tests/contract` (needs Node.js)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def run(*argv: str | Path, cwd: Path = HERE) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=TOOL_ENV, capture_output=True, text=True, timeout=300
    )


def test_redocly_lint_finds_no_errors() -> None:
    result = run(npm_tool("redocly"), "lint", OPENAPI, "--format=json")
    report = json.loads(result.stdout)
    errors = [p for p in report["problems"] if p["severity"] == "error"]
    assert report["totals"]["errors"] == 0, json.dumps(errors, indent=2)
    assert result.returncode == 0, result.stderr


def readme_specs() -> list[dict[str, Any]]:
    """Every spec the README shows: the vocabulary table's examples and the tour's `--spec`s."""
    text = README.read_text()
    table = re.findall(r"^\| `[a-z_]+` \| `(\{.*?\})` \|", text, flags=re.MULTILINE)
    tour = re.findall(r"--spec '(\{.*?\})'", text, flags=re.DOTALL)
    specs = [json.loads(found) for found in table + tour]
    assert len(table) >= 16 and len(tour) >= 2, (len(table), len(tour))
    return specs


# The request bodies of the README's tour commands, as the CLI sends them.
TOUR_BODIES: dict[str, list[dict[str, Any]]] = {
    "SchedulePut": [{"spec": readme_specs()[0], "description": "the Ionosphere drop-based decay"}],
    "PreviewRequest": [
        {"schedule": "ionosphere-drop", "epochs": 50},
        {"spec": readme_specs()[-1], "epochs": 60, "metrics": [{"val_loss": 0.5}]},
    ],
    "JobCreate": [{"schedule": "ionosphere-drop"}, {"spec": readme_specs()[0], "scale": 0.5}],
    "JobPatch": [
        {"schedule": "ionosphere-drop", "clock": "restart"},
        {"override": 0.01},
        {"override": None},
        {"status": "stopped"},
    ],
    "DecisionRequest": [{"metrics": {"val_loss": 0.7}}, {"metrics": None, "steps_per_epoch": 10}],
}

# Answers carry every field: a spec's defaults are there and the union narrows on `type`.
ANSWER_USES = """
export function drop_epochs(schedule: Schemas["Schedule"]): number | null {
    const spec = schedule.spec;
    return spec.type === "step_decay" ? spec.every - spec.offset : null;
}
export function plateau_wait(job: Schemas["Job"]): unknown {
    return job.spec.type === "reduce_on_plateau" ? [job.spec.cooldown, job.state?.wait] : null;
}
export function csv_rows(history: string): number { return history.split("\\n").length; }
"""


@pytest.fixture(scope="module")
def typescript_types(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`openapi-typescript openapi.json` in a scratch folder, as an integrator runs it."""
    folder = tmp_path_factory.mktemp("typescript")
    # Defaulted request fields optional; answers list every field as required anyway.
    result = run(
        npm_tool("openapi-typescript"), OPENAPI, "-o", folder / "lrhub.d.ts",
        "--default-non-nullable=false",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return folder


def tsc(folder: Path, source: str) -> subprocess.CompletedProcess[str]:
    (folder / "use.ts").write_text(
        'import type { components, operations } from "./lrhub";\n'
        'type Schemas = components["schemas"];\n'
        'type SpecInput = NonNullable<Schemas["SchedulePut"]["spec"]>;\n'
        'export type HistoryCsv = operations["jobHistoryCsv"]["responses"][200]["content"];\n'
        + source
    )
    return run(
        npm_tool("tsc"), "--noEmit", "--strict", "--target", "es2022", "--module", "es2022",
        "--moduleResolution", "bundler", "use.ts", cwd=folder,
    )  # fmt: skip


def test_typescript_types_accept_the_readme_examples(typescript_types: Path) -> None:
    lines = [
        f"export const spec_{i}: SpecInput = {json.dumps(s)};" for i, s in enumerate(readme_specs())
    ]
    for schema, bodies in TOUR_BODIES.items():
        for i, body in enumerate(bodies):
            lines.append(f'export const {schema}_{i}: Schemas["{schema}"] = {json.dumps(body)};')
    lines.append('export const csv: HistoryCsv = { "text/csv": "epoch,learning_rate" };')
    result = tsc(typescript_types, "\n".join(lines) + ANSWER_USES)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("source", "complaint"),
    [
        # `every` is required in a step decay.
        (
            'export const s: SpecInput = {"type": "step_decay", "initial_learning_rate": 0.1,'
            ' "drop": 0.5};',
            "every",
        ),
        # A misspelled type is no spec at all.
        (
            'export const s: SpecInput = {"type": "step_decy", "initial_learning_rate": 0.1};',
            "step_decy",
        ),
        # In a request a defaulted field may be absent, so it is not known to be a number.
        (
            'export function f(b: Schemas["SchedulePut"]): number { const s = b.spec;'
            ' return s.type === "step_decay" ? s.every - s.offset : 0; }',
            "offset",
        ),
    ],
)  # fmt: skip
def test_typescript_types_refuse_what_the_api_refuses(
    typescript_types: Path, source: str, complaint: str
) -> None:
    result = tsc(typescript_types, source)
    assert result.returncode != 0
    assert complaint in result.stdout, result.stdout


@pytest.fixture(scope="module")
def generated_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """`openapi-python-client generate` into a scratch folder, imported as `lrhub_api`."""
    generator = Path(sys.executable).with_name("openapi-python-client")
    if not generator.exists():
        pytest.fail("openapi-python-client is missing from the test dependency group")
    folder = tmp_path_factory.mktemp("python-client")
    result = subprocess.run(
        [generator, "generate", "--path", OPENAPI, "--meta", "none",
         "--output-path", folder / "lrhub_api"],
        cwd=folder, capture_output=True, text=True, timeout=300,
        # It formats what it writes with ruff, which sits beside it in the venv.
        env={**os.environ, "PATH": f"{generator.parent}{os.pathsep}{os.environ['PATH']}"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout, result.stdout
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module("lrhub_api")
    finally:
        sys.path.remove(str(folder))
        for name in [m for m in sys.modules if m == "lrhub_api" or m.startswith("lrhub_api.")]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def secured_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"LRHUB_ADMIN_TOKEN": "ci:contract-s3cret-token"}
    with running_server(tmp_path_factory.mktemp("contract"), env=env) as server:
        yield server


def test_generated_python_client_drives_a_real_server(
    generated_client: Any, secured_server: ServerProcess
) -> None:
    api = generated_client
    models = importlib.import_module("lrhub_api.models")

    def operation(name: str) -> Any:
        return importlib.import_module(f"lrhub_api.api.{name}")

    put_schedule = operation("schedules.put_schedule")
    put_job, get_job, patch_job = (
        operation(f"jobs.{n}") for n in ("put_job", "get_job", "patch_job")
    )
    decide_epoch, job_history, job_history_csv = (
        operation(f"decisions.{n}") for n in ("decide_epoch", "job_history", "job_history_csv")
    )
    client = api.AuthenticatedClient(base_url=secured_server.url, token="contract-s3cret-token")

    spec = models.StepDecaySpecInput(initial_learning_rate=0.1, drop=0.5, every=10, offset=1)
    put = put_schedule.sync_detailed(
        "ionosphere-drop", client=client, body=models.SchedulePut(spec=spec)
    )
    assert put.status_code == 201
    assert put.headers["ETag"] == '"ionosphere-drop@1"'
    assert isinstance(put.parsed.spec, models.StepDecaySpecOutput)
    assert (put.parsed.spec.every, put.parsed.spec.offset) == (10, 1)

    created = put_job.sync_detailed(
        "contract-1", client=client, body=models.JobCreate(schedule="ionosphere-drop")
    )
    assert created.status_code == 201
    assert isinstance(created.parsed, models.JobCreated) and created.parsed.token

    rates = []
    for epoch in range(3):
        body = models.DecisionRequest(
            metrics=models.DecisionRequestMetricsType0.from_dict({"val_loss": 1.0 - epoch / 10})
        )
        answer = decide_epoch.sync("contract-1", epoch, client=client, body=body)
        assert isinstance(answer, models.EpochAnswer), answer
        rates.append(answer.learning_rate)
    assert rates == [0.1, 0.1, 0.1]

    job = get_job.sync_detailed("contract-1", client=client)
    etag = job.headers["ETag"]
    stale = patch_job.sync_detailed(
        "contract-1", client=client, body=models.JobPatch(override=0.01), if_match='"contract-1#9"'
    )
    assert stale.status_code == 412
    assert isinstance(stale.parsed, models.Problem) and "If-Match" in stale.parsed.detail
    patched = patch_job.sync_detailed(
        "contract-1", client=client, body=models.JobPatch(override=0.01), if_match=etag
    )
    assert patched.status_code == 200 and patched.parsed.override == 0.01
    assert patched.headers["ETag"] != etag
    answer = decide_epoch.sync("contract-1", 3, client=client)
    assert answer.learning_rate == 0.01

    page = job_history.sync("contract-1", client=client)
    assert isinstance(page, models.PageHistoryEntry)
    assert [(e.epoch, e.learning_rate) for e in page.items] == [
        (0, 0.1), (1, 0.1), (2, 0.1), (3, 0.01),
    ]  # fmt: skip
    as_csv = job_history_csv.sync("contract-1", client=client)
    assert isinstance(as_csv, str), as_csv
    rows = list(csv.DictReader(io.StringIO(as_csv)))
    assert [(int(r["epoch"]), float(r["learning_rate"])) for r in rows] == [
        (e.epoch, e.learning_rate) for e in page.items
    ]

    anonymous = api.Client(base_url=secured_server.url)
    refused = get_job.sync_detailed("contract-1", client=anonymous)
    assert refused.status_code == 401 and isinstance(refused.parsed, models.Problem)
