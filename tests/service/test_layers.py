"""The server's dependency rule, read from its imports (docs/design.md "Layers").

routes -> services -> stores, records (`model.py`) beside the stores; `http/` knows no domain;
only services import stores; services never import HTTP, routes or the app's wiring. Every
import of every module is checked, including imports inside functions; a break names the file,
the line and the rule.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

import lrhub.service

ROOT = Path(lrhub.service.__file__).parent
PACKAGE = "lrhub.service"
# Folders of one domain each; `http`, `auth`, `storage` and `ui` are shared floors.
DOMAINS = frozenset(
    {
        "catalog",
        "changes",
        "decisions",
        "jobs",
        "operations",
        "previews",
        "rollouts",
        "stream",
        "tokens",
        "webhooks",
    }
)


# What a record (`model.py`) may import besides other records (and `auth.principal`'s roles).
RECORD_IMPORTS = frozenset({"model", "errors", "clock", "fields"})


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, e.g. "jobs.routes"
    target: str  # the imported module within lrhub.service, e.g. "jobs.store"
    line: int


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _known(name: str) -> str:
    """`name` or its nearest enclosing module that exists in the tree (`a.b.C` -> `a.b`)."""
    while name and not (
        (ROOT / Path(*name.split("."))).with_suffix(".py").exists()
        or (ROOT / Path(*name.split("."))).is_dir()
    ):
        name = name.rpartition(".")[0]
    return name


def service_imports() -> list[Import]:
    """Every import of a `lrhub.service` module by another, migrations left out."""
    found: list[Import] = []
    for path in sorted(ROOT.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        source = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                if name.startswith(PACKAGE + "."):
                    target = _known(name.removeprefix(PACKAGE + "."))
                    found.append(Import(source, target, node.lineno))
    return found


def _kind(module: str) -> str:
    """What floor a module is on: its file name inside a domain, or its shared folder."""
    parts = module.split(".")
    if parts[0] in DOMAINS and len(parts) > 1:
        return (
            parts[-1]
            if parts[-1] in {"routes", "schemas", "service", "store", "model"}
            else ("domain")
        )
    return parts[0]


def _breaks(imp: Import) -> str | None:
    """The rule `imp` breaks, if any."""
    source, target = _kind(imp.source), _kind(imp.target)
    target_domain = imp.target.split(".")[0] in DOMAINS
    if target == "store" and source not in {"service", "store"}:
        return "only services import stores"
    if target in {"app", "context"} and source not in {"app", "routes", "cli", "ui"}:
        return "only routes and the app import the app's wiring"
    if source == "service" and target in {"http", "routes", "ui"}:
        return "services take plain values and raise domain errors: no HTTP"
    if source in {"routes", "schemas", "http", "auth", "model", "ui"} and imp.target.startswith(
        ("storage.database", "storage.tables")
    ):
        return "only services and stores touch the database"
    if source == "http" and (target_domain or target in {"auth", "ui", "app", "context"}):
        return "http/ knows no domain"
    if source == "model" and target not in RECORD_IMPORTS and imp.target != "auth.principal":
        return "records import only records and shared value types"
    if source in {"store", "model", "schemas"} and target in {"service", "routes"}:
        return "no import runs back up: stores, records and schemas import no service or route"
    if source == "auth" and target_domain:
        return "auth gets its lookups injected: it reads no domain"
    if source == "context" and target_domain:
        return "the app's wiring holds what every domain shares: it imports no domain"
    return None


def test_the_server_keeps_the_dependency_rule() -> None:
    imports = service_imports()
    assert len(imports) > 150, "the reader found too few imports to judge"
    breaks = [
        f"{imp.source.replace('.', '/')}.py:{imp.line} imports {imp.target}: {rule}"
        for imp in imports
        if (rule := _breaks(imp)) is not None
    ]
    assert breaks == []


def _folder(module: str) -> str:
    """The room a module stands in: its folder, or the module itself at the top."""
    return module.split(".")[0]


def _in_loops(edges: dict[str, set[str]]) -> set[str]:
    """The folders on a loop of imports (or importing one): what is left after peeling off,
    again and again, the folders that import no folder left."""
    left = dict(edges)
    while peeled := [folder for folder, targets in left.items() if not targets & left.keys()]:
        for folder in peeled:
            del left[folder]
    return set(left)


def test_a_loop_of_folders_is_found() -> None:
    edges = {"jobs": {"catalog"}, "catalog": {"jobs", "errors"}, "errors": set(), "app": {"jobs"}}
    assert _in_loops(edges) == {"jobs", "catalog", "app"}
    assert _in_loops({"jobs": {"catalog"}, "catalog": set()}) == set()


def test_the_folders_stand_on_floors_without_a_loop() -> None:
    """Folders (domains and shared floors) import each other in one direction only, so each
    stands above everything it imports: no import runs back up."""
    edges: dict[str, set[str]] = {}
    witness: dict[tuple[str, str], Import] = {}
    for imp in service_imports():
        source, target = _folder(imp.source), _folder(imp.target)
        if source != target:
            edges.setdefault(source, set()).add(target)
            edges.setdefault(target, set())
            witness.setdefault((source, target), imp)
    left = _in_loops(edges)
    loops = [
        f"{imp.source.replace('.', '/')}.py:{imp.line} imports {imp.target}"
        for (source, target), imp in sorted(witness.items())
        if source in left and target in left
    ]
    assert loops == []


@pytest.mark.parametrize(
    ("source", "target", "rule"),
    [
        ("jobs.routes", "jobs.store", "only services import stores"),
        ("catalog.service", "http.etags", "no HTTP"),
        ("http.paging", "jobs.model", "http/ knows no domain"),
        ("jobs.model", "settings", "records import only records"),
        ("auth.tokens", "jobs.store", "only services import stores"),
        ("auth.tokens", "tokens.model", "auth gets its lookups injected"),
        ("context", "decisions.cache", "imports no domain"),
        ("decisions.schemas", "storage.tables", "touch the database"),
        ("jobs.service", "context", "the app's wiring"),
    ],
)
def test_each_kind_of_break_is_caught(source: str, target: str, rule: str) -> None:
    found = _breaks(Import(source, target, 1))
    assert found is not None and rule in found
