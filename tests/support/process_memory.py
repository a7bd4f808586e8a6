"""The memory a process holds, as the kernel accounts it."""

from __future__ import annotations

from pathlib import Path


def resident_bytes(pid: int) -> int:
    """The resident set size (`VmRSS` in `/proc/<pid>/status`) of process `pid`, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            size, unit = line.split()[1:3]
            assert unit == "kB", line
            return int(size) * 1024
    raise LookupError(f"no VmRSS for process {pid} (a zombie or a kernel thread?)")
