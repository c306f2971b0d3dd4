"""Write (or check) the checked-in OpenAPI document `specs/openapi.json` from the code.

python -m adapters.rest.openapi            # regenerate specs/openapi.json
python -m adapters.rest.openapi --check    # exit 1 when the file differs from the code
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from session_engine.adapters.config import development_config
from session_engine.adapters.rest.app import create_rest_app

SPEC = Path(__file__).resolve().parents[2] / "specs" / "openapi.json"


def document() -> dict[str, Any]:
    """The OpenAPI document the server serves at /openapi.json (independent of the configuration)."""
    return create_rest_app(development_config("x" * 21), engine=lambda: None).openapi()


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if "--check" in args:
        current = SPEC.read_text() if SPEC.exists() else ""
        if current != text:
            print(f"{SPEC} is out of date: run python -m adapters.rest.openapi", file=sys.stderr)
            return 1
        return 0
    SPEC.write_text(text)
    print(f"wrote {SPEC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
