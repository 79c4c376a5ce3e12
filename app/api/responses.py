"""JSON responses encoded with orjson (about twice as fast as the stdlib on big records)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse


class OrjsonResponse(JSONResponse):
    """A ``JSONResponse`` rendered by orjson (non-str keys and odd types: ``str``)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS, default=str)
