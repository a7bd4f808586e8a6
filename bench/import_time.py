"""Client import time: `import lrhub.client` in a fresh interpreter, against `import httpx`.

httpx is the client's transport, so its import is the floor a client cannot go below. The
child also reports which heavy modules the import dragged in (tensorflow must not be one).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from typing import Any

from bench.config import BenchConfig
from bench.stats import ratio

HEAVY_MODULES = ("tensorflow", "keras", "fastapi", "sqlalchemy", "uvicorn", "numpy")
PROBE = (
    "import json, sys; import {module}; "
    "print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))"
)


def timed_import(module: str) -> tuple[float, list[str]]:
    """Wall time of a fresh interpreter importing `module`; the heavy modules it loaded."""
    code = PROBE.format(module=module, heavy=HEAVY_MODULES)
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    elapsed = time.perf_counter() - started
    loaded: list[str] = json.loads(completed.stdout)
    return elapsed, loaded


def slowest_imports(module: str, count: int = 8) -> list[dict[str, Any]]:
    """The modules with the largest cumulative import time (`-X importtime`), in ms."""
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
    )
    rows: list[dict[str, Any]] = []
    for line in completed.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue  # the header line names the columns
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|")
        rows.append(
            {
                "module": name.strip(),
                "self_ms": int(self_us) / 1e3,
                "cumulative_ms": int(cumulative_us) / 1e3,
            }
        )
    return sorted(rows, key=lambda row: row["cumulative_ms"], reverse=True)[:count]


def run(config: BenchConfig) -> dict[str, Any]:
    """Median wall times over alternating runs of bare Python, httpx and lrhub.client."""
    runs = config.scaled(quick=3, full=15)
    modules = {"python": "sys", "httpx": "httpx", "lrhub.client": "lrhub.client"}
    times: dict[str, list[float]] = {name: [] for name in modules}
    loaded: list[str] = []
    for _ in range(runs):
        for name, module in modules.items():
            elapsed, heavy = timed_import(module)
            times[name].append(elapsed)
            if name == "lrhub.client":
                loaded = heavy
    if "tensorflow" in loaded:
        raise RuntimeError(f"import lrhub.client imported tensorflow (heavy modules: {loaded})")
    medians = {name: statistics.median(values) * 1e3 for name, values in times.items()}
    client_cost = medians["lrhub.client"] - medians["python"]
    httpx_cost = medians["httpx"] - medians["python"]
    return {
        "runs": runs,
        "median_wall_ms": medians,
        "client_import_ms": round(client_cost, 1),
        "httpx_import_ms": round(httpx_cost, 1),
        "client_over_httpx": ratio(client_cost, httpx_cost),
        "heavy_modules_loaded": loaded,
        "tensorflow_imported": False,  # checked above
        "slowest_imports": slowest_imports("lrhub.client"),
    }
