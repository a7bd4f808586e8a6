"""Read the project's Dockerfile into stages and instructions, so tests replay what it says.

Covers the subset of the Dockerfile syntax the project uses: line continuations, comments,
`FROM image AS name`, `ENV key=value ...`, exec-form (JSON) `CMD` and `HEALTHCHECK ... CMD`;
and the .dockerignore patterns the project uses.
"""

from __future__ import annotations

import fnmatch
import json
import shlex
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "Dockerfile"


@dataclass(frozen=True)
class Instruction:
    """One instruction: its keyword (upper case) and its arguments with continuations joined."""

    keyword: str
    arguments: str


@dataclass
class Stage:
    """The instructions from one FROM up to the next."""

    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def arguments(self, keyword: str) -> list[str]:
        """The arguments of every `keyword` instruction of this stage, in order."""
        return [i.arguments for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> str:
        """The arguments of the stage's last `keyword` instruction (the one Docker uses)."""
        found = self.arguments(keyword)
        if not found:
            raise LookupError(f"stage {self.name or self.base} has no {keyword}")
        return found[-1]

    def env(
        self,
        inherited: dict[str, str] | None = None,
        rewrite: Callable[[str], str] = str,
    ) -> dict[str, str]:
        """`inherited` plus the stage's ENV assignments, `$VAR` references expanded like Docker.

        `rewrite` transforms each assigned value (not the inherited ones) before expansion.
        """
        env = dict(inherited or {})
        for arguments in self.arguments("ENV"):
            assignments = dict(token.split("=", 1) for token in shlex.split(arguments))
            env.update(
                {
                    key: string.Template(rewrite(value)).safe_substitute(env)
                    for key, value in assignments.items()
                }
            )
        return env

    def exec_form(self, keyword: str) -> list[str]:
        """The JSON argument list of the last `keyword` (CMD, ENTRYPOINT); refuses shell form."""
        return parse_exec_form(self.last(keyword))

    def healthcheck_command(self) -> list[str]:
        """The exec-form command of the stage's HEALTHCHECK (its options dropped)."""
        _options, separator, command = self.last("HEALTHCHECK").partition(" CMD ")
        if not separator:
            raise ValueError("HEALTHCHECK has no CMD")
        return parse_exec_form(command)


def parse_exec_form(arguments: str) -> list[str]:
    """`["a", "b"]` -> ["a", "b"]; shell form would hide signals from the server, so it fails."""
    parsed = json.loads(arguments)
    if not (isinstance(parsed, list) and all(isinstance(item, str) for item in parsed)):
        raise ValueError(f"not an exec-form argument list: {arguments}")
    return parsed


def logical_lines(text: str) -> list[str]:
    """Physical lines joined at trailing backslashes, comment and blank lines dropped."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1].rstrip() + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    if pending:
        lines.append(pending.rstrip())
    return lines


def parse_dockerfile(text: str) -> list[Stage]:
    """The Dockerfile's stages in order; the last one is the image that runs."""
    stages: list[Stage] = []
    for line in logical_lines(text):
        keyword, _, arguments = line.partition(" ")
        keyword = keyword.upper()
        arguments = arguments.strip()
        if keyword == "FROM":
            parts = arguments.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base=parts[0], name=name))
        elif not stages:
            raise ValueError(f"instruction before FROM: {line}")
        else:
            stages[-1].instructions.append(Instruction(keyword, arguments))
    return stages


def project_stages() -> list[Stage]:
    """The stages of the repository's Dockerfile."""
    return parse_dockerfile(DOCKERFILE.read_text())


@dataclass(frozen=True)
class DockerIgnore:
    """The build-context filter of a .dockerignore: the last pattern matching a path (or one of
    its parent directories) decides, and `!` patterns put paths back."""

    patterns: tuple[tuple[str, bool], ...]  # (pattern, excludes)

    @classmethod
    def read(cls, path: Path) -> DockerIgnore:
        """Parse a .dockerignore file (comments and blank lines dropped)."""
        patterns = []
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                negated = line.startswith("!")
                patterns.append((line.removeprefix("!").rstrip("/"), not negated))
        return cls(tuple(patterns))

    def excludes(self, relative_path: str) -> bool:
        """Whether `docker build` leaves this context-relative path out of the context."""
        parts = PurePosixPath(relative_path).parts
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        excluded = False
        for pattern, excludes in self.patterns:
            if any(fnmatch.fnmatchcase(candidate, pattern) for candidate in candidates):
                excluded = excludes
        return excluded


def project_dockerignore() -> DockerIgnore:
    """The repository's .dockerignore."""
    return DockerIgnore.read(REPO_ROOT / ".dockerignore")
