"""What a benchmark run was asked for: quick or full, where to work, which databases."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BenchConfig:
    """Settings shared by every benchmark of one run."""

    quick: bool
    workdir: Path
    postgres_url: str | None  # None: PostgreSQL is not benchmarked

    def scaled(self, quick: int, full: int) -> int:
        """`quick` in a smoke run, `full` otherwise (sample counts, durations)."""
        return quick if self.quick else full
