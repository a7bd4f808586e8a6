"""Bad and hostile requests against a real server, on SQLite and on PostgreSQL: each gets a 4xx
problem naming what is wrong, none leaks internals, and none changes anything.

A witness job is created and advanced before the table; after every row the server must still
be healthy and ready, its log free of tracebacks, and the witness job, its history, its audit log
and its schedule must be exactly what they were.

Each class of input the service once answered 5xx has rows here, one per place it enters:
cursors that decode to something other than a position the database can compare, integers too
large for a float, strings PostgreSQL cannot store (NUL, unpaired surrogates), rates made
non-finite by the operator's scale, and lax types (strings or booleans for numbers, -0.0).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.support.postgres import BOTH_DATABASES, database_for
from tests.support.problems import assert_no_leak, assert_problem
from tests.support.raw_http import send_raw
from tests.support.server import ServerProcess, running_server

WITNESS = "witness-job"
# Metrics reported for the witness's epochs 0..3: a plateau, so its state is not trivial.
WITNESS_METRICS: tuple[dict[str, float], ...] = ({}, {"val_loss": 0.9}, {"val_loss": 0.95},
                                                 {"val_loss": 0.97})  # fmt: skip
# The witness's next epoch: a decision that would change its state if it were accepted.
DECIDE = f"/v1/jobs/{WITNESS}/epochs/{len(WITNESS_METRICS)}"
SCHEDULE = "plateau"
PLATEAU_SPEC = {
    "type": "reduce_on_plateau",
    "monitor": "val_loss",
    "factor": 0.5,
    "patience": 1,
    "initial_learning_rate": 0.1,
}
# A job whose rate times its scale overflows a float: every decision must be refused.
HUGE = "huge-rate-job"
HUGE_SPEC = {"type": "constant", "learning_rate": 1e308}
HUGE_SCALE = 10.0
BODY_LIMIT_WORDS = ("262144", "large", "bytes", "limit")
ROUTE_WORDS = ("no resource", "not found", "no route", "unknown")
JSON_HEADERS = {"Content-Type": "application/json"}


def as_json(value: object) -> bytes:
    return json.dumps(value).encode()


def expression(text: str) -> dict[str, Any]:
    return {"type": "expression", "expression": text, "initial_learning_rate": 0.1}


@dataclass(frozen=True)
class Hostile:
    """One bad request and the problem it must get.

    `{new}` in `path` and `absent_after` becomes a name unique to the row; `absent_after` is a
    resource the request must not have created (GET answers 404 afterwards).
    """

    method: str
    path: str
    body: bytes = b""
    status: int | tuple[int, ...] = 422
    words: tuple[str, ...] = ()
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON_HEADERS))
    chunked: bool = False
    absent_after: str | None = None


def row(row_id: str, hostile: Hostile) -> Any:
    return pytest.param(hostile, id=row_id)


def create_job_with(body: dict[str, Any], status: int | tuple[int, ...], *words: str) -> Hostile:
    return Hostile("PUT", "/v1/jobs/{new}", as_json(body), status, words,
                   absent_after="/v1/jobs/{new}")  # fmt: skip


def put_schedule(spec: object, *words: str) -> Hostile:
    return Hostile("PUT", "/v1/schedules/{new}", as_json({"spec": spec}), 422, words,
                   absent_after="/v1/schedules/{new}")  # fmt: skip


def preview(body: dict[str, Any], status: int | tuple[int, ...], *words: str) -> Hostile:
    return Hostile("POST", "/v1/preview", as_json(body), status, words)


def decide(body: bytes, status: int | tuple[int, ...], *words: str) -> Hostile:
    return Hostile("POST", DECIDE, body, status, words)


def epoch_path(epoch: str) -> Hostile:
    return Hostile("POST", f"/v1/jobs/{WITNESS}/epochs/{epoch}", as_json({"metrics": {}}),
                   422, ("epoch",))  # fmt: skip


def chunks_of(total: int, size: int = 16384) -> Iterator[bytes]:
    yield b'{"metrics": {}, "pad": "'
    for _ in range(total // size):
        yield b"x" * size
    yield b'"}'


OVERSIZED = as_json({"metrics": {}, "pad": "x" * 300_000})
NESTED = b'{"metrics": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
THOUSAND_METRICS = as_json({"metrics": {f"m{i}": 0.5 for i in range(1000)}})
METRIC_WORDS = ("metrics", "val_loss", "finite", "nan", "infinity", "json")
EXPRESSION_WORDS = ("expression",)
EVALUATION_WORDS = ("expression", "finite", "overflow", "large", "power", "exponent")


BIG_INTEGER = "1" + "0" * 400  # parses as an int; as a float it would overflow


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def raw_json(text: str) -> bytes:
    """A body as literal JSON text (escapes such as \\u0000 stay as written); BIG becomes an
    integer too large for a float."""
    return text.replace("BIG", BIG_INTEGER).encode()


BIG_ONE_CYCLE = '{"spec": {"type": "one_cycle", "max_learning_rate": 0.1, "total_steps": BIG}}'
BIG_INTEGER_WORDS = ("too large", "float", "digits")
UNSTORABLE_WORDS = ("nul", "u0000", "surrogate")
STRICT_WORDS = ("number", "integer", "boolean", "bool", "valid")
# Paged lists by the kind of position their cursor carries.
ID_CURSOR_LISTS = {
    "history": f"/v1/jobs/{WITNESS}/epochs",
    "events": f"/v1/jobs/{WITNESS}/events",
    "versions": f"/v1/schedules/{SCHEDULE}/versions",
}
NAME_CURSOR_LISTS = {"jobs": "/v1/jobs", "schedules": "/v1/schedules", "tokens": "/v1/tokens"}
BAD_ID_POSITIONS = {
    "nul": "\x00", "superscript-two": "\u00b2", "arabic-three": "\u0663", "negative": "-1",
    "space": " 1", "float": "1.5", "beyond-int32": str(2**31), "huge": str(10**30),
    "empty": "",
}  # fmt: skip
BAD_NAME_POSITIONS = {
    "nul": "\x00", "nul-inside": "a\x00b", "space": "a b", "slash": "a/b", "too-long": "n" * 300,
}  # fmt: skip
CURSOR_ROWS = [
    row(f"cursor-{kind}-{name}", Hostile("GET", f"{path}?cursor={cursor(text)}",
                                         words=("cursor",)))
    for positions, lists in ((BAD_ID_POSITIONS, ID_CURSOR_LISTS),
                             (BAD_NAME_POSITIONS, NAME_CURSOR_LISTS))
    for kind, path in lists.items()
    for name, text in positions.items()
] + [  # an unpaired surrogate, as UTF-8 would encode it if it could
    row(f"cursor-{kind}-invalid-utf8", Hostile(
        "GET", f"{path}?cursor=" + base64.urlsafe_b64encode(b"\xed\xb3\xbf").decode(),
        words=("cursor",)))
    for kind, path in {**ID_CURSOR_LISTS, **NAME_CURSOR_LISTS}.items()
]  # fmt: skip

TABLE = [
    *CURSOR_ROWS,
    # Integers too large for a float, wherever a number enters.
    row("spec-integer-too-large", Hostile(
        "PUT", "/v1/schedules/{new}",
        raw_json(BIG_ONE_CYCLE), 422, BIG_INTEGER_WORDS, absent_after="/v1/schedules/{new}")),
    row("spec-rate-integer-too-large", Hostile(
        "PUT", "/v1/schedules/{new}",
        raw_json('{"spec": {"type": "constant", "learning_rate": BIG}}'), 422,
        BIG_INTEGER_WORDS, absent_after="/v1/schedules/{new}")),
    row("preview-spec-integer-too-large", Hostile(
        "POST", "/v1/preview",
        raw_json('{"epochs": 3, "spec": {"type": "one_cycle", "max_learning_rate": 0.1, '
                 '"total_steps": BIG}}'), 422, BIG_INTEGER_WORDS)),
    row("job-spec-integer-too-large", Hostile(
        "PUT", "/v1/jobs/{new}",
        raw_json(BIG_ONE_CYCLE), 422, BIG_INTEGER_WORDS, absent_after="/v1/jobs/{new}")),
    row("metric-integer-too-large", decide(raw_json('{"metrics": {"val_loss": BIG}}'), 422,
                                           *BIG_INTEGER_WORDS)),
    row("scale-integer-too-large", Hostile(
        "PATCH", f"/v1/jobs/{WITNESS}", raw_json('{"scale": BIG}'), 422,
        BIG_INTEGER_WORDS)),
    # Strings PostgreSQL cannot store, in every string that is stored or compared.
    row("description-nul", Hostile("PUT", "/v1/schedules/{new}",
                                   as_json({"spec": PLATEAU_SPEC, "description": "a\x00b"}), 422,
                                   UNSTORABLE_WORDS, absent_after="/v1/schedules/{new}")),
    row("description-surrogate", Hostile(
        "PUT", "/v1/schedules/{new}",
        raw_json('{"spec": {"type": "constant", "learning_rate": 0.1}, '
                 '"description": "a\\udcffb"}'), 422, ("description", "unicode", "surrogate"),
        absent_after="/v1/schedules/{new}")),
    row("label-value-nul", create_job_with({"schedule": SCHEDULE, "labels": {"team": "a\x00"}},
                                           422, *UNSTORABLE_WORDS)),
    row("label-value-surrogate", Hostile(
        "PUT", "/v1/jobs/{new}",
        raw_json('{"schedule": "plateau", "labels": {"team": "\\ud800"}}'), 422,
        ("labels", "unicode", "surrogate"), absent_after="/v1/jobs/{new}")),
    row("patch-label-value-nul", Hostile("PATCH", f"/v1/jobs/{WITNESS}",
                                         as_json({"labels": {"team": "\x00"}}), 422,
                                         UNSTORABLE_WORDS)),
    row("label-filter-nul", Hostile("GET", "/v1/jobs?label=team=%00", words=UNSTORABLE_WORDS)),
    row("label-filter-nul-inside", Hostile("GET", "/v1/jobs?label=team=a%00b",
                                           words=UNSTORABLE_WORDS)),
    row("label-key-nul", Hostile("GET", "/v1/jobs?label=te%00am=a", words=("label",))),
    # Rates the operator's scale makes non-finite: refused, never answered as null nor stored.
    row("rate-overflows-after-scale", Hostile("POST", f"/v1/jobs/{HUGE}/epochs/0",
                                              as_json({"metrics": {}}), 422, ("finite",))),
    row("rate-overflows-after-scale-per-step", Hostile(
        "POST", f"/v1/jobs/{HUGE}/epochs/0", as_json({"metrics": {}, "steps_per_epoch": 3}), 422,
        ("finite",))),
    # Lax types: a number is a JSON number, a boolean a JSON boolean.
    row("metric-value-numeric-string", decide(as_json({"metrics": {"val_loss": "0.5"}}), 422,
                                              "metrics", "val_loss")),
    row("metric-value-true", decide(as_json({"metrics": {"val_loss": True}}), 422, "metrics",
                                    "val_loss")),
    row("steps-per-epoch-numeric-string", decide(as_json({"metrics": {}, "steps_per_epoch": "5"}),
                                                 422, "steps_per_epoch")),
    row("steps-per-epoch-true", decide(as_json({"metrics": {}, "steps_per_epoch": True}), 422,
                                       "steps_per_epoch")),
    row("steps-per-epoch-float", decide(as_json({"metrics": {}, "steps_per_epoch": 5.0}), 422,
                                        "steps_per_epoch")),
    row("override-negative-zero", Hostile("PATCH", f"/v1/jobs/{WITNESS}",
                                          raw_json('{"override": -0.0}'), words=("override",))),
    row("spec-rate-negative-zero", put_schedule({"type": "constant", "learning_rate": -0.0},
                                                "learning_rate")),
    row("override-numeric-string", Hostile("PATCH", f"/v1/jobs/{WITNESS}",
                                           as_json({"override": "0.5"}), words=("override",))),
    row("scale-numeric-string", Hostile("PATCH", f"/v1/jobs/{WITNESS}", as_json({"scale": "2"}),
                                        words=("scale",))),
    row("paused-a-string", Hostile("PATCH", f"/v1/jobs/{WITNESS}", as_json({"paused": "true"}),
                                   words=("paused",))),
    row("paused-a-number", Hostile("PATCH", f"/v1/jobs/{WITNESS}", as_json({"paused": 1}),
                                   words=("paused",))),
    row("preview-epochs-numeric-string", preview({"spec": PLATEAU_SPEC, "epochs": "3"}, 422,
                                                 "epochs")),
    row("token-expires-in-numeric-string", Hostile(
        "POST", "/v1/tokens", as_json({"name": "t", "role": "viewer", "expires_in": "60"}), 422,
        ("expires_in",))),
    # Non-finite metrics, as Python's json module writes them.
    row("metric-nan", decide(b'{"metrics": {"val_loss": NaN}}', (400, 422), *METRIC_WORDS)),
    row("metric-infinity", decide(b'{"metrics": {"val_loss": Infinity}}', (400, 422),
                                  *METRIC_WORDS)),
    row("metric-minus-infinity", decide(b'{"metrics": {"val_loss": -Infinity}}', (400, 422),
                                        *METRIC_WORDS)),
    row("metric-overflowing-literal", decide(b'{"metrics": {"val_loss": 1e999}}', (400, 422),
                                             *METRIC_WORDS)),
    # Epochs.
    row("epoch-negative", epoch_path("-1")),
    row("epoch-enormous", epoch_path(str(10**30))),
    row("epoch-above-limit", epoch_path("10000001")),
    row("epoch-not-a-number", epoch_path("abc")),
    row("epoch-float", epoch_path("1.5")),
    # Wrong types and values in a decision.
    row("metrics-a-list", decide(as_json({"metrics": [0.1, 0.2]}), 422, "metrics")),
    row("metric-value-a-string", decide(as_json({"metrics": {"val_loss": "low"}}), 422,
                                        "metrics", "val_loss")),
    row("metric-name-invalid", decide(as_json({"metrics": {"val loss!": 0.1}}), 422,
                                      "metrics", "val loss")),
    row("thousand-metrics", decide(THOUSAND_METRICS, 422, "metrics", "256")),
    row("steps-per-epoch-a-string", decide(as_json({"metrics": {}, "steps_per_epoch": "many"}),
                                           422, "steps_per_epoch")),
    row("steps-per-epoch-zero", decide(as_json({"metrics": {}, "steps_per_epoch": 0}), 422,
                                       "steps_per_epoch")),
    row("steps-per-epoch-enormous", decide(as_json({"metrics": {}, "steps_per_epoch": 10**9}),
                                           422, "steps_per_epoch")),
    row("decision-unknown-field", decide(as_json({"metrics": {}, "bogus": 1}), 422, "bogus")),
    row("decision-body-an-array", decide(b"[]", (400, 422), "body", "object", "dict", "json")),
    row("decision-body-a-string", decide(b'"metrics"', (400, 422), "body", "object", "dict",
                                         "json")),
    row("decision-unknown-job", Hostile("POST", "/v1/jobs/{new}/epochs/0",
                                        as_json({"metrics": {}}), 404, ("never-",),
                                        absent_after="/v1/jobs/{new}")),
    # Bodies that are not JSON.
    row("malformed-json", decide(b'{"metrics": {', 400, "json")),
    row("deeply-nested-json", decide(NESTED, (400, 422), "json", "nest", "deep", "metrics")),
    row("wrong-content-type", Hostile("POST", DECIDE, as_json({"metrics": {}}), 400,
                                      ("content type", "content-type", "json"),
                                      headers={"Content-Type": "text/plain"})),
    row("form-encoded", Hostile("POST", DECIDE, b"metrics=1", 400,
                                ("content type", "content-type", "json"),
                                headers={"Content-Type": "application/x-www-form-urlencoded"})),
    # Sizes: the body limit holds whatever the headers claim.
    row("oversized-body", decide(OVERSIZED, 413, *BODY_LIMIT_WORDS)),
    row("content-length-claims-a-gigabyte", Hostile(
        "POST", DECIDE, as_json({"metrics": {}}), 413, BODY_LIMIT_WORDS,
        headers={**JSON_HEADERS, "Content-Length": str(10**9)})),
    # (Connection: close, else the bytes past the claimed length are parsed as a second,
    # invalid request, which the HTTP layer refuses first: see FRAMING.)
    row("content-length-shorter-than-body", Hostile(
        "POST", DECIDE, as_json({"metrics": {"val_loss": 0.5}}), 400, ("json",),
        headers={**JSON_HEADERS, "Content-Length": "5", "Connection": "close"})),
    row("oversized-chunked-body", Hostile("POST", DECIDE, b"", 413, BODY_LIMIT_WORDS,
                                          chunked=True)),
    # Schedules: unknown types, invalid fields, hostile expressions.
    row("spec-unknown-type", put_schedule({"type": "warp_drive"}, "type", "warp_drive")),
    row("spec-decay-steps-zero", put_schedule(
        {"type": "exponential_decay", "initial_learning_rate": 0.1, "decay_steps": 0,
         "decay_rate": 0.5}, "decay_steps")),
    row("spec-rate-a-list", put_schedule({"type": "constant", "learning_rate": [0.1]},
                                         "learning_rate")),
    row("spec-unknown-field", put_schedule({"type": "constant", "learning_rate": 0.1,
                                            "bogus": 1}, "bogus")),
    row("spec-not-an-object", put_schedule("constant", "spec")),
    row("expression-import", put_schedule(expression("__import__('os').system('id')"),
                                          *EXPRESSION_WORDS)),
    row("expression-attribute", put_schedule(expression("epoch.__class__"), *EXPRESSION_WORDS)),
    row("expression-lambda", put_schedule(expression("(lambda: 1)()"), *EXPRESSION_WORDS)),
    row("expression-comprehension", put_schedule(expression("[x for x in (1, 2)][0]"),
                                                 *EXPRESSION_WORDS)),
    row("expression-100kB", put_schedule(expression("epoch + " * 12_500 + "1"),
                                         *EXPRESSION_WORDS)),
    row("expression-deep-parentheses", put_schedule(expression("(" * 5000 + "1" + ")" * 5000),
                                                    *EXPRESSION_WORDS)),
    row("expression-unary-chain", put_schedule(expression("-" * 50_000 + "1"),
                                               *EXPRESSION_WORDS)),
    # Short enough for the length limit, so the depth limit must catch them.
    row("expression-deep-short", put_schedule(expression("(" * 450 + "1" + ")" * 450),
                                              *EXPRESSION_WORDS)),
    row("expression-unary-chain-short", put_schedule(expression("-" * 900 + "1"),
                                                     *EXPRESSION_WORDS)),
    # Only evaluation can find this one too large: epoch is not a constant.
    row("expression-power-of-epoch", preview({"spec": expression("epoch ** 9 ** 9"),
                                              "epochs": 3}, 422, *EVALUATION_WORDS)),
    row("expression-power-tower", preview({"spec": expression("9**9**9"), "epochs": 3}, 422,
                                          *EVALUATION_WORDS)),
    row("expression-exp-overflow", preview({"spec": expression("exp(1000)"), "epochs": 3}, 422,
                                           *EVALUATION_WORDS)),
    row("schedule-name-with-at", Hostile("PUT", "/v1/schedules/bad@name",
                                         as_json({"spec": PLATEAU_SPEC}), 422, ("name",))),
    row("schedule-name-too-long", Hostile("PUT", "/v1/schedules/" + "s" * 200,
                                          as_json({"spec": PLATEAU_SPEC}), 422, ("name",))),
    # Unknown schedules and versions.
    row("job-schedule-unknown-version", create_job_with({"schedule": f"{SCHEDULE}@99"}, 404,
                                                        "99", "version")),
    row("job-schedule-version-not-a-number", create_job_with({"schedule": f"{SCHEDULE}@abc"},
                                                             422, "schedule")),
    row("job-schedule-just-at", create_job_with({"schedule": "@"}, 422, "schedule")),
    row("job-schedule-unknown-name", create_job_with({"schedule": "nosuch"}, 404, "nosuch")),
    row("job-schedule-and-spec", create_job_with({"schedule": SCHEDULE, "spec": PLATEAU_SPEC},
                                                 422, "schedule", "spec")),
    row("job-neither-schedule-nor-spec", create_job_with({}, 422, "schedule", "spec")),
    row("job-scale-a-string", create_job_with({"schedule": SCHEDULE, "scale": "big"}, 422,
                                              "scale")),
    row("job-scale-negative", create_job_with({"schedule": SCHEDULE, "scale": -1}, 422,
                                              "scale")),
    row("job-labels-a-list", create_job_with({"schedule": SCHEDULE, "labels": ["a"]}, 422,
                                             "labels")),
    row("job-follow-unknown", create_job_with({"schedule": SCHEDULE, "follow": "sometimes"},
                                              422, "follow")),
    row("job-unknown-field", create_job_with({"schedule": SCHEDULE, "bogus": 1}, 422, "bogus")),
    row("get-schedule-unknown-version", Hostile("GET", f"/v1/schedules/{SCHEDULE}?version=99",
                                                status=404, words=("99", "version"))),
    row("get-schedule-version-not-a-number", Hostile(
        "GET", f"/v1/schedules/{SCHEDULE}?version=abc", words=("version",))),
    row("get-schedule-unknown", Hostile("GET", "/v1/schedules/nosuch", status=404,
                                        words=("nosuch",))),
    row("preview-unknown-version", preview({"schedule": f"{SCHEDULE}@99", "epochs": 3}, 404,
                                           "99", "version")),
    # Absurd preview sizes.
    row("preview-epochs-a-billion", preview({"spec": PLATEAU_SPEC, "epochs": 10**9}, 422,
                                            "epochs")),
    row("preview-steps-a-billion", preview({"spec": PLATEAU_SPEC, "epochs": 10,
                                            "steps_per_epoch": 10**9}, 422, "steps_per_epoch")),
    row("preview-ten-million-points", preview(
        {"spec": PLATEAU_SPEC, "epochs": 10_000, "steps_per_epoch": 1000}, 422,
        "steps_per_epoch", "epochs", "1000000", "1_000_000")),
    row("preview-zero-epochs", preview({"spec": PLATEAU_SPEC, "epochs": 0}, 422, "epochs")),
    row("preview-nan-metrics", Hostile(
        "POST", "/v1/preview",
        b'{"spec": {"type": "constant", "learning_rate": 0.1}, "epochs": 2, '
        b'"metrics": [{"val_loss": NaN}]}', (400, 422), METRIC_WORDS)),
    # Absurd job ids.
    row("job-id-1000-chars", Hostile("PUT", "/v1/jobs/" + "j" * 1000,
                                     as_json({"schedule": SCHEDULE}), 422, ("job_id",))),
    row("job-id-dot-dot-slash-encoded", Hostile(
        "PUT", "/v1/jobs/..%2Fetc", as_json({"schedule": SCHEDULE}), (404, 422),
        ("job_id", *ROUTE_WORDS))),
    row("job-id-literal-dot-dot", Hostile("PUT", "/v1/jobs/../etc",
                                          as_json({"schedule": SCHEDULE}), 404, ROUTE_WORDS)),
    row("job-id-encoded-dots", Hostile("PUT", "/v1/jobs/%2e%2e", as_json({"schedule": SCHEDULE}),
                                       422, ("job_id",))),
    row("job-id-unicode", Hostile("PUT", "/v1/jobs/j%C3%B6b-%E2%9C%93",
                                  as_json({"schedule": SCHEDULE}), 422, ("job_id",))),
    row("job-id-space", Hostile("PUT", "/v1/jobs/%20", as_json({"schedule": SCHEDULE}), 422,
                                ("job_id",))),
    row("job-id-empty", Hostile("POST", "/v1/jobs//epochs/0", as_json({"metrics": {}}), 404,
                                ROUTE_WORDS)),
    # Queries.
    row("history-limit-not-a-number", Hostile("GET", f"/v1/jobs/{WITNESS}/epochs?limit=abc",
                                              words=("limit",))),
    row("history-limit-zero", Hostile("GET", f"/v1/jobs/{WITNESS}/epochs?limit=0",
                                      words=("limit",))),
    row("history-limit-a-million", Hostile("GET", f"/v1/jobs/{WITNESS}/epochs?limit=1000000",
                                           words=("limit",))),
    row("history-cursor-garbage", Hostile("GET", f"/v1/jobs/{WITNESS}/epochs?cursor=%00%FF..",
                                          status=(400, 422), words=("cursor",))),
    row("history-format-xml", Hostile("GET", f"/v1/jobs/{WITNESS}/epochs?format=xml",
                                      words=("format",))),
    row("jobs-label-without-value", Hostile("GET", "/v1/jobs?label=team", words=("label",))),
    # Changes to the witness that must be refused whole.
    row("patch-override-negative", Hostile("PATCH", f"/v1/jobs/{WITNESS}",
                                           as_json({"override": -1, "paused": True}),
                                           words=("override",))),
    row("patch-clock-unknown", Hostile("PATCH", f"/v1/jobs/{WITNESS}",
                                       as_json({"clock": "sideways"}), words=("clock",))),
    row("patch-status-unknown", Hostile("PATCH", f"/v1/jobs/{WITNESS}",
                                        as_json({"status": "finished"}), words=("status",))),
    row("patch-stale-if-match", Hostile(
        "PATCH", f"/v1/jobs/{WITNESS}", as_json({"paused": True}), 412,
        ("if-match", "etag", "match", "precondition"),
        headers={**JSON_HEADERS, "If-Match": f'"{WITNESS}#999"'})),
    row("method-not-allowed", Hostile("POST", f"/v1/jobs/{WITNESS}", status=405,
                                      words=("method", "post", "allowed"))),
]  # fmt: skip


# Requests whose HTTP framing is invalid. The HTTP layer (uvicorn) refuses them before the app
# runs, so the answer is its own plain-text 400, not problem+json.
FRAMING = [
    pytest.param([("Content-Length", "lots")], id="content-length-not-a-number"),
    pytest.param([("Content-Length", "-1")], id="content-length-negative"),
    pytest.param([("Content-Length", "15"), ("Content-Length", "3")], id="two-content-lengths"),
    pytest.param([("Content-Length", "15"), ("Transfer-Encoding", "chunked")],
                 id="content-length-and-chunked"),
]  # fmt: skip


@pytest.fixture(scope="module", params=BOTH_DATABASES)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The table runs once on SQLite and once on PostgreSQL (LRHUB_TEST_DATABASE_URL)."""
    with database_for(request, tmp_path_factory.mktemp("hostile-db"), "lrhub_hostile") as url:
        yield url


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[ServerProcess]:
    """One server for the whole table, holding a schedule, a witness job with history, and a
    job whose scaled rate overflows."""
    with (
        running_server(tmp_path_factory.mktemp("hostile"), database_url=database_url) as live,
        httpx.Client(base_url=live.url, timeout=30.0) as client,
    ):
        assert client.put(f"/v1/schedules/{SCHEDULE}", json={"spec": PLATEAU_SPEC}).is_success
        assert client.put(f"/v1/jobs/{WITNESS}", json={"schedule": SCHEDULE}).status_code == 201
        for epoch, metrics in enumerate(WITNESS_METRICS):
            answer = client.post(f"/v1/jobs/{WITNESS}/epochs/{epoch}", json={"metrics": metrics})
            assert answer.status_code == 200, answer.text
        huge = client.put(f"/v1/jobs/{HUGE}", json={"spec": HUGE_SPEC, "scale": HUGE_SCALE})
        assert huge.status_code == 201, huge.text
        yield live


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    """The client every row checks the server with: a client per check would build a TLS
    context each time (~20 ms of CPU, three times a row)."""
    with httpx.Client(base_url=server.url, timeout=30.0) as client:
        yield client


def witness_snapshot(client: httpx.Client) -> dict[str, Any]:
    """Everything a request could have changed about the witness job and its schedule."""
    job = client.get(f"/v1/jobs/{WITNESS}")
    reads = {
        "job": job,
        "history": client.get(f"/v1/jobs/{WITNESS}/epochs", params={"superseded": "true"}),
        "csv": client.get(f"/v1/jobs/{WITNESS}/epochs", params={"format": "csv"}),
        "events": client.get(f"/v1/jobs/{WITNESS}/events"),
        "versions": client.get(f"/v1/schedules/{SCHEDULE}/versions"),
        "huge": client.get(f"/v1/jobs/{HUGE}"),
        "huge-history": client.get(f"/v1/jobs/{HUGE}/epochs"),
        "jobs": client.get("/v1/jobs"),
        "schedules": client.get("/v1/schedules"),
    }
    for name, response in reads.items():
        assert response.status_code == 200, (name, response.text)
    return {
        "etag": job.headers.get("etag"),
        **{name: response.text for name, response in reads.items()},
    }


@pytest.fixture(scope="module")
def witness_before(http: httpx.Client) -> dict[str, Any]:
    return witness_snapshot(http)


def fill_placeholders(text: str, row_id: str) -> str:
    return text.replace("{new}", f"never-{row_id}")


@pytest.mark.parametrize("hostile", TABLE)
def test_hostile_request_is_refused_and_changes_nothing(
    request: pytest.FixtureRequest,
    server: ServerProcess,
    http: httpx.Client,
    witness_before: dict[str, Any],
    hostile: Hostile,
) -> None:
    row_id = request.node.callspec.id
    path = fill_placeholders(hostile.path, row_id)
    body = chunks_of(300_000) if hostile.chunked else hostile.body
    answer = send_raw(server.port, hostile.method, path, body, hostile.headers,
                      chunked=hostile.chunked)  # fmt: skip
    assert_problem(
        answer.status,
        answer.headers.get("content-type"),
        answer.body,
        expected_status=hostile.status,
        detail_words=hostile.words,
    )
    if hostile.absent_after is not None:
        absent = fill_placeholders(hostile.absent_after, row_id)
        assert http.get(absent).status_code == 404, f"{absent} exists now"
    assert_unharmed(server, http, witness_before)


@pytest.mark.parametrize("framing", FRAMING)
def test_invalid_http_framing_is_refused_and_changes_nothing(
    server: ServerProcess,
    http: httpx.Client,
    witness_before: dict[str, Any],
    framing: list[tuple[str, str]],
) -> None:
    headers = [("Content-Type", "application/json"), *framing]
    answer = send_raw(server.port, "POST", DECIDE, b'{"metrics": {}}', headers)
    assert answer.status == 400, answer.body
    assert_no_leak(answer.body.decode(errors="replace"))
    assert_unharmed(server, http, witness_before)


def assert_unharmed(
    server: ServerProcess, http: httpx.Client, witness_before: dict[str, Any]
) -> None:
    """The server is live and ready, logged no crash, and the witness is exactly as before."""
    assert http.get("/healthz").json() == {"status": "ok"}
    assert http.get("/readyz").status_code == 200
    assert "Traceback" not in server.log(), server.log()[-5000:]
    assert witness_snapshot(http) == witness_before
