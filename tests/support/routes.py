"""The app's route table, flattened: every HTTP and websocket route with its full path.

Newer FastAPI versions keep included routers as nested ``_IncludedRouter``
entries in ``app.routes``; older ones flatten them. ``flat_routes`` handles both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from starlette.routing import WebSocketRoute

PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


@dataclass(frozen=True)
class RouteInfo:
    """One route of the table."""

    path: str
    methods: frozenset[str]
    websocket: bool

    @property
    def params(self) -> list[str]:
        """The names of its path parameters."""
        return PARAM.findall(self.path)

    def fill(self, values: dict[str, Any]) -> str:
        """The path with every parameter replaced by ``values[name]``."""
        return PARAM.sub(lambda m: str(values[m.group(1)]), self.path)


def _walk(routes: Iterable[Any], prefix: str) -> Iterator[RouteInfo]:
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            context = getattr(route, "include_context", None)
            inner = prefix + (getattr(context, "prefix", "") or "")
            yield from _walk(original.routes, inner)
            continue
        path = getattr(route, "path", None)
        if path is None:
            continue
        is_ws = isinstance(route, WebSocketRoute) or type(route).__name__ == "APIWebSocketRoute"
        methods = frozenset(getattr(route, "methods", None) or ())
        yield RouteInfo(prefix + path, methods, is_ws)


def flat_routes(app: Any) -> list[RouteInfo]:
    """Every route of ``app``, HTTP and websocket, with full paths (deduplicated)."""
    seen: dict[tuple[str, frozenset[str], bool], RouteInfo] = {}
    for info in _walk(app.routes, ""):
        seen.setdefault((info.path, info.methods, info.websocket), info)
    return list(seen.values())
