"""Label selectors: the parser's answers and errors, and listing by selector on both databases;
unknown query parameters refused on every route."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from lrhub.service.jobs.selectors import (
    Operator,
    Requirement,
    Selector,
    SelectorError,
    parse_selector,
)
from tests.service.helpers import DROP, create_job, problem

IN, NOT_IN = Operator.IN, Operator.NOT_IN


@pytest.mark.parametrize(
    ("text", "requirements"),
    [
        ("team=vision", [Requirement("team", IN, ("vision",))]),
        ("team == vision", [Requirement("team", IN, ("vision",))]),
        ("stage!=prod", [Requirement("stage", NOT_IN, ("prod",))]),
        ("k in (a, b)", [Requirement("k", IN, ("a", "b"))]),
        ("k notin (a,b,c)", [Requirement("k", NOT_IN, ("a", "b", "c"))]),
        ("gpu", [Requirement("gpu", Operator.EXISTS)]),
        ("!gpu", [Requirement("gpu", Operator.NOT_EXISTS)]),
        ("k=", [Requirement("k", IN, ("",))]),
        (
            "app.kubernetes.io/name=x, status=running,!debug",
            [
                Requirement("app.kubernetes.io/name", IN, ("x",)),
                Requirement("status", IN, ("running",)),
                Requirement("debug", Operator.NOT_EXISTS),
            ],
        ),
        ("", []),
    ],
)
def test_the_parser_reads_every_kubernetes_form(text: str, requirements: list[Requirement]) -> None:
    selector = parse_selector(text)
    assert selector == Selector(tuple(requirements))
    # The text a change record stores reads back as the same selector.
    assert parse_selector(str(selector)) == selector


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("team=vision stage", "'stage'"),
        ("k in (a", "not closed"),
        ("k in a", "parentheses"),
        ("k,", "missing after the last ','"),
        ("=v", "label key"),
        ("k=(", "'('"),
        ("k > 3", "'>'"),
        ("!status", "status"),
        ("status=runing", "'runing'"),
        ("job_id", "'job_id' is always set"),
        ("!job_id", "'job_id' is always set"),
        ("k in ()", "expected a value"),
    ],
)
def test_the_parser_names_the_bad_part(text: str, named: str) -> None:
    with pytest.raises(SelectorError) as raised:
        parse_selector(text)
    assert named in str(raised.value), str(raised.value)


def _fleet(client: TestClient) -> None:
    create_job(client, "a", spec=DROP, labels={"team": "vision", "stage": "prod"})
    create_job(client, "b", spec=DROP, labels={"team": "vision", "stage": "dev", "gpu": "a100"})
    create_job(client, "c", spec=DROP, labels={"team": "nlp"})
    create_job(client, "d", spec=DROP, labels={"team": "vision"})
    assert client.patch("/v1/jobs/d", json={"status": "stopped"}).status_code == 200


def _ids(client: TestClient, **params: Any) -> list[str]:
    response = client.get("/v1/jobs", params=params)
    assert response.status_code == 200, response.text
    return [job["job_id"] for job in response.json()["items"]]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("team=vision", ["a", "b", "d"]),
        ("team==vision,stage!=prod", ["b", "d"]),  # != also matches jobs without the label
        ("stage in (prod, dev)", ["a", "b"]),
        ("stage notin (prod)", ["b", "c", "d"]),
        ("gpu", ["b"]),
        ("!gpu", ["a", "c", "d"]),
        ("status=running", ["a", "b", "c"]),
        ("status!=running,team=vision", ["d"]),
        ("team=vision,team=nlp", []),
        ("job_id in (a,c,nobody)", ["a", "c"]),
        ("job_id=b", ["b"]),
        ("job_id notin (a,b),team=vision", ["d"]),
    ],
)
def test_listing_by_selector(api_on: TestClient, selector: str, expected: list[str]) -> None:
    _fleet(api_on)
    assert _ids(api_on, selector=selector) == expected


def test_selector_label_and_status_combine_and_page(api_on: TestClient) -> None:
    _fleet(api_on)
    assert _ids(api_on, selector="stage!=prod", label="team=vision", status="running") == ["b"]
    first = api_on.get("/v1/jobs", params={"selector": "team=vision", "limit": 2}).json()
    assert [job["job_id"] for job in first["items"]] == ["a", "b"]
    rest = _ids(api_on, selector="team=vision", limit=2, cursor=first["next_cursor"])
    assert rest == ["d"]


def test_a_selector_typo_is_refused_naming_it(api_on: TestClient) -> None:
    _fleet(api_on)
    body = problem(api_on.get("/v1/jobs", params={"selector": "team=vision stage"}), 422, "stage")
    assert body["errors"][0]["loc"] == "query.selector"


def test_an_unknown_query_parameter_never_widens_a_list(api_on: TestClient) -> None:
    _fleet(api_on)
    body = problem(api_on.get("/v1/jobs", params={"labels": "team=nlp"}), 422, "labels")
    assert body["errors"] == [
        {
            "loc": "query.labels",
            "msg": "unknown query parameter; it takes cursor, label, limit, selector, status",
        }
    ]


def test_every_route_refuses_unknown_query_parameters(api: TestClient) -> None:
    operations = api.app.openapi()["paths"]  # type: ignore[attr-defined]
    assert len(operations) >= 10
    for template, methods in operations.items():
        path = template.replace("{name}", "drop").replace("{job_id}", "j")
        path = path.replace("{epoch}", "0")
        for method in methods:
            response = api.request(method, path, params={"no_such_parameter": "1"})
            assert response.status_code == 422, (method, path, response.text)
            assert response.json()["errors"][0]["loc"] == "query.no_such_parameter"
