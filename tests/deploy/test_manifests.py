"""The Kubernetes manifests in deploy/, checked against the code they deploy.

No cluster here: the checks are that every file parses, every `LRHUB_*` variable is one the
settings classes read, probes succeed against a real `lrhub serve` and use the port the image
exposes, Secret references resolve, and the migration initContainer's command creates the schema.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from lrhub.client.settings import ClientSettings
from lrhub.service.auth.tokens import API_TOKEN_PREFIX
from lrhub.service.settings import ServerSettings
from tests.deploy.dockerfile import REPO_ROOT, project_stages
from tests.support.server import ServerProcess

DEPLOY = REPO_ROOT / "deploy"
MANIFEST_FILES = sorted(DEPLOY.rglob("*.yaml"))
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "Job"}

Manifest = dict[str, Any]


def load(path: Path) -> list[Manifest]:
    """Every non-empty YAML document in `path`."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def all_manifests() -> list[Manifest]:
    """Every document of every file in deploy/."""
    return [doc for path in MANIFEST_FILES for doc in load(path)]


def of_kind(kind: str) -> list[Manifest]:
    """The manifests of one kind."""
    return [doc for doc in all_manifests() if doc["kind"] == kind]


def containers(workload: Manifest) -> list[dict[str, Any]]:
    """The containers and initContainers of a workload's pod template."""
    pod = workload["spec"]["template"]["spec"]
    return [*pod.get("initContainers", []), *pod["containers"]]


def workload_containers() -> Iterator[tuple[Manifest, dict[str, Any]]]:
    """(workload, container) for every container of every Deployment, StatefulSet and Job."""
    for doc in all_manifests():
        if doc["kind"] in WORKLOAD_KINDS:
            for container in containers(doc):
                yield doc, container


def server_image_name() -> str:
    """The image name kustomization.yaml maps to the real lrhub image."""
    (kustomization,) = load(DEPLOY / "kustomization.yaml")
    (image,) = kustomization["images"]
    return str(image["name"])


def lrhub_containers() -> list[dict[str, Any]]:
    """Containers that run the lrhub server image (server and migration)."""
    return [c for _, c in workload_containers() if c["image"] == server_image_name()]


def nested_values(node: object, key: str) -> Iterator[Any]:
    """Every value stored under `key` anywhere inside a parsed YAML document."""
    if isinstance(node, dict):
        for name, value in node.items():
            if name == key:
                yield value
            yield from nested_values(value, key)
    elif isinstance(node, list):
        for item in node:
            yield from nested_values(item, key)


def test_deploy_has_manifests() -> None:
    assert {path.name for path in MANIFEST_FILES} >= {"kustomization.yaml", "server.yaml"}


@pytest.mark.parametrize("path", MANIFEST_FILES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_manifest_parses_and_names_itself(path: Path) -> None:
    documents = load(path)
    assert documents, f"{path} holds no document"
    for doc in documents:
        assert isinstance(doc, dict)
        assert doc.get("apiVersion") and doc.get("kind"), doc
        assert doc.get("metadata", {}).get("name"), f"{doc['kind']} in {path} has no name"


def test_kustomization_resources_exist() -> None:
    (kustomization,) = load(DEPLOY / "kustomization.yaml")
    for resource in kustomization["resources"]:
        assert (DEPLOY / resource) in MANIFEST_FILES, resource


def lrhub_variables() -> list[tuple[str, str]]:
    """(where, name) of every LRHUB_* variable the manifests and the Dockerfile set."""
    found = [
        (f"{workload['kind']}/{workload['metadata']['name']}/{container['name']}", item["name"])
        for workload, container in workload_containers()
        for item in container.get("env", [])
        if item["name"].startswith("LRHUB_")
    ]
    for stage in project_stages():
        found += [
            (f"Dockerfile {stage.name or stage.base}", name)
            for name in stage.env()
            if name.startswith("LRHUB_")
        ]
    return found


def test_every_lrhub_variable_is_a_settings_field() -> None:
    fields = {
        f"LRHUB_{name.upper()}"
        for settings in (ServerSettings, ClientSettings)
        for name in settings.model_fields
    }
    variables = lrhub_variables()
    names = {name for _, name in variables}
    # Both sides of the contract are exercised: the server's and a training pod's variables.
    assert {"LRHUB_DATABASE_URL", "LRHUB_ADMIN_TOKEN", "LRHUB_JOB_ID", "LRHUB_TOKEN"} <= names
    unknown = [(where, name) for where, name in variables if name not in fields]
    assert unknown == [], f"variables no settings class reads: {unknown}"


def test_the_server_settings_the_manifests_give_are_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    literal = {
        item["name"]: item["value"]
        for workload, container in workload_containers()
        if container["name"] == "lrhub"
        for item in container.get("env", [])
        if item["name"].startswith("LRHUB_") and "value" in item
    }
    # The lifecycle settings are set explicitly, so an operator sees them to change.
    assert {"LRHUB_RETENTION_DAYS", "LRHUB_STALE_AFTER"} <= set(literal)
    for name, value in literal.items():
        monkeypatch.setenv(name, value)
    settings = ServerSettings()
    assert settings.retention_days == float(literal["LRHUB_RETENTION_DAYS"])
    assert settings.stale_after.total_seconds() > 0


def test_server_probes_succeed_against_a_real_server_on_the_image_port(
    live_server: ServerProcess,
) -> None:
    exposed_port = int(project_stages()[-1].last("EXPOSE"))
    probed = set()
    for container in lrhub_containers():
        ports = {port["name"]: port["containerPort"] for port in container.get("ports", [])}
        for probe_kind in ("readinessProbe", "livenessProbe", "startupProbe"):
            probe = container.get(probe_kind, {}).get("httpGet")
            if probe:
                answer = httpx.get(live_server.url + probe["path"], timeout=10)
                assert answer.status_code == 200, (probe_kind, probe["path"], answer.text)
                assert ports[probe["port"]] == exposed_port
                probed.add((probe_kind, probe["path"]))
    assert probed >= {("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")}


def test_secret_references_resolve() -> None:
    keys_by_secret = {
        secret["metadata"]["name"]: {*secret.get("stringData", {}), *secret.get("data", {})}
        for secret in of_kind("Secret")
    }
    references = [ref for doc in all_manifests() for ref in nested_values(doc, "secretKeyRef")]
    assert references
    for ref in references:
        assert ref["key"] in keys_by_secret.get(ref["name"], set()), ref


def test_service_routes_to_the_server_pods() -> None:
    (deployment,) = of_kind("Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    (server_container,) = deployment["spec"]["template"]["spec"]["containers"]
    port_names = {port["name"] for port in server_container["ports"]}
    services = [s for s in of_kind("Service") if s["metadata"]["name"] == "lrhub"]
    (service,) = services
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert {port["targetPort"] for port in service["spec"]["ports"]} <= port_names


def test_server_runs_as_the_image_user_with_a_read_only_root() -> None:
    (deployment,) = of_kind("Deployment")
    assert deployment["spec"]["replicas"] >= 2
    pod = deployment["spec"]["template"]["spec"]
    image_uid = int(project_stages()[-1].last("USER").split(":")[0])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == image_uid
    for container in containers(deployment):
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["resources"]["requests"] and container["resources"]["limits"]


def test_training_job_gets_its_identity_from_kubernetes() -> None:
    (job,) = of_kind("Job")
    (container,) = containers(job)
    env = {item["name"]: item for item in container["env"]}
    assert env["LRHUB_URL"]["value"].startswith("http://lrhub.")
    # Downward-API fields an env var may read that identify the pod or its Job.
    field_path = env["LRHUB_JOB_ID"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert re.fullmatch(r"metadata\.(name|uid|labels\['[\w./-]+'\])", field_path), field_path
    assert "secretKeyRef" in env["LRHUB_TOKEN"]["valueFrom"]


def test_training_pods_get_a_creator_token_not_an_admin_one() -> None:
    (job,) = of_kind("Job")
    (container,) = containers(job)
    ref = {item["name"]: item for item in container["env"]}["LRHUB_TOKEN"]["valueFrom"]
    secrets = {s["metadata"]["name"]: s.get("stringData", {}) for s in of_kind("Secret")}
    pod_token = secrets[ref["secretKeyRef"]["name"]][ref["secretKeyRef"]["key"]]
    # An API token (made by `lrhub tokens create --role creator`), which no admin secret is.
    assert pod_token.startswith(API_TOKEN_PREFIX), pod_token
    admin_secrets = [item.partition(":")[2] for item in secrets["lrhub"]["admin-tokens"].split(",")]
    assert pod_token not in admin_secrets


def test_migration_init_container_creates_the_schema(tmp_path: Path) -> None:
    (deployment,) = of_kind("Deployment")
    init = {c["name"]: c for c in deployment["spec"]["template"]["spec"]["initContainers"]}
    program, *arguments = init["migrate"]["command"]
    assert program == "python"
    database = tmp_path / "lrhub.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRHUB_")}
    env["LRHUB_DATABASE_URL"] = f"sqlite:///{database}"
    for _ in range(2):  # a second run (the next pod) finds the schema current
        result = subprocess.run(
            [sys.executable, *arguments],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
    with sqlite3.connect(database) as connection:
        revisions = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    assert len(revisions) == 1


def test_server_database_url_uses_the_psycopg_driver_the_server_extra_installs() -> None:
    secrets = {s["metadata"]["name"]: s.get("stringData", {}) for s in of_kind("Secret")}
    for container in lrhub_containers():
        (variable,) = [e for e in container["env"] if e["name"] == "LRHUB_DATABASE_URL"]
        ref = variable["valueFrom"]["secretKeyRef"]
        assert secrets[ref["name"]][ref["key"]].startswith("postgresql+psycopg://")


def test_the_image_tag_is_the_package_version() -> None:
    """The kustomization and the README's commands deploy the version this repository builds."""
    versions = {
        tomllib.loads((REPO_ROOT / package / "pyproject.toml").read_text())["project"]["version"]
        for package in ("client", "service")
    }
    assert len(versions) == 1, versions
    [version] = versions
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    assert [image["newTag"] for image in kustomization["images"]] == [version]
    tags = re.findall(r"lrhub:(\d+\.\d+\.\d+)", (DEPLOY / "README.md").read_text())
    assert tags and set(tags) == {version}
