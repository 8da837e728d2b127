"""The OpenAPI document of the default app, and the committed copy a test compares it with.

`python -m tests.api.openapi_snapshot` rewrites the copy after an intended change of the
API; review its diff like code.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

SNAPSHOT = Path(__file__).with_name("openapi.json")


def current_openapi() -> dict[str, Any]:
    from graph.resources import Resources
    from server import create_app
    from settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", _env_file=None)  # type: ignore[call-arg]
        return create_app(settings, Resources(settings=settings)).openapi()


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    SNAPSHOT.write_text(render(current_openapi()), encoding="utf-8")
    print(f"wrote {SNAPSHOT}")
