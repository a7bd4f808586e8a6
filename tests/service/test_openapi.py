"""The committed openapi.json is the app's schema; regenerate with tools/export_openapi.py."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def export_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "export_openapi", ROOT / "tools/export_openapi.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_openapi_matches_the_app() -> None:
    committed = (ROOT / "openapi.json").read_text()
    assert committed == export_tool().openapi_text(), (
        "openapi.json is stale: run .venv/bin/python tools/export_openapi.py"
    )


def test_error_answers_are_documented_as_problems() -> None:
    schema = json.loads(export_tool().openapi_text())
    decision = schema["paths"]["/v1/jobs/{job_id}/epochs/{epoch}"]["post"]["responses"]
    for status in ("400", "401", "403", "404", "413", "422"):
        assert list(decision[status]["content"]) == ["application/problem+json"], status
    assert "HTTPValidationError" not in schema["components"]["schemas"]


def test_every_operation_has_a_readable_id_and_v1_operations_need_the_bearer_scheme() -> None:
    schema = json.loads(export_tool().openapi_text())
    scheme = schema["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    ids = []
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            ids.append(operation["operationId"])
            expected: list[dict[str, list[str]]] = (
                [{"bearerAuth": []}] if path.startswith("/v1/") else []
            )
            assert operation["security"] == expected, path
    assert all(re.fullmatch(r"[a-z]+(?:[A-Z][a-z]+)*", op) for op in ids), ids
    assert {"putSchedule", "decideEpoch", "patchJob", "jobHistoryCsv"} <= set(ids)
    assert len(ids) == len(set(ids))


def test_spec_schemas_require_their_type_and_answers_every_field() -> None:
    schemas = json.loads(export_tool().openapi_text())["components"]["schemas"]
    specs = [name for name in schemas if re.fullmatch(r"[A-Za-z]+Spec-(Input|Output)", name)]
    assert len(specs) == 38  # nineteen types, each as request and as answer
    for name in specs:
        schema = schemas[name]
        assert "type" in schema["required"], name
        assert schema["title"] == name.replace("-", "")
        if name.endswith("-Output"):
            assert set(schema["required"]) == set(schema["properties"]), name
    assert "unit" not in schemas["StepDecaySpec-Input"]["required"]
    job_spec = schemas["Job"]["properties"]["spec"]
    assert job_spec["discriminator"]["propertyName"] == "type"
    assert all(ref.endswith("-Output") for ref in job_spec["discriminator"]["mapping"].values())
    assert "description" in schemas["EpochAnswer"]["properties"]["state"]


def test_etags_and_the_csv_history_are_declared() -> None:
    paths = json.loads(export_tool().openapi_text())["paths"]
    for path, method, status in [
        ("/v1/schedules/{name}", "put", "200"), ("/v1/schedules/{name}", "put", "201"),
        ("/v1/schedules/{name}", "get", "200"), ("/v1/jobs/{job_id}", "put", "201"),
        ("/v1/jobs/{job_id}", "get", "200"), ("/v1/jobs/{job_id}", "patch", "200"),
    ]:  # fmt: skip
        assert "ETag" in paths[path][method]["responses"][status]["headers"], (path, method)
    history = paths["/v1/jobs/{job_id}/epochs"]["get"]["responses"]["200"]["content"]
    assert list(history) == ["application/json"]
    csv_answer = paths["/v1/jobs/{job_id}/epochs.csv"]["get"]["responses"]["200"]["content"]
    assert csv_answer == {"text/csv": {"schema": {"type": "string"}}}
