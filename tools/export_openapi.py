"""Write the app's OpenAPI schema to `openapi.json` (committed; a test fails when it is stale).

.venv/bin/python tools/export_openapi.py [path]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lrhub.service.app import create_app
from lrhub.service.settings import ServerSettings

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "openapi.json"


def openapi_text() -> str:
    """The schema as committed: sorted keys, two-space indent, trailing newline."""
    # An in-memory database: building the schema must not create files.
    app = create_app(ServerSettings(database_url="sqlite://"))
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_PATH
    path.write_text(openapi_text())
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
