"""Copy the pinned third-party browser assets into the server package.

The dashboard's own code is hand-written and needs no build; `/docs` uses Swagger UI, pinned by
service/ui-vendor/package-lock.json. After changing that pin:

    npm ci --prefix service/ui-vendor && .venv/bin/python tools/refresh_ui_vendor.py

The copied files are committed, so neither users nor CI run npm for them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = REPO_ROOT / "service" / "ui-vendor" / "node_modules"
VENDOR_DIR = REPO_ROOT / "service" / "src" / "lrhub" / "service" / "ui" / "static" / "vendor"
# package -> the files of it the server serves (no source maps: they are not needed to run).
SHIPPED = {
    "swagger-ui-dist": ("swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE"),
}


def main() -> None:
    for package, files in SHIPPED.items():
        source = NODE_MODULES / package
        if not source.is_dir():
            raise SystemExit(f"{source} is missing: run npm ci --prefix service/ui-vendor first")
        version = json.loads((source / "package.json").read_text())["version"]
        target = VENDOR_DIR / package
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for name in files:
            shutil.copyfile(source / name, target / name)
        (target / "VERSION").write_text(f"{version}\n")
        print(f"{package} {version} -> {target.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
